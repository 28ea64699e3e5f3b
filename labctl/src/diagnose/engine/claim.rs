//! A claim under judgement: the claim, its class and its consumers (the workloads and pods that
//! mount it), and the facts about them that several rules ask.

use crate::diagnose::engine::{LOCAL_PATH, NO_PROVISIONER, SYNC_WAVE, View};
use crate::k8s::model::{Pod, PodSpec};
use crate::k8s::pod::is_terminated;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Toleration};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::diagnose::finding::ObjectRef;
use crate::diagnose::index::{ClassLookup, Workload};
use crate::k8s::names::{name as meta_name, namespace as meta_ns};
use crate::k8s::{WorkloadKind, placement};

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

pub(crate) fn claim<'a>(view: &View<'_, 'a>, pvc: &'a PersistentVolumeClaim) -> Claim<'a> {
    let ns = meta_ns(&pvc.metadata);
    let name = meta_name(&pvc.metadata);
    let mut consumers: Vec<Consumer<'a>> = view
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
    for &pod in view.ix.pods_by_claim.get(&(ns, name)).into_iter().flatten() {
        if is_terminated(pod) {
            continue;
        }
        let (kind, owner_name) = match view.ix.top_owner(&pod.metadata) {
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
        class: view.ix.class_of(pvc),
    }
}

pub(crate) fn nodes_known<'a>(view: &View<'_, 'a>) -> bool {
    !view.ix.nodes.is_empty()
}

pub(crate) fn fits_any_node<'a>(view: &View<'_, 'a>, spec: &PodSpec) -> bool {
    view.ix
        .nodes
        .iter()
        .any(|n| placement::pod_fits_node(spec, n))
}

pub(crate) fn tolerations(c: &Claim<'_>) -> Vec<Toleration> {
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

pub(crate) fn is_node_local<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> bool {
    if c.volume_name()
        .and_then(|v| view.ix.pv_by_name.get(v))
        .is_some_and(|pv| placement::pv_affinity(pv).is_some())
    {
        return true;
    }
    match c.class {
        ClassLookup::Found(sc) => {
            sc.provisioner == LOCAL_PATH
                || sc.provisioner == NO_PROVISIONER
                || meta_name(&sc.metadata) == view.config.storage_class
        }
        ClassLookup::Missing(n) | ClassLookup::Unknown(Some(n)) => n == view.config.storage_class,
        _ => false,
    }
}

pub(crate) fn is_local_path(c: &Claim<'_>) -> bool {
    match c.class {
        ClassLookup::Found(sc) => sc.provisioner == LOCAL_PATH,
        _ => false,
    }
}
