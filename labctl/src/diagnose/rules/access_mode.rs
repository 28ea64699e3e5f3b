//! `access-mode-unsupported` and the access-mode conflicts between consumers.

use crate::diagnose::catalogue::FindingId;
use crate::diagnose::engine::View;
use crate::diagnose::engine::claim::{Claim, Consumer, is_local_path};
use crate::diagnose::engine::evidence::{
    claim_event, events, pending_pod_evidence, pvc_line, scheduling_failure, workload_line,
};
use crate::diagnose::engine::merge::{Found, hit};
use crate::diagnose::engine::remedy::reapply;
use crate::diagnose::index::Workload;
use crate::diagnose::rules::Verdict;
use crate::diagnose::scheduler::ReasonKind;
use crate::k8s::WorkloadKind;
use crate::k8s::names::name as meta_name;

/// RWX/ROX on local-path, or ReadWriteOncePod shared by several consumers.
pub(crate) fn access_mode<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Verdict {
    let mut out = Vec::new();
    let modes = c.access_modes();
    let unsupported_event = claim_event(view, c, "ProvisioningFailed", |m| {
        m.contains("only supports ReadWriteOnce") || m.contains("Only support ReadWriteOnce")
    });
    let multi: Vec<&str> = modes
        .iter()
        .map(String::as_str)
        .filter(|m| matches!(*m, "ReadWriteMany" | "ReadOnlyMany"))
        .collect();
    if (is_local_path(c) && !multi.is_empty()) || unsupported_event.is_some() {
        let mut ev = vec![pvc_line(c)];
        ev.extend(events(
            view,
            "PersistentVolumeClaim",
            &c.pvc.metadata,
            &["ProvisioningFailed"],
        ));
        let class = c.class().map_or("local-path", |s| meta_name(&s.metadata));
        let remediation = format!(
            "{class} volumes live on one node: only ReadWriteOnce and ReadWriteOncePod are supported. \
             Set accessModes: [ReadWriteOnce] in the manifest and recreate the claim (access modes are immutable): \
             kubectl -n {ns} delete pvc {name}{reapply}; keep every consumer on one node.",
            reapply = reapply(view, c),
            ns = c.ns,
            name = c.name,
        );
        let modes_text = if multi.is_empty() {
            modes.join(", ")
        } else {
            multi.join(", ")
        };
        out.push(hit(
            view,
            c,
            Found {
                id: FindingId::AccessModeUnsupported,
                root: c.reference(),
                summary: format!(
                    "PersistentVolumeClaim {} asks for {modes_text}, which StorageClass {class} cannot provide",
                    c.name
                ),
                evidence: ev,
                remediation,
            },
        ));
        return Some(out);
    }
    if modes.iter().any(|m| m == "ReadWriteOncePod") {
        let replicas = |w: &Workload<'_>| -> i32 {
            if w.kind == WorkloadKind::Deployment {
                view.ix
                    .deployment_by_key
                    .get(&(w.namespace, w.name))
                    .and_then(|d| d.spec.as_ref()?.replicas)
                    .unwrap_or(1)
            } else if w.kind == WorkloadKind::StatefulSet {
                // Rare with a ReadWriteOncePod claim: a scan is fine.
                view.ix
                    .snapshot
                    .stateful_sets
                    .iter()
                    .find(|d| d.metadata.uid == w.meta.uid)
                    .and_then(|d| d.spec.as_ref()?.replicas)
                    .unwrap_or(1)
            } else {
                1
            }
        };
        let active: Vec<&Consumer<'a>> = c
            .consumers
            .iter()
            .filter(|con| con.workload.idle.is_none())
            .collect();
        let total: i32 = active.iter().map(|con| replicas(&con.workload)).sum();
        let rwop_event = c.live_pods().any(|p| {
            scheduling_failure(view, p)
                .is_some_and(|f| f.count(ReasonKind::ReadWriteOncePodInUse) > 0)
        });
        if total > 1 || rwop_event {
            let mut ev = vec![pvc_line(c)];
            ev.extend(active.iter().map(|con| workload_line(&con.workload)));
            ev.extend(pending_pod_evidence(view, c));
            let names: Vec<String> = active
                .iter()
                .map(|con| format!("{} {}", con.workload.kind, con.workload.name))
                .collect();
            let remediation = format!(
                "ReadWriteOncePod lets exactly one pod mount the claim. Use accessModes: [ReadWriteOnce] \
                 (several pods on one node may share it) and pin every consumer to one node; recreate the claim: \
                 kubectl -n {ns} delete pvc {name}{reapply}.",
                reapply = reapply(view, c),
                ns = c.ns,
                name = c.name,
            );
            out.push(hit(
                view,
                c,
                Found {
                    id: FindingId::AccessModeUnsupported,
                    root: c.reference(),
                    summary: format!(
                        "PersistentVolumeClaim {} is ReadWriteOncePod but shared by {}",
                        c.name,
                        names.join(" and ")
                    ),
                    evidence: ev,
                    remediation,
                },
            ));
            return Some(out);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_cluster::*;

    fn lab(modes: &[&str]) -> Vec<serde_json::Value> {
        let mut items = base();
        items.push(claim("models", "Pending", modes));
        items.push(deployment("inference", "models", "node-1"));
        items
    }

    #[test]
    fn read_write_many_on_local_path_is_unsupported() {
        assert!(ids(lab(&["ReadWriteMany"])).contains(&"access-mode-unsupported"));
    }

    #[test]
    fn read_write_once_on_local_path_is_fine() {
        assert!(!ids(lab(&["ReadWriteOnce"])).contains(&"access-mode-unsupported"));
    }
}
