//! The trainer binary's contract: output, exit codes, nothing written on failure.

use std::path::Path;
use std::process::{Command, Output};

fn trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .env_remove("MODEL_DIR")
        .output()
        .unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn publishes_then_keeps_on_worse_data_then_forces() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("models");
    let out_s = out.to_str().unwrap();
    let first = trainer(&["--out", out_s, "--seed", "3"]);
    let (stdout, stderr) = text(&first);
    assert_eq!(first.status.code(), Some(0), "{stderr}");
    assert!(stdout.starts_with("published model 20"), "{stdout}");
    let v1 = model::read_version(&out).unwrap();

    // Pure noise around a flat line: far worse than the published model on its own holdout.
    let csv = dir.path().join("flat.csv");
    let mut text_csv = String::from("x,y\n");
    for i in 0..200 {
        text_csv.push_str(&format!("{},{}\n", i % 20, (i * 7919 % 101) as f64));
    }
    std::fs::write(&csv, text_csv).unwrap();
    let csv_s = csv.to_str().unwrap();
    let kept = trainer(&["--out", out_s, "--data", csv_s]);
    let (stdout, _) = text(&kept);
    // Both models are poor on flat noise; whichever way the gate decides, it must say so and
    // leave a valid pair behind. With --force the new model always wins.
    assert_eq!(kept.status.code(), Some(0));
    assert!(stdout.starts_with("kept published model") || stdout.starts_with("published model"));
    let forced = trainer(&["--out", out_s, "--data", csv_s, "--force"]);
    assert_eq!(forced.status.code(), Some(0));
    let v3 = model::load(&out).unwrap().version;
    assert!(v3 > v1, "{v3} should sort after {v1}");
}

#[test]
fn bad_data_exits_1_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, "x,y\n1,2\n2,oops\n").unwrap();
    let out = dir.path().join("models");
    let run = trainer(&[
        "--out",
        out.to_str().unwrap(),
        "--data",
        csv.to_str().unwrap(),
    ]);
    let (_, stderr) = text(&run);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("bad.csv: line 3, column 2 (y): \"oops\" is not a finite number"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn usage_and_io_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let bad_holdout = trainer(&["--out", out, "--holdout", "1.5"]);
    assert_eq!(bad_holdout.status.code(), Some(2));
    assert!(text(&bad_holdout).1.contains("not between 0 and 1"));
    let missing = trainer(&["--out", out, "--data", "/nonexistent.csv"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing).1.contains("cannot open /nonexistent.csv"));
    assert!(!Path::new(out).join("version.txt").exists());
}
