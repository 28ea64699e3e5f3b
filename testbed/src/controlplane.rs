//! A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler, and kwok standing in for the kubelets (pods become Running, Job pods
//! complete, nodes heartbeat through Leases).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::certs::Certs;
use crate::process::{ProcessGuard, free_port, run, wait_until};

/// Where `testbed/build` put each component.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub etcd: PathBuf,
    pub kube_apiserver: PathBuf,
    pub kube_controller_manager: PathBuf,
    pub kube_scheduler: PathBuf,
    pub kubectl: PathBuf,
    pub kwok: PathBuf,
    pub local_path_provisioner: PathBuf,
    /// Argo CD's multi-call binary and kustomize (for its repo-server).
    pub argocd: PathBuf,
    pub kustomize: PathBuf,
    /// Argo CD's module directory (its `manifests/`).
    pub argocd_module: PathBuf,
    /// kwok's module directory (its Stage documents live in `kustomize/stage/`).
    pub kwok_module: PathBuf,
    /// The real node: kubelet, containerd (`ctr` and the runc shim beside it), runc, and the
    /// directory of the CNI plugins.
    pub kubelet: PathBuf,
    pub containerd: PathBuf,
    pub runc: PathBuf,
    pub cni_plugins: PathBuf,
    /// The ingress controller, and the Gateway API CRDs (standard channel) of the version it
    /// is built with.
    pub traefik: PathBuf,
    pub gateway_api_crds: PathBuf,
    /// Kubernetes' module directory (the pause image's source, `build/pause/linux/pause.c`).
    pub k8s_module: PathBuf,
    /// The CNCF registry (`distribution`'s `registry`), for the tests that push images.
    pub registry: PathBuf,
}

impl Binaries {
    /// Runs `testbed/build` (builds once per version, then answers from the cache).
    pub fn build(repo: &Path) -> Result<Binaries> {
        eprintln!("lab: control-plane binaries (testbed/build)...");
        // stderr stays on the terminal: the first build takes minutes and reports progress.
        let build = Command::new(repo.join("testbed/build"))
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("run testbed/build")?;
        if !build.status.success() {
            bail!(
                "testbed/build failed ({}); its messages are above",
                build.status
            );
        }
        let out = String::from_utf8_lossy(&build.stdout).into_owned();
        let dir = |name: &str| -> Result<PathBuf> {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .map(PathBuf::from)
                .with_context(|| format!("testbed/build printed no {name}= line"))
        };
        let (etcd, k8s, kwok) = (dir("etcd")?, dir("kubernetes")?, dir("kwok")?);
        let lpp = dir("local-path-provisioner")?;
        let (argocd, kustomize) = (dir("argocd")?, dir("kustomize")?);
        let module = |dir: &str, module: &str| -> Result<PathBuf> {
            let out = run(Command::new("go")
                .args(["list", "-m", "-f", "{{.Dir}}", module])
                .current_dir(repo.join(dir)))?;
            Ok(PathBuf::from(out.trim()))
        };
        Ok(Binaries {
            etcd: etcd.join("etcd"),
            kube_apiserver: k8s.join("kube-apiserver"),
            kube_controller_manager: k8s.join("kube-controller-manager"),
            kube_scheduler: k8s.join("kube-scheduler"),
            kubectl: k8s.join("kubectl"),
            kwok: kwok.join("kwok"),
            local_path_provisioner: lpp.join("local-path-provisioner"),
            argocd: argocd.join("argocd"),
            kustomize: kustomize.join("kustomize"),
            argocd_module: dir("argocd-module")?,
            kwok_module: module("testbed/kwok", "sigs.k8s.io/kwok")?,
            kubelet: dir("kubelet")?.join("kubelet"),
            containerd: dir("containerd")?.join("containerd"),
            runc: dir("runc")?.join("runc"),
            cni_plugins: dir("cni-plugins")?,
            traefik: dir("traefik")?.join("traefik"),
            gateway_api_crds: dir("gateway-api-crds")?,
            k8s_module: module("testbed/k8s", "k8s.io/kubernetes")?,
            registry: dir("distribution")?.join("registry"),
        })
    }
}

/// Where `testbed/build` puts its binaries (`MLOPS_LAB_CACHE`, else `~/.cache/mlops-lab`).
pub fn build_cache() -> PathBuf {
    std::env::var_os("MLOPS_LAB_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/mlops-lab")
        })
        .join("bin")
}

/// The CNCF registry binary if `testbed/build` has built it (`None` otherwise), found without
/// building: the version is the one `testbed/distribution/go.mod` pins, the directory the one
/// `testbed/build` caches it in.
pub fn built_registry(repo: &Path) -> Result<Option<PathBuf>> {
    let go_mod = repo.join("testbed/distribution/go.mod");
    let text =
        std::fs::read_to_string(&go_mod).with_context(|| format!("read {}", go_mod.display()))?;
    let version = text
        .lines()
        .find_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("github.com/distribution/distribution/v3"))
                .then(|| words.next())
                .flatten()
        })
        .with_context(|| format!("{} requires no distribution version", go_mod.display()))?;
    let binary = build_cache()
        .join(format!("distribution-{version}"))
        .join("registry");
    Ok(binary.is_file().then_some(binary))
}

/// The kwok Stage documents the lab uses, from kwok's own module.
const KWOK_STAGES: &[&str] = &[
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    // Label a node node-not-ready.stage.kwok.x-k8s.io=true and its "kubelet" reports NotReady.
    "node/chaos/node-not-ready.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
];

/// Nodes carry this annotation to be managed by kwok.
pub const KWOK_MANAGED: (&str, &str) = ("kwok.x-k8s.io/node", "fake");
/// A node with this label reports Ready=False (kwok's node-not-ready chaos stage).
pub const NOT_READY_LABEL: &str = "node-not-ready.stage.kwok.x-k8s.io";

/// A running control plane. Dropping it stops every process, newest first.
#[derive(Debug)]
pub struct ControlPlane {
    pub dir: PathBuf,
    pub api_port: u16,
    /// Kubeconfig of `lab-admin` (system:masters).
    pub admin_kubeconfig: PathBuf,
    /// Kubeconfig of the `labctl` user (only the shipped read-only ClusterRole).
    pub labctl_kubeconfig: PathBuf,
    pub kubectl_bin: PathBuf,
    pub processes: Vec<ProcessGuard>,
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        while let Some(mut p) = self.processes.pop() {
            p.stop();
        }
    }
}

fn kubeconfig(server: &str, certs: &Certs, user: &str) -> String {
    let p = |f: &str| certs.file(f).display().to_string();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: {server}\n    certificate-authority: {}\n\
         users:\n- name: {user}\n  user:\n    client-certificate: {}\n    client-key: {}\n\
         contexts:\n- name: lab\n  context:\n    cluster: lab\n    user: {user}\n    namespace: mlops-lab\ncurrent-context: lab\n",
        p("ca.crt"),
        p(&format!("{user}.crt")),
        p(&format!("{user}.key")),
    )
}

fn curl_ok(url: &str, needle: &str) -> bool {
    Command::new("curl")
        .args(["-sk", "--max-time", "2", url])
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(needle))
        .unwrap_or(false)
}

impl ControlPlane {
    /// The lab's CA and the certificates signed by it, in `dir/certs` (made by [`Self::start`]).
    pub fn certs(&self) -> Certs {
        Certs {
            dir: self.dir.join("certs"),
        }
    }

    /// Starts everything in `dir` (logs in `dir/logs`) and waits until each part is ready.
    /// `extra_stages` are kwok Stage files of the lab's own (testbed/kwok/stages).
    pub fn start(dir: &Path, bins: &Binaries, extra_stages: &[PathBuf]) -> Result<ControlPlane> {
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs)?;
        let certs = Certs::create(&dir.join("certs"))?;
        let etcd_data = dir.join("etcd");
        let _ = std::fs::remove_dir_all(&etcd_data);
        let (etcd_port, peer_port, api_port) = (free_port()?, free_port()?, free_port()?);
        let (kcm_port, sched_port, kwok_port) = (free_port()?, free_port()?, free_port()?);
        let server = format!("https://127.0.0.1:{api_port}");
        let admin_kubeconfig = dir.join("admin.kubeconfig");
        let labctl_kubeconfig = dir.join("kubeconfig");
        std::fs::write(&admin_kubeconfig, kubeconfig(&server, &certs, "admin"))?;
        std::fs::write(&labctl_kubeconfig, kubeconfig(&server, &certs, "labctl"))?;
        let mut cp = ControlPlane {
            dir: dir.to_owned(),
            api_port,
            admin_kubeconfig: admin_kubeconfig.clone(),
            labctl_kubeconfig,
            kubectl_bin: bins.kubectl.clone(),
            processes: Vec::new(),
        };
        let c = |f: &str| certs.file(f).display().to_string();
        let kcfg = admin_kubeconfig.display().to_string();

        eprintln!("lab: etcd on 127.0.0.1:{etcd_port}");
        let mut etcd = Command::new(&bins.etcd);
        etcd.args([
            "--name",
            "default",
            "--unsafe-no-fsync=true",
            "--log-level",
            "warn",
        ])
        .arg(format!("--data-dir={}", etcd_data.display()))
        .arg(format!("--listen-client-urls=http://127.0.0.1:{etcd_port}"))
        .arg(format!(
            "--advertise-client-urls=http://127.0.0.1:{etcd_port}"
        ))
        .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"))
        .arg(format!(
            "--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"
        ))
        .arg(format!(
            "--initial-cluster=default=http://127.0.0.1:{peer_port}"
        ));
        cp.start_process("etcd", etcd, &logs, Duration::from_secs(30), || {
            curl_ok(
                &format!("http://127.0.0.1:{etcd_port}/health"),
                "\"health\":\"true\"",
            )
        })?;

        eprintln!("lab: kube-apiserver on 127.0.0.1:{api_port}");
        let mut api = Command::new(&bins.kube_apiserver);
        api.arg(format!("--etcd-servers=http://127.0.0.1:{etcd_port}"))
            .args(["--bind-address=127.0.0.1", "--advertise-address=127.0.0.1"])
            .arg(format!("--secure-port={api_port}"))
            .arg(format!("--cert-dir={}", certs.dir.display()))
            .arg(format!("--tls-cert-file={}", c("apiserver.crt")))
            .arg(format!("--tls-private-key-file={}", c("apiserver.key")))
            .arg(format!("--client-ca-file={}", c("ca.crt")))
            .arg("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
            .arg(format!("--service-account-key-file={}", c("sa.pub")))
            .arg(format!(
                "--service-account-signing-key-file={}",
                c("sa.key")
            ))
            .args([
                "--service-cluster-ip-range=10.0.0.0/24",
                "--authorization-mode=Node,RBAC",
            ])
            .args(["--allow-privileged=true", "--endpoint-reconciler-type=none"])
            // `kubectl logs` and probes' events go to the real kubelet: the API server
            // authenticates to it with the admin certificate, which the kubelet's webhook
            // authorizer accepts (system:masters).
            .arg(format!("--kubelet-client-certificate={}", c("admin.crt")))
            .arg(format!("--kubelet-client-key={}", c("admin.key")))
            .arg("--kubelet-preferred-address-types=InternalIP");
        let kubectl = bins.kubectl.clone();
        let probe_kcfg = kcfg.clone();
        cp.start_process(
            "kube-apiserver",
            api,
            &logs,
            Duration::from_secs(90),
            move || {
                Command::new(&kubectl)
                    .args(["--kubeconfig", &probe_kcfg, "get", "--raw", "/readyz"])
                    .output()
                    .map(|o| o.status.success())
                    .unwrap_or(false)
            },
        )?;

        eprintln!("lab: kube-controller-manager and kube-scheduler");
        let allow = "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics";
        let mut kcm = Command::new(&bins.kube_controller_manager);
        kcm.arg(format!("--kubeconfig={kcfg}"))
            .args(["--leader-elect=false", "--bind-address=127.0.0.1", allow])
            .arg(format!("--secure-port={kcm_port}"))
            .arg(format!("--root-ca-file={}", c("ca.crt")))
            .arg(format!(
                "--service-account-private-key-file={}",
                c("sa.key")
            ))
            // Fast node lifecycle, so a node whose heartbeats stop turns NotReady in seconds.
            .args([
                "--node-monitor-period=5s",
                "--node-monitor-grace-period=20s",
            ]);
        cp.start_process(
            "kube-controller-manager",
            kcm,
            &logs,
            Duration::from_secs(60),
            || curl_ok(&format!("https://127.0.0.1:{kcm_port}/healthz"), "ok"),
        )?;
        let mut sched = Command::new(&bins.kube_scheduler);
        sched
            .arg(format!("--kubeconfig={kcfg}"))
            .args(["--leader-elect=false", "--bind-address=127.0.0.1", allow])
            .arg(format!("--secure-port={sched_port}"));
        cp.start_process(
            "kube-scheduler",
            sched,
            &logs,
            Duration::from_secs(60),
            || curl_ok(&format!("https://127.0.0.1:{sched_port}/healthz"), "ok"),
        )?;

        eprintln!("lab: kwok (simulated kubelets)");
        let mut stages = String::new();
        for stage in KWOK_STAGES {
            let path = bins.kwok_module.join("kustomize/stage").join(stage);
            stages.push_str(
                &std::fs::read_to_string(&path)
                    .with_context(|| format!("read {}", path.display()))?,
            );
            stages.push_str("\n---\n");
        }
        for path in extra_stages {
            stages.push_str(
                &std::fs::read_to_string(path)
                    .with_context(|| format!("read {}", path.display()))?,
            );
            stages.push_str("\n---\n");
        }
        let stages_file = dir.join("kwok-stages.yaml");
        std::fs::write(&stages_file, stages)?;
        let mut kwok = Command::new(&bins.kwok);
        kwok.arg(format!("--kubeconfig={kcfg}"))
            .arg(format!("--config={}", stages_file.display()))
            .arg("--manage-all-nodes=false")
            .arg(format!(
                "--manage-nodes-with-annotation-selector={}={}",
                KWOK_MANAGED.0, KWOK_MANAGED.1
            ))
            .args([
                "--node-lease-duration-seconds=20",
                "--cidr=10.244.0.0/16",
                "--node-ip=127.0.0.1",
            ])
            .arg(format!("--server-address=127.0.0.1:{kwok_port}"));
        cp.start_process("kwok", kwok, &logs, Duration::from_secs(30), || {
            curl_ok(&format!("http://127.0.0.1:{kwok_port}/healthz"), "ok")
        })?;
        Ok(cp)
    }

    fn start_process(
        &mut self,
        name: &str,
        command: Command,
        logs: &Path,
        timeout: Duration,
        ready: impl FnMut() -> bool,
    ) -> Result<()> {
        let mut guard = ProcessGuard::spawn(name, command, &logs.join(format!("{name}.log")))?;
        wait_until(
            &format!("{name} to be ready"),
            timeout,
            &mut [&mut guard],
            ready,
        )
        .with_context(|| format!("{name} did not become ready; log: {}", guard.log.display()))?;
        self.processes.push(guard);
        Ok(())
    }

    /// Runs the lab's kubectl as `lab-admin`.
    /// A kubeconfig that authenticates as ServiceAccount `namespace/name` with a token from
    /// the TokenRequest API (what its pod would have mounted), valid for two days.
    pub fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> Result<PathBuf> {
        let token = self.kubectl(&["-n", namespace, "create", "token", name, "--duration=48h"])?;
        let file = self.dir.join(format!("{name}.kubeconfig"));
        std::fs::write(
            &file,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: https://127.0.0.1:{}\n    certificate-authority: {}\n\
                 users:\n- name: {name}\n  user:\n    token: {}\n\
                 contexts:\n- name: lab\n  context:\n    cluster: lab\n    user: {name}\n    namespace: {namespace}\ncurrent-context: lab\n",
                self.api_port,
                self.certs().ca().display(),
                token.trim()
            ),
        )?;
        Ok(file)
    }

    pub fn kubectl(&self, args: &[&str]) -> Result<String> {
        run(Command::new(&self.kubectl_bin)
            .arg("--kubeconfig")
            .arg(&self.admin_kubeconfig)
            .args(args))
    }

    /// `kubectl apply` of a YAML document (server-side, so repeated applies are idempotent).
    pub fn apply(&self, yaml: &str) -> Result<String> {
        let file = self.dir.join("apply.yaml");
        std::fs::write(&file, yaml)?;
        self.kubectl(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            &file.display().to_string(),
        ])
    }

    /// Fails unless every process is still running.
    pub fn check_alive(&mut self) -> Result<()> {
        for p in &mut self.processes {
            p.check_alive()?;
        }
        if self.processes.is_empty() {
            bail!("the control plane is not running");
        }
        Ok(())
    }
}
