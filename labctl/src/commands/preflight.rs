//! `labctl preflight`: is the cluster ready for the lab? (before deploying)

use crate::context::Context;
use crate::exit::ExitStatus;

#[derive(Debug, clap::Args)]
pub struct PreflightArgs {
    #[command(flatten)]
    pub checks: super::run_checks::CheckArgs,
}

pub async fn run(ctx: &Context, args: &PreflightArgs) -> anyhow::Result<ExitStatus> {
    super::run_checks::run(ctx, &args.checks, crate::checks::catalogue::preflight()).await
}
