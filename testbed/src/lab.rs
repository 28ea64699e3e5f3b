//! The whole lab: control plane, add-ons, the deployed pipeline and the data plane behind it.
//!
//! `Lab::up` brings everything up in `.lab/` and waits until the pipeline is healthy; dropping
//! the `Lab` stops every process it started. `Lab::keep` leaves them running and records their
//! pids in `.lab/state.json` for `cargo lab down` and `cargo lab drill`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::argocd;
use crate::cluster::{self, LOAD_BALANCER_IP, NODES};
use crate::controlplane::{Binaries, ControlPlane};
use crate::dataplane::{self, Dnsmasq, HOST, Inference, Nginx, Route};
use crate::process::{ProcessGuard, alive, stop_pids};

/// The node the lab's overlay pins the pipeline to.
pub const PIN_NODE: &str = NODES[0];
pub const NAMESPACE: &str = "mlops-lab";

/// A running lab. Fields drop in order: the data plane first, the control plane last.
#[derive(Debug)]
pub struct Lab {
    pub dns: Option<Dnsmasq>,
    pub nginx: Nginx,
    pub inference: Inference,
    pub provisioner: Option<ProcessGuard>,
    pub cp: ControlPlane,
    pub bins: Binaries,
    pub repo: PathBuf,
    pub dir: PathBuf,
    pub model_dir: PathBuf,
    /// labctl's lab description (`--config`).
    pub labctl_config: PathBuf,
    /// The Application's last sync operation, as the lab tells it (nothing syncs here).
    pub operation: argocd::Operation,
    /// What Git holds, as of the last deploy: the overlay's objects (hooks left out) and the
    /// commit, for the Application status.
    git: Vec<serde_json::Value>,
    revision: String,
}

/// Where a kept lab's processes and addresses are recorded.
fn state_file(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

/// Pids of a kept lab that are still alive.
pub fn kept_pids(dir: &Path) -> Vec<u32> {
    let Ok(text) = std::fs::read_to_string(state_file(dir)) else {
        return Vec::new();
    };
    let state: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    state["pids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_u64())
        .map(|p| p as u32)
        .filter(|p| alive(*p))
        .collect()
}

/// Stops a kept lab: every recorded pid, newest first.
pub fn down(dir: &Path) -> Result<usize> {
    let mut pids = kept_pids(dir);
    pids.reverse();
    stop_pids(&pids, Duration::from_secs(5));
    let _ = std::fs::remove_file(state_file(dir));
    Ok(pids.len())
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
        std::fs::create_dir_all(dir)?;
        let dir = dir.canonicalize()?;
        let bins = Binaries::build(repo)?;
        let stages = [repo.join("testbed/kwok/stages/local-path-helper.yaml")];
        let mut cp = ControlPlane::start(&dir, &bins, &stages)?;
        cluster::install(&mut cp, repo)?;
        let provisioner = cluster::start_provisioner(&cp, &bins.local_path_provisioner)?;

        eprintln!("lab: labctl's read-only RBAC for user `labctl`");
        // Only the ClusterRole: the shipped example binding names a placeholder user.
        let role = repo.join("manifests/rbac/clusterrole.yaml");
        cp.kubectl(&["apply", "-f", &role.display().to_string()])?;
        cp.apply(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: labctl-read-only-lab\n\
             roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: labctl-read-only\n\
             subjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: User\n  name: labctl\n",
        )?;

        eprintln!("lab: data plane (trainer, inference, nginx as ingress, dnsmasq as Pi-hole)");
        let model_dir = dir.join("models");
        let _ = std::fs::remove_dir_all(&model_dir);
        let version = dataplane::train(&model_dir, 1)?;
        let inference = Inference::start(&model_dir, &dir.join("logs/inference.log"))?;
        let nginx = Nginx::start(
            &dir.join("nginx"),
            &[Route {
                host: HOST.into(),
                upstream: Some(inference.addr),
            }],
        )?;
        let dns = Dnsmasq::start(&dir.join("dnsmasq"), &[(HOST, LOAD_BALANCER_IP)])?;
        eprintln!(
            "lab: model {version} served at {}, ingress {}, Pi-hole {}",
            inference.addr, nginx.addr, dns.addr
        );

        let labctl_config = dir.join("labctl.toml");
        std::fs::write(
            &labctl_config,
            format!(
                "# The local lab (written by `cargo lab up`).\npihole_dns = \"{}\"\ningress_address = \"{LOAD_BALANCER_IP}\"\n\
                 ingress_port = {}\npin_label_value = \"{PIN_NODE}\"\n",
                dns.addr,
                nginx.addr.port()
            ),
        )?;
        let mut lab = Lab {
            dns: Some(dns),
            nginx,
            inference,
            provisioner: Some(provisioner),
            cp,
            bins,
            repo: repo.to_owned(),
            dir: dir.clone(),
            model_dir,
            labctl_config,
            operation: argocd::Operation::Succeeded,
            git: Vec::new(),
            revision: String::new(),
        };
        lab.deploy()?;
        Ok(lab)
    }

    /// Applies `manifests/overlays/lab` and the Argo CD objects, waits for the pipeline, and
    /// publishes the load-balancer address into the Ingress status.
    pub fn deploy(&mut self) -> Result<()> {
        eprintln!("lab: deploying manifests/overlays/lab");
        let overlay = self.repo.join("manifests/overlays/lab");
        self.cp.kubectl(&[
            "apply",
            "--server-side",
            "-k",
            &overlay.display().to_string(),
        ])?;
        self.wait_healthy(Duration::from_secs(120))?;
        // One training run of the CronJob itself (kwok completes its pod), as the first
        // scheduled run would do; the trainer's real output is the data plane's model dir.
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
            "--timeout=60s",
        ])?;
        self.publish_ingress_address()?;
        self.sync_ingress()?;
        for file in ["appproject.yaml", "application.yaml"] {
            self.cp.kubectl(&[
                "apply",
                "--server-side",
                "-f",
                &self.repo.join("argocd").join(file).display().to_string(),
            ])?;
        }
        self.operation = argocd::Operation::Succeeded;
        self.read_git()?;
        self.refresh_app_status()
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

    /// Plays ingress-nginx's controller once: reads the Ingresses of class `nginx` and the
    /// ready endpoints of their backends, and reconfigures nginx: a routed host proxies to the
    /// inference process, a host whose Service has no ready endpoints answers 503, any other
    /// host 404. Called after every change the lab makes, instead of a watch.
    pub fn sync_ingress(&mut self) -> Result<()> {
        let ingresses: serde_json::Value = serde_json::from_str(
            &self.kubectl(&["-n", NAMESPACE, "get", "ingress", "-o", "json"])?,
        )?;
        let mut routes = Vec::new();
        for ingress in ingresses["items"].as_array().into_iter().flatten() {
            if ingress["spec"]["ingressClassName"] != "nginx" {
                continue;
            }
            for rule in ingress["spec"]["rules"].as_array().into_iter().flatten() {
                let (Some(host), Some(service)) = (
                    rule["host"].as_str(),
                    rule["http"]["paths"][0]["backend"]["service"]["name"].as_str(),
                ) else {
                    continue;
                };
                let ready = self.ready_endpoints(service)?;
                routes.push(Route {
                    host: host.to_owned(),
                    upstream: (ready > 0).then_some(self.inference.addr),
                });
            }
        }
        self.nginx.configure(&routes)
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

    /// As ingress-nginx with `--publish-service` would: the LB address in the Ingress status.
    pub fn publish_ingress_address(&self) -> Result<()> {
        let status = format!(
            r#"{{"status":{{"loadBalancer":{{"ingress":[{{"ip":"{LOAD_BALANCER_IP}"}}]}}}}}}"#
        );
        self.cp.kubectl(&[
            "-n",
            NAMESPACE,
            "patch",
            "ingress",
            "inference",
            "--subresource=status",
            "--type=merge",
            "-p",
            &status,
        ])?;
        Ok(())
    }

    /// Reads what Git holds for the Application: the lab overlay's objects, exactly as
    /// rendered (`create --dry-run=client` prints each object as it would be sent, one JSON
    /// document each, where `apply --dry-run` would merge in live state), and the commit.
    fn read_git(&mut self) -> Result<()> {
        self.revision = Command::new("git")
            .args(["-C", &self.repo.display().to_string(), "rev-parse", "HEAD"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let overlay = self
            .repo
            .join("manifests/overlays/lab")
            .display()
            .to_string();
        let rendered =
            self.kubectl(&["create", "--dry-run=client", "-o", "json", "-k", &overlay])?;
        // Hooks are reported in the operation, not as resources.
        self.git = serde_json::Deserializer::from_str(&rendered)
            .into_iter::<serde_json::Value>()
            .collect::<Result<Vec<_>, _>>()
            .context("kubectl create --dry-run output")?
            .into_iter()
            .filter(|o| !o["metadata"]["annotations"]["argocd.argoproj.io/hook"].is_string())
            .collect();
        Ok(())
    }

    /// Writes the Application's status the way Argo CD's controller would see the lab now
    /// (see [`argocd`]): the desired objects are Git as of the last deploy ([`Lab::read_git`]), their
    /// sync and health come from the live objects. Argo CD itself does not run in the lab, so
    /// whoever changes the lab calls this before asking labctl (the e2e test does before every
    /// labctl run, scenarios and `deploy` when they finish).
    pub fn refresh_app_status(&self) -> Result<()> {
        let now = humantime_now();
        let desired = self.operation.desired(self.git.clone());
        let file = self.dir.join("argocd-desired.json");
        write_list(&file, &desired)?;
        let found: serde_json::Value = serde_json::from_str(&self.kubectl(&[
            "get",
            "-f",
            &file.display().to_string(),
            "--ignore-not-found",
            "-o",
            "json",
        ])?)
        .unwrap_or_default();
        // A List, or the one object found, or nothing at all.
        let found = match found["items"].as_array() {
            Some(items) => items.clone(),
            None if found["kind"].is_string() => vec![found],
            None => Vec::new(),
        };
        let live = found.into_iter().map(|o| (argocd::key_of(&o), o)).collect();
        let drift = self.drift(&file, &desired)?;
        let status = argocd::status(
            &desired,
            &live,
            &drift,
            self.operation,
            &argocd::Source {
                revision: &self.revision,
                namespace: NAMESPACE,
                now: &now,
            },
        );
        // A merge patch would merge into the old status; replace it whole, as Argo CD does.
        let patch = json!([{"op": "add", "path": "/status", "value": status}]).to_string();
        // The Application CRD has no status subresource: Argo CD writes status with the object.
        self.cp.kubectl(&[
            "-n",
            "argocd",
            "patch",
            "application",
            "mlops-lab",
            "--type=json",
            "-p",
            &patch,
        ])?;
        Ok(())
    }

    /// The desired objects a sync would change: `kubectl diff --server-side` against the live
    /// objects. When the API server rejects the dry run of one object (a changed immutable
    /// field, as a claim's access modes), the whole diff fails; then each object is diffed
    /// alone, and a rejected one counts as changed, as Argo CD shows it OutOfSync.
    fn drift(
        &self,
        file: &Path,
        desired: &[serde_json::Value],
    ) -> Result<std::collections::HashSet<argocd::Key>> {
        if let Some(out) = self.diff(file)? {
            return Ok(argocd::drifted(&out, desired));
        }
        let mut drift = std::collections::HashSet::new();
        let one = self.dir.join("argocd-desired-one.json");
        for object in desired {
            write_list(&one, std::slice::from_ref(object))?;
            if self.diff(&one)?.is_none_or(|out| !out.is_empty()) {
                drift.insert(argocd::key_of(object));
            }
        }
        Ok(drift)
    }

    /// `kubectl diff --server-side` of `file`: its output (exit 0: no difference, 1: some), or
    /// `None` when the API server rejected the dry run.
    fn diff(&self, file: &Path) -> Result<Option<String>> {
        let out = Command::new(&self.cp.kubectl_bin)
            .arg("--kubeconfig")
            .arg(&self.cp.admin_kubeconfig)
            .args(["diff", "--server-side", "--force-conflicts", "-f"])
            // `drifted` reads `diff -u` headers: never a user's own diff tool.
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .arg(file)
            .output()
            .context("run kubectl diff")?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0 | 1) => Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned())),
            _ if stderr.contains("is invalid") => Ok(None),
            _ => bail!("kubectl diff failed: {}", stderr.trim()),
        }
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
            self.provisioner = Some(cluster::start_provisioner(
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
            nginx,
            inference,
            provisioner,
            mut cp,
            dir,
            labctl_config,
            ..
        } = self;
        let mut pids: Vec<u32> = cp.processes.drain(..).map(ProcessGuard::detach).collect();
        pids.extend(provisioner.map(ProcessGuard::detach));
        let state = json!({
            "kubeconfig": cp.labctl_kubeconfig,
            "admin_kubeconfig": cp.admin_kubeconfig,
            "kubectl": cp.kubectl_bin,
            "labctl_config": labctl_config,
            "inference": inference.addr.to_string(),
            "ingress": nginx.addr.to_string(),
            "dns": dns.as_ref().map(|d| d.addr.to_string()),
            "pids": pids.iter().copied()
                .chain([inference.guard.detach(), nginx.guard.detach()])
                .chain(dns.map(|d| d.guard.detach()))
                .collect::<Vec<_>>(),
        });
        std::fs::write(state_file(&dir), serde_json::to_string_pretty(&state)?)?;
        Ok(())
    }
}

/// Writes `items` as one `v1 List` (what `kubectl -f` reads).
fn write_list(file: &Path, items: &[serde_json::Value]) -> Result<()> {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    std::fs::write(file, serde_json::to_string(&list)?)?;
    Ok(())
}

fn humantime_now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
