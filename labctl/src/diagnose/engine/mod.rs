//! What the rules share: the view they read ([`View`]), the claim under judgement and its
//! consumers ([`claim`]), what a finding affects ([`affected`]), evidence lines ([`evidence`]), fixes with the real names
//! ([`remedy`]), and the hits the rules write, which merge into one finding per root cause
//! ([`merge`]). The rules themselves and the order they are judged in are in `diagnose/rules/`.

pub(crate) mod affected;
pub(crate) mod claim;
pub(crate) mod evidence;
pub(crate) mod merge;
pub(crate) mod remedy;

use crate::config::LabConfig;
use crate::diagnose::index::Index;

pub(crate) const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
pub(crate) const STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
pub(crate) const STORAGE_PROVISIONER_BETA: &str = "volume.beta.kubernetes.io/storage-provisioner";
pub(crate) const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
pub(crate) const LOCAL_PATH: &str = "rancher.io/local-path";
pub(crate) const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";
/// How many events of one reason per object are quoted as evidence (latest first).
pub(crate) const EVENTS_PER_REASON: usize = 2;

/// What every rule reads: the snapshot's index and the lab description. A rule is a free
/// function of it (and of the claim, pod or Job it judges) that returns its hits; nothing in
/// the view changes while the rules run, and it has no methods.
pub(crate) struct View<'i, 'a> {
    pub(crate) ix: &'i Index<'a>,
    pub(crate) config: &'i LabConfig,
}
