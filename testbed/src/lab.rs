//! The whole lab: control plane, add-ons, a real node, the deployed pipeline, the ingress
//! controller and Pi-hole.
//!
//! `Lab::up` brings everything up in `.lab/` and waits until the pipeline is healthy; dropping
//! the `Lab` stops every process it started. `Lab::keep` leaves them running and records their
//! pids in `.lab/state.json` for `cargo lab down` and `cargo lab drill`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use labctl::k8s::application::Application;
use serde::{Deserialize, Serialize};

use crate::addons::{self, LOAD_BALANCER_IP};
use crate::controlplane::{Binaries, ControlPlane};
use crate::dataplane::{Dnsmasq, HOST};
use crate::gitops::{self, ArgoCd, GitServer};
use crate::images::{self, Image};
use crate::ingress::Traefik;
use crate::node::{self, Node};
use crate::poll::Look;
use crate::process::{Kept, ProcessGuard, stop_pids};
use crate::registry::{self, LabRegistry};
use crate::topology::{NAMESPACE, PIN_NODE};

/// A running lab. Fields drop in order: Pi-hole and the ingress first, then Argo CD, the
/// node (its containers removed), the control plane last.
#[derive(Debug)]
pub struct Lab {
    dns: Option<Dnsmasq>,
    traefik: Traefik,
    argocd: ArgoCd,
    git: GitServer,
    provisioner: Option<ProcessGuard>,
    /// The registry the node pulls the workload images from (stopped before the node, whose
    /// bridge carries its address).
    registry: LabRegistry,
    node: Node,
    cp: ControlPlane,
    bins: Binaries,
    repo: PathBuf,
    dir: PathBuf,
    /// Where local-path-provisioner creates volumes on the real node.
    storage: PathBuf,
    /// labctl's lab description (`--config`).
    labctl_config: PathBuf,
}

/// What a kept lab leaves in `.lab/state.json`: where to reach it, and its processes for
/// `cargo lab down`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeptLab {
    /// labctl's (read-only) kubeconfig.
    pub kubeconfig: PathBuf,
    pub admin_kubeconfig: PathBuf,
    pub kubectl: PathBuf,
    pub labctl_config: PathBuf,
    /// Traefik's web entry point.
    pub ingress: SocketAddr,
    /// Pi-hole (dnsmasq), unless a scenario stopped it.
    pub dns: Option<SocketAddr>,
    /// The lab's Git repository, as Argo CD clones it.
    pub git: String,
    /// Newest last: `cargo lab down` stops them in reverse.
    pub processes: Vec<Kept>,
}

impl KeptLab {
    fn file(dir: &Path) -> PathBuf {
        dir.join("state.json")
    }

    /// The kept lab recorded in `dir`, if any; a file this version cannot read is an error
    /// naming it.
    pub fn read(dir: &Path) -> Result<Option<KeptLab>> {
        let file = Self::file(dir);
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("read {}", file.display())),
        };
        let kept = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a kept lab's state", file.display()))?;
        Ok(Some(kept))
    }

    fn write(&self, dir: &Path) -> Result<()> {
        std::fs::write(Self::file(dir), serde_json::to_string_pretty(self)?)?;
        Ok(())
    }

    /// The recorded processes that still run: the same pid *and* start time as recorded, so
    /// a pid the system handed to another process since (a reboot) is never signalled.
    pub fn running(&self) -> Vec<u32> {
        self.processes
            .iter()
            .filter(|k| k.running())
            .map(|k| k.pid)
            .collect()
    }
}

/// Pids of a kept lab's processes that still run (see [`KeptLab::running`]); none when no lab
/// is kept or its state cannot be read.
pub fn kept_pids(dir: &Path) -> Vec<u32> {
    KeptLab::read(dir)
        .ok()
        .flatten()
        .map(|k| k.running())
        .unwrap_or_default()
}

/// Stops a kept lab: every recorded pid, newest first, then what the node left (its
/// containers, mounts and bridge) and the registry's storage.
pub fn down(dir: &Path) -> Result<usize> {
    let mut pids = kept_pids(dir);
    pids.reverse();
    stop_pids(&pids, Duration::from_secs(5));
    node::cleanup(&dir.join("node"));
    registry::remove(&dir.join("registry"));
    let _ = std::fs::remove_file(KeptLab::file(dir));
    Ok(pids.len())
}

/// The images imported into the real node's containerd: the pause image (the kubelet's
/// sandbox, which containerd pins) and local-path-provisioner's helper image. The workload
/// images are not imported: the node pulls them from the lab's registry.
pub fn node_images(repo: &Path, bins: &Binaries, cache: &Path) -> Result<Vec<Image>> {
    eprintln!("lab: images (pause, busybox)");
    let helper = local_path_helper_image(repo)?;
    Ok(vec![
        images::pause(&bins.k8s_module, cache, node::PAUSE_TAG)?,
        images::busybox(&images::normalise(&helper))?,
    ])
}

/// The helper image local-path-provisioner's configuration names (`helperPod.yaml`).
fn local_path_helper_image(repo: &Path) -> Result<String> {
    let text = std::fs::read_to_string(repo.join("testbed/addons/local-path.yaml"))?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("image: "))
        .filter(|i| i.contains("busybox"))
        .map(str::to_owned)
        .context("no busybox helper image in testbed/addons/local-path.yaml")
}

impl Lab {
    /// Brings the lab up in `dir` (normally `<repo>/.lab`).
    pub fn up(repo: &Path, dir: &Path) -> Result<Lab> {
        if !kept_pids(dir).is_empty() {
            bail!(
                "a lab is already running from {} (stop it with `cargo lab down`)",
                dir.display()
            );
        }
        node::check_host()?;
        std::fs::create_dir_all(dir)?;
        let dir = dir.canonicalize()?;
        // What a lab killed before it could clean up left behind.
        node::cleanup(&dir.join("node"));
        let bins = Binaries::build(repo)?;
        let images = node_images(repo, &bins, &dir.join("images"))?;
        let stages = [repo.join("testbed/kwok/stages/local-path-helper.yaml")];
        let mut cp = ControlPlane::start(&dir, &bins, &stages)?;
        let storage = dir.join("storage");
        let _ = std::fs::remove_dir_all(&storage);
        addons::install(&mut cp, repo, &storage)?;
        let provisioner = addons::start_provisioner(&cp, &bins.local_path_provisioner)?;

        eprintln!("lab: Git server and Argo CD {}", bins.argocd.display());
        let git = GitServer::start(&dir.join("git"), repo)?;
        gitops::install(&cp, &bins.argocd_module)?;
        let argocd = ArgoCd::start(&cp, &bins, &dir.join("argocd"))?;

        // The real node comes last, so every stand-in pod of a host process (Argo CD, the
        // provisioner, Traefik) is already bound to the kwok node.
        let node = Node::start(&cp, &bins, &dir.join("node"), &images)?;

        // The registry listens on the node's bridge, which the node made.
        eprintln!(
            "lab: registry {} on https://{}",
            bins.registry.display(),
            registry::host()
        );
        let lab_registry = LabRegistry::start(&dir.join("registry"), &bins.registry, &cp.certs())?;
        node.trust_registry(&registry::host(), Some(lab_registry.ca_file()))?;
        for p in lab_registry.push_lab_images(repo)? {
            eprintln!("lab: pushed {}:{} ({})", p.name, p.tag, p.digest);
        }

        eprintln!("lab: labctl's read-only RBAC for user `labctl`");
        // The shipped ClusterRole, and the lab's own binding (testbed/addons/labctl-rbac.yaml).
        let role = repo.join("manifests/rbac/clusterrole.yaml");
        cp.kubectl(&["apply", "-f", &role.display().to_string()])?;
        let binding = repo.join("testbed/addons/labctl-rbac.yaml");
        cp.kubectl(&["apply", "-f", &binding.display().to_string()])?;

        eprintln!(
            "lab: Traefik {} and dnsmasq as Pi-hole",
            bins.traefik.display()
        );
        let traefik = Traefik::start(&cp, &bins, repo, &dir.join("traefik"))?;
        let dns = Dnsmasq::start(&dir.join("dnsmasq"), &[(HOST, LOAD_BALANCER_IP)])?;
        eprintln!("lab: ingress {}, Pi-hole {}", traefik.addr, dns.addr);

        let labctl_config = dir.join("labctl.toml");
        let template = std::fs::read_to_string(repo.join("testbed/addons/labctl.toml"))?;
        std::fs::write(
            &labctl_config,
            labctl_toml(
                &template,
                dns.addr,
                traefik.addr.port(),
                &git.file("manifests/overlays/lab"),
                lab_registry.ca_file(),
            ),
        )?;
        let mut lab = Lab {
            dns: Some(dns),
            traefik,
            argocd,
            git,
            provisioner: Some(provisioner),
            registry: lab_registry,
            node,
            cp,
            bins,
            repo: repo.to_owned(),
            dir: dir.clone(),
            storage,
            labctl_config,
        };
        lab.deploy()?;
        Ok(lab)
    }

    /// Bootstraps the lab's Application (`argocd/` with the lab's Git and overlay, as a user
    /// runs `kubectl apply -k argocd/` once) and waits until Argo CD has synced Git's head:
    /// the first-model hook trained on the real node, inference is Ready by its own probe,
    /// Traefik published the Ingress's address (the sync waits for every resource's health,
    /// the Ingress's included). Then runs the trainer CronJob once, as its first scheduled
    /// run would.
    pub fn deploy(&mut self) -> Result<()> {
        eprintln!(
            "lab: Argo CD syncs {} from {}",
            gitops::OVERLAY,
            self.git.url
        );
        self.apply_application()?;
        let head = self.git.head()?;
        self.wait_operation(&head, Duration::from_secs(300))?;
        self.wait_healthy(Duration::from_secs(120))?;
        let _ = self.kubectl(&[
            "-n",
            NAMESPACE,
            "delete",
            "job",
            "trainer-lab-run",
            "--ignore-not-found",
        ]);
        self.kubectl(&[
            "-n",
            NAMESPACE,
            "create",
            "job",
            "trainer-lab-run",
            "--from=cronjob/trainer",
        ])?;
        self.kubectl(&[
            "-n",
            NAMESPACE,
            "wait",
            "--for=condition=Complete",
            "job/trainer-lab-run",
            "--timeout=120s",
        ])?;
        self.wait_argocd_healthy(&head, Duration::from_secs(120))
    }

    /// `kubectl apply -k` of the lab's Application: `argocd/` with only the repository URL
    /// and the overlay path changed (see [`gitops::application_kustomization`]).
    pub fn apply_application(&self) -> Result<()> {
        self.install_pull_secret(None)?;
        let app_dir = self.dir.join("argocd-app");
        gitops::write_application_kustomization(&app_dir, &self.repo, &self.git.url)?;
        self.cp.kubectl(&[
            "apply",
            "--server-side",
            "-k",
            &app_dir.display().to_string(),
        ])?;
        Ok(())
    }

    /// The pipeline's namespace with the registry's pull Secret (`password`: the registry's,
    /// or another for a scenario) and the Role that lets labctl read it
    /// (`testbed/addons/registry-pull.yaml`). Credentials stay out of Git: one creates the
    /// Secret by hand (or with a secrets operator) before Argo CD's first sync; the overlay
    /// names it in `imagePullSecrets`.
    pub fn install_pull_secret(&self, password: Option<&str>) -> Result<()> {
        let namespace =
            format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n");
        self.cp.apply(&namespace)?;
        let role = self.repo.join("testbed/addons/registry-pull.yaml");
        self.cp
            .kubectl(&["apply", "-f", &role.display().to_string()])?;
        // In a file only root reads, never on a command line.
        let file = self.registry.dir.join("pull-secret.yaml");
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&file)?;
            f.write_all(self.registry.pull_secret(password).as_bytes())?;
        }
        let applied = self.cp.kubectl(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            &file.display().to_string(),
        ]);
        let _ = std::fs::remove_file(&file);
        applied.map(drop)
    }

    /// Deletes the Application without its objects (it has no resources finalizer), which
    /// also ends an operation that would wait forever.
    pub fn delete_application(&self) -> Result<()> {
        self.kubectl(&[
            "-n",
            gitops::ARGOCD_NAMESPACE,
            "delete",
            "application",
            gitops::APP,
            "--ignore-not-found",
            "--wait=true",
        ])?;
        Ok(())
    }

    /// Removes the Application and the namespace with everything in it, so the next
    /// [`Lab::apply_application`] is a first install.
    pub fn uninstall(&mut self) -> Result<()> {
        self.delete_application()?;
        // Argo CD 3.x keeps `argocd.argoproj.io/hook-finalizer` on a hook until it has
        // finished; a hook still running when its Application goes (the first-model Job
        // waiting for a claim that cannot bind) keeps it, and with it the namespace, forever.
        // Nobody is left to remove it, so the lab does, as one does by hand for such a hook.
        let jobs = self
            .kubectl(&["-n", NAMESPACE, "get", "jobs", "-o", "name"])
            .unwrap_or_default();
        for job in jobs.lines().filter(|l| !l.is_empty()) {
            let _ = self.kubectl(&[
                "-n",
                NAMESPACE,
                "patch",
                job,
                "--type=merge",
                "-p",
                r#"{"metadata":{"finalizers":null}}"#,
            ]);
        }
        // Pods go at once (the kubelet kills their containers), so the claim is released.
        let _ = self.kubectl(&[
            "-n",
            NAMESPACE,
            "delete",
            "pods",
            "--all",
            "--force",
            "--grace-period=0",
        ]);
        self.kubectl(&[
            "delete",
            "namespace",
            NAMESPACE,
            "--ignore-not-found",
            "--wait=true",
            "--timeout=120s",
        ])
        .context("deleting the lab's namespace")?;
        Ok(())
    }

    /// Commits what a scenario changed in the lab's Git clone, pushes it, and asks Argo CD
    /// to refresh (as a Git webhook would); returns the new revision.
    pub fn push(&mut self, message: &str) -> Result<String> {
        let revision = self.git.commit(message)?;
        gitops::refresh(&self.cp)?;
        Ok(revision)
    }

    /// Back to the healthy lab after a scenario: Git restored to the repository's
    /// manifests, the Application re-created (ending a sync that waits forever) and synced.
    /// With `fresh`, the namespace is removed first, as for a first install.
    pub fn reset(&mut self, fresh: bool) -> Result<()> {
        self.git.restore("manifests")?;
        self.git.commit("Back to the repository's manifests")?;
        if fresh {
            self.uninstall()?;
        } else {
            self.delete_application()?;
        }
        self.deploy()
    }

    /// Waits until Argo CD is Synced at `revision` with no operation running: its sync of
    /// `revision` succeeded, or it needed none (a re-created Application whose objects
    /// already match Git is Synced without an operation).
    pub fn wait_operation(&mut self, revision: &str, timeout: Duration) -> Result<()> {
        let what = format!("Argo CD to sync {revision}");
        self.wait_for(&what, timeout, |lab| {
            let app = lab.application()?;
            let s = &app.status;
            let op = s.operation_state.clone().unwrap_or_default();
            let ran = op.sync_result.revision == revision || op.operation.sync.revision == revision;
            if ran && matches!(op.phase.as_str(), "Failed" | "Error") {
                bail!(
                    "Argo CD's sync of {revision} failed: {}",
                    gitops::describe(&app)
                );
            }
            let synced = s.sync.status == "Synced" && s.sync.revision == revision;
            let idle = !matches!(op.phase.as_str(), "Running" | "Terminating");
            if synced && idle {
                Ok(true)
            } else {
                bail!("{}", gitops::describe(&app))
            }
        })
    }

    /// Waits until the Application is Synced to `revision` and Healthy.
    pub fn wait_argocd_healthy(&mut self, revision: &str, timeout: Duration) -> Result<()> {
        let what = format!("the Application to be Synced to {revision} and Healthy");
        self.wait_for(&what, timeout, |lab| {
            let app = lab.application()?;
            let s = &app.status;
            if s.sync.status == "Synced"
                && s.sync.revision == revision
                && s.health.status == "Healthy"
            {
                Ok(true)
            } else {
                bail!("{}", gitops::describe(&app))
            }
        })
    }

    /// Waits until Argo CD has compared the Application with the head of the lab's Git,
    /// asking it to refresh again every few seconds. Two commits within one second set the
    /// refresh annotation twice to the same value: the second is no change, no event, so Argo
    /// CD refreshes once and may stay on the first commit until its next poll (three
    /// minutes).
    pub fn wait_compared_with_head(&mut self, timeout: Duration) -> Result<()> {
        let head = self.git.head()?;
        crate::poll::until(
            "Argo CD to compare with Git's head",
            timeout,
            Duration::from_secs(5),
            || {
                let app = self.application()?;
                if app.status.sync.revision == head {
                    return Ok(Look::Ready(()));
                }
                // Best effort, as the next look asks again.
                let _ = gitops::refresh_again(&self.cp);
                Ok(Look::NotYet(Some(anyhow::anyhow!(
                    "{}",
                    gitops::describe(&app)
                ))))
            },
        )
    }

    /// The lab's Application, read through labctl's own reader; an error when it does not
    /// exist.
    pub fn application(&self) -> Result<Application> {
        gitops::application(&self.cp)?.context("the lab's Application does not exist")
    }

    /// The directory of the model volume on the real node (the PersistentVolume's path).
    pub fn model_dir(&self) -> Result<PathBuf> {
        let pv = self.kubectl(&[
            "-n",
            NAMESPACE,
            "get",
            "pvc",
            "models",
            "-o",
            "jsonpath={.spec.volumeName}",
        ])?;
        let path = self.kubectl(&[
            "get",
            "pv",
            pv.trim(),
            "-o",
            "jsonpath={.spec.hostPath.path}{.spec.local.path}",
        ])?;
        anyhow::ensure!(!path.trim().is_empty(), "PV {} has no path", pv.trim());
        Ok(PathBuf::from(path.trim()))
    }

    /// Waits until the claim is Bound and the Deployment available.
    pub fn wait_healthy(&self, timeout: Duration) -> Result<()> {
        let t = format!("--timeout={}s", timeout.as_secs());
        self.cp
            .kubectl(&[
                "-n",
                NAMESPACE,
                "wait",
                "--for=jsonpath={.status.phase}=Bound",
                "pvc/models",
                &t,
            ])
            .context("the model PVC did not bind")?;
        self.cp
            .kubectl(&[
                "-n",
                NAMESPACE,
                "wait",
                "--for=condition=Available",
                "deployment/inference",
                &t,
            ])
            .context("the inference Deployment did not become available")?;
        Ok(())
    }

    /// Ready endpoints of a Service, from its EndpointSlices.
    pub fn ready_endpoints(&self, service: &str) -> Result<usize> {
        let selector = format!("kubernetes.io/service-name={service}");
        let slices: serde_json::Value = serde_json::from_str(&self.kubectl(&[
            "-n",
            NAMESPACE,
            "get",
            "endpointslices",
            "-l",
            &selector,
            "-o",
            "json",
        ])?)?;
        Ok(slices["items"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .filter(|e| e["conditions"]["ready"] != false)
            .count())
    }

    /// Polls `done` every 500 ms (with [`crate::poll::until`]) until it says true; an error of
    /// `done` is "not yet" and its reason on timeout. Fails at once when a process of the lab
    /// has died.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&mut Lab) -> Result<bool>,
    ) -> Result<()> {
        crate::poll::until(what, timeout, Duration::from_millis(500), || {
            let reason = match done(self) {
                Ok(true) => return Ok(Look::Ready(())),
                Ok(false) => None,
                Err(e) => Some(e),
            };
            self.check_alive()?;
            Ok(Look::NotYet(reason))
        })
    }

    /// An error naming the first of the lab's processes that has died.
    fn check_alive(&mut self) -> Result<()> {
        self.cp.check_alive()?;
        self.node.check_alive()?;
        self.registry.check_alive()?;
        self.traefik.guard.check_alive()?;
        self.argocd.check_alive()?;
        self.git.check_alive()
    }

    /// Stops the provisioner: its process and its Deployment (as a crashed or scaled-down
    /// provisioner looks).
    pub fn stop_provisioner(&mut self) -> Result<()> {
        if let Some(mut p) = self.provisioner.take() {
            p.stop();
        }
        self.kubectl(&[
            "-n",
            "kube-system",
            "scale",
            "deployment/local-path-provisioner",
            "--replicas=0",
        ])?;
        Ok(())
    }

    pub fn start_provisioner(&mut self) -> Result<()> {
        if self.provisioner.is_none() {
            self.provisioner = Some(addons::start_provisioner(
                &self.cp,
                &self.bins.local_path_provisioner,
            )?);
        }
        self.kubectl(&[
            "-n",
            "kube-system",
            "scale",
            "deployment/local-path-provisioner",
            "--replicas=1",
        ])?;
        Ok(())
    }

    /// Restarts Pi-hole (dnsmasq) on the same port, with or without the host's record.
    pub fn restart_dns(&mut self, with_record: bool) -> Result<()> {
        let port = self
            .dns
            .as_ref()
            .map(|d| d.addr.port())
            .context("Pi-hole is not running")?;
        if let Some(mut d) = self.dns.take() {
            d.guard.stop();
        }
        let records: &[(&str, &str)] = if with_record {
            &[(HOST, LOAD_BALANCER_IP)]
        } else {
            &[]
        };
        self.dns = Some(Dnsmasq::start_on(&self.dir.join("dnsmasq"), port, records)?);
        Ok(())
    }

    /// Runs the lab's kubectl as lab-admin.
    pub fn kubectl(&self, args: &[&str]) -> Result<String> {
        self.cp.kubectl(args)
    }

    /// Runs labctl against the lab as the `labctl` user; returns (exit code, stdout, stderr).
    pub fn labctl(&self, args: &[&str]) -> Result<(i32, String, String)> {
        self.labctl_with_config(&self.labctl_config, args)
    }

    /// `labctl ARGS -o json`: its exit code and the JSON document it printed.
    pub fn labctl_json(&self, args: &[&str]) -> Result<(i32, serde_json::Value)> {
        let mut full = args.to_vec();
        full.extend(["-o", "json"]);
        let (code, stdout, stderr) = self.labctl(&full)?;
        let value = serde_json::from_str(&stdout)
            .with_context(|| format!("labctl {args:?}: not JSON: {stdout}\n{stderr}"))?;
        Ok((code, value))
    }

    /// [`Lab::labctl`] with another lab description.
    pub fn labctl_with_config(
        &self,
        config: &Path,
        args: &[&str],
    ) -> Result<(i32, String, String)> {
        let out = Command::new(crate::workspace::workspace_bin("labctl")?)
            .arg("--kubeconfig")
            .arg(&self.cp.labctl_kubeconfig)
            .arg("--config")
            .arg(config)
            .args(args)
            .env("NO_COLOR", "1")
            .output()?;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// The repository the lab was built from.
    pub fn repo(&self) -> &Path {
        &self.repo
    }

    /// labctl's lab description (`--config`).
    pub fn labctl_config(&self) -> &Path {
        &self.labctl_config
    }

    /// The kubeconfig of user `labctl` (the shipped read-only ClusterRole).
    pub fn labctl_kubeconfig(&self) -> &Path {
        &self.cp.labctl_kubeconfig
    }

    /// The kubeconfig of the lab's admin (what the peers run with).
    pub fn admin_kubeconfig(&self) -> &Path {
        &self.cp.admin_kubeconfig
    }

    /// Pi-hole's address, unless a scenario stopped it.
    pub fn dns_addr(&self) -> Option<SocketAddr> {
        self.dns.as_ref().map(|d| d.addr)
    }

    /// A file of the lab's Git clone (a scenario edits it, then [`Lab::commit`]s or
    /// [`Lab::push`]es).
    pub fn git_file(&self, relative: &str) -> PathBuf {
        self.git.file(relative)
    }

    /// Commits what a scenario changed in the lab's Git clone, without asking Argo CD to
    /// refresh (a first install applies the Application afterwards); returns the revision.
    pub fn commit(&self, message: &str) -> Result<String> {
        self.git.commit(message)
    }

    /// Stops the real node's kubelet (its containers keep running, as on a node whose
    /// kubelet crashed).
    pub fn stop_kubelet(&mut self) {
        self.node.stop_kubelet();
    }

    pub fn start_kubelet(&mut self) -> Result<()> {
        self.node.start_kubelet()
    }

    /// Removes the node's containerd references to image `name`, as the kubelet's image
    /// garbage collection does.
    pub fn forget_images(&self, name: &str) -> Result<()> {
        self.node.forget_images(name)
    }

    /// Rewrites containerd's `hosts.toml` for the lab's registry: with its CA, or without (a
    /// node nobody gave the CA to).
    pub fn trust_registry(&self, with_ca: bool) -> Result<()> {
        let ca = with_ca.then(|| self.registry.ca_file());
        self.node.trust_registry(&registry::host(), ca)
    }

    /// Restarts the lab's registry on the same address, with TLS or in plain HTTP.
    pub fn restart_registry(&mut self, tls: bool) -> Result<()> {
        self.registry.restart(tls)
    }

    pub fn stop_registry(&mut self) {
        self.registry.stop();
    }

    /// Applies `testbed/addons/local-path.yaml` again (its StorageClass, after a scenario
    /// deleted it).
    pub fn reinstall_local_path(&self) -> Result<()> {
        addons::apply(&self.cp, &self.repo, "local-path.yaml", &self.storage)
    }

    /// Leaves every process running and records the pids for `cargo lab down`.
    pub fn keep(self) -> Result<()> {
        let Lab {
            dns,
            traefik,
            argocd,
            git,
            provisioner,
            registry,
            node,
            mut cp,
            dir,
            labctl_config,
            ..
        } = self;
        let git_url = git.url.clone();
        // Stopped newest first by `cargo lab down`: Argo CD and Git before the control plane.
        let mut pids: Vec<u32> = cp.processes.drain(..).map(ProcessGuard::detach).collect();
        pids.extend(provisioner.map(ProcessGuard::detach));
        pids.extend(node.detach());
        pids.extend(registry.detach());
        pids.extend(git.pids());
        pids.extend(argocd.pids());
        let ingress = traefik.addr;
        let dns_addr = dns.as_ref().map(|d| d.addr);
        pids.push(traefik.guard.detach());
        pids.extend(dns.map(|d| d.guard.detach()));
        KeptLab {
            kubeconfig: cp.labctl_kubeconfig.clone(),
            admin_kubeconfig: cp.admin_kubeconfig.clone(),
            kubectl: cp.kubectl_bin.clone(),
            labctl_config,
            ingress,
            dns: dns_addr,
            git: git_url,
            processes: pids.into_iter().filter_map(Kept::of).collect(),
        }
        .write(&dir)?;
        Ok(())
    }
}

/// The lab's `labctl.toml` from its template (`testbed/addons/labctl.toml`).
fn labctl_toml(
    template: &str,
    dns: std::net::SocketAddr,
    ingress_port: u16,
    manifests: &Path,
    registry_ca: &Path,
) -> String {
    template
        .replace("PIHOLE_DNS", &dns.to_string())
        .replace("INGRESS_ADDRESS", LOAD_BALANCER_IP)
        .replace("INGRESS_PORT", &ingress_port.to_string())
        .replace("PIN_NODE", PIN_NODE)
        .replace("MANIFESTS", &manifests.display().to_string())
        .replace("REGISTRY_CA", &registry_ca.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(processes: Vec<Kept>) -> KeptLab {
        KeptLab {
            kubeconfig: "/lab/labctl.kubeconfig".into(),
            admin_kubeconfig: "/lab/admin.kubeconfig".into(),
            kubectl: "/cache/kubectl".into(),
            labctl_config: "/lab/labctl.toml".into(),
            ingress: "127.0.0.1:8080".parse().unwrap(),
            dns: Some("127.0.0.1:5353".parse().unwrap()),
            git: "http://127.0.0.1:9418/mlops-lab.git".into(),
            processes,
        }
    }

    #[test]
    fn a_kept_lab_is_read_back_as_written_and_only_its_live_processes_count() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(KeptLab::read(dir.path()).unwrap(), None);
        assert!(kept_pids(dir.path()).is_empty());
        let me = Kept::of(std::process::id()).unwrap();
        // This process, and one with its pid but another start time (a reused pid).
        let reused = Kept {
            start: me.start + 1,
            ..me
        };
        let state = kept(vec![me, reused]);
        state.write(dir.path()).unwrap();
        assert_eq!(KeptLab::read(dir.path()).unwrap(), Some(state));
        assert_eq!(kept_pids(dir.path()), vec![std::process::id()]);
    }

    #[test]
    fn a_state_file_that_is_not_a_kept_lab_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("state.json"), r#"{"processes": "no"}"#).unwrap();
        let err = KeptLab::read(dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("state.json"), "{err:#}");
        // `cargo lab up` refuses nothing because of it, and `down` stops nothing.
        assert!(kept_pids(dir.path()).is_empty());
    }

    #[test]
    fn the_labctl_toml_template_is_filled_in_whole() {
        let repo = crate::workspace::repo_root();
        let template = std::fs::read_to_string(repo.join("testbed/addons/labctl.toml")).unwrap();
        let text = labctl_toml(
            &template,
            "127.0.0.1:5353".parse().unwrap(),
            8080,
            Path::new("/lab/manifests"),
            Path::new("/lab/certs/ca.crt"),
        );
        for placeholder in [
            "PIHOLE_DNS",
            "INGRESS_ADDRESS",
            "INGRESS_PORT",
            "PIN_NODE",
            "MANIFESTS",
            "REGISTRY_CA",
        ] {
            assert!(
                !text.contains(placeholder),
                "{placeholder} left in:\n{text}"
            );
        }
        for line in [
            "pihole_dns = \"127.0.0.1:5353\"",
            "ingress_port = 8080",
            "pin_label_value = \"lab-node-1\"",
            "manifests = \"/lab/manifests\"",
            "registry_ca_file = \"/lab/certs/ca.crt\"",
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
    }
}
