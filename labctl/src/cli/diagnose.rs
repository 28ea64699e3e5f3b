//! `labctl diagnose [pvc|pods]`.

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Without a subcommand: every diagnosis (claims, pods and workloads) in one report.\n\
                  Exit codes: 0 nothing wrong (info findings only), 1 an error finding \
                  (or a warning with --strict), 2 labctl could not do its job."
)]
pub struct DiagnoseArgs {
    #[command(subcommand)]
    pub target: Option<DiagnoseTarget>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum DiagnoseTarget {
    /// Why PersistentVolumeClaims (and the pods, workloads and Services that use them) are stuck.
    #[command(
        after_help = "Exit codes: 0 nothing wrong (info findings only), 1 an error finding \
                            (or a warning with --strict), 2 labctl could not do its job."
    )]
    Pvc(PvcArgs),
    /// Why the pipeline's pods and workloads are not running: scheduling, images, crashes,
    /// OOM kills, failed training Jobs, readiness, missing configuration.
    #[command(
        after_help = "Exit codes: 0 nothing wrong (info findings only), 1 an error finding \
                            (or a warning with --strict), 2 labctl could not do its job."
    )]
    Pods,
}

/// Flags of every diagnosis (accepted before or after the subcommand).
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Every namespace instead of the lab's (`-n`).
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,
    /// Read the cluster state from a file or directory written by `labctl snapshot` or
    /// `kubectl get … -o json|yaml` instead of the API server.
    #[arg(long, value_name = "PATH", global = true)]
    pub snapshot: Option<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct PvcArgs {
    /// Only this claim (and what it affects).
    #[arg(long, value_name = "NAME")]
    pub pvc: Option<String>,
}
