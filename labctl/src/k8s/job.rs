//! Facts about Jobs: whether a Job is a run of a CronJob, known by ownership and by the pod
//! template it runs, never by the names of its containers or labels (users name them their
//! own way).

use k8s_openapi::api::batch::v1::JobCondition;

use crate::k8s::model::{CronJob, Job, PodSpec};
use crate::k8s::workload::cron_job_pod_spec;

/// Argo CD's hook annotation: a Job Argo CD creates at a sync phase (`PreSync`, `Sync`, …).
pub const ARGOCD_HOOK: &str = "argocd.argoproj.io/hook";

/// Whether `job` is a run of `cron`: a Job the CronJob created (its owner), or a Job that runs
/// the same pod template without a CronJob (an Argo CD hook that publishes the first model at
/// install, a `kubectl create job --from=cronjob/…` whose owner was dropped): the same
/// containers' images and commands.
pub fn is_run_of(job: &Job, cron: &CronJob) -> bool {
    let cron_name = cron.metadata.name.as_deref();
    let cron_uid = cron.metadata.uid.as_deref();
    let owners = job.metadata.owner_references.iter().flatten();
    let owned = owners.clone().any(|o| {
        o.kind == "CronJob" && (cron_uid == Some(o.uid.as_str()) || cron_name == Some(&o.name))
    });
    if owned {
        return true;
    }
    // Owned by something else (another CronJob, an operator): not this CronJob's run.
    if owners.count() > 0 {
        return false;
    }
    let template = job.spec.as_ref().and_then(|s| s.template.spec.as_ref());
    match (template, cron_job_pod_spec(cron)) {
        (Some(a), Some(b)) => same_program(a, b),
        _ => false,
    }
}

/// The Job's condition of `type_` when it is `True`.
pub fn condition<'a>(job: &'a Job, type_: &str) -> Option<&'a JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

/// `(reason, message)` of a failed Job (`Failed=True`: backoff limit, deadline, a pod failure
/// policy's `FailJob`).
pub fn failed(job: &Job) -> Option<(&str, &str)> {
    let c = condition(job, "Failed")?;
    Some((
        c.reason.as_deref().unwrap_or(""),
        c.message.as_deref().unwrap_or(""),
    ))
}

/// A Job that succeeded: `Complete=True`, or `SuccessCriteriaMet=True` (1.31+, set before
/// `Complete` while the last pods are cleaned up). The one meaning of "succeeded" for every
/// command.
pub fn succeeded(job: &Job) -> bool {
    condition(job, "Complete").is_some() || condition(job, "SuccessCriteriaMet").is_some()
}

/// A Job that creates no more pods: it succeeded, failed, or has a completion time.
pub fn finished(job: &Job) -> bool {
    succeeded(job)
        || failed(job).is_some()
        || job
            .status
            .as_ref()
            .is_some_and(|s| s.completion_time.is_some())
}

/// Whether `job` is an Argo CD hook.
pub fn is_argocd_hook(job: &Job) -> bool {
    job.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(ARGOCD_HOOK))
}

/// The same containers (by image and command, in order), whatever their names.
fn same_program(a: &PodSpec, b: &PodSpec) -> bool {
    let program = |s: &PodSpec| -> Vec<(Option<String>, Option<Vec<String>>)> {
        s.containers
            .iter()
            .map(|c| (c.image.clone(), c.command.clone()))
            .collect()
    };
    !a.containers.is_empty() && program(a) == program(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cron() -> CronJob {
        serde_json::from_value(json!({
            "metadata": {"name": "nightly-fit", "namespace": "ml", "uid": "c-1"},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"name": "main", "image": "registry.lan/fit:2",
                                "command": ["/usr/local/bin/trainer"]}]}}}}}
        }))
        .unwrap()
    }

    fn job(owner: Option<(&str, &str)>, image: &str, hook: bool) -> Job {
        let mut meta = json!({"name": "j", "namespace": "ml"});
        if let Some((kind, name)) = owner {
            meta["ownerReferences"] = json!([{"apiVersion": "batch/v1", "kind": kind, "name": name, "uid": "x", "controller": true}]);
        }
        if hook {
            meta["annotations"] = json!({ARGOCD_HOOK: "Sync"});
        }
        serde_json::from_value(json!({
            "metadata": meta,
            "spec": {"template": {"spec": {"containers": [
                {"name": "anything", "image": image, "command": ["/usr/local/bin/trainer"]}]}}}
        }))
        .unwrap()
    }

    #[test]
    fn a_cronjobs_runs_are_known_by_owner_or_by_its_template_not_by_names() {
        let cj = cron();
        assert!(is_run_of(
            &job(Some(("CronJob", "nightly-fit")), "other:1", false),
            &cj
        ));
        assert!(
            is_run_of(&job(None, "registry.lan/fit:2", true), &cj),
            "a hook running the same template, whatever its container's name"
        );
        assert!(is_argocd_hook(&job(None, "registry.lan/fit:2", true)));
    }

    #[test]
    fn other_jobs_are_not_its_runs() {
        let cj = cron();
        assert!(!is_run_of(
            &job(Some(("CronJob", "backup")), "registry.lan/fit:2", false),
            &cj
        ));
        assert!(
            !is_run_of(&job(None, "registry.lan/fit:3", true), &cj),
            "another image"
        );
        assert!(
            !is_run_of(
                &job(Some(("Workflow", "w")), "registry.lan/fit:2", false),
                &cj
            ),
            "owned by something else"
        );
    }

    fn with_conditions(conditions: serde_json::Value) -> Job {
        serde_json::from_value(
            json!({"metadata": {"name": "j"}, "status": {"conditions": conditions}}),
        )
        .unwrap()
    }

    #[test]
    fn succeeded_failed_and_finished_have_one_meaning() {
        let complete = with_conditions(json!([{"type": "Complete", "status": "True"}]));
        let criteria = with_conditions(json!([{"type": "SuccessCriteriaMet", "status": "True"}]));
        let failed_job = with_conditions(json!([{"type": "Failed", "status": "True",
            "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]));
        let running = with_conditions(json!([{"type": "Complete", "status": "False"}]));
        assert!(succeeded(&complete) && succeeded(&criteria));
        assert!(!succeeded(&failed_job) && !succeeded(&running));
        assert_eq!(failed(&failed_job).unwrap().0, "BackoffLimitExceeded");
        assert_eq!(failed(&complete), None);
        assert!(finished(&complete) && finished(&failed_job));
        assert!(!finished(&running));
    }
}
