//! `labctl verify`: does the deployed lab work end to end? (after deploying)

use crate::context::Context;
use crate::exit::ExitStatus;

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub checks: super::run_checks::CheckArgs,
}

pub async fn run(ctx: &Context, args: &VerifyArgs) -> anyhow::Result<ExitStatus> {
    super::run_checks::run(ctx, &args.checks, crate::checks::catalogue::verify()).await
}
