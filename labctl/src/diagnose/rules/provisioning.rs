//! Dynamic provisioning: the provisioner not running, provisioning failed, or simply waiting
//! for the first consumer.

use crate::diagnose::engine::claim::Claim;
use crate::diagnose::engine::evidence::{
    claim_event, events, has_event, pending_pod_evidence, pvc_line, scheduling_failure,
    workload_line,
};
use crate::diagnose::engine::merge::{Found, Hit, grouped_hit, hit};
use crate::diagnose::engine::remedy::template_fix;
use crate::diagnose::engine::{LOCAL_PATH, SELECTED_NODE, View};
use crate::diagnose::rules::Verdict;
use crate::k8s::model::Pod;
use crate::k8s::pod::is_pending;
use k8s_openapi::api::storage::v1::StorageClass;

use crate::diagnose::catalogue::FindingId;
use crate::diagnose::finding::ObjectRef;
use crate::k8s::WorkloadKind;
use crate::k8s::names::{name as meta_name, namespace as meta_ns};

pub(crate) fn provisioner_not_running<'a>(
    view: &View<'_, 'a>,
    c: &Claim<'a>,
    sc: &'a StorageClass,
) -> Verdict {
    let meta = &c.pvc.metadata;
    let waiting = has_event(view, "PersistentVolumeClaim", meta, "ExternalProvisioning");
    let started = has_event(view, "PersistentVolumeClaim", meta, "Provisioning")
        || has_event(view, "PersistentVolumeClaim", meta, "ProvisioningFailed");
    let candidates = &view.config.provisioner_deployments;
    let found: Vec<&crate::k8s::model::Deployment> = if sc.provisioner == LOCAL_PATH {
        candidates
            .iter()
            .filter_map(|r| {
                view.ix
                    .deployment_by_key
                    .get(&(r.namespace.as_str(), r.name.as_str()))
                    .copied()
            })
            .collect()
    } else {
        Vec::new()
    };
    let available = |d: &crate::k8s::model::Deployment| {
        d.status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0)
            > 0
    };
    let (down, root, state) = if !found.is_empty() {
        // State decides: a Deployment with no available replica does not provision.
        let d = found
            .iter()
            .find(|d| !available(d))
            .filter(|_| !found.iter().any(|d| available(d)))?;
        let st = d.status.as_ref();
        let state = format!(
            "Deployment {}/{}: {} replicas desired, {} available",
            meta_ns(&d.metadata),
            meta_name(&d.metadata),
            d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            st.and_then(|s| s.available_replicas).unwrap_or(0)
        );
        (
            true,
            ObjectRef::namespaced("Deployment", meta_ns(&d.metadata), meta_name(&d.metadata)),
            state,
        )
    } else if sc.provisioner == LOCAL_PATH {
        // Not found where the lab description says it lives; believe it only with the PV
        // controller's events (the snapshot may not cover kube-system).
        let where_: Vec<String> = candidates
            .iter()
            .map(|r| format!("{}/{}", r.namespace, r.name))
            .collect();
        let first = candidates.first();
        (
            waiting && !started,
            first.map_or_else(
                || ObjectRef::cluster("StorageClass", meta_name(&sc.metadata)),
                |r| ObjectRef::namespaced("Deployment", &r.namespace, &r.name),
            ),
            format!("no provisioner Deployment at {}", where_.join(" or ")),
        )
    } else {
        (
            waiting && !started,
            ObjectRef::cluster("StorageClass", meta_name(&sc.metadata)),
            format!("provisioner {} never started provisioning", sc.provisioner),
        )
    };
    if !down {
        return None;
    }
    let mut ev = vec![pvc_line(c), state];
    ev.extend(events(
        view,
        "PersistentVolumeClaim",
        meta,
        &["ExternalProvisioning"],
    ));
    if !started {
        ev.push("no Provisioning event: the provisioner never picked the claim up".into());
    }
    let remediation = if root.kind == "Deployment" {
        let ns = root.namespace.clone().unwrap_or_default();
        format!(
            "Start the provisioner and look at why it stopped: kubectl -n {ns} rollout status deployment/{n}; \
             kubectl -n {ns} scale deployment/{n} --replicas=1; kubectl -n {ns} logs deployment/{n}",
            n = root.name
        )
    } else {
        format!(
            "Install or start the provisioner {} (the one StorageClass {} names).",
            sc.provisioner,
            meta_name(&sc.metadata)
        )
    };
    Some(vec![grouped_hit(
        view,
        c,
        Found {
            id: FindingId::ProvisionerNotRunning,
            root: root.clone(),
            summary: format!(
                "PersistentVolumeClaim {} waits for provisioner {}, which is not running",
                c.name, sc.provisioner
            ),
            evidence: ev,
            remediation,
        },
        format!(
            "{{n}} claims wait for provisioner {}, which is not running",
            sc.provisioner
        ),
    )])
}

pub(crate) fn provisioning_failed<'a>(
    view: &View<'_, 'a>,
    c: &Claim<'a>,
    sc: &'a StorageClass,
) -> Verdict {
    let mut out = Vec::new();
    let failed = claim_event(view, c, "ProvisioningFailed", |m| {
        !(m.contains("only supports ReadWriteOnce") || m.contains("Only support ReadWriteOnce"))
    });
    let timeout_pods: Vec<&Pod> = c
        .live_pods()
        .filter(|p| {
            is_pending(p)
                && scheduling_failure(view, p).is_some_and(|f| f.is_volume_binding_timeout())
        })
        .collect();
    if failed.is_none() && timeout_pods.is_empty() {
        return None;
    }
    let mut ev = vec![pvc_line(c)];
    ev.extend(events(
        view,
        "PersistentVolumeClaim",
        &c.pvc.metadata,
        &["Provisioning", "ProvisioningFailed"],
    ));
    ev.extend(pending_pod_evidence(view, c));
    let why = failed.map_or_else(
        || "the volume binding timed out".to_owned(),
        |e| e.message.to_owned(),
    );
    let node = c.annotation(SELECTED_NODE).unwrap_or("<node>");
    let logs = if sc.provisioner == LOCAL_PATH {
        let d = view.config.provisioner_deployments.first();
        d.map(|d| format!("kubectl -n {} logs deployment/{}", d.namespace, d.name))
            .unwrap_or_default()
    } else {
        String::new()
    };
    let remediation = format!(
        "Fix what the provisioner reports, then retry by deleting the pending pod(s). For local-path: the helper pod \
         must run on {node} (node Ready, image pullable) and the path from the local-path-config ConfigMap must exist \
         and be writable there{}{}",
        if logs.is_empty() {
            String::new()
        } else {
            format!("; see {logs}")
        },
        "."
    );
    out.push(hit(
        view,
        c,
        Found {
            id: FindingId::ProvisioningFailed,
            root: c.reference(),
            summary: format!("provisioning the volume of claim {} failed: {why}", c.name),
            evidence: ev,
            remediation,
        },
    ));
    Some(out)
}

pub(crate) fn waiting_for_consumer<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Vec<Hit> {
    let mut ev = vec![pvc_line(c)];
    let pending: Vec<&Pod> = c.live_pods().filter(|p| is_pending(p)).collect();
    if pending.is_empty()
        && let Some(idle) = consumers_idle(view, c, &mut ev)
    {
        return idle;
    }
    let summary;
    if c.consumers.is_empty() {
        summary = format!(
            "WaitForFirstConsumer claim {} has no consumer yet: it binds when a pod that mounts it is scheduled",
            c.name
        );
    } else if pending.is_empty() {
        ev.extend(c.consumers.iter().map(|con| workload_line(&con.workload)));
        let why: Vec<String> = c
            .consumers
            .iter()
            .map(|con| {
                let state = con
                    .workload
                    .idle
                    .or(con.workload.never_ran.then_some("has not run yet"))
                    .unwrap_or("has no pod now");
                format!("{} {} {state}", con.workload.kind, con.workload.name)
            })
            .collect();
        summary = format!(
            "WaitForFirstConsumer claim {} waits for its first consumer ({})",
            c.name,
            why.join(", ")
        );
    } else {
        ev.extend(pending_pod_evidence(view, c));
        let names: Vec<&str> = pending.iter().map(|p| meta_name(&p.metadata)).collect();
        summary = format!(
            "WaitForFirstConsumer claim {} waits for pod {} to be scheduled",
            c.name,
            names.join(", ")
        );
    }
    ev.extend(events(
        view,
        "PersistentVolumeClaim",
        &c.pvc.metadata,
        &["WaitForFirstConsumer", "WaitForPodScheduled"],
    ));
    let remediation = match c
        .consumers
        .iter()
        .find(|con| con.workload.kind == WorkloadKind::CronJob)
    {
        Some(cj) => format!(
            "Nothing is wrong: the claim binds when the first consumer is scheduled. To provision it now, run the CronJob once: \
             kubectl -n {ns} create job --from=cronjob/{n} {n}-first-run{}",
            if cj.workload.idle == Some("suspended") {
                format!(
                    " (it is suspended: kubectl -n {ns} patch cronjob {n} -p '{{\"spec\":{{\"suspend\":false}}}}')",
                    ns = c.ns,
                    n = cj.workload.name
                )
            } else {
                String::new()
            },
            ns = c.ns,
            n = cj.workload.name
        ),
        None => "Nothing is wrong: the claim binds when the first pod that mounts it is scheduled."
            .to_owned(),
    };
    vec![hit(
        view,
        c,
        Found {
            id: FindingId::PvcWaitingForConsumer,
            root: c.reference(),
            summary,
            evidence: ev,
            remediation,
        },
    )]
}

/// Every consumer of the claim is idle (a suspended CronJob, a workload scaled to 0): no
/// pod will mount it, so WaitForFirstConsumer waits forever and the pipeline neither
/// trains nor serves. True when that is the case and the hit was written.
fn consumers_idle<'a>(view: &View<'_, 'a>, c: &Claim<'a>, ev: &mut Vec<String>) -> Verdict {
    if c.consumers.is_empty() || c.consumers.iter().any(|con| con.workload.idle.is_none()) {
        return None;
    }
    ev.extend(c.consumers.iter().map(|con| workload_line(&con.workload)));
    ev.extend(events(
        view,
        "PersistentVolumeClaim",
        &c.pvc.metadata,
        &["WaitForFirstConsumer", "WaitForPodScheduled"],
    ));
    let idle: Vec<String> = c
        .consumers
        .iter()
        .map(|con| {
            format!(
                "{} {} is {}",
                con.workload.kind,
                con.workload.name,
                con.workload.idle.unwrap_or("idle")
            )
        })
        .collect();
    let resume: Vec<String> = c
        .consumers
        .iter()
        .map(|con| match con.workload.kind {
            WorkloadKind::CronJob => {
                format!("spec.suspend: false on CronJob {}", con.workload.name)
            }
            kind => format!("spec.replicas: 1 on {kind} {}", con.workload.name),
        })
        .collect();
    let first = &c.consumers[0];
    let kubectl: Vec<String> = c
        .consumers
        .iter()
        .map(|con| match con.workload.kind {
            WorkloadKind::CronJob => format!(
                "kubectl -n {ns} patch cronjob {n} -p '{{\"spec\":{{\"suspend\":false}}}}' \
                 (or run it once: kubectl -n {ns} create job --from=cronjob/{n} {n}-first-run)",
                ns = c.ns,
                n = con.workload.name
            ),
            kind => format!(
                "kubectl -n {} scale {}/{} --replicas=1",
                c.ns,
                kind.as_str().to_lowercase(),
                con.workload.name
            ),
        })
        .collect();
    let kubectl = kubectl.join("; or ");
    let confirm = format!(
        "kubectl -n {} get pvc {} (Bound once a consumer's pod is scheduled)",
        c.ns, c.name
    );
    let remediation = template_fix(
        view,
        &format!("{} {}", first.workload.kind, first.workload.name),
        Some(first.workload.meta),
        &format!("set {}", resume.join(" or ")),
        &kubectl,
        &confirm,
    );
    Some(vec![hit(
        view,
        c,
        Found {
            id: FindingId::PvcConsumersIdle,
            root: c.reference(),
            summary: format!(
                "WaitForFirstConsumer claim {} never binds: {} (no pod will mount it)",
                c.name,
                idle.join(", ")
            ),
            evidence: std::mem::take(ev),
            remediation,
        },
    )])
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_cluster::*;

    #[test]
    fn a_pending_claim_without_consumers_waits_for_one() {
        let mut items = base();
        items.push(claim("models", "Pending", &["ReadWriteOnce"]));
        assert_eq!(ids(items), ["pvc-waiting-for-consumer"]);
    }

    /// A CronJob's job template mounting `claim`, suspended or not.
    fn cron_job(name: &str, claim_name: &str, suspend: bool) -> serde_json::Value {
        serde_json::json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta(name),
            "spec": {"schedule": "0 3 * * *", "suspend": suspend, "jobTemplate": {"spec": {"template": {
                "spec": pod_spec(claim_name, "node-1")}}}}})
    }

    #[test]
    fn a_claim_whose_only_consumer_is_suspended_never_binds() {
        let mut items = base();
        items.push(claim("models", "Pending", &["ReadWriteOnce"]));
        items.push(cron_job("trainer", "models", true));
        let d = diagnose(items);
        let f = &d.findings[0];
        assert_eq!(f.id, "pvc-consumers-idle");
        assert!(
            f.summary.contains("CronJob trainer is suspended"),
            "{}",
            f.summary
        );
        assert!(f.remediation.contains("suspend"), "{}", f.remediation);
    }

    #[test]
    fn a_claim_whose_consumer_is_active_but_has_not_run_waits() {
        let mut items = base();
        items.push(claim("models", "Pending", &["ReadWriteOnce"]));
        items.push(cron_job("trainer", "models", false));
        assert_eq!(ids(items), ["pvc-waiting-for-consumer"]);
    }

    #[test]
    fn a_bound_claim_waits_for_nothing() {
        let mut items = base();
        items.push(claim("models", "Bound", &["ReadWriteOnce"]));
        items.push(volume("models", "node-1"));
        assert!(!ids(items).contains(&"pvc-waiting-for-consumer"));
    }

    #[test]
    fn a_stopped_provisioner_is_provisioner_not_running() {
        let stopped = |items: &mut Vec<serde_json::Value>| {
            items[1]["status"] = serde_json::json!({"replicas": 1, "availableReplicas": 0,
                "unavailableReplicas": 1});
        };
        let lab = |stop: bool| {
            let mut items = base();
            if stop {
                stopped(&mut items);
            }
            let mut c = claim("models", "Pending", &["ReadWriteOnce"]);
            c["metadata"]["annotations"] = serde_json::json!({
                "volume.kubernetes.io/selected-node": "node-1",
                "volume.kubernetes.io/storage-provisioner": "rancher.io/local-path"});
            items.push(c);
            items.push(deployment("inference", "models", "node-1"));
            ids(items)
        };
        assert!(
            lab(true).contains(&"provisioner-not-running"),
            "{:?}",
            lab(true)
        );
        assert!(!lab(false).contains(&"provisioner-not-running"));
    }
}
