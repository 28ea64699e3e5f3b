//! The add-ons a k3s homelab has, installed into the lab's control plane: the kwok node
//! `lab-node-2` (the real node `lab-node-1` registers itself: `node.rs`), the local-path
//! StorageClass and the real local-path-provisioner, Traefik's Service, RBAC and IngressClass
//! with a published load-balancer address (the Traefik process: `ingress.rs`; Argo CD:
//! `gitops.rs`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use crate::controlplane::ControlPlane;
use crate::process::{ProcessGuard, wait_until};

/// The address the lab's "load balancer" (Traefik on the host) answers on.
pub const LOAD_BALANCER_IP: &str = "127.0.0.1";

/// `kubectl apply` of one add-on file of `testbed/addons`, with the lab's local-path
/// directory for the real node written into the provisioner's configuration.
pub fn apply(cp: &ControlPlane, repo: &Path, file: &str, storage: &Path) -> Result<()> {
    let text = std::fs::read_to_string(repo.join("testbed/addons").join(file))?;
    cp.apply(&text.replace("LAB_STORAGE", &storage.display().to_string()))?;
    Ok(())
}

/// Installs the kwok node and the add-ons, and waits until the node is Ready and
/// schedulable. Stand-in pods of host processes are pinned to the kwok node.
pub fn install(cp: &mut ControlPlane, repo: &Path, storage: &Path) -> Result<()> {
    let addons = repo.join("testbed/addons");
    eprintln!("lab: kwok node {}", crate::topology::KWOK_NODE);
    cp.kubectl(&[
        "apply",
        "-f",
        &addons.join("nodes.yaml").display().to_string(),
    ])?;
    let mut processes = std::mem::take(&mut cp.processes);
    let waited = (|| {
        let mut refs: Vec<&mut ProcessGuard> = processes.iter_mut().collect();
        wait_until(
            "nodes Ready without the not-ready taint",
            Duration::from_secs(90),
            &mut refs,
            || {
                let taints = cp.kubectl(&[
                    "get",
                    "nodes",
                    "-o",
                    "jsonpath={.items[*].spec.taints[*].key}",
                ]);
                let ready = cp.kubectl(&[
                    "get",
                    "nodes",
                    "-o",
                    "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")].status}",
                ]);
                matches!((taints, ready), (Ok(t), Ok(r)) if t.trim().is_empty() && r.trim() == "True")
            },
        )?;
        wait_until(
            "the default ServiceAccounts",
            Duration::from_secs(60),
            &mut refs,
            || {
                ["default", "kube-system"].iter().all(|ns| {
                    cp.kubectl(&["-n", ns, "get", "serviceaccount", "default"])
                        .is_ok()
                })
            },
        )
    })();
    cp.processes = processes;
    waited?;

    eprintln!("lab: local-path, Traefik");
    std::fs::create_dir_all(storage)?;
    for file in ["local-path.yaml", "traefik.yaml"] {
        apply(cp, repo, file, storage)?;
    }
    // As k3s's ServiceLB would: the load-balancer address in the controller Service's status.
    let status =
        format!(r#"{{"status":{{"loadBalancer":{{"ingress":[{{"ip":"{LOAD_BALANCER_IP}"}}]}}}}}}"#);
    cp.kubectl(&[
        "-n",
        "kube-system",
        "patch",
        "service",
        "traefik",
        "--subresource=status",
        "--type=merge",
        "-p",
        &status,
    ])?;
    Ok(())
}

/// Runs the real local-path-provisioner against the lab (out of cluster, as the kube-system
/// Deployment's pod would in-cluster).
pub fn start_provisioner(cp: &ControlPlane, binary: &Path) -> Result<ProcessGuard> {
    let mut command = Command::new(binary);
    command
        .args([
            "--debug",
            "start",
            "--namespace",
            "kube-system",
            "--kubeconfig",
        ])
        .arg(&cp.admin_kubeconfig)
        .args([
            "--provisioner-name",
            "rancher.io/local-path",
            "--configmap-name",
            "local-path-config",
        ]);
    ProcessGuard::spawn(
        "local-path-provisioner",
        command,
        &cp.dir.join("logs/local-path-provisioner.log"),
    )
}
