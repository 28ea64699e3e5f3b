//! `labctl verify`: does the deployed lab work end to end? (after deploying)
//!
//! `--wait` repeats the checks until the lab has settled (see [`settle`]), with a
//! progress line on stderr, and replaces `argocd app wait` followed by `labctl verify`.

use crate::cli::verify::VerifyArgs;
use std::time::{Duration, Instant};

use crate::checks::Cause;
use crate::checks::cluster::Cluster;
use crate::context::Context;
use crate::exit::ExitStatus;
use crate::render::Palette;
use std::sync::Arc;
mod settle;

use settle::{Next, Persistence};

/// Time between two rounds of `--wait`.
const POLL: Duration = Duration::from_secs(2);

pub async fn run(ctx: &Context, args: &VerifyArgs) -> anyhow::Result<ExitStatus> {
    if let Some(path) = &args.snapshot {
        let snapshot = crate::snapshot::load_path(path)?;
        let recorded = ctx.judging(path.clone(), snapshot);
        return judge(&recorded, args).await;
    }
    judge(ctx, args).await
}

async fn judge(ctx: &Context, args: &VerifyArgs) -> anyhow::Result<ExitStatus> {
    let catalogue = crate::checks::applicable(crate::checks::catalogue::verify(), &ctx.config);
    let Some(limit) = args.wait else {
        return super::run_checks::run_then(ctx, &args.checks, catalogue, Some(causes_now)).await;
    };
    if args.checks.list {
        return super::run_checks::run(ctx, &args.checks, catalogue).await;
    }
    let checks = crate::checks::select(&catalogue, &args.checks.only)?;
    let started = Instant::now();
    let mut persistence = Persistence::default();
    let mut previous = started;
    let progress = crate::render::Progress::new();
    loop {
        let round = crate::runner::run_round(ctx, &checks, |_| {}).await;
        let report = round.report;
        // One read of the cluster a round, for the checks, the Application and the diagnosis
        // (read here only when no selected check judged one). Not readable whole (no
        // permission): the checks say why; wait on the rest.
        let snapshot = match round.cluster {
            Some(cluster) => whole(cluster.snapshot),
            None => read(ctx).await.map(Arc::new),
        };
        let app = snapshot.as_ref().and_then(|s| application(s, ctx));
        let errors = snapshot
            .as_ref()
            .map(|s| error_findings(s, ctx))
            .unwrap_or_default();
        let now = Instant::now();
        let ids: Vec<&str> = errors.iter().map(|id| id.as_str()).collect();
        let seen = persistence.update(&ids, now - previous);
        previous = now;
        let next = settle::judge(
            settle::Round {
                report: &report,
                app: app.as_ref(),
                errors: seen,
                revision: args.revision.as_deref(),
            },
            ctx.strict,
        );
        let waited = started.elapsed();
        let verdict = match next {
            Next::Wait(why) if waited < limit => {
                progress.update(&format!(
                    "labctl: waiting {}s of {}: {why}",
                    waited.as_secs(),
                    humantime::format_duration(limit)
                ));
                tokio::time::sleep(POLL).await;
                continue;
            }
            Next::Wait(why) => Some(format!(
                "gave up after {}: {why}",
                humantime::format_duration(limit)
            )),
            Next::GiveUp(why) => Some(format!(
                "gave up after {}s, waiting cannot help: {why}",
                waited.as_secs()
            )),
            Next::Done => None,
        };
        progress.finish();
        // The causes of what failed, from the snapshot this round already read.
        let causes = match &snapshot {
            Some(s) if report.exit_code(ctx.strict) == ExitStatus::Failure => causes_of(s, ctx),
            _ => Vec::new(),
        };
        let document = crate::render::checks::render_with_causes(
            &report,
            &causes,
            ctx.output,
            Palette::new(ctx.color),
            ctx.strict,
        );
        crate::render::write_stdout(&document)?;
        return Ok(match verdict {
            None => {
                crate::render::note(&format!(
                    "labctl: settled after {}s",
                    started.elapsed().as_secs()
                ));
                ExitStatus::Success
            }
            Some(why) => {
                crate::render::note(&format!("labctl: verify --wait {why}"));
                ExitStatus::Failure
            }
        });
    }
}

/// Ids of the error findings of `diagnose pvc` in the lab's namespace (what `--wait` gives up
/// on when they last).
fn error_findings(
    snapshot: &crate::snapshot::ClusterSnapshot,
    ctx: &Context,
) -> Vec<crate::diagnose::FindingId> {
    let scope = crate::diagnose::Scope::namespace(&ctx.config.namespace);
    crate::diagnose::diagnose(snapshot, &ctx.config, &scope)
        .findings
        .into_iter()
        .filter(|f| f.severity == crate::diagnose::Severity::Error)
        .map(|f| f.id)
        .collect()
}

/// The lab's Application in a snapshot (which lists the Applications of Argo CD's namespace).
fn application(
    snapshot: &crate::snapshot::ClusterSnapshot,
    ctx: &Context,
) -> Option<crate::k8s::application::Application> {
    let app = snapshot
        .applications
        .iter()
        .find(|a| a.metadata.name.as_deref() == Some(ctx.config.argocd_app.as_str()))?;
    crate::k8s::application::Application::from_object(app)
}

async fn read(ctx: &Context) -> Option<crate::snapshot::ClusterSnapshot> {
    let client = ctx.client().await.ok()?;
    let namespaces = crate::snapshot::live::Namespaces::One(ctx.config.namespace.clone());
    let read = crate::snapshot::live::load_whole(&client, &namespaces, &ctx.config);
    tokio::time::timeout(ctx.timeout, read).await.ok()?.ok()
}

/// A round's snapshot, when it holds every list the diagnosis needs (as [`read`] would have
/// read it): a diagnosis of part of the lab would name causes the rest explains.
fn whole(
    snapshot: Arc<crate::snapshot::ClusterSnapshot>,
) -> Option<Arc<crate::snapshot::ClusterSnapshot>> {
    crate::snapshot::live::refused_needed(&snapshot)
        .is_none()
        .then_some(snapshot)
}

/// The root causes of every diagnosis (`labctl diagnose`) over a snapshot, as of the instant
/// the checks judged (a recording's, already found; live, the read's).
fn causes_of(snapshot: &crate::snapshot::ClusterSnapshot, ctx: &Context) -> Vec<Cause> {
    let scope = crate::diagnose::Scope::namespace(&ctx.config.namespace);
    let now = match &ctx.snapshot {
        Some(recorded) => Some(recorded.as_of.at),
        None => snapshot.as_of().map(|a| a.at),
    };
    let d = crate::diagnose::diagnose_at(
        snapshot,
        &ctx.config,
        &scope,
        crate::diagnose::Target::All,
        now,
    );
    Cause::of(&d)
}

/// Names the root causes of a failed verify, from the cluster its checks judged (a recording,
/// or the round's read when it holds every list); read once more only when none was.
fn causes_now<'a>(
    ctx: &'a Context,
    cluster: Option<&'a Cluster>,
) -> futures::future::BoxFuture<'a, Vec<Cause>> {
    Box::pin(async move {
        if let Some(recorded) = &ctx.snapshot {
            return causes_of(&recorded.snapshot, ctx);
        }
        if let Some(cluster) = cluster {
            return match whole(cluster.snapshot.clone()) {
                Some(s) => causes_of(&s, ctx),
                None => Vec::new(),
            };
        }
        match read(ctx).await {
            Some(s) => causes_of(&s, ctx),
            None => Vec::new(),
        }
    })
}
