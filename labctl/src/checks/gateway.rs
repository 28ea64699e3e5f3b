//! Gateway API (`ingress_controller = "gateway"`): the Gateway is Programmed and admits the
//! lab's routes before deploying; the lab's HTTPRoute is Accepted with its references resolved
//! afterwards. Judged from what the Gateway's controller (on k3s, Traefik) writes in status.

use super::cluster::Cluster;
use super::{CheckError, Outcome};
use crate::config::{IngressController, LabConfig};
use crate::context::Context;
use crate::fetch;
use crate::k8s::gateway::{self, Gateway, HttpRoute, condition};

/// Whether the lab routes through a Gateway API HTTPRoute.
pub fn uses_gateway(config: &LabConfig) -> bool {
    config.ingress_controller == IngressController::Gateway
}

/// The Gateway exists, its controller has programmed it, and a listener admits routes from
/// the lab's namespace (a listener's default admits only its own namespace's routes).
pub fn evaluate_gateway(gateway: Option<&Gateway>, config: &LabConfig) -> Outcome {
    let what = format!(
        "Gateway {}/{}",
        config.gateway.namespace, config.gateway.name
    );
    let Some(gw) = gateway else {
        return Outcome::fail(format!("{what} not found"))
            .with("k3s: enable Traefik's Gateway provider (providers.kubernetesGateway.enabled) or create the Gateway; the Gateway API CRDs must be installed");
    };
    let mut problems = not_true(
        &gw.conditions,
        &["Accepted", "Programmed"],
        "no controller has taken the Gateway",
    );
    if !gw.admits_routes_from(&config.namespace) {
        let listeners: Vec<String> = gw
            .listeners
            .iter()
            .map(|l| format!("{} (:{}, routes from {})", l.name, l.port, l.routes_from))
            .collect();
        problems.push(format!(
            "no listener admits routes from namespace {}: {}",
            config.namespace,
            listeners.join(", ")
        ));
    }
    if problems.is_empty() {
        let listeners: Vec<String> = gw
            .listeners
            .iter()
            .map(|l| format!("{} :{}", l.name, l.port))
            .collect();
        Outcome::pass(format!(
            "{what} is Programmed (listeners {})",
            listeners.join(", ")
        ))
    } else {
        Outcome::fail(format!("{what} cannot route the lab"))
            .with_all(problems)
            .with("k3s's Traefik chart: gateway.listeners.web.namespacePolicy.from = All admits routes of other namespaces")
    }
}

/// A line for each condition of `types` that is not True: its status, reason and message, as
/// the controller wrote them; `missing` says what an absent condition means.
fn not_true(conditions: &[gateway::Condition], types: &[&str], missing: &str) -> Vec<String> {
    types
        .iter()
        .filter_map(|type_| match condition(conditions, type_) {
            Some(c) if c.status == "True" => None,
            Some(c) if c.message.is_empty() => {
                Some(format!("{type_} is {} ({})", c.status, c.reason))
            }
            Some(c) => Some(format!(
                "{type_} is {} ({}: {})",
                c.status, c.reason, c.message
            )),
            None => Some(format!("no {type_} condition: {missing}")),
        })
        .collect()
}

pub async fn gateway_programmed(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = super::client(ctx).await?;
    let g = &ctx.config.gateway;
    let object =
        fetch::get_dynamic(&client, &g.namespace, &gateway::gateway_resource(), &g.name).await?;
    Ok(evaluate_gateway(
        object.as_ref().map(Gateway::from_object).as_ref(),
        &ctx.config,
    ))
}

/// The HTTPRoute serves the host, sends it to the Service, and the Gateway's controller has
/// accepted it with every reference resolved.
pub fn evaluate_http_route(route: Option<&HttpRoute>, config: &LabConfig) -> Outcome {
    let what = format!("HTTPRoute {}/{}", config.namespace, config.http_route);
    let Some(route) = route else {
        return Outcome::fail(format!("{what} not found")).with(
            "with ingress_controller = \"gateway\" the manifests carry one: components/gateway",
        );
    };
    let gateway = format!("{}/{}", config.gateway.namespace, config.gateway.name);
    let mut problems = Vec::new();
    if !route.serves(&config.host) {
        problems.push(format!(
            "no hostname {} (hostnames: {})",
            config.host,
            route.hostnames.join(", ")
        ));
    }
    if !route.parent_refs.contains(&gateway) {
        problems.push(format!(
            "not attached to Gateway {gateway} (parentRefs: {})",
            route.parent_refs.join(", ")
        ));
    }
    if !route
        .backends
        .iter()
        .any(|(name, _)| *name == config.service)
    {
        problems.push(format!("no backendRef to Service {}", config.service));
    }
    match route.parents.iter().find(|p| p.gateway == gateway) {
        None => problems.push(format!(
            "Gateway {gateway} reports nothing about it (status.parents): its controller has not seen it"
        )),
        Some(parent) => problems.extend(not_true(
            &parent.conditions,
            &["Accepted", "ResolvedRefs"],
            &format!("{gateway} has not judged it"),
        )),
    }
    if problems.is_empty() {
        Outcome::pass(format!(
            "{} → {} through {gateway}, Accepted, references resolved",
            config.host, config.service
        ))
    } else {
        Outcome::fail(format!("{what} does not route {} correctly", config.host)).with_all(problems)
    }
}

pub fn http_route_accepted(cluster: &Cluster, c: &LabConfig) -> Result<Outcome, CheckError> {
    let routes = &cluster.snapshot.http_routes;
    let route = gateway::http_route_resource();
    let object = cluster.get_dynamic(routes, &route, &c.namespace, &c.http_route)?;
    Ok(evaluate_http_route(
        object.map(HttpRoute::from_object).as_ref(),
        c,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;

    fn gateway_config() -> LabConfig {
        LabConfig {
            ingress_controller: IngressController::Gateway,
            ..LabConfig::default()
        }
    }

    #[test]
    fn a_programmed_gateway_admitting_the_namespace_passes() {
        let gw = Gateway::from_object(&crate::k8s::gateway::tests::gateway_object("True", "All"));
        let o = evaluate_gateway(Some(&gw), &gateway_config());
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert!(o.message.contains("web :8000"), "{o:?}");
    }

    #[test]
    fn an_unprogrammed_gateway_or_one_admitting_only_its_namespace_fails() {
        let c = gateway_config();
        let gw = Gateway::from_object(&crate::k8s::gateway::tests::gateway_object("False", "All"));
        let o = evaluate_gateway(Some(&gw), &c);
        assert_eq!(o.status, Status::Fail, "{o:?}");
        assert!(
            o.evidence
                .iter()
                .any(|d| d.starts_with("Programmed is False")),
            "{o:?}"
        );
        let gw = Gateway::from_object(&crate::k8s::gateway::tests::gateway_object("True", "Same"));
        let o = evaluate_gateway(Some(&gw), &c);
        assert!(
            o.evidence
                .iter()
                .any(|d| d.contains("no listener admits routes from namespace mlops-lab")),
            "{o:?}"
        );
        assert_eq!(evaluate_gateway(None, &c).status, Status::Fail);
    }

    #[test]
    fn an_accepted_route_with_resolved_references_passes() {
        let r = HttpRoute::from_object(&crate::k8s::gateway::tests::route_object(
            "model.homelab",
            "True",
            "True",
        ));
        let o = evaluate_http_route(Some(&r), &gateway_config());
        assert_eq!(o.status, Status::Pass, "{o:?}");
    }

    #[test]
    fn a_route_with_unresolved_references_another_host_or_none_fails() {
        let c = gateway_config();
        let r = HttpRoute::from_object(&crate::k8s::gateway::tests::route_object(
            "model.homelab",
            "True",
            "False",
        ));
        let o = evaluate_http_route(Some(&r), &c);
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.evidence
                .iter()
                .any(|d| d.contains("ResolvedRefs is False (BackendNotFound")),
            "{o:?}"
        );
        let r = HttpRoute::from_object(&crate::k8s::gateway::tests::route_object(
            "other.homelab",
            "True",
            "True",
        ));
        let o = evaluate_http_route(Some(&r), &c);
        assert!(
            o.evidence
                .iter()
                .any(|d| d.contains("no hostname model.homelab")),
            "{o:?}"
        );
        assert_eq!(evaluate_http_route(None, &c).status, Status::Fail);
    }
}
