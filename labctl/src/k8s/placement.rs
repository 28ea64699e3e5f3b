//! Where a pod or a volume may run, as the scheduler decides it: `nodeName`, `nodeSelector` and
//! required node affinity of a pod, the required node affinity of a PersistentVolume (matched in
//! full: every operator, every term, `matchFields`), and how a pin reads in evidence.

use std::collections::BTreeMap;

use crate::k8s::model::{PersistentVolume, PodSpec};
use k8s_openapi::api::core::v1::{Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm};

use super::names::name as node_name_of;

fn labels(node: &Node) -> Option<&BTreeMap<String, String>> {
    node.metadata.labels.as_ref()
}

fn node_name(node: &Node) -> &str {
    node_name_of(&node.metadata)
}

/// One `matchExpressions` / `matchFields` requirement (`In`, `NotIn`, `Exists`, `DoesNotExist`,
/// `Gt`, `Lt`), as `k8s.io/component-helpers/scheduling/corev1/nodeaffinity`.
fn requirement_matches(req: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = req.values.as_deref().unwrap_or_default();
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| values.iter().all(|x| x != v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if req.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        // An unknown operator matches nothing (the API server rejects it anyway).
        _ => false,
    }
}

/// A term matches when all its requirements do; an empty term matches nothing.
fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = labels(node);
    exprs
        .iter()
        .all(|r| requirement_matches(r, labels.and_then(|l| l.get(&r.key)).map(String::as_str)))
        && fields.iter().all(|r| {
            // `metadata.name` is the only supported field.
            let v = (r.key == "metadata.name").then(|| node_name(node));
            requirement_matches(r, v)
        })
}

/// Terms are ORed.
pub fn node_selector_matches(selector: &NodeSelector, node: &Node) -> bool {
    selector
        .node_selector_terms
        .iter()
        .any(|t| term_matches(t, node))
}

fn required_affinity(spec: &PodSpec) -> Option<&NodeSelector> {
    spec.affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()
}

/// Whether a pod with `spec` may run on `node` as far as node labels and names go (taints and
/// readiness are [`unavailability`]'s business).
pub fn pod_fits_node(spec: &PodSpec, node: &Node) -> bool {
    if let Some(name) = spec.node_name.as_deref().filter(|n| !n.is_empty())
        && name != node_name(node)
    {
        return false;
    }
    if let Some(sel) = &spec.node_selector {
        let labels = labels(node);
        if !sel
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        {
            return false;
        }
    }
    required_affinity(spec).is_none_or(|a| node_selector_matches(a, node))
}

/// Whether the pod is pinned at all (nodeName, nodeSelector or required node affinity).
pub fn is_pinned(spec: &PodSpec) -> bool {
    spec.node_name.as_deref().is_some_and(|n| !n.is_empty())
        || spec.node_selector.as_ref().is_some_and(|s| !s.is_empty())
        || required_affinity(spec).is_some()
}

/// The PV's required node affinity, if it has one (local and local-path volumes do).
pub fn pv_affinity(pv: &PersistentVolume) -> Option<&NodeSelector> {
    pv.spec.as_ref()?.node_affinity.as_ref()?.required.as_ref()
}

pub fn pv_fits_node(pv: &PersistentVolume, node: &Node) -> bool {
    pv_affinity(pv).is_none_or(|a| node_selector_matches(a, node))
}

/// `key In [a, b]` for every requirement, terms joined with ` or `.
pub fn describe_selector(sel: &NodeSelector) -> String {
    let terms: Vec<String> = sel
        .node_selector_terms
        .iter()
        .map(|t| {
            let reqs = t
                .match_expressions
                .iter()
                .flatten()
                .chain(t.match_fields.iter().flatten());
            reqs.map(describe_requirement)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    terms.join(" or ")
}

fn describe_requirement(r: &NodeSelectorRequirement) -> String {
    match r.values.as_deref() {
        Some(v) if !v.is_empty() => format!("{} {} [{}]", r.key, r.operator, v.join(", ")),
        _ => format!("{} {}", r.key, r.operator),
    }
}

/// How a pod is pinned, for evidence: `nodeSelector kubernetes.io/hostname=lab-node-2`.
pub fn describe_pin(spec: &PodSpec) -> String {
    let mut parts = Vec::new();
    if let Some(n) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        parts.push(format!("nodeName {n}"));
    }
    if let Some(sel) = spec.node_selector.as_ref().filter(|s| !s.is_empty()) {
        let kv: Vec<String> = sel.iter().map(|(k, v)| format!("{k}={v}")).collect();
        parts.push(format!("nodeSelector {}", kv.join(",")));
    }
    if let Some(a) = required_affinity(spec) {
        parts.push(format!("required node affinity {}", describe_selector(a)));
    }
    if parts.is_empty() {
        "not pinned".to_owned()
    } else {
        parts.join("; ")
    }
}

/// The `(key, value)` a PV is pinned to when its affinity is the simple `key In [value]` that
/// local-path writes: what the remediation pins consumers to.
pub fn pv_pin(pv: &PersistentVolume) -> Option<(&str, &str)> {
    let sel = pv_affinity(pv)?;
    let term = sel.node_selector_terms.first()?;
    let req = term
        .match_expressions
        .as_ref()?
        .iter()
        .find(|r| r.operator == "In")?;
    let value = req.values.as_ref()?.first()?;
    Some((req.key.as_str(), value.as_str()))
}

/// The nodes that hold a volume: those its required node affinity matches (every node when it
/// has none).
pub fn volume_nodes<'n>(pv: &PersistentVolume, nodes: &[&'n Node]) -> Vec<&'n Node> {
    nodes
        .iter()
        .copied()
        .filter(|n| pv_fits_node(pv, n))
        .collect()
}

/// The value of the `key` label a pod spec's `nodeSelector` pins it to.
pub fn node_selector_value<'s>(spec: Option<&'s PodSpec>, key: &str) -> Option<&'s str> {
    spec?.node_selector.as_ref()?.get(key).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Affinity, NodeAffinity};

    use crate::k8s::HOSTNAME_LABEL;
    use crate::k8s::nodes::tests::node;

    fn host_in(values: &[&str]) -> NodeSelector {
        NodeSelector {
            node_selector_terms: vec![NodeSelectorTerm {
                match_expressions: Some(vec![NodeSelectorRequirement {
                    key: HOSTNAME_LABEL.into(),
                    operator: "In".into(),
                    values: Some(values.iter().map(|v| (*v).to_owned()).collect()),
                }]),
                match_fields: None,
            }],
        }
    }

    #[test]
    fn selector_and_affinity() {
        let n1 = node("lab-node-1", "lab-node-1");
        let mut spec = PodSpec {
            node_selector: Some([(HOSTNAME_LABEL.to_owned(), "lab-node-1".to_owned())].into()),
            ..Default::default()
        };
        assert!(pod_fits_node(&spec, &n1));
        spec.affinity = Some(Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(host_in(&["lab-node-2"])),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert!(!pod_fits_node(&spec, &n1));
        assert!(node_selector_matches(&host_in(&["lab-node-1", "x"]), &n1));
        // The hostname label, not the node name, is what PV affinity matches.
        assert!(!node_selector_matches(
            &host_in(&["lab-node-1"]),
            &node("lab-node-1", "other")
        ));
    }

    #[test]
    fn a_volume_is_on_every_node_its_affinity_matches_not_only_by_hostname() {
        let mut zone_a = node("n1", "n1");
        zone_a
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert("zone".into(), "a".into());
        let other = node("n2", "n2");
        let pv = PersistentVolume {
            spec: Some(crate::k8s::model::PersistentVolumeSpec {
                node_affinity: Some(k8s_openapi::api::core::v1::VolumeNodeAffinity {
                    required: Some(NodeSelector {
                        node_selector_terms: vec![NodeSelectorTerm {
                            match_expressions: Some(vec![NodeSelectorRequirement {
                                key: "zone".into(),
                                operator: "In".into(),
                                values: Some(vec!["a".into()]),
                            }]),
                            match_fields: None,
                        }],
                    }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let held: Vec<&str> = volume_nodes(&pv, &[&zone_a, &other])
            .iter()
            .map(|n| node_name(n))
            .collect();
        assert_eq!(held, ["n1"]);
        assert_eq!(volume_nodes(&pv, &[&other]).len(), 0);
    }
}
