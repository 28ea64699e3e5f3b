//! The push path against the real CNCF registry (`distribution`, built by `testbed/build`),
//! on loopback: `cargo lab images`' indexes pushed twice give the same digests, the registry
//! serves an index listing linux/amd64 and linux/arm64, and failures (wrong or no
//! credentials, nothing listening) are named, not panics. Both of the registry's
//! authentication modes: htpasswd (basic) and tokens from a token service (bearer).
//!
//! Skips, saying so, when the registry binary has not been built (`testbed/build
//! distribution`; `scripts/test` builds everything first). The images are those of
//! `cargo lab images` (its builds are no-ops after `scripts/test` has run it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use oci_client::secrets::RegistryAuth;
use testbed::images::{INDEX, Platform};
use testbed::process::{ProcessGuard, free_port, wait_until};
use testbed::publish::{self, Destination, Program, Provenance, Registry};

const USER: &str = "lab";
const PASSWORD: &str = "test-password";

/// The registry binary, or `None` (and why) when it is not built.
fn registry_binary() -> Option<PathBuf> {
    let repo = testbed::workspace::repo_root();
    let found = testbed::controlplane::built_registry(&repo).unwrap();
    if found.is_none() {
        eprintln!(
            "SKIPPED: the CNCF registry is not built (testbed/build distribution builds it, \
             scripts/test builds it before the tests)"
        );
    }
    found
}

/// A registry on a free loopback port, storing in `dir`, with `auth` as its config's `auth:`
/// section. Stopped (with its process group) when the guard drops.
fn start_registry(binary: &Path, dir: &Path, auth: &str) -> (ProcessGuard, u16) {
    let port = free_port().unwrap();
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n  \
             secret: lab-test-secret\nauth:\n{auth}",
            dir.join("storage").display()
        ),
    )
    .unwrap();
    let mut command = Command::new(binary);
    command.arg("serve").arg(&config);
    let mut guard = ProcessGuard::spawn("registry", command, &dir.join("registry.log")).unwrap();
    wait_until(
        "the registry to listen",
        Duration::from_secs(30),
        &mut [&mut guard],
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
    )
    .unwrap();
    (guard, port)
}

/// An htpasswd file (bcrypt, the only scheme the registry reads) for USER and PASSWORD.
fn htpasswd(dir: &Path) -> PathBuf {
    let file = dir.join("htpasswd");
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    std::fs::write(&file, format!("{USER}:{hash}\n")).unwrap();
    file
}

fn programs() -> Vec<Program> {
    let repo = testbed::workspace::repo_root();
    // The test's tree may hold uncommitted work; the images still come from one commit's time.
    let provenance = Provenance::of(&repo, true).unwrap();
    publish::build(&repo, &Platform::ALL, &provenance).unwrap()
}

fn registry(port: u16, auth: RegistryAuth) -> Registry {
    Registry {
        destination: Destination::parse(&format!("127.0.0.1:{port}/lab")).unwrap(),
        plain_http: true,
        auth,
        extra_roots: Vec::new(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The index the registry serves under `name:tag`, with its digest.
fn pull_index(registry: &Registry, repository: &str, tag: &str) -> (String, serde_json::Value) {
    let client = oci_client::Client::new(oci_client::client::ClientConfig {
        protocol: oci_client::client::ClientProtocol::Http,
        ..Default::default()
    });
    let reference = oci_client::Reference::with_tag(
        registry.destination.registry.clone(),
        format!("{}/{repository}", registry.destination.namespace),
        tag.into(),
    );
    let (data, digest) = runtime()
        .block_on(client.pull_manifest_raw(&reference, &registry.auth, &[INDEX]))
        .unwrap();
    (digest, serde_json::from_slice(&data).unwrap())
}

/// Pushes twice (the second time from a second build), checks the digests agree with the
/// build's and with what the registry serves, and that the index lists both platforms.
fn push_twice_and_check(registry: &Registry) {
    let first = programs();
    let pushed = runtime()
        .block_on(publish::push(registry, &first, "0.1.0"))
        .unwrap();
    let again = runtime()
        .block_on(publish::push(registry, &programs(), "0.1.0"))
        .unwrap();
    assert_eq!(pushed.len(), 2);
    for (a, b) in pushed.iter().zip(&again) {
        assert_eq!(a.digest, b.digest, "{}: not reproducible", a.name);
        assert_eq!(a.manifests, b.manifests);
    }
    for (program, p) in first.iter().zip(&pushed) {
        assert_eq!(program.images.index.digest, p.digest);
        let (digest, index) = pull_index(registry, &program.repository, "0.1.0");
        assert_eq!(digest, p.digest);
        let platforms: Vec<String> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                format!("{}/{}", m["platform"]["os"], m["platform"]["architecture"])
                    .replace('"', "")
            })
            .collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
        assert!(
            index["annotations"]["org.opencontainers.image.revision"].is_string(),
            "{index}"
        );
    }
    let lines = publish::kustomize_images(&pushed);
    assert!(
        lines.contains(&format!(
            "  - name: mlops-lab-trainer\n    newName: {}/lab/mlops-lab-trainer\n    digest: {}\n",
            registry.destination.registry, pushed[0].digest
        )),
        "{lines}"
    );
}

#[test]
fn basic_auth_push_is_reproducible_and_failures_are_named() {
    let Some(binary) = registry_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let auth = format!(
        "  htpasswd:\n    realm: lab-registry\n    path: {}\n",
        htpasswd(dir.path()).display()
    );
    let (_registry, port) = start_registry(&binary, dir.path(), &auth);
    let good = registry(port, RegistryAuth::Basic(USER.into(), PASSWORD.into()));
    push_twice_and_check(&good);

    // A small image is enough for the failures.
    let programs = programs();
    let some = &programs[..1];
    for auth in [
        RegistryAuth::Basic(USER.into(), "wrong".into()),
        RegistryAuth::Anonymous,
    ] {
        let err = runtime()
            .block_on(publish::push(&registry(port, auth), some, "0.1.0"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("401 Unauthorized"), "{err}");
        assert!(err.contains(publish::USERNAME_ENV), "{err}");
        assert!(
            !err.contains("wrong"),
            "the password is in the message: {err}"
        );
    }
    // Nothing listens on a fresh free port.
    let closed = free_port().unwrap();
    let err = runtime()
        .block_on(publish::push(
            &registry(closed, RegistryAuth::Anonymous),
            some,
            "0.1.0",
        ))
        .unwrap_err()
        .to_string();
    assert!(err.contains("connection refused"), "{err}");
}

/// A token service as the registry's `auth.token` expects one (Docker's token protocol): it
/// checks the basic credentials of `GET /token?scope=…&service=…` and answers a JWT (ES256)
/// granting the scope asked, signed with a key whose self-signed certificate rides in the
/// token's `x5c` header and is the registry's `rootcertbundle`. Serves until the test ends.
struct TokenService {
    port: u16,
    cert: PathBuf,
}

fn b64url(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn token_service(dir: &Path) -> TokenService {
    use base64::Engine;
    let (key, cert) = (dir.join("token.key"), dir.join("token.pem"));
    // Valid from now: the registry checks the chain against its own clock.
    testbed::process::run(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=lab-token", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    )
    .unwrap();
    let pem_body = |path: &Path| -> Vec<u8> {
        let text = std::fs::read_to_string(path).unwrap();
        let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    };
    let rng = ring::rand::SystemRandom::new();
    let signer = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &pem_body(&key),
        &rng,
    )
    .unwrap();
    let x5c = base64::engine::general_purpose::STANDARD.encode(pem_body(&cert));
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let mut authorized = false;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if request.is_empty() {
                    request = line.clone();
                } else if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("authorization")
                {
                    authorized = value.trim() == expected;
                }
                line.clear();
            }
            let query = request
                .split_whitespace()
                .nth(1)
                .and_then(|t| t.split_once('?'))
                .map(|(_, q)| q.to_owned())
                .unwrap_or_default();
            let access: Vec<serde_json::Value> = form_urlencoded::parse(query.as_bytes())
                .filter(|(k, _)| k == "scope")
                .filter_map(|(_, scope)| {
                    let mut parts = scope.splitn(3, ':');
                    let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                    Some(serde_json::json!({
                        "type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()
                    }))
                })
                .collect();
            let (status, body) = if authorized {
                let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "x5c": [x5c]});
                // Times the registry's clock accepts whatever this process's clock says.
                let claims = serde_json::json!({
                    "iss": "lab-token", "sub": USER, "aud": "lab-registry",
                    "nbf": 0, "iat": 0, "exp": 4_102_444_800_u64, "jti": "t", "access": access,
                });
                let input = format!(
                    "{}.{}",
                    b64url(header.to_string().as_bytes()),
                    b64url(claims.to_string().as_bytes())
                );
                let signature = signer.sign(&rng, input.as_bytes()).unwrap();
                let token = format!("{input}.{}", b64url(signature.as_ref()));
                ("200 OK", serde_json::json!({"token": token}).to_string())
            } else {
                (
                    "401 Unauthorized",
                    r#"{"details":"bad credentials"}"#.to_owned(),
                )
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    TokenService { port, cert }
}

#[test]
fn bearer_token_push_is_reproducible_and_bad_credentials_are_named() {
    let Some(binary) = registry_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tokens = token_service(dir.path());
    let auth = format!(
        "  token:\n    realm: http://127.0.0.1:{}/token\n    service: lab-registry\n    \
         issuer: lab-token\n    rootcertbundle: {}\n",
        tokens.port,
        tokens.cert.display()
    );
    let (_registry, port) = start_registry(&binary, dir.path(), &auth);
    push_twice_and_check(&registry(
        port,
        RegistryAuth::Basic(USER.into(), PASSWORD.into()),
    ));
    let programs = programs();
    let err = runtime()
        .block_on(publish::push(
            &registry(port, RegistryAuth::Basic(USER.into(), "wrong".into())),
            &programs[..1],
            "0.1.0",
        ))
        .unwrap_err()
        .to_string();
    assert!(err.contains("token service refused"), "{err}");
    assert!(err.contains(publish::USERNAME_ENV), "{err}");
}
