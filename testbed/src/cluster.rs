//! The add-ons a k3s homelab has, installed into the lab's control plane: two nodes, the
//! local-path StorageClass and the real local-path-provisioner, ingress-nginx's Service and
//! IngressClass with a published load-balancer address. (Argo CD: `gitops.rs`.)

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use crate::controlplane::ControlPlane;
use crate::process::{ProcessGuard, wait_until};

/// The address the lab's "load balancer" (nginx on the host) answers on.
pub const LOAD_BALANCER_IP: &str = "127.0.0.1";
pub const NODES: [&str; 2] = ["lab-node-1", "lab-node-2"];

/// Installs the nodes and add-ons and waits until the nodes are Ready and schedulable.
pub fn install(cp: &mut ControlPlane, repo: &Path) -> Result<()> {
    let addons = repo.join("testbed/addons");
    eprintln!("lab: nodes {} and {}", NODES[0], NODES[1]);
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
                matches!((taints, ready), (Ok(t), Ok(r)) if t.trim().is_empty() && r.trim() == "True True")
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

    eprintln!("lab: local-path, ingress-nginx");
    for file in ["local-path.yaml", "ingress-nginx.yaml"] {
        cp.kubectl(&["apply", "-f", &addons.join(file).display().to_string()])?;
    }
    // As MetalLB would: the load-balancer address in the controller Service's status.
    let status =
        format!(r#"{{"status":{{"loadBalancer":{{"ingress":[{{"ip":"{LOAD_BALANCER_IP}"}}]}}}}}}"#);
    cp.kubectl(&[
        "-n",
        "ingress-nginx",
        "patch",
        "service",
        "ingress-nginx-controller",
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
