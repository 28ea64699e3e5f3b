//! Runs a catalogue of checks: gate checks first, one after another (if one fails the rest
//! cannot say anything useful), then the cluster read once, when a check judges it (the loader
//! `diagnose` uses, bounded by the timeout; `verify --snapshot`: the file), then all others
//! concurrently, each bounded by its own timeout. Results come back in catalogue order whatever
//! order they finish in. The runner knows nothing about output: it returns a [`Report`] (and
//! tells a callback as results arrive), and the snapshot the round judged, for what the
//! command does next with the same objects (`verify`: the causes, `--wait`'s Application).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesOrdered;

use crate::checks::cluster::Cluster;
use crate::checks::{Check, CheckError, Outcome, Run, Severity, Status};
use crate::context::Context;
use crate::exit::ExitStatus;
use crate::fetch::FetchError;

/// The result of one check, ready to render.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CheckResult {
    pub id: String,
    pub category: String,
    pub title: String,
    pub status: Status,
    pub message: String,
    pub evidence: Vec<String>,
    pub hint: String,
    /// Wall time of the check (not serialised: it would make output unstable).
    #[serde(skip)]
    pub elapsed: Duration,
}

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
    pub skip: usize,
}

/// All results of a run, in catalogue order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub checks: Vec<CheckResult>,
    /// The instant a recording was judged as of (`verify --snapshot`); `None` live.
    pub as_of: Option<crate::snapshot::AsOf>,
}

impl Report {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.checks {
            match c.status {
                Status::Pass => s.pass += 1,
                Status::Warn => s.warn += 1,
                Status::Fail => s.fail += 1,
                Status::Skip => s.skip += 1,
            }
        }
        s
    }

    /// `Failure` if a check failed (or warned, with `--strict`), else `Success`.
    pub fn exit_code(&self, strict: bool) -> ExitStatus {
        let s = self.summary();
        ExitStatus::failure_if(s.fail > 0 || (strict && s.warn > 0))
    }
}

/// One round of checks: the report, and the cluster its checks judged (`None` when none was
/// read: no selected check judges one, a gate failed, or the read failed).
#[derive(Debug)]
pub struct Round {
    pub report: Report,
    pub cluster: Option<Cluster>,
}

/// Runs `checks` (already filtered) and returns the report; `on_result` sees each result in
/// catalogue order as soon as it and all before it are done.
pub async fn run(ctx: &Context, checks: &[Check], on_result: impl FnMut(&CheckResult)) -> Report {
    run_round(ctx, checks, on_result).await.report
}

/// [`run`], keeping the cluster the round read.
pub async fn run_round(
    ctx: &Context,
    checks: &[Check],
    mut on_result: impl FnMut(&CheckResult),
) -> Round {
    let needs_api = checks.iter().any(|c| !c.gate && c.needs_api);
    let (gates, rest): (Vec<&Check>, Vec<&Check>) = checks.iter().partition(|c| c.gate);
    let mut results: Vec<CheckResult> = Vec::with_capacity(checks.len());

    // Gates run only when something after them needs the API (`verify --check dns-…` runs
    // without a cluster), or when they were asked for alone.
    let run_gates = needs_api || rest.is_empty();
    let mut blocked_by: Option<&str> = None;
    for gate in gates.iter().filter(|_| run_gates) {
        let result = match blocked_by {
            Some(id) => not_run(gate, id),
            None => run_one(ctx, gate, None).await,
        };
        if result.status == Status::Fail && blocked_by.is_none() {
            blocked_by = Some(gate.id);
        }
        on_result(&result);
        results.push(result);
    }

    // The cluster, read once for every check that judges it, after the gates said it can be.
    let judges = rest.iter().any(|c| matches!(c.run, Run::Judge(_)));
    let cluster = match blocked_by {
        None if judges => Some(read_cluster(ctx).await),
        _ => None,
    };
    let seen = cluster.as_ref().and_then(|c| c.as_ref().ok());

    // After a failed gate the checks that need the API cannot say anything; the others (DNS,
    // HTTP with a configured ingress address) still can, and do.
    let mut pending: FuturesOrdered<_> = rest
        .iter()
        .map(|c| match blocked_by {
            Some(id) if c.needs_api => {
                futures::future::Either::Left(std::future::ready(not_run(c, id)))
            }
            _ => futures::future::Either::Right(run_one(ctx, c, cluster.as_ref())),
        })
        .collect();
    while let Some(result) = pending.next().await {
        on_result(&result);
        results.push(result);
    }

    // Gates were run first but belong where the catalogue puts them.
    let order = |id: &str| checks.iter().position(|c| c.id == id).unwrap_or(usize::MAX);
    results.sort_by_key(|r| order(&r.id));
    let report = Report {
        checks: results,
        as_of: ctx.snapshot.as_ref().map(|r| r.as_of),
    };
    let cluster = seen.cloned();
    Round { report, cluster }
}

/// The cluster a round judges: the recording `verify --snapshot` judges, or one live read of
/// the lab's namespace (its lists in flight at once) within the timeout; the error says why
/// it could not be read.
async fn read_cluster(ctx: &Context) -> Result<Cluster, String> {
    if let Some(recorded) = &ctx.snapshot {
        return Ok(Cluster::new(recorded.snapshot.clone(), recorded.as_of.at));
    }
    let client = ctx.client().await.map_err(|e| crate::error_chain(&e))?;
    let namespaces = crate::snapshot::live::Namespaces::One(ctx.config.namespace.clone());
    let read = crate::snapshot::live::load(&client, &namespaces, &ctx.config);
    match tokio::time::timeout(ctx.timeout, read).await {
        Ok(Ok(snapshot)) => {
            // "Now" is the read's, by the API server's clock (the objects' own clock).
            let now = snapshot.as_of_or(ctx.clock).at;
            Ok(Cluster::new(Arc::new(snapshot), now))
        }
        Ok(Err(e)) => Err(crate::error_chain(&e)),
        Err(_) => Err(format!(
            "reading the cluster timed out after {}",
            humantime::format_duration(ctx.timeout)
        )),
    }
}

/// Runs one check under the per-check timeout and applies its severity; a judge judges the
/// round's cluster (`cluster`: read, or why not).
async fn run_one(
    ctx: &Context,
    check: &Check,
    cluster: Option<&Result<Cluster, String>>,
) -> CheckResult {
    let started = Instant::now();
    if let Some(recorded) = &ctx.snapshot
        && let Some(what) = not_in_a_snapshot(check)
    {
        let why = format!(
            "{what}: not judged from the snapshot {}",
            recorded.path.display()
        );
        return result(check, Outcome::skip(why), started.elapsed());
    }
    let seen = cluster.and_then(|c| c.as_ref().ok());
    let ran = match check.run {
        Run::Judge(judge) => Ok(match cluster {
            Some(Ok(cluster)) => judge(cluster, &ctx.config),
            Some(Err(why)) => Err(CheckError::Other(why.clone())),
            None => Err(CheckError::Other("the cluster was not read".into())),
        }),
        Run::Live(run) => tokio::time::timeout(ctx.timeout, run(ctx, seen)).await,
    };
    let outcome = match ran {
        Ok(Ok(outcome)) => apply_severity(outcome, check.severity),
        Ok(Err(CheckError::Fetch(FetchError::Forbidden { permission }))) => Outcome::skip(format!(
            "{permission} (forbidden): grant it, see manifests/rbac/"
        )),
        Ok(Err(e @ CheckError::NotInSnapshot { .. })) => Outcome::skip(e.to_string()),
        Ok(Err(err)) => apply_severity(Outcome::fail(err.to_string()), check.severity),
        Err(_) => apply_severity(
            Outcome::fail(format!(
                "timed out after {}",
                humantime::format_duration(ctx.timeout)
            )),
            check.severity,
        ),
    };
    result(check, outcome, started.elapsed())
}

/// Why `check` cannot be judged from a snapshot, which holds API objects: the gates ask the
/// server itself (its version, the credentials), and the data plane is what a LAN client sees.
fn not_in_a_snapshot(check: &Check) -> Option<&'static str> {
    if check.gate {
        Some("asks the API server itself")
    } else if !check.needs_api {
        Some("needs the live network (DNS, HTTP)")
    } else {
        None
    }
}

/// A warning-only check reports its failures as warnings.
fn apply_severity(mut outcome: Outcome, severity: Severity) -> Outcome {
    if severity == Severity::Warning && outcome.status == Status::Fail {
        outcome.status = Status::Warn;
    }
    outcome
}

fn not_run(check: &Check, gate: &str) -> CheckResult {
    result(
        check,
        Outcome::skip(format!("not run: {gate} failed")),
        Duration::ZERO,
    )
}

fn result(check: &Check, outcome: Outcome, elapsed: Duration) -> CheckResult {
    CheckResult {
        id: check.id.to_owned(),
        category: check.category.to_owned(),
        title: check.title.to_owned(),
        status: outcome.status,
        message: outcome.message,
        evidence: outcome.evidence,
        hint: check.hint(),
        elapsed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LabConfig;
    use futures::FutureExt;

    fn check(id: &'static str, gate: bool, severity: Severity, run: crate::checks::RunFn) -> Check {
        Check {
            id,
            category: "test",
            title: "a test check",
            runbook: "verification.md",
            gate,
            severity,
            needs_api: true,
            applies: |_| true,
            run: Run::Live(run),
        }
    }

    async fn passes(_: &Context) -> Result<Outcome, CheckError> {
        Ok(Outcome::pass("fine"))
    }
    async fn fails(_: &Context) -> Result<Outcome, CheckError> {
        Ok(Outcome::fail("broken").with("evidence line"))
    }
    async fn forbidden(_: &Context) -> Result<Outcome, CheckError> {
        Err(CheckError::Fetch(FetchError::Forbidden {
            permission: "cannot list events in mlops-lab".into(),
        }))
    }
    async fn hangs(_: &Context) -> Result<Outcome, CheckError> {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(Outcome::pass("never"))
    }
    async fn slow_pass(_: &Context) -> Result<Outcome, CheckError> {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(Outcome::pass("slow"))
    }

    fn ctx() -> Context {
        let mut ctx = Context::new(LabConfig::default());
        ctx.timeout = Duration::from_millis(500);
        ctx
    }

    #[tokio::test]
    async fn failed_gate_skips_the_rest() {
        let checks = [
            check("gate", true, Severity::Error, |c, _| fails(c).boxed()),
            check("other", false, Severity::Error, |c, _| passes(c).boxed()),
        ];
        let report = run(&ctx(), &checks, |_| {}).await;
        assert_eq!(report.checks[0].status, Status::Fail);
        assert_eq!(report.checks[1].status, Status::Skip);
        assert_eq!(report.checks[1].message, "not run: gate failed");
        assert_eq!(report.exit_code(false), crate::exit::PROBLEM);
    }

    #[tokio::test]
    async fn forbidden_is_a_skip_naming_the_permission() {
        let checks = [check("events", false, Severity::Error, |c, _| {
            forbidden(c).boxed()
        })];
        let report = run(&ctx(), &checks, |_| {}).await;
        assert_eq!(report.checks[0].status, Status::Skip);
        assert!(
            report.checks[0]
                .message
                .contains("cannot list events in mlops-lab")
        );
        assert_eq!(report.exit_code(true), crate::exit::OK);
    }

    // Paused time: the clock advances only while every task waits, so the figures below are
    // exact and a busy machine cannot make the test flaky.
    #[tokio::test(start_paused = true)]
    async fn timeout_fails_only_that_check_and_others_run_concurrently() {
        let checks = [
            check("hangs", false, Severity::Error, |c, _| hangs(c).boxed()),
            check("slow1", false, Severity::Error, |c, _| slow_pass(c).boxed()),
            check("slow2", false, Severity::Error, |c, _| slow_pass(c).boxed()),
            check("slow3", false, Severity::Error, |c, _| slow_pass(c).boxed()),
        ];
        let started = tokio::time::Instant::now();
        let mut seen = Vec::new();
        let report = run(&ctx(), &checks, |r| seen.push(r.id.clone())).await;
        // Sequentially this would take 500ms + 3 × 200ms.
        assert!(
            started.elapsed() < Duration::from_millis(1000),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(report.checks[0].status, Status::Fail);
        assert!(report.checks[0].message.contains("timed out after 500ms"));
        let ids: Vec<_> = report.checks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["hangs", "slow1", "slow2", "slow3"]);
        assert_eq!(seen, ids);
    }

    #[tokio::test]
    async fn warning_severity_downgrades_failure_and_strict_counts_it() {
        let checks = [check("soft", false, Severity::Warning, |c, _| {
            fails(c).boxed()
        })];
        let report = run(&ctx(), &checks, |_| {}).await;
        assert_eq!(report.checks[0].status, Status::Warn);
        assert_eq!(report.exit_code(false), crate::exit::OK);
        assert_eq!(report.exit_code(true), crate::exit::PROBLEM);
    }

    #[tokio::test]
    async fn checks_without_the_api_still_run_after_a_failed_gate() {
        let mut offline = check("dns", false, Severity::Error, |c, _| passes(c).boxed());
        offline.needs_api = false;
        let checks = [
            check("gate", true, Severity::Error, |c, _| fails(c).boxed()),
            check("pvc", false, Severity::Error, |c, _| passes(c).boxed()),
            offline,
        ];
        let report = run(&ctx(), &checks, |_| {}).await;
        let statuses: Vec<_> = report.checks.iter().map(|c| c.status).collect();
        assert_eq!(statuses, [Status::Fail, Status::Skip, Status::Pass]);
    }

    /// A judge sees the round's cluster: the recording, judged as of its own instant, with no
    /// cluster asked; live, a read that failed fails each judge saying why.
    #[tokio::test]
    async fn judges_judge_the_rounds_cluster_or_fail_saying_why_it_was_not_read() {
        fn nodes(cluster: &Cluster, _: &LabConfig) -> Result<Outcome, CheckError> {
            let n = cluster.list(&cluster.snapshot.nodes, None)?.len();
            Ok(Outcome::pass(format!("{n} nodes as of {}", cluster.now)))
        }
        let judge = Check {
            run: Run::Judge(nodes),
            ..check("nodes", false, Severity::Error, |c, _| passes(c).boxed())
        };
        let snapshot = crate::snapshot::parse_str(
            r#"{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": "n1", "creationTimestamp": "2026-11-30T03:00:00Z"}}]}"#,
            std::path::Path::new("lab.json"),
        )
        .unwrap();
        let recorded = ctx().judging("lab.json".into(), snapshot);
        let round = run_round(&recorded, &[judge], |_| {}).await;
        assert_eq!(
            round.report.checks[0].message,
            "1 nodes as of 2026-11-30T03:00:00Z"
        );
        assert!(round.cluster.is_some());
        let Err(err) = recorded.client().await else {
            panic!("a recording has no client");
        };
        assert_eq!(
            err.to_string(),
            "judging the snapshot lab.json: no cluster is asked"
        );

        let mut live = ctx();
        live.kubeconfig = Some("/nonexistent/kubeconfig".into());
        let round = run_round(&live, &[judge], |_| {}).await;
        let r = &round.report.checks[0];
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.message.starts_with("cannot read kubeconfig"),
            "{}",
            r.message
        );
        assert!(round.cluster.is_none());
    }

    #[tokio::test]
    async fn gates_are_not_run_when_nothing_needs_the_api() {
        let mut offline = check("dns", false, Severity::Error, |c, _| passes(c).boxed());
        offline.needs_api = false;
        let checks = [
            check("gate", true, Severity::Error, |c, _| fails(c).boxed()),
            offline,
        ];
        let report = run(&ctx(), &checks, |_| {}).await;
        assert_eq!(report.checks.len(), 1);
        assert_eq!(report.checks[0].status, Status::Pass);
    }
}
