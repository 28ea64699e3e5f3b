//! What a diagnosis reports: one [`Finding`] per root cause, the objects it names and affects,
//! and the [`Diagnosis`] document with its counts by severity.

use serde::Serialize;

use crate::diagnose::catalogue::{FindingId, Severity};

/// A typed finding id: one entry of a catalogue (the diagnosis's [`FindingId`], lint's
/// `RuleId`), printed and serialised as its stable kebab-case id.
pub trait Id: Copy + Eq + Ord + std::fmt::Debug + std::fmt::Display + Serialize {
    /// The kebab-case id, also the runbook anchor.
    fn as_str(self) -> &'static str;
}

impl Id for FindingId {
    fn as_str(self) -> &'static str {
        FindingId::as_str(self)
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

/// One root cause. Its id is a [`FindingId`] of the diagnosis catalogue, or another catalogue's
/// [`Id`] (lint's rules, which share the document and its renderer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding<I = FindingId> {
    /// Serialised as its kebab-case id (see [`CATALOGUE`](crate::diagnose::catalogue::CATALOGUE)).
    pub id: I,
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

impl<I> Finding<I> {
    /// The same finding under another catalogue's id (a diagnosis finding that lint reports).
    pub fn with_id<J>(self, id: J) -> Finding<J> {
        let Finding {
            id: _,
            severity,
            subject,
            summary,
            evidence,
            affected,
            remediation,
            hint,
        } = self;
        Finding {
            id,
            severity,
            subject,
            summary,
            evidence,
            affected,
            remediation,
            hint,
        }
    }
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
pub struct Diagnosis<I = FindingId> {
    pub schema: u32,
    /// The instant a recording was judged as of (`diagnose --snapshot`); absent live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<crate::snapshot::AsOf>,
    pub findings: Vec<Finding<I>>,
    pub summary: Summary,
}

impl<I> Diagnosis<I> {
    /// A diagnosis of these findings, with their counts by severity.
    pub fn new(findings: Vec<Finding<I>>) -> Self {
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
