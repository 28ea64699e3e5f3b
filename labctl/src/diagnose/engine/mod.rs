//! The engine the rules are methods of: the index, the lab description and a few joins made
//! once per run (released volumes by claim, hook Jobs by claim, failed Jobs). It is immutable:
//! a rule writes its hits to the `out` it is given, and the hits of one run merge into one
//! finding per root cause ([`merge`]). The order of judgement is in `diagnose/rules/mod.rs`.

pub(crate) mod claim;
pub(crate) mod evidence;
pub(crate) mod merge;
pub(crate) mod remedy;

use crate::diagnose::engine::merge::Hit;
use crate::k8s::model::PersistentVolume;

use crate::config::LabConfig;
use crate::diagnose::index::{HashMap, HashSet, Index, map_with};
use crate::diagnose::{Finding, Scope};
use crate::k8s::names::{name as meta_name, namespace as meta_ns};

pub(crate) const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
pub(crate) const STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
pub(crate) const STORAGE_PROVISIONER_BETA: &str = "volume.beta.kubernetes.io/storage-provisioner";
pub(crate) const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
pub(crate) const LOCAL_PATH: &str = "rancher.io/local-path";
pub(crate) const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";
/// How many events of one reason per object are quoted as evidence (latest first).
pub(crate) const EVENTS_PER_REASON: usize = 2;

/// What every rule reads; nothing in it changes while the rules run.
pub(crate) struct Engine<'i, 'a> {
    pub(crate) ix: &'i Index<'a>,
    pub(crate) config: &'i LabConfig,
    /// Released `Retain` volumes by the claim they still reference.
    pub(crate) released_by_claim: HashMap<(&'a str, &'a str), Vec<&'a PersistentVolume>>,
    /// Argo CD hook Jobs (finished ones included: they run again on every sync) by claim.
    pub(crate) hooks_by_claim: HashMap<(&'a str, &'a str), Vec<&'a crate::k8s::model::Job>>,
    /// Uids of the Jobs that failed (their pods are the Job's finding, not their own).
    pub(crate) failed_jobs: HashSet<&'a str>,
}

/// What a diagnosis judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Targets {
    pub(crate) claims: bool,
    pub(crate) pods: bool,
}

/// Claims only (`diagnose pvc`, `lint`, `verify`'s storage view).
pub(crate) fn run(ix: &Index<'_>, config: &LabConfig, scope: &Scope) -> Vec<Finding> {
    run_targets(
        ix,
        config,
        scope,
        Targets {
            claims: true,
            pods: false,
        },
    )
}

/// The chosen diagnoses over one index; hits of all of them merge, so a root cause that both
/// the claims and the pods show is one finding.
pub(crate) fn run_targets(
    ix: &Index<'_>,
    config: &LabConfig,
    scope: &Scope,
    targets: Targets,
) -> Vec<Finding> {
    let engine = Engine::new(ix, config);
    let mut hits = Vec::new();
    if targets.claims {
        engine.claims(scope, &mut hits);
    }
    if targets.pods {
        engine.pods(scope, &mut hits);
    }
    merge::merge(hits)
}

impl<'i, 'a> Engine<'i, 'a> {
    fn new(ix: &'i Index<'a>, config: &'i LabConfig) -> Self {
        let mut released_by_claim: HashMap<(&str, &str), Vec<&PersistentVolume>> = map_with(0);
        for pv in &ix.snapshot.persistent_volumes {
            let phase = pv.status.as_ref().and_then(|s| s.phase.as_deref());
            if phase != Some("Released") {
                continue;
            }
            if let Some(c) = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) {
                let k = (
                    c.namespace.as_deref().unwrap_or(""),
                    c.name.as_deref().unwrap_or(""),
                );
                released_by_claim.entry(k).or_default().push(pv);
            }
        }
        let mut hooks_by_claim: HashMap<(&str, &str), Vec<&crate::k8s::model::Job>> = map_with(0);
        for job in &ix.snapshot.jobs {
            let hook = job
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key("argocd.argoproj.io/hook"));
            if !hook {
                continue;
            }
            let volumes = job
                .spec
                .as_ref()
                .and_then(|s| s.template.spec.as_ref())
                .and_then(|s| s.volumes.as_ref());
            for v in volumes.into_iter().flatten() {
                if let Some(p) = &v.persistent_volume_claim {
                    hooks_by_claim
                        .entry((meta_ns(&job.metadata), p.claim_name.as_str()))
                        .or_default()
                        .push(job);
                }
            }
        }
        let failed_jobs = ix
            .snapshot
            .jobs
            .iter()
            .filter(|j| crate::k8s::job::failed(j).is_some())
            .filter_map(|j| j.metadata.uid.as_deref())
            .collect();
        Engine {
            ix,
            config,
            released_by_claim,
            hooks_by_claim,
            failed_jobs,
        }
    }

    /// Every claim in scope.
    fn claims(&self, scope: &Scope, out: &mut Vec<Hit>) {
        let ix = self.ix;
        for pvc in &ix.snapshot.persistent_volume_claims {
            let ns = meta_ns(&pvc.metadata);
            if !scope.includes_namespace(ns) {
                continue;
            }
            if scope
                .pvc
                .as_deref()
                .is_some_and(|p| p != meta_name(&pvc.metadata))
            {
                continue;
            }
            let claim = self.claim(pvc);
            self.judge(&claim, out);
        }
    }

    /// Every pod and Job in scope: the pod and workload rules (`diagnose pods`).
    fn pods(&self, scope: &Scope, out: &mut Vec<Hit>) {
        let ix = self.ix;
        for job in &ix.snapshot.jobs {
            if scope.includes_namespace(meta_ns(&job.metadata)) {
                self.judge_job(job, out);
            }
        }
        for pod in &ix.snapshot.pods {
            if scope.includes_namespace(meta_ns(&pod.metadata)) {
                self.judge_pod(pod, out);
            }
        }
    }
}
