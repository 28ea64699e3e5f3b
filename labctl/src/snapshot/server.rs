//! A snapshot as a read-only API server: a `kube::Client` whose answers come from a
//! [`ClusterSnapshot`] instead of a cluster, so that `labctl verify --snapshot FILE` judges a
//! recorded cluster with the very checks that judge a live one (one point in time, offline).
//!
//! It serves what labctl's checks ask: `GET` of one object and `LIST` of a resource, in a
//! namespace or cluster-wide, filtered by equality label selectors (`a=b`, `a!=b`, `a`, `!a`)
//! and by the field selectors labctl uses (`metadata.name`, `metadata.namespace`,
//! `spec.nodeName`, `status.phase`). A missing object is a 404, as the API server says it.
//! A resource the snapshot does not hold (a Namespace, a CRD, the server's version) is not
//! guessed at: the answer is a `Status` with the reason [`NOT_IN_SNAPSHOT`], which the
//! fetch layer turns into "not in the snapshot" and the check into "skipped".

use std::convert::Infallible;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

use super::ClusterSnapshot;

/// The `reason` of the `Status` answered for a resource the snapshot does not hold.
pub const NOT_IN_SNAPSHOT: &str = "NotInSnapshot";

/// A client whose API server is `snapshot`; `namespace` is its default namespace.
pub fn client(snapshot: Arc<ClusterSnapshot>, namespace: &str) -> kube::Client {
    let service = tower::service_fn(move |request: Request<Body>| {
        let snapshot = Arc::clone(&snapshot);
        async move {
            let (status, body) = answer(&snapshot, request.method(), request.uri());
            let response = Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(body.to_string().into_bytes()))
                .expect("a status and a header always make a response");
            Ok::<_, Infallible>(response)
        }
    });
    kube::Client::new(service, namespace.to_owned())
}

/// The path of a request, taken apart: `/api/v1/namespaces/ns/pods/name`,
/// `/apis/apps/v1/deployments`, …
#[derive(Debug, PartialEq, Eq)]
struct Path<'a> {
    api_version: String,
    namespace: Option<&'a str>,
    plural: &'a str,
    name: Option<&'a str>,
}

fn parse_path(path: &str) -> Option<Path<'_>> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (api_version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => ((*version).to_owned(), rest),
        ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(*ns), rest),
        _ => (None, rest),
    };
    let (plural, name) = match rest {
        [plural] => (*plural, None),
        [plural, name] => (*plural, Some(*name)),
        _ => return None,
    };
    Some(Path {
        api_version,
        namespace,
        plural,
        name,
    })
}

/// The status and JSON body answering `method uri` from `snapshot`.
fn answer(snapshot: &ClusterSnapshot, method: &Method, uri: &http::Uri) -> (StatusCode, Value) {
    let path = uri.path();
    if method != Method::GET {
        return not_held(&format!("{method} {path}"));
    }
    let Some(p) = parse_path(path) else {
        return not_held(path);
    };
    let objects = match snapshot.objects_of(&p.api_version, p.plural) {
        Some(Ok(objects)) => objects,
        Some(Err(e)) => return status(500, "InternalError", &e.to_string()),
        None => return not_held(&format!("{} {}", p.api_version, p.plural)),
    };
    let in_namespace = |o: &Value| {
        p.namespace
            .is_none_or(|ns| o.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns))
    };
    if let Some(name) = p.name {
        return match objects.into_iter().find(|o| {
            in_namespace(o) && o.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
        }) {
            Some(o) => (StatusCode::OK, o),
            None => status(
                404,
                "NotFound",
                &format!("{} \"{name}\" not found", p.plural),
            ),
        };
    }
    let query = Query::parse(uri.query().unwrap_or(""));
    let selectors = match (
        Selector::parse(&query.label_selector),
        Selector::parse(&query.field_selector),
    ) {
        (Ok(labels), Ok(fields)) => (labels, fields),
        (Err(e), _) | (_, Err(e)) => return status(400, "BadRequest", &e),
    };
    let mut items = Vec::new();
    for o in objects.into_iter().filter(|o| in_namespace(o)) {
        let labels = |key: &str| {
            o.pointer("/metadata/labels")
                .and_then(|l| l.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        if !selectors.0.matches(labels) {
            continue;
        }
        let mut unknown = None;
        let fields = |key: &str| match field_pointer(key) {
            Some(pointer) => o
                .pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned),
            None => {
                unknown = Some(key.to_owned());
                None
            }
        };
        let keep = selectors.1.matches(fields);
        if let Some(key) = unknown {
            return status(
                400,
                "BadRequest",
                &format!("field selector {key}: not served from a snapshot"),
            );
        }
        if keep {
            items.push(o);
        }
    }
    (
        StatusCode::OK,
        json!({"apiVersion": p.api_version, "kind": "List",
               "metadata": {"resourceVersion": ""}, "items": items}),
    )
}

/// Where a field selector's field is in the object.
fn field_pointer(field: &str) -> Option<&'static str> {
    Some(match field {
        "metadata.name" => "/metadata/name",
        "metadata.namespace" => "/metadata/namespace",
        "spec.nodeName" => "/spec/nodeName",
        "status.phase" => "/status/phase",
        _ => return None,
    })
}

/// `labelSelector` and `fieldSelector` of a list's query, decoded.
#[derive(Default)]
struct Query {
    label_selector: String,
    field_selector: String,
}

impl Query {
    fn parse(query: &str) -> Self {
        let mut q = Query::default();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value);
            match key {
                "labelSelector" => q.label_selector = value,
                "fieldSelector" => q.field_selector = value,
                _ => {}
            }
        }
        q
    }
}

/// `%XX` escapes and `+` of a query value (kube encodes `=` and `,` in selectors).
fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', h, l]) => hex(*h).zip(hex(*l)).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One requirement of an equality-based selector.
#[derive(Debug, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Absent(String),
}

/// An equality-based selector: every requirement must hold.
#[derive(Debug, PartialEq, Eq)]
struct Selector(Vec<Requirement>);

impl Selector {
    fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if term.contains('(') || term.contains(" in ") || term.contains(" notin ") {
                return Err(format!(
                    "selector {term}: set-based requirements are not served from a snapshot"
                ));
            }
            let r = if let Some((k, v)) = term.split_once("!=") {
                Requirement::NotEquals(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                Requirement::Equals(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some(k) = term.strip_prefix('!') {
                Requirement::Absent(k.trim().to_owned())
            } else {
                Requirement::Exists(term.to_owned())
            };
            requirements.push(r);
        }
        Ok(Selector(requirements))
    }

    /// Whether an object whose value for a key is `value(key)` is selected.
    fn matches(&self, mut value: impl FnMut(&str) -> Option<String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => value(k).as_deref() == Some(v.as_str()),
            Requirement::NotEquals(k, v) => value(k).as_deref() != Some(v.as_str()),
            Requirement::Exists(k) => value(k).is_some(),
            Requirement::Absent(k) => value(k).is_none(),
        })
    }
}

fn not_held(what: &str) -> (StatusCode, Value) {
    status(
        501,
        NOT_IN_SNAPSHOT,
        &format!("{what}: not in the snapshot"),
    )
}

fn status(code: u16, reason: &str, message: &str) -> (StatusCode, Value) {
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
               "code": code, "reason": reason, "message": message}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::model::{Deployment, Pod};
    use k8s_openapi::api::core::v1::Node;
    use kube::api::{Api, ListParams};

    fn pod(ns: &str, name: &str, app: &str, node: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
            "spec": {"nodeName": node, "containers": [{"name": "c"}]},
            "status": {"phase": "Running"}}))
        .unwrap()
    }

    fn snapshot() -> Arc<ClusterSnapshot> {
        Arc::new(ClusterSnapshot {
            pods: vec![
                pod("lab", "inference-1", "inference", "n1"),
                pod("lab", "trainer-1", "trainer", "n1"),
                pod("other", "inference-1", "inference", "n2"),
            ],
            nodes: vec![serde_json::from_value(json!({"metadata": {"name": "n1"}})).unwrap()],
            // Written by `labctl snapshot`: every resource read whole.
            read: Some(crate::snapshot::resources()),
            ..ClusterSnapshot::default()
        })
    }

    #[test]
    fn paths_are_taken_apart() {
        let p = parse_path("/apis/apps/v1/namespaces/lab/deployments/inference").unwrap();
        assert_eq!(p.api_version, "apps/v1");
        assert_eq!(p.namespace, Some("lab"));
        assert_eq!((p.plural, p.name), ("deployments", Some("inference")));
        let p = parse_path("/api/v1/nodes").unwrap();
        assert_eq!(
            (p.api_version.as_str(), p.namespace, p.plural, p.name),
            ("v1", None, "nodes", None)
        );
        // A namespace object itself is a cluster-scoped name, not a scope.
        let p = parse_path("/api/v1/namespaces/lab").unwrap();
        assert_eq!((p.plural, p.name), ("namespaces", Some("lab")));
        assert!(parse_path("/version").is_none());
    }

    #[test]
    fn selectors_select_as_the_api_server_does() {
        let s = Selector::parse("app=inference,tier!=db,!legacy,team").unwrap();
        let labels = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(a, _)| *a == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert!(s.matches(labels(&[("app", "inference"), ("team", "ml")])));
        assert!(!s.matches(labels(&[("app", "inference")])));
        assert!(!s.matches(labels(&[
            ("app", "inference"),
            ("team", "ml"),
            ("tier", "db")
        ])));
        assert!(!s.matches(labels(&[("app", "trainer"), ("team", "ml")])));
        assert!(Selector::parse("app in (a,b)").is_err());
        assert_eq!(
            percent_decode("app%3Dinference%2Cx%21%3Dy"),
            "app=inference,x!=y"
        );
    }

    #[tokio::test]
    async fn gets_and_lists_from_the_snapshot() {
        let client = client(snapshot(), "lab");
        let pods: Api<Pod> = Api::namespaced(client.clone(), "lab");
        assert_eq!(
            pods.get("inference-1")
                .await
                .unwrap()
                .metadata
                .namespace
                .as_deref(),
            Some("lab")
        );
        assert!(pods.get_opt("missing").await.unwrap().is_none());
        let selected = pods
            .list(&ListParams::default().labels("app=inference"))
            .await
            .unwrap();
        assert_eq!(selected.items.len(), 1);
        let everywhere: Api<Pod> = Api::all(client.clone());
        let on_n1 = everywhere
            .list(&ListParams::default().fields("spec.nodeName=n1"))
            .await
            .unwrap();
        assert_eq!(on_n1.items.len(), 2);
        let nodes: Api<Node> = Api::all(client.clone());
        assert_eq!(
            nodes
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len(),
            1
        );
        // Held kind, nothing of it: an empty list and a 404, as a cluster without any.
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), "lab");
        assert!(deployments.get_opt("inference").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn what_the_snapshot_does_not_hold_is_said_so() {
        let client = client(snapshot(), "lab");
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        let err = namespaces.get_opt("lab").await.unwrap_err();
        let kube::Error::Api(s) = err else {
            panic!("{err}")
        };
        assert_eq!(s.reason, NOT_IN_SNAPSHOT);
        assert!(client.apiserver_version().await.is_err());
    }

    #[tokio::test]
    async fn a_kind_without_objects_is_held_only_if_the_writer_says_it_read_it() {
        // A file of `kubectl get`: no Deployments may mean none were asked for.
        let mut s = ClusterSnapshot::clone(&snapshot());
        s.read = None;
        let client = client(Arc::new(s), "lab");
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), "lab");
        let err = deployments.get_opt("inference").await.unwrap_err();
        assert!(matches!(err, kube::Error::Api(s) if s.reason == NOT_IN_SNAPSHOT));
        // Pods are in it: a missing pod is missing.
        let pods: Api<Pod> = Api::namespaced(client, "lab");
        assert!(pods.get_opt("missing").await.unwrap().is_none());
    }
}
