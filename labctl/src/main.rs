//! Thin entry point: parse, run, map the outcome to an exit code (see `labctl::exit`).

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match labctl::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version on stdout (exit 0) and usage errors on stderr (exit 2).
            let _ = e.print();
            return code(if e.use_stderr() {
                labctl::exit::INTERNAL_ERROR
            } else {
                labctl::exit::OK
            });
        }
    };
    match labctl::commands::run(cli).await {
        Ok(status) => code(status),
        Err(err) if labctl::is_broken_pipe(&err) => code(labctl::exit::OK),
        Err(err) => {
            // The whole cause chain once, ripgrep style: "labctl: cannot …: cause".
            eprintln!("labctl: {}", labctl::error_chain(&err));
            code(labctl::exit::INTERNAL_ERROR)
        }
    }
}

fn code(status: i32) -> ExitCode {
    ExitCode::from(u8::try_from(status).unwrap_or(2))
}
