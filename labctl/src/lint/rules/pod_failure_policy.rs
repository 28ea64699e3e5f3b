//! `pod-failure-policy-missing`: a Job that retries a failure it should not, for want of a
//! `podFailurePolicy`.

use super::{finding, reference};
use crate::lint::{LintFinding, RuleId};
use crate::snapshot::ClusterSnapshot;

/// `pod-failure-policy-missing`: a Job (or a CronJob's job template) that retries
/// (`backoffLimit` unset, 6 by default, or above 0) with `restartPolicy: Never` has a
/// `podFailurePolicy`, so that an exit that means "this input is wrong" fails the Job at once
/// instead of running the same failure again, and a pod lost to a drain is not counted.
pub fn pod_failure_policies(m: &ClusterSnapshot) -> Vec<LintFinding> {
    use crate::k8s::model::JobSpec;
    let jobs = m
        .jobs
        .iter()
        .filter_map(|j| Some((reference("Job", &j.metadata), j.spec.as_ref()?)));
    let cron_jobs = m.cron_jobs.iter().filter_map(|c| {
        let spec = c.spec.as_ref()?.job_template.spec.as_ref()?;
        Some((reference("CronJob", &c.metadata), spec))
    });
    let mut out = Vec::new();
    for (workload, spec) in jobs.chain(cron_jobs) {
        let spec: &JobSpec = spec;
        let retries = spec.backoff_limit.unwrap_or(6);
        let never = spec
            .template
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.as_deref())
            == Some("Never");
        if retries == 0 || !never || spec.pod_failure_policy.is_some() {
            continue;
        }
        let container = spec
            .template
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .map_or("<container>", |c| c.name.as_str());
        out.push(finding(
            RuleId::PodFailurePolicyMissing,
            workload.clone(),
            format!(
                "{workload} retries every failure up to backoffLimit {retries}: it has no podFailurePolicy"
            ),
            vec![format!(
                "{workload}: backoffLimit {retries}, restartPolicy Never, no podFailurePolicy"
            )],
            format!(
                "Give the Job template a podFailurePolicy: fail the Job at once on the exit codes                  that mean its input is wrong, and ignore pods lost to a drain:\n\
                 podFailurePolicy:\n  rules:\n  - action: FailJob\n    onExitCodes:                  {{containerName: {container}, operator: In, values: [1]}}\n  - action: Ignore\n                     onPodConditions: [{{type: DisruptionTarget}}]"
            ),
        ));
    }
    out
}
