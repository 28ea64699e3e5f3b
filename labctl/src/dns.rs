//! DNS through the Pi-hole server itself (hickory-resolver), never the machine's resolver:
//! a record that only `/etc/hosts` or the router knows would hide the very problem we look
//! for. Answers say which server answered.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::Resolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::op::ResponseCode;

/// Addresses of `host` as one server gave them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub host: String,
    pub addresses: Vec<IpAddr>,
    /// The server that answered (the one asked: we ask exactly one).
    pub server: SocketAddr,
}

/// Why a lookup gave no address.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DnsError {
    /// The server answered, but has no A/AAAA record for the host.
    #[error("DNS server {server} has no record for {host}")]
    NoRecord { host: String, server: SocketAddr },
    /// The server answered REFUSED: it has no local record and will not ask upstream (what
    /// dnsmasq without upstream servers does for a name it does not know).
    #[error("DNS server {server} refused to resolve {host}: it has no local record for it")]
    Refused { host: String, server: SocketAddr },
    /// The server did not answer (down, wrong address or port, firewalled, timeout).
    #[error("DNS server {server} did not answer for {host}: {cause}")]
    NoAnswer {
        host: String,
        server: SocketAddr,
        cause: String,
    },
}

/// Resolves `host` by asking `server` only (UDP, then TCP on truncation), within `timeout`.
pub async fn resolve(
    server: SocketAddr,
    host: &str,
    timeout: Duration,
) -> Result<Answer, DnsError> {
    let mut udp = ConnectionConfig::udp();
    udp.port = server.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = server.port();
    let name_server = NameServerConfig::new(server.ip(), true, vec![udp, tcp]);
    let config = ResolverConfig::from_parts(None, vec![], vec![name_server]);
    let mut builder = Resolver::builder_with_config(config, TokioRuntimeProvider::default());
    let opts = builder.options_mut();
    // Half the budget per query, so UDP then TCP both fit within `timeout`.
    opts.timeout = timeout / 2;
    opts.attempts = 1;
    opts.cache_size = 0;
    opts.use_hosts_file = ResolveHosts::Never;
    let no_answer = |cause: String| DnsError::NoAnswer {
        host: host.to_owned(),
        server,
        cause,
    };
    let resolver = builder.build().map_err(|e| no_answer(e.to_string()))?;
    // Fully qualified: no search domain of this machine may be appended.
    let fqdn = if host.ends_with('.') {
        host.to_owned()
    } else {
        format!("{host}.")
    };
    // hickory has its own per-query timeout; this one bounds the whole lookup (both address
    // families, the TCP retry).
    let lookup = tokio::time::timeout(timeout, resolver.lookup_ip(fqdn.as_str())).await;
    match lookup {
        Err(_) => Err(no_answer(format!(
            "timed out after {}",
            humantime::format_duration(timeout)
        ))),
        Ok(Err(e)) if e.is_no_records_found() || e.is_nx_domain() => Err(DnsError::NoRecord {
            host: host.to_owned(),
            server,
        }),
        Ok(Err(NetError::Dns(hickory_resolver::net::DnsError::ResponseCode(
            ResponseCode::Refused,
        )))) => Err(DnsError::Refused {
            host: host.to_owned(),
            server,
        }),
        Ok(Err(e)) => Err(no_answer(e.to_string())),
        Ok(Ok(lookup)) => {
            let addresses: Vec<IpAddr> = lookup.iter().collect();
            if addresses.is_empty() {
                Err(DnsError::NoRecord {
                    host: host.to_owned(),
                    server,
                })
            } else {
                Ok(Answer {
                    host: host.to_owned(),
                    addresses,
                    server,
                })
            }
        }
    }
}

/// The lines to add to Pi-hole for `host → address`, for v6 and v5 (shown in hints).
pub fn pihole_record_hint(host: &str, address: Option<IpAddr>) -> Vec<String> {
    let ip = address.map_or_else(|| "<ingress-ip>".to_owned(), |a| a.to_string());
    vec![
        format!(
            "Pi-hole v6: /etc/pihole/pihole.toml [dns] hosts = [\"{ip} {host}\"] (or Local DNS Records in the web UI)"
        ),
        format!(
            "Pi-hole v5: add \"{ip} {host}\" to /etc/pihole/custom.list, then pihole restartdns"
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn silent_server_is_no_answer_naming_the_server() {
        // A bound UDP socket that never replies: a server that is there but does not answer.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let server = silent.local_addr().unwrap();
        let err = resolve(server, "model.homelab", Duration::from_millis(300))
            .await
            .unwrap_err();
        match &err {
            DnsError::NoAnswer { server: s, .. } => assert_eq!(*s, server),
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains(&server.to_string()));
    }

    #[test]
    fn record_hint_names_host_and_address_for_both_versions() {
        let lines = pihole_record_hint("model.homelab", Some("192.168.1.50".parse().unwrap()));
        assert!(lines[0].contains("\"192.168.1.50 model.homelab\"") && lines[0].contains("v6"));
        assert!(
            lines[1].contains("custom.list") && lines[1].contains("192.168.1.50 model.homelab")
        );
    }
}
