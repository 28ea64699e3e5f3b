//! The flags `preflight` and `verify` share.

/// Flags of the check commands.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CheckArgs {
    /// Run only this check (repeatable); see --list for ids.
    #[arg(long = "check", value_name = "ID")]
    pub only: Vec<String>,
    /// List the checks (id, category, title) and exit.
    #[arg(long)]
    pub list: bool,
}
