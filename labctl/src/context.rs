//! The resolved context of one run: the lab description, output settings, deadlines and a
//! lazily built Kubernetes client.
//!
//! Offline commands (`config`, `completions`, `diagnose --snapshot`) never call
//! [`Context::client`], so they work on a machine without any kubeconfig; `predict` calls it
//! only to explain a failed request, and without a kubeconfig the request's answer speaks
//! alone.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use crate::config::LabConfig;
use crate::snapshot::AsOf;
use k8s_openapi::jiff::Timestamp;

/// Everything a command needs, validated once from the flags and `labctl.toml`.
pub struct Context {
    /// The effective lab description (defaults ← `labctl.toml` ← flags).
    pub config: LabConfig,
    /// Where the description came from (`None` = defaults only), shown by `labctl config`.
    pub config_path: Option<PathBuf>,
    pub output: OutputFormat,
    /// Warnings fail the run.
    pub strict: bool,
    /// Time limit of each check / network step.
    pub timeout: Duration,
    /// Colour decided once: `--no-color`, `NO_COLOR` and non-TTY turn it off.
    pub color: bool,
    pub verbose: u8,
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context` (the kubeconfig context, named like kubectl's flag).
    pub kube_context: Option<String>,
    /// `verify --snapshot FILE`: the recorded cluster the checks judge instead of a live one;
    /// no cluster is asked then ([`Context::client`] refuses).
    pub snapshot: Option<Recorded>,
    /// The wall clock: the one place a run reads it, for a live snapshot whose read could not
    /// learn the API server's time, or a file that holds no time at all; judging a recording
    /// that has one it is not read. Tests set it.
    pub clock: fn() -> Timestamp,
    client: tokio::sync::OnceCell<kube::Client>,
}

/// `-o/--output`: how results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Human-readable, grouped by category (the default).
    #[default]
    Table,
    /// One JSON document on stdout, stable and versioned (`"schema": 1`).
    Json,
    /// Only what is not OK, one line each.
    Short,
}

/// Version of every JSON document labctl prints (checks, diagnosis, lint, config); bumped
/// only on incompatible changes.
pub const SCHEMA: u32 = 1;

/// A snapshot judged in place of the cluster, the file it was read from and the instant it is
/// judged as of.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: PathBuf,
    pub snapshot: std::sync::Arc<crate::snapshot::ClusterSnapshot>,
    pub as_of: AsOf,
}

impl std::fmt::Debug for Context {
    // kube::Client is not Debug; everything else is worth seeing with -vv.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .field("config_path", &self.config_path)
            .field("output", &self.output)
            .field("strict", &self.strict)
            .field("timeout", &self.timeout)
            .field("color", &self.color)
            .field("verbose", &self.verbose)
            .field("kubeconfig", &self.kubeconfig)
            .field("kube_context", &self.kube_context)
            .field("snapshot", &self.snapshot.as_ref().map(|r| &r.path))
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context with the given description and default settings (table, 10s, no colour).
    pub fn new(config: LabConfig) -> Self {
        Self {
            config,
            config_path: None,
            output: OutputFormat::Table,
            strict: false,
            timeout: Duration::from_secs(10),
            color: false,
            verbose: 0,
            kubeconfig: None,
            kube_context: None,
            snapshot: None,
            clock: Timestamp::now,
            client: tokio::sync::OnceCell::new(),
        }
    }

    /// Uses `client` instead of building one from a kubeconfig (tests: `tower-test` mocks).
    pub fn with_client(self, client: kube::Client) -> Self {
        // A fresh OnceCell set to the given client; cannot fail.
        Self {
            client: tokio::sync::OnceCell::new_with(Some(client)),
            ..self
        }
    }

    /// This context judging `snapshot` (read from `path`) instead of the cluster, as of the
    /// snapshot's own instant ([`crate::snapshot::ClusterSnapshot::as_of`]; the clock now only
    /// for a file that holds no time): it has no client, and nothing else changes.
    pub fn judging(&self, path: PathBuf, snapshot: crate::snapshot::ClusterSnapshot) -> Self {
        let as_of = snapshot.as_of_or(self.clock);
        let snapshot = std::sync::Arc::new(snapshot);
        Self {
            config: self.config.clone(),
            config_path: self.config_path.clone(),
            output: self.output,
            strict: self.strict,
            timeout: self.timeout,
            color: self.color,
            verbose: self.verbose,
            kubeconfig: None,
            kube_context: None,
            snapshot: Some(Recorded {
                path,
                snapshot,
                as_of,
            }),
            clock: self.clock,
            client: tokio::sync::OnceCell::new(),
        }
    }

    /// The Kubernetes client, built on first use from `--kubeconfig`/`--context` (or the
    /// in-cluster / default kubeconfig, as kubectl does). None judging a recording: what it
    /// judges is the file, and no cluster may answer in its place.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        if let Some(recorded) = &self.snapshot {
            anyhow::bail!(
                "judging the snapshot {}: no cluster is asked",
                recorded.path.display()
            );
        }
        let client = self
            .client
            .get_or_try_init(|| async {
                let config = self.kube_config().await?;
                kube::Client::try_from(config).context("cannot build the Kubernetes client")
            })
            .await?;
        Ok(client.clone())
    }

    async fn kube_config(&self) -> anyhow::Result<kube::Config> {
        let options = kube::config::KubeConfigOptions {
            context: self.kube_context.clone(),
            cluster: None,
            user: None,
        };
        let mut config = match (&self.kubeconfig, &self.kube_context) {
            (Some(path), _) => {
                let kubeconfig = kube::config::Kubeconfig::read_from(path)
                    .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .with_context(|| format!("cannot load kubeconfig {}", path.display()))?
            }
            (None, Some(name)) => kube::Config::from_kubeconfig(&options)
                .await
                .with_context(|| format!("cannot load kubeconfig context {name:?}"))?,
            (None, None) => kube::Config::infer()
                .await
                .context("cannot find a kubeconfig (set --kubeconfig or $KUBECONFIG)")?,
        };
        // Bound every API call: a check must not hang past its own timeout because the
        // connection did.
        config.connect_timeout = Some(self.timeout);
        config.read_timeout = Some(self.timeout);
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = r#"apiVersion: v1
kind: Config
clusters:
- name: home
  cluster: {server: "https://192.0.2.10:6443", insecure-skip-tls-verify: true}
- name: lab
  cluster: {server: "https://127.0.0.1:16443", insecure-skip-tls-verify: true}
users:
- name: me
  user: {token: "t"}
contexts:
- name: home
  context: {cluster: home, user: me}
- name: lab
  context: {cluster: lab, user: me, namespace: other}
current-context: home
"#;

    fn context_with(path: &std::path::Path, kube_context: Option<&str>) -> Context {
        let mut ctx = Context::new(LabConfig::default());
        ctx.kubeconfig = Some(path.to_path_buf());
        ctx.kube_context = kube_context.map(str::to_owned);
        ctx
    }

    #[tokio::test]
    async fn kubeconfig_and_context_select_the_cluster_like_kubectl() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, KUBECONFIG).unwrap();
        let current = context_with(&path, None).kube_config().await.unwrap();
        assert_eq!(current.cluster_url.to_string(), "https://192.0.2.10:6443/");
        let lab = context_with(&path, Some("lab"))
            .kube_config()
            .await
            .unwrap();
        assert_eq!(lab.cluster_url.to_string(), "https://127.0.0.1:16443/");
        // Every API call is bounded by the per-check timeout.
        assert_eq!(lab.read_timeout, Some(Duration::from_secs(10)));
    }

    #[tokio::test]
    async fn unknown_context_and_missing_file_are_errors_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, KUBECONFIG).unwrap();
        let err = context_with(&path, Some("nope"))
            .kube_config()
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains("nope"), "{err:#}");
        let missing = dir.path().join("missing");
        let err = context_with(&missing, None)
            .kube_config()
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot read kubeconfig"),
            "{err:#}"
        );
    }
}
