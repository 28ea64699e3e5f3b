//! `labctl lint [PATH]`: render the manifests and run the static checks before deploying.
//! Thin: read and lint ([`crate::lint`]), render the findings, return the exit code.

use crate::exit::ExitStatus;
use std::path::PathBuf;

use crate::context::Context;
use crate::render::Palette;

/// Static checks on the manifests, before anything is deployed.
///
/// PATH is a kustomization directory (rendered with `kubectl kustomize PATH`: kubectl must be
/// installed, or LABCTL_KUBECTL set to its path), a directory of plain YAML/JSON files, a
/// file, or `-` for stdin (`kustomize build overlays/x | labctl lint -`).
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Runs without a cluster. Objects without a namespace are linted in the lab's \
                  namespace (-n). The claim's StorageClass, when not in the manifests, is assumed \
                  to be k3s's local-path (WaitForFirstConsumer).\n\n\
                  Exit codes: 0 no problem found, 1 a problem was found (warnings only with \
                  --strict), 2 the manifests could not be read or rendered."
)]
pub struct LintArgs {
    /// Kustomization directory, directory of manifests, file, or `-` (stdin).
    #[arg(value_name = "PATH", default_value = crate::lint::DEFAULT_PATH)]
    pub path: PathBuf,
}

pub async fn run(ctx: &Context, args: &LintArgs) -> anyhow::Result<ExitStatus> {
    if args.path == std::path::Path::new(crate::lint::DEFAULT_PATH) && !args.path.exists() {
        anyhow::bail!(
            "cannot read {}: not found here; run labctl lint from the repository root or name \
             the overlay: labctl lint PATH",
            crate::lint::DEFAULT_PATH
        );
    }
    let report = crate::lint::run(&args.path, &ctx.config)?;
    if ctx.verbose > 0 {
        crate::render::note(&format!(
            "labctl: linted {} objects from {}",
            report.objects, report.source
        ));
    }
    let document = crate::render::findings::render_lint(
        &report,
        ctx.output,
        Palette::new(ctx.color),
        ctx.strict,
    )?;
    crate::render::write_stdout(&document)?;
    Ok(report.diagnosis.exit_code(ctx.strict))
}
