//! The check engine's data: a check is a record (stable id, category, title, runbook, gate,
//! severity on failure, an async run function), and its result an [`Outcome`].
//!
//! Checks live by Kubernetes domain (`api`, `nodes`, `storage`, `ingress`, `serving`,
//! `training`, `argocd`, `namespace`, `dataplane`), each followed by its tests; the two
//! catalogues that name them in order are in [`catalogue`]. A check that judges the cluster's
//! objects is a pure function of the round's snapshot ([`cluster::Cluster`], read once a round)
//! and the lab description; one that must ask something live (the API server itself, its
//! permissions, DNS, HTTP, the registry) fetches what it needs ([`crate::fetch`]). Either hands
//! the objects to a pure function (`evaluate_*`) that holds the judgement; the pure functions
//! are what the unit tests exercise, with objects built in code. The runner
//! ([`crate::runner`]) reads the snapshot and decides order, concurrency and timeouts;
//! rendering lives in `render::checks`.

pub mod api;
pub mod argocd;
pub mod available;
pub mod capacity;
pub mod catalogue;
pub mod cluster;
pub mod dataplane;
pub mod gateway;
pub mod ingress;
pub mod namespace;
pub mod nodes;
pub mod permissions;
pub mod serving;
pub mod storage;

#[cfg(test)]
pub(crate) mod test_objects;
pub mod training;

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
/// `--strict`); checks are never `Info`.
pub use crate::severity::Severity;

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
    /// An API call failed: a 403 skips the check naming the missing permission, any other
    /// failure fails it.
    #[error(transparent)]
    Fetch(#[from] crate::fetch::FetchError),
    /// The snapshot judged (`verify --snapshot`) does not hold a resource the check needs: its
    /// writer did not read it. Skipped: nothing can be said.
    #[error("{action}: not in the snapshot")]
    NotInSnapshot {
        /// What the check would have asked, e.g. `get ingresses.networking.k8s.io in mlops-lab`.
        action: String,
    },
    /// Anything else (the message names what failed).
    #[error("{0}")]
    Other(String),
}

/// The run function of a live check, a plain `async fn(&Context, Option<&Cluster>)` wrapped by
/// the catalogue as `|ctx, cluster| f(ctx, cluster).boxed()`; it sees the round's snapshot
/// when one was read (the data plane explains a failed request with the objects that route
/// the host, and finds the ingress address there).
pub type RunFn = for<'a> fn(
    &'a Context,
    Option<&'a cluster::Cluster>,
) -> BoxFuture<'a, Result<Outcome, CheckError>>;

/// A check that judges objects: a pure function of the round's snapshot and the lab
/// description.
pub type JudgeFn = fn(&cluster::Cluster, &crate::config::LabConfig) -> Result<Outcome, CheckError>;

/// How a check reaches its verdict.
#[derive(Clone, Copy)]
pub enum Run {
    /// From the round's snapshot alone (read once a round, or a file).
    Judge(JudgeFn),
    /// By asking something live: the API server itself, its permissions, DNS, HTTP, the
    /// registry, or (before deploying, `preflight`) the objects it needs.
    Live(RunFn),
}

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
    pub gate: bool,
    /// What a failure means.
    pub severity: Severity,
    /// Whether the check talks to the Kubernetes API (gates run only if some selected check
    /// does).
    pub needs_api: bool,
    /// Whether the check belongs to a lab described so (an Ingress check does not when the
    /// route is a Gateway API HTTPRoute); a check that does not is neither run nor listed.
    pub applies: fn(&crate::config::LabConfig) -> bool,
    pub run: Run,
}

/// A check named `id` that is true when `title` holds, asked live by `run`; by default it asks
/// the API and a failure is an error. The catalogue sets its category and runbook.
pub fn check(id: &'static str, title: &'static str, run: RunFn) -> Check {
    judged_by(id, title, Run::Live(run))
}

/// A check named `id` that is true when `title` holds, judged from the round's snapshot by
/// `judge`.
pub fn judge(id: &'static str, title: &'static str, judge: JudgeFn) -> Check {
    judged_by(id, title, Run::Judge(judge))
}

fn judged_by(id: &'static str, title: &'static str, run: Run) -> Check {
    Check {
        id,
        category: "",
        title,
        runbook: "",
        gate: false,
        severity: Severity::Error,
        needs_api: true,
        applies: |_| true,
        run,
    }
}

impl Check {
    /// Runs before the others; if it fails, the rest are not run.
    pub fn gate(mut self) -> Self {
        self.gate = true;
        self
    }

    /// A failure is a warning (fails only with `--strict`).
    pub fn warning_only(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    /// Does not talk to the Kubernetes API (DNS, HTTP): it runs even when the gates fail.
    pub fn offline(mut self) -> Self {
        self.needs_api = false;
        self
    }

    /// Belongs only to a lab for which `applies` holds.
    pub fn when(mut self, applies: fn(&crate::config::LabConfig) -> bool) -> Self {
        self.applies = applies;
        self
    }

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

/// A catalogue under construction: checks added by category, in order, all pointing into one
/// runbook.
pub struct Catalogue {
    runbook: &'static str,
    checks: Vec<Check>,
}

impl Catalogue {
    pub fn new(runbook: &'static str) -> Self {
        Self {
            runbook,
            checks: Vec::new(),
        }
    }

    /// Appends `checks` under the heading `category`.
    pub fn category(
        mut self,
        category: &'static str,
        checks: impl IntoIterator<Item = Check>,
    ) -> Self {
        for mut check in checks {
            check.category = category;
            check.runbook = self.runbook;
            self.checks.push(check);
        }
        self
    }

    pub fn build(self) -> Vec<Check> {
        self.checks
    }
}

/// Runbook files of the two catalogues.
pub const PREREQUISITES: &str = "prerequisites.md";
pub const VERIFICATION: &str = "verification.md";

/// The checks of `catalogue` that belong to the lab `config` describes (its ingress
/// controller decides some), in order. Every command that runs a catalogue asks this first.
pub fn applicable(catalogue: Vec<Check>, config: &crate::config::LabConfig) -> Vec<Check> {
    catalogue
        .into_iter()
        .filter(|c| (c.applies)(config))
        .collect()
}

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
        .filter(|c| c.gate || ids.iter().any(|id| id == c.id))
        .copied()
        .collect())
}

/// The client of the context, or a check error saying why there is none.
pub async fn client(ctx: &Context) -> Result<kube::Client, CheckError> {
    ctx.client()
        .await
        .map_err(|e| CheckError::Other(crate::error_chain(&e)))
}

/// A root cause `verify` names under its failed checks: a finding of `labctl diagnose`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cause {
    pub id: crate::diagnose::FindingId,
    pub severity: crate::severity::Severity,
    pub subject: crate::diagnose::ObjectRef,
    pub summary: String,
    pub hint: String,
}

impl Cause {
    /// The root causes of a diagnosis: its error findings (its warnings when it has none).
    pub fn of(d: &crate::diagnose::Diagnosis) -> Vec<Cause> {
        use crate::severity::Severity;
        let pick = |sev: Severity| -> Vec<Cause> {
            d.findings
                .iter()
                .filter(|f| f.severity == sev)
                .map(|f| Cause {
                    id: f.id,
                    severity: f.severity,
                    subject: f.subject.clone(),
                    summary: f.summary.clone(),
                    hint: f.hint.clone(),
                })
                .collect()
        };
        let errors = pick(Severity::Error);
        if errors.is_empty() {
            pick(Severity::Warning)
        } else {
            errors
        }
    }
}
