//! The Open Inference Protocol as Triton's Python client speaks it (binary tensor data by
//! default), against the real binary: a client library nobody here wrote.
//!
//! It needs a Python with `tritonclient[http]` and numpy: the virtualenv `scripts/install-deps`
//! creates, or `TRITONCLIENT_PYTHON`. Without one it is skipped, except in CI (`CI=true`),
//! where it must run.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use model::{Kind, Metrics, Model, SCHEMA_VERSION};
use serde_json::{Value, json};

/// The interpreter of the virtualenv `scripts/install-deps` makes (same path rule).
fn python() -> Option<PathBuf> {
    if let Some(python) = std::env::var_os("TRITONCLIENT_PYTHON") {
        return Some(PathBuf::from(python));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    let python = cache.join("mlops-lab/venv-tritonclient/bin/python");
    python.exists().then_some(python)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn triton_python_client_gets_the_models_predictions() {
    let Some(python) = python() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must run this test: scripts/install-deps creates the tritonclient virtualenv"
        );
        eprintln!(
            "SKIPPED: no Python with tritonclient[http]; run scripts/install-deps (or set TRITONCLIENT_PYTHON)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model = Model {
        schema: SCHEMA_VERSION,
        kind: Kind::Linear,
        weights: vec![2.5],
        bias: -0.75,
        version: "v00007".into(),
        trained_at: "2026-11-28T08:30:00Z".into(),
        metrics: Metrics {
            r2: 0.99,
            rmse: 0.1,
            n_train: 80,
            n_test: 20,
        },
        data_sha256: "0".repeat(64),
    };
    model::publish(dir.path(), &model).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_inference"))
        .arg("--model-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start inference");
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split(" addr=").nth(1) {
                let _ = tx.send(addr.split_whitespace().next().unwrap_or("").to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("server logs its address");

    let xs = [4.2, -1.0, 0.0, 1e-3, 12345.678];
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tritonclient_infer.py");
    let out = Command::new(&python)
        .arg(script)
        .args([addr.as_str(), "linear"])
        .args(xs.map(|x| x.to_string()))
        .output()
        .expect("run the tritonclient script");
    drop(server);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}{}",
        python.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Value = serde_json::from_str(&stdout).expect("the script prints JSON");

    assert_eq!(results["extensions"], json!(["binary_tensor_data"]));
    let want: Vec<f64> = xs.iter().map(|x| model.predict(&[*x])).collect();
    for kind in ["binary", "binary_all_outputs", "json"] {
        let y: Vec<f64> = serde_json::from_value(results[kind]["y"].clone()).unwrap();
        assert_eq!(y, want, "{kind}: {results}");
    }
    for kind in ["binary", "binary_all_outputs"] {
        assert_eq!(
            results[kind]["output"]["parameters"]["binary_data_size"],
            json!(xs.len() * 8),
            "{kind} came back as binary data: {results}"
        );
    }
    assert_eq!(
        results["json"]["output"]["data"].as_array().map(Vec::len),
        Some(xs.len()),
        "asked for JSON, got JSON: {results}"
    );
}
