//! `labctl diagnose`: stub of the CLI contract; issue 4 implements it.

use crate::context::Context;

#[derive(Debug, clap::Args)]
pub struct DiagnoseArgs {}

pub async fn run(_ctx: &Context, _args: &DiagnoseArgs) -> anyhow::Result<i32> {
    anyhow::bail!("diagnose is not implemented yet")
}
