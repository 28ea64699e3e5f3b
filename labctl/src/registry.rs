//! An image's platforms read from its registry the way the kubelet's runtime reads them: the
//! Distribution API over HTTPS (or plain HTTP for a registry declared so, as containerd's
//! `hosts.toml` does), the registry's own CA when it has one, and credentials when the
//! registry asks: basic authentication, or a bearer token from its token service, anonymous
//! or with the credentials. Credentials never appear in a message.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;

/// A registry's user name and password (or token). `Debug` does not print the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({}, <password>)", self.username)
    }
}

/// How to reach the registries: whom to trust, who speaks plain HTTP, what to log in with.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// PEM certificates trusted besides the system's (a home registry's own CA).
    pub ca_pem: Option<Vec<u8>>,
    /// Registries (`host:port`) that speak plain HTTP.
    pub plain_http: Vec<String>,
    /// Credentials by registry (`host[:port]`), and where they came from (for the evidence).
    pub credentials: BTreeMap<String, (Credential, String)>,
}

impl Access {
    /// The trust of the lab description: its CA file read, its plain-HTTP registries.
    pub fn new(ca_file: Option<&Path>, plain_http: &[String]) -> Result<Access, String> {
        let ca_pem = match ca_file {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| format!("cannot read registry_ca_file {}: {e}", path.display()))?,
            ),
            None => None,
        };
        Ok(Access {
            ca_pem,
            plain_http: plain_http.to_vec(),
            credentials: BTreeMap::new(),
        })
    }

    /// Adds the `auths` of a Docker config (`~/.docker/config.json`, or a
    /// `kubernetes.io/dockerconfigjson` Secret's `.dockerconfigjson`), without replacing
    /// credentials already known for a registry.
    pub fn add_docker_config(&mut self, json: &serde_json::Value, source: &str) {
        for (registry, credential) in docker_config_auths(json) {
            self.credentials
                .entry(registry)
                .or_insert_with(|| (credential, source.to_owned()));
        }
    }

    fn client(&self, timeout: Duration) -> Result<reqwest::Client, String> {
        let mut builder = reqwest::Client::builder().timeout(timeout).no_proxy();
        if let Some(pem) = &self.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("registry_ca_file holds no PEM certificate: {e}"))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        builder.build().map_err(|e| e.to_string())
    }
}

/// The `auths` of a Docker config: `"auth"` (base64 of `user:password`), or `username` and
/// `password`. Keys are registries, with or without `https://` and a path (`docker login`
/// writes `https://index.docker.io/v1/` for Docker Hub).
pub fn docker_config_auths(json: &serde_json::Value) -> BTreeMap<String, Credential> {
    let mut out = BTreeMap::new();
    let Some(auths) = json.get("auths").and_then(|a| a.as_object()) else {
        return out;
    };
    for (key, entry) in auths {
        let from_auth = entry
            .get("auth")
            .and_then(|a| a.as_str())
            .and_then(|a| base64::engine::general_purpose::STANDARD.decode(a).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.split_once(':').map(|(u, p)| Credential {
                    username: u.to_owned(),
                    password: p.to_owned(),
                })
            });
        let plain = || {
            Some(Credential {
                username: entry.get("username")?.as_str()?.to_owned(),
                password: entry.get("password")?.as_str()?.to_owned(),
            })
        };
        if let Some(c) = from_auth.or_else(plain) {
            out.insert(registry_of_key(key), c);
        }
    }
    out
}

/// `https://index.docker.io/v1/` → `registry-1.docker.io`; `https://host:5000/x` → `host:5000`.
fn registry_of_key(key: &str) -> String {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or(key);
    match host {
        "index.docker.io" | "docker.io" => "registry-1.docker.io".to_owned(),
        other => other.to_owned(),
    }
}

/// An image reference split into (registry, repository, tag or digest); Docker Hub's defaults
/// filled in.
pub fn split_image(image: &str) -> (String, String, String) {
    let (rest, reference) = match image.split_once('@') {
        Some((r, d)) => (r, d.to_owned()),
        None => match image.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, t.to_owned()),
            _ => (image, "latest".to_owned()),
        },
    };
    let (registry, repo) = match rest.split_once('/') {
        Some((first, r)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            (first.to_owned(), r.to_owned())
        }
        _ => (
            "registry-1.docker.io".to_owned(),
            if rest.contains('/') {
                rest.to_owned()
            } else {
                format!("library/{rest}")
            },
        ),
    };
    (registry, repo, reference)
}

/// The platforms (`os/architecture[/variant]`) an image index or manifest list offers
/// (OCI `application/vnd.oci.image.index.v1+json`, Docker manifest list v2). `None` when the
/// document is a single-platform manifest (its platform is in its config blob, not here).
pub fn index_platforms(index: &serde_json::Value) -> Option<Vec<String>> {
    let manifests = index.get("manifests")?.as_array()?;
    Some(
        manifests
            .iter()
            .filter_map(|m| m.get("platform"))
            .filter_map(|p| {
                let os = p.get("os")?.as_str()?;
                let arch = p.get("architecture")?.as_str()?;
                // Attestation manifests (buildx provenance) carry `unknown/unknown`.
                if os == "unknown" {
                    return None;
                }
                Some(match p.get("variant").and_then(|v| v.as_str()) {
                    Some(v) => format!("{os}/{arch}/{v}"),
                    None => format!("{os}/{arch}"),
                })
            })
            .collect(),
    )
}

/// An image's platforms (`None`: a single-platform manifest), or why they could not be read.
pub async fn read_platforms(
    image: &str,
    timeout: Duration,
    access: &Access,
) -> Result<Option<Vec<String>>, String> {
    let (registry, repo, reference) = split_image(image);
    let scheme = if access.plain_http.iter().any(|r| r == &registry) {
        "http"
    } else {
        "https"
    };
    let url = format!("{scheme}://{registry}/v2/{repo}/manifests/{reference}");
    let accept = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
    let client = access.client(timeout)?;
    let unreachable =
        |e: reqwest::Error| format!("registry {registry} unreachable: {}", root_cause(&e));
    let get = || client.get(&url).header("Accept", accept);
    let mut resp = get().send().await.map_err(unreachable)?;
    let credential = access.credentials.get(&registry);
    if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        resp = if challenge.trim_start().starts_with("Basic") {
            let Some((c, _)) = credential else {
                return Err(format!(
                    "registry {registry} needs credentials (basic authentication) and none are known for it"
                ));
            };
            get()
                .basic_auth(&c.username, Some(&c.password))
                .send()
                .await
                .map_err(unreachable)?
        } else {
            let token = token(&client, &challenge, credential.map(|(c, _)| c)).await?;
            get().bearer_auth(token).send().await.map_err(unreachable)?
        };
    }
    if !resp.status().is_success() {
        let with = match credential {
            Some((c, source)) => format!(" (as {} from {source})", c.username),
            None => " (anonymously)".to_owned(),
        };
        return Err(format!(
            "registry {registry} answered {} for {repo}:{reference}{with}",
            resp.status()
        ));
    }
    let doc: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
    Ok(index_platforms(&doc))
}

/// The innermost cause of a request error (`certificate signed by unknown authority`,
/// `connection refused`), which is what the user acts on.
fn root_cause(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

/// `Bearer realm="…",service="…",scope="…"` → a token from the registry's token service,
/// with the credentials when there are some (anonymous otherwise).
async fn token(
    client: &reqwest::Client,
    challenge: &str,
    credential: Option<&Credential>,
) -> Result<String, String> {
    let params = parse_challenge(challenge).ok_or("needs credentials")?;
    let realm = params
        .iter()
        .find(|(k, _)| k == "realm")
        .map(|(_, v)| v.clone())
        .ok_or("needs credentials")?;
    let query: Vec<(String, String)> = params.into_iter().filter(|(k, _)| k != "realm").collect();
    let mut request = client.get(&realm).query(&query);
    if let Some(c) = credential {
        request = request.basic_auth(&c.username, Some(&c.password));
    }
    let resp = request
        .send()
        .await
        .map_err(|e| format!("token service unreachable: {}", root_cause(&e)))?;
    if !resp.status().is_success() {
        return Err(format!(
            "needs credentials (token service answered {})",
            resp.status()
        ));
    }
    let v: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
    v.get("token")
        .or_else(|| v.get("access_token"))
        .and_then(|t| t.as_str())
        .map(str::to_owned)
        .ok_or_else(|| "needs credentials".to_owned())
}

/// The parameters of a `Bearer` challenge.
pub fn parse_challenge(challenge: &str) -> Option<Vec<(String, String)>> {
    let rest = challenge.trim().strip_prefix("Bearer ")?;
    let mut out = Vec::new();
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        out.push((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_and_challenges() {
        assert_eq!(
            split_image("ghcr.io/mlops-lab/mlops-lab-trainer:0.1.0"),
            (
                "ghcr.io".into(),
                "mlops-lab/mlops-lab-trainer".into(),
                "0.1.0".into()
            )
        );
        assert_eq!(
            split_image("nginx"),
            (
                "registry-1.docker.io".into(),
                "library/nginx".into(),
                "latest".into()
            )
        );
        assert_eq!(
            split_image("registry.homelab:5000/trainer@sha256:ab"),
            (
                "registry.homelab:5000".into(),
                "trainer".into(),
                "sha256:ab".into()
            )
        );
        assert_eq!(
            parse_challenge(r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:x/y:pull""#).unwrap(),
            [
                ("realm".to_owned(), "https://ghcr.io/token".to_owned()),
                ("service".to_owned(), "ghcr.io".to_owned()),
                ("scope".to_owned(), "repository:x/y:pull".to_owned())
            ]
        );
        assert_eq!(parse_challenge("Basic realm=x"), None);
    }

    #[test]
    fn docker_config_auths_read_both_forms_and_docker_hubs_key() {
        let json = serde_json::json!({"auths": {
            "https://index.docker.io/v1/": {"auth": "dXNlcjpzM2NyZXQ="},
            "registry.homelab:5000": {"username": "lab", "password": "pw"},
            "broken.example": {"auth": "not base64!"}
        }});
        let auths = docker_config_auths(&json);
        assert_eq!(
            auths["registry-1.docker.io"],
            Credential {
                username: "user".into(),
                password: "s3cret".into()
            }
        );
        assert_eq!(auths["registry.homelab:5000"].username, "lab");
        assert!(!auths.contains_key("broken.example"));
        assert!(!format!("{:?}", auths["registry.homelab:5000"]).contains("pw"));
    }
}
