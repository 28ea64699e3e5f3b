//! The benchmark's baseline: the least an HTTP server on hyper + tokio can do, answering every
//! request with the same constant body. `scripts/bench-inference.sh` gives it a body of the
//! same size as a real `/predict` answer, so the ratio measures our routing, parsing,
//! prediction, metrics and JSON, not the transport.
//!
//! Usage: `baseline ADDR BODY` (logs `listening addr=…` on stderr).

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let body = Bytes::from(args.next().unwrap_or_else(|| "{}".into()));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("listening addr={}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_req: Request<hyper::body::Incoming>| {
                let body = body.clone();
                async move {
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(body))
                            .expect("static response"),
                    )
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
