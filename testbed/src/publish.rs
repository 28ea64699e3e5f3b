//! `cargo lab images`: the workload images for a real cluster, without Docker. Builds
//! `trainer` and `inference` in release for each platform (the host's with cargo as the lab
//! does, the others cross-compiled with the Rust target and Debian's cross linker), makes one
//! image index per program with `images.rs` (the lab's image builder), writes them as an OCI
//! image layout and, with `--push`, pushes them to a registry with `oci-client`.
//!
//! Reproducible from a commit: layer times are the commit's (or `SOURCE_DATE_EPOCH`), and the
//! revision, source and version are annotations, so the same commit gives the same digests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation, client::ClientConfig};

use crate::images::{self, Blob, MultiArch, Platform};

/// The environment variables a registry's credentials may come from (else the Docker config).
pub const USERNAME_ENV: &str = "LAB_REGISTRY_USERNAME";
pub const PASSWORD_ENV: &str = "LAB_REGISTRY_PASSWORD";

/// The image repository of each program: the names the manifests' base uses, which the
/// homelab overlay's `images:` maps to a registry.
pub fn repository(program: &str) -> String {
    format!("mlops-lab-{program}")
}

/// What the images say about where they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// The commit (`git rev-parse HEAD`).
    pub revision: String,
    /// Seconds since the epoch: `SOURCE_DATE_EPOCH`, else the commit's time.
    pub created: u64,
    /// The repository's URL (`remote.origin.url`, without credentials), if it has one.
    pub source: Option<String>,
    /// The programs' version (their `Cargo.toml`).
    pub version: String,
}

impl Provenance {
    /// The provenance of the checkout at `repo`. A tree with uncommitted changes is refused
    /// unless `allow_dirty`: its images would not be what the revision says.
    pub fn of(repo: &Path, allow_dirty: bool) -> Result<Provenance> {
        let git = |args: &[&str]| -> Result<String> {
            let out = Command::new("git")
                .args(args)
                .current_dir(repo)
                .output()
                .context("run git")?;
            if !out.status.success() {
                bail!(
                    "git {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        let status = git(&["status", "--porcelain"])?;
        if !status.is_empty() && !allow_dirty {
            bail!(
                "the working tree has uncommitted changes, so the images would not be the commit's; \
                 commit them, or pass --allow-dirty:\n{status}"
            );
        }
        let created = match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => v
                .trim()
                .parse()
                .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds"))?,
            Err(_) => git(&["log", "-1", "--format=%ct"])?
                .parse()
                .context("the commit's time")?,
        };
        let source = git(&["config", "--get", "remote.origin.url"])
            .ok()
            .filter(|s| !s.is_empty())
            .map(|s| without_userinfo(&s));
        let manifest = std::fs::read_to_string(repo.join("trainer/Cargo.toml"))?;
        let version = manifest
            .lines()
            .find_map(|l| l.strip_prefix("version = "))
            .map(|v| v.trim().trim_matches('"').to_owned())
            .context("no version in trainer/Cargo.toml")?;
        Ok(Provenance {
            revision: git(&["rev-parse", "HEAD"])?,
            created,
            source,
            version,
        })
    }

    /// The `org.opencontainers.image.*` annotations.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        let mut a = BTreeMap::new();
        let key = |k: &str| format!("org.opencontainers.image.{k}");
        a.insert(key("revision"), self.revision.clone());
        a.insert(key("version"), self.version.clone());
        a.insert(
            key("created"),
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(self.created),
            )
            .to_string(),
        );
        if let Some(source) = &self.source {
            a.insert(key("source"), source.clone());
        }
        a
    }
}

/// A URL without the `user:password@` a clone URL may carry: annotations are public.
fn without_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}/{path}")
        }
        None => url.to_owned(),
    }
}

/// One program's images.
#[derive(Debug, Clone)]
pub struct Program {
    /// `trainer` or `inference`.
    pub name: &'static str,
    /// Its image repository (`mlops-lab-trainer`).
    pub repository: String,
    pub images: MultiArch,
}

/// Builds the programs for `platforms` and makes their image indexes.
pub fn build(repo: &Path, platforms: &[Platform], provenance: &Provenance) -> Result<Vec<Program>> {
    let mut dirs = Vec::new();
    for platform in platforms {
        dirs.push((*platform, crate::workspace::build_release(repo, *platform)?));
    }
    let annotations = provenance.annotations();
    images::PROGRAMS
        .iter()
        .map(|name| {
            let images = dirs
                .iter()
                .map(|(platform, dir)| {
                    let mut image = images::workload(name, &dir.join(name), *platform)?;
                    image.mtime = provenance.created;
                    image.annotations = annotations.clone();
                    Ok(image)
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Program {
                name,
                repository: repository(name),
                images: images::multi_arch(&images, &annotations)?,
            })
        })
        .collect()
}

/// Writes the programs' indexes into an OCI image layout at `dir`, named `<repository>:<tag>`.
pub fn write_layout(dir: &Path, programs: &[Program], tag: &str) -> Result<()> {
    let named: Vec<(String, &MultiArch)> = programs
        .iter()
        .map(|p| (format!("{}:{tag}", p.repository), &p.images))
        .collect();
    images::write_layout(dir, &named)
}

/// Where to push: `REGISTRY/NAMESPACE` (`ghcr.io/you`, `registry.home:5000/lab`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub registry: String,
    pub namespace: String,
}

impl Destination {
    pub fn parse(s: &str) -> Result<Destination> {
        let s = s.trim().trim_end_matches('/');
        let s = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .unwrap_or(s);
        let (registry, namespace) = s.split_once('/').unwrap_or((s, ""));
        let is_host = registry.contains('.') || registry.contains(':') || registry == "localhost";
        if !is_host || namespace.is_empty() {
            bail!(
                "--push wants REGISTRY/NAMESPACE, a registry host and a namespace (ghcr.io/you, \
                 registry.home:5000/lab), not {s:?}"
            );
        }
        Ok(Destination {
            registry: registry.to_owned(),
            namespace: namespace.to_owned(),
        })
    }

    /// The image name of a repository at this destination (`ghcr.io/you/mlops-lab-trainer`).
    pub fn name(&self, repository: &str) -> String {
        format!("{}/{}/{repository}", self.registry, self.namespace)
    }
}

/// Where a registry's credentials came from, for the messages (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    None,
    Environment,
    DockerConfig(PathBuf),
}

/// The credentials for `registry`: `LAB_REGISTRY_USERNAME` and `LAB_REGISTRY_PASSWORD`, else
/// the `auths` of the Docker config (`$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`), else anonymous. Basic credentials also obtain a bearer token when
/// the registry's challenge names a token service (oci-client does that exchange).
pub fn credentials(registry: &str) -> Result<(RegistryAuth, CredentialSource)> {
    let user = std::env::var(USERNAME_ENV).ok().filter(|v| !v.is_empty());
    let password = std::env::var(PASSWORD_ENV).ok().filter(|v| !v.is_empty());
    match (user, password) {
        (Some(u), Some(p)) => {
            return Ok((RegistryAuth::Basic(u, p), CredentialSource::Environment));
        }
        (None, None) => {}
        _ => bail!("set both {USERNAME_ENV} and {PASSWORD_ENV}, or neither"),
    }
    let dir = match std::env::var_os("DOCKER_CONFIG") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".docker"),
    };
    let file = dir.join("config.json");
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((RegistryAuth::Anonymous, CredentialSource::None));
        }
        Err(e) => return Err(e).with_context(|| format!("read {}", file.display())),
    };
    match docker_config_auth(&text, registry)
        .with_context(|| format!("read the credentials in {}", file.display()))?
    {
        Some(auth) => Ok((auth, CredentialSource::DockerConfig(file))),
        None => Ok((RegistryAuth::Anonymous, CredentialSource::None)),
    }
}

/// The credentials a Docker config's `auths` hold for `registry`: its `auth` field
/// (base64 of `user:password`) or `username` and `password`. Keys may be a host or a URL
/// (`https://index.docker.io/v1/` for Docker Hub).
fn docker_config_auth(text: &str, registry: &str) -> Result<Option<RegistryAuth>> {
    let config: serde_json::Value = serde_json::from_str(text).context("not JSON")?;
    let Some(auths) = config.get("auths").and_then(|a| a.as_object()) else {
        return Ok(None);
    };
    let host_of = |key: &str| -> String {
        let key = key
            .strip_prefix("https://")
            .or_else(|| key.strip_prefix("http://"))
            .unwrap_or(key);
        let host = key.split('/').next().unwrap_or(key);
        match host {
            "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
            h => h.to_owned(),
        }
    };
    let want = host_of(registry);
    let Some(entry) = auths
        .iter()
        .find(|(key, _)| host_of(key) == want)
        .map(|(_, v)| v)
    else {
        return Ok(None);
    };
    if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .context("its `auth` is not base64")?;
        let decoded = String::from_utf8(decoded).context("its `auth` is not UTF-8")?;
        let (user, password) = decoded
            .split_once(':')
            .context("its `auth` is not user:password")?;
        return Ok(Some(RegistryAuth::Basic(user.into(), password.into())));
    }
    let field = |k: &str| entry.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    Ok(match (field("username"), field("password")) {
        (Some(u), Some(p)) => Some(RegistryAuth::Basic(u, p)),
        _ => None,
    })
}

/// One pushed program.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub program: &'static str,
    /// `registry/namespace/mlops-lab-trainer`.
    pub name: String,
    pub tag: String,
    /// The image index's digest.
    pub digest: String,
    /// Each platform's manifest digest.
    pub manifests: Vec<(Platform, String)>,
}

/// How to reach the registry.
#[derive(Debug, Clone)]
pub struct Registry {
    pub destination: Destination,
    /// Plain HTTP instead of HTTPS (a registry on loopback or the LAN without TLS).
    pub plain_http: bool,
    pub auth: RegistryAuth,
    /// PEM certificates to trust besides the system's (a home registry's own CA).
    pub extra_roots: Vec<Vec<u8>>,
}

/// Pushes every program: the layers and configs a registry lacks, each platform's manifest
/// by digest, then the index under `tag`. Returns the digests.
pub async fn push(registry: &Registry, programs: &[Program], tag: &str) -> Result<Vec<Pushed>> {
    // reqwest is built without a default TLS provider: the workspace's rustls uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = ClientConfig {
        protocol: if registry.plain_http {
            oci_client::client::ClientProtocol::Http
        } else {
            oci_client::client::ClientProtocol::Https
        },
        extra_root_certificates: registry
            .extra_roots
            .iter()
            .map(|pem| oci_client::client::Certificate {
                encoding: oci_client::client::CertificateEncoding::Pem,
                data: pem.clone(),
            })
            .collect(),
        ..ClientConfig::default()
    };
    let client = Client::try_from(config).context("make the registry client")?;
    let dest = &registry.destination;
    let mut pushed = Vec::new();
    for program in programs {
        let repository = format!("{}/{}", dest.namespace, program.repository);
        let name = dest.name(&program.repository);
        let explain = |e: OciDistributionError| explain(e, &name, registry.plain_http);
        let tagged = Reference::with_tag(dest.registry.clone(), repository.clone(), tag.into());
        eprintln!("lab: images: pushing {name}:{tag}");
        client
            .auth(&tagged, &registry.auth, RegistryOperation::Push)
            .await
            .map_err(explain)?;
        let mut manifests = Vec::new();
        for m in &program.images.manifests {
            for blob in [&m.layer, &m.config] {
                push_blob(&client, &tagged, blob).await.map_err(explain)?;
            }
            let by_digest = Reference::with_digest(
                dest.registry.clone(),
                repository.clone(),
                m.manifest.digest.clone(),
            );
            push_manifest(&client, &by_digest, &m.manifest)
                .await
                .map_err(explain)?;
            manifests.push((m.platform, m.manifest.digest.clone()));
        }
        push_manifest(&client, &tagged, &program.images.index)
            .await
            .map_err(explain)?;
        pushed.push(Pushed {
            program: program.name,
            name,
            tag: tag.into(),
            digest: program.images.index.digest.clone(),
            manifests,
        });
    }
    Ok(pushed)
}

async fn push_blob(
    client: &Client,
    reference: &Reference,
    blob: &Blob,
) -> std::result::Result<(), OciDistributionError> {
    if !client.blob_exists(reference, &blob.digest).await? {
        client
            .push_blob(reference, blob.data.clone(), &blob.digest)
            .await?;
    }
    Ok(())
}

async fn push_manifest(
    client: &Client,
    reference: &Reference,
    blob: &Blob,
) -> std::result::Result<(), OciDistributionError> {
    let content_type = http::HeaderValue::from_static(blob.media_type);
    client
        .push_manifest_raw(reference, blob.data.clone(), content_type)
        .await?;
    Ok(())
}

/// A registry failure in the words of its cause: credentials (401, denied), the repository
/// (name unknown), TLS, or no registry listening, with what to do about it.
fn explain(e: OciDistributionError, name: &str, plain_http: bool) -> anyhow::Error {
    use std::error::Error;
    let mut chain = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    let credentials = format!(
        "set {USERNAME_ENV} and {PASSWORD_ENV}, or `docker login` (the Docker config's auths)"
    );
    let hint = match &e {
        OciDistributionError::AuthenticationFailure(_) => Some(format!(
            "the registry's token service refused the credentials: {credentials}"
        )),
        OciDistributionError::UnauthorizedError { .. } => {
            Some(format!("401 Unauthorized: {credentials}"))
        }
        OciDistributionError::ServerError { code: 401, .. } => {
            Some(format!("401 Unauthorized: {credentials}"))
        }
        OciDistributionError::RegistryError { envelope, .. } => {
            envelope.errors.iter().find_map(|err| match err.code {
                OciErrorCode::Unauthorized => Some(format!("401 Unauthorized: {credentials}")),
                OciErrorCode::Denied => Some(format!(
                    "denied: these credentials may not push to {name}: {credentials}"
                )),
                OciErrorCode::NameUnknown => Some(format!(
                    "name unknown: the registry has no repository {name} and does not create one \
                     on push; create it in the registry (or check the namespace)"
                )),
                OciErrorCode::Toomanyrequests => {
                    Some("429 Too Many Requests: the registry's rate limit; try later".into())
                }
                _ => None,
            })
        }
        _ => None,
    };
    let lower = chain.to_lowercase();
    let hint = hint.or_else(|| {
        if lower.contains("401 unauthorized") {
            Some(format!("401 Unauthorized: {credentials}"))
        } else if lower.contains("403 forbidden") {
            Some(format!(
                "403 Forbidden: these credentials may not push to {name}: {credentials}"
            ))
        } else if lower.contains("certificate") || lower.contains("unknownissuer") {
            Some("TLS: the registry's certificate is not trusted by this machine (add its CA to the system's trust store)".into())
        } else if lower.contains("connection refused") {
            Some("connection refused: no registry listens at that address".into())
        } else if !plain_http
            && (lower.contains("invalidcontenttype")
                || lower.contains("corrupt message")
                || lower.contains("wrong version number"))
        {
            Some("the registry answers plain HTTP, not HTTPS: pass --plain-http".into())
        } else if plain_http && lower.contains("400 bad request") {
            // Go's HTTPS servers (the CNCF registry, Harbor) answer plain HTTP with a 400.
            Some("400 Bad Request over plain HTTP: the registry probably speaks HTTPS; drop --plain-http".into())
        } else if lower.contains("dns error") || lower.contains("failed to lookup") {
            Some("the registry's host name does not resolve".into())
        } else {
            None
        }
    });
    match hint {
        Some(hint) => anyhow!("push {name}: {hint} ({chain})"),
        None => anyhow!("push {name}: {chain}"),
    }
}

/// The homelab overlay's `images:` entries for the pushed images, by digest.
pub fn kustomize_images(pushed: &[Pushed]) -> String {
    let mut out = String::from("images:\n");
    for p in pushed {
        out.push_str(&format!(
            "  - name: {}\n    newName: {}\n    digest: {}\n",
            repository(p.program),
            p.name,
            p.digest
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_names_a_registry_and_a_namespace() {
        assert_eq!(
            Destination::parse("ghcr.io/you").unwrap(),
            Destination {
                registry: "ghcr.io".into(),
                namespace: "you".into()
            }
        );
        let d = Destination::parse("registry.home:5000/lab/ml/").unwrap();
        assert_eq!(d.registry, "registry.home:5000");
        assert_eq!(
            d.name("mlops-lab-trainer"),
            "registry.home:5000/lab/ml/mlops-lab-trainer"
        );
        for bad in ["ghcr.io", "you/images", ""] {
            let err = Destination::parse(bad).unwrap_err().to_string();
            assert!(err.contains("REGISTRY/NAMESPACE"), "{bad}: {err}");
        }
    }

    fn basic(auth: Option<RegistryAuth>) -> Option<(String, String)> {
        match auth {
            Some(RegistryAuth::Basic(u, p)) => Some((u, p)),
            _ => None,
        }
    }

    #[test]
    fn docker_config_auths_give_basic_credentials() {
        // "alice:s3cr:et" in base64: the password may hold a colon.
        let config = r#"{"auths": {
            "https://index.docker.io/v1/": {"auth": "YWxpY2U6czNjcjpldA=="},
            "registry.home:5000": {"username": "bob", "password": "pw"},
            "ghcr.io": {}
        }}"#;
        assert_eq!(
            basic(docker_config_auth(config, "docker.io").unwrap()),
            Some(("alice".into(), "s3cr:et".into()))
        );
        assert_eq!(
            basic(docker_config_auth(config, "registry.home:5000").unwrap()),
            Some(("bob".into(), "pw".into()))
        );
        assert!(docker_config_auth(config, "ghcr.io").unwrap().is_none());
        assert!(docker_config_auth(config, "quay.io").unwrap().is_none());
        assert!(
            docker_config_auth(r#"{"credsStore": "desktop"}"#, "ghcr.io")
                .unwrap()
                .is_none()
        );
        let err = docker_config_auth(r#"{"auths": {"ghcr.io": {"auth": "%%"}}}"#, "ghcr.io")
            .unwrap_err()
            .to_string();
        assert!(err.contains("base64"), "{err}");
    }

    #[test]
    fn a_clone_url_loses_its_credentials() {
        assert_eq!(
            without_userinfo("https://user:token@github.com/you/mlops-lab.git"),
            "https://github.com/you/mlops-lab.git"
        );
        assert_eq!(
            without_userinfo("git@github.com:you/mlops-lab.git"),
            "git@github.com:you/mlops-lab.git"
        );
    }

    #[test]
    fn annotations_name_revision_version_time_and_source() {
        let p = Provenance {
            revision: "abc".into(),
            created: 86_400,
            source: Some("https://example.org/r.git".into()),
            version: "0.1.0".into(),
        };
        let a = p.annotations();
        assert_eq!(a["org.opencontainers.image.revision"], "abc");
        assert_eq!(a["org.opencontainers.image.version"], "0.1.0");
        assert_eq!(
            a["org.opencontainers.image.created"],
            "1970-01-02T00:00:00Z"
        );
        assert_eq!(
            a["org.opencontainers.image.source"],
            "https://example.org/r.git"
        );
    }

    /// What the registry answers, in the words of its cause and with the fix.
    #[test]
    fn registry_failures_are_explained() {
        use oci_client::errors::{OciEnvelope, OciError};
        let registry_error = |code| OciDistributionError::RegistryError {
            envelope: OciEnvelope {
                errors: vec![OciError {
                    code,
                    message: "m".into(),
                    detail: serde_json::Value::Null,
                }],
            },
            url: "https://r/v2/x".into(),
        };
        let cases = [
            (registry_error(OciErrorCode::NameUnknown), "name unknown"),
            (registry_error(OciErrorCode::Denied), "denied"),
            (
                registry_error(OciErrorCode::Unauthorized),
                "401 Unauthorized",
            ),
            (registry_error(OciErrorCode::Toomanyrequests), "429"),
            (
                OciDistributionError::AuthenticationFailure("no".into()),
                "token service refused",
            ),
            (
                OciDistributionError::UnauthorizedError { url: "u".into() },
                "401 Unauthorized",
            ),
        ];
        for (error, expected) in cases {
            let text = explain(error, "r/x", false).to_string();
            assert!(text.starts_with("push r/x: "), "{text}");
            assert!(text.contains(expected), "{expected}: {text}");
        }
        let other = explain(
            OciDistributionError::GenericError(Some("odd".into())),
            "r/x",
            false,
        )
        .to_string();
        assert_eq!(other, "push r/x: Generic error: Some(\"odd\")");
    }

    #[test]
    fn kustomize_lines_pin_each_image_by_digest() {
        let pushed = Pushed {
            program: "trainer",
            name: "ghcr.io/you/mlops-lab-trainer".into(),
            tag: "0.1.0".into(),
            digest: "sha256:ab".into(),
            manifests: vec![],
        };
        assert_eq!(
            kustomize_images(&[pushed]),
            "images:\n  - name: mlops-lab-trainer\n    newName: ghcr.io/you/mlops-lab-trainer\n    digest: sha256:ab\n"
        );
    }
}
