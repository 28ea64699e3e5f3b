//! `labctl lint [PATH]`: render the manifests and run the static checks before deploying.
//! Thin: read and lint ([`crate::lint`]), render the findings, return the exit code.

use crate::cli::lint::LintArgs;
use crate::exit::ExitStatus;

use crate::context::Context;
use crate::render::Palette;

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
