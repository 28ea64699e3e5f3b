//! Services: a selector that selects the pod template, a target port the pods declare.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Template, finding, reference};
use crate::k8s::names::labels_text;
use crate::k8s::service;
use crate::lint::{LintFinding, RuleId};
use crate::snapshot::ClusterSnapshot;

fn selected<'t, 'a>(svc: &Service, templates: &'t [Template<'a>]) -> Vec<&'t Template<'a>> {
    let Some(selector) = svc
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .filter(|s| !s.is_empty())
    else {
        return Vec::new();
    };
    templates
        .iter()
        .filter(|t| t.workload.namespace == svc.metadata.namespace)
        .filter(|t| service::selects(selector, t.labels))
        .collect()
}

/// `service-selector-matches-no-pod` and `service-target-port-missing`.
pub fn services(m: &ClusterSnapshot, templates: &[Template<'_>]) -> Vec<LintFinding> {
    let mut out = Vec::new();
    for svc in &m.services {
        let subject = reference("Service", &svc.metadata);
        let Some(selector) = svc
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .filter(|s| !s.is_empty())
        else {
            // No selector: endpoints are managed by hand (or ExternalName); nothing to match.
            continue;
        };
        let matched = selected(svc, templates);
        if matched.is_empty() {
            let mut evidence = vec![format!("{subject}: selector {}", labels_text(selector))];
            evidence.extend(
                templates
                    .iter()
                    .filter(|t| t.workload.namespace == svc.metadata.namespace)
                    .map(|t| {
                        format!(
                            "{}: pod template labels {}",
                            t.workload,
                            t.labels.map(labels_text).unwrap_or_else(|| "(none)".into())
                        )
                    }),
            );
            out.push(finding(
                RuleId::ServiceSelectorMatchesNoPod,
                subject.clone(),
                format!(
                    "{subject} selects {} but no pod template in the namespace has these labels: it will have no endpoints (the ingress answers 503)",
                    labels_text(selector)
                ),
                evidence,
                "Make spec.selector of the Service equal to labels of the pod template it fronts \
                 (spec.template.metadata.labels of the Deployment), e.g. app.kubernetes.io/name: inference."
                    .to_owned(),
            ));
            continue;
        }
        let declared = service::declared_ports(matched.iter().flat_map(|t| &t.spec.containers));
        for port in svc
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .into_iter()
            .flatten()
        {
            if service::resolve_target_port(port, &declared).is_some() {
                continue;
            }
            let target = service::target_port(port);
            let what = match &target {
                IntOrString::String(name) => format!("named port {name:?}"),
                IntOrString::Int(n) => format!("port {n}"),
            };
            let declared_text = if declared.is_empty() {
                "none".to_owned()
            } else {
                declared
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            out.push(finding(
                RuleId::ServiceTargetPortMissing,
                subject.clone(),
                format!(
                    "{subject} port {} targets {what}, which no selected container declares: connections are refused (the ingress answers 502)",
                    port.name.as_deref().unwrap_or("(unnamed)")
                ),
                vec![
                    format!(
                        "{subject}: port {} ({}) → targetPort {}",
                        port.name.as_deref().unwrap_or("(unnamed)"),
                        port.port,
                        service::target_text(&target)
                    ),
                    format!(
                        "container ports of {}: {declared_text}",
                        matched
                            .iter()
                            .map(|t| t.workload.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ],
                "Point targetPort at a port the container declares, by name (targetPort: http with \
                 ports: [{name: http, containerPort: 8080}] in the Deployment) so that a port change \
                 in one place cannot break the Service."
                    .to_owned(),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::lint::RuleId;
    use crate::lint::rules::test_support::*;

    #[test]
    fn named_and_numeric_target_ports() {
        assert!(lint(&service("{app: inference}", "http")).is_empty());
        assert!(lint(&service("{app: inference}", "8080")).is_empty());
        assert_eq!(
            lint(&service("{app: inference}", "9090")),
            [RuleId::ServiceTargetPortMissing]
        );
        assert_eq!(
            lint(&service("{app: inference}", "web")),
            [RuleId::ServiceTargetPortMissing]
        );
    }

    #[test]
    fn selector_must_be_a_subset_of_the_template_labels() {
        assert_eq!(
            lint(&service("{app: inference, tier: web}", "http")),
            [RuleId::ServiceSelectorMatchesNoPod]
        );
        // A Service without a selector has hand-made endpoints: not judged.
        let manual =
            "apiVersion: v1\nkind: Service\nmetadata: {name: ext}\nspec: {ports: [{port: 80}]}\n";
        assert!(lint(manual).is_empty());
    }
}
