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

pub mod as_of;
pub mod file;
pub mod live;

use crate::k8s::model::{
    ConfigMap, CronJob, DaemonSet, Deployment, Event as CoreEvent, EventV1 as EventsV1Event, Job,
    PersistentVolume, Pod, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolumeClaim, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::core::DynamicObject;

pub use as_of::{AsOf, Captured, Clock};
pub use file::{SnapshotError, load_path, parse_str};

use std::collections::BTreeSet;

use crate::k8s::gateway;
use crate::k8s::model::to_api_json;
use crate::objects::{RawObject, ReadError};

/// The key of a written snapshot's `List` that names the resources read whole
/// ([`ClusterSnapshot::read`]) and when it was taken ([`ClusterSnapshot::captured`]):
/// `"labctl": {"read": ["v1/pods", …], "captured_at": "2026-11-30T03:51:10Z", "clock":
/// "api-server"}`. Readers of `List`s ignore keys they do not know.
pub const READ_KEY: &str = "labctl";

/// The resources only `lint` reads, from rendered manifests: the live snapshot does not list
/// them (nothing that judges a cluster reads them, and labctl's ClusterRole need not grant
/// them), so it does not name them read, and a snapshot file's are ignored as a kind labctl
/// does not read is.
pub const MANIFEST_ONLY: [&str; 4] = [
    "v1/namespaces",
    "v1/configmaps",
    "apps/v1/daemonsets",
    "networking.k8s.io/v1/networkpolicies",
];

/// `apiVersion` of Argo CD Applications (read as untyped objects: no CRD crate needed).
pub const ARGOCD_API_VERSION: &str = "argoproj.io/v1alpha1";

/// Declares the snapshot from one table: each row is a list of the snapshot, its type, the
/// `apiVersion` and `kind` that select it in a file, how an object is read and how it is written.
/// The struct, [`Kind`] and every per-kind step (count, reserve, push, extend, write) come
/// from the table, so a new kind is one row. Rows are in the order a written snapshot lists
/// them: cluster-scoped objects first, then namespaced ones, events last (easy to read by hand).
macro_rules! snapshot_kinds {
    ($( $(#[$doc:meta])* $field:ident: $ty:ty => $variant:ident($api:expr, $kind:literal, $plural:literal),
        read $read:path, write $write:expr; )*) => {
        /// Everything `labctl diagnose` reads. Order inside each list is the order of the source.
        #[derive(Debug, Clone, Default)]
        pub struct ClusterSnapshot {
            $( $(#[$doc])* pub $field: Vec<$ty>, )*
            /// The resources the writer read whole (`v1/pods`, …), so that none of a kind means
            /// none in the cluster; `None` when unknown (a file of `kubectl get`), and then
            /// only a kind with objects is known to have been read.
            pub read: Option<BTreeSet<String>>,
            /// When it was taken (`None` for a file without labctl's marker).
            pub captured: Option<Captured>,
            /// The lists the API server refused when it was read live: the resource
            /// (`v1/pods`, as in [`Self::read`]) and the permission in kubectl's words
            /// (`cannot list pods in mlops-lab`), so that a check needing one is skipped
            /// naming it. Empty read from a file, and never written: a resource missing from
            /// `read` says enough there.
            pub forbidden: std::collections::BTreeMap<String, String>,
        }

        /// Every resource a snapshot can hold, as `apiVersion/plural`.
        pub fn resources() -> BTreeSet<String> {
            [$( format!("{}/{}", $api, $plural), )*].into_iter().collect()
        }

        /// A kind the snapshot knows, by `apiVersion` and `kind` (as written in a `List` item).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Kind { $( $variant, )* }

        impl Kind {
            /// Every kind, in the order of the snapshot's lists.
            pub(crate) const ALL: &'static [Kind] = &[$( Kind::$variant, )*];

            /// `None` = a kind labctl does not read (ignored, as docs/architecture.md "Snapshot
            /// files" says).
            pub(crate) fn of(api_version: &str, kind: &str) -> Option<Self> {
                $( if api_version == $api && kind == $kind {
                    return Some(Kind::$variant);
                } )*
                None
            }

            /// Whether it is the resource `apps/v1/daemonsets` (as [`ClusterSnapshot::read`]
            /// names one).
            pub(crate) fn is(self, resource: &str) -> bool {
                let (api_version, plural) = match self { $( Kind::$variant => ($api, $plural), )* };
                resource
                    .strip_prefix(api_version)
                    .and_then(|r| r.strip_prefix('/'))
                    == Some(plural)
            }
        }

        impl ClusterSnapshot {
            /// Number of objects of all kinds.
            pub fn len(&self) -> usize {
                0 $( + self.$field.len() )*
            }

            /// Drops the writers' bookkeeping from every object
            /// ([`crate::k8s::model::drop_bookkeeping`]).
            pub(crate) fn drop_bookkeeping(&mut self) {
                $( self.$field.iter_mut().for_each(crate::k8s::model::drop_bookkeeping); )*
            }

            /// Frees the room the lists hold beyond their objects.
            pub fn shrink_to_fit(&mut self) {
                $( self.$field.shrink_to_fit(); )*
            }

            /// Appends every object of `other` (a directory of files is read file by file); a
            /// resource is read whole if either file says so.
            pub fn extend(&mut self, other: ClusterSnapshot) {
                $( self.$field.extend(other.$field); )*
                self.forbidden.extend(other.forbidden);
                self.read = match (self.read.take(), other.read) {
                    (Some(mut a), Some(b)) => {
                        a.extend(b);
                        Some(a)
                    }
                    (a, b) => a.or(b),
                };
                // A directory of snapshots is as of the newest of them.
                self.captured = match (self.captured, other.captured) {
                    (Some(a), Some(b)) => Some(if b.at > a.at { b } else { a }),
                    (a, b) => a.or(b),
                };
            }

            /// The newest time written in any object ([`as_of::newest_time`]).
            fn newest_time(&self) -> Option<k8s_openapi::jiff::Timestamp> {
                let mut newest = None;
                $( for o in &self.$field {
                    if let Ok(v) = serde_json::to_value(o) {
                        newest = newest.max(as_of::newest_time(&v));
                    }
                } )*
                newest
            }

            /// Room for `n` more objects of `kind`.
            pub(crate) fn reserve(&mut self, kind: Kind, n: usize) {
                match kind { $( Kind::$variant => self.$field.reserve_exact(n), )* }
            }

            /// Types `o` into the list of its kind.
            pub(crate) fn push(&mut self, kind: Kind, o: &RawObject<'_>) -> Result<(), ReadError> {
                match kind { $( Kind::$variant => self.$field.push($read(o)?), )* }
                Ok(())
            }

            /// Types `value`, an object of `kind` as JSON (a manifest `lint` has checked),
            /// into the list of its kind, as it is.
            pub(crate) fn push_value(
                &mut self,
                kind: Kind,
                value: serde_json::Value,
            ) -> serde_json::Result<()> {
                match kind { $( Kind::$variant => self.$field.push(serde_json::from_value(value)?), )* }
                Ok(())
            }

            /// The snapshot as one `v1` `List`, the shape `kubectl get … -o json` prints and
            /// [`load_path`] reads back.
            pub fn to_list(&self) -> serde_json::Result<serde_json::Value> {
                let mut items = Vec::with_capacity(self.len());
                $( for o in &self.$field {
                    items.push(($write)(o)?);
                } )*
                let mut list = serde_json::json!({
                    "apiVersion": "v1",
                    "kind": "List",
                    "metadata": {"resourceVersion": ""},
                    "items": items,
                });
                let mut marker = serde_json::Map::new();
                if let Some(read) = &self.read {
                    marker.insert("read".into(), serde_json::json!(read));
                }
                if let Some(c) = &self.captured {
                    marker.insert("captured_at".into(), c.at.to_string().into());
                    marker.insert("clock".into(), serde_json::to_value(c.clock)?);
                }
                if !marker.is_empty() {
                    list[READ_KEY] = marker.into();
                }
                Ok(list)
            }
        }
    };
}

snapshot_kinds! {
    /// Namespaces, ConfigMaps, DaemonSets and NetworkPolicies: what `lint` reads from
    /// manifests besides the kinds the cluster's readers read ([`MANIFEST_ONLY`]).
    namespaces: Namespace => Namespace("v1", "Namespace", "namespaces"),
        read file::typed, write to_api_json;
    storage_classes: StorageClass
        => StorageClass("storage.k8s.io/v1", "StorageClass", "storageclasses"),
        read file::typed, write to_api_json;
    nodes: Node => Node("v1", "Node", "nodes"), read file::typed, write to_api_json;
    persistent_volumes: PersistentVolume
        => PersistentVolume("v1", "PersistentVolume", "persistentvolumes"),
        read file::typed, write to_api_json;
    persistent_volume_claims: PersistentVolumeClaim
        => PersistentVolumeClaim("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
        read file::typed, write to_api_json;
    pods: Pod => Pod("v1", "Pod", "pods"), read file::typed, write to_api_json;
    jobs: Job => Job("batch/v1", "Job", "jobs"), read file::typed, write to_api_json;
    cron_jobs: CronJob => CronJob("batch/v1", "CronJob", "cronjobs"),
        read file::typed, write to_api_json;
    replica_sets: ReplicaSet => ReplicaSet("apps/v1", "ReplicaSet", "replicasets"),
        read file::replica_set, write to_api_json;
    /// Workload Deployments and the storage provisioner's Deployment.
    deployments: Deployment => Deployment("apps/v1", "Deployment", "deployments"),
        read file::typed, write to_api_json;
    stateful_sets: StatefulSet => StatefulSet("apps/v1", "StatefulSet", "statefulsets"),
        read file::typed, write to_api_json;
    daemon_sets: DaemonSet => DaemonSet("apps/v1", "DaemonSet", "daemonsets"),
        read file::typed, write to_api_json;
    config_maps: ConfigMap => ConfigMap("v1", "ConfigMap", "configmaps"),
        read file::typed, write to_api_json;
    services: Service => Service("v1", "Service", "services"),
        read file::typed, write to_api_json;
    endpoint_slices: EndpointSlice
        => EndpointSlice("discovery.k8s.io/v1", "EndpointSlice", "endpointslices"),
        read file::typed, write to_api_json;
    /// The lab's Ingress (what `verify` judges the route by with an ingress controller).
    ingresses: Ingress => Ingress("networking.k8s.io/v1", "Ingress", "ingresses"),
        read file::typed, write to_api_json;
    network_policies: NetworkPolicy
        => NetworkPolicy("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
        read file::typed, write to_api_json;
    /// The lab's HTTPRoute, with the Gateway API (absent when its CRDs are not installed).
    http_routes: DynamicObject => HttpRoute(gateway::API_VERSION, "HTTPRoute", "httproutes"),
        read file::typed, write |o| dynamic_item(o, gateway::API_VERSION, "HTTPRoute");
    /// Argo CD `Application`s (absent when the CRD is not installed).
    applications: DynamicObject
        => Application(ARGOCD_API_VERSION, "Application", "applications"),
        read file::typed, write |o| dynamic_item(o, ARGOCD_API_VERSION, "Application");
    /// core/v1 Events (PV controller, provisioners, kubelet write these).
    events: CoreEvent => CoreEvent("v1", "Event", "events"),
        read file::typed, write to_api_json;
    /// events.k8s.io/v1 Events (the scheduler writes these). The same Event may appear in
    /// both lists (one object, two APIs): the engine de-duplicates by uid.
    events_v1: EventsV1Event => EventsV1Event("events.k8s.io/v1", "Event", "events"),
        read file::typed, write to_api_json;
}

/// Whether a snapshot holds a resource, for a reader that needs all of its objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held<'a> {
    /// Read whole (from a file that does not say what it read: some of it is there).
    Yes,
    /// The API server refused to list it: the permission, in kubectl's words.
    Forbidden(&'a str),
    /// Not read: a file of `kubectl get` that did not ask for it.
    No,
}

impl ClusterSnapshot {
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the snapshot holds `resource` (`networking.k8s.io/v1/ingresses`), of which it
    /// has objects or none (`has_objects`): none of a kind it read whole means none in the
    /// cluster, none of a kind it did not read means nothing.
    pub fn held(&self, resource: &str, has_objects: bool) -> Held<'_> {
        if let Some(permission) = self.forbidden.get(resource) {
            return Held::Forbidden(permission);
        }
        let read = self.read.as_ref().is_some_and(|r| r.contains(resource));
        if has_objects || read {
            Held::Yes
        } else {
            Held::No
        }
    }

    /// The instant this snapshot is judged as of: its capture time, else the newest time in
    /// its objects; `None` when it holds no time at all.
    pub fn as_of(&self) -> Option<AsOf> {
        if let Some(c) = self.captured {
            return Some(AsOf {
                at: c.at,
                source: as_of::Source::Captured(c.clock),
            });
        }
        self.newest_time().map(|at| AsOf {
            at,
            source: as_of::Source::NewestInFile,
        })
    }

    /// [`Self::as_of`], or `clock`'s now for a snapshot that holds no time at all.
    pub fn as_of_or(&self, clock: fn() -> k8s_openapi::jiff::Timestamp) -> AsOf {
        self.as_of().unwrap_or_else(|| AsOf {
            at: clock(),
            source: as_of::Source::LocalClock,
        })
    }
}

/// An object of a kind k8s-openapi has no type for, as a `List` item: objects from a list call
/// may lack their type fields, and the file reader needs them.
fn dynamic_item(
    o: &DynamicObject,
    api_version: &str,
    kind: &str,
) -> serde_json::Result<serde_json::Value> {
    let mut v = serde_json::to_value(o)?;
    if let Some(map) = v.as_object_mut() {
        map.entry("apiVersion")
            .or_insert_with(|| api_version.into());
        map.entry("kind").or_insert_with(|| kind.into());
    }
    Ok(v)
}
