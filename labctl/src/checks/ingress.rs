//! Ingress: the controller in use (Traefik, k3s's default; or ingress-nginx, end of life), its
//! IngressClass and published address before deploying; the lab's Ingress routing the host
//! afterwards. The Gateway API's Gateway and HTTPRoute: `gateway.rs`.

use crate::k8s::model::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

use super::available::{evaluate_daemonset_available, evaluate_deployment_available};
use super::cluster::Cluster;
use super::{CheckError, Outcome};
use crate::config::{IngressController, LabConfig};
use crate::context::Context;
use crate::fetch;

/// Whether the lab routes through an Ingress (Traefik, ingress-nginx) rather than an HTTPRoute.
pub fn uses_ingress(config: &LabConfig) -> bool {
    config.ingress_controller != IngressController::Gateway
}

/// ingress-nginx has had no release or security fix since March 2026: a warning that points
/// at the migration. Traefik and the Gateway API are maintained.
pub fn evaluate_controller_supported(controller: IngressController) -> Outcome {
    match controller {
        IngressController::IngressNginx => Outcome::fail(
            "ingress-nginx reached end of life in March 2026: no releases or security fixes since",
        )
        .with("move to Traefik (k3s's default) or the Gateway API: runbooks/prerequisites.md#migrate-from-ingress-nginx"),
        IngressController::Traefik => Outcome::pass("Traefik (k3s's bundled ingress controller)"),
        IngressController::Gateway => Outcome::pass("Gateway API (HTTPRoute)"),
    }
}

pub async fn ingress_controller_supported(ctx: &Context) -> Result<Outcome, CheckError> {
    Ok(evaluate_controller_supported(ctx.config.ingress_controller))
}

/// A controller runs as a Deployment (Traefik's and ingress-nginx's charts' default) or, on
/// bare metal with `hostNetwork`, often as a DaemonSet: either counts.
pub fn evaluate_ingress_controller(
    deployment: Option<&Deployment>,
    daemonset: Option<&DaemonSet>,
    namespace: &str,
    name: &str,
    controller: IngressController,
) -> Outcome {
    match (deployment, daemonset) {
        (Some(d), _) => {
            evaluate_deployment_available(Some(d), &format!("Deployment {namespace}/{name}"))
        }
        (None, Some(ds)) => {
            evaluate_daemonset_available(ds, &format!("DaemonSet {namespace}/{name}"))
        }
        (None, None) => Outcome::fail(format!("no Deployment or DaemonSet {namespace}/{name}"))
            .with(format!(
                "ingress_controller = \"{}\": install it (runbook), or set ingress_controller / ingress_controller_workload in labctl.toml",
                controller.as_str()
            )),
    }
}

pub async fn ingress_controller_available(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = super::client(ctx).await?;
    let c = ctx.config.controller_workload();
    let d: Option<Deployment> = fetch::get_namespaced(&client, &c.namespace, &c.name).await?;
    // Only asked for when there is no Deployment: a Deployment install needs no DaemonSet
    // permission (roles made before labctl read DaemonSets lack `get`).
    let ds: Option<DaemonSet> = match d {
        Some(_) => None,
        None => fetch::get_namespaced(&client, &c.namespace, &c.name).await?,
    };
    Ok(evaluate_ingress_controller(
        d.as_ref(),
        ds.as_ref(),
        &c.namespace,
        &c.name,
        ctx.config.ingress_controller,
    ))
}

/// The IngressClass `name` exists and belongs to the controller in use.
pub fn evaluate_ingress_class(
    class: Option<&IngressClass>,
    name: &str,
    controller: IngressController,
) -> Outcome {
    let Some(class) = class else {
        return Outcome::fail(format!("IngressClass {name} not found"));
    };
    let found = class
        .spec
        .as_ref()
        .and_then(|s| s.controller.as_deref())
        .unwrap_or("");
    let expected = controller.class_controller();
    if found == expected {
        Outcome::pass(format!("IngressClass {name} (controller {found})"))
    } else {
        Outcome::fail(format!(
            "IngressClass {name} belongs to controller {found:?}, not {expected} ({})",
            controller.as_str()
        ))
        .with("set ingress_controller (or ingress_class) in labctl.toml to the controller that serves it")
    }
}

pub async fn ingressclass_matches_controller(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = super::client(ctx).await?;
    let name = ctx.config.ingress_class_name();
    let class: Option<IngressClass> = fetch::get_cluster(&client, &name).await?;
    Ok(evaluate_ingress_class(
        class.as_ref(),
        &name,
        ctx.config.ingress_controller,
    ))
}

pub fn evaluate_ingress_address(
    svc: Option<&Service>,
    what: &str,
    configured: Option<std::net::IpAddr>,
) -> Outcome {
    let Some(svc) = svc else {
        return Outcome::fail(format!("Service {what} not found"));
    };
    match (
        super::dataplane::ingress_address_from(None, Some(svc)),
        configured,
    ) {
        (Some(ip), _) => Outcome::pass(format!("{what} publishes {ip}")),
        (None, Some(ip)) => Outcome::warn(format!(
            "{what} publishes no address; using ingress_address {ip} from the lab description"
        ))
        .with("Ingress status stays empty, so Argo CD keeps the Ingress Progressing"),
        (None, None) => {
            let kind = svc
                .spec
                .as_ref()
                .and_then(|s| s.type_.as_deref())
                .unwrap_or("ClusterIP");
            Outcome::fail(format!(
                "{what} (type {kind}) publishes no external address"
            ))
            .with("use a LoadBalancer (k3s's ServiceLB, MetalLB) or set externalIPs")
        }
    }
}

pub async fn ingress_address_published(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = super::client(ctx).await?;
    let c = ctx.config.controller_workload();
    let svc: Option<Service> = fetch::get_namespaced(&client, &c.namespace, &c.name).await?;
    Ok(evaluate_ingress_address(
        svc.as_ref(),
        &format!("{}/{}", c.namespace, c.name),
        ctx.config.ingress_address,
    ))
}

#[cfg(test)]
mod controller_tests {
    use super::*;
    use crate::checks::Status;
    use crate::checks::test_objects::*;

    use k8s_openapi::api::core::v1::*;

    use k8s_openapi::api::networking::v1::*;

    const NGINX: IngressController = IngressController::IngressNginx;

    #[test]
    fn ingress_nginx_warns_end_of_life_and_the_others_pass() {
        let o = evaluate_controller_supported(NGINX);
        assert_eq!(o.status, Status::Fail, "{o:?}");
        assert!(o.message.contains("end of life"), "{o:?}");
        assert!(
            o.evidence
                .iter()
                .any(|d| d.contains("#migrate-from-ingress-nginx")),
            "{o:?}"
        );
        for c in [IngressController::Traefik, IngressController::Gateway] {
            assert_eq!(evaluate_controller_supported(c).status, Status::Pass);
        }
    }

    #[test]
    fn ingress_controller_as_deployment_or_daemonset_passes() {
        let ns = "ingress-nginx";
        let name = "ingress-nginx-controller";
        let o = evaluate_ingress_controller(Some(&deployment(true, 1)), None, ns, name, NGINX);
        assert_eq!(o.status, Status::Pass, "{o:?}");
        let o = evaluate_ingress_controller(None, Some(&daemonset(2, 2)), ns, name, NGINX);
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert_eq!(
            o.message,
            "DaemonSet ingress-nginx/ingress-nginx-controller: 2/2 available"
        );
    }

    #[test]
    fn ingress_controller_missing_or_unavailable_fails() {
        let ns = "ingress-nginx";
        let name = "ingress-nginx-controller";
        let o = evaluate_ingress_controller(None, None, ns, name, NGINX);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.message,
            "no Deployment or DaemonSet ingress-nginx/ingress-nginx-controller"
        );
        let o = evaluate_ingress_controller(None, Some(&daemonset(1, 0)), ns, name, NGINX);
        assert_eq!(o.status, Status::Fail, "{o:?}");
        let o = evaluate_ingress_controller(None, Some(&daemonset(0, 0)), ns, name, NGINX);
        assert_eq!(o.status, Status::Fail, "{o:?}");
        assert!(o.message.contains("runs on no node"), "{o:?}");
        let o = evaluate_ingress_controller(None, Some(&daemonset(3, 1)), ns, name, NGINX);
        assert_eq!(o.status, Status::Warn, "{o:?}");
        let o = evaluate_ingress_controller(Some(&deployment(false, 0)), None, ns, name, NGINX);
        assert_eq!(o.status, Status::Fail, "{o:?}");
    }

    fn ingress_class(controller: &str) -> IngressClass {
        IngressClass {
            metadata: meta("nginx"),
            spec: Some(IngressClassSpec {
                controller: Some(controller.into()),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn the_class_of_the_controller_in_use_passes() {
        let traefik = IngressController::Traefik;
        assert_eq!(
            evaluate_ingress_class(Some(&ingress_class("k8s.io/ingress-nginx")), "nginx", NGINX)
                .status,
            Status::Pass
        );
        assert_eq!(
            evaluate_ingress_class(
                Some(&ingress_class("traefik.io/ingress-controller")),
                "traefik",
                traefik
            )
            .status,
            Status::Pass
        );
    }

    #[test]
    fn another_controllers_or_a_missing_class_fails() {
        let o = evaluate_ingress_class(
            Some(&ingress_class("traefik.io/ingress-controller")),
            "nginx",
            NGINX,
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("not k8s.io/ingress-nginx"), "{o:?}");
        assert_eq!(
            evaluate_ingress_class(None, "nginx", NGINX).status,
            Status::Fail
        );
    }

    fn controller_service(ip: Option<&str>) -> Service {
        Service {
            metadata: meta("ingress-nginx-controller"),
            spec: Some(ServiceSpec {
                type_: Some("LoadBalancer".into()),
                ..Default::default()
            }),
            status: Some(ServiceStatus {
                load_balancer: Some(LoadBalancerStatus {
                    ingress: ip.map(|ip| {
                        vec![LoadBalancerIngress {
                            ip: Some(ip.into()),
                            ..Default::default()
                        }]
                    }),
                }),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn published_ingress_address_passes() {
        let o = evaluate_ingress_address(
            Some(&controller_service(Some("192.168.1.50"))),
            "ingress-nginx/c",
            None,
        );
        assert_eq!(o.status, Status::Pass);
        assert!(o.message.contains("192.168.1.50"));
    }

    #[test]
    fn unpublished_ingress_address_fails_or_warns_with_a_configured_one() {
        let svc = controller_service(None);
        let o = evaluate_ingress_address(Some(&svc), "ingress-nginx/c", None);
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("LoadBalancer"));
        let o = evaluate_ingress_address(
            Some(&svc),
            "ingress-nginx/c",
            Some("192.168.1.50".parse().unwrap()),
        );
        assert_eq!(o.status, Status::Warn);
    }
}

pub fn evaluate_ingress(
    ingress: Option<&Ingress>,
    svc: Option<&Service>,
    config: &LabConfig,
) -> Outcome {
    let name = &config.ingress;
    let Some(ing) = ingress else {
        return Outcome::fail(format!("Ingress {name} not found"));
    };
    let spec = ing.spec.clone().unwrap_or_default();
    let mut problems = Vec::new();
    let class = spec.ingress_class_name.clone().or_else(|| {
        ing.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("kubernetes.io/ingress.class").cloned())
    });
    let expected = config.ingress_class_name();
    if class.as_deref() != Some(expected.as_str()) {
        problems.push(format!("ingressClassName is {class:?}, not {expected:?}"));
    }
    let service_ports: Vec<(i32, Option<String>)> = svc
        .and_then(|s| s.spec.as_ref())
        .map(|s| {
            s.ports
                .iter()
                .flatten()
                .map(|p| (p.port, p.name.clone()))
                .collect()
        })
        .unwrap_or_default();
    let rules: Vec<_> = spec
        .rules
        .iter()
        .flatten()
        .filter(|r| r.host.as_deref() == Some(config.host.as_str()))
        .collect();
    if rules.is_empty() {
        let hosts: Vec<&str> = spec
            .rules
            .iter()
            .flatten()
            .filter_map(|r| r.host.as_deref())
            .collect();
        let routed = crate::k8s::names::list_or_none(&hosts);
        problems.push(format!(
            "no rule for host {} (hosts routed: {routed})",
            config.host
        ));
    }
    let backends: Vec<_> = rules
        .iter()
        .flat_map(|r| r.http.iter().flat_map(|h| h.paths.iter()))
        .filter_map(|p| p.backend.service.as_ref())
        .collect();
    if !rules.is_empty() {
        let ok = backends.iter().any(|b| {
            b.name == config.service
                && b.port.as_ref().is_some_and(|port| {
                    service_ports.iter().any(|(n, pname)| {
                        port.number == Some(*n) || (port.name.is_some() && port.name == *pname)
                    })
                })
        });
        if !ok {
            let seen: Vec<String> = backends
                .iter()
                .map(|b| {
                    let port = b.port.as_ref();
                    let p = port.and_then(|p| p.number.map(|n| n.to_string()).or(p.name.clone()));
                    format!("{}:{}", b.name, p.unwrap_or_default())
                })
                .collect();
            problems.push(format!(
                "host {} is not routed to a port of Service {} (backends: {})",
                config.host,
                config.service,
                if seen.is_empty() {
                    "none".to_owned()
                } else {
                    seen.join(", ")
                }
            ));
        }
    }
    let address = super::dataplane::ingress_address_from(Some(ing), None);
    if address.is_none() {
        problems.push(
            "status.loadBalancer is empty: no address published (Argo CD keeps it Progressing)"
                .to_owned(),
        );
    }
    if problems.is_empty() {
        Outcome::pass(format!(
            "{} → {}, address {}",
            config.host,
            config.service,
            address.map(|a| a.to_string()).unwrap_or_default()
        ))
    } else {
        Outcome::fail(format!(
            "Ingress {name} does not route {} correctly",
            config.host
        ))
        .with_all(problems)
    }
}

pub fn ingress_routes_host(cluster: &Cluster, c: &LabConfig) -> Result<Outcome, CheckError> {
    let s = &cluster.snapshot;
    let ns = Some(c.namespace.as_str());
    let ing = cluster.get(&s.ingresses, ns, &c.ingress)?;
    let svc = cluster.get(&s.services, ns, &c.service)?;
    Ok(evaluate_ingress(ing, svc, c))
}

#[cfg(test)]
mod routes_tests {
    use super::*;
    use crate::checks::Status;
    use crate::checks::test_objects::*;

    use k8s_openapi::api::networking::v1::*;

    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn ingress(class: &str, host: &str, port: i32, address: Option<&str>) -> Ingress {
        Ingress {
            metadata: meta("inference"),
            spec: Some(IngressSpec {
                ingress_class_name: Some(class.into()),
                rules: Some(vec![IngressRule {
                    host: Some(host.into()),
                    http: Some(HTTPIngressRuleValue {
                        paths: vec![HTTPIngressPath {
                            path: Some("/".into()),
                            path_type: "Prefix".into(),
                            backend: IngressBackend {
                                service: Some(IngressServiceBackend {
                                    name: "inference".into(),
                                    port: Some(ServiceBackendPort {
                                        number: Some(port),
                                        ..Default::default()
                                    }),
                                }),
                                ..Default::default()
                            },
                        }],
                    }),
                }]),
                ..Default::default()
            }),
            status: Some(IngressStatus {
                load_balancer: Some(IngressLoadBalancerStatus {
                    ingress: address.map(|a| {
                        vec![IngressLoadBalancerIngress {
                            ip: Some(a.into()),
                            ..Default::default()
                        }]
                    }),
                }),
            }),
        }
    }

    #[test]
    fn routed_ingress_with_address_passes() {
        let svc = service(&[("app", "inference")], IntOrString::Int(8080));
        let o = evaluate_ingress(
            Some(&ingress(
                "traefik",
                "model.homelab",
                80,
                Some("192.168.1.50"),
            )),
            Some(&svc),
            &LabConfig::default(),
        );
        assert_eq!(o.status, Status::Pass, "{o:?}");
    }

    #[test]
    fn wrong_class_host_port_or_no_address_fails() {
        let svc = service(&[("app", "inference")], IntOrString::Int(8080));
        let config = LabConfig::default();
        let o = evaluate_ingress(
            Some(&ingress("nginx", "model.homelab", 80, Some("192.168.1.50"))),
            Some(&svc),
            &config,
        );
        assert_eq!(
            o.evidence[0],
            "ingressClassName is Some(\"nginx\"), not \"traefik\""
        );
        let o = evaluate_ingress(
            Some(&ingress("traefik", "model.lan", 80, Some("192.168.1.50"))),
            Some(&svc),
            &config,
        );
        assert_eq!(
            o.evidence[0],
            "no rule for host model.homelab (hosts routed: model.lan)"
        );
        let o = evaluate_ingress(
            Some(&ingress(
                "traefik",
                "model.homelab",
                8080,
                Some("192.168.1.50"),
            )),
            Some(&svc),
            &config,
        );
        assert!(o.evidence[0].contains("inference:8080"), "{o:?}");
        let o = evaluate_ingress(
            Some(&ingress("traefik", "model.homelab", 80, None)),
            Some(&svc),
            &config,
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o.evidence[0].contains("no address"));
    }
}
