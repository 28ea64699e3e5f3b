//! Asking the served model for y(x) the way a LAN client does: resolve the host through
//! Pi-hole, then GET /predict through the ingress with the lab's Host header. Every failure
//! names its hop.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::config::LabConfig;
use crate::http::{Hop, HopError};

/// A successful prediction and the path it took (`-o json` prints exactly these fields).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Prediction {
    pub x: f64,
    pub y: f64,
    pub model_version: String,
    pub host: String,
    /// `ip:port` the request was sent to.
    pub address: String,
    /// `ip:port` of the DNS server that answered; `null` with `--resolve`.
    pub dns_server: Option<String>,
    pub latency_ms: f64,
}

/// Parses x; only finite numbers are inputs of the model.
pub fn parse_x(text: &str) -> anyhow::Result<f64> {
    match text.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => anyhow::bail!("invalid x {text:?}: expected a finite number, e.g. 4.2"),
    }
}

/// DNS (or `resolve`), then HTTP; every failure names its hop.
pub async fn predict(
    config: &LabConfig,
    x: f64,
    resolve: Option<IpAddr>,
    timeout: Duration,
) -> Result<Prediction, HopError> {
    let (ip, dns_server) = match (resolve, config.pihole_dns) {
        (Some(ip), _) => (ip, None),
        (None, Some(server)) => {
            let answer = crate::dns::resolve(server, &config.host, timeout)
                .await
                .map_err(|e| HopError::new(Hop::Dns, e.to_string()))?;
            (prefer_ipv4(&answer.addresses), Some(answer.server))
        }
        (None, None) => {
            return Err(HopError::new(Hop::Dns, "no Pi-hole DNS server configured"));
        }
    };
    let address = SocketAddr::new(ip, config.ingress_port);
    let response =
        crate::http::get(address, &config.host, &format!("/predict?x={x}"), timeout).await?;
    let body: PredictBody = serde_json::from_str(&response.body).map_err(|e| {
        HopError::new(
            Hop::Response,
            format!("unexpected /predict answer from {address}: {e}"),
        )
    })?;
    Ok(Prediction {
        x,
        y: body.y,
        model_version: body.model_version,
        host: config.host.clone(),
        address: address.to_string(),
        dns_server: dns_server.map(|s| s.to_string()),
        latency_ms: (response.latency.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
    })
}

#[derive(serde::Deserialize)]
struct PredictBody {
    y: f64,
    model_version: String,
}

/// Home networks are IPv4 first; the first IPv4 answer, else the first answer.
fn prefer_ipv4(addresses: &[IpAddr]) -> IpAddr {
    addresses
        .iter()
        .copied()
        .find(IpAddr::is_ipv4)
        .unwrap_or(addresses[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_must_be_a_finite_number() {
        assert_eq!(parse_x("4.2").unwrap(), 4.2);
        assert_eq!(parse_x("-1e3").unwrap(), -1000.0);
        for bad in ["abc", "", "NaN", "inf", "4.2.1"] {
            let err = parse_x(bad).unwrap_err().to_string();
            assert!(err.contains("invalid x"), "{bad}: {err}");
        }
    }

    #[test]
    fn ipv4_is_preferred() {
        let v6: IpAddr = "::1".parse().unwrap();
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(prefer_ipv4(&[v6, v4]), v4);
        assert_eq!(prefer_ipv4(&[v6]), v6);
    }
}
