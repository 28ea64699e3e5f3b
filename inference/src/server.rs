//! Bind, serve, and drain on SIGTERM.

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Ready;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::Method;
use axum::response::Response;
use futures_util::future::Either;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::state::AppState;
use crate::{api, reload};

/// A validated server configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub model_dir: PathBuf,
    pub listen: SocketAddr,
    pub model_name: String,
    pub reload_interval: Duration,
    /// After SIGTERM, how long in-flight requests may take before the process exits anyway.
    /// Below Kubernetes' default 30 s grace period, so we exit before the SIGKILL.
    pub drain_timeout: Duration,
}

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
    reload::spawn(state, config.reload_interval);
    let listener = TcpListener::bind(config.listen).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.listen))
    })?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, model_dir = %config.model_dir.display(), model_name = %config.model_name, "listening");

    serve(listener, state, config.drain_timeout).await;
    tracing::info!("stopped");
    Ok(())
}

/// Accepts HTTP/1.1 connections until SIGTERM or SIGINT, then closes the listener, lets every
/// connection finish the request it is on, and returns (or gives up after `drain_timeout`).
///
/// Hand-written rather than `axum::serve` so that each connection is served by [`Connection`],
/// which answers `GET /predict` before the router. Plain HTTP/1.1 (no HTTP/2 detection, no
/// upgrades) is all Kubernetes probes, the ingress and `labctl` speak.
async fn serve(listener: TcpListener, state: &'static AppState, drain_timeout: Duration) {
    let router = api::router(state);
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(shutdown_signal());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // A client that gave up before we accepted it: nothing wrong here.
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors or similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        // Answers are one small write; never hold them back for Nagle.
        let _ = stream.set_nodelay(true);
        let service = Connection {
            state,
            router: RefCell::new(router.clone()),
        };
        let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
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
