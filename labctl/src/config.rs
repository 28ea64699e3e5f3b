//! The lab description: the names, addresses and labels labctl judges the cluster against.
//!
//! Defaults match `manifests/`; `labctl.toml` overrides them and flags override the file.
//! This is the one place that knows the lab's names.

use std::net::{IpAddr, SocketAddr};

/// Where a Deployment lives, e.g. the local-path provisioner.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObjectRef {
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    pub fn new(namespace: &str, name: &str) -> Self {
        Self { namespace: namespace.to_owned(), name: name.to_owned() }
    }
}

/// The effective lab description (defaults ← `labctl.toml` ← flags).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LabConfig {
    /// Namespace that holds everything of the pipeline.
    pub namespace: String,
    /// CronJob that trains and publishes the model.
    pub cronjob: String,
    /// Deployment that serves the model.
    pub deployment: String,
    /// Service in front of the inference pods.
    pub service: String,
    /// Ingress that routes `host` to the Service.
    pub ingress: String,
    /// The node-local claim both workloads mount.
    pub pvc: String,
    /// StorageClass of that claim.
    pub storage_class: String,
    /// Label key both workloads are pinned with (`nodeSelector`).
    pub pin_label_key: String,
    /// Label value (normally the node name); `None` = read it from the Deployment's nodeSelector.
    pub pin_label_value: Option<String>,
    /// Host name served through the ingress and resolved by Pi-hole.
    pub host: String,
    /// Pi-hole's DNS server; `None` = not configured (DNS checks say so).
    pub pihole_dns: Option<SocketAddr>,
    /// Ingress address; `None` = read from the Ingress status / controller Service.
    pub ingress_address: Option<IpAddr>,
    /// Ingress HTTP port.
    pub ingress_port: u16,
    /// IngressClass the Ingress must use.
    pub ingress_class: String,
    /// The ingress-nginx controller Service (holds the load-balancer address).
    pub ingress_controller: ObjectRef,
    /// Candidate locations of the local-path provisioner Deployment (k3s first, upstream second).
    pub provisioner_deployments: Vec<ObjectRef>,
    /// Argo CD Application name.
    pub argocd_app: String,
    /// Namespace Argo CD runs in (and holds the Application).
    pub argocd_namespace: String,
}

impl Default for LabConfig {
    fn default() -> Self {
        Self {
            namespace: "mlops-lab".into(),
            cronjob: "trainer".into(),
            deployment: "inference".into(),
            service: "inference".into(),
            ingress: "inference".into(),
            pvc: "models".into(),
            storage_class: "local-path".into(),
            pin_label_key: "kubernetes.io/hostname".into(),
            pin_label_value: None,
            host: "model.homelab".into(),
            pihole_dns: None,
            ingress_address: None,
            ingress_port: 80,
            ingress_class: "nginx".into(),
            ingress_controller: ObjectRef::new("ingress-nginx", "ingress-nginx-controller"),
            provisioner_deployments: vec![
                ObjectRef::new("kube-system", "local-path-provisioner"),
                ObjectRef::new("local-path-storage", "local-path-provisioner"),
            ],
            argocd_app: "mlops-lab".into(),
            argocd_namespace: "argocd".into(),
        }
    }
}
