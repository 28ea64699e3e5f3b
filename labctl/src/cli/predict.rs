//! `labctl predict X`.

use std::net::IpAddr;

#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// The input x (a finite number).
    #[arg(allow_negative_numbers = true)]
    pub x: String,
    /// Connect to this address instead of resolving the host through Pi-hole.
    #[arg(long, value_name = "IP")]
    pub resolve: Option<IpAddr>,
}
