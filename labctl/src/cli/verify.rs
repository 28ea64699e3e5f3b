//! `labctl verify`.

use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub checks: super::run_checks::CheckArgs,
    /// Wait until Argo CD has synced the Git revision it compared and every check passes (at
    /// most DURATION, default 10m). Gives up early when waiting cannot help: a failed sync
    /// operation, a failed hook, or an error finding of `labctl diagnose pvc` that lasts.
    #[arg(
        long,
        value_name = "DURATION",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "10m",
        value_parser = humantime::parse_duration
    )]
    pub wait: Option<Duration>,
    /// With --wait: also wait until Argo CD has compared this commit (full or abbreviated),
    /// e.g. `--revision "$(git rev-parse HEAD)"` right after a push.
    #[arg(long, value_name = "COMMIT", requires = "wait")]
    pub revision: Option<String>,
    /// Judge a snapshot (a file or directory written by `labctl snapshot`) instead of the
    /// cluster: the same checks, offline, at the moment it was taken. The gates and the DNS and
    /// HTTP checks are skipped (a snapshot holds API objects only); so is any check that asks
    /// for what the snapshot does not hold.
    #[arg(long, value_name = "PATH", conflicts_with = "wait")]
    pub snapshot: Option<std::path::PathBuf>,
}
