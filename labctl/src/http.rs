//! The one HTTP client of labctl: requests to the ingress with the lab's Host header, and the
//! classification of failures into the hop that failed, the way an operator tells them apart
//! from outside.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::k8s::routing::{Backend, HostRoute};

/// Which hop of LAN client → DNS → ingress → Service → pod failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hop {
    Dns,
    Connect,
    IngressRouting,
    Backend,
    ModelNotReady,
    Response,
}

impl std::fmt::Display for Hop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Hop::Dns => "DNS",
            Hop::Connect => "connect",
            Hop::IngressRouting => "ingress routing",
            Hop::Backend => "backend",
            Hop::ModelNotReady => "model not ready",
            Hop::Response => "response",
        })
    }
}

/// A failed request, attributed to a hop, with a message that says what to look at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{hop} failed: {message}")]
pub struct HopError {
    pub hop: Hop,
    pub message: String,
}

impl HopError {
    pub fn new(hop: Hop, message: impl Into<String>) -> Self {
        Self {
            hop,
            message: message.into(),
        }
    }
}

/// A successful (2xx) response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: String,
    pub latency: Duration,
}

/// `GET http://<host>:<port><path>` sent to `address` (so the Host header is the lab's host
/// whatever the address), within `timeout`. Non-2xx statuses become [`HopError`]s.
pub async fn get(
    address: SocketAddr,
    host: &str,
    path_and_query: &str,
    timeout: Duration,
) -> Result<Response, HopError> {
    let client = reqwest::Client::builder()
        // Pin the host to the address we chose (DNS answer or --resolve): no other resolver.
        .resolve(host, address)
        // A proxy from the environment would change which hop we are testing.
        .no_proxy()
        .connect_timeout(timeout)
        .timeout(timeout)
        .build()
        .map_err(|e| HopError::new(Hop::Connect, format!("cannot build HTTP client: {e}")))?;
    let url = format!("http://{host}:{}{path_and_query}", address.port());
    let started = Instant::now();
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| send_error(&e, address, timeout))?;
    let status = response.status().as_u16();
    let body = response
        .text()
        .await
        .map_err(|e| HopError::new(Hop::Response, format!("cannot read the response body: {e}")))?;
    let latency = started.elapsed();
    classify_status(status, &body, host, address)?;
    Ok(Response {
        status,
        body,
        latency,
    })
}

fn send_error(e: &reqwest::Error, address: SocketAddr, timeout: Duration) -> HopError {
    let root = root_cause(e);
    if e.is_timeout() {
        HopError::new(
            Hop::Connect,
            format!(
                "no answer from the ingress at {address} within {}",
                humantime::format_duration(timeout)
            ),
        )
    } else if e.is_connect() {
        HopError::new(
            Hop::Connect,
            format!("cannot connect to the ingress at {address}: {root}"),
        )
    } else {
        HopError::new(
            Hop::Connect,
            format!("request to the ingress at {address} failed: {root}"),
        )
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Maps an HTTP status to the hop that produced it. 404 is the controller's answer for a Host
/// no route matches (Traefik's `404 page not found`, ingress-nginx's default backend); 502/504
/// the ingress could not talk to the pods; 503 is either no ready endpoints (Traefik with
/// `allowEmptyServices`, ingress-nginx's HTML page) or the model server's own JSON
/// `{"error": …}`.
pub fn classify_status(
    status: u16,
    body: &str,
    host: &str,
    address: SocketAddr,
) -> Result<(), HopError> {
    match status {
        200..=299 => Ok(()),
        404 => Err(HopError::new(
            Hop::IngressRouting,
            format!(
                "host {host} is not routed by the ingress at {address} (404 from the default backend)"
            ),
        )),
        502 => Err(HopError::new(
            Hop::Backend,
            format!(
                "the ingress at {address} got no valid answer from the inference pods (502 Bad Gateway)"
            ),
        )),
        504 => Err(HopError::new(
            Hop::Backend,
            format!(
                "the inference pods behind the ingress at {address} timed out (504 Gateway Timeout)"
            ),
        )),
        503 => match json_error(body) {
            Some(reason) => Err(HopError::new(
                Hop::ModelNotReady,
                format!("the model server is not ready: {reason}"),
            )),
            None => Err(HopError::new(
                Hop::Backend,
                format!("the ingress at {address} has no ready endpoints for {host} (503)"),
            )),
        },
        400 => Err(HopError::new(
            Hop::Response,
            format!(
                "the model server refused the request: {}",
                json_error(body).unwrap_or_else(|| body.trim().to_owned())
            ),
        )),
        other => Err(HopError::new(
            Hop::Response,
            format!("unexpected HTTP {other} from {address}"),
        )),
    }
}

/// A 404 or a bare 503 from the ingress, read again with the objects that route the host
/// (when the API could be read). From outside, "the host is not routed" and "the host is
/// routed to a Service without a ready endpoint" look alike: Traefik answers 404 for both
/// unless `allowEmptyServices` is set. Other failures are returned as they are.
pub fn explain_with_route(err: HopError, route: &HostRoute, host: &str) -> HopError {
    if !matches!(err.hop, Hop::IngressRouting | Hop::Backend)
        || route.by.is_some() && route.backends.is_empty()
    {
        return err;
    }
    let kind = route.kind;
    let targets = || {
        route
            .backends
            .iter()
            .map(Backend::target)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(by) = route.by.as_deref() else {
        let routed = if route.hosts_routed.is_empty() {
            "none".to_owned()
        } else {
            route.hosts_routed.join(", ")
        };
        return HopError::new(
            Hop::IngressRouting,
            format!(
                "{}; no {kind} in the namespace routes host {host} (hosts routed: {routed})",
                err.message
            ),
        );
    };
    if !route.reaches_a_service() {
        return HopError::new(
            Hop::IngressRouting,
            format!(
                "{}; {kind} {by} routes host {host} to no existing Service port: {}",
                err.message,
                targets()
            ),
        );
    }
    match route.ready_endpoints() {
        0 => HopError::new(
            Hop::Backend,
            format!(
                "{kind} {by} routes host {host} to {}, which has no ready endpoint (the ingress \
                 answers 404 or 503 for it; 404 is Traefik's answer unless allowEmptyServices is \
                 set): look at the pods behind the Service",
                targets()
            ),
        ),
        ready if err.hop == Hop::IngressRouting => HopError::new(
            Hop::IngressRouting,
            format!(
                "{}, yet {kind} {by} routes it to {} with {ready} ready endpoint(s): the ingress \
                 controller has not taken the route (its IngressClass, its logs)",
                err.message,
                targets()
            ),
        ),
        _ => err,
    }
}

/// The `error` field of an inference error body, if the body is one.
fn json_error(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.get("error")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "192.0.2.1:80".parse().unwrap()
    }

    fn route(by: Option<&str>, backends: &[(&str, bool, usize)]) -> HostRoute {
        HostRoute {
            kind: "Ingress",
            by: by.map(str::to_owned),
            hosts_routed: vec!["other.homelab".into()],
            backends: backends
                .iter()
                .map(|(service, exists, ready)| Backend {
                    service: (*service).into(),
                    port: "80".into(),
                    exists: *exists,
                    ready_endpoints: *ready,
                })
                .collect(),
        }
    }

    fn not_found() -> HopError {
        classify_status(404, "404 page not found", "model.homelab", addr()).unwrap_err()
    }

    #[test]
    fn a_404_for_a_route_without_ready_endpoints_blames_the_backend() {
        let e = explain_with_route(
            not_found(),
            &route(Some("web"), &[("serve", true, 0)]),
            "model.homelab",
        );
        assert_eq!(e.hop, Hop::Backend);
        assert!(
            e.message.contains(
                "Ingress web routes host model.homelab to serve:80, which has no ready endpoint"
            ),
            "{}",
            e.message
        );
        assert!(!e.message.contains("not routed"), "{}", e.message);
    }

    #[test]
    fn a_404_for_an_unrouted_host_stays_a_routing_failure_and_says_what_is_routed() {
        let e = explain_with_route(not_found(), &route(None, &[]), "model.homelab");
        assert_eq!(e.hop, Hop::IngressRouting);
        assert!(
            e.message.contains("hosts routed: other.homelab"),
            "{}",
            e.message
        );
        let e = explain_with_route(
            not_found(),
            &route(Some("web"), &[("serve", false, 0)]),
            "model.homelab",
        );
        assert_eq!(e.hop, Hop::IngressRouting);
        assert!(
            e.message.contains("no existing Service port: serve:80"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_404_with_ready_endpoints_points_at_the_controller() {
        let e = explain_with_route(
            not_found(),
            &route(Some("web"), &[("serve", true, 2)]),
            "model.homelab",
        );
        assert_eq!(e.hop, Hop::IngressRouting);
        assert!(e.message.contains("2 ready endpoint(s)"), "{}", e.message);
    }

    #[test]
    fn other_failures_are_left_as_they_are() {
        let bare_503 = classify_status(503, "no available server", "h", addr()).unwrap_err();
        let routed = route(Some("web"), &[("serve", true, 1)]);
        assert_eq!(explain_with_route(bare_503.clone(), &routed, "h"), bare_503);
        let model = classify_status(503, r#"{"error":"no model"}"#, "h", addr()).unwrap_err();
        assert_eq!(
            explain_with_route(model.clone(), &route(None, &[]), "h"),
            model
        );
    }

    #[test]
    fn statuses_name_their_hop() {
        let hop = |s, body| {
            classify_status(s, body, "model.homelab", addr())
                .unwrap_err()
                .hop
        };
        assert_eq!(hop(404, "<html>404</html>"), Hop::IngressRouting);
        assert_eq!(hop(502, ""), Hop::Backend);
        assert_eq!(hop(504, ""), Hop::Backend);
        assert_eq!(
            hop(503, "<html>503 Service Temporarily Unavailable</html>"),
            Hop::Backend
        );
        assert_eq!(
            hop(503, r#"{"error":"no model loaded"}"#),
            Hop::ModelNotReady
        );
        assert_eq!(hop(500, ""), Hop::Response);
        assert!(classify_status(200, "", "h", addr()).is_ok());
    }

    #[test]
    fn not_ready_message_carries_the_servers_reason() {
        let e = classify_status(503, r#"{"error":"no model loaded"}"#, "h", addr()).unwrap_err();
        assert!(e.to_string().contains("no model loaded"), "{e}");
    }

    #[tokio::test]
    async fn refused_connection_is_a_connect_failure() {
        // Bind then drop: the port is free and nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let err = get(address, "model.homelab", "/healthz", Duration::from_secs(2))
            .await
            .unwrap_err();
        assert_eq!(err.hop, Hop::Connect);
        assert!(err.message.contains(&address.to_string()), "{err}");
    }
}
