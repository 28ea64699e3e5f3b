//! The pipeline's pods and workloads (`diagnose pods`): a pod the scheduler cannot place for
//! resources, and the containers' own failures.

use crate::diagnose::engine::View;
use crate::diagnose::engine::evidence::scheduling_failure;
use crate::diagnose::engine::merge::{Found, Hit, pod_hit};
use crate::diagnose::rules::Verdict;
use crate::diagnose::rules::scheduling::insufficient_parts;
use crate::k8s::model::Pod;
use crate::k8s::pod::{is_pending, is_terminated};

use crate::diagnose::catalogue::FindingId;
use crate::diagnose::scheduler::ReasonKind;

/// Scheduler reasons that are the claim diagnosis's business.
const STORAGE_REASONS: [ReasonKind; 5] = [
    ReasonKind::VolumeNodeAffinityConflict,
    ReasonKind::VolumeBindingPlugin,
    ReasonKind::NoPersistentVolumeToBind,
    ReasonKind::BoundToMissingPersistentVolume,
    ReasonKind::ReadWriteOncePodInUse,
];

/// A pod that has finished, or whose Job failed: nothing of its own to say (a failed Job's pods
/// are the Job's finding, `trainer-job-failed`).
pub(super) fn left_to_its_job<'a>(view: &View<'_, 'a>, pod: &'a Pod) -> Verdict {
    (is_terminated(pod) || owned_by_failed_job(view, pod)).then(Vec::new)
}

fn owned_by_failed_job(view: &View<'_, '_>, pod: &Pod) -> bool {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "Job" && view.ix.failed_jobs.contains(o.uid.as_str()))
}

/// A pod not bound to a node is the scheduler's: judged by its reasons (those about storage are
/// the claims'), and nothing else is said about it.
pub(super) fn unschedulable<'a>(view: &View<'_, 'a>, pod: &'a Pod) -> Verdict {
    if !unscheduled(pod) {
        return None;
    }
    Some(pod_unschedulable(view, pod))
}

/// Pending and not bound to a node.
fn unscheduled(pod: &Pod) -> bool {
    is_pending(pod)
        && pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_none_or(str::is_empty)
}

/// A pending pod the scheduler rejects for resources (storage reasons are the claims').
fn pod_unschedulable<'a>(view: &View<'_, 'a>, pod: &'a Pod) -> Vec<Hit> {
    let mut out = Vec::new();
    let Some(f) = scheduling_failure(view, pod) else {
        return out;
    };
    if STORAGE_REASONS.iter().any(|k| f.count(*k) > 0)
        || f.filter.as_ref().is_some_and(|a| a.prefilter.is_some())
    {
        return out;
    }
    if let Some(p) = insufficient_parts(view, pod) {
        out.push(pod_hit(
            view,
            pod,
            "Pending (Unschedulable)".to_owned(),
            Found {
                id: FindingId::InsufficientResources,
                root: p.root,
                summary: p.summary,
                evidence: p.evidence,
                remediation: p.remediation,
            },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_cluster::*;
    use serde_json::json;

    /// A pod without volumes that the scheduler rejected with `message`.
    fn lab(message: &str) -> Vec<serde_json::Value> {
        let mut items = base();
        let spec = json!({"nodeSelector": {HOST: "node-1"}, "containers": [{"name": "inference",
            "image": "i", "resources": {"requests": {"cpu": "8"}}}]});
        items.push(pod(
            "inference-0",
            spec,
            "Pending",
            json!({"conditions": [{"type": "PodScheduled", "status": "False",
                                   "reason": "Unschedulable", "message": message}]}),
        ));
        items
    }

    #[test]
    fn a_pod_rejected_for_cpu_is_insufficient_resources() {
        let got = ids(lab(
            "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector.",
        ));
        assert!(got.contains(&"insufficient-resources"), "{got:?}");
    }

    #[test]
    fn a_pod_rejected_for_its_volume_is_the_claims_business() {
        let got = ids(lab(
            "0/2 nodes are available: 1 node(s) had volume node affinity conflict, 1 node(s) didn't match Pod's node affinity/selector.",
        ));
        assert!(!got.contains(&"insufficient-resources"), "{got:?}");
    }
}
