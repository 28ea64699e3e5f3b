//! A training Job that failed: `trainer-job-failed` (the CronJob's Job or the first-model hook
//! Job), with the last pod's termination message: the trainer's own error line, since the
//! manifests set `terminationMessagePolicy: FallbackToLogsOnError`.

use super::capitalise;
use crate::diagnose::engine::View;
use crate::diagnose::engine::evidence::events;
use crate::diagnose::engine::remedy::managed_by;
use crate::diagnose::rules::containers::{
    Failing, exit_meaning, last_terminated, oom_killed, program,
};
use crate::k8s::model::{Job, Pod};

use crate::config::LabConfig;
use crate::diagnose::catalogue::FindingId;
use crate::diagnose::engine::merge::Hit;
use crate::diagnose::finding::{Affected, ObjectRef, ObjectRef as Ref};
use crate::diagnose::index::Index;
use crate::k8s::names::{name as meta_name, namespace as meta_ns};

/// The trainer's Jobs: the runs of the CronJob the lab description names (its own Jobs and the
/// Jobs, Argo CD hooks among them, that run its pod template: [`crate::k8s::job::is_run_of`]),
/// whatever their containers and labels are called. Without that CronJob (a description
/// that does not match the cluster), a CronJob's or hook's Job labelled
/// `app.kubernetes.io/name: trainer`, or any Job running a `trainer` container.
pub(crate) fn is_trainer_job(job: &Job, ix: &Index<'_>, config: &LabConfig) -> bool {
    let ns = meta_ns(&job.metadata);
    let configured = ix
        .cron_jobs_by_ns
        .get(ns)
        .into_iter()
        .flatten()
        .find(|c| meta_name(&c.metadata) == config.cronjob);
    if let Some(cj) = configured {
        return crate::k8s::job::is_run_of(job, cj) || conventional_trainer(job);
    }
    conventional_trainer(job)
}

/// A trainer Job by this project's conventions (when the lab description names no CronJob of
/// the cluster).
fn conventional_trainer(job: &Job) -> bool {
    let by_cron = job
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "CronJob");
    let hook = crate::k8s::job::is_argocd_hook(job);
    let trainer = job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .is_some_and(|s| s.containers.iter().any(|c| c.name == "trainer"));
    let labelled = job
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("app.kubernetes.io/name"))
        .is_some_and(|n| n == "trainer");
    trainer || ((by_cron || hook) && labelled)
}

/// Whether a newer run of the Job's owner (a CronJob, or whatever controls it) succeeded: the
/// failure is then history.
pub(crate) fn superseded(ix: &Index<'_>, job: &Job) -> bool {
    let Some(owner) = crate::diagnose::index::controller(&job.metadata) else {
        return false;
    };
    let created = job.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let runs = ix.jobs_by_owner.get(owner.uid.as_str());
    runs.into_iter().flatten().any(|j| {
        j.metadata.creation_timestamp.as_ref().map(|t| t.0) > created
            && crate::k8s::job::succeeded(j)
    })
}

/// The pods of a Job, oldest first.
pub(crate) fn job_pods<'a>(view: &View<'_, 'a>, job: &'a Job) -> Vec<&'a Pod> {
    let Some(uid) = job.metadata.uid.as_deref() else {
        return Vec::new();
    };
    let mut pods: Vec<&'a Pod> = view.ix.pods_by_owner.get(uid).cloned().unwrap_or_default();
    pods.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
    pods
}

/// A later Job of the same CronJob succeeded: this failure is history.
pub(crate) fn judge_job<'a>(view: &View<'_, 'a>, job: &'a Job) -> Vec<Hit> {
    let mut out = Vec::new();
    if !is_trainer_job(job, view.ix, view.config) || superseded(view.ix, job) {
        return out;
    }
    let Some((reason, message)) = crate::k8s::job::failed(job) else {
        return out;
    };
    let ns = meta_ns(&job.metadata);
    let name = meta_name(&job.metadata);
    let pods = job_pods(view, job);
    let last = pods.last().copied();
    // The last pod's container that runs the trainer (by command or image, whatever its
    // name), else its first: its termination is the trainer's own error.
    let status = last.and_then(|p| {
        let statuses = p.status.as_ref()?.container_statuses.as_ref()?;
        statuses
            .iter()
            .find(|c| program(p, c) == Some("trainer"))
            .or_else(|| statuses.first())
    });
    let terminated = status.and_then(|cs| {
        cs.state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .or_else(|| last_terminated(cs))
    });
    // Killed for memory: that is the root cause, with its own fix.
    if let (Some(pod), Some(cs), Some(t)) = (last, status, terminated)
        && t.reason.as_deref() == Some("OOMKilled")
    {
        let spec = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.iter().find(|c| c.name == cs.name));
        out.extend(oom_killed(view, pod, &Failing { status: cs, spec }));
        return out;
    }
    let owner = view.ix.top_owner(&job.metadata);
    let hook = crate::k8s::job::is_argocd_hook(job);
    let mut ev = vec![format!("Job {ns}/{name}: Failed {reason}: {message}")];
    if let (Some(pod), Some(cs)) = (last, status) {
        ev.push(crate::diagnose::rules::containers::container_line(pod, cs));
    }
    if let (Some(pod), Some(cs), Some(t)) = (last, status, terminated)
        && let Some(m) = exit_meaning(program(pod, cs), t.exit_code)
    {
        ev.push(m.to_owned());
    }
    ev.extend(events(
        view,
        "Job",
        &job.metadata,
        &["BackoffLimitExceeded", "DeadlineExceeded"],
    ));
    let error_line = terminated
        .and_then(|t| t.message.as_deref())
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| m.lines().last().unwrap_or(m).to_owned());
    let rerun = match (owner, hook) {
        (Some((_, cron)), _) => format!(
            "kubectl -n {ns} create job --from=cronjob/{c} {c}-manual",
            c = meta_name(cron)
        ),
        (None, true) => match managed_by(view, &job.metadata).map(|m| m.app) {
            Some(app) => format!("argocd app sync {app} (the hook runs again on every sync)"),
            None => "sync the Argo CD Application again (the hook runs on every sync)".to_owned(),
        },
        _ => format!("kubectl -n {ns} delete job {name} and re-apply it"),
    };
    let cause = match terminated.map(|t| t.exit_code) {
        Some(1) => {
            "fix the training data (manifests/base/data/training.csv, the training-data ConfigMap) or lower --min-r2 in the trainer's args in manifests/"
        }
        Some(2) => {
            "fix the trainer's arguments or volumes in manifests/ (MODEL_DIR writable, TRAINING_DATA present)"
        }
        _ if reason == "DeadlineExceeded" => {
            "the Job ran out of time (activeDeadlineSeconds): see whether its pod could start at all (kubectl describe pod)"
        }
        _ => "read the trainer's error above",
    };
    let mut affected = vec![Affected {
        object: Ref::namespaced("Job", ns, name),
        state: Some(format!("Failed ({reason})")),
    }];
    if let Some(pod) = last {
        affected.push(Affected {
            object: Ref::namespaced("Pod", ns, meta_name(&pod.metadata)),
            state: Some(crate::k8s::pod::pod_phase(pod).to_owned()),
        });
    }
    if let Some((kind, cron)) = owner {
        affected.push(Affected {
            object: Ref::namespaced(kind.as_str(), ns, meta_name(cron)),
            state: None,
        });
    }
    out.push(Hit {
        id: FindingId::TrainerJobFailed,
        root: ObjectRef::namespaced("Job", ns, name),
        summary: format!(
            "training Job {name} failed ({reason}){}",
            error_line.map(|l| format!(": {l}")).unwrap_or_default()
        ),
        group_summary: None,
        evidence: ev,
        affected,
        remediation: format!("{}; then run it again: {rerun}", capitalise(cause)),
    });
    out
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_cluster::*;
    use serde_json::json;

    fn job(conditions: serde_json::Value) -> serde_json::Value {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta("trainer-1"),
               "spec": {"template": {"spec": {"restartPolicy": "Never",
                   "containers": [{"name": "trainer", "image": "t"}]}}},
               "status": {"conditions": conditions}})
    }

    #[test]
    fn a_failed_trainer_job_is_found() {
        let mut items = base();
        items.push(job(
            json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                               "message": "Job has reached the specified backoff limit"}]),
        ));
        assert!(ids(items).contains(&"trainer-job-failed"));
    }

    #[test]
    fn a_completed_trainer_job_is_not() {
        let mut items = base();
        items.push(job(json!([{"type": "Complete", "status": "True"}])));
        assert!(!ids(items).contains(&"trainer-job-failed"));
    }
}
