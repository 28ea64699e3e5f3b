//! `labctl snapshot`: write what the live `diagnose` and `verify` read, as one `List` (JSON),
//! to a file or stdout, so a problem can be diagnosed and verified offline
//! (`diagnose --snapshot FILE`, `verify --snapshot FILE`) and attached to a bug report.

use crate::cli::snapshot::SnapshotArgs;
use crate::exit::ExitStatus;

use anyhow::Context as _;

use crate::context::Context;
use crate::snapshot::live::Namespaces;

pub async fn run(ctx: &Context, args: &SnapshotArgs) -> anyhow::Result<ExitStatus> {
    let client = ctx.client().await?;
    let namespaces = if args.all_namespaces {
        Namespaces::All
    } else {
        Namespaces::One(ctx.config.namespace.clone())
    };
    let snapshot = tokio::time::timeout(
        ctx.timeout,
        crate::snapshot::live::load_whole(&client, &namespaces, &ctx.config),
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
