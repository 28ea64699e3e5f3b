//! `labctl completions SHELL`.

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// Shell to generate the script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
