//! The model artifact contract shared by `trainer`, `inference` and `labctl`.
//!
//! A published model is two files in one directory:
//! - `model.json`: the [`Model`] (schema, kind, weights, bias, version, metrics, data hash);
//! - `version.txt`: the same version string and a newline. It is written last and is the
//!   commit point: a reader that sees a version in `version.txt` finds that model in
//!   `model.json` (unless a newer publish is under way, which [`load`] reports as
//!   [`LoadError::VersionMismatch`] so the caller can retry).
//!
//! [`publish`] is atomic and crash-safe; [`load`] validates everything and says what is wrong
//! and where.

mod publish;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use publish::{TEMP_MARKER, clean_stale_temp_files, publish};

/// The only `model.json` schema this crate reads and writes.
pub const SCHEMA_VERSION: u32 = 1;
/// File name of the model document.
pub const MODEL_FILE: &str = "model.json";
/// File name of the commit point.
pub const VERSION_FILE: &str = "version.txt";
/// The longest version string accepted (it is used in metrics labels and headers).
pub const MAX_VERSION_LEN: usize = 128;

/// The model kinds this contract knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `y = weights · x + bias`.
    Linear,
}

/// Quality figures of a model, measured on the holdout set it never saw in training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// Coefficient of determination on the holdout set.
    pub r2: f64,
    /// Root mean squared error on the holdout set.
    pub rmse: f64,
    /// Rows used for fitting.
    pub n_train: u64,
    /// Rows held out for evaluation.
    pub n_test: u64,
}

/// The content of `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub schema: u32,
    pub kind: Kind,
    pub weights: Vec<f64>,
    pub bias: f64,
    pub version: String,
    /// RFC 3339 time the model was trained.
    pub trained_at: String,
    pub metrics: Metrics,
    /// SHA-256 (hex) of the training data bytes.
    pub data_sha256: String,
}

impl Model {
    /// Number of input features the model expects.
    pub fn n_features(&self) -> usize {
        self.weights.len()
    }

    /// `weights · x + bias`.
    ///
    /// `x` must hold [`Model::n_features`] values: callers that take input from outside check
    /// the length first (inference answers 400), so a mismatch here is a programming error.
    pub fn predict(&self, x: &[f64]) -> f64 {
        debug_assert_eq!(
            x.len(),
            self.weights.len(),
            "feature count checked by the caller"
        );
        self.weights
            .iter()
            .zip(x)
            .fold(self.bias, |acc, (w, v)| acc + w * v)
    }

    /// Checks everything [`load`] checks about the document itself.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.schema != SCHEMA_VERSION {
            return Err(Invalid::Schema { found: self.schema });
        }
        if self.weights.is_empty() {
            return Err(Invalid::NoWeights);
        }
        for (i, w) in self.weights.iter().enumerate() {
            if !w.is_finite() {
                return Err(Invalid::NotFinite {
                    field: format!("weights[{i}]"),
                    value: *w,
                });
            }
        }
        let numbers = [("bias", self.bias), ("metrics.r2", self.metrics.r2)];
        for (field, value) in numbers
            .into_iter()
            .chain([("metrics.rmse", self.metrics.rmse)])
        {
            if !value.is_finite() {
                return Err(Invalid::NotFinite {
                    field: field.to_owned(),
                    value,
                });
            }
        }
        validate_version(&self.version)?;
        if humantime::parse_rfc3339_weak(&self.trained_at).is_err() {
            return Err(Invalid::TrainedAt(self.trained_at.clone()));
        }
        let sha = &self.data_sha256;
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Invalid::DataSha256(sha.clone()));
        }
        Ok(())
    }
}

/// A version string must be printable and safe in a file, a header and a metrics label.
fn validate_version(version: &str) -> Result<(), Invalid> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '+');
    if version.is_empty() || version.len() > MAX_VERSION_LEN || !version.chars().all(ok_char) {
        return Err(Invalid::Version(version.to_owned()));
    }
    Ok(())
}

/// What is wrong inside a model document.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Invalid {
    /// The document was written by a different schema.
    #[error("unsupported schema {found} (this build reads schema {SCHEMA_VERSION})")]
    Schema { found: u32 },
    /// A linear model needs at least one weight.
    #[error("weights is empty")]
    NoWeights,
    /// NaN or an infinity where a number is needed.
    #[error("{field} is {value}, not a finite number")]
    NotFinite { field: String, value: f64 },
    /// Empty, too long, or with characters outside `[A-Za-z0-9-_.:+]`.
    #[error("version {0:?} is not a valid version string")]
    Version(String),
    /// `trained_at` is not an RFC 3339 time.
    #[error("trained_at {0:?} is not an RFC 3339 time")]
    TrainedAt(String),
    /// `data_sha256` is not 64 hex digits.
    #[error("data_sha256 {0:?} is not 64 hex digits")]
    DataSha256(String),
}

/// Why a published model could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file could not be read (missing, permissions, I/O).
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `model.json` is not valid JSON of the expected shape.
    #[error("{}: line {line}, column {column}: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// `model.json` parsed but a value is not acceptable.
    #[error("{}: {source}", path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        source: Invalid,
    },
    /// `version.txt` is empty or not a valid version string.
    #[error("{}: {source}", path.display())]
    BadVersionFile {
        path: PathBuf,
        #[source]
        source: Invalid,
    },
    /// The commit point names another version than `model.json` holds. While a publish is
    /// under way this is transient; otherwise the pair is corrupt.
    #[error("{}: version.txt says {version_txt:?} but model.json holds {model_json:?}", dir.display())]
    VersionMismatch {
        dir: PathBuf,
        version_txt: String,
        model_json: String,
    },
}

impl LoadError {
    /// True when the error may go away by itself (a publish racing the read).
    pub fn is_transient(&self) -> bool {
        matches!(self, LoadError::VersionMismatch { .. })
    }
}

/// Reads the version in `dir/version.txt` (the commit point), validated, without the newline.
pub fn read_version(dir: &Path) -> Result<String, LoadError> {
    let path = dir.join(VERSION_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Read {
        path: path.clone(),
        source,
    })?;
    let version = text.trim_end_matches(['\n', '\r']);
    validate_version(version).map_err(|source| LoadError::BadVersionFile { path, source })?;
    Ok(version.to_owned())
}

/// Parses and validates a `model.json` document; `path` is only used in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Model, LoadError> {
    let model: Model = serde_json::from_slice(bytes).map_err(|e| LoadError::Parse {
        path: path.to_owned(),
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    })?;
    model.validate().map_err(|source| LoadError::Invalid {
        path: path.to_owned(),
        source,
    })?;
    Ok(model)
}

/// serde_json appends " at line L column C"; the error prints the position itself.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Loads the published model in `dir`: reads the commit point, then the model, and checks
/// that they agree. Temp files of an unfinished publish are never read.
pub fn load(dir: &Path) -> Result<Model, LoadError> {
    let version_txt = read_version(dir)?;
    let path = dir.join(MODEL_FILE);
    let bytes = std::fs::read(&path).map_err(|source| LoadError::Read {
        path: path.clone(),
        source,
    })?;
    let model = parse(&path, &bytes)?;
    if model.version != version_txt {
        return Err(LoadError::VersionMismatch {
            dir: dir.to_owned(),
            version_txt,
            model_json: model.version,
        });
    }
    Ok(model)
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Linear => f.write_str("linear"),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A change to a valid document and a fragment of the error it must cause.
    pub type Mutation<T> = (fn(&mut T), &'static str);

    pub fn sample(version: &str) -> Model {
        Model {
            schema: SCHEMA_VERSION,
            kind: Kind::Linear,
            weights: vec![3.0],
            bias: 2.0,
            version: version.to_owned(),
            trained_at: "2026-11-28T08:30:00Z".to_owned(),
            metrics: Metrics {
                r2: 0.99,
                rmse: 0.1,
                n_train: 80,
                n_test: 20,
            },
            data_sha256: "ab".repeat(32),
        }
    }

    #[test]
    fn predict_is_weights_dot_x_plus_bias() {
        let mut m = sample("v1");
        assert_eq!(m.predict(&[4.2]), 3.0 * 4.2 + 2.0);
        m.weights = vec![1.0, -2.0, 0.5];
        assert_eq!(m.predict(&[1.0, 1.0, 4.0]), 1.0 - 2.0 + 2.0 + 2.0);
    }

    #[test]
    fn validate_accepts_a_good_model() {
        assert_eq!(sample("20261128T083000Z-deadbeef").validate(), Ok(()));
    }

    #[test]
    fn validate_names_each_bad_field() {
        let cases: Vec<Mutation<Model>> = vec![
            (|m| m.schema = 2, "unsupported schema 2"),
            (|m| m.weights.clear(), "weights is empty"),
            (|m| m.weights = vec![1.0, f64::NAN], "weights[1] is NaN"),
            (|m| m.bias = f64::INFINITY, "bias is inf"),
            (|m| m.metrics.rmse = f64::NAN, "metrics.rmse is NaN"),
            (|m| m.version = "a b".into(), "version \"a b\""),
            (|m| m.version = String::new(), "version \"\""),
            (
                |m| m.trained_at = "yesterday".into(),
                "trained_at \"yesterday\"",
            ),
            (|m| m.data_sha256 = "xyz".into(), "data_sha256 \"xyz\""),
        ];
        for (break_it, expected) in cases {
            let mut m = sample("v1");
            break_it(&mut m);
            let err = m.validate().expect_err(expected).to_string();
            assert!(
                err.contains(expected),
                "{err:?} should contain {expected:?}"
            );
        }
    }

    #[test]
    fn json_round_trip_keeps_the_documented_field_names() {
        let m = sample("v1");
        let json: serde_json::Value = serde_json::to_value(&m).unwrap();
        for key in [
            "schema",
            "kind",
            "weights",
            "bias",
            "version",
            "trained_at",
            "metrics",
            "data_sha256",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        assert_eq!(json["kind"], "linear");
        assert_eq!(json["metrics"]["n_train"], 80);
        let back: Model = serde_json::from_value(json).unwrap();
        assert_eq!(back, m);
    }
}
