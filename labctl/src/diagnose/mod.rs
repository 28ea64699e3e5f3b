//! The storage-topology diagnosis engine: a pure function from a [`ClusterSnapshot`] and the
//! lab description to findings, one section per finding in `runbooks/failure-modes.md`.
//!
//! It judges object state first and events second (events expire after an hour, state does
//! not), reports one finding per root cause with every affected object listed, and reads pod
//! templates and annotations so that some problems are found before anything is stuck.

pub mod catalogue;
mod causes;
mod engine;
pub mod finding;
pub mod index;
mod rules;
pub mod scheduler;
pub mod scope;
mod sweep;
#[cfg(test)]
pub(crate) mod test_cluster;

pub use catalogue::{CATALOGUE, FindingId, FindingSpec, Severity};
pub use finding::{Affected, Diagnosis, Finding, ObjectRef, Summary};
pub use scope::Scope;

use crate::config::LabConfig;
use crate::snapshot::ClusterSnapshot;

/// Diagnoses every PersistentVolumeClaim in `scope`. Pure: same input, same output.
pub fn diagnose(snapshot: &ClusterSnapshot, config: &LabConfig, scope: &Scope) -> Diagnosis {
    let index = index::Index::new(snapshot);
    Diagnosis::new(rules::run(&index, config, scope))
}

/// What a diagnosis covers: `diagnose pvc`, `diagnose pods`, or `diagnose` (everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Pvc,
    Pods,
    All,
}

/// Diagnoses `target` in `scope`; with [`Target::All`] one finding per root cause over claims,
/// pods and workloads together, as of the snapshot's own instant. Pure.
pub fn diagnose_target(
    snapshot: &ClusterSnapshot,
    config: &LabConfig,
    scope: &Scope,
    target: Target,
) -> Diagnosis {
    let now = snapshot.as_of().map(|a| a.at);
    diagnose_at(snapshot, config, scope, target, now)
}

/// [`diagnose_target`] as of `now` (`None`: unknown, nothing counts as young), for a caller that
/// already knows the snapshot's instant: finding the newest time in a file reads every object.
pub fn diagnose_at(
    snapshot: &ClusterSnapshot,
    config: &LabConfig,
    scope: &Scope,
    target: Target,
    now: Option<k8s_openapi::jiff::Timestamp>,
) -> Diagnosis {
    let index = index::Index::new(snapshot);
    let targets = rules::Targets {
        claims: target != Target::Pods,
        pods: target != Target::Pvc,
    };
    let mut findings = rules::run_targets(&index, config, scope, targets);
    if targets.pods {
        let mut more = rules::pressure::evictions(&index, scope);
        more.extend(rules::volume_path::missing(&index, scope));
        findings = engine::merge::merge_into(findings, more);
    }
    // Never silent: what is failing and no finding names is a finding of its own.
    let sweep = sweep::Sweep {
        workloads: targets.pods,
        claims: targets.claims,
    };
    let unexplained = sweep::unexplained(&index, config, scope, sweep, now, &findings);
    Diagnosis::new(engine::merge::merge_into(findings, unexplained))
}
