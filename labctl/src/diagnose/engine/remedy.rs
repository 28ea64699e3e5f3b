//! Remediation commands a finding prints.

use crate::diagnose::engine::claim::*;
use crate::diagnose::engine::*;
use crate::diagnose::index::Workload;
use crate::k8s::WorkloadKind;

/// `kubectl patch` that pins a workload's pods with `nodeSelector key=value` (immutable pods and
/// Jobs must be recreated instead).
pub(crate) fn pin_command(ns: &str, w: &Workload<'_>, key: &str, value: &str) -> String {
    let sel = format!("{{\"nodeSelector\":{{\"{key}\":\"{value}\"}}}}");
    match w.kind {
        WorkloadKind::Deployment | WorkloadKind::StatefulSet | WorkloadKind::ReplicaSet => format!(
            "kubectl -n {ns} patch {} {} --type merge -p '{{\"spec\":{{\"template\":{{\"spec\":{sel}}}}}}}'",
            w.kind.as_str().to_lowercase(),
            w.name
        ),
        WorkloadKind::CronJob => format!(
            "kubectl -n {ns} patch cronjob {} --type merge -p '{{\"spec\":{{\"jobTemplate\":{{\"spec\":{{\"template\":{{\"spec\":{sel}}}}}}}}}}}'",
            w.name
        ),
        kind => format!(
            "recreate {kind} {ns}/{} with nodeSelector {key}={value}",
            w.name
        ),
    }
}

impl<'i, 'a> Engine<'i, 'a> {
    /// `; then re-run the trainer: kubectl … create job --from=cronjob/trainer …` when a CronJob
    /// consumer can regenerate the data.
    pub(crate) fn rerun_hint(&self, c: &Claim<'a>) -> String {
        c.consumers
            .iter()
            .find(|con| con.workload.kind == WorkloadKind::CronJob)
            .map(|con| {
                format!(
                    "; then regenerate it: kubectl -n {} create job --from=cronjob/{} {}-manual",
                    c.ns, con.workload.name, con.workload.name
                )
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn workload<'a>(kind: WorkloadKind, spec: &'a PodSpec, meta: &'a ObjectMeta) -> Workload<'a> {
        Workload {
            kind,
            namespace: "mlops-lab",
            name: "w",
            meta,
            spec,
            pod_labels: None,
            idle: None,
            never_ran: false,
        }
    }

    #[test]
    fn pin_commands_patch_the_pod_template_where_it_lives() {
        let (spec, meta) = (PodSpec::default(), ObjectMeta::default());
        let d = pin_command(
            "ns",
            &workload(WorkloadKind::Deployment, &spec, &meta),
            "k",
            "v",
        );
        assert_eq!(
            d,
            r#"kubectl -n ns patch deployment w --type merge -p '{"spec":{"template":{"spec":{"nodeSelector":{"k":"v"}}}}}'"#
        );
        let c = pin_command(
            "ns",
            &workload(WorkloadKind::CronJob, &spec, &meta),
            "k",
            "v",
        );
        assert!(c.contains(r#"{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"nodeSelector":{"k":"v"}}}}}}}"#), "{c}");
        let p = pin_command("ns", &workload(WorkloadKind::Pod, &spec, &meta), "k", "v");
        assert_eq!(p, "recreate Pod ns/w with nodeSelector k=v");
    }
}
