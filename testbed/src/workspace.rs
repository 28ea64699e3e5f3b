//! The workspace this lab is built from: where it is, where cargo puts its binaries, and the
//! builds of its own programs (`trainer`, `inference`, `labctl`): in debug for the lab and
//! labctl's tests, in release for a platform for the images.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};

use crate::images::{self, Platform};

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testbed is a workspace member")
        .to_owned()
}

/// cargo's target directory (`CARGO_TARGET_DIR`, else the workspace's `target/`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// The cargo that runs this build (`CARGO`), else the one on `PATH`.
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// A workspace binary (`trainer`, `inference`, `labctl`), built once per process with cargo
/// (a no-op when up to date).
pub fn workspace_bin(name: &str) -> Result<PathBuf> {
    static BUILT: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    let built =
        BUILT.get_or_init(|| cargo_build(&["-p", "trainer", "-p", "inference", "-p", "labctl"]));
    built_bin(built, "debug", name)
}

/// `cargo build --quiet ARGS` in the workspace; the error is cargo's own output.
fn cargo_build(args: &[&str]) -> std::result::Result<(), String> {
    let out = Command::new(cargo())
        .args(["build", "--quiet"])
        .args(args)
        .current_dir(repo_root())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The path of binary `name` of `profile` once `built` says the build succeeded.
fn built_bin(
    built: &std::result::Result<(), String>,
    profile: &str,
    name: &str,
) -> Result<PathBuf> {
    let path = target_dir().join(profile).join(name);
    match built {
        Ok(()) if path.is_file() => Ok(path),
        Ok(()) => bail!("{} not found after cargo build", path.display()),
        Err(e) => bail!("cannot build the workspace binaries: {e}"),
    }
}

/// Builds `trainer` and `inference` in release for `platform` and returns the directory
/// holding them. The host's platform builds into `target/release` as the lab's build does
/// (so they share it); another is cross-compiled with its Rust target and Debian's
/// `<triple>-gcc` as linker, set for this cargo run only. cargo's progress goes to stderr.
pub fn build_release(repo: &Path, platform: Platform) -> Result<PathBuf> {
    let mut command = Command::new(cargo());
    command
        .args(["build", "--release", "--locked"])
        .args(images::PROGRAMS.iter().flat_map(|p| ["-p", p]))
        .current_dir(repo)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let target = target_dir();
    let out = if Some(platform) == Platform::host() {
        target.join("release")
    } else {
        let triple = platform.rust_target();
        let linker = format!("{}-gcc", platform.gnu());
        let found = Command::new(&linker).arg("--version").output();
        if !found.is_ok_and(|o| o.status.success()) {
            bail!(
                "the cross linker {linker} is missing: install gcc-{} (scripts/install-deps)",
                platform.gnu()
            );
        }
        let libdir = Command::new("rustc")
            .args(["--print", "target-libdir", "--target", triple])
            .current_dir(repo)
            .output()
            .context("run rustc")?;
        let libdir = PathBuf::from(String::from_utf8_lossy(&libdir.stdout).trim());
        if !libdir.is_dir() {
            bail!(
                "the Rust target {triple} is not installed: rustup target add {triple} (scripts/install-deps)"
            );
        }
        let var = format!(
            "CARGO_TARGET_{}_LINKER",
            triple.to_uppercase().replace('-', "_")
        );
        command.args(["--target", triple]).env(var, linker);
        target.join(triple).join("release")
    };
    eprintln!("lab: images: cargo build --release for {platform} (the first build takes minutes)");
    let status = command.status().context("run cargo")?;
    if !status.success() {
        bail!("cargo build for {platform} failed ({status}); its messages are above");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_build_is_reported_with_cargos_words() {
        let err = built_bin(&Err("error[E0425]: oops".into()), "debug", "labctl").unwrap_err();
        assert!(format!("{err}").contains("E0425"), "{err}");
    }

    #[test]
    fn a_binary_missing_after_a_build_is_named() {
        let err = built_bin(&Ok(()), "no-such-profile", "labctl").unwrap_err();
        assert!(format!("{err}").contains("no-such-profile/labctl"), "{err}");
    }

    #[test]
    fn the_root_holds_the_workspace_manifest() {
        let text = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
        assert!(text.contains("[workspace]"), "{text}");
    }
}
