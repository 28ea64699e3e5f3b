//! `labctl verify`: does the deployed lab work end to end? Argo CD state, storage, training,
//! serving, networking, then what a LAN client sees (DNS, HTTP).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};

use super::preflight::{check, evaluate_deployment_available, gates};
use super::{Check, CheckError, Outcome, Severity, VERIFICATION, fetch};
use crate::config::LabConfig;
use crate::context::Context;
use crate::k8s::names::{self, labels_text};
use crate::k8s::placement::{self, node_selector_value};
use crate::k8s::service;
use crate::k8s::workload::{cron_job_pod_spec, deployment_pod_spec};

macro_rules! vcheck {
    ($id:literal, $cat:literal, $title:literal, $sev:expr, $api:expr, $f:path) => {{
        let mut c = check!($id, $cat, $title, false, $sev, $api, $f);
        c.runbook = VERIFICATION;
        c
    }};
}

/// The verify catalogue, in output order.
pub fn catalogue() -> Vec<Check> {
    let mut checks = gates(VERIFICATION).to_vec();
    checks.extend([
        vcheck!(
            "argocd-app-healthy",
            "argocd",
            "Argo CD Application is Synced and Healthy",
            Severity::Error,
            true,
            argocd_app_healthy
        ),
        vcheck!(
            "pvc-bound",
            "storage",
            "model PVC is Bound",
            Severity::Error,
            true,
            pvc_bound
        ),
        vcheck!(
            "pv-node-affinity",
            "storage",
            "the volume's node is the node both workloads are pinned to",
            Severity::Error,
            true,
            pv_node_affinity
        ),
        vcheck!(
            "trainer-cronjob-active",
            "training",
            "trainer CronJob exists and is not suspended",
            Severity::Error,
            true,
            trainer_cronjob_active
        ),
        vcheck!(
            "trainer-last-job-succeeded",
            "training",
            "the last training Job succeeded recently",
            Severity::Error,
            true,
            trainer_last_job_succeeded
        ),
        vcheck!(
            "inference-available",
            "serving",
            "inference Deployment is available",
            Severity::Error,
            true,
            inference_available
        ),
        vcheck!(
            "inference-pods-pinned",
            "serving",
            "inference pods run on the pinned node without restarting",
            Severity::Error,
            true,
            inference_pods_pinned
        ),
        vcheck!(
            "service-selects-pods",
            "networking",
            "Service selects the inference pods and its target port exists",
            Severity::Error,
            true,
            service_selects_pods
        ),
        vcheck!(
            "endpoints-ready",
            "networking",
            "the Service has ready endpoints",
            Severity::Error,
            true,
            endpoints_ready
        ),
        vcheck!(
            "ingress-routes-host",
            "networking",
            "Ingress routes the host to the Service and has an address",
            Severity::Error,
            true,
            ingress_routes_host
        ),
        vcheck!(
            "dns-resolves-host",
            "data-plane",
            "Pi-hole resolves the host to the ingress address",
            Severity::Error,
            false,
            super::dataplane::dns_resolves_host
        ),
        vcheck!(
            "http-healthz",
            "data-plane",
            "GET /healthz through the ingress answers 200",
            Severity::Error,
            false,
            super::dataplane::http_healthz
        ),
        vcheck!(
            "model-ready",
            "data-plane",
            "the model server reports a loaded model version",
            Severity::Error,
            false,
            super::dataplane::model_ready
        ),
    ]);
    checks
}

// ---------------------------------------------------------------------------------------------
// argocd-app-healthy

/// The part of an Argo CD Application's status we judge (argoproj.io/v1alpha1).
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStatus {
    #[serde(default)]
    pub sync: Option<AppStatusField>,
    #[serde(default)]
    pub health: Option<AppStatusField>,
    #[serde(default)]
    pub conditions: Vec<AppCondition>,
    #[serde(default)]
    pub resources: Vec<AppResource>,
    #[serde(default)]
    pub operation_state: Option<OperationState>,
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct AppStatusField {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct AppCondition {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct AppResource {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub health: Option<AppStatusField>,
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct OperationState {
    #[serde(default)]
    pub phase: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

pub fn evaluate_application(app: Option<&ApplicationStatus>, name: &str) -> Outcome {
    let Some(app) = app else {
        return Outcome::fail(format!("Application {name} not found"));
    };
    let field = |f: &Option<AppStatusField>| {
        f.as_ref()
            .and_then(|s| s.status.clone())
            .unwrap_or_else(|| "Unknown".into())
    };
    let (sync, health) = (field(&app.sync), field(&app.health));
    if sync == "Synced" && health == "Healthy" {
        return Outcome::pass(format!("{name}: Synced, Healthy"));
    }
    let mut evidence = Vec::new();
    for r in &app.resources {
        let h = r.health.as_ref().and_then(|h| h.status.as_deref());
        let s = r.status.as_deref();
        let unhealthy = h.is_some_and(|h| h != "Healthy");
        let unsynced = s.is_some_and(|s| s != "Synced");
        if unhealthy || unsynced {
            let msg = r
                .health
                .as_ref()
                .and_then(|h| h.message.as_deref())
                .unwrap_or("");
            evidence.push(
                format!(
                    "{}/{}: {} {} {msg}",
                    r.kind,
                    r.name,
                    s.unwrap_or("-"),
                    h.unwrap_or("-")
                )
                .trim_end()
                .to_owned(),
            );
        }
    }
    for c in &app.conditions {
        evidence.push(format!(
            "condition {}: {}",
            c.type_,
            c.message.as_deref().unwrap_or("")
        ));
    }
    if let Some(op) = &app.operation_state
        && matches!(op.phase.as_deref(), Some("Failed" | "Error"))
    {
        evidence.push(format!(
            "last sync {}: {}",
            op.phase.as_deref().unwrap_or(""),
            op.message.as_deref().unwrap_or("")
        ));
    }
    Outcome::fail(format!("{name}: {sync}, {health}")).with_all(evidence)
}

fn application_resource() -> ApiResource {
    ApiResource {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Application".into(),
        plural: "applications".into(),
    }
}

async fn argocd_app_healthy(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let c = &ctx.config;
    let api: Api<DynamicObject> =
        Api::namespaced_with(client, &c.argocd_namespace, &application_resource());
    let app = api.get_opt(&c.argocd_app).await.map_err(|e| {
        fetch::classify(
            e,
            "get",
            "applications.argoproj.io",
            Some(&c.argocd_namespace),
        )
    })?;
    let status = app.map(|a| {
        a.data
            .get("status")
            .cloned()
            .and_then(|s| serde_json::from_value::<ApplicationStatus>(s).ok())
            .unwrap_or_default()
    });
    Ok(evaluate_application(status.as_ref(), &c.argocd_app))
}

// ---------------------------------------------------------------------------------------------
// pvc-bound, pv-node-affinity

pub fn evaluate_pvc(pvc: Option<&PersistentVolumeClaim>, name: &str) -> Outcome {
    let Some(pvc) = pvc else {
        return Outcome::fail(format!("PVC {name} not found"));
    };
    let phase = pvc
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Unknown");
    let volume = pvc.spec.as_ref().and_then(|s| s.volume_name.as_deref());
    let selected = pvc
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("volume.kubernetes.io/selected-node"));
    match (phase, volume) {
        ("Bound", Some(v)) => Outcome::pass(format!("{name} bound to {v}")),
        _ => {
            let mut o = Outcome::fail(format!("PVC {name} is {phase}"));
            o = match selected {
                Some(node) => o.with(format!("selected node {node}: the provisioner has not created the volume")),
                None => o.with("no consumer scheduled yet (WaitForFirstConsumer): is the trainer or inference pod Pending?"),
            };
            o
        }
    }
}

async fn pvc_bound(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let c = &ctx.config;
    let pvc: Option<PersistentVolumeClaim> =
        fetch::get_namespaced(&client, &c.namespace, &c.pvc).await?;
    Ok(evaluate_pvc(pvc.as_ref(), &c.pvc))
}

/// Whether the volume is on exactly one node and both workloads are pinned there. The volume's
/// node is every node its node affinity matches ([`placement::volume_nodes`]); a pin `key=value`
/// is there when that node carries the label.
pub fn evaluate_pv_affinity(
    pv: Option<&PersistentVolume>,
    nodes: &[Node],
    deployment_pin: Option<&str>,
    cronjob_pin: Option<&str>,
    key: &str,
) -> Outcome {
    let Some(pv) = pv else {
        return Outcome::fail("the PVC has no PersistentVolume yet");
    };
    let pv_name = pv.metadata.name.as_deref().unwrap_or("<pv>");
    let nodes: Vec<&Node> = nodes.iter().collect();
    // A volume without node affinity is not node-local: it is on no one node.
    let held = match placement::pv_affinity(pv) {
        Some(_) => placement::volume_nodes(pv, &nodes),
        None => Vec::new(),
    };
    let [node] = held.as_slice() else {
        let names: Vec<&str> = held.iter().map(|n| names::name(&n.metadata)).collect();
        return Outcome::fail(format!(
            "PV {pv_name} is not restricted to exactly one node ({names:?})"
        ));
    };
    let node_label = node.metadata.labels.as_ref().and_then(|l| l.get(key));
    let node = names::name(&node.metadata);
    let mut problems = Vec::new();
    for (what, pin) in [("Deployment", deployment_pin), ("CronJob", cronjob_pin)] {
        match pin {
            None => problems.push(format!("{what} has no nodeSelector {key}")),
            Some(p) if node_label.map(String::as_str) != Some(p) => {
                problems.push(format!("{what} is pinned to {p}, the volume is on {node}"))
            }
            Some(_) => {}
        }
    }
    if problems.is_empty() {
        Outcome::pass(format!(
            "PV {pv_name} and both workloads are on node {node}"
        ))
    } else {
        Outcome::fail(format!(
            "PV {pv_name} is on node {node} but the workloads are not pinned there"
        ))
        .with_all(problems)
    }
}

async fn pv_node_affinity(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let c = &ctx.config;
    let (pvc, deploy, cj) = futures::try_join!(
        fetch::get_namespaced::<PersistentVolumeClaim>(&client, &c.namespace, &c.pvc),
        fetch::get_namespaced::<Deployment>(&client, &c.namespace, &c.deployment),
        fetch::get_namespaced::<CronJob>(&client, &c.namespace, &c.cronjob),
    )?;
    let volume = pvc
        .as_ref()
        .and_then(|p| p.spec.as_ref())
        .and_then(|s| s.volume_name.clone());
    let pv: Option<PersistentVolume> = match volume {
        Some(v) => fetch::get_cluster(&client, &v).await?,
        None => None,
    };
    let nodes: Vec<Node> = fetch::list_cluster(&client, &ListParams::default()).await?;
    let key = &c.pin_label_key;
    Ok(evaluate_pv_affinity(
        pv.as_ref(),
        &nodes,
        node_selector_value(deploy.as_ref().and_then(deployment_pod_spec), key),
        node_selector_value(cj.as_ref().and_then(cron_job_pod_spec), key),
        key,
    ))
}

// ---------------------------------------------------------------------------------------------
// trainer-cronjob-active, trainer-last-job-succeeded

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

async fn trainer_cronjob_active(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let c = &ctx.config;
    let cj: Option<CronJob> = fetch::get_namespaced(&client, &c.namespace, &c.cronjob).await?;
    Ok(evaluate_cronjob(cj.as_ref(), &c.cronjob))
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

/// A training Job: created by the CronJob, or carrying its `app.kubernetes.io/name` (the
/// manifests' one-off `trainer-first-model` Job, which publishes the first model at install).
fn is_training_job(job: &Job, cronjob: &str) -> bool {
    let owned = job
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "CronJob" && o.name == cronjob);
    let labelled = job
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("app.kubernetes.io/name"))
        .is_some_and(|n| n == cronjob);
    owned || labelled
}

fn job_condition<'a>(
    job: &'a Job,
    type_: &str,
) -> Option<&'a k8s_openapi::api::batch::v1::JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
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
    let mut own: Vec<&Job> = jobs.iter().filter(|j| is_training_job(j, name)).collect();
    own.sort_by_key(|j| job_time(j));
    let Some(last) = own.last() else {
        return Outcome::warn(format!("CronJob {name} has not run a Job yet")).with(format!(
            "trigger one: kubectl -n <ns> create job --from=cronjob/{name} {name}-manual"
        ));
    };
    let job_name = last.metadata.name.as_deref().unwrap_or("<job>");
    if let Some(c) = job_condition(last, "Failed") {
        return Outcome::fail(format!("the last Job {job_name} failed")).with(format!(
            "{}: {}",
            c.reason.as_deref().unwrap_or("Failed"),
            c.message.as_deref().unwrap_or("")
        ));
    }
    let succeeded = job_condition(last, "Complete").is_some();
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

async fn trainer_last_job_succeeded(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let c = &ctx.config;
    let lp = ListParams::default();
    let (cj, jobs) = futures::try_join!(
        fetch::get_namespaced::<CronJob>(&client, &c.namespace, &c.cronjob),
        fetch::list_namespaced::<Job>(&client, &c.namespace, &lp),
    )?;
    Ok(evaluate_last_job(
        cj.as_ref(),
        &jobs,
        &c.cronjob,
        Timestamp::now(),
    ))
}

// ---------------------------------------------------------------------------------------------
// inference-available, inference-pods-pinned

async fn inference_available(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let c = &ctx.config;
    let d: Option<Deployment> = fetch::get_namespaced(&client, &c.namespace, &c.deployment).await?;
    Ok(evaluate_deployment_available(
        d.as_ref(),
        &format!("Deployment {}", c.deployment),
    ))
}

/// Restarts above this count mean the container is not stable.
pub const MAX_RESTARTS: i32 = 3;

pub fn evaluate_pods(pods: &[Pod], pinned_node: Option<&str>) -> Outcome {
    if pods.is_empty() {
        return Outcome::fail("no inference pods");
    }
    let mut problems = Vec::new();
    for pod in pods {
        let name = pod.metadata.name.as_deref().unwrap_or("<pod>");
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Unknown");
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
        if phase != "Running" {
            problems.push(format!("pod {name} is {phase}"));
        }
        if let (Some(want), Some(got)) = (pinned_node, node)
            && want != got
        {
            problems.push(format!(
                "pod {name} runs on {got}, not on the pinned node {want}"
            ));
        }
        for cs in status
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
        {
            let waiting = cs
                .state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref());
            if waiting == Some("CrashLoopBackOff") || cs.restart_count > MAX_RESTARTS {
                problems.push(format!(
                    "pod {name} container {} restarted {} times{}",
                    cs.name,
                    cs.restart_count,
                    waiting.map(|w| format!(" ({w})")).unwrap_or_default()
                ));
            }
        }
    }
    if problems.is_empty() {
        let on = pinned_node.map(|n| format!(" on {n}")).unwrap_or_default();
        Outcome::pass(format!("{} pod(s) Running{on}", pods.len()))
    } else {
        Outcome::fail(format!(
            "{} problem(s) with {} inference pod(s)",
            problems.len(),
            pods.len()
        ))
        .with_all(problems)
    }
}

async fn inference_pods_pinned(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let c = &ctx.config;
    let Some(d) = fetch::get_namespaced::<Deployment>(&client, &c.namespace, &c.deployment).await?
    else {
        return Ok(Outcome::fail(format!(
            "Deployment {} not found",
            c.deployment
        )));
    };
    let labels = d
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    let pods: Vec<Pod> = fetch::list_namespaced(
        &client,
        &c.namespace,
        &ListParams::default().labels(&labels_text(&labels)),
    )
    .await?;
    // The pin: what the lab description says, else the Deployment's own nodeSelector.
    let pinned = c
        .pin_label_value
        .as_deref()
        .or_else(|| node_selector_value(deployment_pod_spec(&d), &c.pin_label_key));
    let comparable = c.pin_label_key == "kubernetes.io/hostname";
    Ok(evaluate_pods(&pods, pinned.filter(|_| comparable)))
}

// ---------------------------------------------------------------------------------------------
// service-selects-pods, endpoints-ready

pub fn evaluate_service(svc: Option<&Service>, d: Option<&Deployment>, name: &str) -> Outcome {
    let Some(svc) = svc else {
        return Outcome::fail(format!("Service {name} not found"));
    };
    let Some(d) = d else {
        return Outcome::fail("the inference Deployment is not found");
    };
    let spec = svc.spec.clone().unwrap_or_default();
    let template = d.spec.as_ref().map(|s| &s.template);
    let labels = template
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let selector = spec.selector.clone().unwrap_or_default();
    let mut problems = Vec::new();
    if selector.is_empty() {
        problems.push("the Service has no selector".to_owned());
    }
    for (k, v) in &selector {
        if labels.get(k) != Some(v) {
            problems.push(format!(
                "selector {k}={v} does not match the pod template labels {}",
                labels_text(&labels)
            ));
        }
    }
    let containers = template
        .and_then(|t| t.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let declared = service::declared_ports(containers);
    for sp in spec.ports.iter().flatten() {
        if service::resolve_target_port(sp, &declared).is_none() {
            problems.push(format!(
                "targetPort {} of port {} is not a container port of the pods",
                service::target_text(&service::target_port(sp)),
                sp.port
            ));
        }
    }
    if problems.is_empty() {
        Outcome::pass(format!(
            "selector {} matches; target ports exist",
            labels_text(&selector)
        ))
    } else {
        Outcome::fail(format!("Service {name} does not reach the inference pods"))
            .with_all(problems)
    }
}

async fn service_selects_pods(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let c = &ctx.config;
    let (svc, d) = futures::try_join!(
        fetch::get_namespaced::<Service>(&client, &c.namespace, &c.service),
        fetch::get_namespaced::<Deployment>(&client, &c.namespace, &c.deployment),
    )?;
    Ok(evaluate_service(svc.as_ref(), d.as_ref(), &c.service))
}

pub fn evaluate_endpoints(slices: &[EndpointSlice], service: &str) -> Outcome {
    let (mut ready, mut total) = (0, 0);
    for s in slices {
        for e in &s.endpoints {
            total += 1;
            // An unset `ready` means ready (discovery.k8s.io/v1 API docs).
            if e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true) {
                ready += 1;
            }
        }
    }
    if ready > 0 {
        Outcome::pass(format!("{ready} of {total} endpoints ready"))
    } else {
        let message = if total == 0 {
            format!("Service {service} has no endpoints: its selector matches no pod")
        } else {
            format!("Service {service} has no ready endpoints ({total} not ready)")
        };
        Outcome::fail(message).with("the ingress answers 503 for the host until a pod is Ready")
    }
}

async fn endpoints_ready(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let c = &ctx.config;
    let lp = ListParams::default().labels(&format!("kubernetes.io/service-name={}", c.service));
    let slices: Vec<EndpointSlice> = fetch::list_namespaced(&client, &c.namespace, &lp).await?;
    Ok(evaluate_endpoints(&slices, &c.service))
}

// ---------------------------------------------------------------------------------------------
// ingress-routes-host

pub fn evaluate_ingress(
    ingress: Option<&Ingress>,
    svc: Option<&Service>,
    config: &LabConfig,
) -> Outcome {
    let name = &config.ingress;
    let Some(ing) = ingress else {
        return Outcome::fail(format!("Ingress {name} not found"));
    };
    let spec = ing.spec.clone().unwrap_or_default();
    let mut problems = Vec::new();
    let class = spec.ingress_class_name.clone().or_else(|| {
        ing.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("kubernetes.io/ingress.class").cloned())
    });
    if class.as_deref() != Some(config.ingress_class.as_str()) {
        problems.push(format!(
            "ingressClassName is {class:?}, not {:?}",
            config.ingress_class
        ));
    }
    let service_ports: Vec<(i32, Option<String>)> = svc
        .and_then(|s| s.spec.as_ref())
        .map(|s| {
            s.ports
                .iter()
                .flatten()
                .map(|p| (p.port, p.name.clone()))
                .collect()
        })
        .unwrap_or_default();
    let rules: Vec<_> = spec
        .rules
        .iter()
        .flatten()
        .filter(|r| r.host.as_deref() == Some(config.host.as_str()))
        .collect();
    if rules.is_empty() {
        let hosts: Vec<&str> = spec
            .rules
            .iter()
            .flatten()
            .filter_map(|r| r.host.as_deref())
            .collect();
        let routed = if hosts.is_empty() {
            "none".to_owned()
        } else {
            hosts.join(", ")
        };
        problems.push(format!(
            "no rule for host {} (hosts routed: {routed})",
            config.host
        ));
    }
    let backends: Vec<_> = rules
        .iter()
        .flat_map(|r| r.http.iter().flat_map(|h| h.paths.iter()))
        .filter_map(|p| p.backend.service.as_ref())
        .collect();
    if !rules.is_empty() {
        let ok = backends.iter().any(|b| {
            b.name == config.service
                && b.port.as_ref().is_some_and(|port| {
                    service_ports.iter().any(|(n, pname)| {
                        port.number == Some(*n) || (port.name.is_some() && port.name == *pname)
                    })
                })
        });
        if !ok {
            let seen: Vec<String> = backends
                .iter()
                .map(|b| {
                    let port = b.port.as_ref();
                    let p = port.and_then(|p| p.number.map(|n| n.to_string()).or(p.name.clone()));
                    format!("{}:{}", b.name, p.unwrap_or_default())
                })
                .collect();
            problems.push(format!(
                "host {} is not routed to a port of Service {} (backends: {})",
                config.host,
                config.service,
                if seen.is_empty() {
                    "none".to_owned()
                } else {
                    seen.join(", ")
                }
            ));
        }
    }
    let address = super::dataplane::ingress_address_from(Some(ing), None);
    if address.is_none() {
        problems.push(
            "status.loadBalancer is empty: no address published (Argo CD keeps it Progressing)"
                .to_owned(),
        );
    }
    if problems.is_empty() {
        Outcome::pass(format!(
            "{} → {}, address {}",
            config.host,
            config.service,
            address.map(|a| a.to_string()).unwrap_or_default()
        ))
    } else {
        Outcome::fail(format!(
            "Ingress {name} does not route {} correctly",
            config.host
        ))
        .with_all(problems)
    }
}

async fn ingress_routes_host(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let c = &ctx.config;
    let (ing, svc) = futures::try_join!(
        fetch::get_namespaced::<Ingress>(&client, &c.namespace, &c.ingress),
        fetch::get_namespaced::<Service>(&client, &c.namespace, &c.service),
    )?;
    Ok(evaluate_ingress(ing.as_ref(), svc.as_ref(), c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use k8s_openapi::api::apps::v1::DeploymentSpec;
    use k8s_openapi::api::batch::v1::{
        CronJobSpec, CronJobStatus, JobCondition, JobSpec, JobStatus, JobTemplateSpec,
    };
    use k8s_openapi::api::core::v1::PodSpec;
    use k8s_openapi::api::core::v1::{
        Container, ContainerPort, ContainerState, ContainerStateWaiting, ContainerStatus,
        NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PersistentVolumeClaimSpec,
        PersistentVolumeClaimStatus, PersistentVolumeSpec, PodStatus, PodTemplateSpec, ServicePort,
        ServiceSpec, VolumeNodeAffinity,
    };
    use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions};
    use k8s_openapi::api::networking::v1::{
        HTTPIngressPath, HTTPIngressRuleValue, IngressBackend, IngressLoadBalancerIngress,
        IngressLoadBalancerStatus, IngressRule, IngressServiceBackend, IngressSpec, IngressStatus,
        ServiceBackendPort,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        LabelSelector, ObjectMeta, OwnerReference, Time,
    };
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    use std::collections::BTreeMap;

    fn meta(name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        }
    }
    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
    const HOST: &str = "kubernetes.io/hostname";

    fn app(sync: &str, health: &str) -> ApplicationStatus {
        serde_json::from_value(serde_json::json!({
            "sync": {"status": sync},
            "health": {"status": health},
            "resources": [
                {"kind": "PersistentVolumeClaim", "name": "models", "status": "Synced",
                 "health": {"status": "Progressing", "message": "waiting for first consumer"}},
                {"kind": "Service", "name": "inference", "status": "Synced", "health": {"status": "Healthy"}}
            ],
            "conditions": [{"type": "SyncError", "message": "one or more objects failed to apply"}]
        }))
        .unwrap()
    }

    #[test]
    fn synced_healthy_application_passes() {
        assert_eq!(
            evaluate_application(Some(&app("Synced", "Healthy")), "mlops-lab").status,
            Status::Pass
        );
    }

    #[test]
    fn unhealthy_application_fails_naming_resource_and_condition() {
        let o = evaluate_application(Some(&app("Synced", "Progressing")), "mlops-lab");
        assert_eq!(o.status, Status::Fail);
        assert_eq!(o.message, "mlops-lab: Synced, Progressing");
        assert!(
            o.evidence
                .iter()
                .any(|e| e.contains("PersistentVolumeClaim/models")
                    && e.contains("waiting for first consumer"))
        );
        assert!(!o.evidence.iter().any(|e| e.contains("Service/inference")));
        assert!(o.evidence.iter().any(|e| e.contains("SyncError")));
        assert_eq!(evaluate_application(None, "mlops-lab").status, Status::Fail);
    }

    fn pvc(phase: &str, volume: Option<&str>) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            metadata: meta("models"),
            spec: Some(PersistentVolumeClaimSpec {
                volume_name: volume.map(Into::into),
                ..Default::default()
            }),
            status: Some(PersistentVolumeClaimStatus {
                phase: Some(phase.into()),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn bound_pvc_passes() {
        assert_eq!(
            evaluate_pvc(Some(&pvc("Bound", Some("pvc-1"))), "models").status,
            Status::Pass
        );
    }

    #[test]
    fn pending_or_missing_pvc_fails() {
        let o = evaluate_pvc(Some(&pvc("Pending", None)), "models");
        assert_eq!(o.status, Status::Fail);
        assert!(o.evidence[0].contains("WaitForFirstConsumer"));
        assert_eq!(evaluate_pvc(None, "models").status, Status::Fail);
    }

    fn pv(node: &str) -> PersistentVolume {
        PersistentVolume {
            metadata: meta("pvc-1"),
            spec: Some(PersistentVolumeSpec {
                node_affinity: Some(VolumeNodeAffinity {
                    required: Some(NodeSelector {
                        node_selector_terms: vec![NodeSelectorTerm {
                            match_expressions: Some(vec![NodeSelectorRequirement {
                                key: HOST.into(),
                                operator: "In".into(),
                                values: Some(vec![node.into()]),
                            }]),
                            ..Default::default()
                        }],
                    }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn nodes() -> [Node; 2] {
        [
            crate::k8s::nodes::tests::node("n1", "n1"),
            crate::k8s::nodes::tests::node("n2", "n2"),
        ]
    }

    #[test]
    fn pv_on_the_pinned_node_passes() {
        assert_eq!(
            evaluate_pv_affinity(Some(&pv("n1")), &nodes(), Some("n1"), Some("n1"), HOST).status,
            Status::Pass
        );
    }

    #[test]
    fn pv_elsewhere_or_unpinned_workload_fails() {
        let o = evaluate_pv_affinity(Some(&pv("n1")), &nodes(), Some("n2"), Some("n1"), HOST);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.evidence,
            ["Deployment is pinned to n2, the volume is on n1"]
        );
        let o = evaluate_pv_affinity(Some(&pv("n1")), &nodes(), Some("n1"), None, HOST);
        assert!(o.evidence[0].contains("CronJob has no nodeSelector"));
        assert_eq!(
            evaluate_pv_affinity(None, &nodes(), Some("n1"), Some("n1"), HOST).status,
            Status::Fail
        );
    }

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
                ..Default::default()
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

    fn pod(name: &str, phase: &str, node: &str, restarts: i32, waiting: Option<&str>) -> Pod {
        Pod {
            metadata: meta(name),
            spec: Some(PodSpec {
                node_name: Some(node.into()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                container_statuses: Some(vec![ContainerStatus {
                    name: "inference".into(),
                    restart_count: restarts,
                    state: waiting.map(|w| ContainerState {
                        waiting: Some(ContainerStateWaiting {
                            reason: Some(w.into()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn running_pods_on_the_pinned_node_pass() {
        assert_eq!(
            evaluate_pods(&[pod("p1", "Running", "n1", 1, None)], Some("n1")).status,
            Status::Pass
        );
    }

    #[test]
    fn misplaced_crashing_or_missing_pods_fail() {
        let o = evaluate_pods(&[pod("p1", "Running", "n2", 0, None)], Some("n1"));
        assert_eq!(o.evidence, ["pod p1 runs on n2, not on the pinned node n1"]);
        let o = evaluate_pods(
            &[pod("p1", "Running", "n1", 7, Some("CrashLoopBackOff"))],
            Some("n1"),
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o.evidence[0].contains("restarted 7 times (CrashLoopBackOff)"));
        assert_eq!(
            evaluate_pods(&[pod("p1", "Pending", "n1", 0, None)], None).status,
            Status::Fail
        );
        assert_eq!(evaluate_pods(&[], None).status, Status::Fail);
    }

    fn inference_deployment(pod_labels: &[(&str, &str)], port_name: &str, port: i32) -> Deployment {
        Deployment {
            metadata: meta("inference"),
            spec: Some(DeploymentSpec {
                selector: LabelSelector {
                    match_labels: Some(labels(pod_labels)),
                    ..Default::default()
                },
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(labels(pod_labels)),
                        ..Default::default()
                    }),
                    spec: Some(PodSpec {
                        node_selector: Some(labels(&[(HOST, "n1")])),
                        containers: vec![Container {
                            name: "inference".into(),
                            ports: Some(vec![ContainerPort {
                                name: Some(port_name.into()),
                                container_port: port,
                                ..Default::default()
                            }]),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                },
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn service(selector: &[(&str, &str)], target: IntOrString) -> Service {
        Service {
            metadata: meta("inference"),
            spec: Some(ServiceSpec {
                selector: Some(labels(selector)),
                ports: Some(vec![ServicePort {
                    name: Some("http".into()),
                    port: 80,
                    target_port: Some(target),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn matching_selector_and_target_port_pass() {
        let d = inference_deployment(&[("app", "inference")], "http", 8080);
        assert_eq!(
            node_selector_value(deployment_pod_spec(&d), HOST),
            Some("n1")
        );
        let by_name = service(&[("app", "inference")], IntOrString::String("http".into()));
        assert_eq!(
            evaluate_service(Some(&by_name), Some(&d), "inference").status,
            Status::Pass
        );
        let by_number = service(&[("app", "inference")], IntOrString::Int(8080));
        assert_eq!(
            evaluate_service(Some(&by_number), Some(&d), "inference").status,
            Status::Pass
        );
    }

    #[test]
    fn wrong_selector_or_target_port_fails() {
        let d = inference_deployment(&[("app", "inference")], "http", 8080);
        let o = evaluate_service(
            Some(&service(&[("app", "inferense")], IntOrString::Int(8080))),
            Some(&d),
            "inference",
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o.evidence[0].contains("selector app=inferense"));
        let o = evaluate_service(
            Some(&service(&[("app", "inference")], IntOrString::Int(9090))),
            Some(&d),
            "inference",
        );
        assert!(o.evidence[0].contains("targetPort 9090"));
        assert_eq!(
            evaluate_service(None, Some(&d), "inference").status,
            Status::Fail
        );
    }

    fn slice(ready: &[Option<bool>]) -> EndpointSlice {
        EndpointSlice {
            endpoints: ready
                .iter()
                .map(|r| Endpoint {
                    addresses: vec!["10.42.0.7".into()],
                    conditions: Some(EndpointConditions {
                        ready: *r,
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn ready_endpoints_pass() {
        assert_eq!(
            evaluate_endpoints(&[slice(&[Some(true), Some(false)])], "inference").status,
            Status::Pass
        );
        // Unset `ready` counts as ready.
        assert_eq!(
            evaluate_endpoints(&[slice(&[None])], "inference").status,
            Status::Pass
        );
    }

    #[test]
    fn no_ready_endpoints_fail() {
        assert_eq!(
            evaluate_endpoints(&[slice(&[Some(false)])], "inference").status,
            Status::Fail
        );
        let o = evaluate_endpoints(&[], "inference");
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("matches no pod"), "{}", o.message);
    }

    fn ingress(class: &str, host: &str, port: i32, address: Option<&str>) -> Ingress {
        Ingress {
            metadata: meta("inference"),
            spec: Some(IngressSpec {
                ingress_class_name: Some(class.into()),
                rules: Some(vec![IngressRule {
                    host: Some(host.into()),
                    http: Some(HTTPIngressRuleValue {
                        paths: vec![HTTPIngressPath {
                            path: Some("/".into()),
                            path_type: "Prefix".into(),
                            backend: IngressBackend {
                                service: Some(IngressServiceBackend {
                                    name: "inference".into(),
                                    port: Some(ServiceBackendPort {
                                        number: Some(port),
                                        ..Default::default()
                                    }),
                                }),
                                ..Default::default()
                            },
                        }],
                    }),
                }]),
                ..Default::default()
            }),
            status: Some(IngressStatus {
                load_balancer: Some(IngressLoadBalancerStatus {
                    ingress: address.map(|a| {
                        vec![IngressLoadBalancerIngress {
                            ip: Some(a.into()),
                            ..Default::default()
                        }]
                    }),
                }),
            }),
        }
    }

    #[test]
    fn routed_ingress_with_address_passes() {
        let svc = service(&[("app", "inference")], IntOrString::Int(8080));
        let o = evaluate_ingress(
            Some(&ingress("nginx", "model.homelab", 80, Some("192.168.1.50"))),
            Some(&svc),
            &LabConfig::default(),
        );
        assert_eq!(o.status, Status::Pass, "{o:?}");
    }

    #[test]
    fn wrong_class_host_port_or_no_address_fails() {
        let svc = service(&[("app", "inference")], IntOrString::Int(8080));
        let config = LabConfig::default();
        let o = evaluate_ingress(
            Some(&ingress(
                "traefik",
                "model.homelab",
                80,
                Some("192.168.1.50"),
            )),
            Some(&svc),
            &config,
        );
        assert!(o.evidence[0].contains("ingressClassName"));
        let o = evaluate_ingress(
            Some(&ingress("nginx", "model.lan", 80, Some("192.168.1.50"))),
            Some(&svc),
            &config,
        );
        assert_eq!(
            o.evidence[0],
            "no rule for host model.homelab (hosts routed: model.lan)"
        );
        let o = evaluate_ingress(
            Some(&ingress(
                "nginx",
                "model.homelab",
                8080,
                Some("192.168.1.50"),
            )),
            Some(&svc),
            &config,
        );
        assert!(o.evidence[0].contains("inference:8080"), "{o:?}");
        let o = evaluate_ingress(
            Some(&ingress("nginx", "model.homelab", 80, None)),
            Some(&svc),
            &config,
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o.evidence[0].contains("no address"));
    }
}
