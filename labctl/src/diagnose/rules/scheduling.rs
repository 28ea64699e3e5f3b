//! A consumer the scheduler cannot place for reasons that are not its volume's:
//! `insufficient-resources` (its node lacks what it requests) and `pin-node-unavailable` (the
//! node it is pinned to cannot take pods, before any volume is bound).

use crate::diagnose::engine::View;
use crate::diagnose::engine::claim::{Claim, nodes_known, tolerations};
use crate::diagnose::engine::evidence::{
    events, join, node_line, pending_pod_evidence, pod_line, pvc_line, scheduling_failure,
    workload_line,
};
use crate::diagnose::engine::merge::{Found, Hit, grouped_hit, hit};
use crate::diagnose::engine::remedy::{pin_fixes, template_fix};
use crate::diagnose::rules::Verdict;
use crate::k8s::model::Pod;
use crate::k8s::pod::is_pending;
use k8s_openapi::api::core::v1::Node;

use crate::diagnose::catalogue::FindingId;
use crate::diagnose::finding::ObjectRef;
use crate::diagnose::scheduler::ReasonKind;
use crate::k8s::names::{name as meta_name, namespace as meta_ns};
use crate::k8s::resources::{self, Room};
use crate::k8s::{HOSTNAME_LABEL, Unavailable, WorkloadKind, nodes, placement};

/// A finding's parts before they are tied to a claim or a pod.
pub(crate) struct Parts {
    pub(crate) root: ObjectRef,
    pub(crate) summary: String,
    pub(crate) evidence: Vec<String>,
    pub(crate) remediation: String,
}

/// A claim with no volume yet whose consumer cannot be placed: the scheduling finding (then
/// the claim is not merely waiting for its consumer).
pub(crate) fn unplaceable_consumer<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Verdict {
    if c.volume_name().is_some() {
        return None;
    }
    pin_node_unavailable(view, c).or_else(|| insufficient_resources(view, c))
}

/// Consumers pinned to nodes none of which can take pods now.
fn pin_node_unavailable<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Verdict {
    let mut out = Vec::new();
    if nodes_known(view) {
        for con in c.consumers.iter().filter(|con| con.workload.idle.is_none()) {
            let spec = con.workload.spec;
            if !placement::is_pinned(spec) {
                continue;
            }
            let tolerations = spec.tolerations.clone().unwrap_or_default();
            let why: Vec<(&'a Node, Vec<Unavailable>)> = view
                .ix
                .nodes
                .iter()
                .filter(|n| placement::pod_fits_node(spec, n))
                .map(|n| (*n, nodes::unavailability(n, &tolerations)))
                .collect();
            if why.is_empty() || why.iter().any(|(_, w)| w.is_empty()) {
                continue;
            }
            let (node, reasons) = &why[0];
            out.extend(pin_node_hit(
                view,
                c,
                meta_name(&node.metadata),
                Some((node, reasons)),
            ));
            return Some(out);
        }
        return None;
    }
    // No nodes in the snapshot: the scheduler's message says it. Every node is either not
    // the pinned one or unavailable, and at least one is unavailable.
    let stuck: Option<&'a Pod> = c
        .consumers
        .iter()
        .flat_map(|con| con.pods.iter().copied())
        .filter(|p| is_pending(p))
        .find(|p| {
            scheduling_failure(view, p).is_some_and(|f| {
                let down =
                    f.count(ReasonKind::UntoleratedTaint) + f.count(ReasonKind::NodeUnschedulable);
                let total = f.filter.as_ref().and_then(|a| a.total_nodes);
                down > 0
                    && total.is_none_or(|t| {
                        down + f.count(ReasonKind::NodeAffinitySelectorMismatch) >= t
                    })
            })
        });
    let pod = stuck?;
    let node = placement::node_selector_value(pod.spec.as_ref(), HOSTNAME_LABEL)
        .unwrap_or("<pinned node>")
        .to_owned();
    out.extend(pin_node_hit(view, c, &node, None));
    Some(out)
}

fn pin_node_hit<'a>(
    view: &View<'_, 'a>,
    c: &Claim<'a>,
    node_name: &str,
    state: Option<(&'a Node, &Vec<Unavailable>)>,
) -> Vec<Hit> {
    let mut ev = vec![pvc_line(c)];
    ev.extend(c.consumers.iter().map(|con| workload_line(&con.workload)));
    let (why, fixes) = match state {
        Some((node, reasons)) => {
            ev.push(node_line(node, reasons));
            ev.extend(events(
                view,
                "Node",
                &node.metadata,
                &["NodeNotReady", "NodeNotSchedulable"],
            ));
            (
                join(reasons),
                reasons
                    .iter()
                    .map(|w| w.fix(node_name))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        }
        None => (
            "the scheduler reports it unschedulable or tainted".to_owned(),
            format!(
                "kubectl describe node {node_name}; kubectl uncordon {node_name}, or remove the taint"
            ),
        ),
    };
    ev.extend(pending_pod_evidence(view, c));
    // No volume yet: pinning to a node that can take pods is as good, and needs no data move.
    let tolerations = tolerations(c);
    let other = view
        .ix
        .nodes
        .iter()
        .filter(|n| meta_name(&n.metadata) != node_name)
        .find(|n| nodes::unavailability(n, &tolerations).is_empty())
        .map(|n| {
            n.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(HOSTNAME_LABEL))
                .map_or_else(|| meta_name(&n.metadata), String::as_str)
        });
    let repin = match other {
        Some(h) => format!(
            " Or, since no volume is bound yet, pin the workloads to an available node ({HOSTNAME_LABEL}={h}): {}",
            pin_fixes(
                view,
                c.ns,
                c.consumers.iter().map(|con| &con.workload),
                HOSTNAME_LABEL,
                h
            )
        ),
        None => String::new(),
    };
    vec![grouped_hit(
        view,
        c,
        Found {
            id: FindingId::PinNodeUnavailable,
            root: ObjectRef::cluster("Node", node_name),
            summary: format!(
                "the consumers of claim {} are pinned to node {node_name}, which cannot take pods ({why}); no volume is bound yet",
                c.name
            ),
            evidence: ev,
            remediation: format!("Make node {node_name} available: {fixes}.{repin}"),
        },
        format!(
            "{{n}} claims wait for consumers pinned to node {node_name}, which cannot take pods ({why})"
        ),
    )]
}

/// Pending consumers the scheduler rejects for resources.
pub(crate) fn insufficient_resources<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Verdict {
    let mut out = Vec::new();
    let pods: Vec<&'a Pod> = c
        .consumers
        .iter()
        .flat_map(|con| con.pods.iter().copied())
        .filter(|p| is_pending(p))
        .collect();
    for pod in pods {
        if let Some(p) = insufficient_parts(view, pod) {
            let mut ev = vec![pvc_line(c)];
            ev.extend(p.evidence);
            out.push(hit(
                view,
                c,
                Found {
                    id: FindingId::InsufficientResources,
                    root: p.root,
                    summary: p.summary,
                    evidence: ev,
                    remediation: p.remediation,
                },
            ));
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `insufficient-resources` for one pending pod: its requests against the free room of the
/// nodes it may run on, and the scheduler's per-node counts.
pub(crate) fn insufficient_parts<'a>(view: &View<'_, 'a>, pod: &'a Pod) -> Option<Parts> {
    let f = scheduling_failure(view, pod)?;
    let lacking = f.insufficient();
    if lacking.is_empty() {
        return None;
    }
    let spec = pod.spec.as_ref()?;
    let ns = meta_ns(&pod.metadata);
    let pod_name = meta_name(&pod.metadata);
    let want = resources::pod_requests(spec);
    let candidates: Vec<&'a Node> = view
        .ix
        .nodes
        .iter()
        .filter(|n| placement::pod_fits_node(spec, n))
        .copied()
        .collect();
    let mut ev = vec![pod_line(pod)];
    let requests: Vec<String> = resources::RESOURCES
        .iter()
        .filter(|r| want.get(r) > 0.0)
        .map(|r| format!("{r} {}", resources::format_amount(r, want.get(r))))
        .collect();
    ev.push(format!(
        "Pod {ns}/{pod_name} requests {}",
        if requests.is_empty() {
            "nothing (no resources.requests)".to_owned()
        } else {
            requests.join(", ")
        }
    ));
    let mut short: Vec<(String, Room)> = Vec::new();
    for n in candidates.iter().take(3) {
        let name = meta_name(&n.metadata);
        let requested = resources::requested_on(
            name,
            view.ix
                .pods_by_node
                .get(name)
                .into_iter()
                .flatten()
                .copied(),
        );
        let rooms = resources::room(&want, &resources::allocatable(n), &requested);
        if rooms.is_empty() {
            continue;
        }
        ev.push(format!(
            "Node {name}: {}",
            rooms.iter().map(Room::line).collect::<Vec<_>>().join("; ")
        ));
        short.extend(
            rooms
                .into_iter()
                .filter(|r| !r.fits())
                .map(|r| (name.to_owned(), r)),
        );
    }
    if let Some(h) = f.histogram() {
        ev.push(format!("scheduler: {h}"));
    }
    ev.extend(events(view, "Pod", &pod.metadata, &["FailedScheduling"]));
    let names: Vec<&str> = lacking
        .iter()
        .map(|(r, _)| match r {
            crate::diagnose::scheduler::Resource::Pods => "pod slots",
            r => r.as_str(),
        })
        .collect();
    let node = (candidates.len() == 1).then(|| meta_name(&candidates[0].metadata));
    let root = match node {
        Some(n) => ObjectRef::cluster("Node", n),
        None => ObjectRef::namespaced("Pod", ns, pod_name),
    };
    let summary = match node {
        Some(n) => format!(
            "Pod {pod_name} cannot be placed: node {n}, where it is pinned, lacks the {} it requests",
            names.join(" and ")
        ),
        None => format!(
            "Pod {pod_name} cannot be placed: no node has the {} it requests free",
            names.join(" and ")
        ),
    };
    let (kind, wname, wmeta) = match view.ix.top_owner(&pod.metadata) {
        Some((k, m)) => (k, meta_name(m), Some(m)),
        None => (WorkloadKind::Pod, pod_name, None),
    };
    let node_text = node.unwrap_or("the node");
    let fit: Vec<String> = short
        .iter()
        .filter(|(_, r)| r.resource != "pods")
        .map(|(_, r)| {
            format!(
                "{} at most {}",
                r.resource,
                resources::format_amount(&r.resource, r.free().max(0.0))
            )
        })
        .collect();
    let change = if fit.is_empty() {
        format!("lower the pods' requests of {kind} {wname} or run fewer pods on {node_text}")
    } else {
        format!(
            "lower resources.requests of {kind} {wname}'s containers ({})",
            fit.join(", ")
        )
    };
    let set = match kind {
        WorkloadKind::Deployment | WorkloadKind::StatefulSet => {
            let req: Vec<String> = short
                .iter()
                .filter(|(_, r)| r.resource != "pods")
                .map(|(_, r)| {
                    format!(
                        "{}={}",
                        r.resource,
                        resources::format_amount(&r.resource, r.free().max(0.0))
                    )
                })
                .collect();
            if req.is_empty() {
                None
            } else {
                Some(format!(
                    "kubectl -n {ns} set resources {}/{wname} --requests={}",
                    kind.as_str().to_lowercase(),
                    req.join(",")
                ))
            }
        }
        _ => None,
    };
    let kubectl = format!(
        "Free capacity on {node_text} (kubectl describe node {node_text}: \"Allocated resources\" lists what is requested; scale down or delete what you do not need), or {change}{}",
        set.map(|s| format!(": {s}")).unwrap_or_default()
    );
    let confirm = format!(
        "kubectl -n {ns} get {} {wname} -o jsonpath='{{..resources.requests}}'",
        kind.as_str().to_lowercase()
    );
    let fix = template_fix(
        view,
        &format!("{kind} {wname}"),
        wmeta,
        &change,
        &kubectl,
        &confirm,
    );
    let remediation = if fix == kubectl {
        fix
    } else {
        format!(
            "Free capacity on {node_text} (kubectl describe node {node_text}: \"Allocated resources\"), or change the requests. {fix}"
        )
    };
    Some(Parts {
        root,
        summary,
        evidence: ev,
        remediation,
    })
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_cluster::*;

    fn lab(cordoned: bool) -> Vec<serde_json::Value> {
        let mut items = base();
        if cordoned {
            items[2]["spec"] = serde_json::json!({"unschedulable": true, "taints": [
                {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]});
        }
        items.push(claim("models", "Pending", &["ReadWriteOnce"]));
        items.push(deployment("inference", "models", "node-1"));
        items
    }

    #[test]
    fn consumers_pinned_to_a_cordoned_node_are_pin_node_unavailable() {
        let got = ids(lab(true));
        assert!(got.contains(&"pin-node-unavailable"), "{got:?}");
    }

    #[test]
    fn consumers_pinned_to_a_schedulable_node_are_fine() {
        let got = ids(lab(false));
        assert!(!got.contains(&"pin-node-unavailable"), "{got:?}");
    }
}
