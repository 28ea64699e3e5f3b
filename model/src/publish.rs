//! Atomic, crash-safe publishing of a model directory.
//!
//! Each file is written to a temp file in the same directory (so the rename stays on one
//! filesystem), fsynced, renamed over the target, and the directory is fsynced so the rename
//! itself survives a crash. `model.json` goes first and `version.txt` last: until the commit
//! point changes, readers keep loading the previous pair.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::{Invalid, MODEL_FILE, Model, VERSION_FILE};

/// Every temp file name contains this marker: `.<target>.tmp-<pid>-<nanos>`.
pub const TEMP_MARKER: &str = ".tmp-";

/// A temp file untouched for this long belongs to a publish that died; a live publish takes
/// milliseconds and the CronJob forbids concurrent runs.
const STALE_AFTER: Duration = Duration::from_secs(10 * 60);

/// Why a publish failed. Nothing of a failed publish is visible to readers.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The model is not valid; nothing was written.
    #[error("refusing to publish an invalid model: {0}")]
    Invalid(#[from] Invalid),
    /// A filesystem step failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> PublishError + 'a {
    move |source| PublishError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// Publishes `model` into `dir` atomically (see the module docs). Stale temp files left by a
/// crashed publish are removed first.
pub fn publish(dir: &Path, model: &Model) -> Result<(), PublishError> {
    model.validate()?;
    // Cleaning is housekeeping: a failure to remove an old temp file must not stop a publish.
    let _ = clean_stale_temp_files(dir, STALE_AFTER, SystemTime::now());
    let mut json = serde_json::to_vec_pretty(model).expect("a validated model serializes");
    json.push(b'\n');
    write_atomic(dir, MODEL_FILE, &json)?;
    write_atomic(dir, VERSION_FILE, format!("{}\n", model.version).as_bytes())
}

/// Replaces `dir/name` with `bytes` so that a reader sees the old or the new file, never a mix.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), PublishError> {
    let target = dir.join(name);
    let temp = dir.join(temp_name(name));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(io_err("create", &temp))?;
        file.write_all(bytes).map_err(io_err("write", &temp))?;
        file.sync_all().map_err(io_err("fsync", &temp))?;
        fs::rename(&temp, &target).map_err(io_err("rename into place", &target))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("fsync directory", dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn temp_name(target: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(".{target}{TEMP_MARKER}{}-{nanos}", std::process::id())
}

/// Removes temp files of earlier publishes not modified for `older_than` before `now`; returns
/// what it removed. Readers never open temp files, so leaving one behind is harmless, only
/// untidy. `now` is an input, so that a test says which instant it judges ages against.
pub fn clean_stale_temp_files(
    dir: &Path,
    older_than: Duration,
    now: SystemTime,
) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let is_temp = name
            .to_str()
            .is_some_and(|n| n.starts_with('.') && n.contains(TEMP_MARKER));
        if !is_temp {
            continue;
        }
        let modified = entry.metadata()?.modified()?;
        if now.duration_since(modified).unwrap_or_default() >= older_than {
            fs::remove_file(entry.path())?;
            removed.push(entry.path());
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{Mutation, sample};
    use crate::{LoadError, load};

    #[test]
    fn publish_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        publish(dir.path(), &sample("v1")).unwrap();
        assert_eq!(load(dir.path()).unwrap(), sample("v1"));
        assert_eq!(
            fs::read_to_string(dir.path().join(VERSION_FILE)).unwrap(),
            "v1\n"
        );
        publish(dir.path(), &sample("v2")).unwrap();
        assert_eq!(load(dir.path()).unwrap().version, "v2");
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains(TEMP_MARKER))
            .collect();
        assert!(
            leftovers.is_empty(),
            "temp files left behind: {leftovers:?}"
        );
    }

    #[test]
    fn invalid_model_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut bad = sample("v1");
        bad.bias = f64::NAN;
        assert!(matches!(
            publish(dir.path(), &bad),
            Err(PublishError::Invalid(_))
        ));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn crash_before_commit_point_keeps_serving_the_old_pair() {
        // A publish that died after renaming model.json but before version.txt: the pair
        // disagrees, which load reports instead of serving a model nobody committed.
        let dir = tempfile::tempdir().unwrap();
        publish(dir.path(), &sample("v1")).unwrap();
        write_atomic(
            dir.path(),
            MODEL_FILE,
            &serde_json::to_vec(&sample("v2")).unwrap(),
        )
        .unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert!(
            err.to_string()
                .contains("version.txt says \"v1\" but model.json holds \"v2\"")
        );
    }

    #[test]
    fn half_written_temp_file_is_ignored_and_cleaned_once_stale() {
        let dir = tempfile::tempdir().unwrap();
        publish(dir.path(), &sample("v1")).unwrap();
        let temp = dir.path().join(format!(".model.json{TEMP_MARKER}999-1"));
        fs::write(&temp, b"{\"schema\": 1, \"kind\": \"lin").unwrap();
        assert_eq!(
            load(dir.path()).unwrap().version,
            "v1",
            "temp files are never read"
        );

        // Fresh temp files may belong to a publish in progress: left alone. Ages are judged
        // against the file's own clock (its modification time), not the test's.
        let written = fs::metadata(&temp).unwrap().modified().unwrap();
        let soon = written + Duration::from_secs(1);
        assert!(
            clean_stale_temp_files(dir.path(), STALE_AFTER, soon)
                .unwrap()
                .is_empty()
        );
        let later = written + STALE_AFTER;
        let keep = dir.path().join(format!(".version.txt{TEMP_MARKER}999-2"));
        fs::write(&keep, b"v").unwrap();
        File::options()
            .write(true)
            .open(&keep)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(
            clean_stale_temp_files(dir.path(), STALE_AFTER, later).unwrap(),
            std::slice::from_ref(&temp),
            "stale only once older_than has passed"
        );
        fs::rename(&keep, &temp).unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&temp)
            .unwrap()
            .set_modified(old)
            .unwrap();
        publish(dir.path(), &sample("v2")).unwrap();
        assert!(
            !temp.exists(),
            "stale temp file should be cleaned by the next publish"
        );
        assert_eq!(load(dir.path()).unwrap().version, "v2");
    }

    #[test]
    fn unwritable_directory_is_an_io_error_naming_the_path() {
        let missing = Path::new("/nonexistent/models");
        let err = publish(missing, &sample("v1")).unwrap_err();
        assert!(matches!(err, PublishError::Io { .. }));
        assert!(err.to_string().contains("/nonexistent/models"), "{err}");
    }

    #[test]
    fn load_reports_every_corrupt_case_with_its_file() {
        let cases: Vec<(&str, Option<&str>, &str)> = vec![
            // (model.json, version.txt, expected fragment)
            ("", None, "version.txt: No such file"),
            ("{}", Some(""), "version.txt: version \"\""),
            ("{}", Some("v 1\n"), "version \"v 1\""),
            (
                "not json",
                Some("v1\n"),
                "model.json: line 1, column 2: expected ident",
            ),
            (
                "{\"schema\": 1}",
                Some("v1\n"),
                "model.json: line 1, column 13: missing field",
            ),
            (
                "true",
                Some("v1\n"),
                "model.json: line 1, column 4: invalid type: boolean",
            ),
        ];
        for (model_json, version_txt, expected) in cases {
            let dir = tempfile::tempdir().unwrap();
            if !model_json.is_empty() {
                fs::write(dir.path().join(MODEL_FILE), model_json).unwrap();
            }
            if let Some(v) = version_txt {
                fs::write(dir.path().join(VERSION_FILE), v).unwrap();
            }
            let err = load(dir.path()).expect_err(expected).to_string();
            assert!(
                err.contains(expected),
                "{err:?} should contain {expected:?}"
            );
        }
    }

    #[test]
    fn load_rejects_unknown_fields_schema_and_non_finite_values() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(VERSION_FILE), "v1\n").unwrap();
        let good = serde_json::to_value(sample("v1")).unwrap();
        let mutations: Vec<Mutation<serde_json::Value>> = vec![
            (|v| v["extra"] = 1.into(), "unknown field `extra`"),
            (|v| v["schema"] = 7.into(), "unsupported schema 7"),
            (|v| v["kind"] = "tree".into(), "unknown variant `tree`"),
            (|v| v["weights"] = serde_json::json!([]), "weights is empty"),
            (|v| v["bias"] = "1.0".into(), "invalid type: string"),
            // JSON has no NaN or infinity; an overflowing literal is the way one sneaks in.
            (
                |v| v["weights"] = serde_json::json!([1.5e300]),
                "number out of range",
            ),
        ];
        for (mutate, expected) in mutations {
            let mut doc = good.clone();
            mutate(&mut doc);
            let text = serde_json::to_string(&doc)
                .unwrap()
                .replace("1.5e300", "1.5e999")
                .replace("1.5e+300", "1.5e999");
            fs::write(dir.path().join(MODEL_FILE), text).unwrap();
            let err = load(dir.path()).expect_err(expected);
            assert!(!matches!(err, LoadError::VersionMismatch { .. }));
            assert!(
                err.to_string().contains(expected),
                "{err} should contain {expected:?}"
            );
        }
    }
}
