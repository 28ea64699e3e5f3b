//! `labctl preflight`.

#[derive(Debug, clap::Args)]
pub struct PreflightArgs {
    #[command(flatten)]
    pub checks: super::run_checks::CheckArgs,
}
