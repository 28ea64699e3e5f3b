//! `labctl completions <shell>`: prints a completion script generated from the clap definition,
//! so it can never drift from the real flags.

use crate::cli::completions::CompletionsArgs;
use crate::exit::ExitStatus;
use clap::CommandFactory;

pub fn run(args: &CompletionsArgs) -> anyhow::Result<ExitStatus> {
    let mut cmd = crate::cli::Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "labctl", &mut buf);
    crate::render::write_stdout(&String::from_utf8_lossy(&buf))?;
    Ok(ExitStatus::Success)
}
