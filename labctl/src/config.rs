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

/// Which ingress controller routes the host (`ingress_controller` in `labctl.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IngressController {
    /// Traefik, k3s's bundled controller: IngressClass `traefik`, Deployment and
    /// LoadBalancer Service `kube-system/traefik`.
    #[default]
    Traefik,
    /// ingress-nginx, end of life since March 2026: IngressClass `nginx`,
    /// `ingress-nginx/ingress-nginx-controller`.
    IngressNginx,
    /// Gateway API: an HTTPRoute attached to a Gateway (on k3s, Traefik's Gateway provider:
    /// Gateway `kube-system/traefik-gateway`, Service `kube-system/traefik`).
    Gateway,
}

impl IngressController {
    /// As `labctl.toml` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Traefik => "traefik",
            Self::IngressNginx => "ingress-nginx",
            Self::Gateway => "gateway",
        }
    }

    /// Where the controller runs (its Deployment or DaemonSet, and its Service of the same
    /// name) when `ingress_controller_workload` does not say.
    pub fn default_workload(self) -> NamespacedName {
        match self {
            Self::Traefik | Self::Gateway => NamespacedName::new("kube-system", "traefik"),
            Self::IngressNginx => NamespacedName::new("ingress-nginx", "ingress-nginx-controller"),
        }
    }

    /// The IngressClass the Ingress uses when `ingress_class` does not say.
    pub fn default_class(self) -> &'static str {
        match self {
            Self::Traefik | Self::Gateway => "traefik",
            Self::IngressNginx => "nginx",
        }
    }

    /// The `spec.controller` of the controller's IngressClass.
    pub fn class_controller(self) -> &'static str {
        match self {
            Self::Traefik | Self::Gateway => "traefik.io/ingress-controller",
            Self::IngressNginx => "k8s.io/ingress-nginx",
        }
    }
}

/// `ingress_controller = "traefik"`; the table it was before (the controller's Deployment) is
/// an error that says where that moved, instead of toml's "invalid type: map".
fn de_ingress_controller<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<IngressController, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Kind(IngressController),
        Table(#[allow(dead_code)] toml::Table),
    }
    match <Repr as serde::Deserialize>::deserialize(d) {
        Ok(Repr::Kind(kind)) => Ok(kind),
        Ok(Repr::Table(_)) => Err(serde::de::Error::custom(
            "ingress_controller names the controller now (\"traefik\", \"ingress-nginx\" or \"gateway\"); its Deployment is ingress_controller_workload = { namespace = \"…\", name = \"…\" }",
        )),
        Err(_) => Err(serde::de::Error::custom(
            "ingress_controller must be \"traefik\", \"ingress-nginx\" or \"gateway\"",
        )),
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
    /// The ingress controller in use (`traefik`, k3s's default; `ingress-nginx`; `gateway`).
    #[serde(deserialize_with = "de_ingress_controller")]
    pub ingress_controller: IngressController,
    /// The controller's Deployment or DaemonSet and its Service of the same name (which holds
    /// the load-balancer address); `None` = the controller's usual place.
    pub ingress_controller_workload: Option<NamespacedName>,
    /// IngressClass the Ingress must use; `None` = the controller's (`traefik`, `nginx`).
    pub ingress_class: Option<String>,
    /// With `ingress_controller = "gateway"`: the Gateway the HTTPRoute attaches to.
    pub gateway: NamespacedName,
    /// With `ingress_controller = "gateway"`: the HTTPRoute that routes `host` to the Service.
    pub http_route: String,
    /// Candidate locations of the local-path provisioner Deployment (k3s first, upstream second).
    pub provisioner_deployments: Vec<NamespacedName>,
    /// Argo CD Application name.
    pub argocd_app: String,
    /// Namespace Argo CD runs in (and holds the Application).
    pub argocd_namespace: String,
    /// The overlay (kustomize directory) or rendered manifests file `preflight` reads the
    /// workloads' requests and images from; `None` = `manifests/overlays/homelab` when present.
    pub manifests: Option<std::path::PathBuf>,
    /// Whether `preflight` may ask the images' registries for their indexes (with the pull
    /// secrets' credentials when it may read them, else the user's Docker config's, else
    /// anonymously).
    /// Off where no registry is reachable or the images are in none (the local lab imports
    /// them): `images-match-node-arch` is then skipped, saying so, without a network call.
    pub registry_lookups: bool,
    /// A PEM file of certificates `preflight` trusts besides the system's when it asks a
    /// registry (a home registry with its own CA, as the nodes' `hosts.toml` `ca` trusts it).
    pub registry_ca_file: Option<std::path::PathBuf>,
    /// Registries (`host:port`) that speak plain HTTP (as the nodes' `hosts.toml` declares
    /// them with `server = "http://…"`, or k3s's `registries.yaml` `mirrors` endpoint).
    pub plain_http_registries: Vec<String>,
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
            ingress_controller: IngressController::Traefik,
            ingress_controller_workload: None,
            ingress_class: None,
            gateway: NamespacedName::new("kube-system", "traefik-gateway"),
            http_route: "inference".into(),
            provisioner_deployments: vec![
                NamespacedName::new("kube-system", "local-path-provisioner"),
                NamespacedName::new("local-path-storage", "local-path-provisioner"),
            ],
            argocd_app: "mlops-lab".into(),
            argocd_namespace: "argocd".into(),
            manifests: None,
            registry_lookups: true,
            registry_ca_file: None,
            plain_http_registries: Vec::new(),
        }
    }
}

/// `pihole_dns = "192.168.1.2"` or `"192.168.1.2:5353"`: the same `ip[:port]` as `--dns`.
fn de_dns_server<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s: Option<String> = serde::Deserialize::deserialize(d)?;
    s.map(|s| parse_dns_server(&s).map_err(serde::de::Error::custom))
        .transpose()
}

/// Parses a DNS server as `ip[:port]`; the port defaults to 53. IPv6 with a port needs
/// brackets (`[fd00::53]:5353`), as in URLs.
pub fn parse_dns_server(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    s.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("invalid DNS server {s:?}: expected ip[:port], e.g. 192.168.1.2:53"))
}

/// The file read when `--config` is not given, if it exists in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "labctl.toml";

impl LabConfig {
    /// The ingress controller's Deployment/DaemonSet and Service.
    pub fn controller_workload(&self) -> NamespacedName {
        self.ingress_controller_workload
            .clone()
            .unwrap_or_else(|| self.ingress_controller.default_workload())
    }

    /// The IngressClass the Ingress must use.
    pub fn ingress_class_name(&self) -> String {
        self.ingress_class
            .clone()
            .unwrap_or_else(|| self.ingress_controller.default_class().to_owned())
    }

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
    fn the_ingress_controller_decides_its_workload_and_class() {
        let c = LabConfig::default();
        assert_eq!(c.ingress_controller, IngressController::Traefik);
        assert_eq!(
            c.controller_workload(),
            NamespacedName::new("kube-system", "traefik")
        );
        assert_eq!(c.ingress_class_name(), "traefik");
        let c = LabConfig::from_toml_str("ingress_controller = \"ingress-nginx\"\n").unwrap();
        assert_eq!(
            c.controller_workload(),
            NamespacedName::new("ingress-nginx", "ingress-nginx-controller")
        );
        assert_eq!(c.ingress_class_name(), "nginx");
        let c = LabConfig::from_toml_str(
            "ingress_controller = \"ingress-nginx\"\ningress_class = \"lan\"\n\
             ingress_controller_workload = { namespace = \"ing\", name = \"ctl\" }\n",
        )
        .unwrap();
        assert_eq!(c.ingress_class_name(), "lan");
        assert_eq!(c.controller_workload(), NamespacedName::new("ing", "ctl"));
    }

    #[test]
    fn the_old_ingress_controller_table_says_where_it_moved() {
        let err = LabConfig::from_toml_str(
            "ingress_controller = { namespace = \"ingress-nginx\", name = \"c\" }\n",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("ingress_controller_workload"),
            "{err}"
        );
        let err = LabConfig::from_toml_str("ingress_controller = \"haproxy\"\n").unwrap_err();
        assert!(err.to_string().contains("\"traefik\""), "{err}");
    }

    #[test]
    fn explicit_missing_file_is_an_error() {
        let err = LabConfig::load(Some(Path::new("/nonexistent/labctl.toml"))).unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot read lab description"),
            "{err:#}"
        );
    }

    #[test]
    fn dns_server_defaults_port_53() {
        assert_eq!(
            parse_dns_server("192.168.1.2"),
            Ok("192.168.1.2:53".parse().unwrap())
        );
        assert_eq!(
            parse_dns_server("127.0.0.1:5353"),
            Ok("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(
            parse_dns_server("[::1]:5353"),
            Ok("[::1]:5353".parse().unwrap())
        );
        assert!(parse_dns_server("pihole.lan").is_err());
    }
}
