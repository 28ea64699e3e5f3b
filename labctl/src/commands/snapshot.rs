//! `labctl snapshot`: write what the live `diagnose` and `verify` read, as one `List` (JSON),
//! to a file or stdout, so a problem can be diagnosed and verified offline
//! (`diagnose --snapshot FILE`, `verify --snapshot FILE`) and attached to a bug report.

use crate::exit::ExitStatus;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::context::Context;
use crate::snapshot::live::Namespaces;

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

pub async fn run(ctx: &Context, args: &SnapshotArgs) -> anyhow::Result<ExitStatus> {
    let client = ctx.client().await?;
    let namespaces = if args.all_namespaces {
        Namespaces::All
    } else {
        Namespaces::One(ctx.config.namespace.clone())
    };
    let snapshot = tokio::time::timeout(
        ctx.timeout,
        crate::snapshot::live::load(&client, &namespaces, &ctx.config),
    )
    .await
    .with_context(|| format!("reading the cluster took longer than {:?}", ctx.timeout))??;
    let mut document = serde_json::to_string_pretty(&snapshot.to_list()?)?;
    document.push('\n');
    match &args.output_file {
        Some(path) => {
            std::fs::write(path, document)
                .with_context(|| format!("cannot write snapshot {}", path.display()))?;
            crate::render::note(&format!(
                "labctl: wrote {} objects to {}",
                snapshot.len(),
                path.display()
            ));
        }
        None => crate::render::write_stdout(&document)?,
    }
    Ok(ExitStatus::Success)
}
