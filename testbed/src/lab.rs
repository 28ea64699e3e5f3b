//! The whole lab: control plane, add-ons, a real node, the deployed pipeline, the ingress
//! controller and Pi-hole.
//!
//! `Lab::up` brings everything up in `.lab/` and waits until the pipeline is healthy; dropping
//! the `Lab` stops every process it started. `Lab::keep` leaves them running and records their
//! pids in `.lab/state.json` for `cargo lab down` and `cargo lab drill`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::addons::{self, LOAD_BALANCER_IP};
use crate::controlplane::{Binaries, ControlPlane};
use crate::dataplane::{self, Dnsmasq, HOST};
use crate::gitops::{self, ArgoCd, GitServer};
use crate::images::{self, Image};
use crate::ingress::Traefik;
use crate::node::{self, Node};
use crate::process::{Kept, ProcessGuard, stop_pids};
use crate::registry::{self, LabRegistry};
use crate::topology::{NAMESPACE, PIN_NODE};

/// A running lab. Fields drop in order: Pi-hole and the ingress first, then Argo CD, the
/// node (its containers removed), the control plane last.
#[derive(Debug)]
pub struct Lab {
    pub dns: Option<Dnsmasq>,
    pub traefik: Traefik,
    pub argocd: ArgoCd,
    pub git: GitServer,
    pub provisioner: Option<ProcessGuard>,
    /// The registry the node pulls the workload images from (stopped before the node, whose
    /// bridge carries its address).
    pub registry: LabRegistry,
    pub node: Node,
    pub cp: ControlPlane,
    pub bins: Binaries,
    pub repo: PathBuf,
    pub dir: PathBuf,
    /// Where local-path-provisioner creates volumes on the real node.
    pub storage: PathBuf,
    /// labctl's lab description (`--config`).
    pub labctl_config: PathBuf,
}

/// Where a kept lab's processes and addresses are recorded.
fn state_file(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

/// Pids of a kept lab's processes that still run: the same pid *and* start time as recorded,
/// so a pid the system handed to another process since (a reboot) is never signalled.
pub fn kept_pids(dir: &Path) -> Vec<u32> {
    let Ok(text) = std::fs::read_to_string(state_file(dir)) else {
        return Vec::new();
    };
    let state: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let kept: Vec<Kept> = serde_json::from_value(state["processes"].clone()).unwrap_or_default();
    kept.iter().filter(|k| k.running()).map(|k| k.pid).collect()
}

/// Stops a kept lab: every recorded pid, newest first, then what the node left (its
/// containers, mounts and bridge) and the registry's storage.
pub fn down(dir: &Path) -> Result<usize> {
    let mut pids = kept_pids(dir);
    pids.reverse();
    stop_pids(&pids, Duration::from_secs(5));
    node::cleanup(&dir.join("node"));
    registry::remove(&dir.join("registry"));
    let _ = std::fs::remove_file(state_file(dir));
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
            let app = gitops::application(&lab.cp)?;
            let s = &app["status"];
            let op = &s["operationState"];
            let ran = op["syncResult"]["revision"] == revision
                || op["operation"]["sync"]["revision"] == revision;
            if ran && matches!(op["phase"].as_str(), Some("Failed" | "Error")) {
                bail!(
                    "Argo CD's sync of {revision} failed: {}",
                    gitops::describe(&app)
                );
            }
            let synced = s["sync"]["status"] == "Synced" && s["sync"]["revision"] == revision;
            let idle = !matches!(op["phase"].as_str(), Some("Running" | "Terminating"));
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
            let app = gitops::application(&lab.cp)?;
            let s = &app["status"];
            if s["sync"]["status"] == "Synced"
                && s["sync"]["revision"] == revision
                && s["health"]["status"] == "Healthy"
            {
                Ok(true)
            } else {
                bail!("{}", gitops::describe(&app))
            }
        })
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

    /// Polls `done` every 500 ms until it says true; errors name `what` on timeout.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&mut Lab) -> Result<bool>,
    ) -> Result<()> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match done(self) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) if std::time::Instant::now() > deadline => {
                    return Err(e.context(format!("waiting for {what}")));
                }
                Err(_) => {}
            }
            if std::time::Instant::now() > deadline {
                bail!("timed out after {timeout:?} waiting for {what}");
            }
            self.cp.check_alive()?;
            self.node.check_alive()?;
            self.registry.check_alive()?;
            self.traefik.guard.check_alive()?;
            self.argocd.check_alive()?;
            self.git.check_alive()?;
            std::thread::sleep(Duration::from_millis(500));
        }
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
        let out = Command::new(dataplane::workspace_bin("labctl")?)
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
        let state = json!({
            "kubeconfig": cp.labctl_kubeconfig,
            "admin_kubeconfig": cp.admin_kubeconfig,
            "kubectl": cp.kubectl_bin,
            "labctl_config": labctl_config,
            "ingress": traefik.addr.to_string(),
            "dns": dns.as_ref().map(|d| d.addr.to_string()),
            "git": git_url,
            "processes": pids.iter().copied()
                .chain([traefik.guard.detach()])
                .chain(dns.map(|d| d.guard.detach()))
                .filter_map(Kept::of)
                .collect::<Vec<_>>(),
        });
        std::fs::write(state_file(&dir), serde_json::to_string_pretty(&state)?)?;
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

    #[test]
    fn the_labctl_toml_template_is_filled_in_whole() {
        let repo = crate::dataplane::repo_root();
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
