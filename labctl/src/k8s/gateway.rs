//! Gateway API objects (`gateway.networking.k8s.io/v1`): the facts labctl reads from a
//! Gateway and an HTTPRoute. k8s-openapi has no types for them, so they are read from their
//! JSON, keeping only what the checks judge.

use kube::api::{ApiResource, DynamicObject};
use serde::Deserialize;

/// The Gateway API's group and version (standard channel).
const GROUP: &str = "gateway.networking.k8s.io";
const VERSION: &str = "v1";
/// `apiVersion` of the Gateway API's objects.
pub const API_VERSION: &str = "gateway.networking.k8s.io/v1";

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: GROUP.into(),
        version: VERSION.into(),
        api_version: API_VERSION.into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

pub fn gateway_resource() -> ApiResource {
    resource("Gateway", "gateways")
}

pub fn http_route_resource() -> ApiResource {
    resource("HTTPRoute", "httproutes")
}

/// A status condition (`metav1.Condition`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

/// The condition of `type_` among `conditions`.
pub fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// One listener of a Gateway: where it listens and which namespaces' routes it admits.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    pub name: String,
    pub port: i64,
    /// `allowedRoutes.namespaces.from`: `Same` (the default), `All` or `Selector`.
    pub routes_from: String,
}

/// A Gateway's facts.
#[derive(Debug, Clone, PartialEq)]
pub struct Gateway {
    pub namespace: String,
    pub name: String,
    pub conditions: Vec<Condition>,
    pub listeners: Vec<Listener>,
}

/// One parent of an HTTPRoute, as its status reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteParent {
    /// `namespace/name` of the parent Gateway (the route's namespace when unset).
    pub gateway: String,
    pub controller: String,
    pub conditions: Vec<Condition>,
}

/// An HTTPRoute's facts.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRoute {
    pub namespace: String,
    pub name: String,
    /// Empty: every host.
    pub hostnames: Vec<String>,
    /// `namespace/name` of each Gateway in `spec.parentRefs`.
    pub parent_refs: Vec<String>,
    /// (Service name, port) of each backend.
    pub backends: Vec<(String, Option<i64>)>,
    pub parents: Vec<RouteParent>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ParentRefJson {
    name: String,
    namespace: Option<String>,
}

impl Gateway {
    pub fn from_object(object: &DynamicObject) -> Gateway {
        let data = &object.data;
        let listeners = data["spec"]["listeners"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| Listener {
                name: l["name"].as_str().unwrap_or_default().to_owned(),
                port: l["port"].as_i64().unwrap_or_default(),
                routes_from: l["allowedRoutes"]["namespaces"]["from"]
                    .as_str()
                    .unwrap_or("Same")
                    .to_owned(),
            })
            .collect();
        Gateway {
            namespace: object.metadata.namespace.clone().unwrap_or_default(),
            name: object.metadata.name.clone().unwrap_or_default(),
            conditions: conditions(&data["status"]["conditions"]),
            listeners,
        }
    }

    /// Whether some listener admits routes from `namespace` (`Selector` is not judged here:
    /// it counts as admitting).
    pub fn admits_routes_from(&self, namespace: &str) -> bool {
        self.listeners.iter().any(|l| match l.routes_from.as_str() {
            "Same" => namespace == self.namespace,
            _ => true,
        })
    }
}

impl HttpRoute {
    pub fn from_object(object: &DynamicObject) -> HttpRoute {
        let data = &object.data;
        let namespace = object.metadata.namespace.clone().unwrap_or_default();
        let gateway_of = |r: &serde_json::Value| {
            let r: ParentRefJson = serde_json::from_value(r.clone()).unwrap_or_default();
            format!(
                "{}/{}",
                r.namespace.unwrap_or_else(|| namespace.clone()),
                r.name
            )
        };
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        };
        HttpRoute {
            hostnames: strings(&data["spec"]["hostnames"]),
            parent_refs: data["spec"]["parentRefs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(gateway_of)
                .collect(),
            backends: data["spec"]["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|r| r["backendRefs"].as_array().cloned().unwrap_or_default())
                .map(|b| {
                    (
                        b["name"].as_str().unwrap_or_default().to_owned(),
                        b["port"].as_i64(),
                    )
                })
                .collect(),
            parents: data["status"]["parents"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| RouteParent {
                    gateway: gateway_of(&p["parentRef"]),
                    controller: p["controllerName"].as_str().unwrap_or_default().to_owned(),
                    conditions: conditions(&p["conditions"]),
                })
                .collect(),
            name: object.metadata.name.clone().unwrap_or_default(),
            namespace,
        }
    }

    /// Whether the route serves `host` (no hostnames: every host).
    pub fn serves(&self, host: &str) -> bool {
        self.hostnames.is_empty() || self.hostnames.iter().any(|h| h == host)
    }
}

fn conditions(value: &serde_json::Value) -> Vec<Condition> {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use serde_json::json;

    /// A Gateway as Traefik's Gateway provider reports it.
    pub fn gateway_object(programmed: &str, from: &str) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "traefik-gateway", "namespace": "kube-system"},
            "spec": {"gatewayClassName": "traefik", "listeners": [
                {"name": "web", "port": 8000, "protocol": "HTTP",
                 "allowedRoutes": {"namespaces": {"from": from}}}]},
            "status": {"conditions": [
                {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Gateway successfully scheduled"},
                {"type": "Programmed", "status": programmed, "reason": "Programmed", "message": ""}]}
        }))
        .unwrap()
    }

    /// An HTTPRoute whose parent status says `accepted` and `resolved`.
    pub fn route_object(host: &str, accepted: &str, resolved: &str) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "inference", "namespace": "mlops-lab"},
            "spec": {
                "parentRefs": [{"name": "traefik-gateway", "namespace": "kube-system", "sectionName": "web"}],
                "hostnames": [host],
                "rules": [{"backendRefs": [{"name": "inference", "port": 80}]}]},
            "status": {"parents": [{
                "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "traefik-gateway", "namespace": "kube-system"},
                "controllerName": "traefik.io/gateway-controller",
                "conditions": [
                    {"type": "Accepted", "status": accepted, "reason": if accepted == "True" {"Accepted"} else {"NotAllowedByListeners"}, "message": ""},
                    {"type": "ResolvedRefs", "status": resolved, "reason": if resolved == "True" {"ResolvedRefs"} else {"BackendNotFound"}, "message": if resolved == "True" {""} else {"Service mlops-lab/inference not found"}}]}]}
        }))
        .unwrap()
    }

    #[test]
    fn a_gateway_reads_its_conditions_and_listeners() {
        let g = Gateway::from_object(&gateway_object("True", "Same"));
        assert_eq!(g.namespace, "kube-system");
        assert_eq!(
            condition(&g.conditions, "Programmed").unwrap().status,
            "True"
        );
        assert_eq!(g.listeners[0].port, 8000);
        assert!(!g.admits_routes_from("mlops-lab"));
        assert!(g.admits_routes_from("kube-system"));
        let g = Gateway::from_object(&gateway_object("True", "All"));
        assert!(g.admits_routes_from("mlops-lab"));
    }

    #[test]
    fn a_route_reads_its_parents_hosts_and_backends() {
        let r = HttpRoute::from_object(&route_object("model.homelab", "True", "False"));
        assert_eq!(r.parent_refs, ["kube-system/traefik-gateway"]);
        assert_eq!(r.parents[0].gateway, "kube-system/traefik-gateway");
        assert!(r.serves("model.homelab"));
        assert!(!r.serves("other.homelab"));
        assert_eq!(r.backends, [("inference".to_owned(), Some(80))]);
        let resolved = condition(&r.parents[0].conditions, "ResolvedRefs").unwrap();
        assert_eq!(resolved.reason, "BackendNotFound");
    }
}
