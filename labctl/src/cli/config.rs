//! `labctl config`.

#[derive(Debug, clap::Args)]
pub struct ConfigArgs {}
