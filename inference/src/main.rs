//! `inference`: serve the published model over HTTP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use inference::server::{self, Config};

/// Serve the model `trainer` publishes: `/predict?x=`, the Open Inference Protocol v2 REST API,
/// `/healthz` (liveness) and `/readyz` (readiness: 503 until a valid model is loaded) on the
/// main port; `/metrics` on a port of its own, which the Ingress does not expose. A new
/// `version.txt` is noticed within one reload interval; an invalid artifact is refused and the
/// last good model keeps serving. SIGTERM drains in-flight requests.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// Directory holding model.json and version.txt (the model PVC, mounted read-only).
    #[arg(long, env = "MODEL_DIR", default_value = "/models")]
    model_dir: PathBuf,
    /// Address to listen on; port 0 picks a free port (logged as `listening addr=…`).
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Address of the Prometheus `/metrics` endpoint [default: 0.0.0.0:9090, or a free port
    /// on the --listen address when --listen has port 0, so test servers never collide].
    #[arg(long, env = "METRICS_LISTEN_ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// How long a client may take to send a request's headers, counted from when it connects
    /// or from the end of its previous answer; then the connection is closed. This is what
    /// frees the connections of idle and slow clients.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    header_read_timeout: Duration,
    /// Connections served at once on the main port. More wait in the kernel's accept queue
    /// until one closes, instead of each costing a file descriptor. At start the open-file
    /// limit is raised to fit, or, past its hard limit, fewer are served (with a warning).
    #[arg(long, default_value_t = 4096)]
    max_connections: usize,
    /// Model name in the Open Inference Protocol routes (/v2/models/{name}).
    #[arg(long, default_value = "linear")]
    model_name: String,
    /// How often to look for a newly published model, e.g. 2s or 500ms.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    reload_interval: Duration,
    /// How long in-flight requests may take after SIGTERM.
    #[arg(long, default_value = "25s", value_parser = humantime::parse_duration)]
    drain_timeout: Duration,
    /// Log format on stderr.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.reload_interval.is_zero() {
        eprintln!("inference: --reload-interval must be greater than zero");
        return ExitCode::from(2);
    }
    if args.header_read_timeout.is_zero() {
        eprintln!("inference: --header-read-timeout must be greater than zero");
        return ExitCode::from(2);
    }
    if args.max_connections == 0 {
        eprintln!("inference: --max-connections must be at least 1");
        return ExitCode::from(2);
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().init(),
    }
    let max_connections = fit_open_file_limit(args.max_connections);
    let metrics_listen = args.metrics_listen.unwrap_or_else(|| {
        if args.listen.port() == 0 {
            SocketAddr::new(args.listen.ip(), 0)
        } else {
            SocketAddr::from(([0, 0, 0, 0], 9090))
        }
    });
    let config = Config {
        model_dir: args.model_dir,
        listen: args.listen,
        metrics_listen,
        model_name: args.model_name,
        reload_interval: args.reload_interval,
        drain_timeout: args.drain_timeout,
        header_read_timeout: args.header_read_timeout,
        max_connections,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("inference: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inference: {e}");
            ExitCode::from(2)
        }
    }
}

/// File descriptors the process needs besides its main-port connections: listeners, the
/// metrics port's connections, the model files, the runtime's own.
const SPARE_FILES: u64 = 64;

/// Makes room for `max_connections` under the open-file limit, raising the soft limit towards
/// the hard one (as Go's runtime does at start), so the bound, not the limit, is what a flood
/// of clients meets. When even the hard limit is too small the bound is lowered to fit, with a
/// warning: running out of descriptors would fail model reloads and metrics scrapes too, and a
/// pod that refuses to start over it helps nobody.
fn fit_open_file_limit(max_connections: usize) -> usize {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let needed = max_connections as u64 + SPARE_FILES;
    let limit = getrlimit(Resource::Nofile);
    let Some(soft) = limit.current.filter(|soft| *soft < needed) else {
        return max_connections;
    };
    let target = limit.maximum.map_or(needed, |hard| hard.min(needed));
    let raised = Rlimit {
        current: Some(target),
        maximum: limit.maximum,
    };
    let files = match setrlimit(Resource::Nofile, raised) {
        Ok(()) => target,
        Err(e) => {
            tracing::warn!(error = %e, soft, "cannot raise the open-file limit");
            soft
        }
    };
    if files >= needed {
        return max_connections;
    }
    let fitted = usize::try_from(files.saturating_sub(SPARE_FILES).max(1)).unwrap_or(1);
    tracing::warn!(
        max_connections,
        open_file_limit = files,
        serving = fitted,
        "--max-connections does not fit under the open-file limit; serving fewer at once"
    );
    fitted
}
