//! The lab description: the names, addresses and labels labctl judges the cluster against.
//!
//! Defaults match `manifests/`; `labctl.toml` overrides them and flags override the file.
//! This is the one place that knows the lab's names.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// Where a Deployment lives, e.g. the local-path provisioner.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespacedName {
    pub namespace: String,
    pub name: String,
}

impl NamespacedName {
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }
}

/// The effective lab description (defaults ← `labctl.toml` ← flags).
///
/// In `labctl.toml` every key is optional (missing = default) and an unknown key is an error
/// that names it, so a typo never silently falls back to a default.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
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
    #[serde(deserialize_with = "de_dns_server")]
    pub pihole_dns: Option<SocketAddr>,
    /// Ingress address; `None` = read from the Ingress status / controller Service.
    pub ingress_address: Option<IpAddr>,
    /// Ingress HTTP port.
    pub ingress_port: u16,
    /// IngressClass the Ingress must use.
    pub ingress_class: String,
    /// The ingress-nginx controller Service (holds the load-balancer address).
    pub ingress_controller: NamespacedName,
    /// Candidate locations of the local-path provisioner Deployment (k3s first, upstream second).
    pub provisioner_deployments: Vec<NamespacedName>,
    /// Argo CD Application name.
    pub argocd_app: String,
    /// Namespace Argo CD runs in (and holds the Application).
    pub argocd_namespace: String,
    /// The overlay (kustomize directory) or rendered manifests file `preflight` reads the
    /// workloads' requests and images from; `None` = `manifests/overlays/homelab` when present.
    pub manifests: Option<std::path::PathBuf>,
    /// Whether `preflight` may ask the images' registries for their indexes (anonymously).
    /// Off where no registry is reachable or the images are in none (the local lab imports
    /// them): `images-match-node-arch` is then skipped, saying so, without a network call.
    pub registry_lookups: bool,
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
            ingress_controller: NamespacedName::new("ingress-nginx", "ingress-nginx-controller"),
            provisioner_deployments: vec![
                NamespacedName::new("kube-system", "local-path-provisioner"),
                NamespacedName::new("local-path-storage", "local-path-provisioner"),
            ],
            argocd_app: "mlops-lab".into(),
            argocd_namespace: "argocd".into(),
            manifests: None,
            registry_lookups: true,
        }
    }
}

/// `pihole_dns = "192.168.1.2"` or `"192.168.1.2:5353"`: the same `ip[:port]` as `--dns`.
fn de_dns_server<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s: Option<String> = serde::Deserialize::deserialize(d)?;
    s.map(|s| crate::cli::parse_dns_server(&s).map_err(serde::de::Error::custom))
        .transpose()
}

/// The file read when `--config` is not given, if it exists in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "labctl.toml";

impl LabConfig {
    /// Parses a `labctl.toml` document over the defaults.
    pub fn from_toml_str(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// Loads the description: `path` if given (it must exist), else `./labctl.toml` if present,
    /// else the defaults. Returns the file actually read.
    pub fn load(path: Option<&Path>) -> anyhow::Result<(Self, Option<PathBuf>)> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => {
                let default = PathBuf::from(DEFAULT_CONFIG_FILE);
                if !default.exists() {
                    return Ok((Self::default(), None));
                }
                default
            }
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read lab description {}", path.display()))?;
        // toml's message names the key and shows the line, e.g. "unknown field `namespce`".
        let config = Self::from_toml_str(&text)
            .map_err(|e| anyhow::anyhow!("invalid lab description {}: {e}", path.display()))?;
        Ok((config, Some(path)))
    }

    /// The description as a `labctl.toml` document (what `labctl config` prints).
    pub fn to_toml(&self) -> anyhow::Result<String> {
        Ok(toml::to_string(self)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(LabConfig::from_toml_str("").unwrap(), LabConfig::default());
    }

    #[test]
    fn file_overrides_only_what_it_names() {
        let c = LabConfig::from_toml_str(
            "namespace = \"lab2\"\npihole_dns = \"192.168.1.2\"\ningress_port = 8080\n",
        )
        .unwrap();
        assert_eq!(c.namespace, "lab2");
        assert_eq!(c.pihole_dns, Some("192.168.1.2:53".parse().unwrap()));
        assert_eq!(c.ingress_port, 8080);
        assert_eq!(c.host, "model.homelab");
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let err = LabConfig::from_toml_str("namespce = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("namespce"), "{err}");
    }

    #[test]
    fn bad_value_is_an_error_naming_the_key() {
        let err = LabConfig::from_toml_str("pihole_dns = \"pihole.lan\"\n").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("pihole_dns") && msg.contains("pihole.lan"),
            "{msg}"
        );
        let err = LabConfig::from_toml_str("ingress_port = 70000\n").unwrap_err();
        assert!(err.to_string().contains("ingress_port"), "{err}");
    }

    #[test]
    fn defaults_round_trip_through_toml() {
        let text = LabConfig::default().to_toml().unwrap();
        assert_eq!(
            LabConfig::from_toml_str(&text).unwrap(),
            LabConfig::default()
        );
    }

    #[test]
    fn explicit_missing_file_is_an_error() {
        let err = LabConfig::load(Some(Path::new("/nonexistent/labctl.toml"))).unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot read lab description"),
            "{err:#}"
        );
    }
}
