//! labctl: the runbook of mlops-lab as a program.
//!
//! `main.rs` only parses arguments and maps the outcome to an exit code; everything else lives
//! here so that it can be tested without a process.
// Output goes through `render` only (STYLE.md): printing anywhere else is a lint warning.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod checks;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod diagnose;
pub mod dns;
pub mod exit;
pub mod http;
pub mod render;
pub mod runner;
pub mod snapshot;

/// A closed stdout (`labctl verify | head -1`) is success, not an error (as in ripgrep).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
