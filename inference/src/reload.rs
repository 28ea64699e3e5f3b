//! Hot reload: poll the commit point, load and validate, swap.
//!
//! Polling `version.txt` (not inotify) because the volume may be a kubelet mount where change
//! notifications are unreliable, and one `stat`+read every interval costs nothing. A new
//! version is loaded completely and validated before it is swapped in; an invalid one is
//! refused, logged and counted once, and the last good model keeps serving.

use std::sync::Arc;
use std::time::Duration;

use model::LoadError;

use crate::state::AppState;

/// How often a load that raced a publish (version.txt and model.json disagree) is retried
/// before it counts as a failure, and how long to wait between tries.
const RACE_RETRIES: u32 = 5;
const RACE_BACKOFF: Duration = Duration::from_millis(20);

/// What the reloader remembers between polls.
#[derive(Debug, Default)]
pub struct Reloader {
    /// The version refused last, so a bad artifact is reported once, not every poll.
    refused: Option<String>,
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
        match load_settled(state) {
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

/// Loads, retrying briefly while a concurrent publish leaves the pair inconsistent.
fn load_settled(state: &AppState) -> Result<model::Model, LoadError> {
    let mut tries = 0;
    loop {
        match model::load(&state.model_dir) {
            Err(e) if e.is_transient() && tries < RACE_RETRIES => {
                tries += 1;
                std::thread::sleep(RACE_BACKOFF);
            }
            result => return result,
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
pub fn spawn(state: Arc<AppState>, interval: Duration) {
    let mut reloader = Reloader::default();
    reloader.poll(&state);
    std::thread::Builder::new()
        .name("model-reload".into())
        .spawn(move || {
            loop {
                std::thread::sleep(interval);
                reloader.poll(&state);
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
