//! The diagnosis rules, one file per family of findings, and the order they are judged in
//! (below, on one screen). A rule is a free function of the [`View`] (the index and the lab
//! description, unchanged while the rules run) and of the claim, pod or Job it judges, to its
//! [`Verdict`]: `None` when the object is not its business, else the hits it found. In a
//! table, the first rule whose verdict is `Some` wins, and the rules after it are not asked.

mod access_mode;
mod bound;
pub(crate) mod containers;
mod lifecycle;
mod pending;
mod pinning;
mod pods;
pub(crate) mod pressure;
mod provisioning;
mod pull;
pub(crate) mod scheduling;
mod serving;
mod start;
mod sync_wave;
pub(crate) mod training;
pub(crate) mod volume_path;

use crate::config::LabConfig;
use crate::diagnose::engine::View;
use crate::diagnose::engine::claim::{Claim, claim};
use crate::diagnose::engine::merge::{self, Hit};
use crate::diagnose::finding::Finding;
use crate::diagnose::index::Index;
use crate::diagnose::scope::Scope;
use crate::k8s::model::Pod;
use crate::k8s::names::{name as meta_name, namespace as meta_ns};

/// What a rule says of its object: `None` when the object is not its business (the next rule
/// is asked); `Some(hits)` when it explained it, with the hits it found (none when another
/// rule's finding already says it: consumers pinned apart).
pub(crate) type Verdict = Option<Vec<Hit>>;

/// A rule about a claim.
type ClaimRule = for<'a> fn(&View<'_, 'a>, &Claim<'a>) -> Verdict;
/// A rule about a bound claim, over its volume and the nodes that hold it.
type BoundRule = for<'a> fn(&View<'_, 'a>, &Claim<'a>, &bound::Bound<'a>) -> Verdict;
/// A rule about a pod.
type PodRule = for<'a> fn(&View<'_, 'a>, &'a Pod) -> Verdict;

/// A claim that is gone or going: nothing else is said about it.
const CLAIM_ENDINGS: &[ClaimRule] = &[lifecycle::lost, lifecycle::terminating_in_use];

/// A bound claim's causes, first that fires wins.
const BOUND: &[BoundRule] = &[
    bound::without_nodes, // no nodes in the snapshot: the scheduler's events alone
    bound::node_missing,  // no node holds the volume
    bound::node_unavailable, // the nodes that hold it cannot run its consumers
    bound::pinned_apart,  // consumers pinned apart: that finding alone
    bound::consumers_fit_no_node, // a consumer's selector matches no node
    bound::consumers_elsewhere, // consumers pinned away from the volume's node
    bound::scheduler_conflict, // state says fine, the scheduler does not
    bound::short_of_resources, // the scheduler rejects them for resources
];

/// A pending claim's causes after its class, first that fires wins; not asked when its
/// consumers are pinned apart (that is its finding).
const PENDING: &[ClaimRule] = &[
    pending::consumers_fit_no_node,      // nothing can ever be scheduled
    pending::no_node_by_events,          // the same, from the scheduler's events
    pending::consumer_unplaceable,       // pin node down, or short of resources
    pending::class_unknown,              // no class to judge the rest by
    pending::selected_node_stale,        // the selected node is gone
    pending::provisioner_stopped,        // the provisioner is not running
    pending::provisioner_failed,         // it ran and failed
    pending::waiting_for_first_consumer, // nothing asked for yet
];

/// A pod, first that fires wins; readiness is asked last.
const POD: &[PodRule] = &[
    pods::left_to_its_job,  // finished, or a failed Job's: the Job's finding
    pods::unschedulable,    // not on a node: the scheduler's reasons
    containers::containers, // pull, platform, start, crash loop, OOM, missing config
];

/// A claim: a volume released by it (always), then lost or terminating while in use (first
/// wins) → the template and annotation problems, each judged (access mode, consumers pinned
/// apart, sync waves) → bound: its volume and the nodes that hold it (`bound::bound`), then
/// [`BOUND`]; or pending: its class, then [`PENDING`]. A pending claim whose access mode or
/// sync wave is wrong is only that.
pub(crate) fn judge_claim<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Vec<Hit> {
    let mut out = lifecycle::released_not_rebound(view, c);
    if let Some(hits) = CLAIM_ENDINGS.iter().find_map(|rule| rule(view, c)) {
        out.extend(hits);
        return out;
    }
    let access = said(&mut out, access_mode::access_mode(view, c));
    let pinned = said(&mut out, pinning::consumers_pinned(view, c));
    let wave = said(&mut out, sync_wave::sync_wave_deadlock(view, c));
    if c.phase == "Bound" {
        match bound::bound(view, c, pinned) {
            Ok(b) => out.extend(
                BOUND
                    .iter()
                    .find_map(|rule| rule(view, c, &b))
                    .unwrap_or_default(),
            ),
            Err(hits) => out.extend(hits),
        }
    }
    if c.phase != "Pending" || access || wave {
        return out;
    }
    // The class is asked even of a claim whose consumers are pinned apart.
    if said(&mut out, pending::storageclass_missing(view, c)) || pinned {
        return out;
    }
    out.extend(
        PENDING
            .iter()
            .find_map(|rule| rule(view, c))
            .unwrap_or_default(),
    );
    out
}

/// A pod: the rules of [`POD`] in order, then, if none fired, its readiness.
pub(crate) fn judge_pod<'a>(view: &View<'_, 'a>, pod: &'a Pod) -> Vec<Hit> {
    POD.iter()
        .find_map(|rule| rule(view, pod))
        .unwrap_or_else(|| serving::readiness(view, pod))
}

/// A Job: the trainer's Job that failed (`training.rs`).
pub(crate) fn judge_job<'a>(view: &View<'_, 'a>, job: &'a crate::k8s::model::Job) -> Vec<Hit> {
    training::judge_job(view, job)
}

/// Adds what a rule that is judged on its own (not in a table) found to `out`: `true` when it
/// explained the claim, which decides what is asked after it.
fn said(out: &mut Vec<Hit>, verdict: Verdict) -> bool {
    let explained = verdict.is_some();
    out.extend(verdict.into_iter().flatten());
    explained
}

/// What a diagnosis judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Targets {
    pub(crate) claims: bool,
    pub(crate) pods: bool,
}

/// Claims only (`diagnose pvc`, `lint`, `verify`'s storage view).
pub(crate) fn run(ix: &Index<'_>, config: &LabConfig, scope: &Scope) -> Vec<Finding> {
    let targets = Targets {
        claims: true,
        pods: false,
    };
    run_targets(ix, config, scope, targets)
}

/// The chosen diagnoses over one index; hits of all of them merge, so a root cause that both
/// the claims and the pods show is one finding.
pub(crate) fn run_targets(
    ix: &Index<'_>,
    config: &LabConfig,
    scope: &Scope,
    targets: Targets,
) -> Vec<Finding> {
    let view = View { ix, config };
    let mut hits = Vec::new();
    if targets.claims {
        for pvc in &ix.snapshot.persistent_volume_claims {
            let in_scope = scope.includes_namespace(meta_ns(&pvc.metadata))
                && scope
                    .pvc
                    .as_deref()
                    .is_none_or(|p| p == meta_name(&pvc.metadata));
            if in_scope {
                hits.extend(judge_claim(&view, &claim(&view, pvc)));
            }
        }
    }
    if targets.pods {
        for job in &ix.snapshot.jobs {
            if scope.includes_namespace(meta_ns(&job.metadata)) {
                hits.extend(judge_job(&view, job));
            }
        }
        for pod in &ix.snapshot.pods {
            if scope.includes_namespace(meta_ns(&pod.metadata)) {
                hits.extend(judge_pod(&view, pod));
            }
        }
    }
    merge::merge(hits)
}

/// `s` with its first letter in upper case, to start a sentence with a phrase that is also
/// used mid-sentence (a cause, a build step).
fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
