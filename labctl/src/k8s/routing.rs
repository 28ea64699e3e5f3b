//! Where a host's traffic goes: which Ingress (or HTTPRoute) routes it, to which Service ports,
//! and how many ready endpoints stand behind them. A fact, not a verdict: `diagnose` and the
//! HTTP checks of `verify` and `predict` draw their own conclusions from it.
//!
//! The distinction it exists for: an ingress answers 404 both for a host it does not route and
//! (Traefik without `allowEmptyServices`) for a route whose Service has no ready endpoint; only
//! the objects tell the two apart.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;

use super::gateway::HttpRoute;

/// The objects that route `host` in one namespace, and where they send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoute {
    /// `Ingress` or `HTTPRoute`.
    pub kind: &'static str,
    /// The first object that routes the host; `None` when none does.
    pub by: Option<String>,
    /// The hosts the namespace's objects of that kind route instead (when none routes it).
    pub hosts_routed: Vec<String>,
    pub backends: Vec<Backend>,
}

/// One backend of the route: a Service port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub service: String,
    /// The port as the route names it: a number or a port name.
    pub port: String,
    /// The Service exists and has that port (`true` when the Services were not read).
    pub exists: bool,
    /// Ready endpoints of the Service, over all its EndpointSlices.
    pub ready_endpoints: usize,
}

impl Backend {
    /// `name:port`, as kubectl prints an Ingress backend.
    pub fn target(&self) -> String {
        format!("{}:{}", self.service, self.port)
    }
}

impl HostRoute {
    /// The route reaches an existing Service port.
    pub fn reaches_a_service(&self) -> bool {
        self.backends.iter().any(|b| b.exists)
    }

    /// Ready endpoints behind the existing backends.
    pub fn ready_endpoints(&self) -> usize {
        self.backends
            .iter()
            .filter(|b| b.exists)
            .map(|b| b.ready_endpoints)
            .sum()
    }
}

/// Ready endpoints in one slice; `ready` unset means ready (discovery.k8s.io/v1
/// `EndpointConditions`).
pub fn ready_count(slice: &EndpointSlice) -> usize {
    slice
        .endpoints
        .iter()
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
        .count()
}

/// The Service a slice belongs to (its `kubernetes.io/service-name` label).
pub fn slice_service(slice: &EndpointSlice) -> Option<&str> {
    slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("kubernetes.io/service-name"))
        .map(String::as_str)
}

/// What routes `host` in `ns` among `ingresses`. `services_known`: the Services were read
/// whole, so a missing one is missing (else every backend counts as existing).
pub fn ingress_route(
    ingresses: &[Ingress],
    services: &[Service],
    slices: &[EndpointSlice],
    ns: &str,
    host: &str,
    services_known: bool,
) -> HostRoute {
    let in_ns = || {
        ingresses
            .iter()
            .filter(move |i| i.metadata.namespace.as_deref() == Some(ns))
    };
    let mut by = None;
    let mut backends = Vec::new();
    for ing in in_ns() {
        let rules = ing.spec.as_ref().and_then(|sp| sp.rules.as_ref());
        // A rule without a host routes every host.
        for rule in rules
            .into_iter()
            .flatten()
            .filter(|r| r.host.as_deref().is_none_or(|h| h == host))
        {
            by.get_or_insert_with(|| ing.metadata.name.clone().unwrap_or_default());
            let paths = rule.http.iter().flat_map(|h| h.paths.iter());
            for svc in paths.filter_map(|p| p.backend.service.as_ref()) {
                let port = svc.port.as_ref();
                let number = port.and_then(|p| p.number).map(i64::from);
                let name = port.and_then(|p| p.name.as_deref());
                backends.push(backend(
                    services,
                    slices,
                    ns,
                    &svc.name,
                    number,
                    name,
                    services_known,
                ));
            }
        }
    }
    let hosts_routed = if by.is_none() {
        in_ns()
            .flat_map(|i| i.spec.iter().flat_map(|sp| sp.rules.iter().flatten()))
            .filter_map(|r| r.host.clone())
            .collect()
    } else {
        Vec::new()
    };
    HostRoute {
        kind: "Ingress",
        by,
        hosts_routed,
        backends,
    }
}

/// What routes `host` in `ns` among the Gateway API's `routes`.
pub fn http_route(
    routes: &[HttpRoute],
    services: &[Service],
    slices: &[EndpointSlice],
    ns: &str,
    host: &str,
    services_known: bool,
) -> HostRoute {
    let in_ns = || routes.iter().filter(move |r| r.namespace == ns);
    let serving: Vec<&HttpRoute> = in_ns().filter(|r| r.serves(host)).collect();
    let backends = serving
        .iter()
        .flat_map(|r| r.backends.iter())
        .map(|(name, port)| backend(services, slices, ns, name, *port, None, services_known))
        .collect();
    HostRoute {
        kind: "HTTPRoute",
        by: serving.first().map(|r| r.name.clone()),
        hosts_routed: if serving.is_empty() {
            in_ns().flat_map(|r| r.hostnames.iter().cloned()).collect()
        } else {
            Vec::new()
        },
        backends,
    }
}

fn backend(
    services: &[Service],
    slices: &[EndpointSlice],
    ns: &str,
    service: &str,
    number: Option<i64>,
    name: Option<&str>,
    services_known: bool,
) -> Backend {
    let svc = services.iter().find(|s| {
        s.metadata.namespace.as_deref() == Some(ns) && s.metadata.name.as_deref() == Some(service)
    });
    let exists = match svc {
        None => !services_known,
        Some(svc) => {
            let ports = svc.spec.as_ref().and_then(|sp| sp.ports.as_ref());
            ports.into_iter().flatten().any(|p| {
                number.is_some_and(|n| i64::from(p.port) == n)
                    || name.is_some_and(|n| p.name.as_deref() == Some(n))
            })
        }
    };
    let ready_endpoints = slices
        .iter()
        .filter(|s| s.metadata.namespace.as_deref() == Some(ns))
        .filter(|s| slice_service(s) == Some(service))
        .map(ready_count)
        .sum();
    Backend {
        service: service.to_owned(),
        port: number
            .map(|n| n.to_string())
            .or_else(|| name.map(str::to_owned))
            .unwrap_or_default(),
        exists,
        ready_endpoints,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ingress(name: &str, host: &str, service: &str, port: i32) -> Ingress {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "lab"},
            "spec": {"rules": [{"host": host, "http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": service, "port": {"number": port}}}}]}}]}
        }))
        .unwrap()
    }

    fn service(name: &str, port: i32) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "lab"},
            "spec": {"ports": [{"port": port}]}
        }))
        .unwrap()
    }

    fn slice(service: &str, ready: &[bool]) -> EndpointSlice {
        let endpoints: Vec<_> = ready
            .iter()
            .map(|r| json!({"addresses": ["10.0.0.1"], "conditions": {"ready": r}}))
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": format!("{service}-x"), "namespace": "lab",
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4",
            "endpoints": endpoints
        }))
        .unwrap()
    }

    #[test]
    fn a_routed_host_names_its_backend_and_its_ready_endpoints() {
        let r = ingress_route(
            &[ingress("web", "model.homelab", "serve", 80)],
            &[service("serve", 80)],
            &[slice("serve", &[true, false]), slice("other", &[true])],
            "lab",
            "model.homelab",
            true,
        );
        assert_eq!(r.by.as_deref(), Some("web"));
        assert_eq!(r.backends.len(), 1);
        assert_eq!(r.backends[0].target(), "serve:80");
        assert!(r.reaches_a_service());
        assert_eq!(r.ready_endpoints(), 1);
    }

    #[test]
    fn an_unrouted_host_lists_the_hosts_routed_instead() {
        let r = ingress_route(
            &[ingress("web", "other.homelab", "serve", 80)],
            &[service("serve", 80)],
            &[],
            "lab",
            "model.homelab",
            true,
        );
        assert_eq!(r.by, None);
        assert_eq!(r.hosts_routed, vec!["other.homelab".to_owned()]);
        assert!(!r.reaches_a_service());
    }

    #[test]
    fn a_missing_service_or_port_does_not_exist_unless_services_were_not_read() {
        let ings = [ingress("web", "model.homelab", "serve", 8080)];
        let r = ingress_route(
            &ings,
            &[service("serve", 80)],
            &[],
            "lab",
            "model.homelab",
            true,
        );
        assert!(!r.backends[0].exists);
        let r = ingress_route(&ings, &[], &[], "lab", "model.homelab", false);
        assert!(r.backends[0].exists);
    }

    #[test]
    fn an_http_route_is_read_the_same_way() {
        let route = HttpRoute::from_object(&crate::k8s::gateway::tests::route_object(
            "model.homelab",
            "True",
            "True",
        ));
        let ns = route.namespace.clone();
        let backend = route.backends[0].clone();
        let mut svc = service(&backend.0, backend.1.unwrap_or(80) as i32);
        svc.metadata.namespace = Some(ns.clone());
        let r = http_route(&[route], &[svc], &[], &ns, "model.homelab", true);
        assert!(r.by.is_some());
        assert!(r.reaches_a_service());
        assert_eq!(r.ready_endpoints(), 0);
        let r = http_route(&[], &[], &[], &ns, "model.homelab", true);
        assert_eq!(r.by, None);
    }
}
