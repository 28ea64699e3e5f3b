//! GitOps in the lab: a Git server and Argo CD itself.
//!
//! - [`GitServer`]: a bare repository holding the repository's `manifests/` and `argocd/`,
//!   served read-only over smart HTTP by Debian's nginx in front of fcgiwrap and
//!   `git http-backend`. The lab changes what is deployed the way a user does: a commit in
//!   its clone, pushed to the bare repository ([`GitServer::commit`]).
//! - [`ArgoCd`]: Argo CD v3 from its Go module, run as its own `Procfile` runs it: Redis,
//!   `argocd-repo-server` (with `git` and `kustomize` on its PATH) and
//!   `argocd-application-controller` as local processes against the lab's API server
//!   (`ARGOCD_FAKE_IN_CLUSTER=true`: the in-cluster destination is the controller's
//!   kubeconfig). Its ConfigMaps, Secret, RBAC and workload objects come from the module's own
//!   `manifests/`; the controller authenticates as its ServiceAccount, so the module's RBAC
//!   is what it gets.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use labctl::k8s::application::{Application, REFRESH_ANNOTATION};

use crate::controlplane::{Binaries, ControlPlane};
use crate::dataplane::{nginx_conf, require_tool, wait_for_tcp};
use crate::process::{ProcessGuard, free_port, run};

/// The Argo CD namespace, as the upstream install uses it.
pub const ARGOCD_NAMESPACE: &str = "argocd";
/// The Application `argocd/application.yaml` defines.
pub const APP: &str = "mlops-lab";
/// The branch the Application follows (`targetRevision` in `argocd/application.yaml`).
pub const BRANCH: &str = "main";
/// The lab's overlay, the path the lab's Application renders.
pub const OVERLAY: &str = "manifests/overlays/lab";

/// What the lab's Git holds: the directories Argo CD reads.
const PUBLISHED: [&str; 2] = ["manifests", "argocd"];

/// The lab's Git server. Dropping it stops nginx and fcgiwrap.
#[derive(Debug)]
pub struct GitServer {
    /// The repository's URL, as the lab's Application names it.
    pub url: String,
    /// The lab's clone: scenarios edit files here and [`GitServer::commit`] pushes them.
    pub work: PathBuf,
    nginx: ProcessGuard,
    fcgiwrap: ProcessGuard,
}

impl GitServer {
    /// Creates the repository in `dir` from `repo`'s working tree (uncommitted changes
    /// included, so the lab deploys what is being worked on) and serves it.
    pub fn start(dir: &Path, repo: &Path) -> Result<GitServer> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
        let root = dir.join("srv");
        let bare = root.join("mlops-lab.git");
        let work = dir.join("work");
        git(dir, &["init", "-q", "--bare", "-b", BRANCH, &path(&bare)])?;
        git(dir, &["init", "-q", "-b", BRANCH, &path(&work)])?;
        for published in PUBLISHED {
            run(Command::new("cp")
                .arg("-r")
                .arg(repo.join(published))
                .arg(&work))?;
        }
        git(&work, &["remote", "add", "origin", &path(&bare)])?;
        let nginx_dir = dir.join("nginx");
        std::fs::create_dir_all(&nginx_dir)?;
        let socket = dir.join("fcgiwrap.sock");
        // One process (`-c 1`): with more, fcgiwrap forks workers that outlive a stopped
        // parent.
        let mut fcgi = Command::new(require_tool("fcgiwrap")?);
        fcgi.arg("-c")
            .arg("1")
            .arg("-s")
            .arg(format!("unix:{}", path(&socket)));
        let fcgiwrap = ProcessGuard::spawn("fcgiwrap", fcgi, &dir.join("fcgiwrap.log"))?;
        let port = free_port()?;
        std::fs::write(
            nginx_dir.join("nginx.conf"),
            git_nginx_conf(&nginx_dir, port, &socket, &root),
        )?;
        let mut command = Command::new(require_tool("nginx")?);
        command
            .arg("-p")
            .arg(&nginx_dir)
            .arg("-c")
            .arg(nginx_dir.join("nginx.conf"))
            .arg("-e")
            .arg(nginx_dir.join("error.log"));
        let mut nginx = ProcessGuard::spawn("git-nginx", command, &nginx_dir.join("nginx.out"))?;
        wait_for_tcp(([127, 0, 0, 1], port).into(), &mut nginx)?;
        let server = GitServer {
            url: format!("http://127.0.0.1:{port}/mlops-lab.git"),
            work,
            nginx,
            fcgiwrap,
        };
        server.commit("The repository's manifests as the lab found them")?;
        // Served, not only written: what Argo CD's repo-server will do.
        run(Command::new("git").args(["ls-remote", &server.url, BRANCH]))
            .context("the lab's Git server does not serve the repository")?;
        Ok(server)
    }

    /// Commits every change in the clone and pushes it; returns the new revision.
    pub fn commit(&self, message: &str) -> Result<String> {
        git(&self.work, &["add", "-A"])?;
        git(
            &self.work,
            &[
                "-c",
                "user.name=lab",
                "-c",
                "user.email=lab@mlops-lab.invalid",
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                message,
            ],
        )?;
        git(&self.work, &["push", "-q", "origin", BRANCH])?;
        self.head()
    }

    /// The revision the branch points at.
    pub fn head(&self) -> Result<String> {
        Ok(git(&self.work, &["rev-parse", "HEAD"])?.trim().to_owned())
    }

    /// A file of the clone, relative to the repository root.
    pub fn file(&self, relative: &str) -> PathBuf {
        self.work.join(relative)
    }

    /// Restores a file of the clone to the first commit's content (undoing a scenario's edit).
    pub fn restore(&self, relative: &str) -> Result<()> {
        let first = git(&self.work, &["rev-list", "--max-parents=0", "HEAD"])?;
        git(&self.work, &["checkout", first.trim(), "--", relative])?;
        Ok(())
    }

    pub fn check_alive(&mut self) -> Result<()> {
        self.nginx.check_alive()?;
        self.fcgiwrap.check_alive()
    }

    pub fn pids(self) -> Vec<u32> {
        vec![self.nginx.detach(), self.fcgiwrap.detach()]
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    run(Command::new("git").arg("-C").arg(dir).args(args))
}

/// nginx in front of `git http-backend` (smart HTTP, read-only: http-backend refuses pushes
/// without authentication). Workers run as root so they may reach fcgiwrap's socket wherever
/// the lab lives (a test's private temporary directory included).
fn git_nginx_conf(dir: &Path, port: u16, socket: &Path, root: &Path) -> String {
    let servers = format!(
        r#"    server {{
        listen 127.0.0.1:{port};
        location / {{
            fastcgi_pass unix:{socket};
            fastcgi_param SCRIPT_FILENAME /usr/lib/git-core/git-http-backend;
            fastcgi_param GIT_PROJECT_ROOT {root};
            fastcgi_param GIT_HTTP_EXPORT_ALL "";
            fastcgi_param PATH_INFO $uri;
            fastcgi_param QUERY_STRING $query_string;
            fastcgi_param REQUEST_METHOD $request_method;
            fastcgi_param CONTENT_TYPE $content_type;
            fastcgi_param CONTENT_LENGTH $content_length;
            fastcgi_param REMOTE_ADDR $remote_addr;
            fastcgi_param SERVER_PROTOCOL $server_protocol;
            fastcgi_param GATEWAY_INTERFACE CGI/1.1;
        }}
    }}
"#,
        socket = socket.display(),
        root = root.display(),
    );
    nginx_conf(dir, "user root;\n", &servers)
}

/// Argo CD's processes. Dropping it stops them, the controller first.
#[derive(Debug)]
pub struct ArgoCd {
    controller: Option<ProcessGuard>,
    repo_server: Option<ProcessGuard>,
    redis: Option<ProcessGuard>,
    dir: PathBuf,
    logs: PathBuf,
    binary: PathBuf,
    kubeconfig: PathBuf,
    redis_addr: String,
    repo_server_addr: String,
}

impl Drop for ArgoCd {
    fn drop(&mut self) {
        for guard in [&mut self.controller, &mut self.repo_server, &mut self.redis] {
            if let Some(mut g) = guard.take() {
                g.stop();
            }
        }
    }
}

/// Installs Argo CD's cluster side from its module's `manifests/`: the CRDs, the namespace,
/// the ConfigMaps and Secret, the controller's RBAC, and the workload objects (their pods are
/// kwok pods, as the provisioner's; the real processes run on the host, [`ArgoCd::start`]).
pub fn install(cp: &ControlPlane, module: &Path) -> Result<()> {
    let m = module.join("manifests");
    for crd in ["application-crd.yaml", "appproject-crd.yaml"] {
        cp.kubectl(&[
            "apply",
            "--server-side",
            "-f",
            &path(&m.join("crds").join(crd)),
        ])?;
    }
    cp.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/applications.argoproj.io",
        "crd/appprojects.argoproj.io",
    ])?;
    cp.apply(&format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ARGOCD_NAMESPACE}\n"
    ))?;
    for dir in [
        "base/config",
        "base/application-controller-roles",
        "base/application-controller",
        "base/repo-server",
        "base/redis",
    ] {
        cp.kubectl(&[
            "apply",
            "--server-side",
            "-n",
            ARGOCD_NAMESPACE,
            "-k",
            &path(&m.join(dir)),
        ])
        .with_context(|| format!("apply Argo CD's manifests/{dir}"))?;
    }
    cp.kubectl(&[
        "apply",
        "--server-side",
        "-k",
        &path(&m.join("cluster-rbac/application-controller")),
    ])?;
    Ok(())
}

impl ArgoCd {
    /// Starts Redis, the repo-server and the application controller, with their files in
    /// `dir`.
    pub fn start(cp: &ControlPlane, bins: &Binaries, dir: &Path) -> Result<ArgoCd> {
        std::fs::create_dir_all(dir)?;
        for sub in ["tls", "ssh", "gpg", "tmp"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let logs = cp.dir.join("logs");
        let redis_port = free_port()?;
        let mut redis = Command::new(require_tool("redis-server")?);
        redis
            .args(["--bind", "127.0.0.1", "--port", &redis_port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir);
        let mut redis = ProcessGuard::spawn("redis", redis, &logs.join("argocd-redis.log"))?;
        wait_for_tcp(([127, 0, 0, 1], redis_port).into(), &mut redis)?;

        let repo_port = free_port()?;
        let mut repo = argocd_command(&bins.argocd, "argocd-repo-server", dir);
        // What Argo CD's image has on the repo-server's PATH: git (the machine's), kustomize
        // (the lab's build) and the module's `hack/git-verify-wrapper.sh`, which the
        // repo-server runs on every revision it renders.
        let tools = dir.join("bin");
        let _ = std::fs::remove_dir_all(&tools);
        std::fs::create_dir_all(&tools)?;
        std::os::unix::fs::symlink(&bins.kustomize, tools.join("kustomize"))?;
        let wrapper = tools.join("git-verify-wrapper.sh");
        std::fs::copy(
            bins.argocd_module.join("hack/git-verify-wrapper.sh"),
            &wrapper,
        )?;
        // Module files are read-only and keep no modes.
        std::fs::set_permissions(
            &wrapper,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )?;
        let path_var = format!(
            "{}:{}",
            tools.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        repo.env("PATH", path_var)
            .env("ARGOCD_GPG_ENABLED", "false")
            .args(["--address", "127.0.0.1", "--port", &repo_port.to_string()])
            .args(["--metrics-address", "127.0.0.1"])
            .args(["--metrics-port", &free_port()?.to_string()])
            .args(["--redis", &format!("127.0.0.1:{redis_port}")]);
        let mut repo_server = ProcessGuard::spawn(
            "argocd-repo-server",
            repo,
            &logs.join("argocd-repo-server.log"),
        )?;
        wait_for_tcp(([127, 0, 0, 1], repo_port).into(), &mut repo_server)?;

        let kubeconfig =
            cp.service_account_kubeconfig(ARGOCD_NAMESPACE, "argocd-application-controller")?;
        let mut argocd = ArgoCd {
            controller: None,
            repo_server: Some(repo_server),
            redis: Some(redis),
            dir: dir.to_owned(),
            logs,
            binary: bins.argocd.clone(),
            kubeconfig,
            redis_addr: format!("127.0.0.1:{redis_port}"),
            repo_server_addr: format!("127.0.0.1:{repo_port}"),
        };
        argocd.start_controller()?;
        Ok(argocd)
    }

    /// Starts the application controller.
    fn start_controller(&mut self) -> Result<()> {
        if self.controller.is_some() {
            return Ok(());
        }
        let mut c = argocd_command(&self.binary, "argocd-application-controller", &self.dir);
        // The StatefulSet's first pod: its ordinal is the controller's shard.
        c.env("HOSTNAME", "argocd-application-controller-0")
            .env("KUBECONFIG", &self.kubeconfig)
            .args(["--namespace", ARGOCD_NAMESPACE])
            .args(["--redis", &self.redis_addr])
            .args(["--repo-server", &self.repo_server_addr])
            .args(["--metrics-port", &free_port()?.to_string()]);
        let log = self.logs.join("argocd-application-controller.log");
        self.controller = Some(ProcessGuard::spawn(
            "argocd-application-controller",
            c,
            &log,
        )?);
        Ok(())
    }

    pub fn check_alive(&mut self) -> Result<()> {
        for guard in [&mut self.controller, &mut self.repo_server, &mut self.redis] {
            if let Some(g) = guard.as_mut() {
                g.check_alive()?;
            }
        }
        Ok(())
    }

    /// Lets the processes outlive this program; returns their pids (Redis first).
    pub fn pids(mut self) -> Vec<u32> {
        [&mut self.redis, &mut self.repo_server, &mut self.controller]
            .into_iter()
            .filter_map(|g| g.take().map(ProcessGuard::detach))
            .collect()
    }
}

/// The `argocd` multi-call binary as one component, with the environment the `Procfile`
/// gives every component.
fn argocd_command(binary: &Path, component: &str, dir: &Path) -> Command {
    let mut c = Command::new(binary);
    c.env("ARGOCD_BINARY_NAME", component)
        .env("ARGOCD_FAKE_IN_CLUSTER", "true")
        .env("ARGOCD_TLS_DATA_PATH", dir.join("tls"))
        .env("ARGOCD_SSH_DATA_PATH", dir.join("ssh"))
        .env("ARGOCD_GNUPGHOME", dir.join("gpg"))
        .env("TMPDIR", dir.join("tmp"))
        .args(["--loglevel", "info", "--logformat", "text"]);
    c
}

/// The lab's Application as the API server has it, read with labctl's own types; `None`
/// when it does not exist.
pub fn application(cp: &ControlPlane) -> Result<Option<Application>> {
    let out = cp.kubectl(&[
        "-n",
        ARGOCD_NAMESPACE,
        "get",
        "application",
        APP,
        "-o",
        "json",
        "--ignore-not-found",
    ])?;
    if out.trim().is_empty() {
        return Ok(None);
    }
    Ok(Some(serde_json::from_str(&out)?))
}

/// One line of what Argo CD says of the Application.
pub fn describe(app: &Application) -> String {
    let s = &app.status;
    let dash = |v: &str| {
        if v.is_empty() {
            "-".to_owned()
        } else {
            v.to_owned()
        }
    };
    let op = s.operation_state.clone().unwrap_or_default();
    format!(
        "sync {} at {}, health {}, operation {} ({})",
        dash(&s.sync.status),
        dash(&s.sync.revision),
        dash(&s.health.status),
        dash(&op.phase),
        dash(&op.message),
    )
}

/// Asks Argo CD to compare with Git now instead of at its next resync, as a Git webhook or
/// `argocd app get --refresh` does.
pub fn refresh(cp: &ControlPlane) -> Result<()> {
    cp.kubectl(&[
        "-n",
        ARGOCD_NAMESPACE,
        "annotate",
        "--overwrite",
        "application",
        APP,
        &format!("{REFRESH_ANNOTATION}=normal"),
    ])?;
    Ok(())
}

/// [`refresh`] when the annotation may still be set from the last one: removed first, so
/// that setting it is a change Argo CD hears of (setting it to the value it has is none).
pub fn refresh_again(cp: &ControlPlane) -> Result<()> {
    let _ = cp.kubectl(&[
        "-n",
        ARGOCD_NAMESPACE,
        "annotate",
        "application",
        APP,
        &format!("{REFRESH_ANNOTATION}-"),
    ]);
    refresh(cp)
}

/// Writes the lab's Application and AppProject into `dir` as a kustomization: the
/// repository's `argocd/` (copied beside it: kustomize takes no absolute base) with only the
/// repository URL (and the project's source repository) and the overlay path changed.
pub fn write_application_kustomization(dir: &Path, repo: &Path, url: &str) -> Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    run(Command::new("cp")
        .arg("-r")
        .arg(repo.join("argocd"))
        .arg(dir))?;
    std::fs::write(
        dir.join("kustomization.yaml"),
        application_kustomization(url),
    )?;
    Ok(())
}

fn application_kustomization(url: &str) -> String {
    format!(
        "# Written by the lab: argocd/ with the lab's Git server and overlay.\n\
         apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
         resources:\n  - argocd\n\
         patches:\n\
         \x20 - target: {{kind: Application, name: {APP}}}\n\
         \x20   patch: |-\n\
         \x20     - op: replace\n        path: /spec/source/repoURL\n        value: {url}\n\
         \x20     - op: replace\n        path: /spec/source/path\n        value: {OVERLAY}\n\
         \x20 - target: {{kind: AppProject, name: {APP}}}\n\
         \x20   patch: |-\n\
         \x20     - op: replace\n        path: /spec/sourceRepos\n        value: [\"{url}\"]\n"
    )
}
