//! Objects built in code for the checks' tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use crate::k8s::model::{DaemonSet, Deployment, DeploymentSpec};
use k8s_openapi::api::apps::v1::*;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::*;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub(crate) fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        ..Default::default()
    }
}

pub(crate) fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(crate) const HOST: &str = "kubernetes.io/hostname";

pub(crate) fn deployment(available: bool, ready: i32) -> Deployment {
    Deployment {
        metadata: meta("d"),
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            ..Default::default()
        }),
        status: Some(DeploymentStatus {
            ready_replicas: Some(ready),
            conditions: Some(vec![DeploymentCondition {
                type_: "Available".into(),
                status: if available { "True" } else { "False" }.into(),
                message: Some("Deployment does not have minimum availability.".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    }
}

pub(crate) fn daemonset(desired: i32, available: i32) -> DaemonSet {
    DaemonSet {
        metadata: meta("ingress-nginx-controller"),
        status: Some(DaemonSetStatus {
            desired_number_scheduled: desired,
            number_available: Some(available),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(crate) fn service(selector: &[(&str, &str)], target: IntOrString) -> Service {
    Service {
        metadata: meta("inference"),
        spec: Some(ServiceSpec {
            selector: Some(labels(selector)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: 80,
                target_port: Some(target),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}
