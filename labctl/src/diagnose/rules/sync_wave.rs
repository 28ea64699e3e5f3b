//! `sync-wave-deadlock`: Argo CD waits on a wave whose claim waits on a later wave.

use crate::diagnose::catalogue::FindingId;
use crate::diagnose::engine::claim::{Claim, sync_wave};
use crate::diagnose::engine::evidence::{events, pvc_line};
use crate::diagnose::engine::merge::{Found, hit};
use crate::diagnose::engine::remedy::managed_by;
use crate::diagnose::engine::{SYNC_WAVE, View};
use crate::diagnose::rules::Verdict;
use crate::k8s::WorkloadKind;
use crate::k8s::names::name as meta_name;

/// Argo CD applies the WFFC claim in an earlier wave than all its consumers and waits for it
/// to be Healthy, which it only becomes once a consumer exists (argo-cd#12840).
pub(crate) fn sync_wave_deadlock<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Verdict {
    // A Bound claim is Healthy for Argo CD: whatever the waves say, the sync got past it
    // (often thanks to a Sync hook consumer in its wave that is deleted afterwards and so
    // invisible here). Judging it anyway would flag the healthy lab.
    if !c.wait_for_first_consumer() || c.phase == "Bound" {
        return None;
    }
    let mut pvc_wave = sync_wave(&c.pvc.metadata);
    let mut tracked = pvc_wave.is_some();
    let mut consumer_waves: Vec<(String, i64)> = Vec::new();
    for con in c
        .consumers
        .iter()
        .filter(|con| con.workload.kind != WorkloadKind::Pod)
    {
        let w = sync_wave(con.workload.meta);
        tracked |= w.is_some();
        consumer_waves.push((
            format!("{} {}", con.workload.kind, con.workload.name),
            w.unwrap_or(0),
        ));
    }
    // Argo CD hooks (the lab's first-model Job) consume the claim in their own wave, even
    // once finished: they run again on every sync.
    for job in view
        .ix
        .hooks_by_claim
        .get(&(c.ns, c.name))
        .into_iter()
        .flatten()
    {
        let name = format!("Job {} (Argo CD hook)", meta_name(&job.metadata));
        if !consumer_waves.iter().any(|(n, _)| *n == name) {
            consumer_waves.push((name, sync_wave(&job.metadata).unwrap_or(0)));
        }
    }
    let mut app_evidence = Vec::new();
    let mut app_name = None;
    // Whether an Application tracks the claim, and whether one is mid-sync. When Argo CD's
    // own state is at hand it decides: a finished sync is not waiting for anything.
    let mut app_tracks = false;
    let mut app_syncing = false;
    for app in &view.ix.applications {
        let Some(resources) = app
            .data
            .pointer("/status/resources")
            .and_then(|r| r.as_array())
        else {
            continue;
        };
        let is_pvc = |r: &serde_json::Value| {
            r["kind"] == "PersistentVolumeClaim" && r["name"] == c.name && r["namespace"] == c.ns
        };
        let Some(entry) = resources.iter().find(|r| is_pvc(r)) else {
            continue;
        };
        tracked = true;
        app_tracks = true;
        app_syncing |= app
            .data
            .pointer("/status/operationState/phase")
            .and_then(|p| p.as_str())
            == Some("Running");
        app_name = app.metadata.name.clone();
        if pvc_wave.is_none() {
            pvc_wave = entry["syncWave"].as_i64();
        }
        if consumer_waves.is_empty() {
            // Consumers never applied are not in the cluster: take them from the app.
            for r in resources {
                let kind = r["kind"].as_str().unwrap_or("");
                if r["namespace"] == c.ns
                    && matches!(
                        kind,
                        "Deployment" | "StatefulSet" | "CronJob" | "Job" | "DaemonSet"
                    )
                {
                    let name = r["name"].as_str().unwrap_or("");
                    consumer_waves.push((
                        format!("{kind} {name}"),
                        r["syncWave"].as_i64().unwrap_or(0),
                    ));
                    app_evidence.push(format!(
                        "Application {}: {kind} {}/{name} {} (not in the cluster)",
                        meta_name(&app.metadata),
                        c.ns,
                        r["status"].as_str().unwrap_or("?"),
                    ));
                }
            }
        }
        if let Some(m) = app
            .data
            .pointer("/status/operationState/message")
            .and_then(|m| m.as_str())
        {
            app_evidence.push(format!(
                "Application {}: operation {}: {m}",
                meta_name(&app.metadata),
                app.data
                    .pointer("/status/operationState/phase")
                    .and_then(|p| p.as_str())
                    .unwrap_or("?")
            ));
        }
    }
    let pvc_wave = pvc_wave.unwrap_or(0);
    let min = consumer_waves.iter().map(|(_, w)| *w).min()?;
    if !tracked || pvc_wave >= min || (app_tracks && !app_syncing) {
        return None;
    }
    let mut ev = vec![format!("{} (sync-wave {pvc_wave})", pvc_line(c))];
    ev.extend(
        consumer_waves
            .iter()
            .map(|(n, w)| format!("{n}: sync-wave {w}")),
    );
    ev.extend(app_evidence);
    ev.extend(events(
        view,
        "PersistentVolumeClaim",
        &c.pvc.metadata,
        &["WaitForFirstConsumer"],
    ));
    let app = app_name.unwrap_or_else(|| view.config.argocd_app.clone());
    // Git first: with selfHeal an annotation changed by kubectl is set back to Git's
    // within seconds, and the waiting sync only ends by terminating it.
    let path = managed_by(view, &c.pvc.metadata)
        .map(|m| m.path)
        .filter(|p| !p.is_empty())
        .map_or_else(String::new, |p| format!(" (the manifests under {p})"));
    let remediation = format!(
        "Put the claim in the same sync wave as its consumers, in Git: set metadata.annotations[\"{SYNC_WAVE}\"] of \
         PersistentVolumeClaim {name} to \"{min}\" (or remove it){path}, commit and push. Then end the sync that \
         waits for the claim, so Argo CD syncs the new commit: argocd app terminate-op {app}. Confirm: \
         kubectl -n {ns} get pvc {name} -o jsonpath='{{.metadata.annotations.argocd\\.argoproj\\.io/sync-wave}}' \
         and kubectl -n argocd get application {app} -o jsonpath='{{.status.operationState.phase}}'",
        name = c.name,
        ns = c.ns,
    );
    Some(vec![hit(
        view,
        c,
        Found {
            id: FindingId::SyncWaveDeadlock,
            root: c.reference(),
            summary: format!(
                "WaitForFirstConsumer claim {} is in sync wave {pvc_wave}, before all its consumers (wave {min}): Argo CD waits for it forever",
                c.name
            ),
            evidence: ev,
            remediation,
        },
    )])
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_cluster::*;

    fn lab(claim_wave: &str) -> Vec<serde_json::Value> {
        let mut items = base();
        let mut c = claim("models", "Pending", &["ReadWriteOnce"]);
        c["metadata"]["annotations"] =
            serde_json::json!({"argocd.argoproj.io/sync-wave": claim_wave});
        items.push(c);
        let mut d = deployment("inference", "models", "node-1");
        d["metadata"]["annotations"] = serde_json::json!({"argocd.argoproj.io/sync-wave": "1"});
        items.push(d);
        items
    }

    #[test]
    fn a_claim_in_an_earlier_wave_than_its_consumers_deadlocks() {
        assert!(ids(lab("0")).contains(&"sync-wave-deadlock"));
    }

    #[test]
    fn a_claim_in_its_consumers_wave_does_not() {
        assert!(!ids(lab("1")).contains(&"sync-wave-deadlock"));
    }
}
