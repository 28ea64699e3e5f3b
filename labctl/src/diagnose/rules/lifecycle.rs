//! Claims at the end of their life: `pvc-lost`, `pvc-terminating-in-use` and
//! `pv-released-not-rebound`.

use crate::diagnose::engine::View;
use crate::diagnose::engine::affected::affected;
use crate::diagnose::engine::claim::Claim;
use crate::diagnose::engine::evidence::{events, pod_line, pv_line, pvc_line};
use crate::diagnose::engine::merge::{Found, Hit, hit};
use crate::diagnose::engine::remedy::{reapply, rerun_hint};
use crate::diagnose::rules::Verdict;
use crate::k8s::model::Pod;
use crate::k8s::pod::{is_pending, is_terminated};

use crate::diagnose::catalogue::FindingId;
use crate::diagnose::finding::{Affected, ObjectRef};
use crate::k8s::WorkloadKind;
use crate::k8s::names::name as meta_name;

pub(crate) fn pvc_lost<'a>(
    view: &View<'_, 'a>,
    c: &Claim<'a>,
    missing_pv: Option<&str>,
) -> Vec<Hit> {
    let mut ev = vec![pvc_line(c)];
    if let Some(pv) = missing_pv {
        ev.push(format!("PersistentVolume {pv}: does not exist"));
    } else if let Some(v) = c.volume_name() {
        match view.ix.pv_by_name.get(v) {
            Some(pv) => ev.push(pv_line(pv)),
            None => ev.push(format!("PersistentVolume {v}: does not exist")),
        }
    }
    ev.extend(events(
        view,
        "PersistentVolumeClaim",
        &c.pvc.metadata,
        &["ClaimLost"],
    ));
    let pv = missing_pv.or(c.volume_name()).unwrap_or("<volume>");
    let rerun = rerun_hint(c);
    let remediation = format!(
        "The data on PersistentVolume {pv} is lost. Recreate the claim and restore the data: \
         kubectl -n {ns} delete pvc {name}{reapply}{rerun}",
        reapply = reapply(view, c),
        ns = c.ns,
        name = c.name,
    );
    vec![hit(
        view,
        c,
        Found {
            id: FindingId::PvcLost,
            root: c.reference(),
            summary: format!(
                "PersistentVolumeClaim {} lost its PersistentVolume {pv}",
                c.name
            ),
            evidence: ev,
            remediation,
        },
    )]
}

/// A claim the API has lost its volume for: `pvc-lost`, and nothing else is said about it.
pub(crate) fn lost<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Verdict {
    if c.phase != "Lost" {
        return None;
    }
    Some(pvc_lost(view, c, None))
}

/// A claim being deleted while pods still use it: `pvc-terminating-in-use`.
pub(crate) fn terminating_in_use<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Verdict {
    c.pvc.metadata.deletion_timestamp.as_ref()?;
    // The pvc-protection controller keeps the claim while any *scheduled* pod mounts it,
    // whatever its phase (a finished Job pod still holds it until deleted); pending pods
    // do not hold it but fail with `persistentvolumeclaim "…" is being deleted`.
    let scheduled = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty())
    };
    let pods: Vec<&Pod> = view
        .ix
        .pods_by_claim
        .get(&(c.ns, c.name))
        .into_iter()
        .flatten()
        .copied()
        .filter(|p| scheduled(p) || is_pending(p))
        .collect();
    if pods.is_empty() {
        // Deleted and unused: it goes away on its own.
        return None;
    }
    let finished: Vec<&str> = pods
        .iter()
        .filter(|p| is_terminated(p) && scheduled(p))
        .map(|p| meta_name(&p.metadata))
        .collect();
    let mut ev = vec![pvc_line(c)];
    if let Some(f) = c.pvc.metadata.finalizers.as_ref().filter(|f| !f.is_empty()) {
        ev.push(format!("finalizers [{}]", f.join(", ")));
    }
    for pod in &pods {
        ev.push(pod_line(pod));
        ev.extend(events(view, "Pod", &pod.metadata, &["FailedScheduling"]));
    }
    let scale: Vec<String> = c
        .consumers
        .iter()
        .filter(|con| {
            matches!(
                con.workload.kind,
                WorkloadKind::Deployment | WorkloadKind::StatefulSet
            )
        })
        .map(|con| {
            format!(
                "kubectl -n {} scale {} {} --replicas=0",
                c.ns,
                con.workload.kind.as_str().to_lowercase(),
                con.workload.name
            )
        })
        .collect();
    let mut remediation = format!(
        "The claim is removed (kubernetes.io/pvc-protection) once no pod uses it; new pods that mount it fail. \
         If the deletion is intended, stop the consumers{}; then recreate the claim and start them again. \
         If it was a mistake, back up the data now: the volume is deleted with the claim (reclaimPolicy Delete).",
        if scale.is_empty() {
            String::new()
        } else {
            format!(": {}", scale.join(" && "))
        }
    );
    if !finished.is_empty() {
        remediation.push_str(&format!(
            " Finished pods hold it too: kubectl -n {} delete pod {}.",
            c.ns,
            finished.join(" ")
        ));
    }
    remediation.push_str(&format!(
        " Check: kubectl -n {} get pvc {} -o jsonpath='{{.metadata.deletionTimestamp}}'",
        c.ns, c.name
    ));
    let n = pods.len();
    Some(vec![hit(
        view,
        c,
        Found {
            id: FindingId::PvcTerminatingInUse,
            root: c.reference(),
            summary: format!(
                "PersistentVolumeClaim {} is being deleted while {n} pod(s) still use it",
                c.name
            ),
            evidence: ev,
            remediation,
        },
    )])
}

pub(crate) fn released_not_rebound<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Vec<Hit> {
    let mut out = Vec::new();
    let Some(pvs) = view.ix.released_by_claim.get(&(c.ns, c.name)).cloned() else {
        return out;
    };
    let uid = c.pvc.metadata.uid.as_deref();
    for pv in pvs {
        let spec = pv.spec.as_ref();
        if spec.and_then(|s| s.persistent_volume_reclaim_policy.as_deref()) != Some("Retain") {
            continue;
        }
        let old_uid = spec
            .and_then(|s| s.claim_ref.as_ref())
            .and_then(|r| r.uid.as_deref());
        if old_uid.is_some() && old_uid == uid {
            continue;
        }
        let pv_name = meta_name(&pv.metadata);
        let mut ev = vec![pv_line(pv), pvc_line(c)];
        ev.extend(events(
            view,
            "PersistentVolumeClaim",
            &c.pvc.metadata,
            &["FailedBinding"],
        ));
        let now = match c.volume_name() {
            Some(v) if v != pv_name => format!("bound to a new, empty volume {v}"),
            Some(_) => "waiting for it (volumeName)".to_owned(),
            None => c.phase.to_owned(),
        };
        let remediation = format!(
            "PersistentVolume {pv_name} still holds the old data and references the previous claim (uid {}). \
             To re-bind it: stop the consumers, kubectl -n {ns} delete pvc {name}, \
             kubectl patch pv {pv_name} --type json -p '[{{\"op\":\"remove\",\"path\":\"/spec/claimRef\"}}]', \
             then recreate the claim with spec.volumeName: {pv_name}. If the old data is not needed: kubectl delete pv {pv_name}.",
            old_uid.unwrap_or("?"),
            ns = c.ns,
            name = c.name,
        );
        let mut affected = affected(view, c);
        affected.insert(
            1,
            Affected {
                object: ObjectRef::cluster("PersistentVolume", pv_name),
                state: Some("Released".into()),
            },
        );
        out.push(Hit {
            id: FindingId::PvReleasedNotRebound,
            root: c.reference(),
            summary: format!(
                "Released PersistentVolume {pv_name} (Retain) with the old data was not re-bound to the recreated claim {}: it is {now}",
                c.name
            ),
            group_summary: None,
            evidence: ev,
            affected,
            remediation,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_cluster::*;

    fn lab(phase: &str) -> Vec<serde_json::Value> {
        let mut items = base();
        items.push(claim("models", phase, &["ReadWriteOnce"]));
        items.push(volume("models", "node-1"));
        items.push(deployment("inference", "models", "node-1"));
        items
    }

    #[test]
    fn a_lost_claim_is_pvc_lost() {
        assert!(ids(lab("Lost")).contains(&"pvc-lost"));
    }

    #[test]
    fn a_bound_claim_with_its_volume_is_not_lost() {
        assert!(!ids(lab("Bound")).contains(&"pvc-lost"));
    }

    #[test]
    fn a_deleted_claim_still_mounted_is_terminating_in_use() {
        let mut items = lab("Bound");
        items[4]["metadata"]["deletionTimestamp"] = "2026-11-28T08:10:00Z".into();
        items[4]["metadata"]["finalizers"] = serde_json::json!(["kubernetes.io/pvc-protection"]);
        let mut spec = pod_spec("models", "node-1");
        spec["nodeName"] = "node-1".into();
        items.push(pod("inference-0", spec, "Running", serde_json::json!({})));
        assert!(ids(items).contains(&"pvc-terminating-in-use"));
        // Deleted and used by no pod: it goes away on its own.
        let mut items = lab("Bound");
        items[4]["metadata"]["deletionTimestamp"] = "2026-11-28T08:10:00Z".into();
        assert!(!ids(items).contains(&"pvc-terminating-in-use"));
    }
}
