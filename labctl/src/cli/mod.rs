//! Command-line arguments (clap derive), below the commands that read them (as uv keeps its
//! clap structs in `uv-cli`): one module per command's flags. Parsing only:
//! [`GlobalArgs::context`] turns the global flags into the validated context the commands
//! use, in one step.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::config::LabConfig;
use crate::context::{Context, OutputFormat};

pub mod completions;
pub mod config;
pub mod diagnose;
pub mod lint;
pub mod predict;
pub mod preflight;
pub mod run_checks;
pub mod snapshot;
pub mod verify;

/// Checks, verifies and diagnoses the mlops-lab pipeline on Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "labctl", version, about, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 all passed, 1 a check failed or a problem was found, \
                        2 labctl could not do its job."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts (they behave as in kubectl where kubectl has them).
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace of the lab [default: mlops-lab].
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,
    /// Lab description file [default: ./labctl.toml if present].
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Time limit of each check (and of each network step of `predict`).
    #[arg(long, global = true, value_name = "DUR", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Treat warnings as failures.
    #[arg(long, global = true)]
    pub strict: bool,
    /// Never colour output (also: NO_COLOR, or stdout not a terminal).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// More detail on stderr (repeatable).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(flatten)]
    pub lab: LabArgs,
}

impl GlobalArgs {
    /// The context of the run: reads `--config` (or `./labctl.toml` if present), then applies
    /// the flag overrides.
    pub fn context(&self) -> anyhow::Result<Context> {
        let (mut config, config_path) = LabConfig::load(self.config.as_deref())?;
        if let Some(ns) = &self.namespace {
            config.namespace.clone_from(ns);
        }
        if let Some(host) = &self.lab.host {
            config.host.clone_from(host);
        }
        if let Some(dns) = self.lab.dns {
            config.pihole_dns = Some(dns);
        }
        if let Some(addr) = self.lab.ingress_address {
            config.ingress_address = Some(addr);
        }
        if let Some(port) = self.lab.port {
            config.ingress_port = port;
        }
        let mut ctx = Context::new(config);
        ctx.config_path = config_path;
        ctx.output = self.output;
        ctx.strict = self.strict;
        ctx.timeout = self.timeout;
        ctx.color = crate::render::use_color(self.no_color);
        ctx.verbose = self.verbose;
        ctx.kubeconfig.clone_from(&self.kubeconfig);
        ctx.kube_context.clone_from(&self.context);
        Ok(ctx)
    }
}

/// Flags that override the lab description (`labctl.toml`).
#[derive(Debug, Clone, Default, Args)]
pub struct LabArgs {
    /// Host name served by the ingress and resolved by Pi-hole [default: model.homelab].
    #[arg(long, global = true, value_name = "HOST")]
    pub host: Option<String>,
    /// Pi-hole DNS server, `ip[:port]` (port 53 if omitted).
    #[arg(long, global = true, value_name = "IP[:PORT]", value_parser = crate::config::parse_dns_server)]
    pub dns: Option<SocketAddr>,
    /// Ingress address (skips reading it from the Ingress status).
    #[arg(long, global = true, value_name = "IP")]
    pub ingress_address: Option<IpAddr>,
    /// Ingress HTTP port [default: 80].
    #[arg(long, global = true, value_name = "PORT")]
    pub port: Option<u16>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check that the cluster is ready for the lab (before deploying).
    Preflight(preflight::PreflightArgs),
    /// Check that the deployed lab works end to end (after deploying).
    Verify(verify::VerifyArgs),
    /// Ask the served model for y(x) through DNS and the ingress, like a LAN client.
    Predict(predict::PredictArgs),
    /// Find out why the lab is broken (live, or from a snapshot file).
    Diagnose(diagnose::DiagnoseArgs),
    /// Save what the live commands read, for offline diagnosis and bug reports.
    Snapshot(snapshot::SnapshotArgs),
    /// Check the manifests before deploying (renders them with `kubectl kustomize`).
    Lint(lint::LintArgs),
    /// Print the effective lab description (defaults, labctl.toml, flags).
    Config(config::ConfigArgs),
    /// Print a shell completion script.
    Completions(completions::CompletionsArgs),
}

/// Parses `10s`, `500ms`, `1m` (humantime); zero is refused because every wait must end.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("invalid duration {s:?}: {e}"))?;
    if d.is_zero() {
        return Err(format!("invalid duration {s:?}: must be greater than zero"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn duration_accepts_humantime_and_rejects_zero_and_garbage() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn flags_override_the_file() {
        use clap::Parser;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lab.toml");
        std::fs::write(
            &file,
            "namespace = \"from-file\"\nhost = \"file.lan\"\ningress_port = 8080\n",
        )
        .unwrap();
        let cli = Cli::parse_from([
            "labctl",
            "--config",
            file.to_str().unwrap(),
            "-n",
            "from-flag",
            "--dns",
            "192.168.1.2",
            "config",
        ]);
        let ctx = cli.global.context().unwrap();
        assert_eq!(ctx.config.namespace, "from-flag");
        assert_eq!(ctx.config.host, "file.lan");
        assert_eq!(ctx.config.ingress_port, 8080);
        assert_eq!(
            ctx.config.pihole_dns,
            Some("192.168.1.2:53".parse().unwrap())
        );
        assert_eq!(ctx.config_path.as_deref(), Some(file.as_path()));
    }
}
