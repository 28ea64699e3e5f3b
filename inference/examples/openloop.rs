//! An open-loop load generator for the benchmark: requests are due at a fixed rate whatever
//! the server does, and each latency is measured from when its request was due, so a stall
//! counts for every request it held back (wrk2's correction for coordinated omission; wrk
//! itself is closed-loop and Debian packages no wrk2).
//!
//! Usage: `openloop URL RATE SECONDS CONNECTIONS`, e.g.
//! `openloop http://127.0.0.1:8080/predict?x=4.2 40000 10 64`. Prints one line of figures.
//!
//! A request waits for its due time on tokio's timer, which fires on whole milliseconds; when
//! the connection was free, its latency is taken from when the timer fired, so that rounding
//! is not charged to the server. When the connection was still busy (the server is late), it
//! is taken from the due time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::Uri;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// What one connection measured: latencies in microseconds, and answers that were not 2xx.
struct Measured {
    latencies: Vec<u32>,
    not_ok: u64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, rate, seconds, connections] = args.as_slice() else {
        return Err("usage: openloop URL RATE SECONDS CONNECTIONS".into());
    };
    let uri: Uri = url.parse()?;
    let rate: u64 = rate.parse()?;
    let seconds: u64 = seconds.parse()?;
    let connections: usize = connections.parse()?;
    if rate == 0 || seconds == 0 || connections == 0 {
        return Err("RATE, SECONDS and CONNECTIONS must be positive".into());
    }
    let total = rate * seconds;
    let next = Arc::new(AtomicU64::new(0));
    // Every connection is open before the first request is due.
    let start = Instant::now() + Duration::from_millis(200);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (uri, next) = (uri.clone(), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            connection(uri, next, total, rate, start).await
        }));
    }
    let mut latencies = Vec::with_capacity(total as usize);
    let mut not_ok = 0;
    for task in tasks {
        let m = task.await??;
        latencies.extend(m.latencies);
        not_ok += m.not_ok;
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        f64::from(latencies[i]) / 1000.0
    };
    println!(
        "requests {} not_2xx {not_ok} rate {:.0} p50_ms {:.3} p99_ms {:.3} p999_ms {:.3} max_ms {:.3}",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        at(0.50),
        at(0.99),
        at(0.999),
        at(1.0)
    );
    Ok(())
}

/// One keep-alive connection taking the next due request until all `total` are sent.
async fn connection(
    uri: Uri,
    next: Arc<AtomicU64>,
    total: u64,
    rate: u64,
    start: Instant,
) -> Result<Measured, Error> {
    let authority = uri.authority().ok_or("URL without host:port")?.clone();
    let stream = tokio::net::TcpStream::connect(authority.as_str()).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let mut measured = Measured {
        latencies: Vec::new(),
        not_ok: 0,
    };
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            return Ok(measured);
        }
        let due = start + Duration::from_nanos(i * 1_000_000_000 / rate);
        let from = if Instant::now() < due {
            tokio::time::sleep_until(due.into()).await;
            Instant::now()
        } else {
            due
        };
        let request = hyper::Request::get(path.as_str())
            .header(hyper::header::HOST, authority.as_str())
            .body(Empty::<Bytes>::new())?;
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        if !response.status().is_success() {
            measured.not_ok += 1;
        }
        response.into_body().collect().await?;
        let micros = from.elapsed().as_micros();
        measured
            .latencies
            .push(u32::try_from(micros).unwrap_or(u32::MAX));
    }
}
