//! Nodes: Ready, and the pin node able to take the lab's pods.

use crate::k8s::model::Deployment;
use k8s_openapi::api::core::v1::{Node, Toleration};
use kube::api::ListParams;

use super::{CheckError, Outcome};
use crate::context::Context;
use crate::fetch;
use crate::k8s::nodes::{is_ready as node_is_ready, node_name, unavailability};
use crate::k8s::placement::node_selector_value;
use crate::k8s::workload::deployment_pod_spec;

pub fn evaluate_nodes_ready(nodes: &[Node]) -> Outcome {
    let not_ready: Vec<String> = nodes
        .iter()
        .filter(|n| !node_is_ready(n))
        .map(|n| node_name(n).to_owned())
        .collect();
    let ready = nodes.len() - not_ready.len();
    if nodes.is_empty() {
        Outcome::fail("the cluster has no nodes")
    } else if ready == 0 {
        Outcome::fail(format!("none of {} nodes is Ready", nodes.len())).with_all(not_ready)
    } else if !not_ready.is_empty() {
        Outcome::warn(format!("{ready} of {} nodes Ready", nodes.len())).with_all(
            not_ready
                .into_iter()
                .map(|n| format!("node {n} is not Ready")),
        )
    } else {
        Outcome::pass(format!("{ready} of {} nodes Ready", nodes.len()))
    }
}

/// Whether pods pinned by `key=value` (and tolerating `tolerations`) can be scheduled on the
/// pin node.
pub fn evaluate_pin_node(
    nodes: &[Node],
    key: &str,
    value: Option<&str>,
    tolerations: &[Toleration],
) -> Outcome {
    let label_of = |n: &Node| n.metadata.labels.as_ref().and_then(|l| l.get(key)).cloned();
    let node = match value {
        Some(v) => match nodes.iter().find(|n| label_of(n).as_deref() == Some(v)) {
            Some(n) => n,
            None => {
                let by_name = nodes.iter().any(|n| node_name(n) == v);
                return Outcome::fail(if by_name {
                    format!("node {v} exists but does not carry the pin label {key}={v}")
                } else {
                    format!("no node carries the pin label {key}={v}")
                })
                .with(format!(
                    "nodes: {}",
                    nodes.iter().map(node_name).collect::<Vec<_>>().join(", ")
                ));
            }
        },
        // Not configured: a single-node cluster has only one possible pin target.
        None => match nodes {
            [only] => only,
            _ => {
                return Outcome::fail(format!(
                    "pin_label_value is not set, no deployed Deployment names a node, and the cluster has {} nodes",
                    nodes.len()
                ))
                .with(
                    "set pin_label_value in labctl.toml to the node of your overlay's settings.yaml (`node`)",
                );
            }
        },
    };
    let name = node_name(node);
    let mut problems: Vec<String> = unavailability(node, tolerations)
        .iter()
        .map(|why| format!("node {name}: {why}"))
        .collect();
    if label_of(node).is_none() {
        problems.push(format!("node {name} lacks the pin label {key}"));
    }
    if problems.is_empty() {
        Outcome::pass(format!(
            "node {name} ({key}={})",
            label_of(node).unwrap_or_default()
        ))
    } else {
        Outcome::fail(format!(
            "pods pinned to node {name} cannot be scheduled there"
        ))
        .with_all(problems)
    }
}

pub async fn nodes_ready(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = super::client(ctx).await?;
    let nodes: Vec<Node> = fetch::list_cluster(&client, &ListParams::default()).await?;
    Ok(evaluate_nodes_ready(&nodes))
}

pub async fn pin_node_schedulable(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = super::client(ctx).await?;
    let nodes: Vec<Node> = fetch::list_cluster(&client, &ListParams::default()).await?;
    let c = &ctx.config;
    // The pin: the lab description's, else (preflight rerun after a deploy) the Deployment's
    // own nodeSelector, as verify reads it. Before the first deploy there is no Deployment,
    // and a missing or unreadable one just leaves the pin unknown.
    // Its tolerations, when it exists, say which taints its pods accept.
    let deployment = fetch::get_namespaced::<Deployment>(&client, &c.namespace, &c.deployment)
        .await
        .ok()
        .flatten();
    let spec = deployment.as_ref().and_then(deployment_pod_spec);
    let pin = c
        .pin_label_value
        .as_deref()
        .or_else(|| node_selector_value(spec, &c.pin_label_key));
    let tolerations = spec
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default();
    Ok(evaluate_pin_node(
        &nodes,
        &c.pin_label_key,
        pin,
        tolerations,
    ))
}

#[cfg(test)]
mod nodes_tests {
    use super::*;
    use crate::checks::Status;
    use crate::checks::test_objects::*;

    use k8s_openapi::api::core::v1::*;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use std::collections::BTreeMap;

    fn node(name: &str, ready: bool) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(BTreeMap::from([(
                    "kubernetes.io/hostname".to_owned(),
                    name.to_owned(),
                )])),
                ..Default::default()
            },
            status: Some(NodeStatus {
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn ready_nodes_pass() {
        assert_eq!(
            evaluate_nodes_ready(&[node("a", true), node("b", true)]).status,
            Status::Pass
        );
    }

    #[test]
    fn no_ready_node_fails_and_some_not_ready_warns() {
        assert_eq!(
            evaluate_nodes_ready(&[node("a", false)]).status,
            Status::Fail
        );
        assert_eq!(evaluate_nodes_ready(&[]).status, Status::Fail);
        let o = evaluate_nodes_ready(&[node("a", true), node("b", false)]);
        assert_eq!(o.status, Status::Warn);
        assert_eq!(o.evidence, ["node b is not Ready"]);
    }

    #[test]
    fn labelled_schedulable_pin_node_passes() {
        let nodes = [node("n1", true), node("n2", true)];
        assert_eq!(
            evaluate_pin_node(&nodes, HOST, Some("n2"), &[]).status,
            Status::Pass
        );
        // Single-node cluster without a configured pin: that node.
        assert_eq!(
            evaluate_pin_node(&nodes[..1], HOST, None, &[]).status,
            Status::Pass
        );
    }

    #[test]
    fn tainted_cordoned_or_missing_pin_node_fails() {
        let mut n = node("n1", true);
        n.spec = Some(NodeSpec {
            unschedulable: Some(true),
            taints: Some(vec![Taint {
                key: "gpu".into(),
                value: Some("yes".into()),
                effect: "NoSchedule".into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        let o = evaluate_pin_node(std::slice::from_ref(&n), HOST, Some("n1"), &[]);
        assert_eq!(o.status, Status::Fail);
        assert!(o.evidence.iter().any(|e| e.contains("cordoned")));
        assert!(o.evidence.iter().any(|e| e.contains("gpu=yes:NoSchedule")));
        assert!(
            evaluate_pin_node(&[node("n1", true)], HOST, Some("n9"), &[])
                .message
                .contains("no node carries")
        );
        assert_eq!(
            evaluate_pin_node(&[node("a", true), node("b", true)], HOST, None, &[]).status,
            Status::Fail
        );
    }
}
