//! One module per command; each is thin: resolve what it needs from the [`Context`], call the
//! engine, hand the result to `render`, return an exit code.

use crate::exit::ExitStatus;
pub mod completions;
pub mod config;
pub mod diagnose;
pub mod lint;
pub mod predict;
pub mod preflight;
pub mod run_checks;
pub mod snapshot;
pub mod verify;

use crate::cli::{Cli, Command};

/// Runs the parsed command line and returns the exit code (see [`crate::exit`]).
pub async fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    // Completions need no context at all (not even a readable labctl.toml).
    if let Command::Completions(args) = &cli.command {
        return completions::run(args);
    }
    let ctx = cli.global.context()?;
    match &cli.command {
        Command::Preflight(args) => preflight::run(&ctx, args).await,
        Command::Verify(args) => verify::run(&ctx, args).await,
        Command::Predict(args) => predict::run(&ctx, args).await,
        Command::Diagnose(args) => diagnose::run(&ctx, args).await,
        Command::Snapshot(args) => snapshot::run(&ctx, args).await,
        Command::Lint(args) => lint::run(&ctx, args).await,
        Command::Config(args) => config::run(&ctx, args),
        Command::Completions(args) => completions::run(args),
    }
}
