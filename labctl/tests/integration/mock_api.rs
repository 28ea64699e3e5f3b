//! Checks against a fake API server (`tower_test::mock::pair`), as kube-rs tests its own client:
//! the fake asserts what was asked and answers JSON. Every test is bounded by a timeout so a
//! missing answer fails instead of hanging.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response};
use kube::client::Body;
use labctl::checks::{Status, preflight, select, verify};
use labctl::config::LabConfig;
use labctl::context::Context;
use labctl::runner::Report;
use serde_json::{Value, json};

type Route = fn(&str, &str, &Value) -> Option<(u16, Value)>;

/// Requests seen by the fake, as `METHOD path?query`.
type Seen = Arc<Mutex<Vec<String>>>;

/// A client whose API server is `route` (gates are answered by default: v1.33, a user).
fn fake_api(route: Route) -> (kube::Client, Seen) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let method = request.method().to_string();
            let uri = request.uri().to_string();
            log.lock().unwrap().push(format!("{method} {uri}"));
            let body = http_body_util::BodyExt::collect(request.into_body()).await;
            let body: Value = body
                .ok()
                .and_then(|b| serde_json::from_slice(&b.to_bytes()).ok())
                .unwrap_or(Value::Null);
            let (status, answer) = route(&method, &uri, &body)
                .or_else(|| default_route(&method, &uri))
                .unwrap_or_else(|| (404, not_found(&uri)));
            let response = Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                .unwrap();
            send.send_response(response);
        }
    });
    (kube::Client::new(service, "default"), seen)
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

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "code": code,
           "reason": reason, "message": message})
}

fn not_found(uri: &str) -> Value {
    status(404, "NotFound", &format!("{uri} not found"))
}

async fn run(
    route: Route,
    ids: &[&str],
    catalogue: Vec<labctl::checks::Check>,
) -> (Report, Vec<String>) {
    let (client, seen) = fake_api(route);
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
    let seen = seen.lock().unwrap().clone();
    (report, seen)
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
        preflight::catalogue(),
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
    let (report, seen) = run(
        |m, uri, _| match (m, uri) {
            ("GET", "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/mlops-lab") => {
                Some((
                    403,
                    status(
                        403,
                        "Forbidden",
                        "applications.argoproj.io \"mlops-lab\" is forbidden",
                    ),
                ))
            }
            _ => None,
        },
        &["argocd-app-healthy"],
        verify::catalogue(),
    )
    .await;
    assert!(seen.contains(
        &"GET /apis/argoproj.io/v1alpha1/namespaces/argocd/applications/mlops-lab".to_owned()
    ));
    let r = result(&report, "argocd-app-healthy");
    assert_eq!(r.status, Status::Skip);
    assert!(
        r.message
            .starts_with("cannot get applications.argoproj.io in argocd"),
        "{}",
        r.message
    );
    assert_eq!(report.exit_code(true), labctl::exit::OK);
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
        verify::catalogue(),
    )
    .await;
    let request = seen.iter().find(|s| s.contains("endpointslices")).unwrap();
    assert!(
        request.contains("labelSelector=kubernetes.io%2Fservice-name%3Dinference"),
        "{request}"
    );
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
        verify::catalogue(),
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
        verify::catalogue(),
    )
    .await;
    let r = result(&report, "credentials-accepted");
    assert_eq!(r.status, Status::Fail);
    assert!(r.message.contains("401"), "{}", r.message);
    assert_eq!(result(&report, "pvc-bound").status, Status::Skip);
}

#[tokio::test]
async fn missing_object_is_a_failure_not_an_error() {
    let (report, seen) = run(|_, _, _| None, &["pvc-bound"], verify::catalogue()).await;
    assert!(
        seen.contains(&"GET /api/v1/namespaces/mlops-lab/persistentvolumeclaims/models".to_owned())
    );
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
        preflight::catalogue(),
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
