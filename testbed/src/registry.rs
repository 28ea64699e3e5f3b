//! The lab's image registry: the CNCF registry (`distribution`, built by `testbed/build`) on
//! the node's address, over HTTPS with a certificate from the lab's CA and with basic
//! authentication (htpasswd), as a home registry runs. The lab pushes the workload images'
//! multi-arch indexes to it ([`publish`]); the node's containerd pulls them, trusting the
//! registry through its `hosts.toml` ([`crate::node::Node::trust_registry`]), with the
//! credentials of the pods' `imagePullSecrets` ([`LabRegistry::pull_secret`]).
//!
//! It listens on the lab's bridge (`10.88.0.1`), which containerd reaches (it runs in the
//! host's network namespace) and no other machine does. The registry sets no read timeouts of
//! its own (upstream's server has none to configure); only the lab's processes reach it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use base64::Engine;
use oci_client::secrets::RegistryAuth;

use crate::certs::Certs;
use crate::images::{self, MultiArch, Platform};
use crate::node::NODE_IP;
use crate::process::{ProcessGuard, wait_until};
use crate::publish::{self, Destination, Program, Provenance, Pushed, Registry};
use crate::topology::NAMESPACE;

/// The registry's port on the node's address: fixed, because the lab overlay names it, and
/// below the ephemeral range, so no port the lab picks for itself (`free_port`) collides.
pub const PORT: u16 = 5443;
/// The repositories' namespace in the registry (`10.88.0.1:5443/lab/mlops-lab-trainer`).
pub const REPOSITORY_NAMESPACE: &str = "lab";
/// The tag the lab overlay gives both workload images.
pub const TAG: &str = "dev";
/// The tag of an index of inference that lists only linux/arm64 (a scenario's image).
pub const ARM64_ONLY_TAG: &str = "arm64-only";
/// The user the registry's htpasswd knows.
pub const USER: &str = "lab";
/// The pull Secret the lab overlay's pod templates name in `imagePullSecrets`.
pub const PULL_SECRET: &str = "lab-registry";

/// `10.88.0.1:5443`: the registry's host as image names and `hosts.toml` write it.
pub fn host() -> String {
    format!("{NODE_IP}:{PORT}")
}

/// The name of a repository in the lab's registry (`10.88.0.1:5443/lab/mlops-lab-trainer`).
pub fn image(repository: &str) -> String {
    format!("{}/{REPOSITORY_NAMESPACE}/{repository}", host())
}

/// The running registry. Dropping it stops the process and removes its storage.
#[derive(Debug)]
pub struct LabRegistry {
    pub dir: PathBuf,
    binary: PathBuf,
    password: String,
    guard: Option<ProcessGuard>,
    /// Whether it serves HTTPS (a scenario restarts it on plain HTTP).
    pub tls: bool,
    ca: PathBuf,
}

/// 16 random bytes from the kernel, as hex: the lab's registry password, made per lab.
fn random_hex() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl LabRegistry {
    /// Starts the registry in `dir` (storage emptied) on the node's address, which must exist
    /// (the node's bridge); its certificate comes from the lab's CA in `certs`.
    pub fn start(dir: &Path, binary: &Path, certs: &Certs) -> Result<LabRegistry> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
        let password = random_hex()?;
        let hash = bcrypt::hash(&password, 8).context("bcrypt")?;
        std::fs::write(dir.join("htpasswd"), format!("{USER}:{hash}\n"))?;
        let (crt, key) = certs.registry(NODE_IP)?;
        let mut registry = LabRegistry {
            dir: dir.to_owned(),
            binary: binary.to_owned(),
            password,
            guard: None,
            tls: true,
            ca: certs.ca(),
        };
        std::fs::write(
            dir.join("config-tls.yml"),
            registry.config(Some((&crt, &key)))?,
        )?;
        std::fs::write(dir.join("config-plain.yml"), registry.config(None)?)?;
        registry.spawn(true)?;
        Ok(registry)
    }

    /// The registry's configuration: filesystem storage in the directory, htpasswd, the node's
    /// address, TLS with `tls` (certificate, key).
    fn config(&self, tls: Option<(&Path, &Path)>) -> Result<String> {
        let tls = match tls {
            Some((crt, key)) => format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                crt.display(),
                key.display()
            ),
            None => String::new(),
        };
        Ok(format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {storage}\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: {addr}\n  \
             secret: {secret}\n{tls}auth:\n  htpasswd:\n    realm: lab-registry\n    path: {htpasswd}\n",
            storage = self.dir.join("storage").display(),
            addr = host(),
            secret = random_hex()?,
            htpasswd = self.dir.join("htpasswd").display(),
        ))
    }

    fn spawn(&mut self, tls: bool) -> Result<()> {
        let config = self.dir.join(if tls {
            "config-tls.yml"
        } else {
            "config-plain.yml"
        });
        let mut command = Command::new(&self.binary);
        command.arg("serve").arg(&config);
        let mut guard = ProcessGuard::spawn("registry", command, &self.dir.join("registry.log"))?;
        let addr: std::net::SocketAddr = host().parse()?;
        wait_until(
            &format!("the registry to listen on {addr}"),
            Duration::from_secs(30),
            &mut [&mut guard],
            || std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok(),
        )?;
        self.guard = Some(guard);
        self.tls = tls;
        Ok(())
    }

    /// Stops the registry (its storage stays): pulls meet a closed port.
    pub fn stop(&mut self) {
        if let Some(mut g) = self.guard.take() {
            g.stop();
        }
    }

    /// Starts it again on the same address and storage, over HTTPS or plain HTTP.
    pub fn restart(&mut self, tls: bool) -> Result<()> {
        self.stop();
        self.spawn(tls)
    }

    pub fn check_alive(&mut self) -> Result<()> {
        match &mut self.guard {
            Some(g) => g.check_alive(),
            // Stopped on purpose by a scenario.
            None => Ok(()),
        }
    }

    /// Leaves it running (`cargo lab up --keep`); its pid.
    pub fn detach(mut self) -> Option<u32> {
        let pid = self.guard.take().map(ProcessGuard::detach);
        // Its storage stays for the kept lab; `cargo lab down` removes it.
        self.dir = PathBuf::new();
        pid
    }

    /// The `kubernetes.io/dockerconfigjson` Secret the pods pull with, holding `password`
    /// (the registry's, or a wrong one for a scenario), with a Role that lets labctl's user
    /// read only this Secret (images-match-node-arch reads the index with it, as the kubelet
    /// pulls).
    pub fn pull_secret(&self, password: Option<&str>) -> String {
        let password = password.unwrap_or(&self.password);
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"));
        let config = serde_json::json!({"auths": {host(): {"auth": auth}}}).to_string();
        let data = base64::engine::general_purpose::STANDARD.encode(config);
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {PULL_SECRET}\n  namespace: {NAMESPACE}\n\
             type: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {data}\n"
        )
    }

    /// The registry's CA (the lab's) as PEM.
    pub fn ca_pem(&self) -> Result<Vec<u8>> {
        Ok(std::fs::read(&self.ca)?)
    }

    pub fn ca_file(&self) -> &Path {
        &self.ca
    }

    /// Builds trainer and inference for every platform (cargo's builds are no-ops once
    /// `cargo lab images` has run) and pushes their indexes under [`TAG`], and inference's
    /// arm64 manifest alone under [`ARM64_ONLY_TAG`].
    pub fn push_lab_images(&self, repo: &Path) -> Result<Vec<Pushed>> {
        eprintln!("lab: images: trainer and inference for linux/amd64 and linux/arm64");
        // The lab runs uncommitted work too; the images carry the last commit's revision.
        let provenance = Provenance::of(repo, true)?;
        let programs = publish::build(repo, &Platform::ALL, &provenance)?;
        let registry = Registry {
            destination: Destination {
                registry: host(),
                namespace: REPOSITORY_NAMESPACE.into(),
            },
            plain_http: false,
            auth: RegistryAuth::Basic(USER.into(), self.password.clone()),
            extra_roots: vec![self.ca_pem()?],
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let pushed = runtime.block_on(publish::push(&registry, &programs, TAG))?;
        let arm64_only = arm64_only(&programs, &provenance)?;
        runtime.block_on(publish::push(&registry, &[arm64_only], ARM64_ONLY_TAG))?;
        Ok(pushed)
    }
}

/// inference's index with only its linux/arm64 manifest: an image built for a Raspberry Pi
/// alone.
fn arm64_only(programs: &[Program], provenance: &Provenance) -> Result<Program> {
    let inference = programs
        .iter()
        .find(|p| p.name == "inference")
        .context("no inference image")?;
    let manifests: Vec<_> = inference
        .images
        .manifests
        .iter()
        .filter(|m| m.platform == Platform::Arm64)
        .cloned()
        .collect();
    Ok(Program {
        name: inference.name,
        repository: inference.repository.clone(),
        images: MultiArch {
            index: images::index_of(&manifests, &provenance.annotations())?,
            manifests,
        },
    })
}

impl Drop for LabRegistry {
    fn drop(&mut self) {
        if self.dir.as_os_str().is_empty() {
            return;
        }
        self.stop();
        remove(&self.dir);
    }
}

/// What a registry in `dir` leaves: its storage and files (`cargo lab down`, after its
/// process was stopped by pid).
pub fn remove(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}
