//! The pipeline's pods and workloads (`diagnose pods`): a pod the scheduler cannot place for
//! resources, and the containers' own failures.

use crate::diagnose::engine::Engine;
use crate::diagnose::engine::claim::push_unique;
use crate::diagnose::engine::merge::{Found, Hit};
use crate::k8s::model::Pod;
use crate::k8s::pod::is_pending;

use crate::diagnose::catalogue::FindingId;
use crate::diagnose::scheduler::ReasonKind;
use crate::diagnose::{Affected, ObjectRef};
use crate::k8s::WorkloadKind;
use crate::k8s::names::{name as meta_name, namespace as meta_ns};

/// Scheduler reasons that are the claim diagnosis's business.
const STORAGE_REASONS: [ReasonKind; 5] = [
    ReasonKind::VolumeNodeAffinityConflict,
    ReasonKind::VolumeBindingPlugin,
    ReasonKind::NoPersistentVolumeToBind,
    ReasonKind::BoundToMissingPersistentVolume,
    ReasonKind::ReadWriteOncePodInUse,
];

impl<'i, 'a> Engine<'i, 'a> {
    /// The workload a pod belongs to (its top owner), or the pod itself.
    pub(crate) fn pod_workload(&self, pod: &'a Pod) -> ObjectRef {
        self.ix.top_owner_ref(&pod.metadata).unwrap_or_else(|| {
            ObjectRef::namespaced(
                WorkloadKind::Pod.as_str(),
                meta_ns(&pod.metadata),
                meta_name(&pod.metadata),
            )
        })
    }

    /// Pod → its workload → the Services that select it.
    pub(crate) fn pod_affected(&self, pod: &'a Pod, state: String) -> Vec<Affected> {
        let ns = meta_ns(&pod.metadata);
        let mut out = vec![Affected {
            object: ObjectRef::namespaced("Pod", ns, meta_name(&pod.metadata)),
            state: Some(state),
        }];
        let w = self.pod_workload(pod);
        if w.kind != "Pod" {
            out.push(Affected {
                object: w,
                state: None,
            });
        }
        if let Some(labels) = pod.metadata.labels.as_ref() {
            for svc in self.ix.services_selecting(ns, labels) {
                let svc_name = meta_name(&svc.metadata);
                let ready = self
                    .ix
                    .ready_endpoints
                    .get(&(ns, svc_name))
                    .copied()
                    .unwrap_or(0);
                push_unique(
                    &mut out,
                    Affected {
                        object: ObjectRef::namespaced("Service", ns, svc_name),
                        state: Some(if ready == 0 {
                            "no ready endpoints".to_owned()
                        } else {
                            format!("{ready} ready endpoint(s)")
                        }),
                    },
                );
            }
        }
        out
    }

    pub(super) fn owned_by_failed_job(&self, pod: &Pod) -> bool {
        pod.metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.kind == "Job" && self.failed_jobs.contains(o.uid.as_str()))
    }

    /// Pending and not bound to a node.
    pub(super) fn unscheduled(&self, pod: &Pod) -> bool {
        is_pending(pod)
            && pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .is_none_or(str::is_empty)
    }

    /// A pending pod the scheduler rejects for resources (storage reasons are the claims').
    pub(super) fn pod_unschedulable(&self, pod: &'a Pod, out: &mut Vec<Hit>) {
        let Some(f) = self.scheduling_failure(pod) else {
            return;
        };
        if STORAGE_REASONS.iter().any(|k| f.count(*k) > 0)
            || f.filter.as_ref().is_some_and(|a| a.prefilter.is_some())
        {
            return;
        }
        if let Some(p) = self.insufficient_parts(pod) {
            self.pod_hit(
                out,
                pod,
                "Pending (Unschedulable)".to_owned(),
                Found {
                    id: FindingId::InsufficientResources,
                    root: p.root,
                    summary: p.summary,
                    evidence: p.evidence,
                    remediation: p.remediation,
                },
            );
        }
    }
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
