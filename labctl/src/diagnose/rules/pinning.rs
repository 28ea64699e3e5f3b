//! Consumers pinned where the volume cannot follow: `consumers-pinned-to-different-nodes` and
//! `node-selector-matches-no-node`.

use crate::diagnose::catalogue::FindingId;
use crate::diagnose::engine::View;
use crate::diagnose::engine::claim::{Claim, Consumer, is_node_local, nodes_known};
use crate::diagnose::engine::evidence::{
    events, pending_pod_evidence, pv_line, pvc_line, scheduling_failure, workload_line,
};
use crate::diagnose::engine::merge::{Found, Hit, hit};
use crate::diagnose::engine::remedy::pin_fixes;
use crate::diagnose::rules::Verdict;
use crate::diagnose::scheduler::ReasonKind;
use crate::k8s::names::name as meta_name;
use crate::k8s::pod::is_pending;
use crate::k8s::{HOSTNAME_LABEL, placement};

/// Two consumers of a node-local claim that can never be on one node.
pub(crate) fn consumers_pinned<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Verdict {
    let active: Vec<&Consumer<'a>> = c.consumers.iter().collect();
    if active.len() < 2 || !is_node_local(view, c) {
        return None;
    }
    let candidates: Vec<Vec<&str>> = active
        .iter()
        .map(|con| {
            view.ix
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
            let disjoint = nodes_known(view)
                && !candidates[i].is_empty()
                && !candidates[j].is_empty()
                && !candidates[i].iter().any(|n| candidates[j].contains(n));
            // With the nodes at hand they decide (a selector that matches no node at all is
            // node-selector-matches-no-node, a typo rather than two different pins);
            // without them, two values for one label key cannot meet on any node.
            if (nodes_known(view) && disjoint) || (!nodes_known(view) && selector_conflict) {
                apart = true;
            }
        }
    }
    if !apart {
        return None;
    }
    let pv = c
        .volume_name()
        .and_then(|v| view.ix.pv_by_name.get(v).copied());
    let mut ev = vec![pvc_line(c)];
    if let Some(pv) = pv {
        ev.push(pv_line(pv));
    }
    ev.extend(active.iter().map(|con| workload_line(&con.workload)));
    ev.extend(pending_pod_evidence(view, c));
    // The node to pin to: where the volume is, else the lab's pin, else the first consumer's.
    let target = pv
        .and_then(placement::pv_pin)
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .or_else(|| {
            view.config
                .pin_label_value
                .clone()
                .map(|v| (view.config.pin_label_key.clone(), v))
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
            let fix = pin_fixes(
                view,
                c.ns,
                active
                    .iter()
                    .filter(|con| {
                        con.workload
                            .spec
                            .node_selector
                            .as_ref()
                            .is_none_or(|s| s.get(k) != Some(v))
                    })
                    .map(|con| &con.workload),
                k,
                v,
            );
            format!(
                "A node-local volume can serve one node only: pin every consumer of {} to the same node{}: {}",
                c.name,
                if pv.is_some() {
                    format!(" (the volume is on {k}={v})")
                } else {
                    String::new()
                },
                fix
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
    Some(vec![hit(
        view,
        c,
        Found {
            id: FindingId::ConsumersPinnedToDifferentNodes,
            root: c.reference(),
            summary: format!(
                "{} share node-local PersistentVolumeClaim {} but are pinned to different nodes",
                names.join(" and "),
                c.name
            ),
            evidence: ev,
            remediation,
        },
    )])
}

pub(crate) fn selector_matches_no_node<'a>(
    view: &View<'_, 'a>,
    c: &Claim<'a>,
    cons: &[&Consumer<'a>],
) -> Vec<Hit> {
    let mut ev = vec![pvc_line(c)];
    ev.extend(cons.iter().map(|con| workload_line(&con.workload)));
    ev.extend(pending_pod_evidence(view, c));
    ev.extend(events(
        view,
        "PersistentVolumeClaim",
        &c.pvc.metadata,
        &["WaitForPodScheduled"],
    ));
    // The node the consumers should go to: where the volume lives, else the lab's pin if
    // such a node exists.
    let pv_node = c
        .volume_name()
        .and_then(|n| view.ix.pv_by_name.get(n))
        .and_then(|pv| {
            view.ix
                .nodes
                .iter()
                .find(|n| placement::pv_fits_node(pv, n))
        })
        .copied();
    let target = pv_node.or_else(|| {
        let want = view.config.pin_label_value.as_deref()?;
        view.ix.nodes.iter().copied().find(|n| {
            n.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(&view.config.pin_label_key))
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
                    Some(t) => fixes.push(pin_fixes(view, c.ns, [&con.workload], k, t)),
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
    vec![hit(
        view,
        c,
        Found {
            id: FindingId::NodeSelectorMatchesNoNode,
            root: c.reference(),
            summary: format!(
                "{} of claim {} can run on no node ({})",
                names.join(" and "),
                c.name,
                pins.join("; ")
            ),
            evidence: ev,
            remediation: format!(
                "No node carries the labels the consumers require: {}",
                fixes.join("; ")
            ),
        },
    )]
}

/// Without nodes in the snapshot: pending consumers that the scheduler rejected on every
/// node for their node affinity/selector.
pub(crate) fn selector_from_events<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Verdict {
    let stuck: Vec<&Consumer<'a>> = c
        .consumers
        .iter()
        .filter(|con| {
            con.pods.iter().any(|p| {
                is_pending(p)
                    && scheduling_failure(view, p)
                        .is_some_and(|f| f.all_nodes(ReasonKind::NodeAffinitySelectorMismatch))
            })
        })
        .collect();
    if stuck.is_empty() {
        return None;
    }
    Some(selector_matches_no_node(view, c, &stuck))
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_cluster::*;

    fn lab(trainer_pin: &str) -> Vec<serde_json::Value> {
        let mut items = base();
        items.push(claim("models", "Pending", &["ReadWriteOnce"]));
        items.push(deployment("inference", "models", "node-1"));
        items.push(deployment("trainer", "models", trainer_pin));
        items
    }

    #[test]
    fn consumers_pinned_to_two_nodes_are_found() {
        assert!(ids(lab("node-2")).contains(&"consumers-pinned-to-different-nodes"));
    }

    #[test]
    fn consumers_pinned_to_one_node_are_fine() {
        let got = ids(lab("node-1"));
        assert!(
            !got.contains(&"consumers-pinned-to-different-nodes"),
            "{got:?}"
        );
    }

    #[test]
    fn a_selector_no_node_matches_is_found() {
        let got = ids(lab("node-1"));
        assert!(!got.contains(&"node-selector-matches-no-node"), "{got:?}");
        let mut items = base();
        items.push(claim("models", "Pending", &["ReadWriteOnce"]));
        items.push(deployment("inference", "models", "nod-1"));
        assert!(ids(items).contains(&"node-selector-matches-no-node"));
    }
}
