//! ClusterSnapshot: every object the diagnosis engine reads, loaded live from the API server
//! ([`live`]) or from files ([`file`]), and written back as one `List` so a problem can be
//! diagnosed offline and attached to a bug report.
//!
//! The snapshot holds each object as labctl reads it: the workload, pod, volume and event
//! kinds in the lean types of [`crate::k8s::model`] (k8s-openapi's shapes with only the fields
//! labctl reads), the small kinds as k8s-openapi's, and none of the writers' bookkeeping
//! (`managedFields`, the last-applied annotation). A snapshot written back diagnoses exactly
//! as the cluster did. When read from a file, a ReplicaSet is also kept without its pod
//! template (see `file::ReplicaSetOwner`).

pub mod file;
pub mod live;

use crate::k8s::model::{
    CronJob, Deployment, Event as CoreEvent, EventV1 as EventsV1Event, Job, PersistentVolume, Pod,
    ReplicaSet, StatefulSet,
};
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::core::DynamicObject;

pub use file::{SnapshotError, load_path, parse_str};

/// `apiVersion` of Argo CD Applications (read as untyped objects: no CRD crate needed).
pub const ARGOCD_API_VERSION: &str = "argoproj.io/v1alpha1";

/// Everything `labctl diagnose pvc` reads. Order inside each list is the order of the source.
#[derive(Debug, Clone, Default)]
pub struct ClusterSnapshot {
    pub persistent_volume_claims: Vec<PersistentVolumeClaim>,
    pub persistent_volumes: Vec<PersistentVolume>,
    pub storage_classes: Vec<StorageClass>,
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    pub jobs: Vec<Job>,
    pub cron_jobs: Vec<CronJob>,
    pub replica_sets: Vec<ReplicaSet>,
    /// Workload Deployments and the storage provisioner's Deployment.
    pub deployments: Vec<Deployment>,
    pub stateful_sets: Vec<StatefulSet>,
    pub services: Vec<Service>,
    pub endpoint_slices: Vec<EndpointSlice>,
    /// core/v1 Events (PV controller, provisioners, kubelet write these).
    pub events: Vec<CoreEvent>,
    /// events.k8s.io/v1 Events (the scheduler writes these). The same Event may appear in
    /// both lists (one object, two APIs): the engine de-duplicates by uid.
    pub events_v1: Vec<EventsV1Event>,
    /// Argo CD `Application`s (absent when the CRD is not installed).
    pub applications: Vec<DynamicObject>,
}

/// A kind the snapshot knows, by `apiVersion` and `kind` (as written in a `List` item).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    PersistentVolumeClaim,
    PersistentVolume,
    StorageClass,
    Node,
    Pod,
    Job,
    CronJob,
    ReplicaSet,
    Deployment,
    StatefulSet,
    Service,
    EndpointSlice,
    CoreEvent,
    EventsV1Event,
    Application,
}

impl Kind {
    /// Every kind, in the order of the snapshot's lists.
    pub(crate) const ALL: [Kind; 15] = [
        Self::PersistentVolumeClaim,
        Self::PersistentVolume,
        Self::StorageClass,
        Self::Node,
        Self::Pod,
        Self::Job,
        Self::CronJob,
        Self::ReplicaSet,
        Self::Deployment,
        Self::StatefulSet,
        Self::Service,
        Self::EndpointSlice,
        Self::CoreEvent,
        Self::EventsV1Event,
        Self::Application,
    ];

    /// `None` = a kind labctl does not read (ignored, as docs/architecture.md "Snapshot files" says).
    pub(crate) fn of(api_version: &str, kind: &str) -> Option<Self> {
        Some(match (api_version, kind) {
            ("v1", "PersistentVolumeClaim") => Self::PersistentVolumeClaim,
            ("v1", "PersistentVolume") => Self::PersistentVolume,
            ("storage.k8s.io/v1", "StorageClass") => Self::StorageClass,
            ("v1", "Node") => Self::Node,
            ("v1", "Pod") => Self::Pod,
            ("batch/v1", "Job") => Self::Job,
            ("batch/v1", "CronJob") => Self::CronJob,
            ("apps/v1", "ReplicaSet") => Self::ReplicaSet,
            ("apps/v1", "Deployment") => Self::Deployment,
            ("apps/v1", "StatefulSet") => Self::StatefulSet,
            ("v1", "Service") => Self::Service,
            ("discovery.k8s.io/v1", "EndpointSlice") => Self::EndpointSlice,
            ("v1", "Event") => Self::CoreEvent,
            ("events.k8s.io/v1", "Event") => Self::EventsV1Event,
            (ARGOCD_API_VERSION, "Application") => Self::Application,
            _ => return None,
        })
    }
}

impl ClusterSnapshot {
    /// Number of objects of all kinds.
    pub fn len(&self) -> usize {
        self.persistent_volume_claims.len()
            + self.persistent_volumes.len()
            + self.storage_classes.len()
            + self.nodes.len()
            + self.pods.len()
            + self.jobs.len()
            + self.cron_jobs.len()
            + self.replica_sets.len()
            + self.deployments.len()
            + self.stateful_sets.len()
            + self.services.len()
            + self.endpoint_slices.len()
            + self.events.len()
            + self.events_v1.len()
            + self.applications.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frees the room the lists hold beyond their objects.
    pub fn shrink_to_fit(&mut self) {
        self.persistent_volume_claims.shrink_to_fit();
        self.persistent_volumes.shrink_to_fit();
        self.storage_classes.shrink_to_fit();
        self.nodes.shrink_to_fit();
        self.pods.shrink_to_fit();
        self.jobs.shrink_to_fit();
        self.cron_jobs.shrink_to_fit();
        self.replica_sets.shrink_to_fit();
        self.deployments.shrink_to_fit();
        self.stateful_sets.shrink_to_fit();
        self.services.shrink_to_fit();
        self.endpoint_slices.shrink_to_fit();
        self.events.shrink_to_fit();
        self.events_v1.shrink_to_fit();
        self.applications.shrink_to_fit();
    }

    /// Appends every object of `other` (a directory of files is read file by file).
    pub fn extend(&mut self, other: ClusterSnapshot) {
        self.persistent_volume_claims
            .extend(other.persistent_volume_claims);
        self.persistent_volumes.extend(other.persistent_volumes);
        self.storage_classes.extend(other.storage_classes);
        self.nodes.extend(other.nodes);
        self.pods.extend(other.pods);
        self.jobs.extend(other.jobs);
        self.cron_jobs.extend(other.cron_jobs);
        self.replica_sets.extend(other.replica_sets);
        self.deployments.extend(other.deployments);
        self.stateful_sets.extend(other.stateful_sets);
        self.services.extend(other.services);
        self.endpoint_slices.extend(other.endpoint_slices);
        self.events.extend(other.events);
        self.events_v1.extend(other.events_v1);
        self.applications.extend(other.applications);
    }

    /// The snapshot as one `v1` `List`, the shape `kubectl get … -o json` prints and
    /// [`load_path`] reads back.
    pub fn to_list(&self) -> serde_json::Result<serde_json::Value> {
        use crate::k8s::model::to_api_json;
        use serde_json::to_value;
        let mut items = Vec::with_capacity(self.len());
        // Cluster-scoped objects first, then namespaced ones, events last: easy to read by hand.
        for o in &self.storage_classes {
            items.push(to_api_json(o)?);
        }
        for o in &self.nodes {
            items.push(to_api_json(o)?);
        }
        for o in &self.persistent_volumes {
            items.push(to_api_json(o)?);
        }
        for o in &self.persistent_volume_claims {
            items.push(to_api_json(o)?);
        }
        for o in &self.pods {
            items.push(to_api_json(o)?);
        }
        for o in &self.jobs {
            items.push(to_api_json(o)?);
        }
        for o in &self.cron_jobs {
            items.push(to_api_json(o)?);
        }
        for o in &self.replica_sets {
            items.push(to_api_json(o)?);
        }
        for o in &self.deployments {
            items.push(to_api_json(o)?);
        }
        for o in &self.stateful_sets {
            items.push(to_api_json(o)?);
        }
        for o in &self.services {
            items.push(to_api_json(o)?);
        }
        for o in &self.endpoint_slices {
            items.push(to_api_json(o)?);
        }
        for o in &self.applications {
            let mut v = to_value(o)?;
            // Objects from a list call may lack their type fields; the file reader needs them.
            if let Some(map) = v.as_object_mut() {
                map.entry("apiVersion")
                    .or_insert_with(|| ARGOCD_API_VERSION.into());
                map.entry("kind").or_insert_with(|| "Application".into());
            }
            items.push(v);
        }
        for o in &self.events {
            items.push(to_api_json(o)?);
        }
        for o in &self.events_v1 {
            items.push(to_api_json(o)?);
        }
        Ok(serde_json::json!({
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {"resourceVersion": ""},
            "items": items,
        }))
    }
}
