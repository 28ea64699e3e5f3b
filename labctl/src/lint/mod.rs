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

pub use source::{Manifests, Origin, SourceError};

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

/// One rule of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Stable kebab-case id, also the runbook anchor.
    pub id: &'static str,
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

const fn engine(id: FindingId, name: &'static str, title: &'static str) -> Rule {
    Rule {
        id: name,
        severity: Severity::Error,
        title,
        origin: RuleSource::Diagnose(id),
    }
}

const fn lint(id: &'static str, title: &'static str) -> Rule {
    Rule {
        id,
        severity: Severity::Error,
        title,
        origin: RuleSource::Lint,
    }
}

pub const CONSUMERS_PINNED: &str = "consumers-pinned-to-different-nodes";
pub const ACCESS_MODE: &str = "access-mode-unsupported";
pub const SYNC_WAVE: &str = "sync-wave-deadlock";
pub const UNKNOWN_FIELD: &str = "unknown-field";
pub const SERVICE_SELECTOR: &str = "service-selector-matches-no-pod";
pub const SERVICE_TARGET_PORT: &str = "service-target-port-missing";
pub const INGRESS_BACKEND: &str = "ingress-backend-missing";
pub const PROBES: &str = "probes-missing";
pub const RESOURCES: &str = "resources-missing";
pub const SECURITY: &str = "security-settings-missing";
pub const MODEL_MOUNT: &str = "model-mount-writable";
pub const NETWORK_POLICY: &str = "networkpolicy-blocks-controller";
pub const POD_FAILURE_POLICY: &str = "pod-failure-policy-missing";

/// Every rule, in report order.
pub const CATALOGUE: [Rule; 13] = [
    engine(
        FindingId::ConsumersPinnedToDifferentNodes,
        CONSUMERS_PINNED,
        "consumers of one node-local claim are pinned to different nodes",
    ),
    engine(
        FindingId::AccessModeUnsupported,
        ACCESS_MODE,
        "access mode not supported for this claim",
    ),
    engine(
        FindingId::SyncWaveDeadlock,
        SYNC_WAVE,
        "the claim is in an earlier Argo CD sync wave than all its consumers",
    ),
    lint(UNKNOWN_FIELD, "a field the Kubernetes API does not know"),
    lint(
        SERVICE_SELECTOR,
        "a Service's selector matches no pod template",
    ),
    lint(
        SERVICE_TARGET_PORT,
        "a Service's targetPort is not a port of the selected containers",
    ),
    lint(
        INGRESS_BACKEND,
        "an Ingress backend names a missing Service or Service port",
    ),
    lint(
        PROBES,
        "a long-running container has no readiness or liveness probe",
    ),
    lint(
        RESOURCES,
        "a container has no CPU/memory requests or memory limit",
    ),
    lint(
        SECURITY,
        "a pod runs without the lab's security settings (non-root, read-only root, no escalation, no capabilities, seccomp, no token)",
    ),
    lint(
        MODEL_MOUNT,
        "a serving workload mounts the model volume writable",
    ),
    lint(
        NETWORK_POLICY,
        "a NetworkPolicy admits no traffic from the ingress controller to the served pods",
    ),
    lint(
        POD_FAILURE_POLICY,
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
    pub diagnosis: Diagnosis,
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
pub fn lint_manifests(m: &Manifests, config: &LabConfig) -> Diagnosis {
    let mut findings = engine_findings(m, config);
    findings.extend(rules::run(m, config));
    let order = |id: &str| CATALOGUE.iter().position(|r| r.id == id);
    findings.sort_by(|a, b| {
        (a.severity, order(a.id), &a.subject).cmp(&(b.severity, order(b.id), &b.subject))
    });
    Diagnosis::new(findings)
}

/// The diagnosis engine over the rendered objects, as a cluster in which nothing ran yet; only
/// its static findings are kept (the others need live state: events, bound volumes, nodes).
fn engine_findings(m: &Manifests, config: &LabConfig) -> Vec<Finding> {
    use crate::k8s::model::from_full;
    let mut snapshot = ClusterSnapshot {
        persistent_volume_claims: m.persistent_volume_claims.clone(),
        storage_classes: m.storage_classes.clone(),
        pods: m.pods.iter().map(from_full).collect(),
        jobs: m.jobs.iter().map(from_full).collect(),
        cron_jobs: m.cron_jobs.iter().map(from_full).collect(),
        deployments: m.deployments.iter().map(from_full).collect(),
        stateful_sets: m.stateful_sets.iter().map(from_full).collect(),
        ..ClusterSnapshot::default()
    };
    snapshot
        .storage_classes
        .extend(assumed_storage_classes(m, config));
    let diagnosis = crate::diagnose::diagnose(&snapshot, config, &Scope::all_namespaces());
    diagnosis
        .findings
        .into_iter()
        .filter(|f| {
            CATALOGUE
                .iter()
                .any(|r| r.id == f.id && matches!(r.origin, RuleSource::Diagnose(_)))
        })
        .map(|mut f| {
            // The engine's fix is for a live cluster (kubectl patch); before a deploy the fix
            // belongs in Git, so say that first.
            if f.id == CONSUMERS_PINNED {
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
fn assumed_storage_classes(m: &Manifests, config: &LabConfig) -> Vec<StorageClass> {
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
        for r in &CATALOGUE {
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
