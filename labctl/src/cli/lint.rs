//! `labctl lint [PATH]`.

use std::path::PathBuf;

/// Static checks on the manifests, before anything is deployed.
///
/// PATH is a kustomization directory (rendered with `kubectl kustomize PATH`: kubectl must be
/// installed, or LABCTL_KUBECTL set to its path), a directory of plain YAML/JSON files, a
/// file, or `-` for stdin (`kustomize build overlays/x | labctl lint -`).
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Runs without a cluster. Objects without a namespace are linted in the lab's \
                  namespace (-n). The claim's StorageClass, when not in the manifests, is assumed \
                  to be k3s's local-path (WaitForFirstConsumer).\n\n\
                  Exit codes: 0 no problem found, 1 a problem was found (warnings only with \
                  --strict), 2 the manifests could not be read or rendered."
)]
pub struct LintArgs {
    /// Kustomization directory, directory of manifests, file, or `-` (stdin).
    #[arg(value_name = "PATH", default_value = crate::lint::DEFAULT_PATH)]
    pub path: PathBuf,
}
