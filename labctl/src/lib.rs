//! labctl: the runbook of mlops-lab as a program.
//!
//! `main.rs` only parses arguments and maps the outcome to an exit code; everything else lives
//! here so that it can be tested without a process.
// Output goes through `render` only (docs/architecture.md): printing anywhere else is a lint
// warning.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod checks;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod diagnose;
pub mod dns;
pub mod exit;
pub mod fetch;
pub mod http;
pub mod k8s;
// The layer table and the test that keeps it true.
#[cfg(test)]
mod layers;
pub mod lint;
pub mod objects;
pub mod predict;
pub mod registry;
pub mod render;
pub mod runner;
pub mod severity;
pub mod snapshot;

/// A closed stdout (`labctl verify | head -1`) is success, not an error (as in ripgrep).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The cause chain of `err` as one line, `a: b: c`, skipping a cause whose text the line already
/// holds (many libraries repeat their source in their own message).
pub fn error_chain(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_chain_skips_repeated_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let err = anyhow::Error::new(io)
            .context("read failed: No such file")
            .context("cannot load");
        assert_eq!(
            super::error_chain(&err),
            "cannot load: read failed: No such file"
        );
    }
}
