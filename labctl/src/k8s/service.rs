//! Which pods a Service selects and where its traffic goes.
//!
//! The target-port rule is decided here once, for `lint` (manifests) and `verify` (the live
//! Service and Deployment). kube-proxy forwards to the port the EndpointSlice controller put in
//! each endpoint, which resolves `targetPort` against the selected pod (`podutil.FindPort`): a
//! name through the container ports the pod declares (an undeclared name leaves the endpoint
//! without the port: nothing is forwarded), a number as it is. Declaring a numeric port is not
//! needed, so a number is judged only against the declarations there are: when the containers
//! declare ports and none is this number, the Service points where the pods say nothing listens.

use std::collections::BTreeMap;

use crate::k8s::model::Container;
use k8s_openapi::api::core::v1::ServicePort;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Whether a Service `selector` (`matchLabels` semantics) selects pods labelled `labels`.
pub fn selects(
    selector: &BTreeMap<String, String>,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// A container port a pod declares: its name, if any, and number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeclaredPort<'a> {
    pub name: Option<&'a str>,
    pub number: i32,
}

impl std::fmt::Display for DeclaredPort<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name {
            Some(n) => write!(f, "{n}={}", self.number),
            None => write!(f, "{}", self.number),
        }
    }
}

/// Every container port the containers declare, in order.
pub fn declared_ports<'a>(
    containers: impl IntoIterator<Item = &'a Container>,
) -> Vec<DeclaredPort<'a>> {
    containers
        .into_iter()
        .flat_map(|c| c.ports.iter().flatten())
        .map(|p| DeclaredPort {
            name: p.name.as_deref(),
            number: p.container_port,
        })
        .collect()
}

/// A Service port's `targetPort`, defaulted to its `port` as the API server does.
pub fn target_port(port: &ServicePort) -> IntOrString {
    port.target_port
        .clone()
        .unwrap_or(IntOrString::Int(port.port))
}

/// `8080` or `http`, as the manifest spells the target.
pub fn target_text(target: &IntOrString) -> String {
    match target {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// The container port traffic for `port` reaches, or `None` when the pods' declarations say it
/// reaches nothing (the rule in this module's documentation).
pub fn resolve_target_port(port: &ServicePort, declared: &[DeclaredPort<'_>]) -> Option<i32> {
    match target_port(port) {
        IntOrString::String(name) => declared
            .iter()
            .find(|p| p.name == Some(name.as_str()))
            .map(|p| p.number),
        IntOrString::Int(n) => {
            (declared.is_empty() || declared.iter().any(|p| p.number == n)).then_some(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(target: Option<IntOrString>) -> ServicePort {
        ServicePort {
            port: 80,
            target_port: target,
            ..Default::default()
        }
    }

    const HTTP: DeclaredPort<'static> = DeclaredPort {
        name: Some("http"),
        number: 8080,
    };

    #[test]
    fn a_name_resolves_only_through_a_declared_port() {
        let named = port(Some(IntOrString::String("http".into())));
        assert_eq!(resolve_target_port(&named, &[HTTP]), Some(8080));
        assert_eq!(resolve_target_port(&named, &[]), None);
    }

    #[test]
    fn a_number_is_used_as_it_is_unless_the_declarations_contradict_it() {
        let number = port(Some(IntOrString::Int(8080)));
        assert_eq!(resolve_target_port(&number, &[HTTP]), Some(8080));
        assert_eq!(resolve_target_port(&number, &[]), Some(8080));
        let elsewhere = port(Some(IntOrString::Int(9090)));
        assert_eq!(resolve_target_port(&elsewhere, &[HTTP]), None);
        // No targetPort: the port itself.
        assert_eq!(resolve_target_port(&port(None), &[]), Some(80));
        assert_eq!(resolve_target_port(&port(None), &[HTTP]), None);
    }

    #[test]
    fn a_selector_is_a_subset_of_the_labels() {
        let labels: BTreeMap<String, String> = [
            ("app".into(), "inference".into()),
            ("tier".into(), "web".into()),
        ]
        .into();
        let selector: BTreeMap<String, String> = [("app".into(), "inference".into())].into();
        assert!(selects(&selector, Some(&labels)));
        assert!(!selects(&labels, Some(&selector)));
        assert!(!selects(&selector, None));
    }

    /// One manifest, two readers: `lint` judges the rendered objects, `verify` the same objects
    /// as the API returns them. Both must reach the same verdict for every target port.
    #[test]
    fn lint_and_verify_agree_on_one_manifest() {
        use crate::checks::Status;
        let cases = [
            // (container ports, targetPort, reaches the pods)
            ("[{name: http, containerPort: 8080}]", "http", true),
            ("[{name: http, containerPort: 8080}]", "8080", true),
            ("[{name: http, containerPort: 8080}]", "9090", false),
            ("[{name: http, containerPort: 8080}]", "web", false),
            // No declared ports: a number is used as it is, a name resolves to nothing.
            ("[]", "8080", true),
            ("[]", "http", false),
        ];
        for (ports, target, reaches) in cases {
            let manifest = format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: inference}}\n\
                 spec: {{selector: {{matchLabels: {{app: inference}}}}, template: {{metadata: \
                 {{labels: {{app: inference}}}}, spec: {{containers: [{{name: inference, image: x, \
                 ports: {ports}}}]}}}}}}\n---\n\
                 apiVersion: v1\nkind: Service\nmetadata: {{name: inference}}\n\
                 spec: {{selector: {{app: inference}}, ports: [{{name: http, port: 80, targetPort: {target}}}]}}\n"
            );
            let m = crate::lint::source::parse(&manifest, "test", "mlops-lab").unwrap();
            let m = &m.objects;
            let templates = crate::lint::rules::templates(m);
            let lint_passes = crate::lint::rules::services(m, &templates).is_empty();
            let verify_passes = crate::checks::serving::evaluate_service(
                m.services.first(),
                m.deployments.first(),
                "inference",
            )
            .status
                == Status::Pass;
            assert_eq!(
                lint_passes, reaches,
                "lint, ports {ports}, targetPort {target}"
            );
            assert_eq!(
                verify_passes, reaches,
                "verify, ports {ports}, targetPort {target}"
            );
        }
    }
}
