//! Runs a catalogue of checks for `preflight` and `verify`: selects the checks asked for, runs
//! them, renders the report.

use crate::checks::Cause;
use crate::checks::Check;
use crate::checks::cluster::Cluster;
use crate::cli::run_checks::CheckArgs;
use crate::context::Context;
use crate::exit::ExitStatus;
use crate::render::Palette;

pub async fn run(
    ctx: &Context,
    args: &CheckArgs,
    catalogue: Vec<Check>,
) -> anyhow::Result<ExitStatus> {
    run_then(ctx, args, catalogue, None).await
}

/// What a command does with a failed report before it is rendered: `verify` diagnoses the
/// cluster the round read (or reads it, when the round did not) and names the root causes
/// under the failed checks.
pub type OnFailure =
    for<'a> fn(&'a Context, Option<&'a Cluster>) -> futures::future::BoxFuture<'a, Vec<Cause>>;

/// [`run`], then, for `verify`, the root causes (`on_failure`) when a check failed.
pub async fn run_then(
    ctx: &Context,
    args: &CheckArgs,
    catalogue: Vec<Check>,
    on_failure: Option<OnFailure>,
) -> anyhow::Result<ExitStatus> {
    let catalogue = crate::checks::applicable(catalogue, &ctx.config);
    if args.list {
        crate::render::write_stdout(&crate::render::checks::list(&catalogue, ctx.output))?;
        return Ok(ExitStatus::Success);
    }
    let checks = crate::checks::select(&catalogue, &args.only)?;
    let verbose = ctx.verbose;
    let round = crate::runner::run_round(ctx, &checks, |r| {
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
    let report = round.report;
    let palette = Palette::new(ctx.color);
    let document = match on_failure {
        None => crate::render::checks::render(&report, ctx.output, palette, ctx.strict),
        Some(diagnose) => {
            let causes = if report.exit_code(ctx.strict) == ExitStatus::Failure {
                diagnose(ctx, round.cluster.as_ref()).await
            } else {
                Vec::new()
            };
            crate::render::checks::render_with_causes(
                &report, &causes, ctx.output, palette, ctx.strict,
            )
        }
    };
    crate::render::write_stdout(&document)?;
    Ok(report.exit_code(ctx.strict))
}
