//! Thin entry point: parse, run, map the outcome to an exit code (see `labctl::exit`).

use std::process::ExitCode;

use clap::Parser;
use labctl::exit::ExitStatus;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match labctl::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version on stdout (exit 0) and usage errors on stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                ExitStatus::Error
            } else {
                ExitStatus::Success
            });
        }
    };
    match labctl::commands::run(cli).await {
        Ok(status) => ExitCode::from(status),
        Err(err) if labctl::is_broken_pipe(&err) => ExitCode::from(ExitStatus::Success),
        Err(err) => {
            // The whole cause chain once, ripgrep style: "labctl: cannot …: cause".
            eprintln!("labctl: {}", labctl::error_chain(&err));
            ExitCode::from(ExitStatus::Error)
        }
    }
}
