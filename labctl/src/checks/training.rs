//! Training: the trainer CronJob active and its last Job successful and recent.

use crate::k8s::model::{CronJob, Job};
use k8s_openapi::jiff::Timestamp;

use super::cluster::Cluster;
use super::{CheckError, Outcome};
use crate::config::LabConfig;

pub fn evaluate_cronjob(cj: Option<&CronJob>, name: &str) -> Outcome {
    let Some(cj) = cj else {
        return Outcome::fail(format!("CronJob {name} not found"));
    };
    let spec = cj.spec.as_ref();
    let schedule = spec.map(|s| s.schedule.as_str()).unwrap_or("");
    if spec.and_then(|s| s.suspend).unwrap_or(false) {
        Outcome::fail(format!("CronJob {name} is suspended")).with(format!("schedule {schedule}"))
    } else {
        Outcome::pass(format!("{name} scheduled {schedule:?}"))
    }
}

pub fn trainer_cronjob_active(cluster: &Cluster, c: &LabConfig) -> Result<Outcome, CheckError> {
    let cj = cluster.get(&cluster.snapshot.cron_jobs, Some(&c.namespace), &c.cronjob)?;
    Ok(evaluate_cronjob(cj, &c.cronjob))
}

/// Seconds between runs for the common schedule shapes (`@hourly`, `*/15 * * * *`,
/// `0 3 * * *`, `0 */6 * * *`); `None` for anything fancier.
pub fn schedule_period(schedule: &str) -> Option<i64> {
    let s = schedule.trim();
    match s {
        "@hourly" => return Some(3600),
        "@daily" | "@midnight" => return Some(86_400),
        "@weekly" => return Some(7 * 86_400),
        _ => {}
    }
    let f: Vec<&str> = s.split_whitespace().collect();
    let [min, hour, dom, mon, dow] = f.as_slice() else {
        return None;
    };
    if (*dom, *mon, *dow) != ("*", "*", "*") {
        return None;
    }
    let step = |x: &str| x.strip_prefix("*/").and_then(|n| n.parse::<i64>().ok());
    let num = |x: &str| x.parse::<i64>().is_ok();
    match (*min, *hour) {
        ("*", "*") => Some(60),
        (m, "*") if step(m).is_some() => step(m).map(|n| n * 60),
        (m, "*") if num(m) => Some(3600),
        (m, h) if num(m) && step(h).is_some() => step(h).map(|n| n * 3600),
        (m, h) if num(m) && num(h) => Some(86_400),
        _ => None,
    }
}

fn job_time(job: &Job) -> i64 {
    job.metadata
        .creation_timestamp
        .as_ref()
        .map_or(0, |t| t.0.as_second())
}

/// A training Job: a run of the CronJob (its own Jobs, or a Job running its pod template, as
/// the manifests' first-model hook does: [`crate::k8s::job::is_run_of`]), or one labelled
/// `app.kubernetes.io/name` with its name.
fn is_training_job(job: &Job, cj: &CronJob, cronjob: &str) -> bool {
    let labelled = job
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("app.kubernetes.io/name"))
        .is_some_and(|n| n == cronjob);
    crate::k8s::job::is_run_of(job, cj) || labelled
}

pub fn evaluate_last_job(
    cj: Option<&CronJob>,
    jobs: &[Job],
    name: &str,
    now: Timestamp,
) -> Outcome {
    let Some(cj) = cj else {
        return Outcome::fail(format!("CronJob {name} not found"));
    };
    let mut own: Vec<&Job> = jobs
        .iter()
        .filter(|j| is_training_job(j, cj, name))
        .collect();
    own.sort_by_key(|j| job_time(j));
    let Some(last) = own.last() else {
        return Outcome::warn(format!("CronJob {name} has not run a Job yet")).with(format!(
            "trigger one: kubectl -n <ns> create job --from=cronjob/{name} {name}-manual"
        ));
    };
    let job_name = last.metadata.name.as_deref().unwrap_or("<job>");
    if let Some((reason, message)) = crate::k8s::job::failed(last) {
        return Outcome::fail(format!("the last Job {job_name} failed")).with(format!(
            "{}: {}",
            if reason.is_empty() { "Failed" } else { reason },
            message
        ));
    }
    let succeeded = crate::k8s::job::succeeded(last);
    let last_success = cj
        .status
        .as_ref()
        .and_then(|s| s.last_successful_time.as_ref())
        .map(|t| t.0.as_second());
    let schedule = cj.spec.as_ref().map(|s| s.schedule.as_str()).unwrap_or("");
    // Two missed runs is a problem; one late run is just a slow cluster.
    if let (Some(at), Some(period)) = (last_success, schedule_period(schedule)) {
        let age = now.as_second() - at;
        if age > 2 * period {
            return Outcome::fail(format!(
                "the last successful training was {} ago, schedule {schedule:?} expects one every {}",
                humantime::format_duration(std::time::Duration::from_secs(age.max(0) as u64)),
                humantime::format_duration(std::time::Duration::from_secs(period as u64)),
            ));
        }
    }
    if succeeded {
        Outcome::pass(format!("Job {job_name} succeeded"))
    } else if last_success.is_some() {
        Outcome::pass(format!(
            "Job {job_name} is running; an earlier one succeeded"
        ))
    } else {
        Outcome::warn(format!(
            "Job {job_name} is still running; no training has succeeded yet"
        ))
    }
}

pub fn trainer_last_job_succeeded(cluster: &Cluster, c: &LabConfig) -> Result<Outcome, CheckError> {
    let s = &cluster.snapshot;
    let ns = Some(c.namespace.as_str());
    let cj = cluster.get(&s.cron_jobs, ns, &c.cronjob)?;
    let jobs: Vec<Job> = cluster.list(&s.jobs, ns)?.into_iter().cloned().collect();
    Ok(evaluate_last_job(cj, &jobs, &c.cronjob, cluster.now))
}

#[cfg(test)]
mod training_tests {
    use super::*;
    use crate::checks::Status;
    use crate::checks::test_objects::*;
    use crate::k8s::placement::node_selector_value;
    use crate::k8s::workload::cron_job_pod_spec;

    use crate::k8s::model::{
        CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec, PodSpec, PodTemplateSpec,
    };
    use k8s_openapi::api::batch::v1::{CronJobStatus, JobCondition, JobStatus};

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};

    fn cronjob(schedule: &str, suspend: bool, last_success: Option<Timestamp>) -> CronJob {
        CronJob {
            metadata: meta("trainer"),
            spec: Some(CronJobSpec {
                schedule: schedule.into(),
                suspend: Some(suspend),
                job_template: JobTemplateSpec {
                    spec: Some(JobSpec {
                        template: PodTemplateSpec {
                            spec: Some(PodSpec {
                                node_selector: Some(labels(&[(HOST, "n1")])),
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            }),
            status: Some(CronJobStatus {
                last_successful_time: last_success.map(Time),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn active_cronjob_passes_and_suspended_fails() {
        assert_eq!(
            evaluate_cronjob(Some(&cronjob("0 * * * *", false, None)), "trainer").status,
            Status::Pass
        );
        assert_eq!(
            evaluate_cronjob(Some(&cronjob("0 * * * *", true, None)), "trainer").status,
            Status::Fail
        );
        assert_eq!(evaluate_cronjob(None, "trainer").status, Status::Fail);
        assert_eq!(
            node_selector_value(cron_job_pod_spec(&cronjob("@hourly", false, None)), HOST),
            Some("n1")
        );
    }

    #[test]
    fn schedule_periods_of_common_shapes() {
        assert_eq!(schedule_period("@hourly"), Some(3600));
        assert_eq!(schedule_period("*/15 * * * *"), Some(900));
        assert_eq!(schedule_period("0 * * * *"), Some(3600));
        assert_eq!(schedule_period("0 */6 * * *"), Some(6 * 3600));
        assert_eq!(schedule_period("30 3 * * *"), Some(86_400));
        assert_eq!(schedule_period("0 3 * * 1"), None);
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn job(name: &str, created: &str, condition: &str) -> Job {
        Job {
            metadata: ObjectMeta {
                name: Some(name.into()),
                creation_timestamp: Some(Time(ts(created))),
                owner_references: Some(vec![OwnerReference {
                    kind: "CronJob".into(),
                    name: "trainer".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            status: Some(JobStatus {
                conditions: Some(vec![JobCondition {
                    type_: condition.into(),
                    status: "True".into(),
                    reason: Some(
                        if condition == "Failed" {
                            "BackoffLimitExceeded"
                        } else {
                            "Completed"
                        }
                        .into(),
                    ),
                    message: Some("Job has reached the specified backoff limit".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn recent_successful_job_passes() {
        let now = ts("2026-11-28T10:30:00Z");
        let cj = cronjob("0 * * * *", false, Some(ts("2026-11-28T10:01:00Z")));
        let jobs = [
            job("trainer-1", "2026-11-28T09:00:00Z", "Failed"),
            job("trainer-2", "2026-11-28T10:00:00Z", "Complete"),
        ];
        let o = evaluate_last_job(Some(&cj), &jobs, "trainer", now);
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert!(o.message.contains("trainer-2"));
        // The install-time first-model Job counts by its label before the CronJob has run.
        let mut first = job("trainer-first-model", "2026-11-28T08:00:00Z", "Complete");
        first.metadata.owner_references = None;
        first.metadata.labels = Some(labels(&[("app.kubernetes.io/name", "trainer")]));
        let fresh = cronjob("17 3 * * *", false, None);
        let o = evaluate_last_job(Some(&fresh), &[first], "trainer", now);
        assert_eq!(o.status, Status::Pass, "{o:?}");
    }

    #[test]
    fn failed_last_job_or_stale_success_fails() {
        let now = ts("2026-11-28T10:30:00Z");
        let cj = cronjob("0 * * * *", false, Some(ts("2026-11-28T09:01:00Z")));
        let jobs = [
            job("trainer-1", "2026-11-28T09:00:00Z", "Complete"),
            job("trainer-2", "2026-11-28T10:00:00Z", "Failed"),
        ];
        let o = evaluate_last_job(Some(&cj), &jobs, "trainer", now);
        assert_eq!(o.status, Status::Fail);
        assert!(o.evidence[0].contains("BackoffLimitExceeded"));
        let stale = cronjob("0 * * * *", false, Some(ts("2026-11-28T05:00:00Z")));
        let o = evaluate_last_job(Some(&stale), &jobs[..1], "trainer", now);
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("5h 30m"), "{}", o.message);
        assert_eq!(
            evaluate_last_job(Some(&cj), &[], "trainer", now).status,
            Status::Warn
        );
        // A Job of someone else does not count.
        let mut foreign = job("backup-1", "2026-11-28T10:00:00Z", "Complete");
        foreign.metadata.owner_references = None;
        assert_eq!(
            evaluate_last_job(Some(&cj), &[foreign], "trainer", now).status,
            Status::Warn
        );
    }
}
