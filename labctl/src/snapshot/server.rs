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

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::client::Body;
use serde_json::{Value, json};

use super::ClusterSnapshot;

pub use crate::fetch::NOT_IN_SNAPSHOT;

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
pub fn answer(snapshot: &ClusterSnapshot, method: &Method, uri: &http::Uri) -> (StatusCode, Value) {
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
    let (labels, fields) = match selectors(uri.query().unwrap_or("")) {
        Ok(selectors) => selectors,
        Err(e) => return status(400, "BadRequest", &e),
    };
    let items: Vec<Value> = objects
        .into_iter()
        .filter(|o| {
            in_namespace(o)
                && crate::k8s::labels::selects(&labels, &labels_of(o))
                && crate::k8s::labels::selects(&fields, &fields_of(o))
        })
        .collect();
    (
        StatusCode::OK,
        json!({"apiVersion": p.api_version, "kind": "List",
               "metadata": {"resourceVersion": ""}, "items": items}),
    )
}

/// The fields a field selector may name (those labctl uses), and where each is in the object.
const FIELDS: [(&str, &str); 4] = [
    ("metadata.name", "/metadata/name"),
    ("metadata.namespace", "/metadata/namespace"),
    ("spec.nodeName", "/spec/nodeName"),
    ("status.phase", "/status/phase"),
];

fn labels_of(o: &Value) -> BTreeMap<String, String> {
    o.pointer("/metadata/labels")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default()
}

fn fields_of(o: &Value) -> BTreeMap<String, String> {
    FIELDS
        .iter()
        .filter_map(|(field, pointer)| {
            let value = o.pointer(pointer)?.as_str()?;
            Some(((*field).to_owned(), value.to_owned()))
        })
        .collect()
}

/// The `labelSelector` and `fieldSelector` of a list's query, as label selectors: the API
/// server's equality-based syntax (`a=b`, `a==b`, `a!=b`, `a`, `!a`) becomes the
/// `matchExpressions` that [`crate::k8s::labels::selects`] judges.
fn selectors(query: &str) -> Result<(LabelSelector, LabelSelector), String> {
    let (mut labels, mut fields) = (LabelSelector::default(), LabelSelector::default());
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "labelSelector" => labels = selector(&value)?,
            "fieldSelector" => {
                fields = selector(&value)?;
                for e in fields.match_expressions.iter().flatten() {
                    if !FIELDS.iter().any(|(f, _)| *f == e.key) {
                        return Err(format!(
                            "field selector {}: not served from a snapshot",
                            e.key
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok((labels, fields))
}

/// One equality-based selector (`app=inference,tier!=db,!legacy`).
fn selector(text: &str) -> Result<LabelSelector, String> {
    let requirement = |key: &str, operator: &str, value: Option<&str>| LabelSelectorRequirement {
        key: key.trim().to_owned(),
        operator: operator.to_owned(),
        values: value.map(|v| vec![v.trim().to_owned()]),
    };
    let mut expressions = Vec::new();
    for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if term.contains('(') || term.contains(" in ") || term.contains(" notin ") {
            return Err(format!(
                "selector {term}: set-based requirements are not served from a snapshot"
            ));
        }
        expressions.push(if let Some((k, v)) = term.split_once("!=") {
            requirement(k, "NotIn", Some(v))
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            requirement(k, "In", Some(v))
        } else if let Some(k) = term.strip_prefix('!') {
            requirement(k, "DoesNotExist", None)
        } else {
            requirement(term, "Exists", None)
        });
    }
    Ok(LabelSelector {
        match_expressions: Some(expressions),
        ..LabelSelector::default()
    })
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
        let (s, _) =
            selectors("labelSelector=app%3Dinference%2Ctier%21%3Ddb%2C%21legacy%2Cteam").unwrap();
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let selects = |l| crate::k8s::labels::selects(&s, &l);
        assert!(selects(labels(&[("app", "inference"), ("team", "ml")])));
        assert!(!selects(labels(&[("app", "inference")])));
        assert!(!selects(labels(&[
            ("app", "inference"),
            ("team", "ml"),
            ("tier", "db")
        ])));
        assert!(!selects(labels(&[("app", "trainer"), ("team", "ml")])));
        assert!(!selects(labels(&[
            ("app", "inference"),
            ("team", "ml"),
            ("legacy", "y")
        ])));
        assert!(selectors("labelSelector=app+in+(a,b)").is_err());
        assert!(selectors("fieldSelector=spec.schedulerName%3Dx").is_err());
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
