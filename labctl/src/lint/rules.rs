//! The lint rules: pure functions over the parsed manifests, one per id of
//! [`super::CATALOGUE`] that is not the diagnosis engine's. Each returns findings with the
//! objects involved, the evidence from the manifests and the fix.
//!
//! Longer than 600 lines on purpose: the rules share the pod-template helpers and the test
//! manifest at the end, and each is short; split it by family (Services and Ingress, pod
//! templates) when a new family of rules arrives.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec, SecurityContext, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::source::Manifests;
use crate::config::LabConfig;
use crate::diagnose::{Finding, ObjectRef};
use crate::k8s::names::labels_text;
use crate::k8s::service;

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
pub fn templates(m: &Manifests) -> Vec<Template<'_>> {
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
    id: &'static str,
    subject: ObjectRef,
    summary: String,
    evidence: Vec<String>,
    remediation: String,
) -> Finding {
    let rule = super::rule(id).expect("every lint id is in the catalogue");
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
pub fn run(m: &Manifests, config: &LabConfig) -> Vec<Finding> {
    let templates = templates(m);
    let mut out = Vec::new();
    out.extend(unknown_fields(m));
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

/// `pod-failure-policy-missing`: a Job (or a CronJob's job template) that retries
/// (`backoffLimit` unset, 6 by default, or above 0) with `restartPolicy: Never` has a
/// `podFailurePolicy`, so that an exit that means "this input is wrong" fails the Job at once
/// instead of running the same failure again, and a pod lost to a drain is not counted.
pub fn pod_failure_policies(m: &Manifests) -> Vec<Finding> {
    use k8s_openapi::api::batch::v1::JobSpec;
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
            super::POD_FAILURE_POLICY,
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

/// `networkpolicy-blocks-controller`: a NetworkPolicy that selects a long-running pod
/// template and restricts its ingress admits the ingress controller's namespace (labctl.toml's
/// `ingress_controller`, `ingress_controller_workload`): some rule has no `from` (every source),
/// or a peer's `namespaceSelector` selects that namespace (`kubernetes.io/metadata.name`, the
/// label the API server sets on every namespace), or a peer without one is in the policy's own
/// namespace, or an `ipBlock` (a hostNetwork controller: its address cannot be judged offline).
/// Without it the controller's requests time out: 504 from Traefik, 504 from ingress-nginx.
pub fn network_policies(
    m: &Manifests,
    templates: &[Template<'_>],
    config: &LabConfig,
) -> Vec<Finding> {
    use crate::k8s::labels::selects;
    let controller = config.controller_workload();
    let ns_labels: BTreeMap<String, String> = [(
        "kubernetes.io/metadata.name".to_owned(),
        controller.namespace.clone(),
    )]
    .into();
    let mut out = Vec::new();
    for np in &m.network_policies {
        let Some(spec) = np.spec.as_ref() else {
            continue;
        };
        // Without policyTypes, Ingress is always among them.
        let restricts_ingress = spec
            .policy_types
            .as_ref()
            .is_none_or(|t| t.iter().any(|t| t == "Ingress"));
        if !restricts_ingress {
            continue;
        }
        let policy_ns = np
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| config.namespace.clone());
        let empty = BTreeMap::new();
        // An absent podSelector is the empty one: every pod of the namespace.
        let pod_selector = spec.pod_selector.clone().unwrap_or_default();
        let selected: Vec<&Template<'_>> = templates
            .iter()
            .filter(|t| t.long_running && selects(&pod_selector, t.labels.unwrap_or(&empty)))
            .collect();
        if selected.is_empty() {
            continue;
        }
        let admits = spec.ingress.iter().flatten().any(|rule| match &rule.from {
            None => true,
            Some(peers) if peers.is_empty() => true,
            Some(peers) => peers.iter().any(|peer| {
                peer.ip_block.is_some()
                    || match &peer.namespace_selector {
                        Some(sel) => selects(sel, &ns_labels),
                        None => policy_ns == controller.namespace,
                    }
            }),
        });
        if admits {
            continue;
        }
        let subject = reference("NetworkPolicy", &np.metadata);
        let peers: Vec<String> = spec
            .ingress
            .iter()
            .flatten()
            .flat_map(|r| r.from.iter().flatten())
            .map(|p| {
                let ns = p
                    .namespace_selector
                    .as_ref()
                    .and_then(|s| s.match_labels.as_ref())
                    .and_then(|l| l.get("kubernetes.io/metadata.name"))
                    .map_or("(selector)".to_owned(), |n| format!("namespace {n}"));
                match &p.namespace_selector {
                    Some(_) => ns,
                    None => format!("pods of namespace {policy_ns}"),
                }
            })
            .collect();
        let workloads: Vec<String> = selected.iter().map(|t| t.workload.to_string()).collect();
        let fix = match config.ingress_controller {
            crate::config::IngressController::IngressNginx => format!(
                "Admit namespace {} (components/ingress-nginx does) in the NetworkPolicy in manifests/, or set ingress_controller in labctl.toml to the controller in use",
                controller.namespace
            ),
            _ => format!(
                "Admit the controller: a from peer with namespaceSelector kubernetes.io/metadata.name: {} and podSelector app.kubernetes.io/name: traefik (manifests/base/networkpolicy.yaml); if another controller serves the Ingress, set ingress_controller in labctl.toml",
                controller.namespace
            ),
        };
        out.push(finding(
            super::NETWORK_POLICY,
            subject.clone(),
            format!(
                "{subject} admits no traffic from namespace {} (ingress_controller = \"{}\") to {}: the controller's requests time out",
                controller.namespace,
                config.ingress_controller.as_str(),
                workloads.join(", ")
            ),
            vec![format!(
                "{subject}: ingress from {}",
                if peers.is_empty() {
                    "nothing".to_owned()
                } else {
                    peers.join(", ")
                }
            )],
            fix,
        ));
    }
    out
}

/// `unknown-field`: fields the k8s-openapi types (the Kubernetes API of v1.33) do not know.
pub fn unknown_fields(m: &Manifests) -> Vec<Finding> {
    m.unknown_fields
        .iter()
        .map(|(object, paths)| {
            finding(
                super::UNKNOWN_FIELD,
                object.clone(),
                format!(
                    "{object} has {} field(s) the Kubernetes API does not know: {}",
                    paths.len(),
                    paths.join(", ")
                ),
                paths.iter().map(|p| format!("{object}: {p}")).collect(),
                "Fix the spelling or the indentation (field names are case-sensitive camelCase; \
                 compare with `kubectl explain <kind>.<path>`). The API server rejects unknown \
                 fields with strict validation, or drops them with a warning."
                    .to_owned(),
            )
        })
        .collect()
}

fn selected<'t, 'a>(svc: &Service, templates: &'t [Template<'a>]) -> Vec<&'t Template<'a>> {
    let Some(selector) = svc
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .filter(|s| !s.is_empty())
    else {
        return Vec::new();
    };
    templates
        .iter()
        .filter(|t| t.workload.namespace == svc.metadata.namespace)
        .filter(|t| service::selects(selector, t.labels))
        .collect()
}

/// `service-selector-matches-no-pod` and `service-target-port-missing`.
pub fn services(m: &Manifests, templates: &[Template<'_>]) -> Vec<Finding> {
    let mut out = Vec::new();
    for svc in &m.services {
        let subject = reference("Service", &svc.metadata);
        let Some(selector) = svc
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .filter(|s| !s.is_empty())
        else {
            // No selector: endpoints are managed by hand (or ExternalName); nothing to match.
            continue;
        };
        let matched = selected(svc, templates);
        if matched.is_empty() {
            let mut evidence = vec![format!("{subject}: selector {}", labels_text(selector))];
            evidence.extend(
                templates
                    .iter()
                    .filter(|t| t.workload.namespace == svc.metadata.namespace)
                    .map(|t| {
                        format!(
                            "{}: pod template labels {}",
                            t.workload,
                            t.labels.map(labels_text).unwrap_or_else(|| "(none)".into())
                        )
                    }),
            );
            out.push(finding(
                super::SERVICE_SELECTOR,
                subject.clone(),
                format!(
                    "{subject} selects {} but no pod template in the namespace has these labels: it will have no endpoints (the ingress answers 503)",
                    labels_text(selector)
                ),
                evidence,
                "Make spec.selector of the Service equal to labels of the pod template it fronts \
                 (spec.template.metadata.labels of the Deployment), e.g. app.kubernetes.io/name: inference."
                    .to_owned(),
            ));
            continue;
        }
        // The facts read the lean model (k8s/model.rs); lint holds the manifests whole.
        let containers: Vec<crate::k8s::model::Container> = matched
            .iter()
            .flat_map(|t| t.spec.containers.iter().map(crate::k8s::model::from_full))
            .collect();
        let declared = service::declared_ports(containers.iter());
        for port in svc
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .into_iter()
            .flatten()
        {
            if service::resolve_target_port(port, &declared).is_some() {
                continue;
            }
            let target = service::target_port(port);
            let what = match &target {
                IntOrString::String(name) => format!("named port {name:?}"),
                IntOrString::Int(n) => format!("port {n}"),
            };
            let declared_text = if declared.is_empty() {
                "none".to_owned()
            } else {
                declared
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            out.push(finding(
                super::SERVICE_TARGET_PORT,
                subject.clone(),
                format!(
                    "{subject} port {} targets {what}, which no selected container declares: connections are refused (the ingress answers 502)",
                    port.name.as_deref().unwrap_or("(unnamed)")
                ),
                vec![
                    format!(
                        "{subject}: port {} ({}) → targetPort {}",
                        port.name.as_deref().unwrap_or("(unnamed)"),
                        port.port,
                        service::target_text(&target)
                    ),
                    format!(
                        "container ports of {}: {declared_text}",
                        matched
                            .iter()
                            .map(|t| t.workload.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ],
                "Point targetPort at a port the container declares, by name (targetPort: http with \
                 ports: [{name: http, containerPort: 8080}] in the Deployment) so that a port change \
                 in one place cannot break the Service."
                    .to_owned(),
            ));
        }
    }
    out
}

/// `ingress-backend-missing`: every backend names a Service of the manifests and one of its ports.
pub fn ingress_backends(m: &Manifests) -> Vec<Finding> {
    let mut out = Vec::new();
    for ing in &m.ingresses {
        let subject = reference("Ingress", &ing.metadata);
        let Some(spec) = ing.spec.as_ref() else {
            continue;
        };
        let mut backends = Vec::new();
        if let Some(b) = spec
            .default_backend
            .as_ref()
            .and_then(|b| b.service.as_ref())
        {
            backends.push(("defaultBackend".to_owned(), b));
        }
        for rule in spec.rules.iter().flatten() {
            for path in rule.http.iter().flat_map(|h| h.paths.iter()) {
                if let Some(b) = path.backend.service.as_ref() {
                    backends.push((
                        format!(
                            "host {} path {}",
                            rule.host.as_deref().unwrap_or("*"),
                            path.path.as_deref().unwrap_or("/")
                        ),
                        b,
                    ));
                }
            }
        }
        for (route, backend) in backends {
            let svc = m.services.iter().find(|s| {
                s.metadata.name.as_deref() == Some(backend.name.as_str())
                    && s.metadata.namespace == ing.metadata.namespace
            });
            let wanted = match backend.port.as_ref() {
                Some(p) => match (&p.name, p.number) {
                    (Some(n), _) => format!("port {n:?}"),
                    (None, Some(n)) => format!("port {n}"),
                    (None, None) => "no port".to_owned(),
                },
                None => "no port".to_owned(),
            };
            let problem = match svc {
                None => Some(format!(
                    "Service {} does not exist in the manifests",
                    backend.name
                )),
                Some(svc) => {
                    let ports: Vec<_> = svc
                        .spec
                        .as_ref()
                        .and_then(|s| s.ports.as_ref())
                        .into_iter()
                        .flatten()
                        .collect();
                    let ok = backend.port.as_ref().is_some_and(|p| {
                        ports.iter().any(|sp| match (&p.name, p.number) {
                            (Some(n), _) => sp.name.as_deref() == Some(n.as_str()),
                            (None, Some(n)) => sp.port == n,
                            (None, None) => false,
                        })
                    });
                    (!ok).then(|| {
                        format!(
                            "Service {} has no {wanted} (it has {})",
                            backend.name,
                            ports
                                .iter()
                                .map(|p| match &p.name {
                                    Some(n) => format!("{n}={}", p.port),
                                    None => p.port.to_string(),
                                })
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
                }
            };
            if let Some(problem) = problem {
                out.push(finding(
                    super::INGRESS_BACKEND,
                    subject.clone(),
                    format!(
                        "{subject} {route} routes to Service {} {wanted}: {problem}",
                        backend.name
                    ),
                    vec![
                        format!("{subject}: {route} → service {} {wanted}", backend.name),
                        problem,
                    ],
                    "Make the backend name the Service (metadata.name) and one of its ports \
                     (spec.ports[].name, or the number): Traefik answers 404 for a backend that \
                     does not exist (ingress-nginx answered 503)."
                        .to_owned(),
                ));
            }
        }
    }
    out
}

/// `probes-missing`: every container of a long-running workload has readiness and liveness.
pub fn probes(templates: &[Template<'_>]) -> Vec<Finding> {
    let mut out = Vec::new();
    for t in templates.iter().filter(|t| t.long_running) {
        let mut missing = Vec::new();
        for c in &t.spec.containers {
            if c.readiness_probe.is_none() {
                missing.push(format!("container {}: no readinessProbe", c.name));
            }
            if c.liveness_probe.is_none() {
                missing.push(format!("container {}: no livenessProbe", c.name));
            }
        }
        if missing.is_empty() {
            continue;
        }
        out.push(finding(
            super::PROBES,
            t.workload.clone(),
            format!("{} lacks probes: {}", t.workload, missing.join("; ")),
            missing,
            "Add a readinessProbe (for inference: httpGet /readyz, 503 until a model is loaded, so \
             no traffic reaches a pod without a model) and a livenessProbe that does not depend on \
             the model (httpGet /healthz); a startupProbe on /readyz gives the first load time."
                .to_owned(),
        ));
    }
    out
}

/// `resources-missing`: every container (init containers too) requests CPU and memory and has a
/// memory limit.
pub fn resources(templates: &[Template<'_>]) -> Vec<Finding> {
    let mut out = Vec::new();
    for t in templates {
        let mut missing = Vec::new();
        for c in all_containers(t.spec) {
            let r = c.resources.as_ref();
            let has = |which: Option<&BTreeMap<_, _>>, key: &str| {
                which.is_some_and(|m: &BTreeMap<String, _>| m.contains_key(key))
            };
            let requests = r.and_then(|r| r.requests.as_ref());
            let limits = r.and_then(|r| r.limits.as_ref());
            let mut lacks = Vec::new();
            if !has(requests, "cpu") {
                lacks.push("requests.cpu");
            }
            if !has(requests, "memory") {
                lacks.push("requests.memory");
            }
            if !has(limits, "memory") {
                lacks.push("limits.memory");
            }
            if !lacks.is_empty() {
                missing.push(format!("container {}: no {}", c.name, lacks.join(", ")));
            }
        }
        if missing.is_empty() {
            continue;
        }
        out.push(finding(
            super::RESOURCES,
            t.workload.clone(),
            format!("{} lacks resources: {}", t.workload, missing.join("; ")),
            missing,
            "Set resources.requests.cpu, resources.requests.memory and resources.limits.memory on \
             every container: the pinned node is the only place these pods can run, so the \
             scheduler must know what they need, and a leak must not take the node down."
                .to_owned(),
        ));
    }
    out
}

/// `security-settings-missing`: the restricted Pod Security settings the lab promises.
pub fn security(templates: &[Template<'_>]) -> Vec<Finding> {
    let mut out = Vec::new();
    for t in templates {
        let pod = t.spec.security_context.as_ref();
        let mut missing = Vec::new();
        if t.spec.automount_service_account_token != Some(false) {
            missing.push("pod: automountServiceAccountToken is not false".to_owned());
        }
        for c in all_containers(t.spec) {
            let sc: Option<&SecurityContext> = c.security_context.as_ref();
            let mut lacks = Vec::new();
            let non_root = sc
                .and_then(|s| s.run_as_non_root)
                .or(pod.and_then(|p| p.run_as_non_root));
            if non_root != Some(true) {
                lacks.push("runAsNonRoot: true".to_owned());
            }
            let uid = sc
                .and_then(|s| s.run_as_user)
                .or(pod.and_then(|p| p.run_as_user));
            if uid == Some(0) {
                lacks.push("a non-zero runAsUser".to_owned());
            }
            if sc.and_then(|s| s.allow_privilege_escalation) != Some(false) {
                lacks.push("allowPrivilegeEscalation: false".to_owned());
            }
            if sc.and_then(|s| s.read_only_root_filesystem) != Some(true) {
                lacks.push("readOnlyRootFilesystem: true".to_owned());
            }
            if sc.and_then(|s| s.privileged) == Some(true) {
                lacks.push("privileged: false".to_owned());
            }
            let drops_all = sc
                .and_then(|s| s.capabilities.as_ref())
                .and_then(|c| c.drop.as_ref())
                .is_some_and(|d| d.iter().any(|x| x == "ALL"));
            if !drops_all {
                lacks.push("capabilities.drop: [ALL]".to_owned());
            }
            let seccomp = sc
                .and_then(|s| s.seccomp_profile.as_ref())
                .or(pod.and_then(|p| p.seccomp_profile.as_ref()))
                .map(|p| p.type_.as_str());
            if !matches!(seccomp, Some("RuntimeDefault" | "Localhost")) {
                lacks.push("seccompProfile.type: RuntimeDefault".to_owned());
            }
            if !lacks.is_empty() {
                missing.push(format!("container {}: needs {}", c.name, lacks.join(", ")));
            }
        }
        if missing.is_empty() {
            continue;
        }
        out.push(finding(
            super::SECURITY,
            t.workload.clone(),
            format!(
                "{} runs without the lab's security settings: {}",
                t.workload,
                missing.join("; ")
            ),
            missing,
            "Every pod of the lab: securityContext {runAsNonRoot: true, runAsUser: 65532, \
             seccompProfile: {type: RuntimeDefault}}, every container securityContext \
             {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: \
             {drop: [ALL]}}, and automountServiceAccountToken: false (the images need no API \
             access). Namespace mlops-lab enforces the restricted Pod Security Standard, so such \
             a pod is also refused at admission."
                .to_owned(),
        ));
    }
    out
}

/// `model-mount-writable`: long-running workloads (inference) mount the model claim read-only;
/// only the trainer (a Job or CronJob) writes it.
pub fn model_mount(templates: &[Template<'_>], config: &LabConfig) -> Vec<Finding> {
    let mut out = Vec::new();
    for t in templates.iter().filter(|t| t.long_running) {
        let volumes: Vec<(&str, bool)> = t
            .spec
            .volumes
            .iter()
            .flatten()
            .filter_map(|v| {
                let pvc = v.persistent_volume_claim.as_ref()?;
                (pvc.claim_name == config.pvc)
                    .then_some((v.name.as_str(), pvc.read_only == Some(true)))
            })
            .collect();
        if volumes.is_empty() {
            continue;
        }
        let mut writable = Vec::new();
        for c in all_containers(t.spec) {
            for mount in c.volume_mounts.iter().flatten() {
                let Some((_, source_ro)) = volumes.iter().find(|(n, _)| *n == mount.name) else {
                    continue;
                };
                if mount.read_only != Some(true) && !source_ro {
                    writable.push(format!(
                        "container {}: volumeMount {} at {} is read-write (claim {})",
                        c.name, mount.name, mount.mount_path, config.pvc
                    ));
                }
            }
        }
        if writable.is_empty() {
            continue;
        }
        out.push(finding(
            super::MODEL_MOUNT,
            t.workload.clone(),
            format!(
                "{} mounts the model volume {} writable: only the trainer may write models",
                t.workload, config.pvc
            ),
            writable,
            format!(
                "Set readOnly: true on the volumeMount (and on the persistentVolumeClaim volume \
                 source) of claim {} in {}: a serving pod that can write the model store can \
                 corrupt or delete the published model.",
                config.pvc, t.workload
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::source::parse;

    const DEPLOYMENT: &str = r#"
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

    fn lint(extra: &str) -> Vec<&'static str> {
        let text = format!("{DEPLOYMENT}---\n{extra}");
        let m = parse(&text, "test", "mlops-lab").unwrap();
        let templates = templates(&m);
        let mut ids: Vec<&'static str> = services(&m, &templates)
            .into_iter()
            .chain(ingress_backends(&m))
            .chain(model_mount(&templates, &LabConfig::default()))
            .map(|f| f.id)
            .collect();
        ids.dedup();
        ids
    }

    fn service(selector: &str, target: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: inference}}\n\
             spec: {{selector: {selector}, ports: [{{name: http, port: 80, targetPort: {target}}}]}}\n"
        )
    }

    #[test]
    fn named_and_numeric_target_ports() {
        assert!(lint(&service("{app: inference}", "http")).is_empty());
        assert!(lint(&service("{app: inference}", "8080")).is_empty());
        assert_eq!(
            lint(&service("{app: inference}", "9090")),
            [crate::lint::SERVICE_TARGET_PORT]
        );
        assert_eq!(
            lint(&service("{app: inference}", "web")),
            [crate::lint::SERVICE_TARGET_PORT]
        );
    }

    #[test]
    fn selector_must_be_a_subset_of_the_template_labels() {
        assert_eq!(
            lint(&service("{app: inference, tier: web}", "http")),
            [crate::lint::SERVICE_SELECTOR]
        );
        // A Service without a selector has hand-made endpoints: not judged.
        let manual =
            "apiVersion: v1\nkind: Service\nmetadata: {name: ext}\nspec: {ports: [{port: 80}]}\n";
        assert!(lint(manual).is_empty());
    }

    #[test]
    fn ingress_backend_by_number_and_missing_service() {
        let ingress = |svc: &str, port: &str| {
            format!(
                "{}---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: inference}}\n\
                 spec: {{rules: [{{host: model.homelab, http: {{paths: [{{path: /, pathType: Prefix, \
                 backend: {{service: {{name: {svc}, port: {port}}}}}}}]}}}}]}}\n",
                service("{app: inference}", "http")
            )
        };
        assert!(lint(&ingress("inference", "{number: 80}")).is_empty());
        assert!(lint(&ingress("inference", "{name: http}")).is_empty());
        assert_eq!(
            lint(&ingress("inference", "{number: 8080}")),
            [crate::lint::INGRESS_BACKEND]
        );
        assert_eq!(
            lint(&ingress("other", "{name: http}")),
            [crate::lint::INGRESS_BACKEND]
        );
    }

    #[test]
    fn a_read_only_volume_source_is_enough_for_the_model_mount() {
        // DEPLOYMENT mounts without readOnly on the mount, but the claim source is read-only.
        assert!(lint("").is_empty());
        let writable = DEPLOYMENT.replace("claimName: models, readOnly: true", "claimName: models");
        let m = parse(&writable, "test", "mlops-lab").unwrap();
        let ids: Vec<_> = model_mount(&templates(&m), &LabConfig::default())
            .into_iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(ids, [crate::lint::MODEL_MOUNT]);
    }

    #[test]
    fn a_network_policy_must_admit_the_controllers_namespace() {
        let policy = |from: &str| {
            format!(
                "{DEPLOYMENT}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: inference}}\n\
                 spec: {{podSelector: {{matchLabels: {{app: inference}}}}, policyTypes: [Ingress], ingress: [{{from: {from}}}]}}\n"
            )
        };
        let ids = |text: &str, config: &LabConfig| -> Vec<&'static str> {
            let m = parse(text, "test", "mlops-lab").unwrap();
            network_policies(&m, &templates(&m), config)
                .into_iter()
                .map(|f| f.id)
                .collect()
        };
        let traefik = LabConfig::default();
        let nginx = LabConfig {
            ingress_controller: crate::config::IngressController::IngressNginx,
            ..LabConfig::default()
        };
        let kube_system = policy(
            "[{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {app.kubernetes.io/name: traefik}}}]",
        );
        assert!(ids(&kube_system, &traefik).is_empty());
        assert_eq!(ids(&kube_system, &nginx), [crate::lint::NETWORK_POLICY]);
        let ingress_nginx = policy(
            "[{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}}]",
        );
        assert!(ids(&ingress_nginx, &nginx).is_empty());
        assert_eq!(ids(&ingress_nginx, &traefik), [crate::lint::NETWORK_POLICY]);
        // Every namespace, an address block, or only the policy's own namespace.
        assert!(ids(&policy("[{namespaceSelector: {}}]"), &traefik).is_empty());
        assert!(ids(&policy("[{ipBlock: {cidr: 192.168.1.0/24}}]"), &traefik).is_empty());
        assert_eq!(
            ids(&policy("[{podSelector: {}}]"), &traefik),
            [crate::lint::NETWORK_POLICY]
        );
    }
}
