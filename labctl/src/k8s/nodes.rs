//! Whether a node can take new pods: Ready, not cordoned, every taint tolerated. A reason it
//! cannot is an [`Unavailable`], which knows its wording and its fix.

use k8s_openapi::api::core::v1::{Node, Taint, Toleration};

use super::names::name;

/// Why a node cannot start new pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// The Ready condition is not `True`; `condition` is what it says instead
    /// (`Ready=Unknown (NodeStatusUnknown)`, or `no Ready condition`).
    NotReady { condition: String },
    /// `spec.unschedulable` (`kubectl cordon`).
    Cordoned,
    /// A `NoSchedule` or `NoExecute` taint the pods do not tolerate.
    Taint {
        key: String,
        value: Option<String>,
        effect: String,
    },
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotReady { condition } => write!(f, "NotReady: {condition}"),
            Self::Cordoned => f.write_str("cordoned (spec.unschedulable)"),
            Self::Taint { key, value, effect } => {
                write!(f, "untolerated taint {key}")?;
                if let Some(v) = value {
                    write!(f, "={v}")?;
                }
                write!(f, ":{effect}")
            }
        }
    }
}

impl Unavailable {
    /// What an operator runs to make `node` available again.
    pub fn fix(&self, node: &str) -> String {
        match self {
            Self::NotReady { .. } => format!(
                "bring node {node} back (kubelet/k3s-agent running? network?): kubectl describe node {node}"
            ),
            Self::Cordoned => format!("kubectl uncordon {node}"),
            Self::Taint { key, effect, .. } => format!(
                "kubectl taint nodes {node} {key}:{effect}- (or add a matching toleration to the consumers)"
            ),
        }
    }
}

/// Whether `toleration` tolerates `taint` (`k8s.io/api/core/v1` `Toleration.ToleratesTaint`).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        // Empty key with Exists tolerates everything.
        "Exists" => true,
        _ => {
            !key.is_empty()
                && toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
    }
}

/// Ready condition is `True`.
pub fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

fn ready_condition(node: &Node) -> String {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| match c.reason.as_deref().unwrap_or("") {
            "" => format!("Ready={}", c.status),
            r => format!("Ready={} ({r})", c.status),
        })
        .unwrap_or_else(|| "no Ready condition".to_owned())
}

/// Why new pods with `tolerations` cannot start on `node` (empty = it can take them).
/// NotReady nodes carry `node.kubernetes.io/not-ready|unreachable` taints too; they are
/// reported once, as NotReady; a cordon's `node.kubernetes.io/unschedulable` taint is reported
/// as the cordon.
pub fn unavailability(node: &Node, tolerations: &[Toleration]) -> Vec<Unavailable> {
    let mut why = Vec::new();
    let ready = is_ready(node);
    if !ready {
        why.push(Unavailable::NotReady {
            condition: ready_condition(node),
        });
    }
    let spec = node.spec.as_ref();
    if spec.and_then(|s| s.unschedulable).unwrap_or(false) {
        why.push(Unavailable::Cordoned);
    }
    for taint in spec.and_then(|s| s.taints.as_deref()).unwrap_or_default() {
        if taint.effect == "PreferNoSchedule" {
            continue;
        }
        let lifecycle = matches!(
            taint.key.as_str(),
            "node.kubernetes.io/not-ready" | "node.kubernetes.io/unreachable"
        );
        if (lifecycle && !ready) || taint.key == "node.kubernetes.io/unschedulable" {
            continue;
        }
        if !tolerations.iter().any(|t| tolerates(t, taint)) {
            why.push(Unavailable::Taint {
                key: taint.key.clone(),
                value: taint.value.clone(),
                effect: taint.effect.clone(),
            });
        }
    }
    why
}

/// The node's name, `<unnamed>` when unset (as the checks print it).
pub fn node_name(node: &Node) -> &str {
    match name(&node.metadata) {
        "" => "<unnamed>",
        n => n,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeCondition, NodeSpec, NodeStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use crate::k8s::HOSTNAME_LABEL;

    /// A Ready node whose hostname label is `host`.
    pub(crate) fn node(name: &str, host: &str) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some([(HOSTNAME_LABEL.to_owned(), host.to_owned())].into()),
                ..Default::default()
            },
            status: Some(NodeStatus {
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn taints_and_cordon() {
        let mut n = node("a", "a");
        assert!(unavailability(&n, &[]).is_empty());
        n.spec = Some(NodeSpec {
            unschedulable: Some(true),
            taints: Some(vec![Taint {
                key: "dedicated".into(),
                value: Some("gpu".into()),
                effect: "NoSchedule".into(),
                time_added: None,
            }]),
            ..Default::default()
        });
        let why = unavailability(&n, &[]);
        assert_eq!(why.len(), 2);
        assert_eq!(
            why[1].to_string(),
            "untolerated taint dedicated=gpu:NoSchedule"
        );
        assert_eq!(
            why[1].fix("a"),
            "kubectl taint nodes a dedicated:NoSchedule- (or add a matching toleration to the consumers)"
        );
        let tol = Toleration {
            key: Some("dedicated".into()),
            operator: Some("Equal".into()),
            value: Some("gpu".into()),
            effect: Some("NoSchedule".into()),
            toleration_seconds: None,
        };
        assert_eq!(unavailability(&n, &[tol]), [Unavailable::Cordoned]);
        assert_eq!(
            Unavailable::Cordoned.to_string(),
            "cordoned (spec.unschedulable)"
        );
        assert_eq!(Unavailable::Cordoned.fix("a"), "kubectl uncordon a");
        let all = Toleration {
            operator: Some("Exists".into()),
            ..Default::default()
        };
        assert!(tolerates(
            &all,
            &Taint {
                key: "k".into(),
                effect: "NoSchedule".into(),
                ..Default::default()
            }
        ));
    }

    #[test]
    fn a_not_ready_node_is_reported_once_with_its_condition() {
        let mut n = node("a", "a");
        let status = n.status.as_mut().unwrap();
        status.conditions.as_mut().unwrap()[0] = NodeCondition {
            type_: "Ready".into(),
            status: "Unknown".into(),
            reason: Some("NodeStatusUnknown".into()),
            ..Default::default()
        };
        n.spec = Some(NodeSpec {
            taints: Some(vec![Taint {
                key: "node.kubernetes.io/unreachable".into(),
                effect: "NoSchedule".into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        let why = unavailability(&n, &[]);
        assert_eq!(why.len(), 1);
        assert_eq!(
            why[0].to_string(),
            "NotReady: Ready=Unknown (NodeStatusUnknown)"
        );
    }
}
