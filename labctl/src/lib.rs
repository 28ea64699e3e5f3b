//! labctl: the runbook of mlops-lab as a program.
//!
//! `main.rs` only parses arguments and maps the outcome to an exit code; everything else lives
//! here so that it can be tested without a process.

pub mod config;
pub mod exit;
