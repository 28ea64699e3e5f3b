//! The arm64 images' programs work: the `trainer` and `inference` that `cargo lab images`
//! cross-compiles for linux/arm64 run under `qemu-aarch64` (Debian's qemu-user-static, with
//! the cross glibc of `libc6-arm64-cross` as their root): the trainer fits a small CSV, the
//! server answers `/readyz` and `/predict` with that model.
//!
//! The arm64 build is the one `cargo lab images` makes (`scripts/test` runs it before the
//! tests, so here it is a no-op); run alone on a cold target directory, the build comes first
//! and takes minutes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use testbed::images::Platform;
use testbed::process::{ProcessGuard, free_port, wait_until};

/// Debian's cross glibc: the dynamic loader and libraries of the arm64 binaries.
const SYSROOT: &str = "/usr/aarch64-linux-gnu";

/// `qemu-aarch64` (qemu-user) or `qemu-aarch64-static` (qemu-user-static), whichever is
/// installed.
fn qemu() -> PathBuf {
    for name in ["qemu-aarch64", "qemu-aarch64-static"] {
        if let Ok(out) = Command::new(name).arg("--version").output()
            && out.status.success()
        {
            return PathBuf::from(name);
        }
    }
    panic!("qemu-aarch64 is missing: run scripts/install-deps (apt-get install qemu-user-static)");
}

/// An ELF file's machine: the arm64 binaries must not be the host's by mistake.
fn is_aarch64(binary: &Path) -> bool {
    let data = std::fs::read(binary).unwrap();
    // e_machine, little-endian at offset 18: EM_AARCH64 is 183.
    data.starts_with(b"\x7fELF") && data[18..20] == [183, 0]
}

/// One HTTP/1.1 GET; the status code and the body.
fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

#[test]
fn arm64_trainer_and_inference_run_under_qemu() {
    let qemu = qemu();
    let repo = testbed::workspace::repo_root();
    let bin = testbed::workspace::build_release(&repo, Platform::Arm64).expect("arm64 build");
    let (trainer, inference) = (bin.join("trainer"), bin.join("inference"));
    assert!(is_aarch64(&trainer) && is_aarch64(&inference));

    let dir = tempfile::tempdir().unwrap();
    // y = 2x + 1, exactly: the fit must find it.
    let csv: String = std::iter::once("x,y\n".to_owned())
        .chain((0..50).map(|i| {
            let x = f64::from(i) / 10.0;
            format!("{x},{}\n", 2.0 * x + 1.0)
        }))
        .collect();
    let data = dir.path().join("training.csv");
    std::fs::write(&data, csv).unwrap();
    let models = dir.path().join("models");
    let out = Command::new(&qemu)
        .args(["-L", SYSROOT])
        .arg(&trainer)
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&models)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "arm64 trainer failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(models.join("model.json").is_file());
    assert!(models.join("version.txt").is_file());

    let (port, metrics) = (free_port().unwrap(), free_port().unwrap());
    let mut command = Command::new(&qemu);
    command
        .args(["-L", SYSROOT])
        .arg(&inference)
        .arg("--model-dir")
        .arg(&models)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--metrics-listen")
        .arg(format!("127.0.0.1:{metrics}"));
    let log = dir.path().join("inference.log");
    // Stopped (its process group) when the guard drops, also when an assertion fails.
    let mut server = ProcessGuard::spawn("inference (arm64)", command, &log).unwrap();
    wait_until(
        "the arm64 inference to be ready",
        Duration::from_secs(60),
        &mut [&mut server],
        || get(port, "/readyz").is_ok_and(|(s, _)| s == 200),
    )
    .unwrap();
    let (status, body) = get(port, "/predict?x=4.2").unwrap();
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let y = answer["y"]
        .as_f64()
        .unwrap_or_else(|| panic!("no y in {body}"));
    assert!((y - 9.4).abs() < 1e-6, "y = {y} for x = 4.2: {body}");
    server.stop();
}
