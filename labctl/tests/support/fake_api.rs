//! The one fake API server of labctl's tests, in the shape of kube-rs's `testcontext()`: a
//! `kube::Client` whose other end is a [`tower_test`] mock handle, a [`Scenario`] that says how
//! the server answers and which calls it must see, and a [`Verifier`] the test awaits so that
//! every expected call is proven made (a check that silently stopped asking the API fails).
//!
//! ```ignore
//! let (client, server) = testcontext();
//! let verifier = server.run(Scenario::new(route).expect("GET /api/v1/nodes"));
//! // … use the client, then drop every clone of it …
//! let seen = verifier.verified().await;
//! ```
#![allow(dead_code)]

use std::time::Duration;

use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// The `Date` header of every answer, as the API server (a Go HTTP server) writes one on each:
/// the fake cluster's clock, fixed so that nothing a test reads depends on the day it runs.
pub const DATE: &str = "Mon, 30 Nov 2026 04:00:00 GMT";

/// How the server answers a request (`method`, `path?query`, JSON body or null): a status and a
/// JSON body, or `None` for 404 Not Found.
pub type Route = Box<dyn Fn(&str, &str, &Value) -> Option<(u16, Value)> + Send + Sync>;

/// What the fake API server answers and which calls it must see.
pub struct Scenario {
    route: Route,
    /// `METHOD path` prefixes (`GET /api/v1/nodes`, with or without the query).
    expected: Vec<String>,
}

impl Scenario {
    pub fn new(
        route: impl Fn(&str, &str, &Value) -> Option<(u16, Value)> + Send + Sync + 'static,
    ) -> Self {
        Self {
            route: Box::new(route),
            expected: Vec::new(),
        }
    }

    /// A call that must be made, as `METHOD path` (a prefix of `METHOD path?query`).
    pub fn expect(mut self, call: &str) -> Self {
        self.expected.push(call.to_owned());
        self
    }

    /// Several calls that must be made.
    pub fn expect_all<'s>(mut self, calls: impl IntoIterator<Item = &'s str>) -> Self {
        self.expected.extend(calls.into_iter().map(str::to_owned));
        self
    }
}

/// The server's end, before it runs a scenario.
pub struct ApiServerVerifier(Handle);

/// A client talking to a fake API server, and that server.
pub fn testcontext() -> (kube::Client, ApiServerVerifier) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (
        kube::Client::new(service, "default"),
        ApiServerVerifier(handle),
    )
}

impl ApiServerVerifier {
    /// Serves `scenario` until every clone of the client is dropped.
    pub fn run(self, scenario: Scenario) -> Verifier {
        let mut handle = self.0;
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some((request, send)) = handle.next_request().await {
                let method = request.method().to_string();
                let uri = request.uri().to_string();
                seen.push(format!("{method} {uri}"));
                let body = http_body_util::BodyExt::collect(request.into_body()).await;
                let body: Value = body
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b.to_bytes()).ok())
                    .unwrap_or(Value::Null);
                let (status, answer) = (scenario.route)(&method, &uri, &body)
                    .unwrap_or_else(|| (404, not_found(&uri)));
                let response = Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .header("date", DATE)
                    .body(Body::from(serde_json::to_vec(&answer).expect("JSON")))
                    .expect("response");
                send.send_response(response);
            }
            let missing: Vec<&String> = scenario
                .expected
                .iter()
                .filter(|e| !seen.iter().any(|s| s.starts_with(e.as_str())))
                .collect();
            assert!(
                missing.is_empty(),
                "expected calls not made: {missing:#?}\ncalls made: {seen:#?}"
            );
            seen
        });
        Verifier(task)
    }
}

/// The running fake server; await [`Verifier::verified`] once the client is dropped.
pub struct Verifier(tokio::task::JoinHandle<Vec<String>>);

impl Verifier {
    /// Every call made, in order, once the client is gone; panics if an expected call was not
    /// made, or if the client is still alive after 10 seconds (a test that forgot to drop it).
    pub async fn verified(self) -> Vec<String> {
        match tokio::time::timeout(Duration::from_secs(10), self.0).await {
            Ok(Ok(seen)) => seen,
            Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Ok(Err(e)) => panic!("the fake API server failed: {e}"),
            Err(_) => panic!("the fake API server still has a client after 10 s: drop it first"),
        }
    }
}

/// A `v1` `Status` of a failed call.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "code": code,
           "reason": reason, "message": message})
}

fn not_found(uri: &str) -> Value {
    status(404, "NotFound", &format!("{uri} not found"))
}

/// An API server holding exactly `items` (objects as `kubectl get -o json` prints them):
/// a GET of a path names one object (404 when it is not there), a LIST every object of that
/// resource in that namespace (or everywhere), an empty list for a resource it holds none of.
/// Selectors are not applied: a test that needs them answers those calls itself.
pub fn cluster(items: Vec<Value>) -> impl Fn(&str, &str, &Value) -> Option<(u16, Value)> {
    move |method, uri, _| {
        if method != "GET" {
            return None;
        }
        let path = uri.split('?').next().unwrap_or(uri);
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (api_version, rest) = match segments.as_slice() {
            ["api", version, rest @ ..] => ((*version).to_owned(), rest),
            ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
            _ => return None,
        };
        let (namespace, plural, name) = match rest {
            ["namespaces", ns, plural, name @ ..] => (Some(*ns), *plural, name.first().copied()),
            [plural, name @ ..] => (None, *plural, name.first().copied()),
            [] => return None,
        };
        let text = |o: &Value, pointer: &str| {
            o.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let mut matching = items.iter().filter(|o| {
            text(o, "/apiVersion").as_deref() == Some(api_version.as_str())
                && text(o, "/kind").is_some_and(|k| plural_of(&k) == plural)
                && namespace.is_none_or(|ns| text(o, "/metadata/namespace").as_deref() == Some(ns))
                && name.is_none_or(|n| text(o, "/metadata/name").as_deref() == Some(n))
        });
        match name {
            Some(_) => matching.next().cloned().map(|o| (200, o)),
            None => Some((
                200,
                json!({"apiVersion": api_version, "kind": "List", "metadata": {"resourceVersion": "1"},
                       "items": matching.cloned().collect::<Vec<_>>()}),
            )),
        }
    }
}

/// `Ingress` → `ingresses`, `Pod` → `pods`: the plural of the kinds labctl reads.
fn plural_of(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if lower.ends_with('s') {
        format!("{lower}es")
    } else {
        format!("{lower}s")
    }
}

/// The objects of a snapshot file, as labctl read and writes them back.
pub fn items_of(path: &std::path::Path) -> Vec<Value> {
    let snapshot = labctl::snapshot::load_path(path).expect("a snapshot file");
    let list = snapshot.to_list().expect("a List");
    list["items"].as_array().cloned().unwrap_or_default()
}
