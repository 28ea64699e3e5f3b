//! One training run, from data to a published (or deliberately kept) model.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use model::{Kind, LoadError, Metrics, Model, SCHEMA_VERSION};

use crate::data::{self, DataError};
use crate::fit::{FitError, Moments, Score};

/// Everything a run needs, already validated by the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Directory the model is published into.
    pub out: PathBuf,
    /// CSV file; `None` = the built-in synthetic data set.
    pub data: Option<PathBuf>,
    /// Seeds the synthetic data and the holdout split.
    pub seed: u64,
    /// Share of rows held out for evaluation, in (0, 1).
    pub holdout: f64,
    /// Refuse to publish a model whose holdout r² is below this.
    pub min_r2: Option<f64>,
    /// Publish even when the new model is worse than the published one.
    pub force: bool,
    /// Do nothing when a valid model is already published (first-sync hook: idempotent).
    pub if_missing: bool,
    /// How much worse (in r²) the new model may be before the gate keeps the old one.
    pub tolerance: f64,
    /// The clock, injected so that tests can pin versions.
    pub now: SystemTime,
}

/// What a successful run did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The new model is published; `replaced` is the version it replaced, if any.
    Published {
        model: Model,
        replaced: Option<String>,
        /// Why the model it replaced could not be used, if it was broken.
        replaced_unusable: Option<String>,
    },
    /// The gate kept the published model because the new one scored worse on the new holdout.
    Kept {
        kept: Model,
        kept_score: Score,
        rejected_score: Score,
    },
    /// `--if-missing` and a valid model is already published: nothing was read or written.
    AlreadyPublished { model: Model },
}

/// Why a run failed; nothing was published.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The data are unusable (exit 1).
    #[error(transparent)]
    Data(#[from] DataError),
    /// No model can be fitted from the data (exit 1).
    #[error("{source_name}: {source}")]
    Fit {
        source_name: String,
        #[source]
        source: FitError,
    },
    /// The holdout split left no rows to evaluate on (exit 1).
    #[error("{0}: no rows fell into the holdout set; add rows or raise --holdout")]
    EmptyHoldout(String),
    /// The model is below the `--min-r2` floor (exit 1).
    #[error("holdout r2 {r2:.4} is below --min-r2 {min:.4}; not publishing")]
    BelowMinR2 { r2: f64, min: f64 },
    /// Reading the data or writing the model failed (exit 2).
    #[error("{0}")]
    Io(String),
}

impl TrainError {
    /// 1 for bad data, 2 for I/O (see the README's exit codes).
    pub fn exit_code(&self) -> i32 {
        match self {
            TrainError::Data(DataError::Read { .. }) | TrainError::Io(_) => 2,
            _ => 1,
        }
    }
}

/// Train, gate and publish as `options` say.
pub fn run(options: &Options) -> Result<Outcome, TrainError> {
    if options.if_missing
        && let Ok(model) = model::load(&options.out)
    {
        return Ok(Outcome::AlreadyPublished { model });
    }
    let (source_name, input): (String, Box<dyn Read>) = match &options.data {
        Some(path) => {
            let file = File::open(path)
                .map_err(|e| TrainError::Io(format!("cannot open {}: {e}", path.display())))?;
            (path.display().to_string(), Box::new(file))
        }
        None => (
            format!("synthetic data (seed {})", options.seed),
            Box::new(std::io::Cursor::new(data::synthetic_csv(options.seed))),
        ),
    };

    // Moments are created at the first row, once the header has told the feature count.
    let mut split: Option<(Moments, Moments)> = None;
    let summary = data::read_csv(&source_name, BufReader::new(input), |index, x, y| {
        let (train, test) =
            split.get_or_insert_with(|| (Moments::new(x.len()), Moments::new(x.len())));
        if is_holdout(options.seed, index, options.holdout) {
            test.push(x, y)
        } else {
            train.push(x, y)
        }
    })?;
    let p = summary.header.features.len();
    let (train, test) = split.unwrap_or_else(|| (Moments::new(p), Moments::new(p)));
    let fit = train
        .fit(&summary.header.features)
        .map_err(|source| TrainError::Fit {
            source_name: source_name.clone(),
            source,
        })?;
    if test.count() == 0 {
        return Err(TrainError::EmptyHoldout(source_name));
    }
    let score = test
        .score(&fit.weights, fit.bias)
        .expect("holdout is non-empty and widths match");
    if let Some(min) = options.min_r2
        && score.r2 < min
    {
        return Err(TrainError::BelowMinR2 { r2: score.r2, min });
    }

    std::fs::create_dir_all(&options.out)
        .map_err(|e| TrainError::Io(format!("cannot create {}: {e}", options.out.display())))?;
    let (previous, unusable) = published(&options.out);
    if let Some(old) = &previous
        && !options.force
        && let Some(old_score) = test.score(&old.weights, old.bias)
        && score.r2 < old_score.r2 - options.tolerance
    {
        return Ok(Outcome::Kept {
            kept: old.clone(),
            kept_score: old_score,
            rejected_score: score,
        });
    }

    let published_version = model::read_version(&options.out).ok();
    let (version, trained_at) =
        new_version(options.now, &summary.sha256, published_version.as_deref());
    let new = Model {
        schema: SCHEMA_VERSION,
        kind: Kind::Linear,
        weights: fit.weights,
        bias: fit.bias,
        version,
        trained_at,
        metrics: Metrics {
            r2: score.r2,
            rmse: score.rmse,
            n_train: train.count(),
            n_test: test.count(),
        },
        data_sha256: summary.sha256,
    };
    model::publish(&options.out, &new).map_err(|e| TrainError::Io(e.to_string()))?;
    Ok(Outcome::Published {
        model: new,
        replaced: published_version,
        replaced_unusable: unusable,
    })
}

/// Whether data row `index` (0-based) is held out: a hash of seed and index, so the split is
/// the same for the same data and seed, whatever the row order of other rows.
pub fn is_holdout(seed: u64, index: u64, holdout: f64) -> bool {
    data::unit(data::splitmix64(
        data::splitmix64(seed) ^ data::splitmix64(index),
    )) < holdout
}

/// The published model, if one loads; else why an existing one cannot be used (a corrupt
/// model is replaced: the gate cannot compare against a model nobody can serve).
fn published(dir: &Path) -> (Option<Model>, Option<String>) {
    match model::load(dir) {
        Ok(m) => (Some(m), None),
        Err(LoadError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            (None, None)
        }
        Err(e) => (None, Some(e.to_string())),
    }
}

/// `YYYYMMDDTHHMMSSZ-<8 hex of the data hash>` and the matching RFC 3339 time. Versions sort
/// by time; when the clock has not moved past the published version (same second, or a clock
/// behind), the time is bumped to one second after it so versions stay unique and ordered.
pub fn new_version(
    now: SystemTime,
    data_sha256: &str,
    published: Option<&str>,
) -> (String, String) {
    let mut at = now;
    if let Some(prev) = published.and_then(version_time)
        && at <= prev
    {
        at = prev + Duration::from_secs(1);
    }
    let rfc3339 = humantime::format_rfc3339_seconds(at).to_string();
    let compact: String = rfc3339.chars().filter(|c| *c != '-' && *c != ':').collect();
    (format!("{compact}-{}", &data_sha256[..8]), rfc3339)
}

/// The time encoded in a version this trainer wrote, if it is one.
fn version_time(version: &str) -> Option<SystemTime> {
    let t = version.get(..16)?; // 20261128T083000Z
    let rfc = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &t[0..4],
        &t[4..6],
        &t[6..8],
        &t[9..11],
        &t[11..13],
        &t[13..15]
    );
    humantime::parse_rfc3339(&rfc).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(out: &Path) -> Options {
        Options {
            out: out.to_owned(),
            data: None,
            seed: 1,
            holdout: 0.2,
            min_r2: None,
            force: false,
            if_missing: false,
            tolerance: 0.01,
            now: humantime::parse_rfc3339("2026-11-28T08:30:00Z").unwrap(),
        }
    }

    fn write_csv(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn synthetic_run_publishes_the_true_line() {
        let dir = tempfile::tempdir().unwrap();
        let Outcome::Published {
            model, replaced, ..
        } = run(&options(dir.path())).unwrap()
        else {
            panic!("expected a publish")
        };
        assert_eq!(replaced, None);
        assert!(
            (model.weights[0] - data::SYNTHETIC_SLOPE).abs() < 0.02,
            "{model:?}"
        );
        assert!(
            (model.bias - data::SYNTHETIC_INTERCEPT).abs() < 0.1,
            "{model:?}"
        );
        assert!(model.metrics.r2 > 0.99);
        assert!((model.metrics.rmse - data::SYNTHETIC_NOISE).abs() < 0.1);
        assert_eq!(
            model.metrics.n_train + model.metrics.n_test,
            data::SYNTHETIC_ROWS
        );
        assert!(
            model.version.starts_with("20261128T083000Z-"),
            "{}",
            model.version
        );
        assert_eq!(model::load(dir.path()).unwrap(), model);
    }

    #[test]
    fn holdout_split_is_deterministic_per_seed() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let run_in = |d: &Path, seed| {
            let mut o = options(d);
            o.data = Some(write_csv(d, "d.csv", &data::synthetic_csv(5)));
            o.seed = seed;
            match run(&o).unwrap() {
                Outcome::Published { model, .. } => model.metrics,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(run_in(a.path(), 9), run_in(b.path(), 9));
        let c = tempfile::tempdir().unwrap();
        assert_ne!(run_in(a.path(), 9).n_test, 0);
        assert_ne!(run_in(c.path(), 10), run_in(b.path(), 9));
    }

    #[test]
    fn gate_keeps_a_better_published_model_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        run(&options(dir.path())).unwrap();
        let good = model::load(dir.path()).unwrap();
        // The same line, but every training row (never a holdout row) is shifted by +20 or
        // −20: the new fit is poor where the published model is right.
        let mut noisy = String::from("x,y\n");
        for i in 0..500u64 {
            let x = i as f64 / 25.0 - 10.0;
            let mut y = 3.0 * x + 2.0;
            if !is_holdout(1, i, 0.2) {
                y += if x < 0.0 { 20.0 } else { -20.0 };
            }
            noisy.push_str(&format!("{x},{y}\n"));
        }
        let mut o = options(dir.path());
        o.data = Some(write_csv(dir.path(), "noisy.csv", &noisy));
        o.now += Duration::from_secs(60);
        match run(&o).unwrap() {
            Outcome::Kept {
                kept,
                kept_score,
                rejected_score,
            } => {
                assert_eq!(kept.version, good.version);
                assert!(rejected_score.r2 < kept_score.r2 - o.tolerance);
            }
            other => panic!("expected the gate to keep the old model, got {other:?}"),
        }
        assert_eq!(
            model::load(dir.path()).unwrap(),
            good,
            "nothing was published"
        );

        o.force = true;
        let Outcome::Published { replaced, .. } = run(&o).unwrap() else {
            panic!("forced publish")
        };
        assert_eq!(replaced.as_deref(), Some(good.version.as_str()));
    }

    #[test]
    fn if_missing_publishes_only_into_an_empty_or_broken_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = options(dir.path());
        o.if_missing = true;
        let Outcome::Published { model: first, .. } = run(&o).unwrap() else {
            panic!("first run publishes")
        };
        o.now += Duration::from_secs(60);
        o.seed = 2;
        assert_eq!(
            run(&o).unwrap(),
            Outcome::AlreadyPublished {
                model: first.clone()
            }
        );
        std::fs::write(dir.path().join(model::MODEL_FILE), "{").unwrap();
        let Outcome::Published {
            replaced_unusable, ..
        } = run(&o).unwrap()
        else {
            panic!("a broken model is replaced")
        };
        let why = replaced_unusable.expect("the reason is kept");
        assert!(why.contains("model.json"), "{why}");
    }

    #[test]
    fn min_r2_refuses_to_publish() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = options(dir.path());
        o.min_r2 = Some(0.9999);
        let err = run(&o).unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert!(err.to_string().contains("below --min-r2"), "{err}");
        assert!(!dir.path().join(model::VERSION_FILE).exists());
    }

    #[test]
    fn bad_data_writes_nothing_and_exits_1() {
        let cases = [
            ("x,y\n1,2\n2,abc\n", "line 3, column 2 (y)"),
            ("x,y\n1,2\n", "training row(s)"),
            (
                "x1,x2,y\n1,5,1\n2,5,2\n3,5,3\n4,5,4\n5,5,5\n6,5,6\n",
                "\"x2\" is constant",
            ),
        ];
        for (text, expected) in cases {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("models");
            let mut o = options(&out);
            o.data = Some(write_csv(dir.path(), "d.csv", text));
            let err = run(&o).unwrap_err();
            assert_eq!(err.exit_code(), 1, "{err}");
            assert!(
                err.to_string().contains(expected),
                "{err} should contain {expected:?}"
            );
            assert!(!out.exists(), "nothing may be written for bad data");
        }
    }

    #[test]
    fn unreadable_data_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = options(dir.path());
        o.data = Some(dir.path().join("missing.csv"));
        let err = run(&o).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("missing.csv"), "{err}");
    }

    #[test]
    fn versions_are_unique_and_sorted_even_within_one_second() {
        let sha = "0123456789abcdef".repeat(4);
        let now = humantime::parse_rfc3339("2026-11-28T08:30:00Z").unwrap();
        let (v1, t1) = new_version(now, &sha, None);
        assert_eq!(v1, "20261128T083000Z-01234567");
        assert_eq!(t1, "2026-11-28T08:30:00Z");
        let (v2, _) = new_version(now, &sha, Some(&v1));
        assert_eq!(v2, "20261128T083001Z-01234567");
        let (v3, _) = new_version(now, &sha, Some(&v2));
        assert!(v1 < v2 && v2 < v3);
        // A published version from somewhere else does not confuse the clock.
        assert_eq!(new_version(now, &sha, Some("hand-made")).0, v1);
    }
}
