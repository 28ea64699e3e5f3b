//! `network-policy-blocks-ingress`: a NetworkPolicy that shuts the ingress controller out of
//! the pods it must reach.

use std::collections::BTreeMap;

use super::{Template, finding, reference};
use crate::config::LabConfig;
use crate::lint::{LintFinding, RuleId};
use crate::snapshot::ClusterSnapshot;

/// `networkpolicy-blocks-controller`: a NetworkPolicy that selects a long-running pod
/// template and restricts its ingress admits the ingress controller's namespace (labctl.toml's
/// `ingress_controller`, `ingress_controller_workload`): some rule has no `from` (every source),
/// or a peer's `namespaceSelector` selects that namespace (`kubernetes.io/metadata.name`, the
/// label the API server sets on every namespace), or a peer without one is in the policy's own
/// namespace, or an `ipBlock` (a hostNetwork controller: its address cannot be judged offline).
/// Without it the controller's requests time out: 504 from Traefik, 504 from ingress-nginx.
pub fn network_policies(
    m: &ClusterSnapshot,
    templates: &[Template<'_>],
    config: &LabConfig,
) -> Vec<LintFinding> {
    use crate::k8s::labels::selects;
    let controller = config.controller_workload();
    let ns_labels: BTreeMap<String, String> = [(
        "kubernetes.io/metadata.name".to_owned(),
        controller.namespace.clone(),
    )]
    .into();
    let mut out = Vec::new();
    for np in &m.network_policies {
        let Some(spec) = np.spec.as_ref() else {
            continue;
        };
        // Without policyTypes, Ingress is always among them.
        let restricts_ingress = spec
            .policy_types
            .as_ref()
            .is_none_or(|t| t.iter().any(|t| t == "Ingress"));
        if !restricts_ingress {
            continue;
        }
        let policy_ns = np
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| config.namespace.clone());
        let empty = BTreeMap::new();
        // An absent podSelector is the empty one: every pod of the namespace.
        let pod_selector = spec.pod_selector.clone().unwrap_or_default();
        let selected: Vec<&Template<'_>> = templates
            .iter()
            .filter(|t| t.long_running && selects(&pod_selector, t.labels.unwrap_or(&empty)))
            .collect();
        if selected.is_empty() {
            continue;
        }
        let admits = spec.ingress.iter().flatten().any(|rule| match &rule.from {
            None => true,
            Some(peers) if peers.is_empty() => true,
            Some(peers) => peers.iter().any(|peer| {
                peer.ip_block.is_some()
                    || match &peer.namespace_selector {
                        Some(sel) => selects(sel, &ns_labels),
                        None => policy_ns == controller.namespace,
                    }
            }),
        });
        if admits {
            continue;
        }
        let subject = reference("NetworkPolicy", &np.metadata);
        let peers: Vec<String> = spec
            .ingress
            .iter()
            .flatten()
            .flat_map(|r| r.from.iter().flatten())
            .map(|p| {
                let ns = p
                    .namespace_selector
                    .as_ref()
                    .and_then(|s| s.match_labels.as_ref())
                    .and_then(|l| l.get("kubernetes.io/metadata.name"))
                    .map_or("(selector)".to_owned(), |n| format!("namespace {n}"));
                match &p.namespace_selector {
                    Some(_) => ns,
                    None => format!("pods of namespace {policy_ns}"),
                }
            })
            .collect();
        let workloads: Vec<String> = selected.iter().map(|t| t.workload.to_string()).collect();
        let fix = match config.ingress_controller {
            crate::config::IngressController::IngressNginx => format!(
                "Admit namespace {} (components/ingress-nginx does) in the NetworkPolicy in manifests/, or set ingress_controller in labctl.toml to the controller in use",
                controller.namespace
            ),
            _ => format!(
                "Admit the controller: a from peer with namespaceSelector kubernetes.io/metadata.name: {} and podSelector app.kubernetes.io/name: traefik (manifests/base/networkpolicy.yaml); if another controller serves the Ingress, set ingress_controller in labctl.toml",
                controller.namespace
            ),
        };
        out.push(finding(
            RuleId::NetworkpolicyBlocksController,
            subject.clone(),
            format!(
                "{subject} admits no traffic from namespace {} (ingress_controller = \"{}\") to {}: the controller's requests time out",
                controller.namespace,
                config.ingress_controller.as_str(),
                workloads.join(", ")
            ),
            vec![format!(
                "{subject}: ingress from {}",
                if peers.is_empty() {
                    "nothing".to_owned()
                } else {
                    peers.join(", ")
                }
            )],
            fix,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::rules::templates;
    use crate::lint::rules::test_support::*;
    use crate::lint::source::parse;

    #[test]
    fn a_network_policy_must_admit_the_controllers_namespace() {
        let policy = |from: &str| {
            format!(
                "{DEPLOYMENT}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: inference}}\n\
                 spec: {{podSelector: {{matchLabels: {{app: inference}}}}, policyTypes: [Ingress], ingress: [{{from: {from}}}]}}\n"
            )
        };
        let ids = |text: &str, config: &LabConfig| -> Vec<RuleId> {
            let m = parse(text, "test", "mlops-lab").unwrap().objects;
            network_policies(&m, &templates(&m), config)
                .into_iter()
                .map(|f| f.id)
                .collect()
        };
        let traefik = LabConfig::default();
        let nginx = LabConfig {
            ingress_controller: crate::config::IngressController::IngressNginx,
            ..LabConfig::default()
        };
        let kube_system = policy(
            "[{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {app.kubernetes.io/name: traefik}}}]",
        );
        assert!(ids(&kube_system, &traefik).is_empty());
        assert_eq!(
            ids(&kube_system, &nginx),
            [RuleId::NetworkpolicyBlocksController]
        );
        let ingress_nginx = policy(
            "[{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}}]",
        );
        assert!(ids(&ingress_nginx, &nginx).is_empty());
        assert_eq!(
            ids(&ingress_nginx, &traefik),
            [RuleId::NetworkpolicyBlocksController]
        );
        // Every namespace, an address block, or only the policy's own namespace.
        assert!(ids(&policy("[{namespaceSelector: {}}]"), &traefik).is_empty());
        assert!(ids(&policy("[{ipBlock: {cidr: 192.168.1.0/24}}]"), &traefik).is_empty());
        assert_eq!(
            ids(&policy("[{podSelector: {}}]"), &traefik),
            [RuleId::NetworkpolicyBlocksController]
        );
    }
}
