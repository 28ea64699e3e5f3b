//! The lab's real node, `lab-node-1`: the real kubelet with the real containerd, runc and the
//! CNI bridge, host-local and loopback plugins, all built from their Go modules
//! (`testbed/build`). Pods bound to this node run for real: their images come from
//! [`crate::images`], their network is a bridge on the host, their probes are the kubelet's.
//!
//! Everything the node writes stays in its directory (`<lab>/node`): containerd's root and
//! state (network namespaces included), runc's state, the kubelet's root, pod logs, the CNI
//! configuration and IP allocations. Two things cannot: the bridge interface (in the host's
//! network namespace, so the host reaches pod IPs as a node does) and the cgroups runc
//! creates. Both are removed when the node stops.
//!
//! What it took to run (cgroup v1 host, 2-core VM): kubelet `failCgroupV1: false`,
//! `cgroupDriver: cgroupfs`, `cgroupsPerQOS: false`, `enforceNodeAllocatable: []`,
//! `failSwapOn: false`; containerd's CRI `restrict_oom_score_adj = true` (this kind of host
//! refuses to lower `oom_score_adj`); runc 1.5 (Debian's 1.1 fails under containerd 2.4).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::controlplane::{Binaries, ControlPlane};
use crate::images::Image;
use crate::process::{ProcessGuard, free_port, run, stop_pids, wait_until};
use crate::topology::NODE as NAME;

/// The sandbox image kubelet v1.36 asks containerd for (its `--pod-infra-container-image`
/// default, and containerd 2.4's pinned sandbox image).
pub const PAUSE_TAG: &str = "3.10.2";
/// The host's bridge for the node's pods, and their subnet.
pub const BRIDGE: &str = "mlopslab0";
pub const POD_SUBNET: &str = "10.88.0.0/24";
/// The node's address: the bridge's, the pods' gateway. The kubelet refuses a loopback node
/// IP ("nodeIP can't be loopback address"), and the API server reaches the kubelet there (for
/// `kubectl logs`); the bridge is the lab's own network, reachable from no other machine.
pub const NODE_IP: &str = "10.88.0.1";

/// containerd's registry host configuration directory below the node's (`config_path`).
const HOSTS_DIR: &str = "containerd/certs.d";

/// A registry's `hosts.toml` for containerd: its HTTPS server, trusted with `ca` (none: the
/// system's roots only, as on a node nobody gave the CA to).
pub fn hosts_toml(host: &str, ca: Option<&Path>) -> String {
    let ca = ca
        .map(|c| format!("  ca = \"{}\"\n", c.display()))
        .unwrap_or_default();
    format!(
        "server = \"https://{host}\"\n\n[host.\"https://{host}\"]\n  capabilities = [\"pull\", \"resolve\"]\n{ca}"
    )
}

/// A running node: containerd and the kubelet. Dropping it stops the kubelet, removes every
/// container, stops containerd, and cleans up (see [`cleanup`]).
#[derive(Debug)]
pub struct Node {
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub kubelet_port: u16,
    ctr: PathBuf,
    kubelet_command: Vec<String>,
    kubelet: Option<ProcessGuard>,
    containerd: Option<ProcessGuard>,
}

/// The directories below the node's: `dir/<part>`.
fn part(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

impl Node {
    /// Starts containerd, imports `images`, starts the kubelet, and waits until the node is
    /// registered and Ready.
    pub fn start(cp: &ControlPlane, bins: &Binaries, dir: &Path, images: &[Image]) -> Result<Node> {
        cleanup(dir);
        let _ = std::fs::remove_dir_all(dir);
        for sub in [
            "containerd",
            "cni/net.d",
            "cni/ipam",
            "kubelet",
            "pod-logs",
            "logs",
        ] {
            std::fs::create_dir_all(part(dir, sub))?;
        }
        create_bridge()?;
        let socket = part(dir, "containerd.sock");
        std::fs::write(part(dir, "containerd.toml"), containerd_config(dir, bins))?;
        std::fs::write(
            part(dir, "cni/net.d/10-mlops-lab.conflist"),
            cni_config(&part(dir, "cni/ipam")),
        )?;

        eprintln!("lab: {NAME}: containerd {}", bins.containerd.display());
        let mut command = Command::new(&bins.containerd);
        command
            .arg("--config")
            .arg(part(dir, "containerd.toml"))
            // The shim is found on PATH, and the shim runs the runc the config names.
            .env("PATH", search_path(&[&bins.containerd, &bins.runc]));
        let mut containerd =
            ProcessGuard::spawn("containerd", command, &part(dir, "logs/containerd.log"))?;
        let ctr = bins
            .containerd
            .parent()
            .context("containerd has no directory")?
            .join("ctr");
        wait_until(
            "containerd to answer",
            Duration::from_secs(30),
            &mut [&mut containerd],
            || {
                Command::new(&ctr)
                    .arg("--address")
                    .arg(&socket)
                    .arg("version")
                    .output()
                    .is_ok_and(|o| o.status.success())
            },
        )?;
        let mut node = Node {
            dir: dir.to_owned(),
            socket,
            kubelet_port: free_port()?,
            ctr,
            kubelet_command: Vec::new(),
            kubelet: None,
            containerd: Some(containerd),
        };
        for image in images {
            node.import(image)?;
        }

        let healthz = free_port()?;
        std::fs::write(
            part(dir, "kubelet-config.yaml"),
            kubelet_config(dir, &node.socket, node.kubelet_port, healthz, cp),
        )?;
        let kubeconfig = part(dir, "kubelet.kubeconfig");
        std::fs::write(&kubeconfig, kubelet_kubeconfig(cp))?;
        node.kubelet_command = vec![
            bins.kubelet.display().to_string(),
            format!("--config={}", part(dir, "kubelet-config.yaml").display()),
            format!("--kubeconfig={}", kubeconfig.display()),
            format!("--hostname-override={NAME}"),
            format!("--node-ip={NODE_IP}"),
            format!("--root-dir={}", part(dir, "kubelet").display()),
            format!("--cert-dir={}", part(dir, "kubelet/pki").display()),
            "--node-labels=type=real".into(),
            "--v=2".into(),
        ];
        eprintln!("lab: {NAME}: kubelet {}", bins.kubelet.display());
        node.start_kubelet()?;
        let mut guards = node.guards();
        wait_until(
            &format!("{NAME} to register and be Ready"),
            Duration::from_secs(90),
            &mut guards,
            || {
                cp.kubectl(&[
                    "get",
                    "node",
                    NAME,
                    "-o",
                    "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
                ])
                .is_ok_and(|s| s.trim() == "True")
            },
        )
        .with_context(|| {
            format!(
                "the kubelet's log: {}",
                part(dir, "logs/kubelet.log").display()
            )
        })?;
        Ok(node)
    }

    fn guards(&mut self) -> Vec<&mut ProcessGuard> {
        self.kubelet
            .iter_mut()
            .chain(self.containerd.iter_mut())
            .collect()
    }

    /// `ctr images import` of an image's OCI archive into the CRI plugin's namespace.
    pub fn import(&self, image: &Image) -> Result<()> {
        let file = part(&self.dir, "image.tar");
        std::fs::write(&file, image.oci_archive()?)?;
        self.ctr(&["images", "import", &file.display().to_string()])
            .with_context(|| format!("import {}", image.name))?;
        let _ = std::fs::remove_file(&file);
        Ok(())
    }

    /// Tells containerd how to reach the registry at `host` (`hosts.toml` under its
    /// `config_path`, read at every pull, so a change needs no restart): HTTPS, trusting `ca`.
    pub fn trust_registry(&self, host: &str, ca: Option<&Path>) -> Result<()> {
        let dir = part(&self.dir, HOSTS_DIR).join(host);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("hosts.toml"), hosts_toml(host, ca))?;
        Ok(())
    }

    /// Removes every reference to the images of repository `name` (`host/ns/repo`) from
    /// containerd, as image garbage collection does: the next pod asking for it must pull it.
    /// Running containers keep their root filesystems.
    pub fn forget_images(&self, name: &str) -> Result<()> {
        let refs = self.ctr(&["images", "ls", "--quiet"])?;
        let prefixes = [format!("{name}:"), format!("{name}@")];
        for r in refs
            .lines()
            .filter(|r| prefixes.iter().any(|p| r.starts_with(p.as_str())))
        {
            self.ctr(&["images", "rm", r])?;
        }
        Ok(())
    }

    /// Runs `ctr` against the node's containerd, in the CRI plugin's namespace.
    pub fn ctr(&self, args: &[&str]) -> Result<String> {
        run(Command::new(&self.ctr)
            .arg("--address")
            .arg(&self.socket)
            .args(["--namespace", "k8s.io"])
            .args(args))
    }

    /// Starts (again) the kubelet: the node heartbeats, registers itself if its Node object
    /// is gone, and runs its pods.
    pub fn start_kubelet(&mut self) -> Result<()> {
        if self.kubelet.is_some() {
            return Ok(());
        }
        let (program, args) = self
            .kubelet_command
            .split_first()
            .context("no kubelet command")?;
        let mut command = Command::new(program);
        command.args(args);
        self.kubelet = Some(ProcessGuard::spawn(
            "kubelet",
            command,
            &part(&self.dir, "logs/kubelet.log"),
        )?);
        Ok(())
    }

    /// Stops the kubelet (its containers keep running, as on a node whose kubelet died): the
    /// node stops heartbeating and turns NotReady.
    pub fn stop_kubelet(&mut self) {
        if let Some(mut kubelet) = self.kubelet.take() {
            kubelet.stop();
        }
    }

    pub fn check_alive(&mut self) -> Result<()> {
        for guard in self.guards() {
            guard.check_alive()?;
        }
        Ok(())
    }

    /// Leaves the node running (`cargo lab up --keep`); its pids, kubelet last.
    pub fn detach(mut self) -> Vec<u32> {
        let pids = [self.containerd.take(), self.kubelet.take()]
            .into_iter()
            .flatten()
            .map(ProcessGuard::detach)
            .collect();
        // Nothing left for Drop to stop; the directory stays for `cargo lab down`.
        self.dir = PathBuf::new();
        pids
    }

    /// Every container killed and removed through containerd, so runc removes their cgroups
    /// and mounts.
    fn remove_containers(&self) {
        let Ok(tasks) = self.ctr(&["tasks", "ls", "--quiet"]) else {
            return;
        };
        for id in tasks.lines().filter(|l| !l.is_empty()) {
            let _ = self.ctr(&["tasks", "kill", "--signal", "SIGKILL", id]);
        }
        for id in tasks.lines().filter(|l| !l.is_empty()) {
            let _ = self.ctr(&["tasks", "delete", "--force", id]);
        }
        if let Ok(containers) = self.ctr(&["containers", "ls", "--quiet"]) {
            for id in containers.lines().filter(|l| !l.is_empty()) {
                let _ = self.ctr(&["containers", "delete", id]);
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.dir.as_os_str().is_empty() {
            return;
        }
        self.stop_kubelet();
        if self.containerd.is_some() {
            self.remove_containers();
        }
        if let Some(mut containerd) = self.containerd.take() {
            containerd.stop();
        }
        cleanup(&self.dir);
    }
}

/// Whatever a node in `dir` left behind, from its files alone (after a crash, or for
/// `cargo lab down`): container processes killed by the pids runc recorded, and the shims
/// (which leave the lab's process groups: they start their own sessions) by the socket their
/// command line names; their cgroups removed, every mount below `dir` unmounted, the bridge
/// deleted.
pub fn cleanup(dir: &Path) {
    let tasks = part(dir, "containerd/state/io.containerd.runtime.v2.task/k8s.io");
    let mut pids = Vec::new();
    collect_pid_files(&part(dir, "containerd/state"), &mut pids, 0);
    pids.extend(processes_naming(&part(dir, "containerd.sock")));
    if !pids.is_empty() {
        stop_pids(&pids, Duration::from_secs(2));
    }
    remove_cgroups(&tasks);
    unmount_below(dir);
    if Path::new(&format!("/sys/class/net/{BRIDGE}")).exists() {
        let _ = Command::new("ip").args(["link", "delete", BRIDGE]).status();
    }
}

/// The pods' bridge with the node's address, made before the kubelet starts (the CNI bridge
/// plugin would make it only for the first pod, and the kubelet listens on it).
fn create_bridge() -> Result<()> {
    let ip = |args: &[&str]| run(Command::new("ip").args(args));
    ip(&["link", "add", BRIDGE, "type", "bridge"])?;
    ip(&["addr", "add", &format!("{NODE_IP}/24"), "dev", BRIDGE])?;
    ip(&["link", "set", BRIDGE, "up"])?;
    Ok(())
}

/// Pids of the processes whose command line names `path` (containerd's shims name the
/// daemon's socket: `-address <socket>`).
fn processes_naming(path: &Path) -> Vec<u32> {
    let needle = path.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == needle.as_bytes()))
        })
        .collect()
}

/// The cgroups runc made for the containers whose task directories are in `tasks`, once
/// their processes are gone: `<controller>/k8s.io/<id>` on a cgroup v1 host, `k8s.io/<id>` on
/// a unified (v2) one.
fn remove_cgroups(tasks: &Path) {
    let Ok(ids) = std::fs::read_dir(tasks) else {
        return;
    };
    let ids: Vec<std::ffi::OsString> = ids.flatten().map(|e| e.file_name()).collect();
    let root = Path::new("/sys/fs/cgroup");
    let mut parents = vec![root.join("k8s.io")];
    if let Ok(controllers) = std::fs::read_dir(root) {
        parents.extend(controllers.flatten().map(|c| c.path().join("k8s.io")));
    }
    for parent in parents {
        for id in &ids {
            let _ = std::fs::remove_dir(parent.join(id));
        }
    }
}

/// The pids in containerd's `shim.pid` and runc's `init.pid` files below `dir`.
fn collect_pid_files(dir: &Path, pids: &mut Vec<u32>, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && depth < 6 {
            collect_pid_files(&path, pids, depth + 1);
        } else if path
            .file_name()
            .is_some_and(|n| n == "shim.pid" || n == "init.pid")
            && let Some(pid) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|s| s.trim().parse().ok())
        {
            pids.push(pid);
        }
    }
}

/// Unmounts every mount point below `dir`, deepest first (`/proc/self/mountinfo`).
fn unmount_below(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points = mounts_below(&info, dir);
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        let _ = Command::new("umount")
            .args(["--lazy", &point])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The mount points in mountinfo text that lie below `dir` (field 5; spaces escaped `\040`).
fn mounts_below(info: &str, dir: &Path) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    info.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|p| p.replace("\\040", " "))
        .filter(|p| p.starts_with(&prefix))
        .collect()
}

/// `PATH` with the directories of `binaries` first.
fn search_path(binaries: &[&Path]) -> String {
    let mut dirs: Vec<String> = binaries
        .iter()
        .filter_map(|b| b.parent())
        .map(|d| d.display().to_string())
        .collect();
    dirs.push(std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into()));
    dirs.join(":")
}

/// containerd's configuration (version 3, containerd 2.x): every path in `dir`, the CRI
/// plugin with runc 1.5 and the lab's CNI configuration, and no plugin that writes elsewhere.
fn containerd_config(dir: &Path, bins: &Binaries) -> String {
    let d = |p: &str| part(dir, p).display().to_string();
    let cni_bin = bins.cni_plugins.display().to_string();
    format!(
        r#"version = 3
root = "{root}"
state = "{state}"
# NRI would open a socket in /var/run; the lab needs no plugins.
disabled_plugins = ["io.containerd.nri.v1.nri"]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[plugins]
  [plugins.'io.containerd.internal.v1.opt']
    path = "{opt}"
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = "registry.k8s.io/pause:{PAUSE_TAG}"
    # Per-registry settings (server, CA) in <host>/hosts.toml, read at every pull.
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = "{hosts}"
  [plugins.'io.containerd.cri.v1.runtime']
    # This host refuses to lower oom_score_adj: without this runc fails with
    # "nsexec: failed to update /proc/self/oom_score_adj: Permission denied".
    restrict_oom_score_adj = true
    # Network namespaces under the state directory, not /var/run/netns.
    netns_mounts_under_state_dir = true
    cdi_spec_dirs = []
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = "{runc}"
          Root = "{runc_root}"
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ["{cni_bin}"]
      conf_dir = "{cni_conf}"
      max_conf_num = 1
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
"#,
        root = d("containerd/root"),
        state = d("containerd/state"),
        socket = d("containerd.sock"),
        opt = d("containerd/opt"),
        runc = bins.runc.display(),
        runc_root = d("containerd/runc"),
        cni_conf = d("cni/net.d"),
        hosts = d(HOSTS_DIR),
    )
}

/// The pods' network: a bridge on the host with host-local addresses (IP allocations kept
/// in `ipam_dir`), no masquerading (pods talk only to the node and each other).
fn cni_config(ipam_dir: &Path) -> String {
    format!(
        r#"{{
  "cniVersion": "1.0.0",
  "name": "mlops-lab",
  "plugins": [
    {{
      "type": "bridge",
      "bridge": "{BRIDGE}",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {{
        "type": "host-local",
        "dataDir": "{ipam}",
        "ranges": [[{{"subnet": "{POD_SUBNET}"}}]],
        "routes": [{{"dst": "0.0.0.0/0"}}]
      }}
    }}
  ]
}}
"#,
        ipam = ipam_dir.display()
    )
}

/// The kubelet's configuration: on loopback, authenticated and authorized by the API server
/// (as kubeadm configures it), and the cgroup v1 settings this host needs.
fn kubelet_config(dir: &Path, socket: &Path, port: u16, healthz: u16, cp: &ControlPlane) -> String {
    let d = |p: &str| part(dir, p).display().to_string();
    format!(
        r#"apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {NODE_IP}
port: {port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {healthz}
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: {ca}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://{socket}
# cgroup v1 host without systemd managing the kubelet.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
podLogsDir: {logs}
volumePluginDir: {plugins}
# The lab shares the machine's disk: evict only when it is really full.
evictionHard:
  memory.available: 100Mi
  nodefs.available: 2%
  nodefs.inodesFree: 2%
  imagefs.available: 2%
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
serializeImagePulls: false
shutdownGracePeriod: 0s
"#,
        ca = cp.dir.join("certs/ca.crt").display(),
        socket = socket.display(),
        logs = d("pod-logs"),
        plugins = d("volume-plugins"),
    )
}

/// The kubelet's credentials: `system:node:lab-node-1`.
fn kubelet_kubeconfig(cp: &ControlPlane) -> String {
    let certs = cp.dir.join("certs");
    let f = |n: &str| certs.join(n).display().to_string();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: https://127.0.0.1:{}\n    certificate-authority: {}\n\
         users:\n- name: {NAME}\n  user:\n    client-certificate: {}\n    client-key: {}\n\
         contexts:\n- name: lab\n  context:\n    cluster: lab\n    user: {NAME}\ncurrent-context: lab\n",
        cp.api_port,
        f("ca.crt"),
        f("node.crt"),
        f("node.key"),
    )
}

/// Fails unless this machine can run a node: root, cgroups, overlayfs.
pub fn check_host() -> Result<()> {
    let uid = run(Command::new("id").arg("-u"))?;
    if uid.trim() != "0" {
        bail!("the lab's real node (kubelet, containerd, runc) needs root");
    }
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !filesystems.contains("overlay") {
        bail!("the lab's node needs overlayfs (containerd's snapshotter): modprobe overlay");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_toml_names_the_https_server_and_its_ca() {
        assert_eq!(
            hosts_toml("10.88.0.1:5443", Some(Path::new("/lab/certs/ca.crt"))),
            "server = \"https://10.88.0.1:5443\"\n\n[host.\"https://10.88.0.1:5443\"]\n  \
             capabilities = [\"pull\", \"resolve\"]\n  ca = \"/lab/certs/ca.crt\"\n"
        );
        assert!(!hosts_toml("10.88.0.1:5443", None).contains("ca ="));
    }

    #[test]
    fn only_mounts_below_the_directory_are_unmounted() {
        let info = "\
22 1 254:0 / / rw - ext4 /dev/vda rw\n\
100 22 0:50 / /lab/node/containerd/state/x/rootfs rw - overlay overlay rw\n\
101 22 0:51 / /lab/node/containerd/state/netns/cni\\0401 rw - nsfs nsfs rw\n\
102 22 0:52 / /lab/nodex/other rw - tmpfs tmpfs rw\n";
        assert_eq!(
            mounts_below(info, Path::new("/lab/node")),
            [
                "/lab/node/containerd/state/x/rootfs",
                "/lab/node/containerd/state/netns/cni 1"
            ]
        );
    }

    #[test]
    fn pid_files_of_shims_and_containers_are_found() {
        let dir = std::env::temp_dir().join(format!("node-pids-{}", std::process::id()));
        let task = dir.join("io.containerd.runtime.v2.task/k8s.io/abc");
        std::fs::create_dir_all(&task).unwrap();
        std::fs::write(task.join("shim.pid"), "123").unwrap();
        std::fs::write(task.join("init.pid"), "456\n").unwrap();
        std::fs::write(task.join("config.json"), "{}").unwrap();
        let mut pids = Vec::new();
        collect_pid_files(&dir, &mut pids, 0);
        pids.sort();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(pids, [123, 456]);
    }
}
