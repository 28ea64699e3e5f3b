//! The lab's ingress controller: the real Traefik v3 (k3s's default), built from its Go
//! module and run on the host against the lab's API server with the ServiceAccount
//! `kube-system/traefik` of `testbed/addons/traefik.yaml`, as its in-cluster pod would run.
//! It watches Ingresses (class `traefik`) and routes their hosts to the pods' IPs on the real
//! node's bridge; it publishes the Service `kube-system/traefik`'s load-balancer address into
//! each Ingress's status, as k3s's bundled chart configures it. Its Gateway API provider is on
//! too: the Gateway API CRDs and the Gateway `kube-system/traefik-gateway` of
//! `testbed/addons/gateway.yaml` let the manifests' `components/gateway` route the host through
//! an HTTPRoute instead.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::controlplane::{Binaries, ControlPlane};
use crate::process::{ProcessGuard, free_port, wait_until};

/// A running Traefik: `addr` is its `web` entry point.
#[derive(Debug)]
pub struct Traefik {
    pub addr: SocketAddr,
    pub guard: ProcessGuard,
}

impl Traefik {
    /// Installs the Gateway API CRDs, starts Traefik with its static configuration and log in
    /// `dir`, waits for its ping, and creates the GatewayClass and Gateway it serves.
    pub fn start(cp: &ControlPlane, bins: &Binaries, repo: &Path, dir: &Path) -> Result<Traefik> {
        install_gateway_api(cp, &bins.gateway_api_crds)?;
        std::fs::create_dir_all(dir)?;
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
        let ping: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
        let token = cp.kubectl(&[
            "-n",
            "kube-system",
            "create",
            "token",
            "traefik",
            "--duration=48h",
        ])?;
        let config = dir.join("traefik.yaml");
        std::fs::write(
            &config,
            static_config(
                addr,
                ping,
                cp.api_port,
                &cp.dir.join("certs/ca.crt"),
                token.trim(),
            ),
        )?;
        let mut command = Command::new(&bins.traefik);
        command.arg(format!("--configFile={}", config.display()));
        let mut guard = ProcessGuard::spawn("traefik", command, &dir.join("traefik.log"))?;
        let url = format!("http://{ping}/ping");
        wait_until(
            "Traefik to answer its ping",
            Duration::from_secs(30),
            &mut [&mut guard],
            || {
                Command::new("curl")
                    .args(["-sf", "--max-time", "2", &url])
                    .output()
                    .is_ok_and(|o| o.status.success())
            },
        )
        .context("Traefik did not start")?;
        let gateway = std::fs::read_to_string(repo.join("testbed/addons/gateway.yaml"))?;
        cp.apply(&gateway.replace("WEB_PORT", &addr.port().to_string()))?;
        Ok(Traefik { addr, guard })
    }
}

/// The Gateway API's CRDs (standard channel), established before Traefik watches them.
fn install_gateway_api(cp: &ControlPlane, crds: &Path) -> Result<()> {
    cp.kubectl(&["apply", "--server-side", "-f", &crds.display().to_string()])
        .context("install the Gateway API CRDs")?;
    cp.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/gatewayclasses.gateway.networking.k8s.io",
        "crd/gateways.gateway.networking.k8s.io",
        "crd/httproutes.gateway.networking.k8s.io",
    ])?;
    Ok(())
}

/// Traefik's static configuration: the `web` entry point on loopback, the Kubernetes Ingress
/// provider as k3s's chart sets it (`publishedService`, `allowEmptyServices`: a host whose
/// Service has no ready endpoint answers 503), the Gateway API provider (the Gateway's address
/// from the same Service), and no calls home.
fn static_config(
    web: SocketAddr,
    ping: SocketAddr,
    api_port: u16,
    ca: &Path,
    token: &str,
) -> String {
    format!(
        r#"global:
  checkNewVersion: false
  sendAnonymousUsage: false
entryPoints:
  web:
    address: "{web}"
    transport:
      respondingTimeouts:
        readTimeout: 30s
  traefik:
    address: "{ping}"
ping:
  entryPoint: traefik
log:
  level: INFO
providers:
  kubernetesIngress:
    endpoint: "https://127.0.0.1:{api_port}"
    certAuthFilePath: "{ca}"
    token: "{token}"
    allowEmptyServices: true
    ingressEndpoint:
      publishedService: kube-system/traefik
  kubernetesGateway:
    endpoint: "https://127.0.0.1:{api_port}"
    certAuthFilePath: "{ca}"
    token: "{token}"
    statusAddress:
      service:
        namespace: kube-system
        name: traefik
"#,
        ca = ca.display()
    )
}
