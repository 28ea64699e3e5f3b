//! The lint rules: pure functions over the rendered manifests' objects (a [`ClusterSnapshot`]
//! of a cluster where nothing ran yet), one per id of
//! [`crate::lint::CATALOGUE`] that is not the diagnosis engine's. Each returns findings with the
//! objects involved, the evidence from the manifests and the fix.
//!
//! One file per rule (or family), each followed by its tests; this module holds what they
//! share (the pod templates of the manifests, the finding's shape) and the order they run in.

use std::collections::BTreeMap;

use crate::k8s::model::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::source::Rendered;
use crate::config::LabConfig;
use crate::diagnose::{Finding, ObjectRef};
use crate::lint::{LintFinding, RuleId};
use crate::snapshot::ClusterSnapshot;

mod ingress;
mod model_mount;
mod network_policy;
mod pod_failure_policy;
mod probes;
mod resources;
mod security;
mod services;
mod unknown_fields;

pub use ingress::ingress_backends;
pub use model_mount::model_mount;
pub use network_policy::network_policies;
pub use pod_failure_policy::pod_failure_policies;
pub use probes::probes;
pub use resources::resources;
pub use security::security;
pub use services::services;
pub use unknown_fields::unknown_fields;

/// A pod template (or a bare pod) and the workload that owns it.
pub struct Template<'a> {
    pub workload: ObjectRef,
    /// Deployment, StatefulSet, DaemonSet, bare Pod: serves traffic, needs probes. Jobs and
    /// CronJobs run to completion.
    pub long_running: bool,
    pub labels: Option<&'a BTreeMap<String, String>>,
    pub spec: &'a PodSpec,
}

fn reference(
    kind: &str,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> ObjectRef {
    ObjectRef {
        kind: kind.to_owned(),
        namespace: meta.namespace.clone(),
        name: meta.name.clone().unwrap_or_default(),
    }
}

/// Every pod template of the manifests, in a stable order.
pub fn templates(m: &ClusterSnapshot) -> Vec<Template<'_>> {
    fn from<'a>(
        kind: &'static str,
        meta: &ObjectMeta,
        t: Option<&'a PodTemplateSpec>,
        long_running: bool,
    ) -> Option<Template<'a>> {
        let t = t?;
        Some(Template {
            workload: reference(kind, meta),
            long_running,
            labels: t.metadata.as_ref().and_then(|m| m.labels.as_ref()),
            spec: t.spec.as_ref()?,
        })
    }
    let mut out = Vec::new();
    out.extend(m.deployments.iter().filter_map(|d| {
        from(
            "Deployment",
            &d.metadata,
            d.spec.as_ref().map(|s| &s.template),
            true,
        )
    }));
    out.extend(m.stateful_sets.iter().filter_map(|d| {
        from(
            "StatefulSet",
            &d.metadata,
            d.spec.as_ref().map(|s| &s.template),
            true,
        )
    }));
    out.extend(m.daemon_sets.iter().filter_map(|d| {
        from(
            "DaemonSet",
            &d.metadata,
            d.spec.as_ref().map(|s| &s.template),
            true,
        )
    }));
    out.extend(m.jobs.iter().filter_map(|j| {
        from(
            "Job",
            &j.metadata,
            j.spec.as_ref().map(|s| &s.template),
            false,
        )
    }));
    out.extend(m.cron_jobs.iter().filter_map(|c| {
        let job = c.spec.as_ref().and_then(|s| s.job_template.spec.as_ref());
        from("CronJob", &c.metadata, job.map(|j| &j.template), false)
    }));
    for p in &m.pods {
        if let Some(spec) = p.spec.as_ref() {
            out.push(Template {
                workload: reference("Pod", &p.metadata),
                long_running: spec.restart_policy.as_deref().is_none_or(|r| r == "Always"),
                labels: p.metadata.labels.as_ref(),
                spec,
            });
        }
    }
    out
}

fn all_containers(spec: &PodSpec) -> impl Iterator<Item = &Container> {
    spec.init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
}

fn finding(
    id: RuleId,
    subject: ObjectRef,
    summary: String,
    evidence: Vec<String>,
    remediation: String,
) -> LintFinding {
    let rule = id.rule();
    Finding {
        id,
        severity: rule.severity,
        // The subject is the only object a static finding is about.
        affected: Vec::new(),
        subject,
        summary,
        evidence,
        remediation,
        hint: rule.hint(),
    }
}

/// Runs every lint rule.
pub fn run(r: &Rendered, config: &LabConfig) -> Vec<LintFinding> {
    let m = &r.objects;
    let templates = templates(m);
    let mut out = Vec::new();
    out.extend(unknown_fields(&r.unknown_fields));
    out.extend(services(m, &templates));
    out.extend(ingress_backends(m));
    out.extend(probes(&templates));
    out.extend(resources(&templates));
    out.extend(security(&templates));
    out.extend(model_mount(&templates, config));
    out.extend(network_policies(m, &templates, config));
    out.extend(pod_failure_policies(m));
    out
}

/// The shared test manifest and helpers of the rules' tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::lint::source::parse;

    pub(crate) const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: inference}
spec:
  selector: {matchLabels: {app: inference}}
  template:
    metadata: {labels: {app: inference}}
    spec:
      containers:
        - name: inference
          ports: [{name: http, containerPort: 8080}]
          volumeMounts: [{name: models, mountPath: /models}]
      volumes:
        - name: models
          persistentVolumeClaim: {claimName: models, readOnly: true}
"#;

    pub(crate) fn lint(extra: &str) -> Vec<RuleId> {
        let text = format!("{DEPLOYMENT}---\n{extra}");
        let rendered = parse(&text, "test", "mlops-lab").unwrap();
        let m = &rendered.objects;
        let templates = templates(m);
        let mut ids: Vec<RuleId> = services(m, &templates)
            .into_iter()
            .chain(ingress_backends(m))
            .chain(model_mount(&templates, &LabConfig::default()))
            .map(|f| f.id)
            .collect();
        ids.dedup();
        ids
    }

    pub(crate) fn service(selector: &str, target: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: inference}}\n\
             spec: {{selector: {selector}, ports: [{{name: http, port: 80, targetPort: {target}}}]}}\n"
        )
    }
}
