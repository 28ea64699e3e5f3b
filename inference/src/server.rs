//! Bind, serve, and drain on SIGTERM.

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Ready;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::Method;
use axum::response::Response;
use futures_util::future::Either;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::state::AppState;
use crate::{api, reload};

/// A validated server configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub model_dir: PathBuf,
    pub listen: SocketAddr,
    /// Where `/metrics` is served, apart from the public routes.
    pub metrics_listen: SocketAddr,
    pub model_name: String,
    pub reload_interval: Duration,
    /// After SIGTERM, how long in-flight requests may take before the process exits anyway.
    /// Below Kubernetes' default 30 s grace period, so we exit before the SIGKILL.
    pub drain_timeout: Duration,
    /// How long a connection may take to send a request's headers, counted from the
    /// connection's start or the end of its previous answer (so it bounds idle keep-alive too).
    pub header_read_timeout: Duration,
    /// Connections served at once on the main port; more wait in the kernel's accept queue.
    pub max_connections: usize,
}

/// Connections the metrics port serves at once: Prometheus scrapes with one.
const MAX_METRICS_CONNECTIONS: usize = 16;

/// Serves until SIGTERM or SIGINT, then stops accepting, finishes in-flight requests and
/// returns. Errors only when the address cannot be bound.
pub async fn run(config: Config) -> std::io::Result<()> {
    // The state lives as long as the process, so it is leaked into a `&'static`: handlers and
    // the metrics layer then share it without touching a reference count on every request
    // (two cores bumping one counter cost measurable throughput).
    let state: &'static AppState = Box::leak(Box::new(AppState::new(
        config.model_name.clone(),
        config.model_dir.clone(),
    )));
    state.metrics.set_max_connections(config.max_connections);
    reload::spawn(state, config.reload_interval);
    let listener = bind(config.listen).map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.listen))
    })?;
    let addr = listener.local_addr()?;
    let metrics_listener = bind(config.metrics_listen).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot listen on {} for metrics: {e}",
                config.metrics_listen
            ),
        )
    })?;
    let metrics = metrics_listener.local_addr()?;
    tracing::info!(%addr, %metrics, model_dir = %config.model_dir.display(), model_name = %config.model_name, max_connections = config.max_connections, header_read_timeout = ?config.header_read_timeout, "listening");

    let mut http = http1::Builder::new();
    // Without a timer hyper waits for headers forever: an idle or slow client would hold its
    // connection (and a file descriptor) as long as it likes.
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    // The metrics port runs until the process exits, so Prometheus still sees the drain.
    tokio::spawn(serve_metrics(metrics_listener, state, http.clone()));
    serve(
        listener,
        state,
        http,
        config.max_connections,
        config.drain_timeout,
    )
    .await;
    tracing::info!("stopped");
    Ok(())
}

/// The accept queue's length. Clients beyond the connection bound wait there, and once it is
/// full the kernel drops their SYNs and they retry after 1, 3, 7… s; the usual 128 would make
/// every client wait like that while slow clients hold the server. The kernel caps it at
/// `net.core.somaxconn` (4096 by default). Waiting connections cost no file descriptor here.
const ACCEPT_QUEUE: u32 = 4096;

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // As the standard library's bind does: a restarted server can bind at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_QUEUE)
}

/// Accepts HTTP/1.1 connections until SIGTERM or SIGINT, then closes the listener, lets every
/// connection finish the request it is on, and returns (or gives up after `drain_timeout`).
///
/// Hand-written rather than `axum::serve` so that each connection is served by [`Connection`],
/// which answers `GET /predict` before the router. Plain HTTP/1.1 (no HTTP/2 detection, no
/// upgrades) is all Kubernetes probes, the ingress and `labctl` speak.
async fn serve(
    listener: TcpListener,
    state: &'static AppState,
    http: http1::Builder,
    max_connections: usize,
    drain_timeout: Duration,
) {
    let router = api::router(state);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(max_connections));
    let mut stop = std::pin::pin!(shutdown_signal());
    let mut limit = LimitWarning::default();
    loop {
        let stream = tokio::select! {
            accepted = accept(&listener, &slots, &mut limit) => accepted,
            () = &mut stop => break,
        };
        let (stream, slot) = stream;
        let service = Connection {
            state,
            router: RefCell::new(router.clone()),
        };
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        state.metrics.connection_opened();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            state.metrics.connection_closed();
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!("shutting down: no new connections, draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => {},
        () = tokio::time::sleep(drain_timeout) => {
            tracing::warn!(timeout = ?drain_timeout, "drain timed out; exiting with requests in flight");
        }
    }
}

/// Serves `/metrics` (and 404 for anything else) on its own port, so the Ingress, which
/// routes to the main port, cannot expose it. Its own connection bound keeps scrapes working
/// while the main port is full.
async fn serve_metrics(listener: TcpListener, state: &'static AppState, http: http1::Builder) {
    let router = api::metrics_router(state);
    let slots = Arc::new(Semaphore::new(MAX_METRICS_CONNECTIONS));
    let mut limit = LimitWarning::default();
    loop {
        let (stream, slot) = accept(&listener, &slots, &mut limit).await;
        let router = router.clone();
        let service = hyper::service::service_fn(move |request| {
            tower::Service::call(&mut router.clone(), request)
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "metrics connection ended with an error");
            }
            drop(slot);
        });
    }
}

/// Waits for a free connection slot, then accepts one connection. While every slot is taken
/// nothing is accepted: new clients wait in the kernel's accept queue instead of costing a
/// file descriptor each, and get in as slow or idle clients time out.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
    limit: &mut LimitWarning,
) -> (TcpStream, OwnedSemaphorePermit) {
    loop {
        let slot = match Arc::clone(slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                limit.warn(listener);
                Arc::clone(slots)
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed")
            }
        };
        match listener.accept().await {
            Ok((stream, _)) => {
                // Answers are one small write; never hold them back for Nagle.
                let _ = stream.set_nodelay(true);
                return (stream, slot);
            }
            // A client that gave up before we accepted it: nothing wrong here.
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                // Out of file descriptors or similar: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Says that the connection limit was reached, at most once every ten seconds: under a flood
/// of slow clients it would otherwise be said for every connection.
#[derive(Default)]
struct LimitWarning {
    last: Option<Instant>,
}

impl LimitWarning {
    fn warn(&mut self, listener: &TcpListener) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < Duration::from_secs(10))
        {
            return;
        }
        self.last = Some(now);
        let addr = listener.local_addr().ok();
        tracing::warn!(
            addr = ?addr,
            "connection limit reached: new connections wait until one closes"
        );
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

/// What answers one connection's requests.
///
/// `GET /predict` is the hot path: it is answered here, without the router's per-request
/// work (route lookup, request extensions, boxed bodies and services). Against a bare hyper
/// server that took `/predict` from 0.82 to 0.97–0.99 of its throughput
/// (`scripts/bench-inference.sh`); the hand-written serve loop alone gained 0.01. Everything
/// else, `HEAD /predict` included, goes through the router, which calls the same
/// [`api::answer_predict`], so both paths give the same answer and the same metrics.
struct Connection {
    state: &'static AppState,
    /// hyper calls a service through `&self`, one request at a time per HTTP/1 connection,
    /// while the router's `call` wants `&mut self`; the cell bridges the two without cloning
    /// the router (a shared reference count) on every request.
    router: RefCell<Router>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Connection {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, RouterFuture>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        if request.method() == Method::GET && request.uri().path() == "/predict" {
            let started = Instant::now();
            let response = api::answer_predict(self.state, request.uri().query());
            self.state
                .metrics
                .record("/predict", response.status().as_u16(), started.elapsed());
            return Either::Left(std::future::ready(Ok(response)));
        }
        Either::Right(tower::Service::call(
            &mut *self.router.borrow_mut(),
            request,
        ))
    }
}

type RouterFuture = <Router as tower::Service<hyper::Request<Incoming>>>::Future;

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the process still stops on the default action.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
