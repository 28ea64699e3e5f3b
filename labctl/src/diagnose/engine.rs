//! The rules: one pass over the claims in scope, each claim judged state first, events second,
//! and the hits merged into one finding per root cause.
//!
//! Order of judgement per claim (first root cause wins, so a stuck claim gets one explanation):
//! lost → terminating → static template/annotation problems (access mode, consumers pinned
//! apart, sync waves) → bound: volume node gone / unavailable / consumer pinned elsewhere →
//! pending: class missing, selector matches nothing, selected node stale, provisioner down,
//! provisioning failed, else waiting for a consumer (info).

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{
    Node, PersistentVolume, PersistentVolumeClaim, Pod, PodSpec, Toleration,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::catalogue::FindingId;
use super::index::{ClassLookup, EventRecord, Index, Workload};
use super::scheduler::{self, ReasonKind, SchedulingFailure};
use super::{Affected, Finding, ObjectRef, Scope};
use crate::config::LabConfig;
use crate::k8s::names::{name as meta_name, namespace as meta_ns};
use crate::k8s::{HOSTNAME_LABEL, WorkloadKind};
use crate::k8s::{Unavailable, nodes, placement};

const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
const STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
const STORAGE_PROVISIONER_BETA: &str = "volume.beta.kubernetes.io/storage-provisioner";
const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
const LOCAL_PATH: &str = "rancher.io/local-path";
const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";
/// How many events of one reason per object are quoted as evidence (latest first).
const EVENTS_PER_REASON: usize = 2;

/// One root cause found for one claim; hits with the same `(id, root)` merge into one finding.
struct Hit {
    id: FindingId,
    root: ObjectRef,
    summary: String,
    /// Summary when several claims share the root cause (`{n}` = number of claims).
    group_summary: Option<String>,
    evidence: Vec<String>,
    affected: Vec<Affected>,
    remediation: String,
}

/// A workload (or bare pod) that mounts the claim, with its live pods.
struct Consumer<'a> {
    workload: Workload<'a>,
    pods: Vec<&'a Pod>,
}

impl Consumer<'_> {
    fn reference(&self) -> ObjectRef {
        ObjectRef::namespaced(
            self.workload.kind.as_str(),
            self.workload.namespace,
            self.workload.name,
        )
    }
}

/// A claim under judgement and what hangs off it.
struct Claim<'a> {
    pvc: &'a PersistentVolumeClaim,
    ns: &'a str,
    name: &'a str,
    phase: &'a str,
    consumers: Vec<Consumer<'a>>,
    class: ClassLookup<'a>,
}

impl Claim<'_> {
    fn reference(&self) -> ObjectRef {
        ObjectRef::namespaced("PersistentVolumeClaim", self.ns, self.name)
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        self.pvc
            .metadata
            .annotations
            .as_ref()?
            .get(key)
            .map(String::as_str)
    }

    fn access_modes(&self) -> &[String] {
        self.pvc
            .spec
            .as_ref()
            .and_then(|s| s.access_modes.as_deref())
            .unwrap_or_default()
    }

    fn volume_name(&self) -> Option<&str> {
        self.pvc
            .spec
            .as_ref()?
            .volume_name
            .as_deref()
            .filter(|v| !v.is_empty())
    }

    fn class(&self) -> Option<&StorageClass> {
        match self.class {
            ClassLookup::Found(c) => Some(c),
            _ => None,
        }
    }

    fn wait_for_first_consumer(&self) -> bool {
        self.class()
            .is_some_and(|c| c.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer"))
    }

    fn live_pods(&self) -> impl Iterator<Item = &Pod> {
        self.consumers.iter().flat_map(|c| c.pods.iter().copied())
    }
}

fn pod_phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Unknown")
}

fn is_terminated(pod: &Pod) -> bool {
    matches!(pod_phase(pod), "Succeeded" | "Failed")
}

fn is_pending(pod: &Pod) -> bool {
    pod_phase(pod) == "Pending"
}

/// `PodScheduled=False` condition (reason, message).
fn unscheduled_condition(pod: &Pod) -> Option<(&str, &str)> {
    let c = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
    Some((
        c.reason.as_deref().unwrap_or(""),
        c.message.as_deref().unwrap_or(""),
    ))
}

fn sync_wave(meta: &ObjectMeta) -> Option<i64> {
    meta.annotations
        .as_ref()?
        .get(SYNC_WAVE)?
        .trim()
        .parse()
        .ok()
}

/// Dedup while keeping order.
fn push_unique<T: PartialEq>(v: &mut Vec<T>, item: T) {
    if !v.contains(&item) {
        v.push(item);
    }
}

struct Engine<'i, 'a> {
    ix: &'i Index<'a>,
    config: &'i LabConfig,
    hits: Vec<Hit>,
    /// Released `Retain` volumes by the claim they still reference.
    released_by_claim: HashMap<(&'a str, &'a str), Vec<&'a PersistentVolume>>,
    /// Argo CD hook Jobs (finished ones included: they run again on every sync) by claim.
    hooks_by_claim: HashMap<(&'a str, &'a str), Vec<&'a k8s_openapi::api::batch::v1::Job>>,
}

pub(super) fn run(ix: &Index<'_>, config: &LabConfig, scope: &Scope) -> Vec<Finding> {
    let mut released_by_claim: HashMap<(&str, &str), Vec<&PersistentVolume>> = HashMap::new();
    for pv in &ix.snapshot.persistent_volumes {
        let phase = pv.status.as_ref().and_then(|s| s.phase.as_deref());
        if phase != Some("Released") {
            continue;
        }
        if let Some(c) = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) {
            let k = (
                c.namespace.as_deref().unwrap_or(""),
                c.name.as_deref().unwrap_or(""),
            );
            released_by_claim.entry(k).or_default().push(pv);
        }
    }
    let mut hooks_by_claim: HashMap<(&str, &str), Vec<&k8s_openapi::api::batch::v1::Job>> =
        HashMap::new();
    for job in &ix.snapshot.jobs {
        let hook = job
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("argocd.argoproj.io/hook"));
        if !hook {
            continue;
        }
        let volumes = job
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.volumes.as_ref());
        for v in volumes.into_iter().flatten() {
            if let Some(p) = &v.persistent_volume_claim {
                hooks_by_claim
                    .entry((meta_ns(&job.metadata), p.claim_name.as_str()))
                    .or_default()
                    .push(job);
            }
        }
    }
    let mut engine = Engine {
        ix,
        config,
        hits: Vec::new(),
        released_by_claim,
        hooks_by_claim,
    };
    for pvc in &ix.snapshot.persistent_volume_claims {
        let ns = meta_ns(&pvc.metadata);
        if !scope.includes_namespace(ns) {
            continue;
        }
        if scope
            .pvc
            .as_deref()
            .is_some_and(|p| p != meta_name(&pvc.metadata))
        {
            continue;
        }
        let claim = engine.claim(pvc);
        engine.judge(&claim);
    }
    merge(engine.hits)
}

/// One finding per `(id, root)`, evidence and affected objects combined, sorted by severity,
/// catalogue order and subject.
fn merge(hits: Vec<Hit>) -> Vec<Finding> {
    let mut order: Vec<(FindingId, ObjectRef)> = Vec::new();
    let mut groups: HashMap<(FindingId, ObjectRef), (Vec<Hit>, usize)> = HashMap::new();
    for hit in hits {
        let k = (hit.id, hit.root.clone());
        let entry = groups.entry(k.clone()).or_insert_with(|| {
            order.push(k);
            (Vec::new(), 0)
        });
        entry.1 += 1;
        entry.0.push(hit);
    }
    let mut findings: Vec<Finding> = order
        .into_iter()
        .filter_map(|k| {
            let (hits, n) = groups.remove(&k)?;
            let mut it = hits.into_iter();
            let first = it.next()?;
            // Hash sets for de-duplication: a root cause shared by thousands of claims (a
            // missing class, a dead provisioner) must not cost a quadratic merge.
            let mut evidence = Unique::new(first.evidence);
            let mut affected = Unique::new(first.affected);
            let mut remediation = Unique::new(vec![first.remediation]);
            for h in it {
                h.evidence.into_iter().for_each(|e| evidence.push(e));
                h.affected.into_iter().for_each(|a| affected.push(a));
                remediation.push(h.remediation);
            }
            let (evidence, affected, remediation) =
                (evidence.items, affected.items, remediation.items);
            let summary = match (n, first.group_summary) {
                (n, Some(g)) if n > 1 => g.replace("{n}", &n.to_string()),
                _ => first.summary,
            };
            let kind = k.0.kind();
            Some(Finding {
                id: kind.name,
                severity: kind.severity,
                subject: k.1,
                summary,
                evidence,
                affected,
                remediation: remediation.join("\n"),
                hint: kind.hint(),
            })
        })
        .collect();
    findings.sort_by(|a, b| {
        (a.severity, FindingIdOrder(a.id), &a.subject).cmp(&(
            b.severity,
            FindingIdOrder(b.id),
            &b.subject,
        ))
    });
    findings
}

/// A list without duplicates, in first-seen order, with O(1) membership.
struct Unique<T: std::hash::Hash + Eq + Clone> {
    items: Vec<T>,
    seen: std::collections::HashSet<T>,
}

impl<T: std::hash::Hash + Eq + Clone> Unique<T> {
    fn new(items: Vec<T>) -> Self {
        let mut u = Self {
            items: Vec::with_capacity(items.len()),
            seen: Default::default(),
        };
        items.into_iter().for_each(|i| u.push(i));
        u
    }

    fn push(&mut self, item: T) {
        if self.seen.insert(item.clone()) {
            self.items.push(item);
        }
    }
}

/// Sorts ids in catalogue order.
#[derive(PartialEq, Eq)]
struct FindingIdOrder(&'static str);

impl PartialOrd for FindingIdOrder {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for FindingIdOrder {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let pos = |id: &str| super::CATALOGUE.iter().position(|k| k.name == id);
        pos(self.0).cmp(&pos(other.0))
    }
}

// ---- evidence lines -------------------------------------------------------------------------

fn pvc_line(c: &Claim<'_>) -> String {
    let mut parts = vec![c.phase.to_owned()];
    if c.pvc.metadata.deletion_timestamp.is_some() {
        parts.push("Terminating (deletionTimestamp set)".into());
    }
    match c.class {
        ClassLookup::Found(sc) => parts.push(format!(
            "StorageClass {} ({}, {})",
            meta_name(&sc.metadata),
            sc.provisioner,
            sc.volume_binding_mode.as_deref().unwrap_or("Immediate")
        )),
        ClassLookup::Missing(n) => parts.push(format!("StorageClass {n} (does not exist)")),
        ClassLookup::NoClass => parts.push("storageClassName \"\"".into()),
        ClassLookup::NoDefault => parts.push("no StorageClass set and no default class".into()),
        ClassLookup::Unknown(n) => parts.push(format!(
            "StorageClass {} (not in the snapshot)",
            n.unwrap_or("<default>")
        )),
    }
    let modes = c.access_modes();
    if !modes.is_empty() {
        parts.push(format!("accessModes [{}]", modes.join(", ")));
    }
    if let Some(v) = c.volume_name() {
        parts.push(format!("volumeName {v}"));
    }
    if let Some(n) = c.annotation(SELECTED_NODE) {
        parts.push(format!("selected-node {n}"));
    }
    format!(
        "PersistentVolumeClaim {}/{}: {}",
        c.ns,
        c.name,
        parts.join(", ")
    )
}

fn pv_line(pv: &PersistentVolume) -> String {
    let spec = pv.spec.as_ref();
    let mut parts = vec![
        pv.status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Unknown".into()),
    ];
    if let Some(c) = spec.and_then(|s| s.claim_ref.as_ref()) {
        parts.push(format!(
            "claimRef {}/{}{}",
            c.namespace.as_deref().unwrap_or(""),
            c.name.as_deref().unwrap_or(""),
            c.uid
                .as_deref()
                .map(|u| format!(" (uid {u})"))
                .unwrap_or_default()
        ));
    }
    if let Some(p) = spec.and_then(|s| s.persistent_volume_reclaim_policy.as_deref()) {
        parts.push(format!("reclaimPolicy {p}"));
    }
    if let Some(a) = placement::pv_affinity(pv) {
        parts.push(format!("node affinity {}", placement::describe_selector(a)));
    }
    format!(
        "PersistentVolume {}: {}",
        meta_name(&pv.metadata),
        parts.join(", ")
    )
}

fn pod_line(pod: &Pod) -> String {
    let mut s = format!(
        "Pod {}/{}: {}",
        meta_ns(&pod.metadata),
        meta_name(&pod.metadata),
        pod_phase(pod)
    );
    if let Some(spec) = &pod.spec {
        s.push_str(&format!(", {}", placement::describe_pin(spec)));
        if let Some(n) = spec.node_name.as_deref().filter(|n| !n.is_empty())
            && !placement::describe_pin(spec).contains(n)
        {
            s.push_str(&format!(", on node {n}"));
        }
    }
    if let Some((reason, message)) = unscheduled_condition(pod) {
        s.push_str(&format!("; PodScheduled=False {reason}: {message}"));
    }
    s
}

fn workload_line(w: &Workload<'_>) -> String {
    let mut s = format!(
        "{} {}/{}: {}",
        w.kind,
        w.namespace,
        w.name,
        placement::describe_pin(w.spec)
    );
    if let Some(idle) = w.idle {
        s.push_str(&format!(", {idle}"));
    }
    if w.never_ran {
        s.push_str(", has not run yet");
    }
    s
}

/// `a, b, c`: reasons as one line of evidence.
fn join(why: &[Unavailable]) -> String {
    why.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn node_line(node: &Node, why: &[Unavailable]) -> String {
    let host = node
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(HOSTNAME_LABEL))
        .map(|h| format!(" ({HOSTNAME_LABEL}={h})"))
        .unwrap_or_default();
    if why.is_empty() {
        format!(
            "Node {}{host}: Ready, schedulable",
            meta_name(&node.metadata)
        )
    } else {
        format!("Node {}{host}: {}", meta_name(&node.metadata), join(why))
    }
}

fn event_line(kind: &str, ns: &str, name: &str, e: &EventRecord<'_>) -> String {
    let object = if ns.is_empty() {
        format!("{kind} {name}")
    } else {
        format!("{kind} {ns}/{name}")
    };
    let mut from = Vec::new();
    if !e.source.is_empty() {
        from.push(e.source.to_owned());
    }
    if e.count > 1 {
        from.push(format!("x{}", e.count));
    }
    let from = if from.is_empty() {
        String::new()
    } else {
        format!(" ({})", from.join(", "))
    };
    format!(
        "Event {} {} on {object}{from}: {}",
        e.type_, e.reason, e.message
    )
}

impl<'i, 'a> Engine<'i, 'a> {
    fn claim(&self, pvc: &'a PersistentVolumeClaim) -> Claim<'a> {
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
    fn affected(&self, c: &Claim<'a>) -> Vec<Affected> {
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

    fn hit(
        &mut self,
        c: &Claim<'a>,
        id: FindingId,
        root: ObjectRef,
        summary: String,
        evidence: Vec<String>,
        remediation: String,
    ) {
        let affected = self.affected(c);
        self.hits.push(Hit {
            id,
            root,
            summary,
            group_summary: None,
            evidence,
            affected,
            remediation,
        });
    }

    /// [`Self::hit`] with the summary to print when one root cause hits many claims.
    #[expect(
        clippy::too_many_arguments,
        reason = "the parts of a finding, named at each call site"
    )]
    fn grouped_hit(
        &mut self,
        c: &Claim<'a>,
        id: FindingId,
        root: ObjectRef,
        summary: String,
        group_summary: String,
        evidence: Vec<String>,
        remediation: String,
    ) {
        self.hit(c, id, root, summary, evidence, remediation);
        if let Some(last) = self.hits.last_mut() {
            last.group_summary = Some(group_summary);
        }
    }

    /// Latest events of `reasons` about an object, as evidence lines.
    fn events(&self, kind: &str, meta: &'a ObjectMeta, reasons: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        for reason in reasons {
            let mut matching: Vec<&EventRecord<'a>> = self
                .ix
                .events_for(kind, meta)
                .filter(|e| e.reason == *reason)
                .collect();
            matching.reverse();
            for e in matching.into_iter().take(EVENTS_PER_REASON) {
                push_unique(
                    &mut out,
                    event_line(kind, meta_ns(meta), meta_name(meta), e),
                );
            }
        }
        out
    }

    fn has_event(&self, kind: &str, meta: &'a ObjectMeta, reason: &str) -> bool {
        self.ix.events_for(kind, meta).any(|e| e.reason == reason)
    }

    /// The latest event of `reason` on the claim whose message satisfies `pred`.
    fn claim_event(
        &self,
        c: &Claim<'a>,
        reason: &str,
        pred: impl Fn(&str) -> bool,
    ) -> Option<&EventRecord<'a>> {
        self.ix
            .events_for("PersistentVolumeClaim", &c.pvc.metadata)
            .filter(|e| e.reason == reason && pred(e.message))
            .last()
    }

    /// Why a pending pod is not scheduled: the `PodScheduled` condition (complete, never
    /// expires) first, else the latest `FailedScheduling` event (cut at 1024 characters).
    fn scheduling_failure(&self, pod: &'a Pod) -> Option<SchedulingFailure> {
        if let Some((_, msg)) = unscheduled_condition(pod).filter(|(_, m)| !m.is_empty()) {
            return Some(scheduler::parse(msg));
        }
        self.ix
            .events_for("Pod", &pod.metadata)
            .filter(|e| e.reason == "FailedScheduling")
            .last()
            .map(|e| scheduler::parse(e.message))
    }

    fn pending_pod_evidence(&self, c: &Claim<'a>) -> Vec<String> {
        let mut out = Vec::new();
        for pod in c.live_pods().filter(|p| is_pending(p)) {
            out.push(pod_line(pod));
            out.extend(self.events("Pod", &pod.metadata, &["FailedScheduling", "FailedMount"]));
        }
        out
    }

    fn nodes_known(&self) -> bool {
        !self.ix.nodes.is_empty()
    }

    fn fits_any_node(&self, spec: &PodSpec) -> bool {
        self.ix
            .nodes
            .iter()
            .any(|n| placement::pod_fits_node(spec, n))
    }

    fn tolerations(c: &Claim<'a>) -> Vec<Toleration> {
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

    fn is_node_local(&self, c: &Claim<'a>) -> bool {
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

    fn is_local_path(&self, c: &Claim<'a>) -> bool {
        match c.class {
            ClassLookup::Found(sc) => sc.provisioner == LOCAL_PATH,
            _ => false,
        }
    }

    // ---- the judgement -------------------------------------------------------------------

    fn judge(&mut self, c: &Claim<'a>) {
        self.released_not_rebound(c);
        if c.phase == "Lost" {
            self.pvc_lost(c, None);
            return;
        }
        if c.pvc.metadata.deletion_timestamp.is_some() && self.terminating_in_use(c) {
            return;
        }
        let access = self.access_mode(c);
        let pinned = self.consumers_pinned(c);
        let wave = self.sync_wave(c);
        match c.phase {
            "Bound" => self.bound(c, pinned),
            "Pending" if !access && !wave => self.pending(c, pinned),
            _ => {}
        }
    }

    fn pvc_lost(&mut self, c: &Claim<'a>, missing_pv: Option<&str>) {
        let mut ev = vec![pvc_line(c)];
        if let Some(pv) = missing_pv {
            ev.push(format!("PersistentVolume {pv}: does not exist"));
        } else if let Some(v) = c.volume_name() {
            match self.ix.pv_by_name.get(v) {
                Some(pv) => ev.push(pv_line(pv)),
                None => ev.push(format!("PersistentVolume {v}: does not exist")),
            }
        }
        ev.extend(self.events("PersistentVolumeClaim", &c.pvc.metadata, &["ClaimLost"]));
        let pv = missing_pv.or(c.volume_name()).unwrap_or("<volume>");
        let rerun = self.rerun_hint(c);
        let remediation = format!(
            "The data on PersistentVolume {pv} is lost. Recreate the claim and restore the data: \
             kubectl -n {ns} delete pvc {name} && kubectl apply -k <your overlay>{rerun}",
            ns = c.ns,
            name = c.name,
        );
        self.hit(
            c,
            FindingId::PvcLost,
            c.reference(),
            format!(
                "PersistentVolumeClaim {} lost its PersistentVolume {pv}",
                c.name
            ),
            ev,
            remediation,
        );
    }

    /// `; then re-run the trainer: kubectl … create job --from=cronjob/trainer …` when a CronJob
    /// consumer can regenerate the data.
    fn rerun_hint(&self, c: &Claim<'a>) -> String {
        c.consumers
            .iter()
            .find(|con| con.workload.kind == WorkloadKind::CronJob)
            .map(|con| {
                format!(
                    "; then regenerate it: kubectl -n {} create job --from=cronjob/{} {}-manual",
                    c.ns, con.workload.name, con.workload.name
                )
            })
            .unwrap_or_default()
    }

    fn terminating_in_use(&mut self, c: &Claim<'a>) -> bool {
        // The pvc-protection controller keeps the claim while any *scheduled* pod mounts it,
        // whatever its phase (a finished Job pod still holds it until deleted); pending pods
        // do not hold it but fail with `persistentvolumeclaim "…" is being deleted`.
        let scheduled = |p: &Pod| {
            p.spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .is_some_and(|n| !n.is_empty())
        };
        let pods: Vec<&Pod> = self
            .ix
            .pods_by_claim
            .get(&(c.ns, c.name))
            .into_iter()
            .flatten()
            .copied()
            .filter(|p| scheduled(p) || is_pending(p))
            .collect();
        if pods.is_empty() {
            // Deleted and unused: it goes away on its own.
            return false;
        }
        let finished: Vec<&str> = pods
            .iter()
            .filter(|p| is_terminated(p) && scheduled(p))
            .map(|p| meta_name(&p.metadata))
            .collect();
        let mut ev = vec![pvc_line(c)];
        if let Some(f) = c.pvc.metadata.finalizers.as_ref().filter(|f| !f.is_empty()) {
            ev.push(format!("finalizers [{}]", f.join(", ")));
        }
        for pod in &pods {
            ev.push(pod_line(pod));
            ev.extend(self.events("Pod", &pod.metadata, &["FailedScheduling"]));
        }
        let scale: Vec<String> = c
            .consumers
            .iter()
            .filter(|con| {
                matches!(
                    con.workload.kind,
                    WorkloadKind::Deployment | WorkloadKind::StatefulSet
                )
            })
            .map(|con| {
                format!(
                    "kubectl -n {} scale {} {} --replicas=0",
                    c.ns,
                    con.workload.kind.as_str().to_lowercase(),
                    con.workload.name
                )
            })
            .collect();
        let mut remediation = format!(
            "The claim is removed (kubernetes.io/pvc-protection) once no pod uses it; new pods that mount it fail. \
             If the deletion is intended, stop the consumers{}; then recreate the claim and start them again. \
             If it was a mistake, back up the data now: the volume is deleted with the claim (reclaimPolicy Delete).",
            if scale.is_empty() {
                String::new()
            } else {
                format!(": {}", scale.join(" && "))
            }
        );
        if !finished.is_empty() {
            remediation.push_str(&format!(
                " Finished pods hold it too: kubectl -n {} delete pod {}.",
                c.ns,
                finished.join(" ")
            ));
        }
        remediation.push_str(&format!(
            " Check: kubectl -n {} get pvc {} -o jsonpath='{{.metadata.deletionTimestamp}}'",
            c.ns, c.name
        ));
        let n = pods.len();
        self.hit(
            c,
            FindingId::PvcTerminatingInUse,
            c.reference(),
            format!(
                "PersistentVolumeClaim {} is being deleted while {n} pod(s) still use it",
                c.name
            ),
            ev,
            remediation,
        );
        true
    }

    fn released_not_rebound(&mut self, c: &Claim<'a>) {
        let Some(pvs) = self.released_by_claim.get(&(c.ns, c.name)).cloned() else {
            return;
        };
        let uid = c.pvc.metadata.uid.as_deref();
        for pv in pvs {
            let spec = pv.spec.as_ref();
            if spec.and_then(|s| s.persistent_volume_reclaim_policy.as_deref()) != Some("Retain") {
                continue;
            }
            let old_uid = spec
                .and_then(|s| s.claim_ref.as_ref())
                .and_then(|r| r.uid.as_deref());
            if old_uid.is_some() && old_uid == uid {
                continue;
            }
            let pv_name = meta_name(&pv.metadata);
            let mut ev = vec![pv_line(pv), pvc_line(c)];
            ev.extend(self.events("PersistentVolumeClaim", &c.pvc.metadata, &["FailedBinding"]));
            let now = match c.volume_name() {
                Some(v) if v != pv_name => format!("bound to a new, empty volume {v}"),
                Some(_) => "waiting for it (volumeName)".to_owned(),
                None => c.phase.to_owned(),
            };
            let remediation = format!(
                "PersistentVolume {pv_name} still holds the old data and references the previous claim (uid {}). \
                 To re-bind it: stop the consumers, kubectl -n {ns} delete pvc {name}, \
                 kubectl patch pv {pv_name} --type json -p '[{{\"op\":\"remove\",\"path\":\"/spec/claimRef\"}}]', \
                 then recreate the claim with spec.volumeName: {pv_name}. If the old data is not needed: kubectl delete pv {pv_name}.",
                old_uid.unwrap_or("?"),
                ns = c.ns,
                name = c.name,
            );
            let mut affected = self.affected(c);
            affected.insert(
                1,
                Affected {
                    object: ObjectRef::cluster("PersistentVolume", pv_name),
                    state: Some("Released".into()),
                },
            );
            self.hits.push(Hit {
                id: FindingId::PvReleasedNotRebound,
                root: c.reference(),
                summary: format!(
                    "Released PersistentVolume {pv_name} (Retain) with the old data was not re-bound to the recreated claim {}: it is {now}",
                    c.name
                ),
                group_summary: None,
                evidence: ev,
                affected,
                remediation,
            });
        }
    }

    /// RWX/ROX on local-path, or ReadWriteOncePod shared by several consumers.
    fn access_mode(&mut self, c: &Claim<'a>) -> bool {
        let modes = c.access_modes();
        let unsupported_event = self.claim_event(c, "ProvisioningFailed", |m| {
            m.contains("only supports ReadWriteOnce") || m.contains("Only support ReadWriteOnce")
        });
        let multi: Vec<&str> = modes
            .iter()
            .map(String::as_str)
            .filter(|m| matches!(*m, "ReadWriteMany" | "ReadOnlyMany"))
            .collect();
        if (self.is_local_path(c) && !multi.is_empty()) || unsupported_event.is_some() {
            let mut ev = vec![pvc_line(c)];
            ev.extend(self.events(
                "PersistentVolumeClaim",
                &c.pvc.metadata,
                &["ProvisioningFailed"],
            ));
            let class = c.class().map_or("local-path", |s| meta_name(&s.metadata));
            let remediation = format!(
                "{class} volumes live on one node: only ReadWriteOnce and ReadWriteOncePod are supported. \
                 Set accessModes: [ReadWriteOnce] in the manifest and recreate the claim (access modes are immutable): \
                 kubectl -n {ns} delete pvc {name} && kubectl apply -k <your overlay>; keep every consumer on one node.",
                ns = c.ns,
                name = c.name,
            );
            let modes_text = if multi.is_empty() {
                modes.join(", ")
            } else {
                multi.join(", ")
            };
            self.hit(
                c,
                FindingId::AccessModeUnsupported,
                c.reference(),
                format!("PersistentVolumeClaim {} asks for {modes_text}, which StorageClass {class} cannot provide", c.name),
                ev,
                remediation,
            );
            return true;
        }
        if modes.iter().any(|m| m == "ReadWriteOncePod") {
            let replicas = |w: &Workload<'_>| -> i32 {
                if w.kind == WorkloadKind::Deployment {
                    self.ix
                        .deployment_by_key
                        .get(&(w.namespace, w.name))
                        .and_then(|d| d.spec.as_ref()?.replicas)
                        .unwrap_or(1)
                } else if w.kind == WorkloadKind::StatefulSet {
                    // Rare with a ReadWriteOncePod claim: a scan is fine.
                    self.ix
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
                self.scheduling_failure(p)
                    .is_some_and(|f| f.count(ReasonKind::ReadWriteOncePodInUse) > 0)
            });
            if total > 1 || rwop_event {
                let mut ev = vec![pvc_line(c)];
                ev.extend(active.iter().map(|con| workload_line(&con.workload)));
                ev.extend(self.pending_pod_evidence(c));
                let names: Vec<String> = active
                    .iter()
                    .map(|con| format!("{} {}", con.workload.kind, con.workload.name))
                    .collect();
                let remediation = format!(
                    "ReadWriteOncePod lets exactly one pod mount the claim. Use accessModes: [ReadWriteOnce] \
                     (several pods on one node may share it) and pin every consumer to one node; recreate the claim: \
                     kubectl -n {ns} delete pvc {name} && kubectl apply -k <your overlay>.",
                    ns = c.ns,
                    name = c.name,
                );
                self.hit(
                    c,
                    FindingId::AccessModeUnsupported,
                    c.reference(),
                    format!(
                        "PersistentVolumeClaim {} is ReadWriteOncePod but shared by {}",
                        c.name,
                        names.join(" and ")
                    ),
                    ev,
                    remediation,
                );
                return true;
            }
        }
        false
    }

    /// Two consumers of a node-local claim that can never be on one node.
    fn consumers_pinned(&mut self, c: &Claim<'a>) -> bool {
        let active: Vec<&Consumer<'a>> = c.consumers.iter().collect();
        if active.len() < 2 || !self.is_node_local(c) {
            return false;
        }
        let candidates: Vec<Vec<&str>> = active
            .iter()
            .map(|con| {
                self.ix
                    .nodes
                    .iter()
                    .filter(|n| placement::pod_fits_node(con.workload.spec, n))
                    .map(|n| meta_name(&n.metadata))
                    .collect()
            })
            .collect();
        let mut apart = false;
        for i in 0..active.len() {
            for j in i + 1..active.len() {
                let (a, b) = (active[i].workload.spec, active[j].workload.spec);
                let selector_conflict = match (&a.node_selector, &b.node_selector) {
                    (Some(x), Some(y)) => x.iter().any(|(k, v)| y.get(k).is_some_and(|w| w != v)),
                    _ => false,
                } || matches!((a.node_name.as_deref(), b.node_name.as_deref()), (Some(x), Some(y)) if !x.is_empty() && !y.is_empty() && x != y);
                let disjoint = self.nodes_known()
                    && !candidates[i].is_empty()
                    && !candidates[j].is_empty()
                    && !candidates[i].iter().any(|n| candidates[j].contains(n));
                // With the nodes at hand they decide (a selector that matches no node at all is
                // node-selector-matches-no-node, a typo rather than two different pins);
                // without them, two values for one label key cannot meet on any node.
                if (self.nodes_known() && disjoint) || (!self.nodes_known() && selector_conflict) {
                    apart = true;
                }
            }
        }
        if !apart {
            return false;
        }
        let pv = c
            .volume_name()
            .and_then(|v| self.ix.pv_by_name.get(v).copied());
        let mut ev = vec![pvc_line(c)];
        if let Some(pv) = pv {
            ev.push(pv_line(pv));
        }
        ev.extend(active.iter().map(|con| workload_line(&con.workload)));
        ev.extend(self.pending_pod_evidence(c));
        // The node to pin to: where the volume is, else the lab's pin, else the first consumer's.
        let target = pv
            .and_then(placement::pv_pin)
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .or_else(|| {
                self.config
                    .pin_label_value
                    .clone()
                    .map(|v| (self.config.pin_label_key.clone(), v))
            })
            .or_else(|| {
                active[0]
                    .workload
                    .spec
                    .node_selector
                    .as_ref()
                    .and_then(|s| s.iter().next())
                    .map(|(k, v)| (k.clone(), v.clone()))
            });
        let remediation = match &target {
            Some((k, v)) => {
                let cmds: Vec<String> = active
                    .iter()
                    .filter(|con| {
                        con.workload
                            .spec
                            .node_selector
                            .as_ref()
                            .is_none_or(|s| s.get(k) != Some(v))
                    })
                    .map(|con| pin_command(c.ns, &con.workload, k, v))
                    .collect();
                format!(
                    "A node-local volume can serve one node only: pin every consumer of {} to the same node{}: {}",
                    c.name,
                    if pv.is_some() {
                        format!(" (the volume is on {k}={v})")
                    } else {
                        String::new()
                    },
                    cmds.join(" && ")
                )
            }
            None => format!(
                "Pin every consumer of {} to the same node (same nodeSelector in each workload).",
                c.name
            ),
        };
        let names: Vec<String> = active
            .iter()
            .map(|con| format!("{} {}", con.workload.kind, con.workload.name))
            .collect();
        self.hit(
            c,
            FindingId::ConsumersPinnedToDifferentNodes,
            c.reference(),
            format!(
                "{} share node-local PersistentVolumeClaim {} but are pinned to different nodes",
                names.join(" and "),
                c.name
            ),
            ev,
            remediation,
        );
        true
    }

    /// Argo CD applies the WFFC claim in an earlier wave than all its consumers and waits for it
    /// to be Healthy, which it only becomes once a consumer exists (argo-cd#12840).
    fn sync_wave(&mut self, c: &Claim<'a>) -> bool {
        // A Bound claim is Healthy for Argo CD: whatever the waves say, the sync got past it
        // (often thanks to a Sync hook consumer in its wave that is deleted afterwards and so
        // invisible here). Judging it anyway would flag the healthy lab.
        if !c.wait_for_first_consumer() || c.phase == "Bound" {
            return false;
        }
        let mut pvc_wave = sync_wave(&c.pvc.metadata);
        let mut tracked = pvc_wave.is_some();
        let mut consumer_waves: Vec<(String, i64)> = Vec::new();
        for con in c
            .consumers
            .iter()
            .filter(|con| con.workload.kind != WorkloadKind::Pod)
        {
            let w = sync_wave(con.workload.meta);
            tracked |= w.is_some();
            consumer_waves.push((
                format!("{} {}", con.workload.kind, con.workload.name),
                w.unwrap_or(0),
            ));
        }
        // Argo CD hooks (the lab's first-model Job) consume the claim in their own wave, even
        // once finished: they run again on every sync.
        for job in self
            .hooks_by_claim
            .get(&(c.ns, c.name))
            .into_iter()
            .flatten()
        {
            let name = format!("Job {} (Argo CD hook)", meta_name(&job.metadata));
            if !consumer_waves.iter().any(|(n, _)| *n == name) {
                consumer_waves.push((name, sync_wave(&job.metadata).unwrap_or(0)));
            }
        }
        let mut app_evidence = Vec::new();
        let mut app_name = None;
        // Whether an Application tracks the claim, and whether one is mid-sync. When Argo CD's
        // own state is at hand it decides: a finished sync is not waiting for anything.
        let mut app_tracks = false;
        let mut app_syncing = false;
        for app in &self.ix.applications {
            let Some(resources) = app
                .data
                .pointer("/status/resources")
                .and_then(|r| r.as_array())
            else {
                continue;
            };
            let is_pvc = |r: &serde_json::Value| {
                r["kind"] == "PersistentVolumeClaim"
                    && r["name"] == c.name
                    && r["namespace"] == c.ns
            };
            let Some(entry) = resources.iter().find(|r| is_pvc(r)) else {
                continue;
            };
            tracked = true;
            app_tracks = true;
            app_syncing |= app
                .data
                .pointer("/status/operationState/phase")
                .and_then(|p| p.as_str())
                == Some("Running");
            app_name = app.metadata.name.clone();
            if pvc_wave.is_none() {
                pvc_wave = entry["syncWave"].as_i64();
            }
            if consumer_waves.is_empty() {
                // Consumers never applied are not in the cluster: take them from the app.
                for r in resources {
                    let kind = r["kind"].as_str().unwrap_or("");
                    if r["namespace"] == c.ns
                        && matches!(
                            kind,
                            "Deployment" | "StatefulSet" | "CronJob" | "Job" | "DaemonSet"
                        )
                    {
                        let name = r["name"].as_str().unwrap_or("");
                        consumer_waves.push((
                            format!("{kind} {name}"),
                            r["syncWave"].as_i64().unwrap_or(0),
                        ));
                        app_evidence.push(format!(
                            "Application {}: {kind} {}/{name} sync {}, health {}",
                            meta_name(&app.metadata),
                            c.ns,
                            r["status"].as_str().unwrap_or("?"),
                            r["health"]["status"].as_str().unwrap_or("?")
                        ));
                    }
                }
            }
            if let Some(m) = app
                .data
                .pointer("/status/operationState/message")
                .and_then(|m| m.as_str())
            {
                app_evidence.push(format!(
                    "Application {}: operation {}: {m}",
                    meta_name(&app.metadata),
                    app.data
                        .pointer("/status/operationState/phase")
                        .and_then(|p| p.as_str())
                        .unwrap_or("?")
                ));
            }
        }
        let pvc_wave = pvc_wave.unwrap_or(0);
        let Some(min) = consumer_waves.iter().map(|(_, w)| *w).min() else {
            return false;
        };
        if !tracked || pvc_wave >= min || (app_tracks && !app_syncing) {
            return false;
        }
        let mut ev = vec![format!("{} (sync-wave {pvc_wave})", pvc_line(c))];
        ev.extend(
            consumer_waves
                .iter()
                .map(|(n, w)| format!("{n}: sync-wave {w}")),
        );
        ev.extend(app_evidence);
        ev.extend(self.events(
            "PersistentVolumeClaim",
            &c.pvc.metadata,
            &["WaitForFirstConsumer"],
        ));
        let app = app_name.unwrap_or_else(|| self.config.argocd_app.clone());
        let remediation = format!(
            "Put the claim in the same sync wave as its consumers: set metadata.annotations[\"{SYNC_WAVE}\"] of \
             PersistentVolumeClaim {name} to \"{min}\" (or remove it) in Git and sync. To unblock the running sync: \
             argocd app terminate-op {app} && kubectl -n {ns} annotate pvc {name} {SYNC_WAVE}- && argocd app sync {app}",
            name = c.name,
            ns = c.ns,
        );
        self.hit(
            c,
            FindingId::SyncWaveDeadlock,
            c.reference(),
            format!(
                "WaitForFirstConsumer claim {} is in sync wave {pvc_wave}, before all its consumers (wave {min}): Argo CD waits for it forever",
                c.name
            ),
            ev,
            remediation,
        );
        true
    }

    fn bound(&mut self, c: &Claim<'a>, pinned: bool) {
        let Some(v) = c.volume_name() else { return };
        let Some(pv) = self.ix.pv_by_name.get(v).copied() else {
            // Bound to a volume that no longer exists: the PV controller will mark it Lost. A
            // snapshot without any PersistentVolume says nothing about volumes, though.
            if !self.ix.pv_by_name.is_empty() {
                self.pvc_lost(c, Some(v));
            }
            return;
        };
        if placement::pv_affinity(pv).is_none() {
            return;
        }
        if !self.nodes_known() {
            self.bound_from_events(c, pv, pinned);
            return;
        }
        let pv_nodes = placement::volume_nodes(pv, &self.ix.nodes);
        let pv_name = meta_name(&pv.metadata);
        if pv_nodes.is_empty() {
            self.pv_node_missing(c, pv);
            return;
        }
        let tolerations = Self::tolerations(c);
        let problems: Vec<(&Node, Vec<Unavailable>)> = pv_nodes
            .iter()
            .map(|n| (*n, nodes::unavailability(n, &tolerations)))
            .collect();
        let has_consumers = !c.consumers.is_empty();
        if problems.iter().all(|(_, why)| !why.is_empty()) && has_consumers {
            let (node, why) = &problems[0];
            let node_name = meta_name(&node.metadata);
            let mut ev = vec![pvc_line(c), pv_line(pv), node_line(node, why)];
            ev.extend(self.events(
                "Node",
                &node.metadata,
                &["NodeNotReady", "NodeNotSchedulable"],
            ));
            ev.extend(self.pending_pod_evidence(c));
            let fixes: Vec<String> = why.iter().map(|w| w.fix(node_name)).collect();
            let why = join(why);
            self.grouped_hit(
                c,
                FindingId::PvNodeUnavailable,
                ObjectRef::cluster("Node", node_name),
                format!(
                    "PersistentVolume {pv_name} of claim {} lives on node {node_name}, which cannot run its consumers: {}",
                    c.name,
                    why
                ),
                format!("Node {node_name} holds the volumes of {{n}} claims and cannot run their consumers: {why}"),
                ev,
                format!("The volume exists only on {node_name}; {}.", fixes.join("; ")),
            );
            return;
        }
        if pinned {
            return;
        }
        // Consumers that can never reach a node holding the volume.
        let mut no_node = Vec::new();
        let mut elsewhere = Vec::new();
        for con in &c.consumers {
            if pv_nodes
                .iter()
                .any(|n| placement::pod_fits_node(con.workload.spec, n))
            {
                continue;
            }
            if self.fits_any_node(con.workload.spec) {
                elsewhere.push(con);
            } else {
                no_node.push(con);
            }
        }
        if !no_node.is_empty() {
            self.selector_matches_no_node(c, &no_node);
            return;
        }
        if !elsewhere.is_empty() {
            let (k, val) =
                placement::pv_pin(pv).unwrap_or((HOSTNAME_LABEL, meta_name(&pv_nodes[0].metadata)));
            let mut ev = vec![pvc_line(c), pv_line(pv)];
            ev.extend(elsewhere.iter().map(|con| workload_line(&con.workload)));
            ev.extend(self.pending_pod_evidence(c));
            let cmds: Vec<String> = elsewhere
                .iter()
                .map(|con| pin_command(c.ns, &con.workload, k, val))
                .collect();
            let names: Vec<String> = elsewhere
                .iter()
                .map(|con| format!("{} {}", con.workload.kind, con.workload.name))
                .collect();
            let remediation = format!(
                "Pin the consumers to the node that holds the volume ({k}={val}): {}. \
                 Or, if the data is disposable, delete the claim and its volume and let it be provisioned again on the consumers' node: \
                 kubectl -n {ns} delete pvc {name} && kubectl delete pv {pv_name} && kubectl apply -k <your overlay>",
                cmds.join(" && "),
                ns = c.ns,
                name = c.name,
            );
            self.hit(
                c,
                FindingId::PvNodeAffinityConflict,
                c.reference(),
                format!(
                    "{} pinned away from {k}={val}, the only node that has PersistentVolume {pv_name} of claim {}",
                    if names.len() == 1 { format!("{} is", names[0]) } else { format!("{} are", names.join(" and ")) },
                    c.name
                ),
                ev,
                remediation,
            );
            return;
        }
        // State says fine; a pending pod may still say otherwise (e.g. hostname label changed
        // under a running pod): fall back to its scheduler message.
        self.bound_from_events(c, pv, pinned);
    }

    /// Without nodes in the snapshot (or when state shows nothing), read the scheduler.
    fn bound_from_events(&mut self, c: &Claim<'a>, pv: &'a PersistentVolume, pinned: bool) {
        if pinned {
            return;
        }
        let stuck: Vec<&Pod> = c
            .live_pods()
            .filter(|p| is_pending(p))
            .filter(|p| {
                self.scheduling_failure(p).is_some_and(|f| {
                    f.count(ReasonKind::VolumeNodeAffinityConflict) > 0
                        || f.count(ReasonKind::VolumeBindingPlugin) > 0
                })
            })
            .collect();
        if stuck.is_empty() {
            return;
        }
        let every_node = stuck.iter().all(|p| {
            self.scheduling_failure(p)
                .is_some_and(|f| f.all_nodes(ReasonKind::VolumeNodeAffinityConflict))
        });
        if every_node && !self.nodes_known() {
            self.pv_node_missing(c, pv);
            return;
        }
        let pv_name = meta_name(&pv.metadata);
        let mut ev = vec![pvc_line(c), pv_line(pv)];
        ev.extend(self.pending_pod_evidence(c));
        let (k, val) = placement::pv_pin(pv).unwrap_or((HOSTNAME_LABEL, "<node of the volume>"));
        let cmds: Vec<String> = c
            .consumers
            .iter()
            .filter(|con| con.pods.iter().any(|p| stuck.contains(p)))
            .map(|con| pin_command(c.ns, &con.workload, k, val))
            .collect();
        self.hit(
            c,
            FindingId::PvNodeAffinityConflict,
            c.reference(),
            format!("the scheduler reports a volume node affinity conflict for claim {}: its volume {pv_name} is on {k}={val}", c.name),
            ev,
            format!("Pin the consumers to {k}={val}: {}", cmds.join(" && ")),
        );
    }

    fn pv_node_missing(&mut self, c: &Claim<'a>, pv: &'a PersistentVolume) {
        let pv_name = meta_name(&pv.metadata);
        let (k, val) = placement::pv_pin(pv).unwrap_or((HOSTNAME_LABEL, "?"));
        let mut ev = vec![pvc_line(c), pv_line(pv)];
        // A node with that name whose hostname label differs is the usual rename trap.
        let renamed = self.ix.node_by_name.get(val).copied();
        if let Some(node) = renamed {
            ev.push(node_line(node, &[]));
        } else if self.nodes_known() {
            let names: Vec<&str> = self
                .ix
                .nodes
                .iter()
                .map(|n| meta_name(&n.metadata))
                .collect();
            ev.push(format!(
                "no node has {k}={val}; nodes: {}",
                names.join(", ")
            ));
        }
        ev.extend(self.pending_pod_evidence(c));
        let remediation = match renamed {
            Some(_) => format!(
                "Node {val} exists but its {k} label differs from the volume's affinity, and PV node affinity is immutable. \
                 Restore the label (kubectl label node {val} {k}={val} --overwrite) or, if the data is disposable, \
                 kubectl -n {ns} delete pvc {name} && kubectl delete pv {pv_name} and re-apply.",
                ns = c.ns,
                name = c.name,
            ),
            None => format!(
                "Node {val} is gone and with it the volume's data; nothing heals by itself (PV node affinity is immutable). \
                 Bring the node back under the same hostname, or recreate the claim: \
                 kubectl -n {ns} delete pvc {name} && kubectl delete pv {pv_name} && kubectl apply -k <your overlay>{rerun}",
                ns = c.ns,
                name = c.name,
                rerun = self.rerun_hint(c),
            ),
        };
        self.grouped_hit(
            c,
            FindingId::PvNodeMissing,
            ObjectRef::cluster("Node", val),
            format!("PersistentVolume {pv_name} of claim {} is pinned to {k}={val}, which matches no node", c.name),
            format!("{{n}} volumes are pinned to {k}={val}, which matches no node"),
            ev,
            remediation,
        );
    }

    fn selector_matches_no_node(&mut self, c: &Claim<'a>, cons: &[&Consumer<'a>]) {
        let mut ev = vec![pvc_line(c)];
        ev.extend(cons.iter().map(|con| workload_line(&con.workload)));
        ev.extend(self.pending_pod_evidence(c));
        ev.extend(self.events(
            "PersistentVolumeClaim",
            &c.pvc.metadata,
            &["WaitForPodScheduled"],
        ));
        // The node the consumers should go to: where the volume lives, else the lab's pin if
        // such a node exists.
        let pv_node = c
            .volume_name()
            .and_then(|n| self.ix.pv_by_name.get(n))
            .and_then(|pv| {
                self.ix
                    .nodes
                    .iter()
                    .find(|n| placement::pv_fits_node(pv, n))
            })
            .copied();
        let target = pv_node.or_else(|| {
            let want = self.config.pin_label_value.as_deref()?;
            self.ix.nodes.iter().copied().find(|n| {
                n.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(&self.config.pin_label_key))
                    == Some(&want.to_owned())
            })
        });
        let mut fixes = Vec::new();
        for con in cons {
            for (k, v) in con.workload.spec.node_selector.iter().flatten() {
                let target_value = target.and_then(|n| n.metadata.labels.as_ref()?.get(k).cloned());
                if k == HOSTNAME_LABEL {
                    // The hostname label is the kubelet's: fix the selector, not the node.
                    match &target_value {
                        Some(t) => fixes.push(pin_command(c.ns, &con.workload, k, t)),
                        None => fixes.push(format!(
                            "set {} {}'s nodeSelector {k} to an existing node (kubectl get nodes -L {k}); {v} is none of them",
                            con.workload.kind, con.workload.name
                        )),
                    }
                } else {
                    let node = target.map_or("<node>", |n| meta_name(&n.metadata));
                    fixes.push(format!(
                        "kubectl label node {node} {k}={v} (or fix the selector: kubectl get nodes -L {k})"
                    ));
                }
            }
        }
        if fixes.is_empty() {
            fixes.push("fix the workload's node affinity (kubectl get nodes --show-labels)".into());
        }
        let names: Vec<String> = cons
            .iter()
            .map(|con| format!("{} {}", con.workload.kind, con.workload.name))
            .collect();
        let pins: Vec<String> = cons
            .iter()
            .map(|con| placement::describe_pin(con.workload.spec))
            .collect();
        self.hit(
            c,
            FindingId::NodeSelectorMatchesNoNode,
            c.reference(),
            format!(
                "{} of claim {} can run on no node ({})",
                names.join(" and "),
                c.name,
                pins.join("; ")
            ),
            ev,
            format!(
                "No node carries the labels the consumers require: {}",
                fixes.join("; ")
            ),
        );
    }

    /// Without nodes in the snapshot: pending consumers that the scheduler rejected on every
    /// node for their node affinity/selector.
    fn selector_from_events(&mut self, c: &Claim<'a>) -> bool {
        let stuck: Vec<&Consumer<'a>> = c
            .consumers
            .iter()
            .filter(|con| {
                con.pods.iter().any(|p| {
                    is_pending(p)
                        && self
                            .scheduling_failure(p)
                            .is_some_and(|f| f.all_nodes(ReasonKind::NodeAffinitySelectorMismatch))
                })
            })
            .collect();
        if stuck.is_empty() {
            return false;
        }
        self.selector_matches_no_node(c, &stuck);
        true
    }

    fn pending(&mut self, c: &Claim<'a>, pinned: bool) {
        // 1. The class.
        let class = match c.class {
            ClassLookup::Missing(n) => {
                let mut ev = vec![pvc_line(c)];
                ev.extend(self.events(
                    "PersistentVolumeClaim",
                    &c.pvc.metadata,
                    &["ProvisioningFailed"],
                ));
                ev.extend(self.pending_pod_evidence(c));
                let existing: Vec<&str> = self
                    .ix
                    .snapshot
                    .storage_classes
                    .iter()
                    .map(|s| meta_name(&s.metadata))
                    .collect();
                self.grouped_hit(
                    c,
                    FindingId::StorageclassMissing,
                    ObjectRef::cluster("StorageClass", n),
                    format!("PersistentVolumeClaim {} uses StorageClass {n}, which does not exist", c.name),
                    format!("{{n}} claims use StorageClass {n}, which does not exist"),
                    ev,
                    format!(
                        "Install the provisioner that creates StorageClass {n}, or set spec.storageClassName to an existing class ({}) in the manifest \
                         and recreate the claim (immutable): kubectl -n {ns} delete pvc {name} && kubectl apply -k <your overlay>",
                        if existing.is_empty() { "none exists".to_owned() } else { existing.join(", ") },
                        ns = c.ns,
                        name = c.name,
                    ),
                );
                return;
            }
            ClassLookup::NoDefault => {
                let mut ev = vec![pvc_line(c)];
                ev.extend(self.events(
                    "PersistentVolumeClaim",
                    &c.pvc.metadata,
                    &["FailedBinding"],
                ));
                self.hit(
                    c,
                    FindingId::StorageclassMissing,
                    c.reference(),
                    format!("PersistentVolumeClaim {} sets no StorageClass and the cluster has no default class", c.name),
                    ev,
                    format!(
                        "Set spec.storageClassName: {} in the manifest (and recreate the claim), or mark a default class: \
                         kubectl patch storageclass {} -p '{{\"metadata\":{{\"annotations\":{{\"storageclass.kubernetes.io/is-default-class\":\"true\"}}}}}}'",
                        self.config.storage_class, self.config.storage_class
                    ),
                );
                return;
            }
            ClassLookup::NoClass | ClassLookup::Unknown(_) => None,
            ClassLookup::Found(sc) => Some(sc),
        };
        // The same message from the provisioner proves a missing class even when the class list
        // was not readable.
        if let Some(e) = self.claim_event(c, "ProvisioningFailed", |m| {
            m.contains("storageclass.storage.k8s.io") && m.contains("not found")
        }) {
            let name = e.message.split('"').nth(1).unwrap_or("?").to_owned();
            if class.is_none() {
                let ev = vec![
                    pvc_line(c),
                    event_line("PersistentVolumeClaim", c.ns, c.name, e),
                ];
                self.hit(
                    c,
                    FindingId::StorageclassMissing,
                    ObjectRef::cluster("StorageClass", &name),
                    format!(
                        "PersistentVolumeClaim {} uses StorageClass {name}, which does not exist",
                        c.name
                    ),
                    ev,
                    format!("Create StorageClass {name} or point the claim at an existing class"),
                );
                return;
            }
        }
        // 2. Consumers that fit no node: nothing can ever be scheduled.
        let selected = c.annotation(SELECTED_NODE).filter(|s| !s.is_empty());
        if selected.is_none() && self.nodes_known() {
            let none: Vec<&Consumer<'a>> = c
                .consumers
                .iter()
                .filter(|con| con.workload.idle.is_none() && !self.fits_any_node(con.workload.spec))
                .collect();
            if !none.is_empty() && !pinned {
                self.selector_matches_no_node(c, &none);
                return;
            }
        }
        if pinned {
            return;
        }
        if !self.nodes_known() && selected.is_none() && self.selector_from_events(c) {
            return;
        }
        let Some(sc) = class else {
            // Class unknown (not in the snapshot): the PV controller's own event still says
            // whether the claim merely waits for its first consumer.
            if matches!(c.class, ClassLookup::Unknown(_))
                && selected.is_none()
                && self.has_event(
                    "PersistentVolumeClaim",
                    &c.pvc.metadata,
                    "WaitForFirstConsumer",
                )
            {
                self.waiting_for_consumer(c);
            }
            return;
        };
        // 3. A selected node that is gone (state), or the provisioner saying so (event: it has
        // already cleared the annotation).
        let not_found = |m: &str| m.contains("node \"") && m.contains("\" not found");
        let stale = match selected {
            Some(n) if self.nodes_known() && !self.ix.node_by_name.contains_key(n) => {
                Some(n.to_owned())
            }
            Some(_) => None,
            None => self
                .claim_event(c, "ProvisioningFailed", not_found)
                .and_then(|e| {
                    e.message
                        .split("node \"")
                        .nth(1)
                        .and_then(|r| r.split('"').next())
                })
                .filter(|n| self.nodes_known() && !self.ix.node_by_name.contains_key(*n))
                .map(str::to_owned),
        };
        if let Some(n) = stale {
            let mut ev = vec![pvc_line(c)];
            if self.nodes_known() {
                ev.push(format!(
                    "no Node {n}; nodes: {}",
                    self.ix
                        .nodes
                        .iter()
                        .map(|x| meta_name(&x.metadata))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            ev.extend(self.events(
                "PersistentVolumeClaim",
                &c.pvc.metadata,
                &["ProvisioningFailed"],
            ));
            ev.extend(self.pending_pod_evidence(c));
            let restart: Vec<String> = c
                .live_pods()
                .filter(|p| is_pending(p))
                .map(|p| format!("kubectl -n {} delete pod {}", c.ns, meta_name(&p.metadata)))
                .collect();
            self.grouped_hit(
                c,
                FindingId::SelectedNodeStale,
                ObjectRef::cluster("Node", &n),
                format!("PersistentVolumeClaim {} was scheduled to node {n}, which no longer exists", c.name),
                format!("{{n}} claims were scheduled to node {n}, which no longer exists"),
                ev,
                format!(
                    "Clear the stale selection so the scheduler picks an existing node: kubectl -n {ns} annotate pvc {name} {SELECTED_NODE}-{}; \
                     make sure no consumer is pinned to {n}.",
                    if restart.is_empty() { String::new() } else { format!(" && {}", restart.join(" && ")) },
                    ns = c.ns,
                    name = c.name,
                ),
            );
            return;
        }
        let wffc = c.wait_for_first_consumer();
        let provisioning_requested = selected.is_some()
            || !wffc
            || c.annotation(STORAGE_PROVISIONER).is_some()
            || c.annotation(STORAGE_PROVISIONER_BETA).is_some();
        if provisioning_requested {
            // 4. The provisioner itself.
            if self.provisioner_not_running(c, sc) {
                return;
            }
            // 5. It ran and failed.
            if self.provisioning_failed(c, sc) {
                return;
            }
            if wffc || selected.is_some() {
                return;
            }
        }
        if wffc && selected.is_none() {
            self.waiting_for_consumer(c);
        }
    }

    fn provisioner_not_running(&mut self, c: &Claim<'a>, sc: &'a StorageClass) -> bool {
        let meta = &c.pvc.metadata;
        let waiting = self.has_event("PersistentVolumeClaim", meta, "ExternalProvisioning");
        let started = self.has_event("PersistentVolumeClaim", meta, "Provisioning")
            || self.has_event("PersistentVolumeClaim", meta, "ProvisioningFailed");
        let candidates = &self.config.provisioner_deployments;
        let found: Vec<&k8s_openapi::api::apps::v1::Deployment> = if sc.provisioner == LOCAL_PATH {
            candidates
                .iter()
                .filter_map(|r| {
                    self.ix
                        .deployment_by_key
                        .get(&(r.namespace.as_str(), r.name.as_str()))
                        .copied()
                })
                .collect()
        } else {
            Vec::new()
        };
        let available = |d: &k8s_openapi::api::apps::v1::Deployment| {
            d.status
                .as_ref()
                .and_then(|s| s.available_replicas)
                .unwrap_or(0)
                > 0
        };
        let (down, root, state) = if !found.is_empty() {
            // State decides: a Deployment with no available replica does not provision.
            let Some(d) = found
                .iter()
                .find(|d| !available(d))
                .filter(|_| !found.iter().any(|d| available(d)))
            else {
                return false;
            };
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
            return false;
        }
        let mut ev = vec![pvc_line(c), state];
        ev.extend(self.events("PersistentVolumeClaim", meta, &["ExternalProvisioning"]));
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
        self.grouped_hit(
            c,
            FindingId::ProvisionerNotRunning,
            root.clone(),
            format!(
                "PersistentVolumeClaim {} waits for provisioner {}, which is not running",
                c.name, sc.provisioner
            ),
            format!(
                "{{n}} claims wait for provisioner {}, which is not running",
                sc.provisioner
            ),
            ev,
            remediation,
        );
        true
    }

    fn provisioning_failed(&mut self, c: &Claim<'a>, sc: &'a StorageClass) -> bool {
        let failed = self.claim_event(c, "ProvisioningFailed", |m| {
            !(m.contains("only supports ReadWriteOnce") || m.contains("Only support ReadWriteOnce"))
        });
        let timeout_pods: Vec<&Pod> = c
            .live_pods()
            .filter(|p| {
                is_pending(p)
                    && self
                        .scheduling_failure(p)
                        .is_some_and(|f| f.is_volume_binding_timeout())
            })
            .collect();
        if failed.is_none() && timeout_pods.is_empty() {
            return false;
        }
        let mut ev = vec![pvc_line(c)];
        ev.extend(self.events(
            "PersistentVolumeClaim",
            &c.pvc.metadata,
            &["Provisioning", "ProvisioningFailed"],
        ));
        ev.extend(self.pending_pod_evidence(c));
        let why = failed.map_or_else(
            || "the volume binding timed out".to_owned(),
            |e| e.message.to_owned(),
        );
        let node = c.annotation(SELECTED_NODE).unwrap_or("<node>");
        let logs = if sc.provisioner == LOCAL_PATH {
            let d = self.config.provisioner_deployments.first();
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
        self.hit(
            c,
            FindingId::ProvisioningFailed,
            c.reference(),
            format!("provisioning the volume of claim {} failed: {why}", c.name),
            ev,
            remediation,
        );
        true
    }

    fn waiting_for_consumer(&mut self, c: &Claim<'a>) {
        let mut ev = vec![pvc_line(c)];
        let pending: Vec<&Pod> = c.live_pods().filter(|p| is_pending(p)).collect();
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
            ev.extend(self.pending_pod_evidence(c));
            let names: Vec<&str> = pending.iter().map(|p| meta_name(&p.metadata)).collect();
            summary = format!(
                "WaitForFirstConsumer claim {} waits for pod {} to be scheduled",
                c.name,
                names.join(", ")
            );
        }
        ev.extend(self.events(
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
            None => {
                "Nothing is wrong: the claim binds when the first pod that mounts it is scheduled."
                    .to_owned()
            }
        };
        self.hit(
            c,
            FindingId::PvcWaitingForConsumer,
            c.reference(),
            summary,
            ev,
            remediation,
        );
    }
}

/// `kubectl patch` that pins a workload's pods with `nodeSelector key=value` (immutable pods and
/// Jobs must be recreated instead).
fn pin_command(ns: &str, w: &Workload<'_>, key: &str, value: &str) -> String {
    let sel = format!("{{\"nodeSelector\":{{\"{key}\":\"{value}\"}}}}");
    match w.kind {
        WorkloadKind::Deployment | WorkloadKind::StatefulSet | WorkloadKind::ReplicaSet => format!(
            "kubectl -n {ns} patch {} {} --type merge -p '{{\"spec\":{{\"template\":{{\"spec\":{sel}}}}}}}'",
            w.kind.as_str().to_lowercase(),
            w.name
        ),
        WorkloadKind::CronJob => format!(
            "kubectl -n {ns} patch cronjob {} --type merge -p '{{\"spec\":{{\"jobTemplate\":{{\"spec\":{{\"template\":{{\"spec\":{sel}}}}}}}}}}}'",
            w.name
        ),
        kind => format!(
            "recreate {kind} {ns}/{} with nodeSelector {key}={value}",
            w.name
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;

    fn workload<'a>(kind: WorkloadKind, spec: &'a PodSpec, meta: &'a ObjectMeta) -> Workload<'a> {
        Workload {
            kind,
            namespace: "mlops-lab",
            name: "w",
            meta,
            spec,
            pod_labels: None,
            idle: None,
            never_ran: false,
        }
    }

    #[test]
    fn pin_commands_patch_the_pod_template_where_it_lives() {
        let (spec, meta) = (PodSpec::default(), ObjectMeta::default());
        let d = pin_command(
            "ns",
            &workload(WorkloadKind::Deployment, &spec, &meta),
            "k",
            "v",
        );
        assert_eq!(
            d,
            r#"kubectl -n ns patch deployment w --type merge -p '{"spec":{"template":{"spec":{"nodeSelector":{"k":"v"}}}}}'"#
        );
        let c = pin_command(
            "ns",
            &workload(WorkloadKind::CronJob, &spec, &meta),
            "k",
            "v",
        );
        assert!(c.contains(r#"{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"nodeSelector":{"k":"v"}}}}}}}"#), "{c}");
        let p = pin_command("ns", &workload(WorkloadKind::Pod, &spec, &meta), "k", "v");
        assert_eq!(p, "recreate Pod ns/w with nodeSelector k=v");
    }

    fn hit(id: FindingId, root: &str, claim: &str) -> Hit {
        Hit {
            id,
            root: ObjectRef::cluster("Node", root),
            summary: format!("claim {claim}"),
            group_summary: Some("{n} claims".into()),
            evidence: vec![format!("claim {claim}"), "shared".into()],
            affected: vec![Affected {
                object: ObjectRef::namespaced("PersistentVolumeClaim", "ns", claim),
                state: None,
            }],
            remediation: "same fix".into(),
        }
    }

    #[test]
    fn merge_groups_by_root_and_sorts_by_severity() {
        let findings = merge(vec![
            hit(FindingId::PvcWaitingForConsumer, "x", "c"),
            hit(FindingId::PvNodeUnavailable, "n1", "a"),
            hit(FindingId::PvNodeUnavailable, "n1", "b"),
            hit(FindingId::PvNodeUnavailable, "n2", "c"),
        ]);
        let got: Vec<(&str, &str, &str)> = findings
            .iter()
            .map(|f| (f.id, f.subject.name.as_str(), f.summary.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("pv-node-unavailable", "n1", "2 claims"),
                ("pv-node-unavailable", "n2", "claim c"),
                ("pvc-waiting-for-consumer", "x", "claim c"),
            ]
        );
        assert_eq!(findings[0].evidence, ["claim a", "shared", "claim b"]);
        assert_eq!(findings[0].affected.len(), 2);
        assert_eq!(findings[0].remediation, "same fix");
    }
}
