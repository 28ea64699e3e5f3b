//! Hot reload: poll the commit point, load and validate, swap.
//!
//! Polling `version.txt` (not inotify) because the volume may be a kubelet mount where change
//! notifications are unreliable, and one `stat`+read every interval costs nothing. A new
//! version is loaded completely and validated before it is swapped in; an invalid one is
//! refused, logged and counted once, and the last good model keeps serving.

use std::time::{Duration, Instant};

use model::LoadError;

use crate::state::AppState;

/// How long `version.txt` and `model.json` may disagree before the pair counts as corrupt.
/// A publish renames model.json first and version.txt last, with fsyncs in between that can
/// take a while on a busy disk; a trainer that died between the two renames leaves the
/// mismatch for good.
const MISMATCH_GRACE: Duration = Duration::from_secs(5);

/// What the reloader remembers between polls.
#[derive(Debug)]
pub struct Reloader {
    /// See [`MISMATCH_GRACE`]; a field so tests need not wait for it.
    grace: Duration,
    /// The version refused last, so a bad artifact is reported once, not every poll.
    refused: Option<String>,
    /// Since when `version.txt` has named this version without a matching model.json.
    mismatch_since: Option<(String, Instant)>,
}

impl Default for Reloader {
    fn default() -> Self {
        Self {
            grace: MISMATCH_GRACE,
            refused: None,
            mismatch_since: None,
        }
    }
}

impl Reloader {
    /// One poll: loads and swaps in a new version if `version.txt` names one.
    pub fn poll(&mut self, state: &AppState) {
        let version = match model::read_version(&state.model_dir) {
            Ok(v) => v,
            Err(e) => {
                if state.version().is_none() {
                    state.set_not_ready(describe_missing(&e, state));
                }
                return;
            }
        };
        if state.version().as_deref() == Some(version.as_str())
            || self.refused.as_deref() == Some(version.as_str())
        {
            return;
        }
        let loaded = model::load(&state.model_dir);
        if let Err(e) = &loaded
            && e.is_transient()
        {
            let since = match &self.mismatch_since {
                Some((v, since)) if *v == version => *since,
                _ => {
                    self.mismatch_since = Some((version.clone(), Instant::now()));
                    Instant::now()
                }
            };
            if since.elapsed() < self.grace {
                tracing::debug!(%version, "publish in progress; trying again next poll");
                return;
            }
        }
        self.mismatch_since = None;
        match loaded {
            Ok(model) => {
                tracing::info!(version = %model.version, r2 = model.metrics.r2, "serving new model");
                self.refused = None;
                state.swap(model);
                state.metrics.reload_succeeded();
            }
            Err(e) => {
                state.metrics.reload_failed();
                match state.version() {
                    Some(serving) => {
                        tracing::warn!(refused = %version, %serving, error = %e, "refused new model; still serving the last good one")
                    }
                    None => {
                        tracing::warn!(refused = %version, error = %e, "refused model; not ready");
                        state.set_not_ready(format!("refused model {version}: {e}"));
                    }
                }
                self.refused = Some(version);
            }
        }
    }
}

fn describe_missing(e: &LoadError, state: &AppState) -> String {
    match e {
        LoadError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            format!(
                "no model published yet in {} (waiting for the trainer)",
                state.model_dir.display()
            )
        }
        other => other.to_string(),
    }
}

/// Polls every `interval` on its own thread (file reads are blocking and must not stall the
/// async workers). The thread lives as long as the process.
pub fn spawn(state: &'static AppState, interval: Duration) {
    let mut reloader = Reloader::default();
    reloader.poll(state);
    std::thread::Builder::new()
        .name("model-reload".into())
        .spawn(move || {
            loop {
                std::thread::sleep(interval);
                reloader.poll(state);
            }
        })
        .expect("spawning the reload thread");
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Kind, Metrics, Model, SCHEMA_VERSION};

    fn model(version: &str, bias: f64) -> Model {
        Model {
            schema: SCHEMA_VERSION,
            kind: Kind::Linear,
            weights: vec![3.0],
            bias,
            version: version.into(),
            trained_at: "2026-11-28T08:30:00Z".into(),
            metrics: Metrics {
                r2: 0.9,
                rmse: 0.5,
                n_train: 8,
                n_test: 2,
            },
            data_sha256: "0".repeat(64),
        }
    }

    #[test]
    fn loads_swaps_refuses_once_and_keeps_the_last_good_model() {
        let dir = tempfile::tempdir().unwrap();
        let state = AppState::new("linear".into(), dir.path().to_owned());
        let mut r = Reloader::default();

        r.poll(&state);
        assert!(
            state
                .model()
                .unwrap_err()
                .contains("no model published yet")
        );

        model::publish(dir.path(), &model("v1", 2.0)).unwrap();
        r.poll(&state);
        assert_eq!(state.version().as_deref(), Some("v1"));

        // A corrupt model.json behind a new commit point.
        std::fs::write(dir.path().join("model.json"), "{ torn").unwrap();
        std::fs::write(dir.path().join("version.txt"), "v2\n").unwrap();
        r.poll(&state);
        r.poll(&state);
        assert_eq!(
            state.version().as_deref(),
            Some("v1"),
            "last good model keeps serving"
        );
        let text = state.metrics.render();
        assert!(
            text.contains("model_reload_failures_total 1\n"),
            "counted once:\n{text}"
        );

        model::publish(dir.path(), &model("v3", 5.0)).unwrap();
        r.poll(&state);
        assert_eq!(state.model().unwrap().bias, 5.0);
        assert!(state.metrics.render().contains("model_reloads_total 2\n"));
    }

    #[test]
    fn a_publish_in_progress_is_not_a_failure_but_a_lasting_mismatch_is() {
        let dir = tempfile::tempdir().unwrap();
        model::publish(dir.path(), &model("v1", 2.0)).unwrap();
        let state = AppState::new("linear".into(), dir.path().to_owned());
        let mut r = Reloader::default();
        r.poll(&state);
        // version.txt names v2 but model.json still holds v1: the rename of model.json is
        // still to come (or the trainer died in between).
        std::fs::write(dir.path().join("version.txt"), "v2\n").unwrap();
        r.poll(&state);
        assert!(
            state
                .metrics
                .render()
                .contains("model_reload_failures_total 0\n")
        );
        r.grace = Duration::ZERO;
        r.poll(&state);
        assert!(
            state
                .metrics
                .render()
                .contains("model_reload_failures_total 1\n")
        );
        assert_eq!(state.version().as_deref(), Some("v1"));
    }

    #[test]
    fn refused_first_model_explains_why_not_ready() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("model.json"), "{}").unwrap();
        std::fs::write(dir.path().join("version.txt"), "v1\n").unwrap();
        let state = AppState::new("linear".into(), dir.path().to_owned());
        Reloader::default().poll(&state);
        let reason = state.model().unwrap_err();
        assert!(
            reason.starts_with("refused model v1: ") && reason.contains("missing field"),
            "{reason}"
        );
    }
}
