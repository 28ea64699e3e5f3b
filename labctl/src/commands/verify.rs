//! `labctl verify`.

use crate::context::Context;

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {}

pub async fn run(_ctx: &Context, _args: &VerifyArgs) -> anyhow::Result<i32> {
    anyhow::bail!("verify is not implemented yet")
}
