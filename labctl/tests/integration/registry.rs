//! `images-match-node-arch` against the real CNCF registry (`distribution`, built by
//! `testbed/build distribution`): served over HTTPS with its own CA and basic authentication,
//! on loopback. The check reads the image indexes the way the kubelet would, with the pull
//! secret's credentials, and trusts the registry through `registry_ca_file`: a multi-arch index
//! passes, an arm64-only one fails on an amd64 node naming both, and an untrusted certificate
//! or missing credentials skip the check saying why.
//!
//! Skips, saying so, when the registry binary has not been built (`scripts/test` builds it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use labctl::checks::{Outcome, Status};
use labctl::config::LabConfig;
use labctl::context::Context;
use serde_json::{Value, json};
use sha2::Digest as _;
use testbed::process::{ProcessGuard, free_port, wait_until};

use crate::support::fake_api::{Scenario, status, testcontext};

const USER: &str = "lab";
const PASSWORD: &str = "registry-test-password";

/// A registry on a free loopback port, over HTTPS with the lab CA's certificate for 127.0.0.1
/// and basic authentication. Stopped with its process group when the guard drops.
struct Registry {
    _guard: ProcessGuard,
    port: u16,
    ca: PathBuf,
}

impl Registry {
    fn start(dir: &Path) -> Option<Registry> {
        let repo = testbed::workspace::repo_root();
        let Some(binary) = testbed::controlplane::built_registry(&repo).unwrap() else {
            eprintln!(
                "SKIPPED: the CNCF registry is not built (testbed/build distribution builds it, \
                 scripts/test builds it before the tests)"
            );
            return None;
        };
        // The lab's CA and the API server's certificate (its names include IP 127.0.0.1).
        let certs = testbed::certs::Certs::create(&dir.join("pki")).unwrap();
        let htpasswd = dir.join("htpasswd");
        let hash = bcrypt::hash(PASSWORD, 4).unwrap();
        std::fs::write(&htpasswd, format!("{USER}:{hash}\n")).unwrap();
        let port = free_port().unwrap();
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: 127.0.0.1:{port}\n  secret: labctl-test\n  tls:\n    certificate: {}\n    key: {}\n\
                 auth:\n  htpasswd:\n    realm: lab\n    path: {}\n",
                dir.join("storage").display(),
                certs.file("apiserver.crt").display(),
                certs.file("apiserver.key").display(),
                htpasswd.display()
            ),
        )
        .unwrap();
        let mut command = Command::new(binary);
        command.arg("serve").arg(&config);
        let mut guard =
            ProcessGuard::spawn("registry", command, &dir.join("registry.log")).unwrap();
        wait_until(
            "the registry to listen",
            Duration::from_secs(30),
            &mut [&mut guard],
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        )
        .unwrap();
        Some(Registry {
            _guard: guard,
            port,
            ca: certs.ca(),
        })
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn client(&self) -> reqwest::Client {
        let pem = std::fs::read(&self.ca).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .no_proxy()
            .build()
            .unwrap()
    }

    /// Uploads `bytes` as a blob of `repo` (the Distribution API's monolithic upload).
    async fn blob(&self, repo: &str, bytes: &[u8]) -> (String, usize) {
        let digest = format!("sha256:{:x}", sha2::Sha256::digest(bytes));
        let client = self.client();
        let started = client
            .post(format!("https://{}/v2/{repo}/blobs/uploads/", self.host()))
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(started.status(), 202, "{}", started.text().await.unwrap());
        let location = started.headers()["location"].to_str().unwrap().to_owned();
        let location = if location.starts_with("http") {
            location
        } else {
            format!("https://{}{location}", self.host())
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = client
            .put(format!("{location}{sep}digest={digest}"))
            .basic_auth(USER, Some(PASSWORD))
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 201, "{}", put.text().await.unwrap());
        (digest, bytes.len())
    }

    async fn manifest(&self, repo: &str, reference: &str, media_type: &str, doc: &Value) -> String {
        let bytes = serde_json::to_vec(doc).unwrap();
        let put = self
            .client()
            .put(format!(
                "https://{}/v2/{repo}/manifests/{reference}",
                self.host()
            ))
            .basic_auth(USER, Some(PASSWORD))
            .header("Content-Type", media_type)
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 201, "{}", put.text().await.unwrap());
        format!("sha256:{:x}", sha2::Sha256::digest(&bytes))
    }

    /// Pushes `repo:tag` as an OCI image index of one tiny image per architecture.
    async fn push_index(&self, repo: &str, tag: &str, archs: &[&str]) {
        const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
        let (layer, layer_size) = self.blob(repo, b"not really a layer").await;
        let mut manifests = Vec::new();
        for arch in archs {
            let config = json!({"architecture": arch, "os": "linux",
                                "rootfs": {"type": "layers", "diff_ids": []}});
            let (config, config_size) =
                self.blob(repo, &serde_json::to_vec(&config).unwrap()).await;
            let doc = json!({"schemaVersion": 2, "mediaType": MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": config, "size": config_size},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": layer, "size": layer_size}]});
            let size = serde_json::to_vec(&doc).unwrap().len();
            let digest = self
                .manifest(repo, &format!("{tag}-{arch}"), MANIFEST, &doc)
                .await;
            manifests.push(
                json!({"mediaType": MANIFEST, "digest": digest, "size": size,
                                  "platform": {"os": "linux", "architecture": arch}}),
            );
        }
        const INDEX: &str = "application/vnd.oci.image.index.v1+json";
        let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests});
        self.manifest(repo, tag, INDEX, &index).await;
    }
}

/// The rendered manifests preflight reads: a Deployment of `image` pulled with `regcred`.
fn manifests(dir: &Path, image: &str) -> PathBuf {
    let file = dir.join(format!("{}.yaml", image.replace(['/', ':'], "_")));
    std::fs::write(
        &file,
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: inference\n  namespace: mlops-lab\n\
             spec:\n  selector:\n    matchLabels: {{app: inference}}\n  template:\n    metadata:\n      labels: {{app: inference}}\n\
             \x20   spec:\n      imagePullSecrets: [{{name: regcred}}]\n      containers:\n      - name: inference\n        image: {image}\n"
        ),
    )
    .unwrap();
    file
}

/// The API: one amd64 node, and the pull secret (or a 403 for it).
fn api(registry: String, secret_readable: bool) -> Scenario {
    Scenario::new(move |method, uri, _| {
        let path = uri.split('?').next().unwrap_or(uri);
        match (method, path) {
            ("GET", "/api/v1/nodes") => Some((
                200,
                json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": [{
                    "apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": "node-1", "labels": {
                        "kubernetes.io/hostname": "node-1", "kubernetes.io/arch": "amd64"}},
                    "status": {"conditions": [{"type": "Ready", "status": "True"}]}}]}),
            )),
            ("GET", "/api/v1/namespaces/mlops-lab/secrets/regcred") if secret_readable => {
                let auth =
                    base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
                let config = json!({"auths": {registry.clone(): {"auth": auth}}});
                let data = base64::engine::general_purpose::STANDARD.encode(config.to_string());
                Some((
                    200,
                    json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                           "metadata": {"name": "regcred", "namespace": "mlops-lab"},
                           "data": {".dockerconfigjson": data}}),
                ))
            }
            ("GET", "/api/v1/namespaces/mlops-lab/secrets/regcred") => Some((
                403,
                status(403, "Forbidden", "secrets \"regcred\" is forbidden"),
            )),
            _ => None,
        }
    })
}

async fn check(manifests: PathBuf, ca: Option<PathBuf>, registry: &str, readable: bool) -> Outcome {
    let (client, server) = testcontext();
    let _verifier = server.run(api(registry.to_owned(), readable));
    let config = LabConfig {
        manifests: Some(manifests),
        registry_ca_file: ca,
        ..LabConfig::default()
    };
    let mut ctx = Context::new(config).with_client(client);
    ctx.timeout = Duration::from_secs(10);
    tokio::time::timeout(
        Duration::from_secs(30),
        labctl::checks::capacity::images_match_node_arch(&ctx),
    )
    .await
    .expect("the check finished in time")
    .expect("the check ran")
}

#[tokio::test(flavor = "multi_thread")]
async fn images_match_node_arch_reads_the_real_registry_with_the_pull_secret() {
    let dir = tempfile::tempdir().unwrap();
    let Some(registry) = Registry::start(dir.path()) else {
        return;
    };
    let host = registry.host();
    registry
        .push_index("lab/inference", "multi", &["amd64", "arm64"])
        .await;
    registry.push_index("lab/inference", "pi", &["arm64"]).await;
    let multi = manifests(dir.path(), &format!("{host}/lab/inference:multi"));
    let pi_only = manifests(dir.path(), &format!("{host}/lab/inference:pi"));
    let ca = Some(registry.ca.clone());

    let o = check(multi.clone(), ca.clone(), &host, true).await;
    assert_eq!(o.status, Status::Pass, "{o:?}");
    let evidence = o.evidence.join("\n");
    assert!(evidence.contains("linux/amd64, linux/arm64"), "{evidence}");
    assert!(
        evidence.contains(&format!(
            "credentials for {host}: user {USER} from Secret mlops-lab/regcred"
        )),
        "{evidence}"
    );
    assert!(!evidence.contains(PASSWORD), "{evidence}");

    let o = check(pi_only, ca.clone(), &host, true).await;
    assert_eq!(o.status, Status::Fail, "{o:?}");
    assert!(
        o.message.contains("no linux/amd64 variant for node node-1"),
        "{}",
        o.message
    );
    let evidence = o.evidence.join("\n");
    assert!(
        evidence.contains("kubernetes.io/arch=amd64") && evidence.contains(":pi: linux/arm64"),
        "{evidence}"
    );

    // Without the pull secret (labctl may not read it): the registry wants credentials.
    let o = check(multi.clone(), ca, &host, false).await;
    assert_eq!(o.status, Status::Skip, "{o:?}");
    let evidence = o.evidence.join("\n");
    assert!(
        evidence.contains("Secret mlops-lab/regcred not read")
            && evidence.contains("needs credentials"),
        "{evidence}"
    );

    // Without the registry's CA: its certificate is not trusted, and the check says so.
    let o = check(multi, None, &host, true).await;
    assert_eq!(o.status, Status::Skip, "{o:?}");
    let evidence = o.evidence.join("\n").to_lowercase();
    assert!(
        evidence.contains("certificate") || evidence.contains("unknownissuer"),
        "{evidence}"
    );
}
