//! Evidence: one line per object as an operator would read it in `kubectl describe`, and the
//! events about an object, latest first.

use crate::diagnose::engine::claim::{Claim, push_unique};
use crate::diagnose::engine::{EVENTS_PER_REASON, SELECTED_NODE, View};
use crate::k8s::model::{PersistentVolume, Pod};
use crate::k8s::pod::{is_pending, pod_phase, unscheduled_condition};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::diagnose::index::{ClassLookup, EventRecord, Workload};
use crate::diagnose::scheduler::{self, SchedulingFailure};
use crate::k8s::names::{name as meta_name, namespace as meta_ns};
use crate::k8s::{HOSTNAME_LABEL, Unavailable, placement};

pub(crate) fn pvc_line(c: &Claim<'_>) -> String {
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

pub(crate) fn pv_line(pv: &PersistentVolume) -> String {
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

pub(crate) fn pod_line(pod: &Pod) -> String {
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

pub(crate) fn workload_line(w: &Workload<'_>) -> String {
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
pub(crate) fn join(why: &[Unavailable]) -> String {
    why.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn node_line(node: &Node, why: &[Unavailable]) -> String {
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

pub(crate) fn event_line(kind: &str, ns: &str, name: &str, e: &EventRecord<'_>) -> String {
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

/// Latest events of `reasons` about an object, as evidence lines.
pub(crate) fn events<'a>(
    view: &View<'_, 'a>,
    kind: &str,
    meta: &'a ObjectMeta,
    reasons: &[&str],
) -> Vec<String> {
    let mut out = Vec::new();
    for reason in reasons {
        let mut matching: Vec<&EventRecord<'a>> = view
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

pub(crate) fn has_event<'a>(
    view: &View<'_, 'a>,
    kind: &str,
    meta: &'a ObjectMeta,
    reason: &str,
) -> bool {
    view.ix.events_for(kind, meta).any(|e| e.reason == reason)
}

/// The latest event of `reason` on the claim whose message satisfies `pred`.
pub(crate) fn claim_event<'i, 'a>(
    view: &View<'i, 'a>,
    c: &Claim<'a>,
    reason: &str,
    pred: impl Fn(&str) -> bool,
) -> Option<&'i EventRecord<'a>> {
    view.ix
        .events_for("PersistentVolumeClaim", &c.pvc.metadata)
        .filter(|e| e.reason == reason && pred(e.message))
        .last()
}

/// Why a pending pod is not scheduled: the `PodScheduled` condition (complete, never
/// expires) first, else the latest `FailedScheduling` event (cut at 1024 characters).
pub(crate) fn scheduling_failure<'a>(
    view: &View<'_, 'a>,
    pod: &'a Pod,
) -> Option<SchedulingFailure> {
    if let Some((_, msg)) = unscheduled_condition(pod).filter(|(_, m)| !m.is_empty()) {
        return Some(scheduler::parse(msg));
    }
    view.ix
        .events_for("Pod", &pod.metadata)
        .filter(|e| e.reason == "FailedScheduling")
        .last()
        .map(|e| scheduler::parse(e.message))
}

pub(crate) fn pending_pod_evidence<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Vec<String> {
    let mut out = Vec::new();
    for pod in c.live_pods().filter(|p| is_pending(p)) {
        out.push(pod_line(pod));
        out.extend(events(
            view,
            "Pod",
            &pod.metadata,
            &["FailedScheduling", "FailedMount"],
        ));
    }
    out
}
