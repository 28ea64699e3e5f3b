//! Test support: real processes of the data plane on loopback, each stopped by pid when its
//! guard drops. Shared by labctl's data-plane tests and the lab (testbed) tests.
//!
//! - [`Trainer::publish`] runs the real `trainer` into a temp dir.
//! - [`Inference::start`] runs the real `inference` on 127.0.0.1:0 and reads its port from the
//!   `listening addr=…` log line.
//! - [`Nginx::start`] runs Debian's nginx as the ingress: `server_name <host>` → upstream, any
//!   other Host → 404 (ingress-nginx's default backend), all paths in a temp dir, `daemon off`.
//! - [`Dnsmasq::start`] runs Debian's dnsmasq as Pi-hole: `host-record=<host>,<ip>` only, no
//!   upstream, no /etc/hosts, on a free port.
//!
//! Missing nginx or dnsmasq is a test failure that says how to install them, never a silent pass.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a process may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A started process; dropping it stops it by pid (SIGTERM, then SIGKILL) and reaps it.
pub struct ProcessGuard {
    name: String,
    child: Option<Child>,
}

impl ProcessGuard {
    pub fn new(name: &str, child: Child) -> Self {
        Self {
            name: name.to_owned(),
            child: Some(child),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Stops the process now (what `drop` does), e.g. to simulate an outage mid-test.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SIGTERM first: nginx's master then stops its workers, which SIGKILL would orphan
        // (and they would keep the port).
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "support: {} (pid {}) ignored SIGTERM, killing it",
            self.name,
            child.id()
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback port free for both TCP and UDP at the time of the call.
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port for TCP and UDP");
}

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_for_tcp(addr: SocketAddr, what: &str, guard: &mut ProcessGuard) {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Some(child) = guard.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            panic!("{what} exited with {status} before listening on {addr}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("{what} did not listen on {addr} within {START_TIMEOUT:?}");
}

/// The path of a system tool, or a failure that says how to install it.
pub fn require_tool(name: &str) -> PathBuf {
    let dirs = std::env::var("PATH").unwrap_or_default();
    let candidates = dirs
        .split(':')
        .map(PathBuf::from)
        .chain(["/usr/sbin".into(), "/sbin".into()]);
    for dir in candidates {
        let path = dir.join(name);
        if path.is_file() {
            return path;
        }
    }
    panic!(
        "{name} is required by the data-plane tests but is not installed: \
         apt-get update && apt-get install -y nginx dnsmasq-base"
    );
}

/// The workspace's target directory (where `trainer` and `inference` are built).
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target")
}

/// Builds `trainer` and `inference` once per test run (a no-op when up to date), so
/// `cargo test -p labctl` needs no separate build step.
pub fn workspace_bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args(["build", "--quiet", "-p", "trainer", "-p", "inference"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .output()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    let path = target_dir().join("debug").join(name);
    match built {
        Ok(()) => assert!(
            path.is_file(),
            "{} not found after cargo build",
            path.display()
        ),
        // While a neighbour crate is mid-edit, an earlier build still tests labctl's side.
        Err(e) if path.is_file() => {
            eprintln!(
                "support: cannot rebuild trainer/inference, using {}: {e}",
                path.display()
            )
        }
        Err(e) => panic!("cannot build trainer and inference: {e}"),
    }
    path
}

/// The real trainer.
pub struct Trainer;

impl Trainer {
    /// Publishes a model on the built-in synthetic data into `dir`; returns its version.
    pub fn publish(dir: &Path, seed: u64) -> String {
        let out = Command::new(workspace_bin("trainer"))
            .arg("--out")
            .arg(dir)
            .args(["--seed", &seed.to_string()])
            .output()
            .expect("run trainer");
        assert!(
            out.status.success(),
            "trainer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(dir.join("version.txt"))
            .expect("version.txt")
            .trim()
            .to_owned()
    }
}

/// The real inference server on a free loopback port.
pub struct Inference {
    pub addr: SocketAddr,
    pub guard: ProcessGuard,
}

impl Inference {
    pub fn start(model_dir: &Path) -> Self {
        let mut child = Command::new(workspace_bin("inference"))
            .arg("--model-dir")
            .arg(model_dir)
            .args(["--listen", "127.0.0.1:0", "--reload-interval", "200ms"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start inference");
        let stderr = child.stderr.take().unwrap();
        let guard = ProcessGuard::new("inference", child);
        let (tx, rx) = std::sync::mpsc::channel();
        // Keep draining stderr for the whole life of the process so it never blocks on a full
        // pipe; the first `listening addr=` line tells the port.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening addr=").nth(1) {
                    let addr = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .trim_matches('"');
                    let _ = tx.send(addr.to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(START_TIMEOUT)
            .expect("inference logs `listening addr=`");
        let addr: SocketAddr = addr
            .parse()
            .unwrap_or_else(|_| panic!("bad listen address {addr:?}"));
        Self { addr, guard }
    }
}

/// nginx as the ingress: `host` → `upstream`, anything else → 404.
pub struct Nginx {
    pub addr: SocketAddr,
    pub guard: ProcessGuard,
    _dir: tempfile::TempDir,
}

impl Nginx {
    pub fn start(host: &str, upstream: SocketAddr) -> Self {
        let nginx = require_tool("nginx");
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().display();
        let port = free_port();
        let conf = format!(
            r#"daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    # ingress-nginx's default backend: unknown Host -> 404.
    server {{
        listen 127.0.0.1:{port} default_server;
        server_name _;
        return 404;
    }}
    server {{
        listen 127.0.0.1:{port};
        server_name {host};
        location / {{
            proxy_pass http://{upstream};
            proxy_connect_timeout 2s;
            proxy_read_timeout 5s;
        }}
    }}
}}
"#
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let mut guard = ProcessGuard::new("nginx", child);
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        wait_for_tcp(addr, "nginx", &mut guard);
        Self {
            addr,
            guard,
            _dir: dir,
        }
    }
}

/// dnsmasq as Pi-hole: answers only its host records.
pub struct Dnsmasq {
    pub addr: SocketAddr,
    pub guard: ProcessGuard,
    _dir: tempfile::TempDir,
}

impl Dnsmasq {
    pub fn start(records: &[(&str, &str)]) -> Self {
        let dnsmasq = require_tool("dnsmasq");
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut cmd = Command::new(dnsmasq);
        cmd.args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
        ])
        .args([
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--log-facility=-",
        ])
        .arg(format!("--port={port}"))
        .arg(format!(
            "--pid-file={}",
            dir.path().join("dnsmasq.pid").display()
        ))
        // As root dnsmasq would drop to `nobody`; staying root is fine for a test process.
        .arg("--user=root");
        for (host, ip) in records {
            cmd.arg(format!("--host-record={host},{ip}"));
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dnsmasq");
        let mut guard = ProcessGuard::new("dnsmasq", child);
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        // dnsmasq serves TCP on the same port; once it accepts, UDP is bound too.
        wait_for_tcp(addr, "dnsmasq", &mut guard);
        Self {
            addr,
            guard,
            _dir: dir,
        }
    }
}

/// The whole data plane: model → inference → nginx (ingress) → dnsmasq (Pi-hole).
pub struct DataPlane {
    pub model_dir: tempfile::TempDir,
    pub model_version: String,
    pub inference: Inference,
    pub nginx: Nginx,
    pub dns: Dnsmasq,
}

/// The lab's host name.
pub const HOST: &str = "model.homelab";
/// A name Pi-hole resolves to the ingress but the ingress does not route.
pub const UNROUTED_HOST: &str = "other.homelab";

impl DataPlane {
    /// Trains a model (seed 1), serves it, and puts nginx and dnsmasq in front.
    pub fn start() -> Self {
        let model_dir = tempfile::tempdir().expect("temp dir");
        let model_version = Trainer::publish(model_dir.path(), 1);
        Self::start_in(model_dir, model_version)
    }

    /// Same, serving whatever `model_dir` holds (possibly nothing: model not ready).
    pub fn start_in(model_dir: tempfile::TempDir, model_version: String) -> Self {
        let inference = Inference::start(model_dir.path());
        let nginx = Nginx::start(HOST, inference.addr);
        let dns = Dnsmasq::start(&[(HOST, "127.0.0.1"), (UNROUTED_HOST, "127.0.0.1")]);
        Self {
            model_dir,
            model_version,
            inference,
            nginx,
            dns,
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
