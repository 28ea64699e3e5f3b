//! `labctl preflight`: is this cluster ready to receive the lab? Runs before deploying, so it
//! looks only at what the lab depends on (API, permissions, nodes, storage, ingress, Argo CD,
//! Pi-hole) and at whether the namespace is free for us.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolumeClaim, Service, Toleration};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::version::Info;
use kube::api::{Api, ListParams, PostParams};

use super::permissions::{PERMISSIONS, Permission, Scope};
use super::{Check, CheckError, Outcome, PREREQUISITES, Severity, fetch};
use crate::config::LabConfig;
use crate::context::Context;
use crate::k8s::placement::node_selector_value;
use crate::k8s::workload::deployment_pod_spec;

/// Oldest Kubernetes minor version the lab supports (k8s-openapi is built for it).
pub const MIN_MINOR: u32 = 33;

macro_rules! check {
    ($id:literal, $cat:literal, $title:literal, $fatal:expr, $sev:expr, $api:expr, $f:path) => {
        Check {
            id: $id,
            category: $cat,
            title: $title,
            runbook: $crate::checks::PREREQUISITES,
            fatal: $fatal,
            severity: $sev,
            needs_api: $api,
            run: |ctx| futures::FutureExt::boxed($f(ctx)),
        }
    };
}
pub(crate) use check;

/// The gate checks shared by `preflight` and `verify`.
pub fn gates(runbook: &'static str) -> [Check; 2] {
    let mut gates = [
        check!(
            "api-reachable",
            "kubernetes-api",
            "can reach the Kubernetes API (supported version)",
            true,
            Severity::Error,
            true,
            api_reachable
        ),
        check!(
            "credentials-accepted",
            "kubernetes-api",
            "credentials are accepted",
            true,
            Severity::Error,
            true,
            credentials_accepted
        ),
    ];
    for g in &mut gates {
        g.runbook = runbook;
    }
    gates
}

/// The preflight catalogue, in output order.
pub fn catalogue() -> Vec<Check> {
    let mut checks = gates(PREREQUISITES).to_vec();
    checks.extend([
        check!(
            "permissions",
            "kubernetes-api",
            "labctl has the read permissions it needs",
            false,
            Severity::Error,
            true,
            permissions
        ),
        check!(
            "nodes-ready",
            "nodes",
            "nodes are Ready",
            false,
            Severity::Error,
            true,
            nodes_ready
        ),
        check!(
            "pin-node-schedulable",
            "nodes",
            "the pin node exists, is schedulable, untainted and labelled",
            false,
            Severity::Error,
            true,
            pin_node_schedulable
        ),
        check!(
            "storageclass-local-path",
            "storage",
            "StorageClass exists and binds WaitForFirstConsumer",
            false,
            Severity::Error,
            true,
            storageclass_local_path
        ),
        check!(
            "local-path-provisioner-available",
            "storage",
            "local-path provisioner is available",
            false,
            Severity::Error,
            true,
            local_path_provisioner_available
        ),
        check!(
            "ingress-nginx-available",
            "ingress",
            "ingress-nginx controller is available",
            false,
            Severity::Error,
            true,
            ingress_nginx_available
        ),
        check!(
            "ingressclass-nginx",
            "ingress",
            "IngressClass exists",
            false,
            Severity::Error,
            true,
            ingressclass_nginx
        ),
        check!(
            "ingress-address-published",
            "ingress",
            "the ingress controller publishes an external address",
            false,
            Severity::Error,
            true,
            ingress_address_published
        ),
        check!(
            "argocd-installed",
            "argocd",
            "Argo CD is installed (CRD and application controller)",
            false,
            Severity::Error,
            true,
            argocd_installed
        ),
        check!(
            "pihole-dns-record",
            "dns",
            "Pi-hole answers and has a record for the host",
            false,
            Severity::Error,
            false,
            super::dataplane::pihole_dns_record
        ),
        check!(
            "namespace-isolation",
            "namespace",
            "the lab namespace is absent or holds only the lab",
            false,
            Severity::Warning,
            true,
            namespace_isolation
        ),
    ]);
    checks
}

// ---------------------------------------------------------------------------------------------
// api-reachable, credentials-accepted (gates)

/// Parses `"33"` or `"33+"` (some distributions append `+`).
fn minor_version(info: &Info) -> Option<u32> {
    info.minor.trim_end_matches('+').parse().ok()
}

pub fn evaluate_version(info: &Info) -> Outcome {
    let version = &info.git_version;
    match (info.major.as_str(), minor_version(info)) {
        ("1", Some(minor)) if minor >= MIN_MINOR => Outcome::pass(format!("Kubernetes {version}")),
        ("1", Some(_)) => Outcome::fail(format!(
            "Kubernetes {version} is older than the oldest supported version v1.{MIN_MINOR}"
        )),
        _ => Outcome::fail(format!("unrecognised Kubernetes version {version:?}")),
    }
}

async fn api_reachable(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let info = client
        .apiserver_version()
        .await
        .map_err(|e| CheckError::Api {
            action: "reach the API server (GET /version)".into(),
            source: e,
        })?;
    Ok(evaluate_version(&info))
}

pub fn evaluate_self_review(review: &SelfSubjectReview) -> Outcome {
    let user = review.status.as_ref().and_then(|s| s.user_info.as_ref());
    match user.and_then(|u| u.username.as_deref()) {
        Some(name) if !name.is_empty() && name != "system:anonymous" => {
            Outcome::pass(format!("authenticated as {name}"))
        }
        _ => Outcome::fail("the API server treats these credentials as anonymous"),
    }
}

async fn credentials_accepted(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let api: Api<SelfSubjectReview> = Api::all(client);
    match api
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
    {
        Ok(review) => Ok(evaluate_self_review(&review)),
        Err(kube::Error::Api(status)) if status.code == 401 => Ok(Outcome::fail(
            "the API server rejected the credentials (401 Unauthorized)",
        )
        .with("check the user of the kubeconfig context (expired token or certificate?)")),
        Err(e) => Err(fetch::classify(
            e,
            "create",
            "selfsubjectreviews.authentication.k8s.io",
            None,
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// permissions

/// Missing permissions, in kubectl's words.
pub fn evaluate_permissions(reviews: &[(String, bool)]) -> Outcome {
    let missing: Vec<&String> = reviews
        .iter()
        .filter(|(_, allowed)| !allowed)
        .map(|(p, _)| p)
        .collect();
    if missing.is_empty() {
        Outcome::pass(format!("all {} permissions granted", reviews.len()))
    } else {
        Outcome::fail(format!(
            "{} of {} permissions missing",
            missing.len(),
            reviews.len()
        ))
        .with_all(missing.into_iter().cloned())
        .with("apply manifests/rbac/ (ClusterRole labctl-read-only) and bind it to this user")
    }
}

fn review_for(
    perm: &Permission,
    verb: &str,
    config: &LabConfig,
) -> (String, SelfSubjectAccessReview) {
    let namespace = match perm.scope {
        Scope::Cluster => None,
        Scope::Lab => Some(config.namespace.clone()),
        Scope::ArgoCd => Some(config.argocd_namespace.clone()),
    };
    let what = format!(
        "cannot {}",
        fetch::action(verb, &perm.resource_name(), namespace.as_deref())
    );
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                group: Some(perm.group.to_owned()),
                resource: Some(perm.resource.to_owned()),
                verb: Some(verb.to_owned()),
                namespace,
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    (what, review)
}

async fn permissions(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let api: Api<SelfSubjectAccessReview> = Api::all(client);
    let reviews: Vec<_> = PERMISSIONS
        .iter()
        .flat_map(|p| p.verbs.iter().map(move |v| review_for(p, v, &ctx.config)))
        .collect();
    let answers = futures::future::join_all(reviews.iter().map(|(what, review)| {
        let api = api.clone();
        async move {
            let answer = api.create(&PostParams::default(), review).await;
            (what, answer)
        }
    }))
    .await;
    let mut results = Vec::with_capacity(answers.len());
    for (what, answer) in answers {
        let review = answer.map_err(|e| {
            fetch::classify(
                e,
                "create",
                "selfsubjectaccessreviews.authorization.k8s.io",
                None,
            )
        })?;
        let allowed = review.status.is_some_and(|s| s.allowed);
        results.push((what.clone(), allowed));
    }
    Ok(evaluate_permissions(&results))
}

// ---------------------------------------------------------------------------------------------
// nodes-ready, pin-node-schedulable

use crate::k8s::nodes::{is_ready as node_is_ready, node_name, unavailability};

pub fn evaluate_nodes_ready(nodes: &[Node]) -> Outcome {
    let not_ready: Vec<String> = nodes
        .iter()
        .filter(|n| !node_is_ready(n))
        .map(|n| node_name(n).to_owned())
        .collect();
    let ready = nodes.len() - not_ready.len();
    if nodes.is_empty() {
        Outcome::fail("the cluster has no nodes")
    } else if ready == 0 {
        Outcome::fail(format!("none of {} nodes is Ready", nodes.len())).with_all(not_ready)
    } else if !not_ready.is_empty() {
        Outcome::warn(format!("{ready} of {} nodes Ready", nodes.len())).with_all(
            not_ready
                .into_iter()
                .map(|n| format!("node {n} is not Ready")),
        )
    } else {
        Outcome::pass(format!("{ready} of {} nodes Ready", nodes.len()))
    }
}

/// Whether pods pinned by `key=value` (and tolerating `tolerations`) can be scheduled on the
/// pin node.
pub fn evaluate_pin_node(
    nodes: &[Node],
    key: &str,
    value: Option<&str>,
    tolerations: &[Toleration],
) -> Outcome {
    let label_of = |n: &Node| n.metadata.labels.as_ref().and_then(|l| l.get(key)).cloned();
    let node = match value {
        Some(v) => match nodes.iter().find(|n| label_of(n).as_deref() == Some(v)) {
            Some(n) => n,
            None => {
                let by_name = nodes.iter().any(|n| node_name(n) == v);
                return Outcome::fail(if by_name {
                    format!("node {v} exists but does not carry the pin label {key}={v}")
                } else {
                    format!("no node carries the pin label {key}={v}")
                })
                .with(format!(
                    "nodes: {}",
                    nodes.iter().map(node_name).collect::<Vec<_>>().join(", ")
                ));
            }
        },
        // Not configured: a single-node cluster has only one possible pin target.
        None => match nodes {
            [only] => only,
            _ => {
                return Outcome::fail(format!(
                    "pin_label_value is not set, no deployed Deployment names a node, and the cluster has {} nodes",
                    nodes.len()
                ))
                .with(
                    "set pin_label_value in labctl.toml to the node of your overlay's settings.yaml (`node`)",
                );
            }
        },
    };
    let name = node_name(node);
    let mut problems: Vec<String> = unavailability(node, tolerations)
        .iter()
        .map(|why| format!("node {name}: {why}"))
        .collect();
    if label_of(node).is_none() {
        problems.push(format!("node {name} lacks the pin label {key}"));
    }
    if problems.is_empty() {
        Outcome::pass(format!(
            "node {name} ({key}={})",
            label_of(node).unwrap_or_default()
        ))
    } else {
        Outcome::fail(format!(
            "pods pinned to node {name} cannot be scheduled there"
        ))
        .with_all(problems)
    }
}

async fn nodes_ready(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let nodes: Vec<Node> = fetch::list_cluster(&client, &ListParams::default()).await?;
    Ok(evaluate_nodes_ready(&nodes))
}

async fn pin_node_schedulable(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let nodes: Vec<Node> = fetch::list_cluster(&client, &ListParams::default()).await?;
    let c = &ctx.config;
    // The pin: the lab description's, else (preflight rerun after a deploy) the Deployment's
    // own nodeSelector, as verify reads it. Before the first deploy there is no Deployment,
    // and a missing or unreadable one just leaves the pin unknown.
    // Its tolerations, when it exists, say which taints its pods accept.
    let deployment = fetch::get_namespaced::<Deployment>(&client, &c.namespace, &c.deployment)
        .await
        .ok()
        .flatten();
    let spec = deployment.as_ref().and_then(deployment_pod_spec);
    let pin = c
        .pin_label_value
        .as_deref()
        .or_else(|| node_selector_value(spec, &c.pin_label_key));
    let tolerations = spec
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default();
    Ok(evaluate_pin_node(
        &nodes,
        &c.pin_label_key,
        pin,
        tolerations,
    ))
}

// ---------------------------------------------------------------------------------------------
// storage

pub fn evaluate_storage_class(sc: Option<&StorageClass>, name: &str) -> Outcome {
    let Some(sc) = sc else {
        return Outcome::fail(format!("StorageClass {name} not found"));
    };
    let mode = sc.volume_binding_mode.as_deref().unwrap_or("Immediate");
    if mode == "WaitForFirstConsumer" {
        Outcome::pass(format!("{name}: {}, WaitForFirstConsumer", sc.provisioner))
    } else {
        Outcome::fail(format!(
            "StorageClass {name} binds {mode}, not WaitForFirstConsumer"
        ))
        .with(
            "Immediate binding may put the node-local volume on a node the pods are not pinned to",
        )
    }
}

async fn storageclass_local_path(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let name = &ctx.config.storage_class;
    let sc: Option<StorageClass> = fetch::get_cluster(&client, name).await?;
    Ok(evaluate_storage_class(sc.as_ref(), name))
}

/// A Deployment is available: Available=True and at least one ready replica.
pub fn evaluate_deployment_available(d: Option<&Deployment>, what: &str) -> Outcome {
    let Some(d) = d else {
        return Outcome::fail(format!("{what} not found"));
    };
    let status = d.status.as_ref();
    let ready = status.and_then(|s| s.ready_replicas).unwrap_or(0);
    let wanted = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let available = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Available"));
    match available {
        Some(c) if c.status == "True" && ready > 0 => {
            Outcome::pass(format!("{what}: {ready}/{wanted} ready"))
        }
        Some(c) => {
            Outcome::fail(format!("{what} is not available: {ready}/{wanted} ready")).with(format!(
                "condition Available={}: {}",
                c.status,
                c.message.as_deref().unwrap_or("")
            ))
        }
        None => Outcome::fail(format!("{what} is not available: {ready}/{wanted} ready")),
    }
}

async fn local_path_provisioner_available(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    for candidate in &ctx.config.provisioner_deployments {
        let d: Option<Deployment> =
            fetch::get_namespaced(&client, &candidate.namespace, &candidate.name).await?;
        if let Some(d) = d {
            let what = format!("Deployment {}/{}", candidate.namespace, candidate.name);
            return Ok(evaluate_deployment_available(Some(&d), &what));
        }
    }
    let places: Vec<String> = ctx
        .config
        .provisioner_deployments
        .iter()
        .map(|c| format!("{}/{}", c.namespace, c.name))
        .collect();
    Ok(Outcome::fail("the local-path provisioner is not installed")
        .with(format!("looked for: {}", places.join(", "))))
}

// ---------------------------------------------------------------------------------------------
// ingress

/// A DaemonSet with at least one available pod (every scheduled pod available to pass).
pub fn evaluate_daemonset_available(ds: &DaemonSet, what: &str) -> Outcome {
    let status = ds.status.as_ref();
    let desired = status.map_or(0, |s| s.desired_number_scheduled);
    let available = status.and_then(|s| s.number_available).unwrap_or(0);
    if desired == 0 {
        return Outcome::fail(format!("{what} runs on no node (0 scheduled)"))
            .with("its nodeSelector, affinity or tolerations match no schedulable node");
    }
    if available == desired {
        Outcome::pass(format!("{what}: {available}/{desired} available"))
    } else if available > 0 {
        Outcome::warn(format!("{what}: only {available}/{desired} available"))
    } else {
        Outcome::fail(format!("{what} is not available: 0/{desired} available"))
    }
}

/// ingress-nginx runs as a Deployment (the Helm chart's default) or, on bare metal with
/// `hostNetwork`, often as a DaemonSet (`controller.kind=DaemonSet`): either counts.
pub fn evaluate_ingress_controller(
    deployment: Option<&Deployment>,
    daemonset: Option<&DaemonSet>,
    namespace: &str,
    name: &str,
) -> Outcome {
    match (deployment, daemonset) {
        (Some(d), _) => {
            evaluate_deployment_available(Some(d), &format!("Deployment {namespace}/{name}"))
        }
        (None, Some(ds)) => {
            evaluate_daemonset_available(ds, &format!("DaemonSet {namespace}/{name}"))
        }
        (None, None) => Outcome::fail(format!("no Deployment or DaemonSet {namespace}/{name}"))
            .with("install ingress-nginx (runbook), or set ingress_controller in labctl.toml"),
    }
}

async fn ingress_nginx_available(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let c = &ctx.config.ingress_controller;
    let d: Option<Deployment> = fetch::get_namespaced(&client, &c.namespace, &c.name).await?;
    // Only asked for when there is no Deployment: a Deployment install needs no DaemonSet
    // permission (roles made before labctl read DaemonSets lack `get`).
    let ds: Option<DaemonSet> = match d {
        Some(_) => None,
        None => fetch::get_namespaced(&client, &c.namespace, &c.name).await?,
    };
    Ok(evaluate_ingress_controller(
        d.as_ref(),
        ds.as_ref(),
        &c.namespace,
        &c.name,
    ))
}

pub fn evaluate_ingress_class(class: Option<&IngressClass>, name: &str) -> Outcome {
    let Some(class) = class else {
        return Outcome::fail(format!("IngressClass {name} not found"));
    };
    let controller = class
        .spec
        .as_ref()
        .and_then(|s| s.controller.as_deref())
        .unwrap_or("");
    if controller == "k8s.io/ingress-nginx" {
        Outcome::pass(format!("IngressClass {name} (controller {controller})"))
    } else {
        Outcome::fail(format!(
            "IngressClass {name} belongs to controller {controller:?}, not k8s.io/ingress-nginx"
        ))
    }
}

async fn ingressclass_nginx(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let name = &ctx.config.ingress_class;
    let class: Option<IngressClass> = fetch::get_cluster(&client, name).await?;
    Ok(evaluate_ingress_class(class.as_ref(), name))
}

pub fn evaluate_ingress_address(
    svc: Option<&Service>,
    what: &str,
    configured: Option<std::net::IpAddr>,
) -> Outcome {
    let Some(svc) = svc else {
        return Outcome::fail(format!("Service {what} not found"));
    };
    match (
        super::dataplane::ingress_address_from(None, Some(svc)),
        configured,
    ) {
        (Some(ip), _) => Outcome::pass(format!("{what} publishes {ip}")),
        (None, Some(ip)) => Outcome::warn(format!(
            "{what} publishes no address; using ingress_address {ip} from the lab description"
        ))
        .with("Ingress status stays empty, so Argo CD keeps the Ingress Progressing"),
        (None, None) => {
            let kind = svc
                .spec
                .as_ref()
                .and_then(|s| s.type_.as_deref())
                .unwrap_or("ClusterIP");
            Outcome::fail(format!(
                "{what} (type {kind}) publishes no external address"
            ))
            .with("use a LoadBalancer (MetalLB) or set externalIPs / --publish-status-address")
        }
    }
}

async fn ingress_address_published(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let c = &ctx.config.ingress_controller;
    let svc: Option<Service> = fetch::get_namespaced(&client, &c.namespace, &c.name).await?;
    Ok(evaluate_ingress_address(
        svc.as_ref(),
        &format!("{}/{}", c.namespace, c.name),
        ctx.config.ingress_address,
    ))
}

// ---------------------------------------------------------------------------------------------
// argocd-installed

pub const ARGOCD_CRD: &str = "applications.argoproj.io";
pub const ARGOCD_CONTROLLER: &str = "argocd-application-controller";

/// The application controller runs as a StatefulSet (default) or a Deployment (some installs).
pub fn evaluate_argocd(
    crd: Option<&CustomResourceDefinition>,
    sts: Option<&StatefulSet>,
    deploy: Option<&Deployment>,
    ns: &str,
) -> Outcome {
    if crd.is_none() {
        return Outcome::fail(format!(
            "CRD {ARGOCD_CRD} not found: Argo CD is not installed"
        ));
    }
    if let Some(sts) = sts {
        let ready = sts
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        return if ready > 0 {
            Outcome::pass(format!(
                "StatefulSet {ns}/{ARGOCD_CONTROLLER}: {ready} ready"
            ))
        } else {
            Outcome::fail(format!(
                "StatefulSet {ns}/{ARGOCD_CONTROLLER} has no ready replica"
            ))
        };
    }
    if deploy.is_some() {
        return evaluate_deployment_available(
            deploy,
            &format!("Deployment {ns}/{ARGOCD_CONTROLLER}"),
        );
    }
    Outcome::fail(format!("{ARGOCD_CONTROLLER} not found in namespace {ns}"))
}

async fn argocd_installed(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let ns = &ctx.config.argocd_namespace;
    let (crd, sts, deploy) = futures::try_join!(
        fetch::get_cluster::<CustomResourceDefinition>(&client, ARGOCD_CRD),
        fetch::get_namespaced::<StatefulSet>(&client, ns, ARGOCD_CONTROLLER),
        fetch::get_namespaced::<Deployment>(&client, ns, ARGOCD_CONTROLLER),
    )?;
    Ok(evaluate_argocd(
        crd.as_ref(),
        sts.as_ref(),
        deploy.as_ref(),
        ns,
    ))
}

// ---------------------------------------------------------------------------------------------
// namespace-isolation

/// Objects found in the namespace, as `kind/name`.
#[derive(Debug, Default)]
pub struct NamespaceContents {
    pub objects: Vec<(String, String)>,
}

/// Names the lab itself creates, per kind.
fn ours(config: &LabConfig, kind: &str, name: &str) -> bool {
    match kind {
        "Deployment" => name == config.deployment,
        "CronJob" => name == config.cronjob,
        "Service" => name == config.service,
        "Ingress" => name == config.ingress,
        "PersistentVolumeClaim" => name == config.pvc,
        _ => false,
    }
}

pub fn evaluate_namespace(
    ns: Option<&Namespace>,
    contents: &NamespaceContents,
    config: &LabConfig,
) -> Outcome {
    let name = &config.namespace;
    let Some(ns) = ns else {
        return Outcome::pass(format!(
            "namespace {name} does not exist yet (Argo CD creates it)"
        ));
    };
    if ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating") {
        return Outcome::fail(format!("namespace {name} is Terminating"));
    }
    let foreign: Vec<String> = contents
        .objects
        .iter()
        .filter(|(kind, n)| !ours(config, kind, n))
        .map(|(kind, n)| format!("{kind}/{n} is not part of the lab"))
        .collect();
    if foreign.is_empty() {
        Outcome::pass(format!(
            "namespace {name} holds only the lab ({} objects)",
            contents.objects.len()
        ))
    } else {
        Outcome::fail(format!(
            "namespace {name} holds {} objects that are not the lab's",
            foreign.len()
        ))
        .with_all(foreign)
        .with("Argo CD with prune would not touch them, but the lab is no longer isolated")
    }
}

async fn namespace_isolation(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let name = &ctx.config.namespace;
    let ns: Option<Namespace> = fetch::get_cluster(&client, name).await?;
    if ns.is_none() {
        return Ok(evaluate_namespace(
            None,
            &NamespaceContents::default(),
            &ctx.config,
        ));
    }
    let lp = ListParams::default();
    let (deploys, sts, ds, cronjobs, services, ingresses, pvcs) = futures::try_join!(
        fetch::list_namespaced::<Deployment>(&client, name, &lp),
        fetch::list_namespaced::<StatefulSet>(&client, name, &lp),
        fetch::list_namespaced::<DaemonSet>(&client, name, &lp),
        fetch::list_namespaced::<CronJob>(&client, name, &lp),
        fetch::list_namespaced::<Service>(&client, name, &lp),
        fetch::list_namespaced::<Ingress>(&client, name, &lp),
        fetch::list_namespaced::<PersistentVolumeClaim>(&client, name, &lp),
    )?;
    let mut contents = NamespaceContents::default();
    let mut add = |kind: &str, names: Vec<Option<String>>| {
        contents
            .objects
            .extend(names.into_iter().flatten().map(|n| (kind.to_owned(), n)));
    };
    add(
        "Deployment",
        deploys.into_iter().map(|o| o.metadata.name).collect(),
    );
    add(
        "StatefulSet",
        sts.into_iter().map(|o| o.metadata.name).collect(),
    );
    add(
        "DaemonSet",
        ds.into_iter().map(|o| o.metadata.name).collect(),
    );
    add(
        "CronJob",
        cronjobs.into_iter().map(|o| o.metadata.name).collect(),
    );
    add(
        "Service",
        services.into_iter().map(|o| o.metadata.name).collect(),
    );
    add(
        "Ingress",
        ingresses.into_iter().map(|o| o.metadata.name).collect(),
    );
    add(
        "PersistentVolumeClaim",
        pvcs.into_iter().map(|o| o.metadata.name).collect(),
    );
    Ok(evaluate_namespace(ns.as_ref(), &contents, &ctx.config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use k8s_openapi::api::apps::v1::{
        DaemonSetStatus, DeploymentCondition, DeploymentSpec, DeploymentStatus, StatefulSetStatus,
    };
    use k8s_openapi::api::authentication::v1::{SelfSubjectReviewStatus, UserInfo};
    use k8s_openapi::api::core::v1::{
        LoadBalancerIngress, LoadBalancerStatus, NamespaceStatus, NodeCondition, NodeSpec,
        NodeStatus, ServiceSpec, ServiceStatus, Taint,
    };
    use k8s_openapi::api::networking::v1::IngressClassSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::collections::BTreeMap;

    fn meta(name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        }
    }

    fn info(major: &str, minor: &str) -> Info {
        Info {
            major: major.into(),
            minor: minor.into(),
            git_version: format!("v{major}.{minor}.0"),
            ..Default::default()
        }
    }

    #[test]
    fn version_supported_passes() {
        assert_eq!(evaluate_version(&info("1", "33")).status, Status::Pass);
        assert_eq!(evaluate_version(&info("1", "34+")).status, Status::Pass);
    }

    #[test]
    fn version_too_old_fails() {
        let o = evaluate_version(&info("1", "30"));
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message
                .contains("older than the oldest supported version v1.33")
        );
        assert_eq!(evaluate_version(&info("", "")).status, Status::Fail);
    }

    fn review(user: &str) -> SelfSubjectReview {
        SelfSubjectReview {
            status: Some(SelfSubjectReviewStatus {
                user_info: Some(UserInfo {
                    username: Some(user.into()),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn authenticated_user_passes_and_anonymous_fails() {
        let o = evaluate_self_review(&review("kubernetes-admin"));
        assert_eq!(o.status, Status::Pass);
        assert!(o.message.contains("kubernetes-admin"));
        assert_eq!(
            evaluate_self_review(&review("system:anonymous")).status,
            Status::Fail
        );
    }

    #[test]
    fn permissions_all_granted_pass_and_missing_ones_are_named() {
        let ok = [("cannot list pods in mlops-lab".to_owned(), true)];
        assert_eq!(evaluate_permissions(&ok).status, Status::Pass);
        let missing = [
            ("cannot list events in mlops-lab".to_owned(), false),
            ("cannot list nodes".to_owned(), true),
        ];
        let o = evaluate_permissions(&missing);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(o.evidence[0], "cannot list events in mlops-lab");
    }

    #[test]
    fn review_names_namespace_only_for_namespaced_resources() {
        let (what, r) = review_for(&PERMISSIONS[0], "list", &LabConfig::default());
        assert_eq!(what, "cannot list events in mlops-lab");
        assert_eq!(
            r.spec.resource_attributes.unwrap().namespace.as_deref(),
            Some("mlops-lab")
        );
        let nodes = PERMISSIONS.iter().find(|p| p.resource == "nodes").unwrap();
        let (what, r) = review_for(nodes, "list", &LabConfig::default());
        assert_eq!(what, "cannot list nodes");
        assert_eq!(r.spec.resource_attributes.unwrap().namespace, None);
    }

    fn node(name: &str, ready: bool) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(BTreeMap::from([(
                    "kubernetes.io/hostname".to_owned(),
                    name.to_owned(),
                )])),
                ..Default::default()
            },
            status: Some(NodeStatus {
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn ready_nodes_pass() {
        assert_eq!(
            evaluate_nodes_ready(&[node("a", true), node("b", true)]).status,
            Status::Pass
        );
    }

    #[test]
    fn no_ready_node_fails_and_some_not_ready_warns() {
        assert_eq!(
            evaluate_nodes_ready(&[node("a", false)]).status,
            Status::Fail
        );
        assert_eq!(evaluate_nodes_ready(&[]).status, Status::Fail);
        let o = evaluate_nodes_ready(&[node("a", true), node("b", false)]);
        assert_eq!(o.status, Status::Warn);
        assert_eq!(o.evidence, ["node b is not Ready"]);
    }

    const HOST: &str = "kubernetes.io/hostname";

    #[test]
    fn labelled_schedulable_pin_node_passes() {
        let nodes = [node("n1", true), node("n2", true)];
        assert_eq!(
            evaluate_pin_node(&nodes, HOST, Some("n2"), &[]).status,
            Status::Pass
        );
        // Single-node cluster without a configured pin: that node.
        assert_eq!(
            evaluate_pin_node(&nodes[..1], HOST, None, &[]).status,
            Status::Pass
        );
    }

    #[test]
    fn tainted_cordoned_or_missing_pin_node_fails() {
        let mut n = node("n1", true);
        n.spec = Some(NodeSpec {
            unschedulable: Some(true),
            taints: Some(vec![Taint {
                key: "gpu".into(),
                value: Some("yes".into()),
                effect: "NoSchedule".into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        let o = evaluate_pin_node(std::slice::from_ref(&n), HOST, Some("n1"), &[]);
        assert_eq!(o.status, Status::Fail);
        assert!(o.evidence.iter().any(|e| e.contains("cordoned")));
        assert!(o.evidence.iter().any(|e| e.contains("gpu=yes:NoSchedule")));
        assert!(
            evaluate_pin_node(&[node("n1", true)], HOST, Some("n9"), &[])
                .message
                .contains("no node carries")
        );
        assert_eq!(
            evaluate_pin_node(&[node("a", true), node("b", true)], HOST, None, &[]).status,
            Status::Fail
        );
    }

    fn storage_class(mode: Option<&str>) -> StorageClass {
        StorageClass {
            metadata: meta("local-path"),
            provisioner: "rancher.io/local-path".into(),
            volume_binding_mode: mode.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn wait_for_first_consumer_storage_class_passes() {
        let o = evaluate_storage_class(
            Some(&storage_class(Some("WaitForFirstConsumer"))),
            "local-path",
        );
        assert_eq!(o.status, Status::Pass, "{o:?}");
    }

    #[test]
    fn immediate_or_missing_storage_class_fails() {
        assert_eq!(
            evaluate_storage_class(Some(&storage_class(None)), "local-path").status,
            Status::Fail
        );
        assert_eq!(
            evaluate_storage_class(None, "local-path").status,
            Status::Fail
        );
    }

    pub(crate) fn deployment(available: bool, ready: i32) -> Deployment {
        Deployment {
            metadata: meta("d"),
            spec: Some(DeploymentSpec {
                replicas: Some(1),
                ..Default::default()
            }),
            status: Some(DeploymentStatus {
                ready_replicas: Some(ready),
                conditions: Some(vec![DeploymentCondition {
                    type_: "Available".into(),
                    status: if available { "True" } else { "False" }.into(),
                    message: Some("Deployment does not have minimum availability.".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn available_deployment_passes() {
        assert_eq!(
            evaluate_deployment_available(Some(&deployment(true, 1)), "x").status,
            Status::Pass
        );
    }

    #[test]
    fn unavailable_or_missing_deployment_fails() {
        let o = evaluate_deployment_available(Some(&deployment(false, 0)), "x");
        assert_eq!(o.status, Status::Fail);
        assert!(o.evidence[0].contains("minimum availability"));
        assert_eq!(
            evaluate_deployment_available(None, "x").status,
            Status::Fail
        );
    }

    fn daemonset(desired: i32, available: i32) -> DaemonSet {
        DaemonSet {
            metadata: meta("ingress-nginx-controller"),
            status: Some(DaemonSetStatus {
                desired_number_scheduled: desired,
                number_available: Some(available),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn ingress_controller_as_deployment_or_daemonset_passes() {
        let ns = "ingress-nginx";
        let name = "ingress-nginx-controller";
        let o = evaluate_ingress_controller(Some(&deployment(true, 1)), None, ns, name);
        assert_eq!(o.status, Status::Pass, "{o:?}");
        let o = evaluate_ingress_controller(None, Some(&daemonset(2, 2)), ns, name);
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert_eq!(
            o.message,
            "DaemonSet ingress-nginx/ingress-nginx-controller: 2/2 available"
        );
    }

    #[test]
    fn ingress_controller_missing_or_unavailable_fails() {
        let ns = "ingress-nginx";
        let name = "ingress-nginx-controller";
        let o = evaluate_ingress_controller(None, None, ns, name);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.message,
            "no Deployment or DaemonSet ingress-nginx/ingress-nginx-controller"
        );
        let o = evaluate_ingress_controller(None, Some(&daemonset(1, 0)), ns, name);
        assert_eq!(o.status, Status::Fail, "{o:?}");
        let o = evaluate_ingress_controller(None, Some(&daemonset(0, 0)), ns, name);
        assert_eq!(o.status, Status::Fail, "{o:?}");
        assert!(o.message.contains("runs on no node"), "{o:?}");
        let o = evaluate_ingress_controller(None, Some(&daemonset(3, 1)), ns, name);
        assert_eq!(o.status, Status::Warn, "{o:?}");
        let o = evaluate_ingress_controller(Some(&deployment(false, 0)), None, ns, name);
        assert_eq!(o.status, Status::Fail, "{o:?}");
    }

    fn ingress_class(controller: &str) -> IngressClass {
        IngressClass {
            metadata: meta("nginx"),
            spec: Some(IngressClassSpec {
                controller: Some(controller.into()),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn nginx_ingress_class_passes() {
        assert_eq!(
            evaluate_ingress_class(Some(&ingress_class("k8s.io/ingress-nginx")), "nginx").status,
            Status::Pass
        );
    }

    #[test]
    fn foreign_or_missing_ingress_class_fails() {
        assert_eq!(
            evaluate_ingress_class(
                Some(&ingress_class("traefik.io/ingress-controller")),
                "nginx"
            )
            .status,
            Status::Fail
        );
        assert_eq!(evaluate_ingress_class(None, "nginx").status, Status::Fail);
    }

    fn controller_service(ip: Option<&str>) -> Service {
        Service {
            metadata: meta("ingress-nginx-controller"),
            spec: Some(ServiceSpec {
                type_: Some("LoadBalancer".into()),
                ..Default::default()
            }),
            status: Some(ServiceStatus {
                load_balancer: Some(LoadBalancerStatus {
                    ingress: ip.map(|ip| {
                        vec![LoadBalancerIngress {
                            ip: Some(ip.into()),
                            ..Default::default()
                        }]
                    }),
                }),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn published_ingress_address_passes() {
        let o = evaluate_ingress_address(
            Some(&controller_service(Some("192.168.1.50"))),
            "ingress-nginx/c",
            None,
        );
        assert_eq!(o.status, Status::Pass);
        assert!(o.message.contains("192.168.1.50"));
    }

    #[test]
    fn unpublished_ingress_address_fails_or_warns_with_a_configured_one() {
        let svc = controller_service(None);
        let o = evaluate_ingress_address(Some(&svc), "ingress-nginx/c", None);
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("LoadBalancer"));
        let o = evaluate_ingress_address(
            Some(&svc),
            "ingress-nginx/c",
            Some("192.168.1.50".parse().unwrap()),
        );
        assert_eq!(o.status, Status::Warn);
    }

    #[test]
    fn argocd_with_crd_and_ready_controller_passes() {
        let crd = CustomResourceDefinition {
            metadata: meta(ARGOCD_CRD),
            ..Default::default()
        };
        let sts = StatefulSet {
            status: Some(StatefulSetStatus {
                ready_replicas: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            evaluate_argocd(Some(&crd), Some(&sts), None, "argocd").status,
            Status::Pass
        );
        assert_eq!(
            evaluate_argocd(Some(&crd), None, Some(&deployment(true, 1)), "argocd").status,
            Status::Pass
        );
    }

    #[test]
    fn argocd_without_crd_or_controller_fails() {
        assert!(
            evaluate_argocd(None, None, None, "argocd")
                .message
                .contains(ARGOCD_CRD)
        );
        let crd = CustomResourceDefinition {
            metadata: meta(ARGOCD_CRD),
            ..Default::default()
        };
        assert_eq!(
            evaluate_argocd(Some(&crd), None, None, "argocd").status,
            Status::Fail
        );
        assert_eq!(
            evaluate_argocd(Some(&crd), Some(&StatefulSet::default()), None, "argocd").status,
            Status::Fail
        );
    }

    #[test]
    fn absent_namespace_or_only_lab_objects_pass() {
        let config = LabConfig::default();
        assert_eq!(
            evaluate_namespace(None, &NamespaceContents::default(), &config).status,
            Status::Pass
        );
        let contents = NamespaceContents {
            objects: vec![
                ("Deployment".into(), "inference".into()),
                ("PersistentVolumeClaim".into(), "models".into()),
            ],
        };
        let ns = Namespace {
            metadata: meta("mlops-lab"),
            ..Default::default()
        };
        assert_eq!(
            evaluate_namespace(Some(&ns), &contents, &config).status,
            Status::Pass
        );
    }

    #[test]
    fn foreign_objects_or_terminating_namespace_fail() {
        let config = LabConfig::default();
        let ns = Namespace {
            metadata: meta("mlops-lab"),
            ..Default::default()
        };
        let contents = NamespaceContents {
            objects: vec![("Deployment".into(), "postgres".into())],
        };
        let o = evaluate_namespace(Some(&ns), &contents, &config);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(o.evidence[0], "Deployment/postgres is not part of the lab");
        let terminating = Namespace {
            status: Some(NamespaceStatus {
                phase: Some("Terminating".into()),
                ..Default::default()
            }),
            ..ns
        };
        assert_eq!(
            evaluate_namespace(Some(&terminating), &NamespaceContents::default(), &config).status,
            Status::Fail
        );
    }
}
