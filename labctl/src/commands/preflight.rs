//! `labctl preflight`: is the cluster ready for the lab? (before deploying)

use crate::context::Context;
use crate::exit::ExitStatus;

#[derive(Debug, clap::Args)]
pub struct PreflightArgs {
    #[command(flatten)]
    pub checks: super::checks_common::CheckArgs,
}

pub async fn run(ctx: &Context, args: &PreflightArgs) -> anyhow::Result<ExitStatus> {
    super::checks_common::run(ctx, &args.checks, crate::checks::catalogue::preflight()).await
}
