//! The kinds of workload that create pods, and where each keeps its pod template.

use crate::k8s::model::{CronJob, DaemonSet, Deployment, Job, PodSpec, StatefulSet};

/// What creates a pod: a controller with a pod template, or a bare pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    CronJob,
    Job,
    Pod,
}

impl WorkloadKind {
    /// The API kind, as `kind:` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
            Self::ReplicaSet => "ReplicaSet",
            Self::CronJob => "CronJob",
            Self::Job => "Job",
            Self::Pod => "Pod",
        }
    }

    /// The kind named `kind`, if it creates pods.
    pub fn parse(kind: &str) -> Option<Self> {
        [
            Self::Deployment,
            Self::StatefulSet,
            Self::DaemonSet,
            Self::ReplicaSet,
            Self::CronJob,
            Self::Job,
            Self::Pod,
        ]
        .into_iter()
        .find(|k| k.as_str() == kind)
    }
}

impl std::fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The pod spec a Deployment's pods get.
pub fn deployment_pod_spec(d: &Deployment) -> Option<&PodSpec> {
    d.spec.as_ref()?.template.spec.as_ref()
}

/// The pod spec a StatefulSet's pods get.
pub fn stateful_set_pod_spec(s: &StatefulSet) -> Option<&PodSpec> {
    s.spec.as_ref()?.template.spec.as_ref()
}

/// The pod spec a DaemonSet's pods get.
pub fn daemon_set_pod_spec(d: &DaemonSet) -> Option<&PodSpec> {
    d.spec.as_ref()?.template.spec.as_ref()
}

/// The pod spec a Job's pods get.
pub fn job_pod_spec(j: &Job) -> Option<&PodSpec> {
    j.spec.as_ref()?.template.spec.as_ref()
}

/// The pod spec the Jobs of a CronJob give their pods.
pub fn cron_job_pod_spec(cj: &CronJob) -> Option<&PodSpec> {
    cj.spec
        .as_ref()?
        .job_template
        .spec
        .as_ref()?
        .template
        .spec
        .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_api_names() {
        for kind in [
            "Deployment",
            "StatefulSet",
            "DaemonSet",
            "ReplicaSet",
            "CronJob",
            "Job",
            "Pod",
        ] {
            assert_eq!(
                WorkloadKind::parse(kind).map(WorkloadKind::as_str),
                Some(kind)
            );
        }
        assert_eq!(WorkloadKind::parse("Service"), None);
    }

    #[test]
    fn a_cron_job_keeps_its_pod_spec_two_templates_down() {
        let cj: CronJob = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "trainer"},
            "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {"spec": {
                "containers": [], "nodeSelector": {"kubernetes.io/hostname": "n1"}}}}}}
        }))
        .unwrap();
        let spec = cron_job_pod_spec(&cj).unwrap();
        assert_eq!(
            crate::k8s::placement::node_selector_value(Some(spec), crate::k8s::HOSTNAME_LABEL),
            Some("n1")
        );
    }
}
