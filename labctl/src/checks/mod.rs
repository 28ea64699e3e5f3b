//! The check engine's data: a check is a record (stable id, category, title, runbook, fatal,
//! severity on failure, an async run function), and its result an [`Outcome`].
//!
//! Each check's run function fetches what it needs ([`fetch`]) and hands the objects to a pure
//! function (`evaluate_*`) that holds the judgement; the pure functions are what the unit tests
//! exercise, with objects built in code. The runner ([`crate::runner`]) decides order,
//! concurrency and timeouts; rendering lives in `render::checks`.

pub mod dataplane;
pub mod fetch;
pub mod permissions;
pub mod preflight;
pub mod verify;

use futures::future::BoxFuture;

use crate::context::Context;

/// Result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Skip,
}

/// How bad a failed check is: `Warning` turns a failure into a warning (fails only with
/// `--strict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// What a check found: a one-line message and the evidence an operator would look at.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: Status,
    pub message: String,
    pub evidence: Vec<String>,
}

impl Outcome {
    fn new(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            evidence: Vec::new(),
        }
    }
    pub fn pass(message: impl Into<String>) -> Self {
        Self::new(Status::Pass, message)
    }
    pub fn warn(message: impl Into<String>) -> Self {
        Self::new(Status::Warn, message)
    }
    pub fn fail(message: impl Into<String>) -> Self {
        Self::new(Status::Fail, message)
    }
    pub fn skip(message: impl Into<String>) -> Self {
        Self::new(Status::Skip, message)
    }
    /// Adds one evidence line.
    pub fn with(mut self, line: impl Into<String>) -> Self {
        self.evidence.push(line.into());
        self
    }
    /// Adds several evidence lines.
    pub fn with_all(mut self, lines: impl IntoIterator<Item = String>) -> Self {
        self.evidence.extend(lines);
        self
    }
}

/// Why a check could not reach a verdict.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The API refused a call with 403: the check is skipped, naming the missing permission.
    #[error("{permission}")]
    Forbidden {
        /// In kubectl's words, e.g. `cannot list events in mlops-lab`.
        permission: String,
    },
    /// Any other failure of an API call (unreachable, 401, 5xx, bad response).
    #[error("cannot {action}: {source}")]
    Api {
        /// What was attempted, e.g. `get deployments in mlops-lab`.
        action: String,
        #[source]
        source: kube::Error,
    },
    /// Anything else (the message names what failed).
    #[error("{0}")]
    Other(String),
}

/// The run function of a check. Checks are plain `async fn(&Context)`; the catalogue wraps them
/// with `|ctx| f(ctx).boxed()`.
pub type RunFn = for<'a> fn(&'a Context) -> BoxFuture<'a, Result<Outcome, CheckError>>;

/// A check: data, so catalogues can be listed, filtered, documented and tested.
#[derive(Clone, Copy)]
pub struct Check {
    /// Stable kebab-case id; also the anchor of its runbook section.
    pub id: &'static str,
    /// Heading it is grouped under in the table output.
    pub category: &'static str,
    /// What is being checked, as a statement that is true when it passes.
    pub title: &'static str,
    /// Runbook file under `runbooks/` with a section `#<id>`.
    pub runbook: &'static str,
    /// A gate: run before the others; if it fails, the rest are not run.
    pub fatal: bool,
    /// What a failure means.
    pub severity: Severity,
    /// Whether the check talks to the Kubernetes API (gates run only if some selected check
    /// does).
    pub needs_api: bool,
    pub run: RunFn,
}

impl Check {
    /// `runbooks/<file>#<id>`, printed as `see …` on failure.
    pub fn hint(&self) -> String {
        format!("runbooks/{}#{}", self.runbook, self.id)
    }
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Runbook files of the two catalogues.
pub const PREREQUISITES: &str = "prerequisites.md";
pub const VERIFICATION: &str = "verification.md";

/// Finds checks by id in a catalogue; an unknown id is an error listing the valid ones. The
/// gate checks always stay in: the runner runs them only if a selected check needs the API.
pub fn select(catalogue: &[Check], ids: &[String]) -> anyhow::Result<Vec<Check>> {
    if ids.is_empty() {
        return Ok(catalogue.to_vec());
    }
    for id in ids {
        if !catalogue.iter().any(|c| c.id == id) {
            let known: Vec<_> = catalogue.iter().map(|c| c.id).collect();
            anyhow::bail!("unknown check {id:?} (known: {})", known.join(", "));
        }
    }
    Ok(catalogue
        .iter()
        .filter(|c| c.fatal || ids.iter().any(|id| id == c.id))
        .copied()
        .collect())
}
