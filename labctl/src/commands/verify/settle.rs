//! When `labctl verify --wait` is done: after each round of checks, a pure judgement of
//! whether the deployed lab has settled (Argo CD synced the revision it compared and every
//! check passes), is still on its way, or is broken in a way waiting cannot heal.
//!
//! What cannot heal by waiting: a sync operation Argo CD gave up on (phase `Failed`/`Error`,
//! retries exhausted), a failed hook (the first-model Job), or an error finding of the
//! diagnosis that persists. A finding must persist for [`PERSIST`] before it counts: during a
//! first sync the scheduler may report, for a moment, what the next controller step fixes.

use std::time::Duration;

use crate::k8s::application::{Application, short};
use crate::runner::Report;

/// How long an error finding must be seen before `--wait` gives up on it.
pub const PERSIST: Duration = Duration::from_secs(15);

/// What one round saw.
#[derive(Debug, Clone, Copy)]
pub struct Round<'a> {
    pub report: &'a Report,
    /// The Application, when it exists (and labctl may read it).
    pub app: Option<&'a Application>,
    /// Error finding ids of the diagnosis, with how long each has been seen.
    pub errors: &'a [(String, Duration)],
    /// The commit to wait for (`--revision`), when the caller knows what it pushed.
    pub revision: Option<&'a str>,
}

/// What `--wait` does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Settled: every check passes and Argo CD synced the revision it compared.
    Done,
    /// Not yet; why, in one line (for the progress line).
    Wait(String),
    /// Broken in a way waiting cannot heal; why, naming the failing ids.
    GiveUp(String),
}

/// Ids of the checks that did not pass (failed, or warned).
pub fn failing(report: &Report) -> Vec<&str> {
    report
        .checks
        .iter()
        .filter(|c| {
            matches!(
                c.status,
                crate::checks::Status::Fail | crate::checks::Status::Warn
            )
        })
        .map(|c| c.id.as_str())
        .collect()
}

pub fn judge(round: Round<'_>, strict: bool) -> Next {
    let failing = failing(round.report);
    let checks = if failing.is_empty() {
        "every check passes".to_owned()
    } else {
        format!("failing: {}", failing.join(", "))
    };
    if let Some(app) = round.app {
        let revision = app.operation_revision().map(short).unwrap_or("?");
        if app.operation_failed() {
            let message = app
                .status
                .operation_state
                .as_ref()
                .map(|o| o.message.as_str())
                .unwrap_or_default();
            return Next::GiveUp(format!(
                "Argo CD's sync of {revision} failed: {message} ({checks})"
            ));
        }
        if let Some(hook) = app.failed_hooks().next() {
            return Next::GiveUp(format!(
                "Argo CD's {} hook {} {} {}: {} ({checks})",
                hook.hook_type, hook.kind, hook.name, hook.hook_phase, hook.message
            ));
        }
    }
    let lasting: Vec<&str> = round
        .errors
        .iter()
        .filter(|(_, seen)| *seen >= PERSIST)
        .map(|(id, _)| id.as_str())
        .collect();
    if !lasting.is_empty() {
        return Next::GiveUp(format!(
            "labctl diagnose finds {} ({checks})",
            lasting.join(", ")
        ));
    }
    let passes = round.report.exit_code(strict) == crate::exit::ExitStatus::Success;
    let settled = round.app.is_none_or(|app| {
        app.synced_to_compared_revision() && round.revision.is_none_or(|r| app.compared(r))
    });
    if passes && settled {
        return Next::Done;
    }
    let argocd = match round.app {
        Some(app) if app.refresh_pending() => "; Argo CD has not compared with Git yet".to_owned(),
        Some(app) if round.revision.is_some_and(|r| !app.compared(r)) => format!(
            "; Argo CD compared {}, not {} yet",
            short(&app.status.sync.revision),
            round.revision.unwrap_or_default()
        ),
        Some(app) if !settled => {
            let op = app.status.operation_state.as_ref();
            let phase = op.map(|o| o.phase.as_str()).unwrap_or("no operation yet");
            let message = op.map(|o| o.message.as_str()).unwrap_or_default();
            format!(
                "; Argo CD {} at {}, sync {}: {message}",
                app.status.sync.status,
                short(&app.status.sync.revision),
                phase
            )
            .trim_end_matches([':', ' '])
            .to_owned()
        }
        _ => String::new(),
    };
    Next::Wait(format!("{checks}{argocd}"))
}

/// Tracks for how long each error finding has been seen, round after round: a finding that
/// disappears starts again from zero.
#[derive(Debug, Default)]
pub struct Persistence {
    seen: Vec<(String, Duration)>,
}

impl Persistence {
    /// The ids seen in this round, `elapsed` after the previous one; returns each with how
    /// long it has been seen.
    pub fn update(&mut self, ids: &[&str], elapsed: Duration) -> &[(String, Duration)] {
        let before = std::mem::take(&mut self.seen);
        self.seen = ids
            .iter()
            .map(|id| {
                let was = before
                    .iter()
                    .find(|(i, _)| i == id)
                    .map(|(_, d)| *d + elapsed)
                    .unwrap_or_default();
                ((*id).to_owned(), was)
            })
            .collect();
        &self.seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::runner::CheckResult;

    fn report(statuses: &[(&str, Status)]) -> Report {
        Report {
            checks: statuses
                .iter()
                .map(|(id, status)| CheckResult {
                    id: (*id).into(),
                    category: "c".into(),
                    title: "t".into(),
                    status: *status,
                    message: String::new(),
                    evidence: vec![],
                    hint: String::new(),
                    elapsed: Duration::ZERO,
                })
                .collect(),
            ..Report::default()
        }
    }

    /// A round without `--revision`.
    fn plain<'a>(
        report: &'a Report,
        app: Option<&'a Application>,
        errors: &'a [(String, Duration)],
    ) -> Round<'a> {
        Round {
            report,
            app,
            errors,
            revision: None,
        }
    }

    fn app(sync: &str, phase: &str, message: &str, compared: &str, synced: &str) -> Application {
        Application::from_value(&serde_json::json!({
            "status": {
                "sync": {"status": sync, "revision": compared},
                "health": {"status": "Healthy"},
                "operationState": {"phase": phase, "message": message,
                                   "syncResult": {"revision": synced}}
            }
        }))
        .unwrap()
    }

    #[test]
    fn done_when_every_check_passes_and_the_compared_revision_is_synced() {
        let r = report(&[("pvc-bound", Status::Pass)]);
        let a = app(
            "Synced",
            "Succeeded",
            "successfully synced",
            "abc1234567",
            "abc1234567",
        );
        let round = plain(&r, Some(&a), &[]);
        assert_eq!(judge(round, false), Next::Done);
    }

    #[test]
    fn waits_while_argocd_has_not_synced_the_new_commit() {
        let r = report(&[("pvc-bound", Status::Pass)]);
        // The old sync succeeded; Git moved on and the new operation runs.
        let a = app(
            "OutOfSync",
            "Running",
            "waiting for healthy state of apps/Deployment/inference",
            "def4567890",
            "def4567890",
        );
        let round = plain(&r, Some(&a), &[]);
        assert_eq!(
            judge(round, false),
            Next::Wait(
                "every check passes; Argo CD OutOfSync at def4567, sync Running: waiting for healthy state of apps/Deployment/inference"
                    .into()
            )
        );
    }

    #[test]
    fn waits_for_the_pushed_revision_and_a_pending_refresh() {
        let r = report(&[("pvc-bound", Status::Pass)]);
        let a = app(
            "Synced",
            "Succeeded",
            "successfully synced",
            "abc1234567",
            "abc1234567",
        );
        let round = Round {
            report: &r,
            app: Some(&a),
            errors: &[],
            revision: Some("def4567"),
        };
        assert_eq!(
            judge(round, false),
            Next::Wait("every check passes; Argo CD compared abc1234, not def4567 yet".into())
        );
        let round = Round {
            report: &r,
            app: Some(&a),
            errors: &[],
            revision: Some("abc1234"),
        };
        assert_eq!(judge(round, false), Next::Done);
        let mut v = serde_json::to_value(serde_json::json!({})).unwrap();
        v["metadata"] =
            serde_json::json!({"annotations": {"argocd.argoproj.io/refresh": "normal"}});
        v["status"] = serde_json::json!({"sync": {"status": "Synced", "revision": "abc1234567"},
            "operationState": {"phase": "Succeeded", "syncResult": {"revision": "abc1234567"}}});
        let pending = Application::from_value(&v).unwrap();
        let round = plain(&r, Some(&pending), &[]);
        assert_eq!(
            judge(round, false),
            Next::Wait("every check passes; Argo CD has not compared with Git yet".into())
        );
    }

    #[test]
    fn waits_on_failing_checks_and_names_them() {
        let r = report(&[
            ("pvc-bound", Status::Fail),
            ("endpoints-ready", Status::Fail),
        ]);
        let round = plain(&r, None, &[]);
        assert_eq!(
            judge(round, false),
            Next::Wait("failing: pvc-bound, endpoints-ready".into())
        );
    }

    #[test]
    fn gives_up_on_a_failed_sync_a_failed_hook_or_a_lasting_error_finding() {
        let r = report(&[("argocd-app-healthy", Status::Fail)]);
        let a = app(
            "OutOfSync",
            "Failed",
            "one or more objects failed to apply",
            "abc1234567",
            "abc1234567",
        );
        let round = plain(&r, Some(&a), &[]);
        assert_eq!(
            judge(round, false),
            Next::GiveUp(
                "Argo CD's sync of abc1234 failed: one or more objects failed to apply (failing: argocd-app-healthy)"
                    .into()
            )
        );

        let errors = [("pv-node-affinity-conflict".to_owned(), PERSIST)];
        let round = plain(&r, None, &errors);
        assert!(
            matches!(judge(round, false), Next::GiveUp(w) if w.contains("pv-node-affinity-conflict"))
        );

        // Seen only for a moment: it may be a step of the first sync.
        let errors = [(
            "pv-node-affinity-conflict".to_owned(),
            Duration::from_secs(2),
        )];
        let round = plain(&r, None, &errors);
        assert!(matches!(judge(round, false), Next::Wait(_)));
    }

    #[test]
    fn persistence_counts_consecutive_rounds_only() {
        let mut p = Persistence::default();
        let s = Duration::from_secs(5);
        assert_eq!(p.update(&["a"], s), [("a".to_owned(), Duration::ZERO)]);
        assert_eq!(
            p.update(&["a", "b"], s),
            [("a".to_owned(), s), ("b".to_owned(), Duration::ZERO)]
        );
        assert_eq!(p.update(&["b"], s), [("b".to_owned(), s)]);
        assert_eq!(p.update(&["a"], s), [("a".to_owned(), Duration::ZERO)]);
    }
}
