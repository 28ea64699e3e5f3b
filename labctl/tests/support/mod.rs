//! Test support: the real `labctl` binary run one way (`labctl`), runbook sections (`runbook`),
//! the fake API server (`fake_api`), and the real data plane on loopback, from `testbed::dataplane` (one harness for
//! labctl's tests and the lab): the real `trainer` and `inference`, Debian's nginx as the
//! ingress (`model.homelab` → inference, any other Host → 404) and Debian's dnsmasq as
//! Pi-hole. Every process is stopped by pid when the `DataPlane` drops. Missing nginx or
//! dnsmasq fails the test with the install command, never a silent pass.
#![allow(dead_code)]

use testbed::dataplane::{self, Dnsmasq, Inference, Nginx, Route};

pub mod fake_api;
pub mod labctl;
pub mod runbook;

/// `labctl verify` arguments that select the checks the data plane alone can answer.
pub const DATA_PLANE_CHECKS: [&str; 6] = [
    "--check",
    "dns-resolves-host",
    "--check",
    "http-healthz",
    "--check",
    "model-ready",
];

/// The lab's host name.
pub const HOST: &str = dataplane::HOST;
/// A name Pi-hole resolves to the ingress but the ingress does not route.
pub const UNROUTED_HOST: &str = "other.homelab";

/// The whole data plane: model → inference → nginx (ingress) → dnsmasq (Pi-hole).
pub struct DataPlane {
    pub model_dir: tempfile::TempDir,
    pub model_version: String,
    pub inference: Inference,
    pub nginx: Nginx,
    pub dns: Dnsmasq,
    /// Logs, pid files and configuration of the processes.
    work: tempfile::TempDir,
}

impl DataPlane {
    /// Trains a model (seed 1), serves it, and puts nginx and dnsmasq in front.
    pub fn start() -> Self {
        let model_dir = tempfile::tempdir().expect("temp dir");
        let model_version = dataplane::train(model_dir.path(), 1).expect("the trainer publishes");
        Self::start_in(model_dir, model_version)
    }

    /// Same, serving whatever `model_dir` holds (possibly nothing: model not ready).
    pub fn start_in(model_dir: tempfile::TempDir, model_version: String) -> Self {
        let work = tempfile::tempdir().expect("temp dir");
        let w = work.path();
        let inference =
            Inference::start(model_dir.path(), &w.join("inference.log")).expect("start inference");
        let route = Route {
            host: HOST.into(),
            upstream: Some(inference.addr),
        };
        let nginx = Nginx::start(&w.join("nginx"), &[route]).expect("start nginx");
        let records = [(HOST, "127.0.0.1"), (UNROUTED_HOST, "127.0.0.1")];
        let dns = Dnsmasq::start(&w.join("dnsmasq"), &records).expect("start dnsmasq");
        Self {
            model_dir,
            model_version,
            inference,
            nginx,
            dns,
            work,
        }
    }

    /// Flags pointing labctl at this data plane (Pi-hole, ingress address and port).
    pub fn labctl_args(&self) -> Vec<String> {
        vec![
            "--dns".into(),
            self.dns.addr.to_string(),
            "--ingress-address".into(),
            "127.0.0.1".into(),
            "--port".into(),
            self.nginx.addr.port().to_string(),
            "--no-color".into(),
        ]
    }
}
