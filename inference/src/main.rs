//! `inference`: serve the published model over HTTP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use inference::server::{self, Config};

/// Serve the model `trainer` publishes: `/predict?x=`, the Open Inference Protocol v2 REST API,
/// `/healthz` (liveness), `/readyz` (readiness: 503 until a valid model is loaded) and
/// `/metrics`. A new `version.txt` is noticed within one reload interval; an invalid artifact
/// is refused and the last good model keeps serving. SIGTERM drains in-flight requests.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// Directory holding model.json and version.txt (the model PVC, mounted read-only).
    #[arg(long, env = "MODEL_DIR", default_value = "/models")]
    model_dir: PathBuf,
    /// Address to listen on; port 0 picks a free port (logged as `listening addr=…`).
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
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
    let config = Config {
        model_dir: args.model_dir,
        listen: args.listen,
        model_name: args.model_name,
        reload_interval: args.reload_interval,
        drain_timeout: args.drain_timeout,
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
