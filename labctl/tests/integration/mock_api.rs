//! Checks against the fake API server of `support::fake_api` (kube-rs's `testcontext()`
//! shape): each test's scenario answers JSON and names the calls the checks must make, and the
//! test awaits the verifier. Every test is bounded by a timeout so a missing answer fails
//! instead of hanging.

use std::time::Duration;

use labctl::checks::{Status, catalogue, select};
use labctl::config::LabConfig;
use labctl::context::Context;
use labctl::runner::Report;
use serde_json::{Value, json};

use crate::support::fake_api::{Scenario, cluster, items_of, status, testcontext};

type Route = fn(&str, &str, &Value) -> Option<(u16, Value)>;

/// The scenario of `route`, with the gates answered by default (v1.33, a user) and every
/// other list answered empty (a cluster without those objects).
fn scenario(route: Route) -> Scenario {
    let empty = cluster(Vec::new());
    Scenario::new(move |m, uri, body| {
        route(m, uri, body)
            .or_else(|| default_route(m, uri))
            .or_else(|| empty(m, uri, body))
    })
}

fn default_route(method: &str, uri: &str) -> Option<(u16, Value)> {
    // kube appends `?` and query parameters to POSTs.
    let path = uri.split('?').next().unwrap_or(uri);
    match (method, path) {
        ("GET", "/version") => Some((200, version("33"))),
        ("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews") => Some((
            201,
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
                   "status": {"userInfo": {"username": "operator@homelab"}}}),
        )),
        _ => None,
    }
}

fn version(minor: &str) -> Value {
    json!({"major": "1", "minor": minor, "gitVersion": format!("v1.{minor}.2"), "gitCommit": "",
           "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24",
           "compiler": "gc", "platform": "linux/amd64"})
}

async fn run(
    route: Route,
    ids: &[&str],
    catalogue: Vec<labctl::checks::Check>,
) -> (Report, Vec<String>) {
    run_scenario(scenario(route), ids, catalogue).await
}

/// Runs the checks `ids` of `catalogue` against `scenario`; the calls made, once verified.
async fn run_scenario(
    scenario: Scenario,
    ids: &[&str],
    catalogue: Vec<labctl::checks::Check>,
) -> (Report, Vec<String>) {
    let (client, server) = testcontext();
    let verifier = server.run(scenario);
    let mut ctx = Context::new(LabConfig::default()).with_client(client);
    ctx.timeout = Duration::from_secs(2);
    let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    let checks = select(&catalogue, &ids).unwrap();
    let report = tokio::time::timeout(
        Duration::from_secs(10),
        labctl::runner::run(&ctx, &checks, |_| {}),
    )
    .await
    .expect("checks finished in time");
    drop(ctx);
    (report, verifier.verified().await)
}

/// Checks that read the manifests and the registry besides the cluster (tested on their own).
const READ_MANIFESTS: [&str; 2] = ["pin-node-capacity", "images-match-node-arch"];

/// Runs every check of `catalogue` that asks the cluster only (the 10 non-gate API checks of
/// a lab with the default ingress controller, Traefik).
async fn run_cluster_checks(
    route: Route,
    catalogue: Vec<labctl::checks::Check>,
) -> (Report, Vec<String>) {
    let ids: Vec<&'static str> = catalogue
        .iter()
        .filter(|c| {
            c.needs_api
                && !c.gate
                && !READ_MANIFESTS.contains(&c.id)
                && (c.applies)(&LabConfig::default())
        })
        .map(|c| c.id)
        .collect();
    assert_eq!(ids.len(), 10);
    run(route, &ids, catalogue).await
}

fn assert_all_passed(report: &Report, seen: &[String]) {
    for c in &report.checks {
        assert_eq!(
            c.status,
            Status::Pass,
            "{}: {} {:?}\nrequests: {seen:#?}",
            c.id,
            c.message,
            c.evidence
        );
    }
}

fn result<'a>(report: &'a Report, id: &str) -> &'a labctl::runner::CheckResult {
    report
        .checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no result for {id}"))
}

#[tokio::test]
async fn gates_ask_version_and_selfsubjectreview_then_the_check() {
    let (report, seen) = run(
        |m, uri, _| match (m, uri) {
            ("GET", "/apis/storage.k8s.io/v1/storageclasses/local-path") => Some((
                200,
                json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                       "metadata": {"name": "local-path"}, "provisioner": "rancher.io/local-path",
                       "volumeBindingMode": "WaitForFirstConsumer"}),
            )),
            _ => None,
        },
        &["storageclass-local-path"],
        catalogue::preflight(),
    )
    .await;
    assert_eq!(seen[0], "GET /version");
    assert_eq!(
        seen[1],
        "POST /apis/authentication.k8s.io/v1/selfsubjectreviews?"
    );
    assert_eq!(
        seen[2],
        "GET /apis/storage.k8s.io/v1/storageclasses/local-path"
    );
    assert_eq!(result(&report, "api-reachable").status, Status::Pass);
    assert_eq!(
        result(&report, "credentials-accepted").message,
        "authenticated as operator@homelab"
    );
    assert_eq!(
        result(&report, "storageclass-local-path").status,
        Status::Pass
    );
}

#[tokio::test]
async fn forbidden_application_is_skipped_naming_the_permission() {
    let route: Route = |m, uri, _| {
        let path = uri.split('?').next().unwrap_or(uri);
        match (m, path) {
            ("GET", "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications") => Some((
                403,
                status(403, "Forbidden", "applications.argoproj.io is forbidden"),
            )),
            _ => None,
        }
    };
    let scenario =
        scenario(route).expect("GET /apis/argoproj.io/v1alpha1/namespaces/argocd/applications?");
    let (report, _) = run_scenario(
        scenario,
        &["argocd-app-healthy", "pvc-bound"],
        catalogue::verify(),
    )
    .await;
    let r = result(&report, "argocd-app-healthy");
    assert_eq!(r.status, Status::Skip);
    // The round reads the Applications with one list: the permission it lacks is that one.
    assert!(
        r.message
            .starts_with("cannot list applications.argoproj.io in argocd"),
        "{}",
        r.message
    );
    // Exactly the checks that need the list are skipped.
    assert_eq!(result(&report, "pvc-bound").message, "PVC models not found");
}

#[tokio::test]
async fn forbidden_list_names_verb_resource_and_namespace() {
    let (report, seen) = run(
        |m, uri, _| match m {
            "GET"
                if uri.starts_with(
                    "/apis/discovery.k8s.io/v1/namespaces/mlops-lab/endpointslices",
                ) =>
            {
                Some((403, status(403, "Forbidden", "forbidden")))
            }
            _ => None,
        },
        &["endpoints-ready"],
        catalogue::verify(),
    )
    .await;
    // One list of the namespace's slices, the round's; the check picks the Service's.
    let requests: Vec<_> = seen
        .iter()
        .filter(|s| s.contains("endpointslices"))
        .collect();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let r = result(&report, "endpoints-ready");
    assert_eq!(r.status, Status::Skip);
    assert!(
        r.message
            .starts_with("cannot list endpointslices.discovery.k8s.io in mlops-lab"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn old_server_fails_the_gate_and_nothing_else_is_asked() {
    let (report, seen) = run(
        |m, uri, _| match (m, uri) {
            ("GET", "/version") => Some((200, version("30"))),
            _ => None,
        },
        &["pvc-bound", "inference-available"],
        catalogue::verify(),
    )
    .await;
    assert_eq!(seen, ["GET /version"]);
    assert_eq!(result(&report, "api-reachable").status, Status::Fail);
    assert_eq!(result(&report, "credentials-accepted").status, Status::Skip);
    assert_eq!(
        result(&report, "pvc-bound").message,
        "not run: api-reachable failed"
    );
    assert_eq!(report.exit_code(false), labctl::exit::PROBLEM);
}

#[tokio::test]
async fn rejected_credentials_fail_the_gate() {
    let (report, _) = run(
        |m, uri, _| match (m, uri) {
            ("POST", u) if u.starts_with("/apis/authentication.k8s.io/v1/selfsubjectreviews") => {
                Some((401, status(401, "Unauthorized", "Unauthorized")))
            }
            _ => None,
        },
        &["pvc-bound"],
        catalogue::verify(),
    )
    .await;
    let r = result(&report, "credentials-accepted");
    assert_eq!(r.status, Status::Fail);
    assert!(r.message.contains("401"), "{}", r.message);
    assert_eq!(result(&report, "pvc-bound").status, Status::Skip);
}

#[tokio::test]
async fn missing_object_is_a_failure_not_an_error() {
    let scenario =
        scenario(|_, _, _| None).expect("GET /api/v1/namespaces/mlops-lab/persistentvolumeclaims?");
    let (report, _) = run_scenario(scenario, &["pvc-bound"], catalogue::verify()).await;
    let r = result(&report, "pvc-bound");
    assert_eq!(r.status, Status::Fail);
    assert_eq!(r.message, "PVC models not found");
    assert_eq!(r.hint, "runbooks/verification.md#pvc-bound");
}

#[tokio::test]
async fn permissions_are_reviewed_per_verb_and_missing_ones_named() {
    let (report, seen) = run(
        |m, uri, body| match (m, uri) {
            ("POST", u) if u.starts_with("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") => {
                let attrs = &body["spec"]["resourceAttributes"];
                let denied = attrs["resource"] == "events" && attrs["group"] == "";
                Some((201, json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                                  "spec": body["spec"], "status": {"allowed": !denied}})))
            }
            _ => None,
        },
        &["permissions"],
        catalogue::preflight(),
    )
    .await;
    let reviews = seen
        .iter()
        .filter(|s| s.contains("selfsubjectaccessreviews"))
        .count();
    let expected: usize = labctl::checks::permissions::PERMISSIONS
        .iter()
        .map(|p| p.verbs.len())
        .sum();
    assert_eq!(reviews, expected);
    let r = result(&report, "permissions");
    assert_eq!(r.status, Status::Fail);
    assert_eq!(r.evidence[0], "cannot list events in mlops-lab");
}

fn list(items: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": items})
}

/// The objects of a healthy lab, as the API server would list them.
fn healthy_objects() -> Vec<Value> {
    let pin = json!({"kubernetes.io/hostname": "node-1"});
    let lab = |kind: &str, api_version: &str, name: &str, rest: Value| {
        let mut o = json!({"apiVersion": api_version, "kind": kind,
                           "metadata": {"name": name, "namespace": "mlops-lab"}});
        o.as_object_mut()
            .unwrap()
            .extend(rest.as_object().unwrap().clone());
        o
    };
    vec![
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
               "metadata": {"name": "mlops-lab", "namespace": "argocd"},
               "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}}),
        lab(
            "PersistentVolumeClaim",
            "v1",
            "models",
            json!({
            "spec": {"volumeName": "pvc-0001"}, "status": {"phase": "Bound"}}),
        ),
        json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pvc-0001"},
               "spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                   {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-1"]}]}]}}}}),
        lab(
            "Deployment",
            "apps/v1",
            "inference",
            json!({
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "inference"}},
                     "template": {"metadata": {"labels": {"app": "inference"}},
                                  "spec": {"nodeSelector": pin, "containers": [{"name": "inference",
                                           "ports": [{"name": "http", "containerPort": 8080}]}]}}},
            "status": {"readyReplicas": 1, "conditions": [{"type": "Available", "status": "True"}]}}),
        ),
        json!({"apiVersion": "v1", "kind": "Node",
               "metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1"}},
               "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        lab(
            "CronJob",
            "batch/v1",
            "trainer",
            json!({
            "spec": {"schedule": "0 3 * * 1", "suspend": false, "jobTemplate": {"spec": {"template": {
                "spec": {"nodeSelector": pin, "containers": [{"name": "trainer"}]}}}}}}),
        ),
        lab(
            "Job",
            "batch/v1",
            "trainer-29000000",
            json!({
            "metadata": {"name": "trainer-29000000", "namespace": "mlops-lab",
                         "creationTimestamp": "2026-11-23T03:00:00Z",
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "trainer", "uid": "u1"}]},
            "spec": {"template": {"spec": {"containers": [{"name": "trainer"}]}}},
            "status": {"conditions": [{"type": "Complete", "status": "True"}]}}),
        ),
        lab(
            "Pod",
            "v1",
            "inference-abc",
            json!({
            "metadata": {"name": "inference-abc", "namespace": "mlops-lab", "labels": {"app": "inference"}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "inference"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "inference", "ready": true,
                       "restartCount": 0, "image": "i", "imageID": "", "state": {"running": {}}}]}}),
        ),
        // Not the Deployment's: the check picks the pods its selector matches.
        lab(
            "Pod",
            "v1",
            "trainer-29000000-x",
            json!({
            "metadata": {"name": "trainer-29000000-x", "namespace": "mlops-lab", "labels": {"app": "trainer"}},
            "spec": {"nodeName": "node-2", "containers": [{"name": "trainer"}]},
            "status": {"phase": "Succeeded"}}),
        ),
        lab(
            "Service",
            "v1",
            "inference",
            json!({
            "spec": {"selector": {"app": "inference"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}),
        ),
        lab(
            "EndpointSlice",
            "discovery.k8s.io/v1",
            "inference-x",
            json!({
            "metadata": {"name": "inference-x", "namespace": "mlops-lab",
                         "labels": {"kubernetes.io/service-name": "inference"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.42.0.7"], "conditions": {"ready": true}}]}),
        ),
        lab(
            "Ingress",
            "networking.k8s.io/v1",
            "inference",
            json!({
            "spec": {"ingressClassName": "traefik", "rules": [{"host": "model.homelab", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "inference", "port": {"number": 80}}}}]}}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.50"}]}}}),
        ),
    ]
}

/// A healthy lab as the API server would describe it.
fn healthy_lab(method: &str, uri: &str, body: &Value) -> Option<(u16, Value)> {
    cluster(healthy_objects())(method, uri, body)
}

/// Requests per path (the query left out), the repeated ones only.
fn repeated(seen: &[String]) -> Vec<(String, usize)> {
    let mut count = std::collections::BTreeMap::<String, usize>::new();
    for s in seen {
        *count
            .entry(s.split('?').next().unwrap_or(s).to_owned())
            .or_default() += 1;
    }
    count.into_iter().filter(|(_, n)| *n > 1).collect()
}

#[tokio::test]
async fn every_cluster_check_of_verify_passes_on_a_healthy_lab() {
    let (report, seen) = run_cluster_checks(healthy_lab, catalogue::verify()).await;
    assert_all_passed(&report, &seen);
    assert_eq!(report.checks.len(), 12);
    // One read of the cluster for every check: no object is asked for by name, and the only
    // path asked twice is the version (the gate, then the read's clock).
    assert_eq!(
        repeated(&seen),
        [("GET /version".to_owned(), 2)],
        "{seen:#?}"
    );
    let by_name = |s: &&String| s.contains("/namespaces/mlops-lab/") && !s.contains('?');
    assert_eq!(seen.iter().filter(by_name).count(), 0, "{seen:#?}");
}

/// `verify` reads the cluster once a round, with the loader `diagnose` uses: over the real
/// lab's recording, a round asks each path at most once (the version twice: the gate, then
/// the read's clock); before, its checks asked the inference Deployment four times and the
/// trainer CronJob three times, and the causes read everything again.
#[tokio::test]
async fn a_round_of_verify_reads_each_list_once() {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lab/healthy.json");
    let lab = cluster(items_of(&fixture));
    let scenario =
        Scenario::new(move |m, uri, body| default_route(m, uri).or_else(|| lab(m, uri, body)));
    let catalogue = catalogue::verify();
    let ids: Vec<&str> = catalogue
        .iter()
        .filter(|c| c.needs_api && !c.gate && (c.applies)(&LabConfig::default()))
        .map(|c| c.id)
        .collect();
    let (report, seen) = run_scenario(scenario, &ids, catalogue::verify()).await;
    assert_eq!(
        repeated(&seen),
        [("GET /version".to_owned(), 2)],
        "{seen:#?}"
    );
    // Every check judged the read: none failed or was skipped for want of it.
    for c in &report.checks {
        assert!(!c.message.contains("cannot"), "{}: {}", c.id, c.message);
    }
    let lists = seen
        .iter()
        .filter(|s| s.starts_with("GET") && s.contains('?'))
        .count();
    eprintln!(
        "a round of verify: {} requests, {lists} of them lists",
        seen.len()
    );
}

#[tokio::test]
async fn a_broken_piece_fails_only_its_check() {
    // Same lab, but the Service selects the wrong label.
    let mut objects = healthy_objects();
    for o in &mut objects {
        if o["kind"] == "Service" {
            o["spec"]["selector"] = json!({"app": "inferense"});
        }
    }
    let lab = cluster(objects);
    let scenario =
        Scenario::new(move |m, uri, body| default_route(m, uri).or_else(|| lab(m, uri, body)));
    let (report, _) = run_scenario(
        scenario,
        &[
            "service-selects-pods",
            "endpoints-ready",
            "ingress-routes-host",
        ],
        catalogue::verify(),
    )
    .await;
    assert_eq!(result(&report, "service-selects-pods").status, Status::Fail);
    assert_eq!(result(&report, "endpoints-ready").status, Status::Pass);
    assert_eq!(result(&report, "ingress-routes-host").status, Status::Pass);
}

fn available_deployment(name: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
           "spec": {"replicas": 1, "selector": {}, "template": {}},
           "status": {"readyReplicas": 1, "conditions": [{"type": "Available", "status": "True"}]}})
}

/// A cluster ready for the lab: one Ready node, k3s local-path, k3s's Traefik with a
/// load-balancer address, Argo CD, no `mlops-lab` namespace yet, every permission granted.
fn ready_cluster(method: &str, uri: &str, body: &Value) -> Option<(u16, Value)> {
    let path = uri.split('?').next().unwrap_or(uri);
    let answer = match (method, path) {
        ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") => {
            return Some((
                201,
                json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                                     "spec": body["spec"], "status": {"allowed": true}}),
            ));
        }
        ("GET", "/api/v1/nodes") => list(json!([{
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}])),
        ("GET", "/apis/storage.k8s.io/v1/storageclasses/local-path") => json!({
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "local-path"},
            "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"}),
        ("GET", "/apis/apps/v1/namespaces/kube-system/deployments/local-path-provisioner") => {
            available_deployment("local-path-provisioner")
        }
        ("GET", "/apis/apps/v1/namespaces/kube-system/deployments/traefik") => {
            available_deployment("traefik")
        }
        ("GET", "/apis/networking.k8s.io/v1/ingressclasses/traefik") => json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "traefik"},
            "spec": {"controller": "traefik.io/ingress-controller"}}),
        ("GET", "/api/v1/namespaces/kube-system/services/traefik") => json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "traefik"},
            "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.50"}]}}}),
        (
            "GET",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/applications.argoproj.io",
        ) => json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "applications.argoproj.io"},
            "spec": {"group": "argoproj.io", "names": {"kind": "Application", "plural": "applications"},
                     "scope": "Namespaced", "versions": []}}),
        ("GET", "/apis/apps/v1/namespaces/argocd/statefulsets/argocd-application-controller") => {
            json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "argocd-application-controller"},
            "spec": {"selector": {}, "template": {}, "serviceName": ""}, "status": {"replicas": 1, "readyReplicas": 1}})
        }
        _ => return None,
    };
    Some((200, answer))
}

#[tokio::test]
async fn every_cluster_check_of_preflight_passes_on_a_ready_cluster() {
    let (report, seen) = run_cluster_checks(ready_cluster, catalogue::preflight()).await;
    assert_all_passed(&report, &seen);
    // An absent namespace is checked with one GET and nothing is listed in it; the only
    // other request into it looks for a deployed Deployment's pin (none here: one node).
    assert!(seen.contains(&"GET /api/v1/namespaces/mlops-lab".to_owned()));
    let into_lab: Vec<&String> = seen
        .iter()
        .filter(|s| s.contains("/namespaces/mlops-lab/"))
        .collect();
    assert_eq!(
        into_lab,
        ["GET /apis/apps/v1/namespaces/mlops-lab/deployments/inference"],
        "{seen:#?}"
    );
    // The ingress controller is a Deployment here: no DaemonSet is asked for.
    assert!(
        !seen.iter().any(|s| s.contains("/daemonsets/")),
        "{seen:#?}"
    );
}

/// Traefik installed as a DaemonSet (the chart's `deployment.kind=DaemonSet`): found after
/// the Deployment lookup comes back empty.
#[tokio::test]
async fn ingress_controller_as_a_daemonset_is_found() {
    fn daemonset_install(method: &str, uri: &str, body: &Value) -> Option<(u16, Value)> {
        match (method, uri.split('?').next().unwrap_or(uri)) {
            ("GET", "/apis/apps/v1/namespaces/kube-system/deployments/traefik") => None,
            ("GET", "/apis/apps/v1/namespaces/kube-system/daemonsets/traefik") => Some((
                200,
                json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
                    "metadata": {"name": "traefik"},
                    "spec": {"selector": {}, "template": {}},
                    "status": {"desiredNumberScheduled": 2, "numberAvailable": 2,
                        "currentNumberScheduled": 2, "numberMisscheduled": 0, "numberReady": 2}}),
            )),
            _ => ready_cluster(method, uri, body),
        }
    }
    let (report, seen) = run(
        daemonset_install,
        &["ingress-controller-available"],
        catalogue::preflight(),
    )
    .await;
    let r = result(&report, "ingress-controller-available");
    assert_eq!(r.status, Status::Pass, "{r:?}\n{seen:#?}");
    assert_eq!(r.message, "DaemonSet kube-system/traefik: 2/2 available");
}

/// Two nodes and no `pin_label_value`: the pin comes from the deployed Deployment's
/// nodeSelector; with nothing deployed yet there is no telling which node, and that fails.
#[tokio::test]
async fn pin_node_comes_from_the_deployed_deployment_on_a_multi_node_cluster() {
    fn two_nodes(method: &str, uri: &str, body: &Value, deployed: bool) -> Option<(u16, Value)> {
        let path = uri.split('?').next().unwrap_or(uri);
        match (method, path) {
            ("GET", "/api/v1/nodes") => {
                let node = |n: &str| {
                    json!({"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": n, "labels": {"kubernetes.io/hostname": n}},
                    "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
                };
                Some((200, list(json!([node("node-1"), node("node-2")]))))
            }
            ("GET", "/apis/apps/v1/namespaces/mlops-lab/deployments/inference") if deployed => {
                Some((
                    200,
                    json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "inference"},
                    "spec": {"selector": {}, "template": {"spec": {"containers": [],
                        "nodeSelector": {"kubernetes.io/hostname": "node-2"}}}}}),
                ))
            }
            _ => ready_cluster(method, uri, body),
        }
    }
    let (report, _) = run(
        |m, u, b| two_nodes(m, u, b, true),
        &["pin-node-schedulable"],
        catalogue::preflight(),
    )
    .await;
    let r = result(&report, "pin-node-schedulable");
    assert_eq!(r.status, Status::Pass, "{r:?}");
    assert_eq!(r.message, "node node-2 (kubernetes.io/hostname=node-2)");

    let (report, _) = run(
        |m, u, b| two_nodes(m, u, b, false),
        &["pin-node-schedulable"],
        catalogue::preflight(),
    )
    .await;
    let r = result(&report, "pin-node-schedulable");
    assert_eq!(r.status, Status::Fail, "{r:?}");
    assert!(r.message.contains("the cluster has 2 nodes"), "{r:?}");
}

#[tokio::test]
async fn manifest_checks_skip_saying_why_without_manifests() {
    let (client, server) = testcontext();
    // The gates still ask the API; the manifest checks stop before asking anything of theirs.
    let verifier = server.run(scenario(ready_cluster).expect("GET /version"));
    let config = LabConfig {
        manifests: Some("no/such/overlay".into()),
        ..LabConfig::default()
    };
    let ctx = Context::new(config).with_client(client);
    let catalogue = catalogue::preflight();
    let ids: Vec<String> = READ_MANIFESTS.iter().map(|s| s.to_string()).collect();
    let checks = select(&catalogue, &ids).unwrap();
    let report = labctl::runner::run(&ctx, &checks, |_| {}).await;
    drop(ctx);
    verifier.verified().await;
    for id in READ_MANIFESTS {
        let r = result(&report, id);
        assert_eq!(r.status, Status::Skip, "{id}: {}", r.message);
        assert!(
            r.message
                .contains("cannot read the manifests no/such/overlay"),
            "{id}: {}",
            r.message
        );
    }
}

/// An ingress on loopback that answers every request with `status` and `body` (Traefik's
/// answer for a host it does not route, or for a Service without endpoints when
/// `allowEmptyServices` is off). The thread ends with the test process.
fn answering_ingress(status: u16, body: &'static str) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

/// The objects that route the lab's host: an Ingress for `host` → Service inference:80, whose
/// one endpoint is ready or not.
fn routing_objects(
    host: &'static str,
    ready: bool,
) -> impl Fn(&str, &str, &Value) -> Option<(u16, Value)> {
    move |method, uri, _| {
        if method != "GET" {
            return None;
        }
        let path = uri.split('?').next().unwrap_or(uri);
        let answer = match path {
            "/apis/networking.k8s.io/v1/namespaces/mlops-lab/ingresses" => list(json!([{
                "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {"name": "web", "namespace": "mlops-lab"},
                "spec": {"rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "inference", "port": {"number": 80}}}}]}}]}}])),
            "/api/v1/namespaces/mlops-lab/services" => list(json!([{
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "inference", "namespace": "mlops-lab"},
                "spec": {"ports": [{"port": 80}]}}])),
            "/apis/discovery.k8s.io/v1/namespaces/mlops-lab/endpointslices" => list(json!([{
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": "inference-abc", "namespace": "mlops-lab",
                             "labels": {"kubernetes.io/service-name": "inference"}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": ["10.42.0.7"], "conditions": {"ready": ready}}]}])),
            _ => return None,
        };
        Some((200, answer))
    }
}

/// GET /healthz through an ingress answering 404, explained by the objects the API holds.
async fn healthz_behind_404(host: &'static str, ready: bool) -> labctl::checks::Outcome {
    let ingress = answering_ingress(404, "404 page not found\n");
    let (client, server) = testcontext();
    let _verifier = server.run(Scenario::new(routing_objects(host, ready)));
    let config = LabConfig {
        ingress_address: Some(ingress.ip()),
        ingress_port: ingress.port(),
        ..LabConfig::default()
    };
    let mut ctx = Context::new(config).with_client(client);
    ctx.timeout = Duration::from_secs(2);
    tokio::time::timeout(
        Duration::from_secs(10),
        labctl::checks::dataplane::http_healthz(&ctx, None),
    )
    .await
    .expect("the check finished in time")
    .expect("the check ran")
}

/// Traefik answers 404 for a routed host whose Service has no ready endpoint (without
/// `allowEmptyServices`): the objects say it is routed, to nothing.
#[tokio::test]
async fn a_404_for_a_routed_host_without_ready_endpoints_blames_the_backend() {
    let o = healthz_behind_404("model.homelab", false).await;
    assert_eq!(o.status, Status::Fail);
    assert!(
        o.message.starts_with("backend failed:")
            && o.message.contains(
                "Ingress web routes host model.homelab to inference:80, which has no ready endpoint"
            ),
        "{}",
        o.message
    );
}

#[tokio::test]
async fn a_404_for_an_unrouted_host_names_the_hosts_routed_instead() {
    let o = healthz_behind_404("other.homelab", true).await;
    assert_eq!(o.status, Status::Fail);
    assert!(
        o.message.starts_with("ingress routing failed:")
            && o.message.contains("not routed")
            && o.message.contains("hosts routed: other.homelab"),
        "{}",
        o.message
    );
}

#[tokio::test]
async fn a_404_with_ready_endpoints_points_at_the_ingress_controller() {
    let o = healthz_behind_404("model.homelab", true).await;
    assert!(
        o.message.starts_with("ingress routing failed:")
            && o.message.contains("1 ready endpoint(s)"),
        "{}",
        o.message
    );
}
