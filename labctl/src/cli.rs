//! Command-line arguments (clap derive). Parsing only: [`crate::context::Context::from_args`]
//! turns these raw flags into the validated context the commands use, in one step.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::render::OutputFormat;

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

/// Flags that override the lab description (`labctl.toml`).
#[derive(Debug, Clone, Default, Args)]
pub struct LabArgs {
    /// Host name served by the ingress and resolved by Pi-hole [default: model.homelab].
    #[arg(long, global = true, value_name = "HOST")]
    pub host: Option<String>,
    /// Pi-hole DNS server, `ip[:port]` (port 53 if omitted).
    #[arg(long, global = true, value_name = "IP[:PORT]", value_parser = parse_dns_server)]
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
    Preflight(crate::commands::preflight::PreflightArgs),
    /// Check that the deployed lab works end to end (after deploying).
    Verify(crate::commands::verify::VerifyArgs),
    /// Ask the served model for y(x) through DNS and the ingress, like a LAN client.
    Predict(crate::commands::predict::PredictArgs),
    /// Find out why the lab is broken (live, or from a snapshot file).
    Diagnose(crate::commands::diagnose::DiagnoseArgs),
    /// Save what the live commands read, for offline diagnosis and bug reports.
    Snapshot(crate::commands::snapshot::SnapshotArgs),
    /// Check the manifests before deploying (renders them with `kubectl kustomize`).
    Lint(crate::commands::lint::LintArgs),
    /// Print the effective lab description (defaults, labctl.toml, flags).
    Config(crate::commands::config::ConfigArgs),
    /// Print a shell completion script.
    Completions(crate::commands::completions::CompletionsArgs),
}

/// Parses `10s`, `500ms`, `1m` (humantime); zero is refused because every wait must end.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("invalid duration {s:?}: {e}"))?;
    if d.is_zero() {
        return Err(format!("invalid duration {s:?}: must be greater than zero"));
    }
    Ok(d)
}

/// Parses a DNS server as `ip[:port]`; the port defaults to 53. IPv6 with a port needs
/// brackets (`[fd00::53]:5353`), as in URLs.
pub fn parse_dns_server(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    s.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("invalid DNS server {s:?}: expected ip[:port], e.g. 192.168.1.2:53"))
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
    fn dns_server_defaults_port_53() {
        assert_eq!(
            parse_dns_server("192.168.1.2"),
            Ok("192.168.1.2:53".parse().unwrap())
        );
        assert_eq!(
            parse_dns_server("127.0.0.1:5353"),
            Ok("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(
            parse_dns_server("[::1]:5353"),
            Ok("[::1]:5353".parse().unwrap())
        );
        assert!(parse_dns_server("pihole.lan").is_err());
    }
}
