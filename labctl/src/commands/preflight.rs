//! `labctl preflight`.

use crate::context::Context;

#[derive(Debug, clap::Args)]
pub struct PreflightArgs {}

pub async fn run(_ctx: &Context, _args: &PreflightArgs) -> anyhow::Result<i32> {
    anyhow::bail!("preflight is not implemented yet")
}
