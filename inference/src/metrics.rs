//! Request and reload metrics, rendered in the Prometheus text format.
//!
//! Everything on the request path is a relaxed atomic add: no locks, no allocation. Routes are
//! the fixed set the router matches (`MatchedPath`), so labels cannot explode with user input.

use std::fmt::Write;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tower::{Layer, Service};

/// Every route, as the router matches it (also the metrics' route label).
pub const ROUTES: &[&str] = &[
    "/healthz",
    "/readyz",
    "/predict",
    "/metrics",
    "/v2",
    "/v2/health/live",
    "/v2/health/ready",
    "/v2/models/{name}",
    "/v2/models/{name}/ready",
    "/v2/models/{name}/infer",
];

/// Route label for requests that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

/// HTTP status codes are 100..=599.
const STATUS_MIN: u16 = 100;
const STATUS_SLOTS: usize = 500;

/// Counters are kept in a few shards, one per worker thread (round robin), so two cores
/// answering requests never fight over one cache line; rendering adds the shards up.
const SHARDS: usize = 4;

#[derive(Debug)]
struct Shard {
    by_status: Box<[AtomicU64]>,
    buckets: [AtomicU64; BUCKETS.len()],
    sum_nanos: AtomicU64,
}

impl Shard {
    fn new() -> Self {
        Self {
            by_status: (0..STATUS_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

#[derive(Debug)]
struct RouteMetrics {
    route: &'static str,
    shards: [Shard; SHARDS],
}

impl RouteMetrics {
    fn new(route: &'static str) -> Self {
        Self {
            route,
            shards: std::array::from_fn(|_| Shard::new()),
        }
    }

    fn sum(&self, f: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards.iter().map(|s| f(s).load(Relaxed)).sum()
    }

    /// Requests answered (every request is counted under exactly one status).
    fn count(&self) -> u64 {
        (0..STATUS_SLOTS)
            .map(|i| self.sum(|s| &s.by_status[i]))
            .sum()
    }
}

/// This thread's shard.
fn shard_index() -> usize {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static SHARD: usize = (NEXT.fetch_add(1, Relaxed) as usize) % SHARDS;
    }
    SHARD.with(|s| *s)
}

/// All counters of one server.
#[derive(Debug)]
pub struct Metrics {
    routes: Vec<RouteMetrics>,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
    model_version: Mutex<Option<String>>,
    /// Main-port connections open now, and the most it serves at once.
    connections: AtomicU64,
    max_connections: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut routes: Vec<RouteMetrics> = ROUTES.iter().map(|r| RouteMetrics::new(r)).collect();
        routes.push(RouteMetrics::new(UNMATCHED));
        Self {
            routes,
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
            model_version: Mutex::new(None),
            connections: AtomicU64::new(0),
            max_connections: AtomicU64::new(0),
        }
    }

    /// Once per connection, not per request.
    pub fn connection_opened(&self) {
        self.connections.fetch_add(1, Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections.fetch_sub(1, Relaxed);
    }

    pub fn set_max_connections(&self, max: usize) {
        self.max_connections.store(max as u64, Relaxed);
    }

    /// Counts one answered request.
    pub fn record(&self, route: &str, status: u16, elapsed: Duration) {
        let m = self
            .routes
            .iter()
            .find(|m| m.route == route)
            .unwrap_or_else(|| {
                self.routes
                    .last()
                    .expect("the unmatched route is always there")
            });
        let shard = &m.shards[shard_index()];
        let slot = usize::from(status.saturating_sub(STATUS_MIN)).min(STATUS_SLOTS - 1);
        shard.by_status[slot].fetch_add(1, Relaxed);
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|le| secs <= *le) {
            shard.buckets[i].fetch_add(1, Relaxed);
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        shard.sum_nanos.fetch_add(nanos, Relaxed);
    }

    pub fn reload_succeeded(&self) {
        self.reloads.fetch_add(1, Relaxed);
    }

    pub fn reload_failed(&self) {
        self.reload_failures.fetch_add(1, Relaxed);
    }

    pub fn set_model_version(&self, version: &str) {
        *self.model_version.lock().unwrap_or_else(|p| p.into_inner()) = Some(version.to_owned());
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str(
            "# HELP inference_requests_total HTTP requests answered, by route and status.\n",
        );
        out.push_str("# TYPE inference_requests_total counter\n");
        for m in &self.routes {
            for i in 0..STATUS_SLOTS {
                let n = m.sum(|s| &s.by_status[i]);
                if n > 0 {
                    let status = i + usize::from(STATUS_MIN);
                    let _ = writeln!(
                        out,
                        "inference_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                        m.route
                    );
                }
            }
        }
        out.push_str(
            "# HELP inference_request_duration_seconds Time to answer a request, by route.\n",
        );
        out.push_str("# TYPE inference_request_duration_seconds histogram\n");
        for m in self.routes.iter() {
            let count = m.count();
            if count == 0 {
                continue;
            }
            let mut cumulative = 0;
            for (i, le) in BUCKETS.iter().enumerate() {
                cumulative += m.sum(|s| &s.buckets[i]);
                let _ = writeln!(
                    out,
                    "inference_request_duration_seconds_bucket{{route=\"{}\",le=\"{le}\"}} {cumulative}",
                    m.route
                );
            }
            let sum = m.sum(|s| &s.sum_nanos) as f64 / 1e9;
            let r = m.route;
            let _ = writeln!(
                out,
                "inference_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "inference_request_duration_seconds_sum{{route=\"{r}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "inference_request_duration_seconds_count{{route=\"{r}\"}} {count}"
            );
        }
        out.push_str(
            "# HELP model_info The model version being served.\n# TYPE model_info gauge\n",
        );
        if let Some(v) = self
            .model_version
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_deref()
        {
            // Versions are validated to [A-Za-z0-9-_.:+]: nothing to escape.
            let _ = writeln!(out, "model_info{{version=\"{v}\"}} 1");
        }
        out.push_str("# HELP model_reloads_total New models loaded and swapped in.\n# TYPE model_reloads_total counter\n");
        let _ = writeln!(out, "model_reloads_total {}", self.reloads.load(Relaxed));
        out.push_str(
            "# HELP model_reload_failures_total New artifacts refused (invalid or unreadable).\n\
             # TYPE model_reload_failures_total counter\n",
        );
        let _ = writeln!(
            out,
            "model_reload_failures_total {}",
            self.reload_failures.load(Relaxed)
        );
        out.push_str(
            "# HELP inference_connections Connections open on the main port.\n\
             # TYPE inference_connections gauge\n",
        );
        let _ = writeln!(
            out,
            "inference_connections {}",
            self.connections.load(Relaxed)
        );
        out.push_str(
            "# HELP inference_max_connections Connections the main port serves at once; more wait to be accepted.\n\
             # TYPE inference_max_connections gauge\n",
        );
        let _ = writeln!(
            out,
            "inference_max_connections {}",
            self.max_connections.load(Relaxed)
        );
        out
    }
}

/// Counts every answered request by route and status, and times it. A hand-written tower
/// layer rather than `middleware::from_fn`: that one boxes a future and clones the inner
/// service for every request, which cost about a fifth of the throughput of `/predict` (when
/// it still went through the router; `GET /predict` now records itself, see `server.rs`).
#[derive(Clone)]
pub struct TrackLayer(pub &'static Metrics);

impl<S> Layer<S> for TrackLayer {
    type Service = Track<S>;
    fn layer(&self, inner: S) -> Track<S> {
        Track {
            inner,
            metrics: self.0,
        }
    }
}

#[derive(Clone)]
pub struct Track<S> {
    inner: S,
    metrics: &'static Metrics,
}

impl<S> Service<Request> for Track<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = TrackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The static label of the matched route: no allocation per request.
        let route: &'static str = request
            .extensions()
            .get::<MatchedPath>()
            .and_then(|p| ROUTES.iter().copied().find(|r| *r == p.as_str()))
            .unwrap_or(UNMATCHED);
        TrackFuture {
            inner: self.inner.call(request),
            started: Instant::now(),
            route,
            metrics: self.metrics,
        }
    }
}

pin_project_lite::pin_project! {
    pub struct TrackFuture<F> {
        #[pin]
        inner: F,
        started: Instant,
        route: &'static str,
        metrics: &'static Metrics,
    }
}

impl<F, E> Future for TrackFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &output {
            this.metrics.record(
                this.route,
                response.status().as_u16(),
                this.started.elapsed(),
            );
        }
        Poll::Ready(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histogram_and_model_info() {
        let m = Metrics::new();
        m.record("/predict", 200, Duration::from_micros(300));
        m.record("/predict", 200, Duration::from_millis(2));
        m.record("/predict", 400, Duration::from_micros(50));
        m.record("/nope", 404, Duration::from_micros(50));
        m.reload_succeeded();
        m.reload_failed();
        m.reload_failed();
        m.set_model_version("v1");
        let text = m.render();
        for line in [
            "inference_requests_total{route=\"/predict\",status=\"200\"} 2",
            "inference_requests_total{route=\"/predict\",status=\"400\"} 1",
            "inference_requests_total{route=\"unmatched\",status=\"404\"} 1",
            "inference_request_duration_seconds_bucket{route=\"/predict\",le=\"0.0001\"} 1",
            "inference_request_duration_seconds_bucket{route=\"/predict\",le=\"0.0005\"} 2",
            "inference_request_duration_seconds_bucket{route=\"/predict\",le=\"0.0025\"} 3",
            "inference_request_duration_seconds_bucket{route=\"/predict\",le=\"+Inf\"} 3",
            "inference_request_duration_seconds_count{route=\"/predict\"} 3",
            "model_info{version=\"v1\"} 1",
            "model_reloads_total 1",
            "model_reload_failures_total 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(
            !text.contains("route=\"/healthz\""),
            "idle routes have no series"
        );
    }
}
