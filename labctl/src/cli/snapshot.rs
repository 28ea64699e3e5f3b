//! `labctl snapshot`.

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {
    /// Write to this file instead of stdout.
    #[arg(
        short = 'f',
        long = "file",
        visible_alias = "output-file",
        value_name = "FILE"
    )]
    pub output_file: Option<PathBuf>,
    /// Every namespace instead of the lab's (`-n`).
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
}
