//! The workload, pod and volume objects as labctl reads them: k8s-openapi's shapes (the same
//! field names, the same `Option`s) holding only the fields labctl reads.
//!
//! Why not k8s-openapi's own types: they hold every field of the API inline, set or not. A
//! `Container` is over 2 KiB and a `Volume` over 3 KiB before any field is set, so a pod with
//! one of each took 10 KiB for about 1 KiB of JSON, and the objects of a 41 MB snapshot of
//! 5,000 claims took 197 MB. With these types they take 125 MB (`examples/bench_diagnose.rs`;
//! the README has the figures).
//!
//! What is kept: everything `diagnose`, `verify`, `preflight`, `lint` and the facts of `k8s/`
//! read (the compiler holds them to it: a field read is a field declared). The small parts are
//! k8s-openapi's own (`ObjectMeta`, `Affinity`, `Toleration`, statuses); what most objects of
//! a cluster lack and only `lint` reads (security contexts, liveness probes, a Job's
//! `podFailurePolicy`) is boxed, a word when absent. Each type is an API resource to kube
//! (`Api<model::Deployment>` lists and gets it) and serialises as the API object with the
//! fields it holds ([`to_api_json`]). `lint` checks the manifests against k8s-openapi's full
//! types (a field they do not know is a typo), then reads them as these.
//!
//! The kinds that stay k8s-openapi's (Node, PersistentVolumeClaim, Service, EndpointSlice,
//! StorageClass) are small, few, or read nearly whole.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    DaemonSetStatus, DeploymentStatus, ReplicaSetStatus, StatefulSetStatus,
};
use k8s_openapi::api::batch::v1::{CronJobStatus, JobStatus, PodFailurePolicy};
use k8s_openapi::api::core::v1::{
    Affinity, ContainerPort, ObjectReference, PersistentVolumeClaimVolumeSource,
    PersistentVolumeStatus, PodSchedulingGate, PodSecurityContext, PodStatus, Probe,
    ResourceRequirements, SecurityContext, Toleration, VolumeMount, VolumeNodeAffinity,
};
use k8s_openapi::api::core::v1::{EventSeries as CoreEventSeries, EventSource};
use k8s_openapi::api::events::v1::EventSeries;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, MicroTime, ObjectMeta, Time};
use serde::{Deserialize, Serialize};

/// Implements k8s-openapi's `Resource` and `Metadata` for a lean type with the constants of the
/// full one, which makes it a kube resource too.
macro_rules! resource {
    ($lean:ident, $full:ty) => {
        impl k8s_openapi::Resource for $lean {
            const API_VERSION: &'static str = <$full as k8s_openapi::Resource>::API_VERSION;
            const GROUP: &'static str = <$full as k8s_openapi::Resource>::GROUP;
            const KIND: &'static str = <$full as k8s_openapi::Resource>::KIND;
            const VERSION: &'static str = <$full as k8s_openapi::Resource>::VERSION;
            const URL_PATH_SEGMENT: &'static str =
                <$full as k8s_openapi::Resource>::URL_PATH_SEGMENT;
            type Scope = <$full as k8s_openapi::Resource>::Scope;
        }
        impl k8s_openapi::Metadata for $lean {
            type Ty = ObjectMeta;
            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

/// A pod: `metadata`, `spec` and `status` as the API has them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pod {
    pub metadata: ObjectMeta,
    pub spec: Option<PodSpec>,
    pub status: Option<PodStatus>,
}
resource!(Pod, k8s_openapi::api::core::v1::Pod);

/// The parts of a pod spec that place it, size it, and say what it runs and mounts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSpec {
    pub node_name: Option<String>,
    pub node_selector: Option<BTreeMap<String, String>>,
    pub affinity: Option<Affinity>,
    pub tolerations: Option<Vec<Toleration>>,
    pub overhead: Option<BTreeMap<String, Quantity>>,
    pub containers: Vec<Container>,
    pub init_containers: Option<Vec<Container>>,
    pub volumes: Option<Vec<Volume>>,
    /// Gates a controller removes before the scheduler considers the pod (`SchedulingGated`).
    pub scheduling_gates: Option<Vec<PodSchedulingGate>>,
    /// The Secrets the kubelet pulls the images with (`preflight` asks the registry with them).
    pub image_pull_secrets: Option<Vec<k8s_openapi::api::core::v1::LocalObjectReference>>,
    /// `Always` (unset), `OnFailure` or `Never`: whether a bare pod is long-running, and
    /// whether a Job retries by new pods (`lint`).
    pub restart_policy: Option<String>,
    /// `lint`'s security baseline.
    pub automount_service_account_token: Option<bool>,
    pub security_context: Option<Box<PodSecurityContext>>,
}

/// A container: what it runs, its ports, requests and limits, mounts and probes. The probes
/// are boxed: most containers of a snapshot have none, and an absent box costs a word.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    pub image: Option<String>,
    pub command: Option<Vec<String>>,
    pub args: Option<Vec<String>>,
    pub ports: Option<Vec<ContainerPort>>,
    pub resources: Option<ResourceRequirements>,
    pub readiness_probe: Option<Box<Probe>>,
    /// `lint`: long-running containers have one.
    pub liveness_probe: Option<Box<Probe>>,
    /// `lint`: which volumes are mounted read-write.
    pub volume_mounts: Option<Vec<VolumeMount>>,
    /// `lint`'s security baseline.
    pub security_context: Option<Box<SecurityContext>>,
}

/// A pod volume: its name and, when it asks for storage, the claim it names (or the claim
/// template of a generic ephemeral volume).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Volume {
    pub name: String,
    pub persistent_volume_claim: Option<PersistentVolumeClaimVolumeSource>,
}

/// A pod template: labels and the pod spec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PodTemplateSpec {
    pub metadata: Option<ObjectMeta>,
    pub spec: Option<PodSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Deployment {
    pub metadata: ObjectMeta,
    pub spec: Option<DeploymentSpec>,
    pub status: Option<DeploymentStatus>,
}
resource!(Deployment, k8s_openapi::api::apps::v1::Deployment);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DeploymentSpec {
    pub replicas: Option<i32>,
    /// Seconds a rollout may go without progress before `ProgressDeadlineExceeded` (600).
    pub progress_deadline_seconds: Option<i32>,
    pub selector: LabelSelector,
    pub template: PodTemplateSpec,
}

/// A ReplicaSet. Read from a snapshot file its template is dropped: it copies its
/// Deployment's, and the engine reads the Deployment's (see `snapshot::file`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplicaSet {
    pub metadata: ObjectMeta,
    pub spec: Option<ReplicaSetSpec>,
    pub status: Option<ReplicaSetStatus>,
}
resource!(ReplicaSet, k8s_openapi::api::apps::v1::ReplicaSet);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ReplicaSetSpec {
    pub replicas: Option<i32>,
    pub selector: LabelSelector,
    pub template: Option<PodTemplateSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatefulSet {
    pub metadata: ObjectMeta,
    pub spec: Option<StatefulSetSpec>,
    pub status: Option<StatefulSetStatus>,
}
resource!(StatefulSet, k8s_openapi::api::apps::v1::StatefulSet);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StatefulSetSpec {
    pub replicas: Option<i32>,
    pub template: PodTemplateSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DaemonSet {
    pub metadata: ObjectMeta,
    pub spec: Option<DaemonSetSpec>,
    pub status: Option<DaemonSetStatus>,
}
resource!(DaemonSet, k8s_openapi::api::apps::v1::DaemonSet);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DaemonSetSpec {
    pub template: PodTemplateSpec,
}

/// A ConfigMap as `lint` reads it from manifests: which one, where. Its data is not kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfigMap {
    pub metadata: ObjectMeta,
}
resource!(ConfigMap, k8s_openapi::api::core::v1::ConfigMap);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Job {
    pub metadata: ObjectMeta,
    pub spec: Option<JobSpec>,
    pub status: Option<JobStatus>,
}
resource!(Job, k8s_openapi::api::batch::v1::Job);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct JobSpec {
    pub suspend: Option<bool>,
    pub template: PodTemplateSpec,
    /// Retries before the Job fails (6 when unset); `lint` asks for a `podFailurePolicy` when
    /// it retries.
    pub backoff_limit: Option<i32>,
    pub pod_failure_policy: Option<Box<PodFailurePolicy>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CronJob {
    pub metadata: ObjectMeta,
    pub spec: Option<CronJobSpec>,
    pub status: Option<CronJobStatus>,
}
resource!(CronJob, k8s_openapi::api::batch::v1::CronJob);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CronJobSpec {
    pub schedule: String,
    pub suspend: Option<bool>,
    pub job_template: JobTemplateSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobTemplateSpec {
    pub metadata: Option<ObjectMeta>,
    pub spec: Option<JobSpec>,
}

/// A PersistentVolume: where it lives (node affinity, host path or local path), what it
/// offers and whose claim it is bound to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PersistentVolume {
    pub metadata: ObjectMeta,
    pub spec: Option<PersistentVolumeSpec>,
    pub status: Option<PersistentVolumeStatus>,
}
resource!(
    PersistentVolume,
    k8s_openapi::api::core::v1::PersistentVolume
);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PersistentVolumeSpec {
    pub claim_ref: Option<ObjectReference>,
    pub node_affinity: Option<VolumeNodeAffinity>,
    pub persistent_volume_reclaim_policy: Option<String>,
}

/// A core/v1 Event (the PV controller, provisioners and the kubelet write these): what
/// happened to which object, how often and when.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Event {
    pub metadata: ObjectMeta,
    pub involved_object: ObjectReference,
    pub reason: Option<String>,
    pub message: Option<String>,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub count: Option<i32>,
    pub series: Option<CoreEventSeries>,
    pub first_timestamp: Option<Time>,
    pub last_timestamp: Option<Time>,
    pub event_time: Option<MicroTime>,
    pub reporting_component: Option<String>,
    pub source: Option<EventSource>,
}
resource!(Event, k8s_openapi::api::core::v1::Event);

/// An events.k8s.io/v1 Event (the scheduler writes these); the same store as [`Event`]
/// through the newer API, with its own field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EventV1 {
    pub metadata: ObjectMeta,
    pub regarding: Option<ObjectReference>,
    pub reason: Option<String>,
    pub note: Option<String>,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub series: Option<EventSeries>,
    pub deprecated_count: Option<i32>,
    pub deprecated_first_timestamp: Option<Time>,
    pub deprecated_last_timestamp: Option<Time>,
    pub event_time: Option<MicroTime>,
    pub reporting_controller: Option<String>,
    pub deprecated_source: Option<EventSource>,
}
resource!(EventV1, k8s_openapi::api::events::v1::Event);

/// The annotation `kubectl apply` (and Argo CD's client-side apply) keeps the whole last
/// applied object in.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what writers keep for themselves and labctl never reads: `managedFields` (a JSON
/// tree of field owners) and the last-applied annotation. Each is about as large as the
/// object; a snapshot without them diagnoses the same.
pub fn drop_bookkeeping<K: kube::Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove(LAST_APPLIED);
    }
}

/// `value` (any API object labctl holds) as JSON without its unset fields, as the API server
/// writes it: the lean types serialise `None` as `null`, and a snapshot file should read like
/// `kubectl get -o json`.
pub fn to_api_json<K: k8s_openapi::Resource + Serialize>(
    value: &K,
) -> serde_json::Result<serde_json::Value> {
    let mut v = serde_json::to_value(value)?;
    drop_nulls(&mut v);
    if let Some(map) = v.as_object_mut() {
        map.insert("apiVersion".into(), K::API_VERSION.into());
        map.insert("kind".into(), K::KIND.into());
    }
    Ok(v)
}

fn drop_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod_json() -> serde_json::Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "p", "namespace": "n"},
               "spec": {"nodeSelector": {"kubernetes.io/hostname": "a"},
                        "containers": [{"name": "c", "image": "i:1",
                                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                                        "terminationMessagePath": "/dev/termination-log"}],
                        "volumes": [{"name": "m", "persistentVolumeClaim": {"claimName": "models", "readOnly": true}},
                                    {"name": "t", "emptyDir": {}}]},
               "status": {"phase": "Running"}})
    }

    #[test]
    fn reads_the_api_json_and_keeps_what_labctl_reads() {
        let p: Pod = serde_json::from_value(pod_json()).unwrap();
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(
            spec.node_selector.as_ref().unwrap()["kubernetes.io/hostname"],
            "a"
        );
        let c = &spec.containers[0];
        assert_eq!(c.image.as_deref(), Some("i:1"));
        assert!(c.readiness_probe.is_some());
        let v = spec.volumes.as_ref().unwrap();
        assert_eq!(
            v[0].persistent_volume_claim.as_ref().unwrap().claim_name,
            "models"
        );
        assert!(v[1].persistent_volume_claim.is_none());
    }

    #[test]
    fn writes_the_api_json_of_what_it_holds() {
        let p: Pod = serde_json::from_value(pod_json()).unwrap();
        let v = to_api_json(&p).unwrap();
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["kind"], "Pod");
        assert_eq!(
            v["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"],
            "/healthz"
        );
        // Unset fields are absent, not null; fields labctl does not read are not kept.
        assert!(v["spec"].get("nodeName").is_none());
        assert!(
            v["spec"]["containers"][0]
                .get("terminationMessagePath")
                .is_none()
        );
        // What it writes, it reads back the same.
        let again: Pod = serde_json::from_value(v).unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn lean_types_are_small() {
        use std::mem::size_of;
        assert!(size_of::<Container>() < size_of::<k8s_openapi::api::core::v1::Container>() / 4);
        assert!(size_of::<Volume>() < size_of::<k8s_openapi::api::core::v1::Volume>() / 20);
        assert!(size_of::<Pod>() < size_of::<k8s_openapi::api::core::v1::Pod>());
        assert!(
            size_of::<PersistentVolume>()
                < size_of::<k8s_openapi::api::core::v1::PersistentVolume>() / 3
        );
    }

    #[test]
    fn bookkeeping_is_dropped_and_the_rest_kept() {
        let mut d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "d", "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
                         "annotations": {LAST_APPLIED: "{}", "argocd.argoproj.io/tracking-id": "x"}}}))
        .unwrap();
        drop_bookkeeping(&mut d);
        assert!(d.metadata.managed_fields.is_none());
        let a = d.metadata.annotations.unwrap();
        assert!(!a.contains_key(LAST_APPLIED));
        assert_eq!(a["argocd.argoproj.io/tracking-id"], "x");
    }

    #[test]
    fn is_a_kube_resource() {
        use kube::Resource;
        assert_eq!(Deployment::plural(&()), "deployments");
        assert_eq!(Deployment::api_version(&()), "apps/v1");
        assert_eq!(PersistentVolume::kind(&()), "PersistentVolume");
    }
}
