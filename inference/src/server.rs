//! Bind, serve, and drain on SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

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

    let (stopping_tx, mut stopping_rx) = watch::channel(false);
    let graceful = async move {
        shutdown_signal().await;
        tracing::info!("shutting down: no new connections, draining in-flight requests");
        let _ = stopping_tx.send(true);
    };
    let serve = axum::serve(listener, api::router(state)).with_graceful_shutdown(graceful);
    let deadline = async {
        let _ = stopping_rx.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(config.drain_timeout).await;
    };
    tokio::select! {
        result = serve => result?,
        () = deadline => tracing::warn!(timeout = ?config.drain_timeout, "drain timed out; exiting with requests in flight"),
    }
    tracing::info!("stopped");
    Ok(())
}

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
