//! A pending claim's causes, one function each, judged in the order of `PENDING` in
//! `rules/mod.rs`: a missing class, consumers that fit no node or cannot be placed, a stale
//! selected node, the provisioner, and waiting for a first consumer.

use crate::diagnose::catalogue::FindingId;
use crate::diagnose::engine::claim::{Claim, Consumer, fits_any_node, nodes_known};
use crate::diagnose::engine::evidence::{
    claim_event, event_line, events, has_event, pending_pod_evidence, pvc_line,
};
use crate::diagnose::engine::merge::{Found, grouped_hit, hit};
use crate::diagnose::engine::remedy::reapply;
use crate::diagnose::engine::{SELECTED_NODE, STORAGE_PROVISIONER, STORAGE_PROVISIONER_BETA, View};
use crate::diagnose::finding::ObjectRef;
use crate::diagnose::index::ClassLookup;
use crate::diagnose::rules::Verdict;
use crate::diagnose::rules::pinning::{selector_from_events, selector_matches_no_node};
use crate::diagnose::rules::provisioning::{
    provisioner_not_running, provisioning_failed, waiting_for_consumer,
};
use crate::diagnose::rules::scheduling::unplaceable_consumer;
use crate::k8s::names::name as meta_name;
use crate::k8s::pod::is_pending;

/// The claim's StorageClass is missing, or none is set and there is no default: asked first,
/// even of a claim whose consumers are pinned apart.
pub(crate) fn storageclass_missing<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Verdict {
    let mut out = Vec::new();
    let class = match c.class {
        ClassLookup::Missing(n) => {
            let mut ev = vec![pvc_line(c)];
            ev.extend(events(
                view,
                "PersistentVolumeClaim",
                &c.pvc.metadata,
                &["ProvisioningFailed"],
            ));
            ev.extend(pending_pod_evidence(view, c));
            let existing: Vec<&str> = view
                .ix
                .snapshot
                .storage_classes
                .iter()
                .map(|s| meta_name(&s.metadata))
                .collect();
            out.push(grouped_hit(
                view,
                c,
                Found {
                    id: FindingId::StorageclassMissing,
                    root: ObjectRef::cluster("StorageClass", n),
                    summary: format!(
                        "PersistentVolumeClaim {} uses StorageClass {n}, which does not exist",
                        c.name
                    ),
                    evidence: ev,
                    remediation: format!(
                        "Install the provisioner that creates StorageClass {n}, or set spec.storageClassName to an existing class ({}) in the manifest \
                     and recreate the claim (immutable): kubectl -n {ns} delete pvc {name}{reapply}",
                        if existing.is_empty() {
                            "none exists".to_owned()
                        } else {
                            existing.join(", ")
                        },
                        reapply = reapply(view, c),
                        ns = c.ns,
                        name = c.name,
                    ),
                },
                format!("{{n}} claims use StorageClass {n}, which does not exist"),
            ));
            return Some(out);
        }
        ClassLookup::NoDefault => {
            let mut ev = vec![pvc_line(c)];
            ev.extend(events(
                view,
                "PersistentVolumeClaim",
                &c.pvc.metadata,
                &["FailedBinding"],
            ));
            out.push(hit(
                view,
                c,
                Found {
                    id: FindingId::StorageclassMissing,
                    root: c.reference(),
                    summary: format!(
                        "PersistentVolumeClaim {} sets no StorageClass and the cluster has no default class",
                        c.name
                    ),
                    evidence: ev,
                    remediation: format!(
                        "Set spec.storageClassName: {} in the manifest (and recreate the claim), or mark a default class: \
                     kubectl patch storageclass {} -p '{{\"metadata\":{{\"annotations\":{{\"storageclass.kubernetes.io/is-default-class\":\"true\"}}}}}}'",
                        view.config.storage_class, view.config.storage_class
                    ),
                },
            ));
            return Some(out);
        }
        ClassLookup::NoClass | ClassLookup::Unknown(_) => None,
        ClassLookup::Found(sc) => Some(sc),
    };
    // The same message from the provisioner proves a missing class even when the class list
    // was not readable.
    if let Some(e) = claim_event(view, c, "ProvisioningFailed", |m| {
        m.contains("storageclass.storage.k8s.io") && m.contains("not found")
    }) {
        let name = e.message.split('"').nth(1).unwrap_or("?").to_owned();
        if class.is_none() {
            let ev = vec![
                pvc_line(c),
                event_line("PersistentVolumeClaim", c.ns, c.name, e),
            ];
            out.push(hit(
                view,
                c,
                Found {
                    id: FindingId::StorageclassMissing,
                    root: ObjectRef::cluster("StorageClass", &name),
                    summary: format!(
                        "PersistentVolumeClaim {} uses StorageClass {name}, which does not exist",
                        c.name
                    ),
                    evidence: ev,
                    remediation: format!(
                        "Create StorageClass {name} or point the claim at an existing class"
                    ),
                },
            ));
            return Some(out);
        }
    }
    None
}

/// The node the scheduler selected for the claim's volume, if any.
fn selected<'c>(c: &'c Claim<'_>) -> Option<&'c str> {
    c.annotation(SELECTED_NODE).filter(|s| !s.is_empty())
}

/// Consumers that fit no node: nothing can ever be scheduled.
pub(crate) fn consumers_fit_no_node<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Verdict {
    if selected(c).is_some() || !nodes_known(view) {
        return None;
    }
    let none: Vec<&Consumer<'a>> = c
        .consumers
        .iter()
        .filter(|con| con.workload.idle.is_none() && !fits_any_node(view, con.workload.spec))
        .collect();
    if none.is_empty() {
        return None;
    }
    Some(selector_matches_no_node(view, c, &none))
}

/// Without nodes in the snapshot, the scheduler's events say that a selector matches no node.
pub(crate) fn no_node_by_events<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Verdict {
    if nodes_known(view) || selected(c).is_some() {
        return None;
    }
    selector_from_events(view, c)
}

/// A consumer the scheduler cannot place (its pin node down, or short of resources) is why
/// the claim waits: say that rather than "waiting for its first consumer".
pub(crate) fn consumer_unplaceable<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Verdict {
    if selected(c).is_some() {
        return None;
    }
    unplaceable_consumer(view, c)
}

/// No class to judge the rest by (unset on purpose, or not in the snapshot): the PV
/// controller's own event still says whether the claim merely waits for its first consumer.
pub(crate) fn class_unknown<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Verdict {
    let mut out = Vec::new();
    if c.class().is_some() {
        return None;
    }
    if matches!(c.class, ClassLookup::Unknown(_))
        && selected(c).is_none()
        && has_event(
            view,
            "PersistentVolumeClaim",
            &c.pvc.metadata,
            "WaitForFirstConsumer",
        )
    {
        out.extend(waiting_for_consumer(view, c));
    }
    Some(out)
}

/// A selected node that is gone (state), or the provisioner saying so (event: it has already
/// cleared the annotation).
pub(crate) fn selected_node_stale<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Verdict {
    let mut out = Vec::new();
    let not_found = |m: &str| m.contains("node \"") && m.contains("\" not found");
    let stale = match selected(c) {
        Some(n) if nodes_known(view) && !view.ix.node_by_name.contains_key(n) => Some(n.to_owned()),
        Some(_) => None,
        None => claim_event(view, c, "ProvisioningFailed", not_found)
            .and_then(|e| {
                e.message
                    .split("node \"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
            })
            .filter(|n| nodes_known(view) && !view.ix.node_by_name.contains_key(*n))
            .map(str::to_owned),
    };
    if let Some(n) = stale {
        let mut ev = vec![pvc_line(c)];
        if nodes_known(view) {
            ev.push(format!(
                "no Node {n}; nodes: {}",
                view.ix
                    .nodes
                    .iter()
                    .map(|x| meta_name(&x.metadata))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        ev.extend(events(
            view,
            "PersistentVolumeClaim",
            &c.pvc.metadata,
            &["ProvisioningFailed"],
        ));
        ev.extend(pending_pod_evidence(view, c));
        let restart: Vec<String> = c
            .live_pods()
            .filter(|p| is_pending(p))
            .map(|p| format!("kubectl -n {} delete pod {}", c.ns, meta_name(&p.metadata)))
            .collect();
        out.push(grouped_hit(
            view,
            c,
            Found {
                id: FindingId::SelectedNodeStale,
                root: ObjectRef::cluster("Node", &n),
                summary: format!(
                    "PersistentVolumeClaim {} was scheduled to node {n}, which no longer exists",
                    c.name
                ),
                evidence: ev,
                remediation: format!(
                    "Clear the stale selection so the scheduler picks an existing node: kubectl -n {ns} annotate pvc {name} {SELECTED_NODE}-{}; \
                 make sure no consumer is pinned to {n}.",
                    if restart.is_empty() {
                        String::new()
                    } else {
                        format!(" && {}", restart.join(" && "))
                    },
                    ns = c.ns,
                    name = c.name,
                ),
            },
            format!("{{n}} claims were scheduled to node {n}, which no longer exists"),
        ));
        return Some(out);
    }
    None
}

/// Whether the claim asked for a volume: a node is selected, the class binds at once, or a
/// provisioner was named. A WaitForFirstConsumer claim that has not is waiting for its first
/// consumer.
fn provisioning_requested(c: &Claim<'_>) -> bool {
    selected(c).is_some()
        || !c.wait_for_first_consumer()
        || c.annotation(STORAGE_PROVISIONER).is_some()
        || c.annotation(STORAGE_PROVISIONER_BETA).is_some()
}

/// The provisioner of a claim that asked for a volume is not running.
pub(crate) fn provisioner_stopped<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Verdict {
    let sc = c.class()?;
    if !provisioning_requested(c) {
        return None;
    }
    provisioner_not_running(view, c, sc)
}

/// The provisioner ran for a claim that asked for a volume, and failed.
pub(crate) fn provisioner_failed<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Verdict {
    let sc = c.class()?;
    if !provisioning_requested(c) {
        return None;
    }
    provisioning_failed(view, c, sc)
}

/// A WaitForFirstConsumer claim that has asked for nothing yet: `pvc-waiting-for-consumer`
/// (or, when its consumers are all idle, `pvc-consumers-idle`).
pub(crate) fn waiting_for_first_consumer<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Verdict {
    if provisioning_requested(c) {
        return None;
    }
    Some(waiting_for_consumer(view, c))
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_cluster::*;

    fn lab(class: &str) -> Vec<serde_json::Value> {
        let mut items = base();
        let mut c = claim("models", "Pending", &["ReadWriteOnce"]);
        c["spec"]["storageClassName"] = class.into();
        items.push(c);
        items.push(deployment("inference", "models", "node-1"));
        items
    }

    #[test]
    fn a_claim_of_a_class_that_does_not_exist_is_storageclass_missing() {
        assert!(ids(lab("local-pth")).contains(&"storageclass-missing"));
    }

    #[test]
    fn a_claim_of_an_existing_class_is_not() {
        assert!(!ids(lab("local-path")).contains(&"storageclass-missing"));
    }
}
