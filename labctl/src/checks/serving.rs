//! Serving: the inference Deployment available, its pods on the pinned node, the Service
//! selecting them with a target port they have, and ready endpoints.

use super::available::evaluate_deployment_available;
use super::cluster::Cluster;
use super::{CheckError, Outcome};
use crate::config::LabConfig;
use crate::k8s::model::{Deployment, Pod};
use crate::k8s::names::labels_text;
use crate::k8s::placement::node_selector_value;
use crate::k8s::routing;
use crate::k8s::service;
use crate::k8s::workload::deployment_pod_spec;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

pub fn inference_available(cluster: &Cluster, c: &LabConfig) -> Result<Outcome, CheckError> {
    let d = cluster.get(
        &cluster.snapshot.deployments,
        Some(&c.namespace),
        &c.deployment,
    )?;
    Ok(evaluate_deployment_available(
        d,
        &format!("Deployment {}", c.deployment),
    ))
}

/// Restarts above this count mean the container is not stable.
pub const MAX_RESTARTS: i32 = 3;

pub fn evaluate_pods(pods: &[Pod], pinned_node: Option<&str>) -> Outcome {
    if pods.is_empty() {
        return Outcome::fail("no inference pods");
    }
    let mut problems = Vec::new();
    for pod in pods {
        let name = pod.metadata.name.as_deref().unwrap_or("<pod>");
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Unknown");
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
        if phase != "Running" {
            problems.push(format!("pod {name} is {phase}"));
        }
        if let (Some(want), Some(got)) = (pinned_node, node)
            && want != got
        {
            problems.push(format!(
                "pod {name} runs on {got}, not on the pinned node {want}"
            ));
        }
        for cs in status
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
        {
            let waiting = cs
                .state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref());
            if waiting == Some("CrashLoopBackOff") || cs.restart_count > MAX_RESTARTS {
                problems.push(format!(
                    "pod {name} container {} restarted {} times{}",
                    cs.name,
                    cs.restart_count,
                    waiting.map(|w| format!(" ({w})")).unwrap_or_default()
                ));
            }
        }
    }
    if problems.is_empty() {
        let on = pinned_node.map(|n| format!(" on {n}")).unwrap_or_default();
        Outcome::pass(format!("{} pod(s) Running{on}", pods.len()))
    } else {
        Outcome::fail(format!(
            "{} problem(s) with {} inference pod(s)",
            problems.len(),
            pods.len()
        ))
        .with_all(problems)
    }
}

pub fn inference_pods_pinned(cluster: &Cluster, c: &LabConfig) -> Result<Outcome, CheckError> {
    let s = &cluster.snapshot;
    let ns = Some(c.namespace.as_str());
    let Some(d) = cluster.get(&s.deployments, ns, &c.deployment)? else {
        return Ok(Outcome::fail(format!(
            "Deployment {} not found",
            c.deployment
        )));
    };
    let labels = d
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    // The pods the Deployment's selector matches, as a label-selected LIST answers.
    let pods: Vec<Pod> = cluster
        .list(&s.pods, ns)?
        .into_iter()
        .filter(|p| service::selects(&labels, p.metadata.labels.as_ref()))
        .cloned()
        .collect();
    // The pin: what the lab description says, else the Deployment's own nodeSelector.
    let pinned = c
        .pin_label_value
        .as_deref()
        .or_else(|| node_selector_value(deployment_pod_spec(d), &c.pin_label_key));
    let comparable = c.pin_label_key == "kubernetes.io/hostname";
    Ok(evaluate_pods(&pods, pinned.filter(|_| comparable)))
}

#[cfg(test)]
mod pods_tests {
    use super::*;
    use crate::checks::Status;
    use crate::checks::test_objects::*;

    use crate::k8s::model::{Pod, PodSpec};
    use k8s_openapi::api::core::v1::*;

    fn pod(name: &str, phase: &str, node: &str, restarts: i32, waiting: Option<&str>) -> Pod {
        Pod {
            metadata: meta(name),
            spec: Some(PodSpec {
                node_name: Some(node.into()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                container_statuses: Some(vec![ContainerStatus {
                    name: "inference".into(),
                    restart_count: restarts,
                    state: waiting.map(|w| ContainerState {
                        waiting: Some(ContainerStateWaiting {
                            reason: Some(w.into()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn running_pods_on_the_pinned_node_pass() {
        assert_eq!(
            evaluate_pods(&[pod("p1", "Running", "n1", 1, None)], Some("n1")).status,
            Status::Pass
        );
    }

    #[test]
    fn misplaced_crashing_or_missing_pods_fail() {
        let o = evaluate_pods(&[pod("p1", "Running", "n2", 0, None)], Some("n1"));
        assert_eq!(o.evidence, ["pod p1 runs on n2, not on the pinned node n1"]);
        let o = evaluate_pods(
            &[pod("p1", "Running", "n1", 7, Some("CrashLoopBackOff"))],
            Some("n1"),
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o.evidence[0].contains("restarted 7 times (CrashLoopBackOff)"));
        assert_eq!(
            evaluate_pods(&[pod("p1", "Pending", "n1", 0, None)], None).status,
            Status::Fail
        );
        assert_eq!(evaluate_pods(&[], None).status, Status::Fail);
    }
}

pub fn evaluate_service(svc: Option<&Service>, d: Option<&Deployment>, name: &str) -> Outcome {
    let Some(svc) = svc else {
        return Outcome::fail(format!("Service {name} not found"));
    };
    let Some(d) = d else {
        return Outcome::fail("the inference Deployment is not found");
    };
    let spec = svc.spec.clone().unwrap_or_default();
    let template = d.spec.as_ref().map(|s| &s.template);
    let labels = template
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let selector = spec.selector.clone().unwrap_or_default();
    let mut problems = Vec::new();
    if selector.is_empty() {
        problems.push("the Service has no selector".to_owned());
    }
    for (k, v) in &selector {
        if labels.get(k) != Some(v) {
            problems.push(format!(
                "selector {k}={v} does not match the pod template labels {}",
                labels_text(&labels)
            ));
        }
    }
    let containers = template
        .and_then(|t| t.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let declared = service::declared_ports(containers);
    for sp in spec.ports.iter().flatten() {
        if service::resolve_target_port(sp, &declared).is_none() {
            problems.push(format!(
                "targetPort {} of port {} is not a container port of the pods",
                service::target_text(&service::target_port(sp)),
                sp.port
            ));
        }
    }
    if problems.is_empty() {
        Outcome::pass(format!(
            "selector {} matches; target ports exist",
            labels_text(&selector)
        ))
    } else {
        Outcome::fail(format!("Service {name} does not reach the inference pods"))
            .with_all(problems)
    }
}

pub fn service_selects_pods(cluster: &Cluster, c: &LabConfig) -> Result<Outcome, CheckError> {
    let s = &cluster.snapshot;
    let ns = Some(c.namespace.as_str());
    let svc = cluster.get(&s.services, ns, &c.service)?;
    let d = cluster.get(&s.deployments, ns, &c.deployment)?;
    Ok(evaluate_service(svc, d, &c.service))
}

pub fn evaluate_endpoints(slices: &[EndpointSlice], service: &str) -> Outcome {
    let (mut ready, mut total) = (0, 0);
    for s in slices {
        for e in &s.endpoints {
            total += 1;
            // An unset `ready` means ready (discovery.k8s.io/v1 API docs).
            if e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true) {
                ready += 1;
            }
        }
    }
    if ready > 0 {
        Outcome::pass(format!("{ready} of {total} endpoints ready"))
    } else {
        let message = if total == 0 {
            format!("Service {service} has no endpoints: its selector matches no pod")
        } else {
            format!("Service {service} has no ready endpoints ({total} not ready)")
        };
        Outcome::fail(message).with("the ingress answers 503 for the host until a pod is Ready")
    }
}

pub fn endpoints_ready(cluster: &Cluster, c: &LabConfig) -> Result<Outcome, CheckError> {
    let slices = &cluster.snapshot.endpoint_slices;
    // The Service's slices, by the label the EndpointSlice controller sets on them.
    let slices: Vec<EndpointSlice> = cluster
        .list(slices, Some(&c.namespace))?
        .into_iter()
        .filter(|s| routing::slice_service(s) == Some(c.service.as_str()))
        .cloned()
        .collect();
    Ok(evaluate_endpoints(&slices, &c.service))
}

#[cfg(test)]
mod service_tests {
    use super::*;
    use crate::checks::Status;
    use crate::checks::test_objects::*;

    use crate::k8s::model::{Container, Deployment, DeploymentSpec, PodSpec, PodTemplateSpec};
    use k8s_openapi::api::core::v1::*;
    use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions};

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn inference_deployment(pod_labels: &[(&str, &str)], port_name: &str, port: i32) -> Deployment {
        Deployment {
            metadata: meta("inference"),
            spec: Some(DeploymentSpec {
                selector: LabelSelector {
                    match_labels: Some(labels(pod_labels)),
                    ..Default::default()
                },
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(labels(pod_labels)),
                        ..Default::default()
                    }),
                    spec: Some(PodSpec {
                        node_selector: Some(labels(&[(HOST, "n1")])),
                        containers: vec![Container {
                            name: "inference".into(),
                            ports: Some(vec![ContainerPort {
                                name: Some(port_name.into()),
                                container_port: port,
                                ..Default::default()
                            }]),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                },
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn matching_selector_and_target_port_pass() {
        let d = inference_deployment(&[("app", "inference")], "http", 8080);
        assert_eq!(
            node_selector_value(deployment_pod_spec(&d), HOST),
            Some("n1")
        );
        let by_name = service(&[("app", "inference")], IntOrString::String("http".into()));
        assert_eq!(
            evaluate_service(Some(&by_name), Some(&d), "inference").status,
            Status::Pass
        );
        let by_number = service(&[("app", "inference")], IntOrString::Int(8080));
        assert_eq!(
            evaluate_service(Some(&by_number), Some(&d), "inference").status,
            Status::Pass
        );
    }

    #[test]
    fn wrong_selector_or_target_port_fails() {
        let d = inference_deployment(&[("app", "inference")], "http", 8080);
        let o = evaluate_service(
            Some(&service(&[("app", "inferense")], IntOrString::Int(8080))),
            Some(&d),
            "inference",
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o.evidence[0].contains("selector app=inferense"));
        let o = evaluate_service(
            Some(&service(&[("app", "inference")], IntOrString::Int(9090))),
            Some(&d),
            "inference",
        );
        assert!(o.evidence[0].contains("targetPort 9090"));
        assert_eq!(
            evaluate_service(None, Some(&d), "inference").status,
            Status::Fail
        );
    }

    fn slice(ready: &[Option<bool>]) -> EndpointSlice {
        EndpointSlice {
            endpoints: ready
                .iter()
                .map(|r| Endpoint {
                    addresses: vec!["10.42.0.7".into()],
                    conditions: Some(EndpointConditions {
                        ready: *r,
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn ready_endpoints_pass() {
        assert_eq!(
            evaluate_endpoints(&[slice(&[Some(true), Some(false)])], "inference").status,
            Status::Pass
        );
        // Unset `ready` counts as ready.
        assert_eq!(
            evaluate_endpoints(&[slice(&[None])], "inference").status,
            Status::Pass
        );
    }

    #[test]
    fn no_ready_endpoints_fail() {
        assert_eq!(
            evaluate_endpoints(&[slice(&[Some(false)])], "inference").status,
            Status::Fail
        );
        let o = evaluate_endpoints(&[], "inference");
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("matches no pod"), "{}", o.message);
    }
}
