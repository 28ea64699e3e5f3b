//! `labctl preflight`: is the cluster ready for the lab? (before deploying)

use crate::cli::preflight::PreflightArgs;
use crate::context::Context;
use crate::exit::ExitStatus;

pub async fn run(ctx: &Context, args: &PreflightArgs) -> anyhow::Result<ExitStatus> {
    super::run_checks::run(ctx, &args.checks, crate::checks::catalogue::preflight()).await
}
