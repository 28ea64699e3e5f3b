//! The one way the integration tests run the real `labctl` binary: in a directory they choose,
//! with nothing of the caller's environment that changes what labctl reads (no kubeconfig, no
//! kubectl override) or how it prints (no `NO_COLOR`: stdout is a pipe, which alone turns colour
//! off, and that is what the snapshots show).

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

/// `labctl ARGS` in `dir`, ready to run, or to spawn with piped stdin or stdout.
pub fn command<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_labctl"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("KUBECONFIG")
        .env_remove("LABCTL_KUBECTL")
        .env_remove("NO_COLOR");
    command
}

/// Runs `labctl ARGS` in `dir` and waits for it.
pub fn run_in<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Output {
    command(dir, args).output().expect("run labctl")
}

/// Runs `labctl ARGS` in an empty directory, removed afterwards: no stray `labctl.toml`.
pub fn run<S: AsRef<OsStr>>(args: &[S]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    run_in(dir.path(), args)
}

/// The repository root, where `lint` finds the manifests and the runbooks are.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("labctl sits in the workspace")
}

/// What labctl printed on stdout.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// What labctl printed on stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
