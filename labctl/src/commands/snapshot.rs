//! `labctl snapshot`: stub of the CLI contract; issue 4 implements it.

use crate::context::Context;

#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {}

pub async fn run(_ctx: &Context, _args: &SnapshotArgs) -> anyhow::Result<i32> {
    anyhow::bail!("snapshot is not implemented yet")
}
