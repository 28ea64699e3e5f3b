//! Data-plane checks: what a LAN client sees. DNS through Pi-hole, then HTTP through the
//! ingress with the lab's Host header. They need the Kubernetes API only to learn the ingress
//! address when the lab description does not give it, and to explain a failed request by the
//! objects that route the host: from the round's snapshot when `verify` read one, else live.

use std::net::{IpAddr, SocketAddr};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;

use super::cluster::Cluster;
use super::{CheckError, Outcome};
use crate::config::{IngressController, LabConfig};
use crate::context::Context;
use crate::dns::{Answer, DnsError};
use crate::fetch;
use crate::http::{Hop, HopError, Response};
use crate::k8s::gateway;
use crate::k8s::routing::{self, HostRoute};
use crate::snapshot::{ClusterSnapshot, Held};
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The first address published in a load-balancer status (IP, or a hostname we cannot use).
fn lb_ip(status: Option<&k8s_openapi::api::core::v1::LoadBalancerStatus>) -> Option<IpAddr> {
    status?
        .ingress
        .as_ref()?
        .iter()
        .find_map(|i| i.ip.as_deref()?.parse().ok())
}

/// The ingress address: the Ingress status first (what the controller publishes), then the
/// controller Service (load-balancer IP, then externalIPs).
pub fn ingress_address_from(
    ingress: Option<&Ingress>,
    controller: Option<&Service>,
) -> Option<IpAddr> {
    let from_ingress = ingress.and_then(|i| {
        let lb = i.status.as_ref()?.load_balancer.as_ref()?;
        lb.ingress
            .as_ref()?
            .iter()
            .find_map(|x| x.ip.as_deref()?.parse().ok())
    });
    from_ingress.or_else(|| {
        let svc = controller?;
        lb_ip(svc.status.as_ref().and_then(|s| s.load_balancer.as_ref())).or_else(|| {
            svc.spec
                .as_ref()?
                .external_ips
                .as_ref()?
                .iter()
                .find_map(|ip| ip.parse().ok())
        })
    })
}

/// The address of the ingress: `ingress_address` from the description, else read from the
/// cluster: the lab's Ingress from the round's snapshot when there is one, the controller's
/// Service (in its own namespace, which the snapshot does not read) live when the Ingress
/// publishes none. `Ok(None)` = the cluster publishes none.
pub async fn ingress_address(
    ctx: &Context,
    cluster: Option<&Cluster>,
) -> Result<Option<IpAddr>, CheckError> {
    if let Some(ip) = ctx.config.ingress_address {
        return Ok(Some(ip));
    }
    let client = super::client(ctx).await?;
    let c = &ctx.config;
    let workload = c.controller_workload();
    let controller =
        || fetch::get_namespaced::<Service>(&client, &workload.namespace, &workload.name);
    let Some(cluster) = cluster else {
        let (ingress, controller) = futures::try_join!(
            fetch::get_namespaced::<Ingress>(&client, &c.namespace, &c.ingress),
            controller(),
        )?;
        return Ok(ingress_address_from(ingress.as_ref(), controller.as_ref()));
    };
    let ingress = cluster.get(&cluster.snapshot.ingresses, Some(&c.namespace), &c.ingress)?;
    if let Some(ip) = ingress_address_from(ingress, None) {
        return Ok(Some(ip));
    }
    Ok(ingress_address_from(ingress, controller().await?.as_ref()))
}

async fn ingress_socket(
    ctx: &Context,
    cluster: Option<&Cluster>,
) -> Result<Result<SocketAddr, Outcome>, CheckError> {
    Ok(match ingress_address(ctx, cluster).await? {
        Some(ip) => Ok(SocketAddr::new(ip, ctx.config.ingress_port)),
        None => Err(Outcome::fail(
            "no ingress address: the Ingress status and the controller Service publish none",
        )
        .with("set ingress_address in labctl.toml or pass --ingress-address to test anyway")),
    })
}

// ---------------------------------------------------------------------------------------------
// dns-resolves-host (verify) and pihole-dns-record (preflight)

/// verify: Pi-hole resolves the host to the ingress address.
pub fn evaluate_dns_resolves(
    answer: &Result<Answer, DnsError>,
    expected: Option<IpAddr>,
) -> Outcome {
    match answer {
        Err(e) => Outcome::fail(e.to_string()),
        Ok(a) => {
            let got = join(&a.addresses);
            let server = format!("answered by {}", a.server);
            match expected {
                Some(ip) if a.addresses.contains(&ip) => {
                    Outcome::pass(format!("{} → {got}, {server}", a.host))
                }
                Some(ip) => Outcome::fail(format!(
                    "{} resolves to {got}, not to the ingress address {ip}",
                    a.host
                ))
                .with(server),
                None => Outcome::warn(format!(
                    "{} → {got}, {server}; the ingress address is unknown, so it was not compared",
                    a.host
                )),
            }
        }
    }
}

/// preflight: Pi-hole answers and has a record for the host (a missing record is a warning with
/// the exact record to add).
pub fn evaluate_pihole_record(
    answer: &Result<Answer, DnsError>,
    ingress: Option<IpAddr>,
) -> Outcome {
    match answer {
        Ok(a) => Outcome::pass(format!(
            "{} → {}, answered by {}",
            a.host,
            join(&a.addresses),
            a.server
        )),
        Err(DnsError::NoRecord { host, server } | DnsError::Refused { host, server }) => {
            Outcome::warn(format!(
                "Pi-hole at {server} answers but has no record for {host}"
            ))
            .with_all(crate::dns::pihole_record_hint(host, ingress))
        }
        Err(e @ DnsError::NoAnswer { .. }) => Outcome::fail(e.to_string()),
    }
}

fn join(addresses: &[IpAddr]) -> String {
    addresses
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// DNS gets most of the check's time, so its own, more precise error (naming the server) wins
/// over the runner's generic timeout.
fn dns_budget(ctx: &Context) -> std::time::Duration {
    ctx.timeout * 3 / 4
}

fn no_pihole() -> Outcome {
    Outcome::fail("no Pi-hole DNS server configured")
        .with("set pihole_dns = \"IP[:PORT]\" in labctl.toml or pass --dns")
}

pub async fn dns_resolves_host(
    ctx: &Context,
    cluster: Option<&Cluster>,
) -> Result<Outcome, CheckError> {
    let Some(server) = ctx.config.pihole_dns else {
        return Ok(no_pihole());
    };
    let answer = crate::dns::resolve(server, &ctx.config.host, dns_budget(ctx)).await;
    let expected = ingress_address(ctx, cluster).await?;
    Ok(evaluate_dns_resolves(&answer, expected))
}

pub async fn pihole_dns_record(ctx: &Context) -> Result<Outcome, CheckError> {
    // Before deploying, a missing setting is worth a warning; `verify` fails on it.
    let Some(server) = ctx.config.pihole_dns else {
        let mut outcome = no_pihole();
        outcome.status = super::Status::Warn;
        return Ok(outcome);
    };
    let answer = crate::dns::resolve(server, &ctx.config.host, dns_budget(ctx)).await;
    // The address only improves the hint; do not fail the check when it cannot be read.
    let ingress = ingress_address(ctx, None).await.ok().flatten();
    Ok(evaluate_pihole_record(&answer, ingress))
}

// ---------------------------------------------------------------------------------------------
// http-healthz and model-ready (verify)

pub fn evaluate_healthz(
    result: &Result<Response, HopError>,
    host: &str,
    address: SocketAddr,
) -> Outcome {
    match result {
        Ok(r) => Outcome::pass(format!(
            "{} in {:.1} ms via {address}",
            r.status,
            r.latency.as_secs_f64() * 1000.0
        )),
        Err(e) => {
            Outcome::fail(e.to_string()).with(format!("GET http://{host}/healthz via {address}"))
        }
    }
}

pub fn evaluate_readyz(
    result: &Result<Response, HopError>,
    host: &str,
    address: SocketAddr,
) -> Outcome {
    match result {
        Ok(r) => {
            let v: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
            match v.get("model_version").and_then(|m| m.as_str()) {
                Some(version) if !version.is_empty() => {
                    Outcome::pass(format!("model {version} is loaded"))
                }
                _ => Outcome::fail(format!(
                    "GET http://{host}/readyz via {address} answered {} without a model_version",
                    r.status
                ))
                .with(format!("body: {}", r.body.trim())),
            }
        }
        Err(e) => {
            Outcome::fail(e.to_string()).with(format!("GET http://{host}/readyz via {address}"))
        }
    }
}

pub async fn http_healthz(ctx: &Context, cluster: Option<&Cluster>) -> Result<Outcome, CheckError> {
    let address = match ingress_socket(ctx, cluster).await? {
        Ok(a) => a,
        Err(outcome) => return Ok(outcome),
    };
    let result = crate::http::get(address, &ctx.config.host, "/healthz", ctx.timeout).await;
    let result = explained(ctx, cluster, result).await;
    Ok(evaluate_healthz(&result, &ctx.config.host, address))
}

pub async fn model_ready(ctx: &Context, cluster: Option<&Cluster>) -> Result<Outcome, CheckError> {
    let address = match ingress_socket(ctx, cluster).await? {
        Ok(a) => a,
        Err(outcome) => return Ok(outcome),
    };
    let result = crate::http::get(address, &ctx.config.host, "/readyz", ctx.timeout).await;
    let result = explained(ctx, cluster, result).await;
    Ok(evaluate_readyz(&result, &ctx.config.host, address))
}

/// A routing or backend failure explained by the objects that route the host
/// ([`crate::http::explain_with_route`]): the round's snapshot's when there is one, else read
/// live when the API can be read.
pub async fn explained(
    ctx: &Context,
    cluster: Option<&Cluster>,
    result: Result<Response, HopError>,
) -> Result<Response, HopError> {
    match result {
        Err(e) if matches!(e.hop, Hop::IngressRouting | Hop::Backend) => {
            let route = match cluster {
                Some(cluster) => host_route_in(&cluster.snapshot, &ctx.config),
                None => host_route(ctx).await,
            };
            match route {
                Some(route) => Err(crate::http::explain_with_route(e, &route, &ctx.config.host)),
                None => Err(e),
            }
        }
        other => other,
    }
}

/// The objects that route the lab's host, read from the API within the context's timeout;
/// `None` when the API cannot be read (no kubeconfig, forbidden, unreachable): the HTTP
/// answer then speaks alone.
pub async fn host_route(ctx: &Context) -> Option<HostRoute> {
    let read = async {
        let client = ctx.client().await.ok()?;
        let c = &ctx.config;
        let ns = c.namespace.as_str();
        let all = kube::api::ListParams::default();
        let (services, slices) = futures::try_join!(
            fetch::list_namespaced::<Service>(&client, ns, &all),
            fetch::list_namespaced::<EndpointSlice>(&client, ns, &all),
        )
        .ok()?;
        Some(if c.ingress_controller == IngressController::Gateway {
            let routes = fetch::list_dynamic(&client, ns, &gateway::http_route_resource())
                .await
                .ok()?;
            let routes: Vec<_> = routes.iter().map(gateway::HttpRoute::from_object).collect();
            routing::http_route(&routes, &services, &slices, ns, &c.host, true)
        } else {
            let ingresses = fetch::list_namespaced::<Ingress>(&client, ns, &all)
                .await
                .ok()?;
            routing::ingress_route(&ingresses, &services, &slices, ns, &c.host, true)
        })
    };
    tokio::time::timeout(ctx.timeout, read).await.ok().flatten()
}

/// [`host_route`] from a snapshot; `None` when it lacks a list the route is judged by.
pub fn host_route_in(s: &ClusterSnapshot, c: &LabConfig) -> Option<HostRoute> {
    let ns = c.namespace.as_str();
    let holds = |key: &str, objects: bool| s.held(key, objects) == Held::Yes;
    let known = holds("v1/services", !s.services.is_empty())
        && holds(
            "discovery.k8s.io/v1/endpointslices",
            !s.endpoint_slices.is_empty(),
        );
    if !known {
        return None;
    }
    Some(if c.ingress_controller == IngressController::Gateway {
        let key = format!("{}/httproutes", gateway::API_VERSION);
        if !holds(&key, !s.http_routes.is_empty()) {
            return None;
        }
        let routes: Vec<_> = s
            .http_routes
            .iter()
            .map(gateway::HttpRoute::from_object)
            .collect();
        routing::http_route(&routes, &s.services, &s.endpoint_slices, ns, &c.host, true)
    } else {
        if !holds("networking.k8s.io/v1/ingresses", !s.ingresses.is_empty()) {
            return None;
        }
        routing::ingress_route(
            &s.ingresses,
            &s.services,
            &s.endpoint_slices,
            ns,
            &c.host,
            true,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        LoadBalancerIngress, LoadBalancerStatus, ServiceSpec, ServiceStatus,
    };
    use k8s_openapi::api::networking::v1::{
        IngressLoadBalancerIngress, IngressLoadBalancerStatus, IngressStatus,
    };
    use std::time::Duration;

    fn server() -> SocketAddr {
        "192.168.1.2:53".parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn answer(addrs: &[&str]) -> Result<Answer, DnsError> {
        Ok(Answer {
            host: "model.homelab".into(),
            addresses: addrs.iter().map(|a| ip(a)).collect(),
            server: server(),
        })
    }

    #[test]
    fn dns_resolves_to_ingress_passes() {
        let o = evaluate_dns_resolves(&answer(&["192.168.1.50"]), Some(ip("192.168.1.50")));
        assert_eq!(o.status, super::super::Status::Pass);
        assert!(
            o.message.contains("answered by 192.168.1.2:53"),
            "{}",
            o.message
        );
    }

    #[test]
    fn dns_resolving_elsewhere_fails() {
        let o = evaluate_dns_resolves(&answer(&["192.168.1.99"]), Some(ip("192.168.1.50")));
        assert_eq!(o.status, super::super::Status::Fail);
        assert!(
            o.message
                .contains("not to the ingress address 192.168.1.50")
        );
        let o = evaluate_dns_resolves(
            &Err(DnsError::NoAnswer {
                host: "model.homelab".into(),
                server: server(),
                cause: "timeout".into(),
            }),
            Some(ip("192.168.1.50")),
        );
        assert_eq!(o.status, super::super::Status::Fail);
        assert!(o.message.contains("192.168.1.2:53"));
    }

    #[test]
    fn pihole_record_present_passes() {
        assert_eq!(
            evaluate_pihole_record(&answer(&["192.168.1.50"]), None).status,
            super::super::Status::Pass
        );
    }

    #[test]
    fn pihole_record_missing_warns_with_the_record_to_add() {
        let o = evaluate_pihole_record(
            &Err(DnsError::NoRecord {
                host: "model.homelab".into(),
                server: server(),
            }),
            Some(ip("192.168.1.50")),
        );
        assert_eq!(o.status, super::super::Status::Warn);
        assert!(
            o.evidence
                .iter()
                .any(|l| l.contains("\"192.168.1.50 model.homelab\""))
        );
        let o = evaluate_pihole_record(
            &Err(DnsError::NoAnswer {
                host: "h".into(),
                server: server(),
                cause: "refused".into(),
            }),
            None,
        );
        assert_eq!(o.status, super::super::Status::Fail);
    }

    fn ok(status: u16, body: &str) -> Result<Response, HopError> {
        Ok(Response {
            status,
            body: body.into(),
            latency: Duration::from_millis(2),
        })
    }
    fn addr() -> SocketAddr {
        "192.168.1.50:80".parse().unwrap()
    }

    #[test]
    fn healthz_200_passes_and_routing_failure_fails() {
        assert_eq!(
            evaluate_healthz(&ok(200, "ok"), "model.homelab", addr()).status,
            super::super::Status::Pass
        );
        let o = evaluate_healthz(
            &Err(HopError::new(Hop::IngressRouting, "not routed")),
            "model.homelab",
            addr(),
        );
        assert_eq!(o.status, super::super::Status::Fail);
        assert!(
            o.message.contains("ingress routing failed"),
            "{}",
            o.message
        );
    }

    #[test]
    fn readyz_needs_a_model_version() {
        let o = evaluate_readyz(
            &ok(200, r#"{"ready":true,"model_version":"v1"}"#),
            "h",
            addr(),
        );
        assert_eq!(o.status, super::super::Status::Pass);
        assert!(o.message.contains("v1"));
        assert_eq!(
            evaluate_readyz(&ok(200, r#"{"ready":true}"#), "h", addr()).status,
            super::super::Status::Fail
        );
        let o = evaluate_readyz(
            &Err(HopError::new(Hop::ModelNotReady, "no model")),
            "h",
            addr(),
        );
        assert_eq!(o.status, super::super::Status::Fail);
    }

    #[test]
    fn ingress_address_prefers_ingress_status_then_controller_service() {
        let ingress = Ingress {
            status: Some(IngressStatus {
                load_balancer: Some(IngressLoadBalancerStatus {
                    ingress: Some(vec![IngressLoadBalancerIngress {
                        ip: Some("192.168.1.50".into()),
                        ..Default::default()
                    }]),
                }),
            }),
            ..Default::default()
        };
        let svc = Service {
            status: Some(ServiceStatus {
                load_balancer: Some(LoadBalancerStatus {
                    ingress: Some(vec![LoadBalancerIngress {
                        ip: Some("192.168.1.60".into()),
                        ..Default::default()
                    }]),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            ingress_address_from(Some(&ingress), Some(&svc)),
            Some(ip("192.168.1.50"))
        );
        assert_eq!(
            ingress_address_from(Some(&Ingress::default()), Some(&svc)),
            Some(ip("192.168.1.60"))
        );
        let external = Service {
            spec: Some(ServiceSpec {
                external_ips: Some(vec!["192.168.1.70".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            ingress_address_from(None, Some(&external)),
            Some(ip("192.168.1.70"))
        );
        assert_eq!(ingress_address_from(None, None), None);
    }

    /// From a snapshot, the host's route is judged only when it holds the lists that route it:
    /// a file of `kubectl get` without Services cannot tell a Service without endpoints.
    #[test]
    fn the_route_from_a_snapshot_needs_the_lists_that_route_the_host() {
        let config = LabConfig::default();
        let mut s = ClusterSnapshot::default();
        assert!(host_route_in(&s, &config).is_none());
        s.read = Some(crate::snapshot::resources());
        let route = host_route_in(&s, &config).expect("every list read");
        assert!(!route.reaches_a_service());
        s.forbidden.insert(
            "v1/services".into(),
            "cannot list services in mlops-lab".into(),
        );
        assert!(host_route_in(&s, &config).is_none());
    }
}
