//! Processes on loopback shared by the lab and by labctl's data-plane tests: Debian's dnsmasq
//! as Pi-hole (`host-record`s only, no upstream, no /etc/hosts), the workspace's binaries,
//! and, for labctl's tests only, the real `trainer` and `inference` as processes behind
//! Debian's nginx as a reverse proxy (`server_name <host>` → inference, any other Host →
//! 404). The lab itself runs trainer and inference as pods on its real node, behind Traefik.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};

use crate::poll::Look;
use crate::process::{ProcessGuard, free_port, run};
use crate::workspace::workspace_bin;

/// How long a process may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// The lab's host name.
pub const HOST: &str = "model.homelab";

/// The path of a system tool, or an error that says how to install it.
pub fn require_tool(name: &str) -> Result<PathBuf> {
    let dirs = std::env::var("PATH").unwrap_or_default();
    let candidates = dirs
        .split(':')
        .map(PathBuf::from)
        .chain(["/usr/sbin".into(), "/sbin".into()]);
    for dir in candidates {
        let path = dir.join(name);
        if path.is_file() {
            return Ok(path);
        }
    }
    bail!(
        "{name} is not installed: run scripts/install-deps (apt-get install -y nginx dnsmasq-base)"
    )
}

/// Runs the real trainer on the built-in synthetic data; returns the published version.
pub fn train(model_dir: &Path, seed: u64) -> Result<String> {
    run(Command::new(workspace_bin("trainer")?)
        .arg("--out")
        .arg(model_dir)
        .args(["--seed", &seed.to_string()]))?;
    Ok(model::read_version(model_dir)?)
}

/// Waits until `addr` accepts TCP connections; fails if the process exits first.
pub fn wait_for_tcp(addr: SocketAddr, guard: &mut ProcessGuard) -> Result<()> {
    let what = format!("{} to listen on {addr}", guard.name);
    crate::poll::until(&what, START_TIMEOUT, Duration::from_millis(25), || {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(Look::Ready(()));
        }
        guard.check_alive()?;
        Ok(Look::NotYet(None))
    })
}

/// The real inference server on a free loopback port.
#[derive(Debug)]
pub struct Inference {
    pub addr: SocketAddr,
    pub guard: ProcessGuard,
}

impl Inference {
    /// Starts it on `model_dir`, logging to `log`.
    pub fn start(model_dir: &Path, log: &Path) -> Result<Self> {
        let mut command = Command::new(workspace_bin("inference")?);
        command.arg("--model-dir").arg(model_dir).args([
            "--listen",
            "127.0.0.1:0",
            "--reload-interval",
            "200ms",
        ]);
        // The log is appended to across runs: read only what this process writes.
        let start = std::fs::metadata(log)
            .map(|m| m.len() as usize)
            .unwrap_or(0);
        let mut guard = ProcessGuard::spawn("inference", command, log)?;
        let addr = crate::poll::until(
            "inference to log its address",
            START_TIMEOUT,
            Duration::from_millis(25),
            || {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let text = text.get(start..).unwrap_or_default();
                if let Some(addr) = text
                    .lines()
                    .rev()
                    .find_map(|l| l.split("listening addr=").nth(1))
                {
                    let addr = addr
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .trim_matches('"');
                    let addr: SocketAddr = addr
                        .parse()
                        .map_err(|_| anyhow!("bad listen address {addr:?} in {}", log.display()))?;
                    return Ok(Look::Ready(addr));
                }
                guard.check_alive()?;
                Ok(Look::NotYet(None))
            },
        )?;
        Ok(Self { addr, guard })
    }
}

/// One virtual host of the ingress: `host` → `upstream`, or 503 while the backend has no
/// ready endpoints (what ingress-nginx answers then).
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub host: String,
    pub upstream: Option<SocketAddr>,
}

/// nginx as the ingress: each route's host → its upstream, any other Host → 404.
#[derive(Debug)]
pub struct Nginx {
    pub addr: SocketAddr,
    pub guard: ProcessGuard,
    dir: PathBuf,
}

impl Nginx {
    /// Starts nginx with its files (config, pid, temp paths, logs) in `dir`.
    pub fn start(dir: &Path, routes: &[Route]) -> Result<Self> {
        let nginx = require_tool("nginx")?;
        std::fs::create_dir_all(dir)?;
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
        write_nginx_conf(dir, addr, routes)?;
        let mut command = Command::new(nginx);
        command
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"));
        let mut guard = ProcessGuard::spawn("nginx", command, &dir.join("nginx.out"))?;
        wait_for_tcp(addr, &mut guard)?;
        Ok(Self {
            addr,
            guard,
            dir: dir.to_owned(),
        })
    }

    /// Rewrites the configuration and reloads nginx (as ingress-nginx does on a change).
    pub fn configure(&mut self, routes: &[Route]) -> Result<()> {
        write_nginx_conf(&self.dir, self.addr, routes)?;
        let conf = self.dir.join("nginx.conf");
        run(Command::new(require_tool("nginx")?)
            .arg("-p")
            .arg(&self.dir)
            .arg("-c")
            .arg(&conf)
            .args(["-s", "reload"]))?;
        // The master re-reads the configuration asynchronously; new workers answer within a
        // moment. Wait until a request for the first route shows the new state.
        std::thread::sleep(Duration::from_millis(300));
        self.guard.check_alive()
    }
}

fn write_nginx_conf(dir: &Path, addr: SocketAddr, routes: &[Route]) -> Result<()> {
    let mut servers = String::new();
    for route in routes {
        let action = match route.upstream {
            Some(upstream) => format!(
                "location / {{\n            proxy_pass http://{upstream};\n            proxy_connect_timeout 2s;\n            proxy_read_timeout 5s;\n        }}"
            ),
            // ingress-nginx: a known host whose Service has no ready endpoints.
            None => "return 503;".to_owned(),
        };
        servers.push_str(&format!(
            "    server {{\n        listen {addr};\n        server_name {};\n        {action}\n    }}\n",
            route.host
        ));
    }
    let conf = nginx_conf(
        dir,
        "",
        &format!(
            "    # ingress-nginx's default backend: unknown Host -> 404.\n    server {{\n        listen {addr} default_server;\n        server_name _;\n        return 404;\n    }}\n{servers}"
        ),
    );
    std::fs::write(dir.join("nginx.conf"), conf)?;
    Ok(())
}

/// An nginx configuration that keeps every file in `dir` (pid, logs, temp paths), runs in
/// the foreground with one worker, and serves `servers` (`server { … }` blocks); `main` goes
/// before the `events` block (such as `user root;`).
pub fn nginx_conf(dir: &Path, main: &str, servers: &str) -> String {
    let d = dir.display();
    format!(
        r#"daemon off;
{main}worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{servers}}}
"#
    )
}

/// dnsmasq as Pi-hole: answers only its host records.
#[derive(Debug)]
pub struct Dnsmasq {
    pub addr: SocketAddr,
    pub guard: ProcessGuard,
}

impl Dnsmasq {
    /// Starts dnsmasq with `records` (host, ip) on a free port; pid file and log in `dir`.
    pub fn start(dir: &Path, records: &[(&str, &str)]) -> Result<Self> {
        Self::start_on(dir, free_port()?, records)
    }

    /// Same, on `port` (to restart it where clients already point).
    pub fn start_on(dir: &Path, port: u16, records: &[(&str, &str)]) -> Result<Self> {
        let dnsmasq = require_tool("dnsmasq")?;
        std::fs::create_dir_all(dir)?;
        let mut command = Command::new(dnsmasq);
        command
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
            ])
            .args([
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--log-facility=-",
                "--log-queries",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()))
            // As root dnsmasq would drop to `nobody`; it needs nothing of root here either way.
            .arg(format!("--user={}", whoami()));
        for (host, ip) in records {
            command.arg(format!("--host-record={host},{ip}"));
        }
        let mut guard = ProcessGuard::spawn("dnsmasq", command, &dir.join("dnsmasq.log"))?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        // dnsmasq serves TCP on the same port; once it accepts, UDP is bound too.
        wait_for_tcp(addr, &mut guard)?;
        Ok(Self { addr, guard })
    }
}

fn whoami() -> String {
    Command::new("id")
        .arg("-un")
        .stderr(Stdio::null())
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "root".into())
}
