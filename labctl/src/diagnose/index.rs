//! Indexes over a [`ClusterSnapshot`], built once in linear time, so that every join the
//! engine makes (claim → volume, pod → owner → workload, object → events, pods → Services) is
//! a hash lookup rather than a scan: 20k claims must not cost 20k² comparisons.
//!
//! The maps are sized from the snapshot before they are filled and hash with [`FastHash`]:
//! growing a map re-hashes every key, and each key is a string elsewhere on the heap, so at
//! 20k claims the re-hashing and SipHash's cost per short key made building the index grow
//! about 7x for 4x the objects (measured with `examples/bench_diagnose.rs`).
//!
//! Longer than 600 lines on purpose: every lookup the rules make is here, next to the maps it
//! reads, so a new join is added where the others are and built in the same single pass.

use std::collections::BTreeMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::k8s::model::{
    CronJob, Deployment, Job, PersistentVolume, Pod, PodSpec, PodTemplateSpec,
};
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Service};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::core::DynamicObject;

use crate::diagnose::scheduler::strip_combined_prefix;
use crate::snapshot::ClusterSnapshot;

use crate::k8s::WorkloadKind;
/// `(namespace, name)`.
pub use crate::k8s::names::Key;
use crate::k8s::names::{key, name, namespace as ns};
use crate::k8s::service::selects;

/// The word-at-a-time multiply-rotate hash of rustc's `FxHasher`: several times faster than
/// SipHash on the short names and uids the index keys on. It does not resist crafted
/// collisions; a snapshot is the operator's own cluster state, not an attacker's input, and
/// the worst a collision costs is time.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// [`FastHasher`] for `HashMap` and `HashSet`.
pub type FastHash = BuildHasherDefault<FastHasher>;
/// A map of the index (see [`FastHasher`]).
pub type HashMap<K, V> = std::collections::HashMap<K, V, FastHash>;
/// A set of the index (see [`FastHasher`]).
pub type HashSet<T> = std::collections::HashSet<T, FastHash>;

/// An empty map with room for `n` entries.
pub fn map_with<K, V>(n: usize) -> HashMap<K, V> {
    HashMap::with_capacity_and_hasher(n, FastHash::default())
}

/// An empty set with room for `n` entries.
pub fn set_with<T>(n: usize) -> HashSet<T> {
    HashSet::with_capacity_and_hasher(n, FastHash::default())
}

/// An Event from either API, reduced to what the engine reads.
#[derive(Debug, Clone)]
pub struct EventRecord<'a> {
    /// Kind of the object the event is about (`regarding` / `involvedObject`).
    pub object_kind: &'a str,
    pub object_name: &'a str,
    pub reason: &'a str,
    /// Note/message without the aggregator's `(combined from similar events): ` prefix.
    pub message: &'a str,
    /// `Normal` or `Warning`.
    pub type_: &'a str,
    /// How often it happened (`count`, `series.count`, `deprecatedCount`; at least 1).
    pub count: i32,
    /// `reportingController` / `source.component`.
    pub source: &'a str,
    pub last_seen: Option<Timestamp>,
}

/// A workload whose pod template (or a bare pod) mounts claims.
#[derive(Debug, Clone)]
pub struct Workload<'a> {
    /// `Deployment`, `StatefulSet`, `CronJob`, `Job`, `ReplicaSet` or `Pod`.
    pub kind: WorkloadKind,
    pub namespace: &'a str,
    pub name: &'a str,
    pub meta: &'a ObjectMeta,
    pub spec: &'a PodSpec,
    /// Labels of the pods it creates.
    pub pod_labels: Option<&'a BTreeMap<String, String>>,
    /// Why it creates no pods now (`suspended`, `scaled to 0`), if so.
    pub idle: Option<&'static str>,
    /// A CronJob that has never been scheduled.
    pub never_ran: bool,
}

/// Every index the engine uses. Lifetimes borrow from the snapshot: nothing is copied.
pub struct Index<'a> {
    pub snapshot: &'a ClusterSnapshot,
    pub pvc_by_key: HashMap<Key<'a>, &'a PersistentVolumeClaim>,
    pub pv_by_name: HashMap<&'a str, &'a PersistentVolume>,
    pub class_by_name: HashMap<&'a str, &'a StorageClass>,
    pub default_class: Option<&'a StorageClass>,
    pub nodes: Vec<&'a Node>,
    pub node_by_name: HashMap<&'a str, &'a Node>,
    /// Claim `(namespace, claimName)` → pods that mount it.
    pub pods_by_claim: HashMap<Key<'a>, Vec<&'a Pod>>,
    /// Claim → workloads whose templates mount it (bare pods included).
    pub workloads_by_claim: HashMap<Key<'a>, Vec<Workload<'a>>>,
    /// uid → (kind, meta) of every owner object (ReplicaSet, Deployment, Job, CronJob, StatefulSet).
    pub owner_by_uid: HashMap<&'a str, (WorkloadKind, &'a ObjectMeta)>,
    /// Object uid → its events, oldest first.
    pub events_by_uid: HashMap<&'a str, Vec<EventRecord<'a>>>,
    /// `(kind, namespace, name)` → events whose reference has no uid.
    pub events_by_name: HashMap<(&'a str, &'a str, &'a str), Vec<EventRecord<'a>>>,
    /// Services by `(namespace, key, value)` of the first pair of their selector: a pod finds
    /// the Services that may select it through its own labels, without scanning them all.
    pub services_by_selector: HashMap<(&'a str, &'a str, &'a str), Vec<&'a Service>>,
    /// Service `(namespace, name)` → ready endpoints over all its EndpointSlices.
    pub ready_endpoints: HashMap<Key<'a>, usize>,
    pub deployment_by_key: HashMap<Key<'a>, &'a Deployment>,
    /// Node name → pods scheduled there (any phase).
    pub pods_by_node: HashMap<&'a str, Vec<&'a Pod>>,
    pub applications: Vec<&'a DynamicObject>,
    /// Owner uid (any owner reference) → the pods it owns, in snapshot order.
    pub pods_by_owner: HashMap<&'a str, Vec<&'a Pod>>,
    /// Owner uid (any owner reference) → the Jobs it owns (a CronJob's runs).
    pub jobs_by_owner: HashMap<&'a str, Vec<&'a Job>>,
    /// Owner uid → the ReplicaSets it owns (a Deployment's).
    pub replica_sets_by_owner: HashMap<&'a str, Vec<&'a ObjectMeta>>,
    /// Namespace → its CronJobs.
    pub cron_jobs_by_ns: HashMap<&'a str, Vec<&'a CronJob>>,
    /// Namespace → its Jobs.
    pub jobs_by_ns: HashMap<&'a str, Vec<&'a Job>>,
    /// Claim `(namespace, name)` → the `Released` volumes whose `claimRef` still names it.
    pub released_by_claim: HashMap<Key<'a>, Vec<&'a PersistentVolume>>,
    /// Claim → the Argo CD hook Jobs that mount it, finished ones included: a hook runs again
    /// on every sync.
    pub hooks_by_claim: HashMap<Key<'a>, Vec<&'a Job>>,
    /// Uids of the Jobs that failed (their pods are the Job's finding, not their own).
    pub failed_jobs: HashSet<&'a str>,
}

fn claims_of(spec: &PodSpec) -> impl Iterator<Item = &str> {
    spec.volumes.iter().flatten().filter_map(|v| {
        v.persistent_volume_claim
            .as_ref()
            .map(|c| c.claim_name.as_str())
    })
}

pub(crate) fn controller(meta: &ObjectMeta) -> Option<&OwnerReference> {
    let refs = meta.owner_references.as_deref()?;
    refs.iter()
        .find(|r| r.controller == Some(true))
        .or(refs.first())
}

impl<'a> Index<'a> {
    pub fn new(s: &'a ClusterSnapshot) -> Self {
        let mut pvc_by_key = map_with(s.persistent_volume_claims.len());
        pvc_by_key.extend(
            s.persistent_volume_claims
                .iter()
                .map(|p| (key(&p.metadata), p)),
        );
        let mut pv_by_name = map_with(s.persistent_volumes.len());
        pv_by_name.extend(s.persistent_volumes.iter().map(|p| (name(&p.metadata), p)));
        let mut class_by_name: HashMap<_, _> = map_with(s.storage_classes.len());
        class_by_name.extend(s.storage_classes.iter().map(|c| (name(&c.metadata), c)));
        // Several defaults: Kubernetes (1.26+) uses the newest one.
        let default_class = s
            .storage_classes
            .iter()
            .filter(|c| {
                let a = c.metadata.annotations.as_ref();
                [
                    "storageclass.kubernetes.io/is-default-class",
                    "storageclass.beta.kubernetes.io/is-default-class",
                ]
                .iter()
                .any(|k| a.and_then(|a| a.get(*k)).is_some_and(|v| v == "true"))
            })
            .max_by_key(|c| c.metadata.creation_timestamp.as_ref().map(|t| t.0));
        let nodes: Vec<&Node> = s.nodes.iter().collect();
        let mut node_by_name = map_with(s.nodes.len());
        node_by_name.extend(s.nodes.iter().map(|n| (name(&n.metadata), n)));

        let mut owner_by_uid: HashMap<&str, (WorkloadKind, &ObjectMeta)> = map_with(
            s.replica_sets.len()
                + s.deployments.len()
                + s.jobs.len()
                + s.cron_jobs.len()
                + s.stateful_sets.len(),
        );
        let mut add_owner = |kind: WorkloadKind, meta: &'a ObjectMeta| {
            if let Some(uid) = meta.uid.as_deref() {
                owner_by_uid.insert(uid, (kind, meta));
            }
        };
        s.replica_sets
            .iter()
            .for_each(|o| add_owner(WorkloadKind::ReplicaSet, &o.metadata));
        s.deployments
            .iter()
            .for_each(|o| add_owner(WorkloadKind::Deployment, &o.metadata));
        s.jobs
            .iter()
            .for_each(|o| add_owner(WorkloadKind::Job, &o.metadata));
        s.cron_jobs
            .iter()
            .for_each(|o| add_owner(WorkloadKind::CronJob, &o.metadata));
        s.stateful_sets
            .iter()
            .for_each(|o| add_owner(WorkloadKind::StatefulSet, &o.metadata));

        // About one claim per pod and per workload: sized for that, they rarely grow.
        let claims = s.persistent_volume_claims.len();
        let mut pods_by_claim: HashMap<Key, Vec<&Pod>> = map_with(claims.max(s.pods.len()));
        let mut workloads_by_claim: HashMap<Key, Vec<Workload>> =
            map_with(claims.max(s.pods.len()));
        for pod in &s.pods {
            let Some(spec) = &pod.spec else { continue };
            // A pod mounts a handful of claims: a list finds repeats without allocating a set.
            let mut seen: Vec<&str> = Vec::new();
            for claim in claims_of(spec) {
                if !seen.contains(&claim) {
                    seen.push(claim);
                    pods_by_claim
                        .entry((ns(&pod.metadata), claim))
                        .or_default()
                        .push(pod);
                    // A pod whose owner is not in the snapshot stands for itself.
                    let owned = controller(&pod.metadata)
                        .is_some_and(|o| owner_by_uid.contains_key(o.uid.as_str()));
                    // A finished bare pod never mounts the claim again: not a consumer.
                    let finished = pod
                        .status
                        .as_ref()
                        .and_then(|st| st.phase.as_deref())
                        .is_some_and(|p| p == "Succeeded" || p == "Failed");
                    if !owned && !finished {
                        workloads_by_claim
                            .entry((ns(&pod.metadata), claim))
                            .or_default()
                            .push(Workload {
                                kind: WorkloadKind::Pod,
                                namespace: ns(&pod.metadata),
                                name: name(&pod.metadata),
                                meta: &pod.metadata,
                                spec,
                                pod_labels: pod.metadata.labels.as_ref(),
                                idle: None,
                                never_ran: false,
                            });
                    }
                }
            }
        }
        // A workload from its pod template, filed under every claim the template mounts.
        let mut add_workload_of = |kind: WorkloadKind,
                                   meta: &'a ObjectMeta,
                                   template: &'a PodTemplateSpec,
                                   idle: Option<&'static str>,
                                   never_ran: bool| {
            let Some(spec) = template.spec.as_ref() else {
                return;
            };
            let w = Workload {
                kind,
                namespace: ns(meta),
                name: name(meta),
                meta,
                spec,
                pod_labels: template.metadata.as_ref().and_then(|m| m.labels.as_ref()),
                idle,
                never_ran,
            };
            let mut seen: Vec<&str> = Vec::new();
            for claim in claims_of(w.spec) {
                if !seen.contains(&claim) {
                    seen.push(claim);
                    workloads_by_claim
                        .entry((w.namespace, claim))
                        .or_default()
                        .push(w.clone());
                }
            }
        };
        for d in &s.deployments {
            let Some(spec) = d.spec.as_ref() else {
                continue;
            };
            let idle = (spec.replicas == Some(0)).then_some("scaled to 0");
            add_workload_of(
                WorkloadKind::Deployment,
                &d.metadata,
                &spec.template,
                idle,
                false,
            );
        }
        for d in &s.stateful_sets {
            let Some(spec) = d.spec.as_ref() else {
                continue;
            };
            let idle = (spec.replicas == Some(0)).then_some("scaled to 0");
            add_workload_of(
                WorkloadKind::StatefulSet,
                &d.metadata,
                &spec.template,
                idle,
                false,
            );
        }
        for c in &s.cron_jobs {
            let Some(spec) = c.spec.as_ref() else {
                continue;
            };
            let Some(job) = spec.job_template.spec.as_ref() else {
                continue;
            };
            let never_ran = c.status.as_ref().is_none_or(|st| {
                st.last_schedule_time.is_none() && st.active.as_ref().is_none_or(Vec::is_empty)
            });
            let idle = (spec.suspend == Some(true)).then_some("suspended");
            add_workload_of(
                WorkloadKind::CronJob,
                &c.metadata,
                &job.template,
                idle,
                never_ran,
            );
        }
        for j in &s.jobs {
            // Jobs of a CronJob are represented by the CronJob.
            let by_cron = controller(&j.metadata).is_some_and(|o| o.kind == "CronJob");
            if by_cron {
                continue;
            }
            // A finished Job (e.g. a completed Argo CD Sync hook) creates no more pods: where it
            // was pinned no longer matters.
            if crate::k8s::job::finished(j) {
                continue;
            }
            let Some(spec) = j.spec.as_ref() else {
                continue;
            };
            let idle = (spec.suspend == Some(true)).then_some("suspended");
            add_workload_of(WorkloadKind::Job, &j.metadata, &spec.template, idle, false);
        }

        // Events: both APIs, de-duplicated by uid (one store, two views).
        let all_events = s.events.len() + s.events_v1.len();
        // Objects have a few events each: a quarter of the events is a fair guess of objects.
        let mut events_by_uid: HashMap<&str, Vec<EventRecord>> = map_with(all_events / 4);
        let mut events_by_name: HashMap<(&str, &str, &str), Vec<EventRecord>> = map_with(0);
        let mut seen_events: HashSet<&str> = set_with(all_events);
        let mut add_event = |uid: Option<&'a str>,
                             obj: Option<&'a k8s_openapi::api::core::v1::ObjectReference>,
                             rec: EventRecord<'a>| {
            if let Some(uid) = uid.filter(|u| !u.is_empty())
                && !seen_events.insert(uid)
            {
                return;
            }
            let Some(obj) = obj else { return };
            match obj.uid.as_deref().filter(|u| !u.is_empty()) {
                Some(u) => events_by_uid.entry(u).or_default().push(rec),
                None => events_by_name
                    .entry((
                        obj.kind.as_deref().unwrap_or(""),
                        obj.namespace.as_deref().unwrap_or(""),
                        obj.name.as_deref().unwrap_or(""),
                    ))
                    .or_default()
                    .push(rec),
            }
        };
        for e in &s.events {
            let obj = &e.involved_object;
            let count = e
                .count
                .or(e.series.as_ref().and_then(|s| s.count))
                .unwrap_or(1)
                .max(1);
            let last_seen = e
                .series
                .as_ref()
                .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
                .or(e.last_timestamp.as_ref().map(|t| t.0))
                .or(e.event_time.as_ref().map(|t| t.0))
                .or(e.first_timestamp.as_ref().map(|t| t.0));
            let rec = EventRecord {
                object_kind: obj.kind.as_deref().unwrap_or(""),
                object_name: obj.name.as_deref().unwrap_or(""),
                reason: e.reason.as_deref().unwrap_or(""),
                message: strip_combined_prefix(e.message.as_deref().unwrap_or("")),
                type_: e.type_.as_deref().unwrap_or(""),
                count,
                source: e
                    .reporting_component
                    .as_deref()
                    .filter(|c| !c.is_empty())
                    .or(e.source.as_ref().and_then(|s| s.component.as_deref()))
                    .unwrap_or(""),
                last_seen,
            };
            add_event(e.metadata.uid.as_deref(), Some(obj), rec);
        }
        for e in &s.events_v1 {
            let obj = e.regarding.as_ref();
            let count = e
                .series
                .as_ref()
                .map(|s| s.count)
                .or(e.deprecated_count)
                .unwrap_or(1)
                .max(1);
            let last_seen = e
                .series
                .as_ref()
                .map(|s| s.last_observed_time.0)
                .or(e.deprecated_last_timestamp.as_ref().map(|t| t.0))
                .or(e.event_time.as_ref().map(|t| t.0))
                .or(e.deprecated_first_timestamp.as_ref().map(|t| t.0));
            let rec = EventRecord {
                object_kind: obj.and_then(|o| o.kind.as_deref()).unwrap_or(""),
                object_name: obj.and_then(|o| o.name.as_deref()).unwrap_or(""),
                reason: e.reason.as_deref().unwrap_or(""),
                message: strip_combined_prefix(e.note.as_deref().unwrap_or("")),
                type_: e.type_.as_deref().unwrap_or(""),
                count,
                source: e
                    .reporting_controller
                    .as_deref()
                    .filter(|c| !c.is_empty())
                    .or(e
                        .deprecated_source
                        .as_ref()
                        .and_then(|s| s.component.as_deref()))
                    .unwrap_or(""),
                last_seen,
            };
            add_event(e.metadata.uid.as_deref(), obj, rec);
        }
        for list in events_by_uid
            .values_mut()
            .chain(events_by_name.values_mut())
        {
            list.sort_by_key(|e| e.last_seen);
        }

        let mut services_by_selector: HashMap<(&str, &str, &str), Vec<&Service>> =
            map_with(s.services.len());
        for svc in &s.services {
            // A Service without selector has hand-made endpoints: it selects no pod.
            let first = svc
                .spec
                .as_ref()
                .and_then(|sp| sp.selector.as_ref())
                .and_then(|sel| sel.iter().next());
            if let Some((k, v)) = first {
                services_by_selector
                    .entry((ns(&svc.metadata), k.as_str(), v.as_str()))
                    .or_default()
                    .push(svc);
            }
        }
        let mut ready_endpoints: HashMap<Key, usize> = map_with(s.services.len());
        for slice in &s.endpoint_slices {
            let Some(svc) = crate::k8s::routing::slice_service(slice) else {
                continue;
            };
            *ready_endpoints
                .entry((ns(&slice.metadata), svc))
                .or_default() += crate::k8s::routing::ready_count(slice);
        }
        let mut deployment_by_key = map_with(s.deployments.len());
        deployment_by_key.extend(s.deployments.iter().map(|d| (key(&d.metadata), d)));

        let mut pods_by_node: HashMap<&str, Vec<&Pod>> = map_with(s.nodes.len());
        for p in &s.pods {
            if let Some(n) = p
                .spec
                .as_ref()
                .and_then(|sp| sp.node_name.as_deref())
                .filter(|n| !n.is_empty())
            {
                pods_by_node.entry(n).or_default().push(p);
            }
        }

        let mut pods_by_owner: HashMap<&str, Vec<&Pod>> = map_with(s.pods.len());
        for p in &s.pods {
            for o in p.metadata.owner_references.iter().flatten() {
                let list = pods_by_owner.entry(o.uid.as_str()).or_default();
                // Two references to one owner list the pod once.
                if list.last().is_none_or(|l| !std::ptr::eq(*l, p)) {
                    list.push(p);
                }
            }
        }
        let mut jobs_by_owner: HashMap<&str, Vec<&Job>> = map_with(s.cron_jobs.len());
        let mut jobs_by_ns: HashMap<&str, Vec<&Job>> = map_with(0);
        for j in &s.jobs {
            for o in j.metadata.owner_references.iter().flatten() {
                let list = jobs_by_owner.entry(o.uid.as_str()).or_default();
                if list.last().is_none_or(|l| !std::ptr::eq(*l, j)) {
                    list.push(j);
                }
            }
            jobs_by_ns.entry(ns(&j.metadata)).or_default().push(j);
        }
        let mut replica_sets_by_owner: HashMap<&str, Vec<&ObjectMeta>> =
            map_with(s.deployments.len());
        for rs in &s.replica_sets {
            if let Some(o) = controller(&rs.metadata) {
                replica_sets_by_owner
                    .entry(o.uid.as_str())
                    .or_default()
                    .push(&rs.metadata);
            }
        }
        let mut cron_jobs_by_ns: HashMap<&str, Vec<&CronJob>> = map_with(0);
        for c in &s.cron_jobs {
            cron_jobs_by_ns.entry(ns(&c.metadata)).or_default().push(c);
        }

        let mut released_by_claim: HashMap<Key, Vec<&PersistentVolume>> = map_with(0);
        for pv in &s.persistent_volumes {
            let phase = pv.status.as_ref().and_then(|st| st.phase.as_deref());
            if phase != Some("Released") {
                continue;
            }
            if let Some(c) = pv.spec.as_ref().and_then(|sp| sp.claim_ref.as_ref()) {
                let k = (
                    c.namespace.as_deref().unwrap_or(""),
                    c.name.as_deref().unwrap_or(""),
                );
                released_by_claim.entry(k).or_default().push(pv);
            }
        }
        let mut hooks_by_claim: HashMap<Key, Vec<&Job>> = map_with(0);
        for job in s.jobs.iter().filter(|j| crate::k8s::job::is_argocd_hook(j)) {
            let spec = job.spec.as_ref().and_then(|sp| sp.template.spec.as_ref());
            for claim in spec.into_iter().flat_map(claims_of) {
                hooks_by_claim
                    .entry((ns(&job.metadata), claim))
                    .or_default()
                    .push(job);
            }
        }
        let failed_jobs = s
            .jobs
            .iter()
            .filter(|j| crate::k8s::job::failed(j).is_some())
            .filter_map(|j| j.metadata.uid.as_deref())
            .collect();

        Self {
            snapshot: s,
            released_by_claim,
            hooks_by_claim,
            failed_jobs,
            pods_by_owner,
            jobs_by_owner,
            replica_sets_by_owner,
            cron_jobs_by_ns,
            jobs_by_ns,
            pods_by_node,
            pvc_by_key,
            pv_by_name,
            class_by_name,
            default_class,
            nodes,
            node_by_name,
            pods_by_claim,
            workloads_by_claim,
            owner_by_uid,
            events_by_uid,
            events_by_name,
            services_by_selector,
            ready_endpoints,
            deployment_by_key,
            applications: s.applications.iter().collect(),
        }
    }

    /// Events about an object: by uid, else by kind/namespace/name.
    pub fn events_for<'s>(
        &'s self,
        kind: &'s str,
        meta: &'s ObjectMeta,
    ) -> impl Iterator<Item = &'s EventRecord<'a>> + use<'s, 'a> {
        let by_uid = meta.uid.as_deref().and_then(|u| self.events_by_uid.get(u));
        let by_name = self.events_by_name.get(&(kind, ns(meta), name(meta)));
        by_uid
            .into_iter()
            .flatten()
            .chain(by_name.into_iter().flatten())
    }

    /// Services in `namespace` whose selector matches `labels`.
    pub fn services_selecting(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Vec<&'a Service> {
        let mut out: Vec<&'a Service> = Vec::new();
        for (k, v) in labels {
            for svc in self
                .services_by_selector
                .get(&(namespace, k.as_str(), v.as_str()))
                .into_iter()
                .flatten()
            {
                let selector = svc.spec.as_ref().and_then(|s| s.selector.as_ref());
                let all = selector.is_some_and(|sel| selects(sel, Some(labels)));
                if all && !out.iter().any(|o| std::ptr::eq(*o, *svc)) {
                    out.push(svc);
                }
            }
        }
        out
    }

    /// The top-level workload of a pod: ReplicaSet → Deployment, Job → CronJob.
    pub fn top_owner(&self, meta: &'a ObjectMeta) -> Option<(WorkloadKind, &'a ObjectMeta)> {
        let mut current = self
            .owner_by_uid
            .get(controller(meta)?.uid.as_str())
            .copied()?;
        // Ownership chains are at most two deep here; the bound guards against cycles.
        for _ in 0..4 {
            let Some(next) = controller(current.1)
                .and_then(|o| self.owner_by_uid.get(o.uid.as_str()))
                .copied()
            else {
                break;
            };
            current = next;
        }
        Some(current)
    }

    /// The top-level workload of an object (see [`Self::top_owner`]) as a reference, or `None`
    /// for an object nothing owns.
    pub fn top_owner_ref(
        &self,
        meta: &'a ObjectMeta,
    ) -> Option<crate::diagnose::finding::ObjectRef> {
        let (kind, owner) = self.top_owner(meta)?;
        Some(crate::diagnose::finding::ObjectRef::namespaced(
            kind.as_str(),
            ns(owner),
            name(owner),
        ))
    }

    /// The claim's StorageClass: by name, or the default class when the name is unset.
    pub fn class_of(&self, pvc: &'a PersistentVolumeClaim) -> ClassLookup<'a> {
        let name = pvc
            .spec
            .as_ref()
            .and_then(|s| s.storage_class_name.as_deref());
        // A snapshot without any StorageClass (`kubectl get pvc,pods -o yaml`) says nothing
        // about classes: unknown, not missing.
        if self.class_by_name.is_empty() && name != Some("") {
            return ClassLookup::Unknown(name);
        }
        match pvc
            .spec
            .as_ref()
            .and_then(|s| s.storage_class_name.as_deref())
        {
            Some("") => ClassLookup::NoClass,
            Some(n) => match self.class_by_name.get(n) {
                Some(c) => ClassLookup::Found(c),
                None => ClassLookup::Missing(n),
            },
            None => match self.default_class {
                Some(c) => ClassLookup::Found(c),
                None => ClassLookup::NoDefault,
            },
        }
    }
}

/// Result of [`Index::class_of`].
#[derive(Debug, Clone, Copy)]
pub enum ClassLookup<'a> {
    Found(&'a StorageClass),
    /// `storageClassName` names a class that does not exist.
    Missing(&'a str),
    /// `storageClassName: ""`: static binding only, on purpose.
    NoClass,
    /// No class set and no default class.
    NoDefault,
    /// The snapshot holds no StorageClass at all: nothing can be said about it.
    Unknown(Option<&'a str>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::test_cluster::*;
    use serde_json::{Value, json};

    fn owned(mut v: Value, kind: &str, owner: &str) -> Value {
        v["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": kind,
            "name": owner, "uid": format!("uid-{owner}"), "controller": true}]);
        v
    }

    fn replica_set(name: &str, deployment: &str) -> Value {
        owned(
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta(name),
                   "spec": {"selector": {"matchLabels": {"app": deployment}}, "template": {}}}),
            "Deployment",
            deployment,
        )
    }

    fn service(name: &str, selector: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": meta(name),
               "spec": {"selector": selector, "ports": [{"port": 80}]}})
    }

    fn slice(service: &str, ready: &[Option<bool>]) -> Value {
        let endpoints: Vec<Value> = ready
            .iter()
            .map(|r| match r {
                Some(r) => json!({"addresses": ["10.0.0.1"], "conditions": {"ready": r}}),
                None => json!({"addresses": ["10.0.0.1"]}),
            })
            .collect();
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": format!("{service}-abc"), "namespace": NS,
                            "labels": {"kubernetes.io/service-name": service}},
               "addressType": "IPv4", "endpoints": endpoints})
    }

    /// A claim, the Deployment that mounts it, its ReplicaSet and pod.
    fn lab() -> Vec<Value> {
        let mut items = base();
        items.push(claim("models", "Bound", &["ReadWriteOnce"]));
        items.push(volume("models", "node-1"));
        items.push(deployment("inference", "models", "node-1"));
        items.push(replica_set("inference-6f9c", "inference"));
        let mut p = pod(
            "inference-6f9c-x",
            pod_spec("models", "node-1"),
            "Running",
            json!({}),
        );
        p["spec"]["nodeName"] = "node-1".into();
        p["metadata"]["labels"] = json!({"app": "inference", "pod-template-hash": "6f9c"});
        items.push(owned(p, "ReplicaSet", "inference-6f9c"));
        items
    }

    #[test]
    fn a_claim_knows_its_pods_workloads_volume_and_class() {
        let s = snapshot(lab());
        let ix = Index::new(&s);
        let key = (NS, "models");
        let pods: Vec<&str> = ix.pods_by_claim[&key]
            .iter()
            .map(|p| name(&p.metadata))
            .collect();
        assert_eq!(pods, ["inference-6f9c-x"]);
        let workloads: Vec<(&str, WorkloadKind)> = ix.workloads_by_claim[&key]
            .iter()
            .map(|w| (w.name, w.kind))
            .collect();
        assert_eq!(workloads, [("inference", WorkloadKind::Deployment)]);
        assert!(ix.pv_by_name.contains_key("pvc-models"));
        assert!(matches!(
            ix.class_of(ix.pvc_by_key[&key]),
            ClassLookup::Found(c) if c.metadata.name.as_deref() == Some("local-path")
        ));
        let on_node: Vec<&str> = ix.pods_by_node["node-1"]
            .iter()
            .map(|p| name(&p.metadata))
            .collect();
        assert_eq!(on_node, ["inference-6f9c-x"]);
    }

    #[test]
    fn a_pods_top_owner_is_the_deployment_through_its_replica_set() {
        let s = snapshot(lab());
        let ix = Index::new(&s);
        let pod = &s.pods[0];
        let (kind, owner) = ix.top_owner(&pod.metadata).expect("owned");
        assert_eq!((kind, name(owner)), (WorkloadKind::Deployment, "inference"));
        assert_eq!(
            ix.top_owner_ref(&pod.metadata).unwrap().to_string(),
            "Deployment mlops-lab/inference"
        );
        assert_eq!(ix.replica_sets_by_owner["uid-inference"].len(), 1);
        assert_eq!(ix.pods_by_owner["uid-inference-6f9c"].len(), 1);
        // Nothing owns a Deployment itself.
        assert!(
            s.deployments
                .iter()
                .all(|d| ix.top_owner(&d.metadata).is_none())
        );
    }

    #[test]
    fn a_class_is_found_missing_unset_or_unknown() {
        let mut items = lab();
        let mut missing = claim("other", "Pending", &["ReadWriteOnce"]);
        missing["spec"]["storageClassName"] = "fast-ssd".into();
        let mut unset = claim("unset", "Pending", &["ReadWriteOnce"]);
        unset["spec"]
            .as_object_mut()
            .unwrap()
            .remove("storageClassName");
        let mut none = claim("static", "Pending", &["ReadWriteOnce"]);
        none["spec"]["storageClassName"] = "".into();
        items.extend([missing, unset, none]);
        let s = snapshot(items);
        let ix = Index::new(&s);
        let of = |n: &str| ix.class_of(ix.pvc_by_key[&(NS, n)]);
        assert!(matches!(of("other"), ClassLookup::Missing("fast-ssd")));
        // No class named: the default class (local-path is annotated as such).
        assert!(matches!(of("unset"), ClassLookup::Found(_)));
        assert!(matches!(of("static"), ClassLookup::NoClass));

        // A snapshot without any StorageClass says nothing about classes.
        let s = snapshot(vec![claim("models", "Pending", &["ReadWriteOnce"])]);
        let ix = Index::new(&s);
        assert!(matches!(
            ix.class_of(ix.pvc_by_key[&(NS, "models")]),
            ClassLookup::Unknown(Some("local-path"))
        ));
    }

    #[test]
    fn services_are_found_by_every_label_of_their_selector_and_count_ready_endpoints() {
        let mut items = lab();
        items.push(service("inference", json!({"app": "inference"})));
        // Selects a label the pod does not have as well: not this pod's Service.
        items.push(service(
            "narrow",
            json!({"app": "inference", "tier": "gpu"}),
        ));
        items.push(slice("inference", &[Some(true), None, Some(false)]));
        let s = snapshot(items);
        let ix = Index::new(&s);
        let labels = s.pods[0].metadata.labels.clone().unwrap();
        let names: Vec<&str> = ix
            .services_selecting(NS, &labels)
            .iter()
            .map(|svc| name(&svc.metadata))
            .collect();
        assert_eq!(names, ["inference"]);
        // `ready` unset counts as ready.
        assert_eq!(ix.ready_endpoints[&(NS, "inference")], 2);
        assert!(!ix.ready_endpoints.contains_key(&(NS, "narrow")));
    }

    #[test]
    fn an_event_in_both_apis_is_one_record_found_by_uid_or_by_name() {
        let mut items = lab();
        let regarding = json!({"kind": "Pod", "namespace": NS, "name": "inference-6f9c-x",
                               "uid": "uid-inference-6f9c-x"});
        items.push(json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "e1", "namespace": NS, "uid": "ev-1"},
            "involvedObject": regarding, "reason": "FailedScheduling", "type": "Warning",
            "message": "0/2 nodes are available", "lastTimestamp": "2026-11-28T08:01:00Z",
            "source": {"component": "default-scheduler"}}));
        items.push(json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e1", "namespace": NS, "uid": "ev-1"},
            "regarding": regarding, "reason": "FailedScheduling", "type": "Warning",
            "note": "0/2 nodes are available", "eventTime": "2026-11-28T08:01:00.000000Z",
            "reportingController": "default-scheduler"}));
        // An event that names its object without a uid (kubectl get events of an old file).
        items.push(json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "e2", "namespace": NS, "uid": "ev-2"},
            "involvedObject": {"kind": "Deployment", "namespace": NS, "name": "inference"},
            "reason": "ScalingReplicaSet", "type": "Normal", "message": "Scaled up",
            "lastTimestamp": "2026-11-28T08:00:00Z"}));
        let s = snapshot(items);
        let ix = Index::new(&s);
        let on_pod: Vec<&str> = ix
            .events_for("Pod", &s.pods[0].metadata)
            .map(|e| e.reason)
            .collect();
        assert_eq!(
            on_pod,
            ["FailedScheduling"],
            "one store seen twice is one event"
        );
        let inference = s
            .deployments
            .iter()
            .find(|d| name(&d.metadata) == "inference")
            .unwrap();
        let on_deployment: Vec<&str> = ix
            .events_for("Deployment", &inference.metadata)
            .map(|e| e.reason)
            .collect();
        assert_eq!(on_deployment, ["ScalingReplicaSet"]);
    }

    fn job(name: &str, annotations: Value, conditions: Value) -> Value {
        let mut m = meta(name);
        m["annotations"] = annotations;
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": m,
               "spec": {"template": {"spec": pod_spec("models", "node-1")}},
               "status": {"conditions": conditions}})
    }

    #[test]
    fn released_volumes_hooks_and_failed_jobs_are_found_by_claim_and_uid() {
        let mut items = base();
        items.push(claim("models", "Pending", &["ReadWriteOnce"]));
        // The volume of an earlier claim of the same name, kept by `Retain`.
        let mut released = volume("models", "node-1");
        released["metadata"]["name"] = "pvc-old".into();
        released["status"]["phase"] = "Released".into();
        items.push(released);
        let mut bound = volume("other", "node-1");
        bound["status"]["phase"] = "Bound".into();
        items.push(bound);
        let hook = json!({"argocd.argoproj.io/hook": "PreSync"});
        let failed =
            json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]);
        let complete = json!([{"type": "Complete", "status": "True"}]);
        items.push(job("seed", hook.clone(), complete.clone()));
        items.push(job("seed-failed", hook, failed.clone()));
        items.push(job("trainer-1", json!({}), failed));
        items.push(job("trainer-2", json!({}), complete));
        let s = snapshot(items);
        let ix = Index::new(&s);

        let released: Vec<&str> = ix.released_by_claim[&(NS, "models")]
            .iter()
            .map(|pv| name(&pv.metadata))
            .collect();
        assert_eq!(released, ["pvc-old"]);
        assert!(!ix.released_by_claim.contains_key(&(NS, "other")));

        // Finished hooks count: they run again on every sync. Jobs without the annotation do not.
        let hooks: Vec<&str> = ix.hooks_by_claim[&(NS, "models")]
            .iter()
            .map(|j| name(&j.metadata))
            .collect();
        assert_eq!(hooks, ["seed", "seed-failed"]);

        let mut failed: Vec<&str> = ix.failed_jobs.iter().copied().collect();
        failed.sort_unstable();
        assert_eq!(failed, ["uid-seed-failed", "uid-trainer-1"]);
    }
}
