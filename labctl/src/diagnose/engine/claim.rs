//! A claim under judgement: the claim, its class and its consumers (the workloads and pods that
//! mount it), and the facts about them that several rules ask.

use crate::diagnose::engine::{Engine, LOCAL_PATH, NO_PROVISIONER, SYNC_WAVE};
use crate::k8s::model::{Pod, PodSpec};
use crate::k8s::pod::{is_terminated, pod_phase, unscheduled_condition};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Toleration};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::diagnose::index::{ClassLookup, Workload};
use crate::diagnose::{Affected, ObjectRef};
use crate::k8s::WorkloadKind;
use crate::k8s::names::{name as meta_name, namespace as meta_ns};
use crate::k8s::placement;

/// A workload (or bare pod) that mounts the claim, with its live pods.
pub(crate) struct Consumer<'a> {
    pub(crate) workload: Workload<'a>,
    pub(crate) pods: Vec<&'a Pod>,
}

impl Consumer<'_> {
    pub(crate) fn reference(&self) -> ObjectRef {
        ObjectRef::namespaced(
            self.workload.kind.as_str(),
            self.workload.namespace,
            self.workload.name,
        )
    }
}

/// A claim under judgement and what hangs off it.
pub(crate) struct Claim<'a> {
    pub(crate) pvc: &'a PersistentVolumeClaim,
    pub(crate) ns: &'a str,
    pub(crate) name: &'a str,
    pub(crate) phase: &'a str,
    pub(crate) consumers: Vec<Consumer<'a>>,
    pub(crate) class: ClassLookup<'a>,
}

impl Claim<'_> {
    pub(crate) fn reference(&self) -> ObjectRef {
        ObjectRef::namespaced("PersistentVolumeClaim", self.ns, self.name)
    }

    pub(crate) fn annotation(&self, key: &str) -> Option<&str> {
        self.pvc
            .metadata
            .annotations
            .as_ref()?
            .get(key)
            .map(String::as_str)
    }

    pub(crate) fn access_modes(&self) -> &[String] {
        self.pvc
            .spec
            .as_ref()
            .and_then(|s| s.access_modes.as_deref())
            .unwrap_or_default()
    }

    pub(crate) fn volume_name(&self) -> Option<&str> {
        self.pvc
            .spec
            .as_ref()?
            .volume_name
            .as_deref()
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn class(&self) -> Option<&StorageClass> {
        match self.class {
            ClassLookup::Found(c) => Some(c),
            _ => None,
        }
    }

    pub(crate) fn wait_for_first_consumer(&self) -> bool {
        self.class()
            .is_some_and(|c| c.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer"))
    }

    pub(crate) fn live_pods(&self) -> impl Iterator<Item = &Pod> {
        self.consumers.iter().flat_map(|c| c.pods.iter().copied())
    }
}

pub(crate) fn sync_wave(meta: &ObjectMeta) -> Option<i64> {
    meta.annotations
        .as_ref()?
        .get(SYNC_WAVE)?
        .trim()
        .parse()
        .ok()
}

/// Dedup while keeping order.
pub(crate) fn push_unique<T: PartialEq>(v: &mut Vec<T>, item: T) {
    if !v.contains(&item) {
        v.push(item);
    }
}

impl<'i, 'a> Engine<'i, 'a> {
    pub(crate) fn claim(&self, pvc: &'a PersistentVolumeClaim) -> Claim<'a> {
        let ns = meta_ns(&pvc.metadata);
        let name = meta_name(&pvc.metadata);
        let mut consumers: Vec<Consumer<'a>> = self
            .ix
            .workloads_by_claim
            .get(&(ns, name))
            .into_iter()
            .flatten()
            .map(|w| Consumer {
                workload: w.clone(),
                pods: Vec::new(),
            })
            .collect();
        for &pod in self.ix.pods_by_claim.get(&(ns, name)).into_iter().flatten() {
            if is_terminated(pod) {
                continue;
            }
            let (kind, owner_name) = match self.ix.top_owner(&pod.metadata) {
                Some((kind, meta)) => (kind, meta_name(meta)),
                None => (WorkloadKind::Pod, meta_name(&pod.metadata)),
            };
            match consumers
                .iter_mut()
                .find(|c| c.workload.kind == kind && c.workload.name == owner_name)
            {
                Some(c) => c.pods.push(pod),
                None => {
                    // Owned by a workload whose current template no longer mounts the claim
                    // (an old ReplicaSet): the pod is its own consumer.
                    if let Some(spec) = &pod.spec {
                        consumers.push(Consumer {
                            workload: Workload {
                                kind: WorkloadKind::Pod,
                                namespace: ns,
                                name: meta_name(&pod.metadata),
                                meta: &pod.metadata,
                                spec,
                                pod_labels: pod.metadata.labels.as_ref(),
                                idle: None,
                                never_ran: false,
                            },
                            pods: vec![pod],
                        });
                    }
                }
            }
        }
        Claim {
            pvc,
            ns,
            name,
            phase: pvc
                .status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .unwrap_or("Pending"),
            consumers,
            class: self.ix.class_of(pvc),
        }
    }

    /// PVC → PV → pods → workloads → Services that select the pods.
    pub(crate) fn affected(&self, c: &Claim<'a>) -> Vec<Affected> {
        let mut out = vec![Affected {
            object: c.reference(),
            state: Some(if c.pvc.metadata.deletion_timestamp.is_some() {
                format!("{} (Terminating)", c.phase)
            } else {
                c.phase.to_owned()
            }),
        }];
        if let Some(v) = c.volume_name() {
            let state = self
                .ix
                .pv_by_name
                .get(v)
                .map(|pv| {
                    pv.status
                        .as_ref()
                        .and_then(|s| s.phase.clone())
                        .unwrap_or_default()
                })
                .unwrap_or_else(|| "missing".into());
            out.push(Affected {
                object: ObjectRef::cluster("PersistentVolume", v),
                state: Some(state),
            });
        }
        for con in &c.consumers {
            for pod in &con.pods {
                let mut state = pod_phase(pod).to_owned();
                if let Some((reason, _)) = unscheduled_condition(pod) {
                    state.push_str(&format!(" ({reason})"));
                }
                out.push(Affected {
                    object: ObjectRef::namespaced("Pod", c.ns, meta_name(&pod.metadata)),
                    state: Some(state),
                });
            }
            if con.workload.kind != WorkloadKind::Pod {
                let state = con
                    .workload
                    .idle
                    .map(str::to_owned)
                    .or_else(|| con.workload.never_ran.then(|| "has not run yet".to_owned()));
                push_unique(
                    &mut out,
                    Affected {
                        object: con.reference(),
                        state,
                    },
                );
            }
        }
        // Services that select a consumer's pods: the ones left without endpoints.
        let mut services: Vec<&k8s_openapi::api::core::v1::Service> = Vec::new();
        for con in &c.consumers {
            let labels = con
                .workload
                .pod_labels
                .into_iter()
                .chain(con.pods.iter().filter_map(|p| p.metadata.labels.as_ref()));
            for l in labels {
                for svc in self.ix.services_selecting(c.ns, l) {
                    if !services.iter().any(|s| std::ptr::eq(*s, svc)) {
                        services.push(svc);
                    }
                }
            }
        }
        for svc in services {
            let svc_name = meta_name(&svc.metadata);
            let ready = self
                .ix
                .ready_endpoints
                .get(&(c.ns, svc_name))
                .copied()
                .unwrap_or(0);
            let state = if ready == 0 {
                "no ready endpoints".to_owned()
            } else {
                format!("{ready} ready endpoint(s)")
            };
            push_unique(
                &mut out,
                Affected {
                    object: ObjectRef::namespaced("Service", c.ns, svc_name),
                    state: Some(state),
                },
            );
        }
        out
    }

    pub(crate) fn nodes_known(&self) -> bool {
        !self.ix.nodes.is_empty()
    }

    pub(crate) fn fits_any_node(&self, spec: &PodSpec) -> bool {
        self.ix
            .nodes
            .iter()
            .any(|n| placement::pod_fits_node(spec, n))
    }

    pub(crate) fn tolerations(c: &Claim<'a>) -> Vec<Toleration> {
        // A node is usable only when every consumer can run there.
        let mut all: Option<Vec<Toleration>> = None;
        for con in &c.consumers {
            let t = con.workload.spec.tolerations.clone().unwrap_or_default();
            all = Some(match all {
                None => t,
                Some(prev) => prev.into_iter().filter(|x| t.contains(x)).collect(),
            });
        }
        all.unwrap_or_default()
    }

    pub(crate) fn is_node_local(&self, c: &Claim<'a>) -> bool {
        if c.volume_name()
            .and_then(|v| self.ix.pv_by_name.get(v))
            .is_some_and(|pv| placement::pv_affinity(pv).is_some())
        {
            return true;
        }
        match c.class {
            ClassLookup::Found(sc) => {
                sc.provisioner == LOCAL_PATH
                    || sc.provisioner == NO_PROVISIONER
                    || meta_name(&sc.metadata) == self.config.storage_class
            }
            ClassLookup::Missing(n) | ClassLookup::Unknown(Some(n)) => {
                n == self.config.storage_class
            }
            _ => false,
        }
    }

    pub(crate) fn is_local_path(&self, c: &Claim<'a>) -> bool {
        match c.class {
            ClassLookup::Found(sc) => sc.provisioner == LOCAL_PATH,
            _ => false,
        }
    }
}
