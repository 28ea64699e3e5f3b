//! Ingress backends: a Service and port that exist in the manifests.

use super::{finding, reference};
use crate::lint::{LintFinding, RuleId};
use crate::snapshot::ClusterSnapshot;

/// `ingress-backend-missing`: every backend names a Service of the manifests and one of its ports.
pub fn ingress_backends(m: &ClusterSnapshot) -> Vec<LintFinding> {
    let mut out = Vec::new();
    for ing in &m.ingresses {
        let subject = reference("Ingress", &ing.metadata);
        let Some(spec) = ing.spec.as_ref() else {
            continue;
        };
        let mut backends = Vec::new();
        if let Some(b) = spec
            .default_backend
            .as_ref()
            .and_then(|b| b.service.as_ref())
        {
            backends.push(("defaultBackend".to_owned(), b));
        }
        for rule in spec.rules.iter().flatten() {
            for path in rule.http.iter().flat_map(|h| h.paths.iter()) {
                if let Some(b) = path.backend.service.as_ref() {
                    backends.push((
                        format!(
                            "host {} path {}",
                            rule.host.as_deref().unwrap_or("*"),
                            path.path.as_deref().unwrap_or("/")
                        ),
                        b,
                    ));
                }
            }
        }
        for (route, backend) in backends {
            let svc = m.services.iter().find(|s| {
                s.metadata.name.as_deref() == Some(backend.name.as_str())
                    && s.metadata.namespace == ing.metadata.namespace
            });
            let wanted = match backend.port.as_ref() {
                Some(p) => match (&p.name, p.number) {
                    (Some(n), _) => format!("port {n:?}"),
                    (None, Some(n)) => format!("port {n}"),
                    (None, None) => "no port".to_owned(),
                },
                None => "no port".to_owned(),
            };
            let problem = match svc {
                None => Some(format!(
                    "Service {} does not exist in the manifests",
                    backend.name
                )),
                Some(svc) => {
                    let ports: Vec<_> = svc
                        .spec
                        .as_ref()
                        .and_then(|s| s.ports.as_ref())
                        .into_iter()
                        .flatten()
                        .collect();
                    let ok = backend.port.as_ref().is_some_and(|p| {
                        ports.iter().any(|sp| match (&p.name, p.number) {
                            (Some(n), _) => sp.name.as_deref() == Some(n.as_str()),
                            (None, Some(n)) => sp.port == n,
                            (None, None) => false,
                        })
                    });
                    (!ok).then(|| {
                        format!(
                            "Service {} has no {wanted} (it has {})",
                            backend.name,
                            ports
                                .iter()
                                .map(|p| match &p.name {
                                    Some(n) => format!("{n}={}", p.port),
                                    None => p.port.to_string(),
                                })
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
                }
            };
            if let Some(problem) = problem {
                out.push(finding(
                    RuleId::IngressBackendMissing,
                    subject.clone(),
                    format!(
                        "{subject} {route} routes to Service {} {wanted}: {problem}",
                        backend.name
                    ),
                    vec![
                        format!("{subject}: {route} → service {} {wanted}", backend.name),
                        problem,
                    ],
                    "Make the backend name the Service (metadata.name) and one of its ports \
                     (spec.ports[].name, or the number): Traefik answers 404 for a backend that \
                     does not exist (ingress-nginx answered 503)."
                        .to_owned(),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::lint::RuleId;
    use crate::lint::rules::test_support::*;

    #[test]
    fn ingress_backend_by_number_and_missing_service() {
        let ingress = |svc: &str, port: &str| {
            format!(
                "{}---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: inference}}\n\
                 spec: {{rules: [{{host: model.homelab, http: {{paths: [{{path: /, pathType: Prefix, \
                 backend: {{service: {{name: {svc}, port: {port}}}}}}}]}}}}]}}\n",
                service("{app: inference}", "http")
            )
        };
        assert!(lint(&ingress("inference", "{number: 80}")).is_empty());
        assert!(lint(&ingress("inference", "{name: http}")).is_empty());
        assert_eq!(
            lint(&ingress("inference", "{number: 8080}")),
            [RuleId::IngressBackendMissing]
        );
        assert_eq!(
            lint(&ingress("other", "{name: http}")),
            [RuleId::IngressBackendMissing]
        );
    }
}
