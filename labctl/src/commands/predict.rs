//! `labctl predict <x>`.

use crate::context::Context;

#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// The input x (a finite number).
    #[arg(allow_negative_numbers = true)]
    pub x: String,
    /// Connect to this address instead of resolving the host through Pi-hole.
    #[arg(long, value_name = "IP")]
    pub resolve: Option<std::net::IpAddr>,
}

pub async fn run(_ctx: &Context, _args: &PredictArgs) -> anyhow::Result<i32> {
    anyhow::bail!("predict is not implemented yet")
}
