//! A bound claim whose volume's node is gone, unavailable or elsewhere than its consumers:
//! `pv-node-missing`, `pv-node-unavailable`, `pv-node-affinity-conflict`. The claim's volume
//! and the nodes that hold it are found once ([`bound`]); its causes are one function each of
//! that state, judged in the order of the `BOUND` table in `rules/mod.rs` (first that fires
//! wins).

use crate::diagnose::engine::View;
use crate::diagnose::engine::claim::{Claim, Consumer, fits_any_node, nodes_known, tolerations};
use crate::diagnose::engine::evidence::{
    events, join, node_line, pending_pod_evidence, pv_line, pvc_line, scheduling_failure,
    workload_line,
};
use crate::diagnose::engine::merge::{Found, Hit, grouped_hit, hit};
use crate::diagnose::engine::remedy::{pin_fixes, reapply, rerun_hint};
use crate::diagnose::rules::Verdict;
use crate::diagnose::rules::lifecycle::pvc_lost;
use crate::diagnose::rules::pinning::selector_matches_no_node;
use crate::diagnose::rules::scheduling::insufficient_resources;
use crate::k8s::model::{PersistentVolume, Pod};
use crate::k8s::pod::is_pending;
use k8s_openapi::api::core::v1::Node;

use crate::diagnose::catalogue::FindingId;
use crate::diagnose::finding::ObjectRef;
use crate::diagnose::scheduler::ReasonKind;
use crate::k8s::names::name as meta_name;
use crate::k8s::{HOSTNAME_LABEL, Unavailable, nodes, placement};

/// What the causes of a bound claim share, computed once before they are asked.
pub(crate) struct Bound<'a> {
    /// The claim's node-local volume.
    pub(crate) pv: &'a PersistentVolume,
    /// The nodes that hold it (whose labels its node affinity matches): none when no node
    /// does, or when the snapshot holds no nodes.
    pub(crate) nodes: Vec<&'a Node>,
    /// The claim's consumers are pinned to different nodes (that is its own finding).
    pub(crate) pinned: bool,
}

/// The state a bound claim's causes are judged on; `Err` with what was said when there is
/// nothing to judge: no volume named, a volume that is not node-local, or one that no longer
/// exists (the claim is then lost, which is said here).
pub(crate) fn bound<'a>(
    view: &View<'_, 'a>,
    c: &Claim<'a>,
    pinned: bool,
) -> Result<Bound<'a>, Vec<Hit>> {
    let Some(v) = c.volume_name() else {
        return Err(Vec::new());
    };
    let Some(pv) = view.ix.pv_by_name.get(v).copied() else {
        // Bound to a volume that no longer exists: the PV controller will mark it Lost. A
        // snapshot without any PersistentVolume says nothing about volumes, though.
        if view.ix.pv_by_name.is_empty() {
            return Err(Vec::new());
        }
        return Err(pvc_lost(view, c, Some(v)));
    };
    if placement::pv_affinity(pv).is_none() {
        return Err(Vec::new());
    }
    Ok(Bound {
        pv,
        nodes: placement::volume_nodes(pv, &view.ix.nodes),
        pinned,
    })
}

/// No node in the snapshot: only the scheduler's events can tell, and no cause after this one
/// is asked (each needs the nodes).
pub(crate) fn without_nodes<'a>(view: &View<'_, 'a>, c: &Claim<'a>, b: &Bound<'a>) -> Verdict {
    if nodes_known(view) {
        return None;
    }
    Some(bound_from_events(view, c, b.pv, b.pinned).unwrap_or_default())
}

/// `pv-node-missing`: no node holds the volume.
pub(crate) fn node_missing<'a>(view: &View<'_, 'a>, c: &Claim<'a>, b: &Bound<'a>) -> Verdict {
    if !b.nodes.is_empty() {
        return None;
    }
    Some(pv_node_missing(view, c, b.pv))
}

/// `pv-node-unavailable`: every node that holds the volume cannot run the claim's consumers
/// (NotReady, cordoned, tainted against them).
pub(crate) fn node_unavailable<'a>(view: &View<'_, 'a>, c: &Claim<'a>, b: &Bound<'a>) -> Verdict {
    let pv = b.pv;
    let pv_name = meta_name(&pv.metadata);
    let tolerations = tolerations(c);
    let problems: Vec<(&Node, Vec<Unavailable>)> = b
        .nodes
        .iter()
        .map(|n| (*n, nodes::unavailability(n, &tolerations)))
        .collect();
    let every_one_unavailable = problems.iter().all(|(_, why)| !why.is_empty());
    if problems.is_empty() || !every_one_unavailable || c.consumers.is_empty() {
        return None;
    }
    let (node, why) = &problems[0];
    let node_name = meta_name(&node.metadata);
    let mut ev = vec![pvc_line(c), pv_line(pv), node_line(node, why)];
    ev.extend(events(
        view,
        "Node",
        &node.metadata,
        &["NodeNotReady", "NodeNotSchedulable"],
    ));
    ev.extend(pending_pod_evidence(view, c));
    let fixes: Vec<String> = why.iter().map(|w| w.fix(node_name)).collect();
    let why = join(why);
    Some(vec![grouped_hit(
        view,
        c,
        Found {
            id: FindingId::PvNodeUnavailable,
            root: ObjectRef::cluster("Node", node_name),
            summary: format!(
                "PersistentVolume {pv_name} of claim {} lives on node {node_name}, which cannot run its consumers: {}",
                c.name, why
            ),
            evidence: ev,
            remediation: format!(
                "The volume exists only on {node_name}; {}.",
                fixes.join("; ")
            ),
        },
        format!(
            "Node {node_name} holds the volumes of {{n}} claims and cannot run their consumers: {why}"
        ),
    )])
}

/// Consumers pinned to different nodes: that finding alone is said, no cause after it.
pub(crate) fn pinned_apart<'a>(_: &View<'_, 'a>, _: &Claim<'a>, b: &Bound<'a>) -> Verdict {
    b.pinned.then(Vec::new)
}

/// The consumers that can never reach a node holding the volume: those that fit no node at
/// all, and those that fit another.
fn misplaced<'c, 'a>(
    view: &View<'_, 'a>,
    c: &'c Claim<'a>,
    b: &Bound<'a>,
) -> (Vec<&'c Consumer<'a>>, Vec<&'c Consumer<'a>>) {
    c.consumers
        .iter()
        .filter(|con| {
            !b.nodes
                .iter()
                .any(|n| placement::pod_fits_node(con.workload.spec, n))
        })
        .partition(|con| !fits_any_node(view, con.workload.spec))
}

/// A consumer whose node selector matches no node at all.
pub(crate) fn consumers_fit_no_node<'a>(
    view: &View<'_, 'a>,
    c: &Claim<'a>,
    b: &Bound<'a>,
) -> Verdict {
    let (no_node, _) = misplaced(view, c, b);
    if no_node.is_empty() {
        return None;
    }
    Some(selector_matches_no_node(view, c, &no_node))
}

/// `pv-node-affinity-conflict`: consumers that fit a node, but none that holds the volume.
pub(crate) fn consumers_elsewhere<'a>(
    view: &View<'_, 'a>,
    c: &Claim<'a>,
    b: &Bound<'a>,
) -> Verdict {
    let (_, elsewhere) = misplaced(view, c, b);
    if elsewhere.is_empty() {
        return None;
    }
    let (pv, pv_nodes) = (b.pv, &b.nodes);
    let pv_name = meta_name(&pv.metadata);
    let (k, val) =
        placement::pv_pin(pv).unwrap_or((HOSTNAME_LABEL, meta_name(&pv_nodes[0].metadata)));
    let mut ev = vec![pvc_line(c), pv_line(pv)];
    ev.extend(elsewhere.iter().map(|con| workload_line(&con.workload)));
    ev.extend(pending_pod_evidence(view, c));
    let fix = pin_fixes(
        view,
        c.ns,
        elsewhere.iter().map(|con| &con.workload),
        k,
        val,
    );
    let names: Vec<String> = elsewhere
        .iter()
        .map(|con| format!("{} {}", con.workload.kind, con.workload.name))
        .collect();
    let remediation = format!(
        "Pin the consumers to the node that holds the volume ({k}={val}): {}. \
         Or, if the data is disposable, delete the claim and its volume and let it be provisioned again on the consumers' node: \
         kubectl -n {ns} delete pvc {name} && kubectl delete pv {pv_name}{reapply}",
        fix,
        reapply = reapply(view, c),
        ns = c.ns,
        name = c.name,
    );
    Some(vec![hit(
        view,
        c,
        Found {
            id: FindingId::PvNodeAffinityConflict,
            root: c.reference(),
            summary: format!(
                "{} pinned away from {k}={val}, the only node that has PersistentVolume {pv_name} of claim {}",
                if names.len() == 1 {
                    format!("{} is", names[0])
                } else {
                    format!("{} are", names.join(" and "))
                },
                c.name
            ),
            evidence: ev,
            remediation,
        },
    )])
}

/// State says fine; a pending pod may still say otherwise (e.g. the hostname label changed
/// under a running pod): its scheduler's volume node affinity conflict.
pub(crate) fn scheduler_conflict<'a>(view: &View<'_, 'a>, c: &Claim<'a>, b: &Bound<'a>) -> Verdict {
    bound_from_events(view, c, b.pv, b.pinned)
}

/// Last: the scheduler rejects the pending consumers for resources.
pub(crate) fn short_of_resources<'a>(view: &View<'_, 'a>, c: &Claim<'a>, _: &Bound<'a>) -> Verdict {
    insufficient_resources(view, c)
}

/// Without nodes in the snapshot (or when state shows nothing), read the scheduler: a hit
/// when it reports a volume node affinity conflict.
fn bound_from_events<'a>(
    view: &View<'_, 'a>,
    c: &Claim<'a>,
    pv: &'a PersistentVolume,
    pinned: bool,
) -> Verdict {
    let mut out = Vec::new();
    if pinned {
        return None;
    }
    let stuck: Vec<&Pod> = c
        .live_pods()
        .filter(|p| is_pending(p))
        .filter(|p| {
            scheduling_failure(view, p).is_some_and(|f| {
                f.count(ReasonKind::VolumeNodeAffinityConflict) > 0
                    || f.count(ReasonKind::VolumeBindingPlugin) > 0
            })
        })
        .collect();
    if stuck.is_empty() {
        return None;
    }
    let every_node = stuck.iter().all(|p| {
        scheduling_failure(view, p)
            .is_some_and(|f| f.all_nodes(ReasonKind::VolumeNodeAffinityConflict))
    });
    if every_node && !nodes_known(view) {
        out.extend(pv_node_missing(view, c, pv));
        return Some(out);
    }
    let pv_name = meta_name(&pv.metadata);
    let mut ev = vec![pvc_line(c), pv_line(pv)];
    ev.extend(pending_pod_evidence(view, c));
    let (k, val) = placement::pv_pin(pv).unwrap_or((HOSTNAME_LABEL, "<node of the volume>"));
    let fix = pin_fixes(
        view,
        c.ns,
        c.consumers
            .iter()
            .filter(|con| con.pods.iter().any(|p| stuck.contains(p)))
            .map(|con| &con.workload),
        k,
        val,
    );
    out.push(hit(
        view,
        c,
        Found {
            id: FindingId::PvNodeAffinityConflict,
            root: c.reference(),
            summary: format!(
                "the scheduler reports a volume node affinity conflict for claim {}: its volume {pv_name} is on {k}={val}",
                c.name
            ),
            evidence: ev,
            remediation: format!("Pin the consumers to {k}={val}: {fix}"),
        },
    ));
    Some(out)
}

fn pv_node_missing<'a>(view: &View<'_, 'a>, c: &Claim<'a>, pv: &'a PersistentVolume) -> Vec<Hit> {
    let pv_name = meta_name(&pv.metadata);
    let (k, val) = placement::pv_pin(pv).unwrap_or((HOSTNAME_LABEL, "?"));
    let mut ev = vec![pvc_line(c), pv_line(pv)];
    // A node with that name whose hostname label differs is the usual rename trap.
    let renamed = view.ix.node_by_name.get(val).copied();
    if let Some(node) = renamed {
        ev.push(node_line(node, &[]));
    } else if nodes_known(view) {
        let names: Vec<&str> = view
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
    ev.extend(pending_pod_evidence(view, c));
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
             kubectl -n {ns} delete pvc {name} && kubectl delete pv {pv_name}{reapply}{rerun}",
            reapply = reapply(view, c),
            ns = c.ns,
            name = c.name,
            rerun = rerun_hint(c),
        ),
    };
    vec![grouped_hit(
        view,
        c,
        Found {
            id: FindingId::PvNodeMissing,
            root: ObjectRef::cluster("Node", val),
            summary: format!(
                "PersistentVolume {pv_name} of claim {} is pinned to {k}={val}, which matches no node",
                c.name
            ),
            evidence: ev,
            remediation,
        },
        format!("{{n}} volumes are pinned to {k}={val}, which matches no node"),
    )]
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_cluster::*;

    fn lab(pv_host: &str, pin: &str) -> Vec<serde_json::Value> {
        let mut items = base();
        items.push(claim("models", "Bound", &["ReadWriteOnce"]));
        items.push(volume("models", pv_host));
        items.push(deployment("inference", "models", pin));
        items
    }

    #[test]
    fn a_volume_on_a_node_that_is_gone_is_pv_node_missing() {
        assert!(ids(lab("node-9", "node-9")).contains(&"pv-node-missing"));
    }

    #[test]
    fn a_consumer_pinned_away_from_its_volume_is_a_conflict() {
        assert!(ids(lab("node-2", "node-1")).contains(&"pv-node-affinity-conflict"));
    }

    #[test]
    fn a_volume_and_its_consumer_on_one_node_are_fine() {
        let got = ids(lab("node-1", "node-1"));
        for id in [
            "pv-node-missing",
            "pv-node-unavailable",
            "pv-node-affinity-conflict",
        ] {
            assert!(!got.contains(&id), "{id} in {got:?}");
        }
    }

    #[test]
    fn a_volume_on_a_cordoned_node_is_pv_node_unavailable_and_nothing_after() {
        let mut items = lab("node-1", "node-1");
        for o in &mut items {
            if o["kind"] == "Node" && o["metadata"]["name"] == "node-1" {
                o["spec"] = serde_json::json!({"unschedulable": true});
            }
        }
        assert_eq!(ids(items), ["pv-node-unavailable"]);
    }

    #[test]
    fn without_nodes_only_the_scheduler_could_tell_and_it_said_nothing() {
        let items: Vec<_> = lab("node-2", "node-1")
            .into_iter()
            .filter(|o| o["kind"] != "Node")
            .collect();
        let got = ids(items);
        assert!(!got.contains(&"pv-node-affinity-conflict"), "{got:?}");
        assert!(!got.contains(&"pv-node-missing"), "{got:?}");
    }
}
