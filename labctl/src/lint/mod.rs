//! `labctl lint`: static checks on the manifests before anything is deployed.
//!
//! The manifests are rendered ([`source`]: `kubectl kustomize`, plain files or stdin) and parsed
//! into k8s-openapi types; then two sets of rules run over them:
//!
//! - the diagnosis engine's *static* findings (`consumers-pinned-to-different-nodes`,
//!   `access-mode-unsupported`, `sync-wave-deadlock`): the rendered objects are handed to
//!   [`crate::diagnose::diagnose`] as a snapshot of a cluster where nothing has run yet, so the
//!   ids, wording and hints are exactly those `labctl diagnose pvc` prints;
//! - the lint rules of [`rules`] (Services, Ingress, probes, resources, security, the model
//!   mount, unknown fields), with hints into `runbooks/lint.md`.
//!
//! The result is a [`Diagnosis`] document, so the findings renderer and the exit codes are the
//! ones `diagnose` uses.

pub mod rules;
pub mod source;

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use crate::config::LabConfig;
use crate::diagnose::{Diagnosis, Finding, FindingId, Scope, Severity};
use crate::snapshot::ClusterSnapshot;

pub use source::{Origin, Rendered, SourceError};

/// The runbook every lint hint points into (engine findings keep `runbooks/failure-modes.md`).
pub const RUNBOOK: &str = "runbooks/lint.md";

/// The path linted when none is given (relative to the working directory: the repository root).
pub const DEFAULT_PATH: &str = "manifests/overlays/homelab";

/// Where a rule comes from: the diagnosis engine (same id and hint as `diagnose`) or lint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSource {
    Diagnose(FindingId),
    Lint,
}

/// A lint rule's id, in report order (the order of [`CATALOGUE`], checked by a test): the
/// diagnosis's static findings first, then lint's own. Printed and serialised as its
/// kebab-case id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleId {
    ConsumersPinnedToDifferentNodes,
    AccessModeUnsupported,
    SyncWaveDeadlock,
    UnknownField,
    ServiceSelectorMatchesNoPod,
    ServiceTargetPortMissing,
    IngressBackendMissing,
    ProbesMissing,
    ResourcesMissing,
    SecuritySettingsMissing,
    ModelMountWritable,
    NetworkpolicyBlocksController,
    PodFailurePolicyMissing,
}

impl RuleId {
    /// The catalogue entry of this id.
    pub fn rule(self) -> &'static Rule {
        // CATALOGUE is in enum order (checked by a test), so the discriminant is the index.
        &CATALOGUE[self as usize]
    }

    pub fn as_str(self) -> &'static str {
        self.rule().id
    }

    /// Lint's id of a diagnosis finding, if lint reports it.
    pub fn of_finding(id: FindingId) -> Option<RuleId> {
        CATALOGUE
            .iter()
            .find(|r| r.origin == RuleSource::Diagnose(id))
            .map(|r| r.rule)
    }
}

impl crate::diagnose::finding::Id for RuleId {
    fn as_str(self) -> &'static str {
        RuleId::as_str(self)
    }
}

/// An id compares equal to its kebab-case id, the contract that tests (like scripts) name.
impl PartialEq<&str> for RuleId {
    fn eq(&self, id: &&str) -> bool {
        self.as_str() == *id
    }
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serialised by its kebab id, as everywhere in labctl's output.
impl Serialize for RuleId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A finding of lint: a lint rule's, or one of the diagnosis's static findings under its
/// [`RuleId`].
pub type LintFinding = Finding<RuleId>;

/// One rule of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Stable kebab-case id, also the runbook anchor.
    pub id: &'static str,
    /// The typed id lint's findings carry.
    pub rule: RuleId,
    pub severity: Severity,
    /// What a finding means, in a few words.
    pub title: &'static str,
    pub origin: RuleSource,
}

impl Rule {
    /// The runbook section of this rule.
    pub fn hint(&self) -> String {
        match self.origin {
            RuleSource::Diagnose(id) => id.spec().hint(),
            RuleSource::Lint => format!("{RUNBOOK}#{}", self.id),
        }
    }
}

const fn engine(rule: RuleId, id: FindingId, name: &'static str, title: &'static str) -> Rule {
    Rule {
        id: name,
        rule,
        severity: Severity::Error,
        title,
        origin: RuleSource::Diagnose(id),
    }
}

const fn lint(rule: RuleId, id: &'static str, title: &'static str) -> Rule {
    Rule {
        id,
        rule,
        severity: Severity::Error,
        title,
        origin: RuleSource::Lint,
    }
}

/// Every rule, in report order.
pub const CATALOGUE: [Rule; 13] = [
    engine(
        RuleId::ConsumersPinnedToDifferentNodes,
        FindingId::ConsumersPinnedToDifferentNodes,
        "consumers-pinned-to-different-nodes",
        "consumers of one node-local claim are pinned to different nodes",
    ),
    engine(
        RuleId::AccessModeUnsupported,
        FindingId::AccessModeUnsupported,
        "access-mode-unsupported",
        "access mode not supported for this claim",
    ),
    engine(
        RuleId::SyncWaveDeadlock,
        FindingId::SyncWaveDeadlock,
        "sync-wave-deadlock",
        "the claim is in an earlier Argo CD sync wave than all its consumers",
    ),
    lint(
        RuleId::UnknownField,
        "unknown-field",
        "a field the Kubernetes API does not know",
    ),
    lint(
        RuleId::ServiceSelectorMatchesNoPod,
        "service-selector-matches-no-pod",
        "a Service's selector matches no pod template",
    ),
    lint(
        RuleId::ServiceTargetPortMissing,
        "service-target-port-missing",
        "a Service's targetPort is not a port of the selected containers",
    ),
    lint(
        RuleId::IngressBackendMissing,
        "ingress-backend-missing",
        "an Ingress backend names a missing Service or Service port",
    ),
    lint(
        RuleId::ProbesMissing,
        "probes-missing",
        "a long-running container has no readiness or liveness probe",
    ),
    lint(
        RuleId::ResourcesMissing,
        "resources-missing",
        "a container has no CPU/memory requests or memory limit",
    ),
    lint(
        RuleId::SecuritySettingsMissing,
        "security-settings-missing",
        "a pod runs without the lab's security settings (non-root, read-only root, no escalation, no capabilities, seccomp, no token)",
    ),
    lint(
        RuleId::ModelMountWritable,
        "model-mount-writable",
        "a serving workload mounts the model volume writable",
    ),
    lint(
        RuleId::NetworkpolicyBlocksController,
        "networkpolicy-blocks-controller",
        "a NetworkPolicy admits no traffic from the ingress controller to the served pods",
    ),
    lint(
        RuleId::PodFailurePolicyMissing,
        "pod-failure-policy-missing",
        "a Job that retries has no podFailurePolicy: a failure that cannot heal is retried up to backoffLimit",
    ),
];

/// The catalogue entry of `id`.
pub fn rule(id: &str) -> Option<&'static Rule> {
    CATALOGUE.iter().find(|r| r.id == id)
}

/// The lint JSON document: the Diagnosis document plus what was linted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LintReport {
    /// `schema`, `findings`, `summary`: the Diagnosis document, first.
    #[serde(flatten)]
    pub diagnosis: Diagnosis<RuleId>,
    /// What was read: `kubectl kustomize <path>`, a path, or `stdin`.
    pub source: String,
    /// Objects read (checked or not).
    pub objects: usize,
}

/// Reads `path` (see [`source::read`]) and lints it.
pub fn run(path: &Path, config: &LabConfig) -> Result<LintReport, SourceError> {
    let (text, origin) = source::read(path)?;
    let manifests = source::parse(&text, &origin.to_string(), &config.namespace)?;
    Ok(LintReport {
        source: origin.to_string(),
        objects: manifests.len(),
        diagnosis: lint_manifests(&manifests, config),
    })
}

/// Runs every rule over parsed manifests. Pure.
pub fn lint_manifests(m: &Rendered, config: &LabConfig) -> Diagnosis<RuleId> {
    let mut findings = engine_findings(m, config);
    findings.extend(rules::run(m, config));
    // RuleId's order is the catalogue's.
    findings.sort_by(|a, b| (a.severity, a.id, &a.subject).cmp(&(b.severity, b.id, &b.subject)));
    Diagnosis::new(findings)
}

/// The diagnosis engine over the rendered objects, as a cluster in which nothing ran yet; only
/// its static findings are kept (the others need live state: events, bound volumes, nodes).
fn engine_findings(m: &Rendered, config: &LabConfig) -> Vec<LintFinding> {
    // The claims, their classes and the workloads that mount them: what the static findings
    // are about (the Services and routes are lint's own rules').
    let o = &m.objects;
    let mut snapshot = ClusterSnapshot {
        persistent_volume_claims: o.persistent_volume_claims.clone(),
        storage_classes: o.storage_classes.clone(),
        pods: o.pods.clone(),
        jobs: o.jobs.clone(),
        cron_jobs: o.cron_jobs.clone(),
        deployments: o.deployments.clone(),
        stateful_sets: o.stateful_sets.clone(),
        ..ClusterSnapshot::default()
    };
    snapshot
        .storage_classes
        .extend(assumed_storage_classes(o, config));
    let diagnosis = crate::diagnose::diagnose(&snapshot, config, &Scope::all_namespaces());
    diagnosis
        .findings
        .into_iter()
        .filter_map(|f| RuleId::of_finding(f.id).map(|id| f.with_id(id)))
        .map(|mut f| {
            // The engine's fix is for a live cluster (kubectl patch); before a deploy the fix
            // belongs in Git, so say that first.
            if f.id == RuleId::ConsumersPinnedToDifferentNodes {
                f.remediation = format!(
                    "In the manifests: give every workload that mounts the claim the same \
                     nodeSelector (in this repository `node` in manifests/overlays/<name>/settings.yaml \
                     sets all of them; a new workload needs its own replacement target).\n\
                     On a cluster where it is already deployed: {}",
                    f.remediation
                );
            }
            f
        })
        .collect()
}

/// StorageClasses the claims name but the manifests do not contain: the lab's class
/// (`storage_class`, default `local-path`) is assumed to be k3s's (provisioner
/// `rancher.io/local-path`, WaitForFirstConsumer, the default class), which is what
/// `labctl preflight` checks the cluster for. Other missing classes stay unknown.
fn assumed_storage_classes(m: &ClusterSnapshot, config: &LabConfig) -> Vec<StorageClass> {
    let named = |n: &str| {
        m.storage_classes
            .iter()
            .any(|c| c.metadata.name.as_deref() == Some(n))
    };
    let has_default = m.storage_classes.iter().any(|c| {
        c.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("storageclass.kubernetes.io/is-default-class"))
            .is_some_and(|v| v == "true")
    });
    let wanted = m.persistent_volume_claims.iter().any(|pvc| {
        match pvc
            .spec
            .as_ref()
            .and_then(|s| s.storage_class_name.as_deref())
        {
            Some(n) => n == config.storage_class,
            None => !has_default,
        }
    });
    if !wanted || named(&config.storage_class) {
        return Vec::new();
    }
    vec![StorageClass {
        metadata: ObjectMeta {
            name: Some(config.storage_class.clone()),
            annotations: (!has_default).then(|| {
                BTreeMap::from([(
                    "storageclass.kubernetes.io/is-default-class".to_owned(),
                    "true".to_owned(),
                )])
            }),
            ..ObjectMeta::default()
        },
        provisioner: "rancher.io/local-path".into(),
        reclaim_policy: Some("Delete".into()),
        volume_binding_mode: Some("WaitForFirstConsumer".into()),
        ..StorageClass::default()
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_ids_are_unique_kebab_case_and_engine_ids_exist() {
        let mut ids: Vec<&str> = CATALOGUE.iter().map(|r| r.id).collect();
        for (i, r) in CATALOGUE.iter().enumerate() {
            assert_eq!(r.rule as usize, i, "{} is out of enum order", r.id);
            assert_eq!(r.rule.as_str(), r.id);
            assert!(
                r.id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{}",
                r.id
            );
            if let RuleSource::Diagnose(id) = r.origin {
                assert_eq!(id.as_str(), r.id);
                assert!(r.hint().starts_with(crate::diagnose::catalogue::RUNBOOK));
            } else {
                assert_eq!(r.hint(), format!("runbooks/lint.md#{}", r.id));
            }
        }
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }
}
