//! The storage-topology diagnosis engine: a pure function from a [`ClusterSnapshot`] and the
//! lab description to findings, one section per finding in `runbooks/failure-modes.md`.
//!
//! It judges object state first and events second (events expire after an hour, state does
//! not), reports one finding per root cause with every affected object listed, and reads pod
//! templates and annotations so that some problems are found before anything is stuck.

pub mod catalogue;
mod causes;
mod engine;
pub mod index;
mod rules;
pub mod scheduler;
mod sweep;
#[cfg(test)]
pub(crate) mod test_cluster;

use serde::Serialize;

pub use catalogue::{CATALOGUE, FindingId, FindingSpec, Severity};

use crate::config::LabConfig;
use crate::snapshot::ClusterSnapshot;

/// What to diagnose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// `None` = every namespace (`-A`).
    pub namespace: Option<String>,
    /// Only this claim (`--pvc NAME`) and what it affects.
    pub pvc: Option<String>,
}

impl Scope {
    pub fn namespace(ns: &str) -> Self {
        Self {
            namespace: Some(ns.to_owned()),
            pvc: None,
        }
    }

    pub fn all_namespaces() -> Self {
        Self::default()
    }

    pub(crate) fn includes_namespace(&self, ns: &str) -> bool {
        self.namespace.as_deref().is_none_or(|n| n == ns)
    }
}

/// An object named in a finding (`kind`, `namespace` for namespaced kinds, `name`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjectRef {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn namespaced(kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
        }
    }

    pub fn cluster(kind: &str, name: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            namespace: None,
            name: name.to_owned(),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// An object affected by a finding, with its state in a few words.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Affected {
    #[serde(flatten)]
    pub object: ObjectRef,
    /// E.g. `Pending`, `no ready endpoints`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// One root cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable kebab-case id (see [`CATALOGUE`]).
    pub id: &'static str,
    pub severity: Severity,
    /// The object the root cause is about.
    pub subject: ObjectRef,
    /// One line.
    pub summary: String,
    /// Object states and the event lines that prove the finding.
    pub evidence: Vec<String>,
    /// Every object the root cause affects: PVC → consumer pods → workloads → Services.
    pub affected: Vec<Affected>,
    /// What to do, with the real names filled in.
    pub remediation: String,
    /// `runbooks/failure-modes.md#<id>`.
    pub hint: String,
}

/// Findings per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub error: usize,
    pub warning: usize,
    pub info: usize,
}

/// The Diagnosis JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    pub schema: u32,
    /// The instant a recording was judged as of (`diagnose --snapshot`); absent live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<crate::snapshot::AsOf>,
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

impl Diagnosis {
    /// A diagnosis of these findings, with their counts by severity.
    pub fn new(findings: Vec<Finding>) -> Self {
        let mut summary = Summary::default();
        for f in &findings {
            match f.severity {
                Severity::Error => summary.error += 1,
                Severity::Warning => summary.warning += 1,
                Severity::Info => summary.info += 1,
            }
        }
        Self {
            schema: crate::context::SCHEMA,
            as_of: None,
            findings,
            summary,
        }
    }

    /// This diagnosis of a recording judged as of `as_of`.
    pub fn as_of(self, as_of: crate::snapshot::AsOf) -> Self {
        Self {
            as_of: Some(as_of),
            ..self
        }
    }

    /// `Failure` on any error (warnings too with `strict`), `Success` otherwise.
    pub fn exit_code(&self, strict: bool) -> crate::exit::ExitStatus {
        crate::exit::ExitStatus::failure_if(
            self.summary.error > 0 || (strict && self.summary.warning > 0),
        )
    }
}

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
