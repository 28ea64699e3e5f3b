//! Runs a catalogue of checks for `preflight` and `verify`: selects the checks asked for, runs
//! them, renders the report.

use crate::checks::Check;
use crate::context::Context;
use crate::exit::ExitStatus;
use crate::render::Palette;

/// Flags of the check commands.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CheckArgs {
    /// Run only this check (repeatable); see --list for ids.
    #[arg(long = "check", value_name = "ID")]
    pub only: Vec<String>,
    /// List the checks (id, category, title) and exit.
    #[arg(long)]
    pub list: bool,
}

pub async fn run(
    ctx: &Context,
    args: &CheckArgs,
    catalogue: Vec<Check>,
) -> anyhow::Result<ExitStatus> {
    if args.list {
        crate::render::write_stdout(&crate::render::checks::list(&catalogue, ctx.output))?;
        return Ok(ExitStatus::Success);
    }
    let checks = crate::checks::select(&catalogue, &args.only)?;
    let verbose = ctx.verbose;
    let report = crate::runner::run(ctx, &checks, |r| {
        if verbose > 0 {
            crate::render::note(&format!(
                "labctl: {} {:?} in {} ms",
                r.id,
                r.status,
                r.elapsed.as_millis()
            ));
        }
    })
    .await;
    let document =
        crate::render::checks::render(&report, ctx.output, Palette::new(ctx.color), ctx.strict);
    crate::render::write_stdout(&document)?;
    Ok(report.exit_code(ctx.strict))
}
