//! `labctl lint` and the shipped manifests:
//!
//! - the rendered overlays parse into k8s-openapi types with no unknown field, contain what the
//!   lab description (`LabConfig::default()`) and the Argo CD AppProject expect;
//! - the real binary passes on the shipped overlays and fails, with exactly its id and exit 1,
//!   on each broken copy in `tests/fixtures/lint/<id>/`;
//! - every hint lint prints is its rule's (`runbooks.rs` checks the rules' sections exist).
//!
//! These tests run `kubectl kustomize` (kubectl is a prerequisite of `labctl lint`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::labctl::{command, repo_root, run_in};
use labctl::config::LabConfig;
use labctl::lint::{self, CATALOGUE};

/// A copy of the homelab overlay with `components/<component>` enabled, as a user enables it,
/// in a directory of its own under the target directory (kustomize accepts only relative
/// paths to bases and components).
fn homelab_with_component(component: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("overlay-{component}"));
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.canonicalize().unwrap();
    let up = "../".repeat(dir.components().count() - 1);
    let manifests = format!(
        "{up}{}",
        root()
            .join("manifests")
            .display()
            .to_string()
            .trim_start_matches('/')
    );
    let homelab = root().join("manifests/overlays/homelab");
    let text = std::fs::read_to_string(homelab.join("kustomization.yaml"))
        .unwrap()
        .replace("../../base", &format!("{manifests}/base"));
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!("{text}\ncomponents:\n  - {manifests}/components/{component}\n"),
    )
    .unwrap();
    std::fs::copy(homelab.join("settings.yaml"), dir.join("settings.yaml")).unwrap();
    dir
}

fn root() -> PathBuf {
    repo_root().to_owned()
}

const OVERLAYS: [&str; 2] = ["manifests/overlays/homelab", "manifests/overlays/lab"];

/// Runs the real binary in the repository root (no labctl.toml but the defaults).
fn labctl(args: &[&str]) -> Output {
    run_in(repo_root(), args)
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn ids(doc: &serde_json::Value) -> BTreeSet<String> {
    doc["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

fn render(overlay: &str) -> lint::Rendered {
    let text = lint::source::kustomize(&root().join(overlay)).expect("kubectl kustomize works");
    lint::source::parse(&text, overlay, "mlops-lab").expect("the overlay parses")
}

#[test]
fn overlays_parse_into_k8s_openapi_types_without_unknown_fields() {
    let c = LabConfig::default();
    for overlay in OVERLAYS {
        let rendered = render(overlay);
        assert!(
            rendered.unknown_fields.is_empty(),
            "{overlay}: unknown fields {:#?}",
            rendered.unknown_fields
        );
        assert!(
            rendered.unchecked.is_empty(),
            "{overlay}: kinds lint does not type: {:?}",
            rendered.unchecked
        );
        let m = &rendered.objects;
        let name = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            meta.name.clone().unwrap_or_default()
        };
        let names = |v: Vec<String>| v.into_iter().collect::<Vec<_>>();
        assert_eq!(
            names(m.namespaces.iter().map(|o| name(&o.metadata)).collect()),
            [c.namespace.as_str()]
        );
        assert_eq!(
            names(m.cron_jobs.iter().map(|o| name(&o.metadata)).collect()),
            [c.cronjob.as_str()]
        );
        assert_eq!(
            names(m.deployments.iter().map(|o| name(&o.metadata)).collect()),
            [c.deployment.as_str()]
        );
        assert_eq!(
            names(m.services.iter().map(|o| name(&o.metadata)).collect()),
            [c.service.as_str()]
        );
        assert_eq!(
            names(m.ingresses.iter().map(|o| name(&o.metadata)).collect()),
            [c.ingress.as_str()]
        );
        assert_eq!(
            names(m.jobs.iter().map(|o| name(&o.metadata)).collect()),
            ["trainer-first-model"]
        );
        assert_eq!(m.network_policies.len(), 1);
        assert_eq!(m.config_maps.len(), 1, "training data");
        let pvc = &m.persistent_volume_claims[0];
        assert_eq!(name(&pvc.metadata), c.pvc);
        let spec = pvc.spec.as_ref().unwrap();
        assert_eq!(
            spec.storage_class_name.as_deref(),
            Some(c.storage_class.as_str())
        );
        assert_eq!(
            spec.access_modes.as_deref(),
            Some(&["ReadWriteOnce".to_owned()][..])
        );
        let ingress = m.ingresses[0].spec.as_ref().unwrap();
        assert_eq!(
            ingress.ingress_class_name.as_deref(),
            Some(c.ingress_class_name().as_str())
        );
        assert_eq!(
            ingress.rules.as_ref().unwrap()[0].host.as_deref(),
            Some(c.host.as_str())
        );
        // Every object is in the lab's namespace (the Namespace itself is cluster-scoped).
        for cm in &m.config_maps {
            assert_eq!(cm.metadata.namespace.as_deref(), Some("mlops-lab"));
        }
    }
}

/// The node of `overlays/<name>/settings.yaml` is the pin of every workload, and the images
/// carry the overlay's tags (the replacements and `images:` work).
#[test]
fn overlay_settings_reach_every_workload() {
    for (overlay, node, tag) in [
        ("manifests/overlays/homelab", "k3s-node-1", ":0.1.0"),
        ("manifests/overlays/lab", "lab-node-1", ":dev"),
    ] {
        let settings = std::fs::read_to_string(root().join(overlay).join("settings.yaml")).unwrap();
        assert!(settings.contains(&format!("node: {node}")), "{overlay}");
        let m = render(overlay).objects;
        let templates = lint::rules::templates(&m);
        assert_eq!(
            templates.len(),
            3,
            "inference, trainer, trainer-first-model"
        );
        for t in templates {
            let pin = t
                .spec
                .node_selector
                .as_ref()
                .and_then(|s| s.get("kubernetes.io/hostname"));
            assert_eq!(pin.map(String::as_str), Some(node), "{}", t.workload);
            for c in &t.spec.containers {
                let image = c.image.as_deref().unwrap_or("");
                assert!(image.ends_with(tag), "{}: image {image}", t.workload);
            }
        }
    }
}

#[test]
fn shipped_overlays_pass_lint() {
    for overlay in OVERLAYS {
        let o = labctl(&["lint", overlay, "-o", "json"]);
        let doc = json(&o);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{overlay}: {}",
            serde_json::to_string_pretty(&doc).unwrap()
        );
        assert!(ids(&doc).is_empty(), "{overlay}: {doc}");
        assert_eq!(doc["schema"], 1);
        assert_eq!(doc["objects"], 9);
        assert_eq!(
            doc["source"],
            format!("kubectl kustomize {overlay}").as_str()
        );
    }
}

#[test]
fn default_path_is_the_homelab_overlay() {
    let o = labctl(&["lint"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains(
            "Lint: no problem found in 9 objects from kubectl kustomize manifests/overlays/homelab"
        ),
        "{out}"
    );
}

fn fixtures() -> Vec<(String, PathBuf)> {
    let dir = root().join("labctl/tests/fixtures/lint");
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    out.sort();
    out
}

#[test]
fn every_rule_has_a_broken_fixture() {
    let have: BTreeSet<String> = fixtures().into_iter().map(|(id, _)| id).collect();
    let rules: BTreeSet<String> = CATALOGUE.iter().map(|r| r.id.to_owned()).collect();
    assert_eq!(have, rules);
}

#[test]
fn each_fixture_fails_with_its_id_only() {
    let mut failures = Vec::new();
    for (id, path) in fixtures() {
        let rel = path
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let o = labctl(&["lint", &rel, "-o", "json"]);
        let doc = json(&o);
        let got = ids(&doc);
        if o.status.code() != Some(1) || got != BTreeSet::from([id.clone()]) {
            failures.push(format!(
                "{id}: exit {:?}, ids {got:?}, stderr {}",
                o.status.code(),
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        for f in doc["findings"].as_array().unwrap() {
            assert_eq!(f["hint"], lint::rule(&id).unwrap().hint().as_str(), "{id}");
            assert_eq!(f["severity"], "error", "{id}");
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Every hint lint prints is its rule's, which `runbooks.rs` finds a section for.
#[test]
fn every_hint_lint_prints_is_its_rules() {
    let mut printed = 0;
    for (_, path) in fixtures() {
        let rel = path
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let doc = json(&labctl(&["lint", &rel, "-o", "json"]));
        for f in doc["findings"].as_array().unwrap() {
            let id = f["id"].as_str().unwrap();
            let rule = lint::rule(id).unwrap_or_else(|| panic!("{id} is in no lint rule"));
            assert_eq!(f["hint"], rule.hint(), "{rel}");
            printed += 1;
        }
    }
    assert!(printed > 0);
}

#[test]
fn table_output_of_a_finding() {
    let o = labctl(&["lint", "labctl/tests/fixtures/lint/ingress-backend-missing"]);
    assert_eq!(o.status.code(), Some(1));
    insta::assert_snapshot!(
        "lint_table_ingress_backend_missing",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn short_output_is_one_line_per_finding() {
    let o = labctl(&[
        "lint",
        "labctl/tests/fixtures/lint/probes-missing",
        "-o",
        "short",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with("ERROR probes-missing Deployment mlops-lab/inference"),
        "{out}"
    );
}

#[test]
fn stdin_and_plain_files_are_linted_as_well() {
    let rendered = lint::source::kustomize(&root().join("manifests/overlays/lab")).unwrap();
    let mut child = command(repo_root(), &["lint", "-", "-o", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), rendered.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    let doc = json(&o);
    assert_eq!(o.status.code(), Some(0), "{doc}");
    assert_eq!(doc["source"], "stdin");
    assert_eq!(doc["objects"], 9);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("all.yaml"), &rendered).unwrap();
    let o = labctl(&["lint", dir.path().to_str().unwrap(), "-o", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", json(&o));
}

#[test]
fn unreadable_input_exits_2_naming_it() {
    let o = labctl(&["lint", "no/such/overlay"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("labctl: cannot read no/such/overlay"),
        "{err}"
    );

    let elsewhere = tempfile::tempdir().unwrap();
    let o = run_in(elsewhere.path(), &["lint"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("repository root"), "{err}");

    let o = command(repo_root(), &["lint", "manifests/overlays/lab"])
        .env("LABCTL_KUBECTL", "/nonexistent/kubectl")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not found") && err.contains("LABCTL_KUBECTL"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "resources: [missing.yaml]\n",
    )
    .unwrap();
    let o = labctl(&["lint", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("kubectl kustomize"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The AppProject lets the Application create exactly the kinds the overlay renders, and the
/// Application deploys the homelab overlay under the names labctl expects.
#[test]
fn argocd_project_allows_every_rendered_kind() {
    let c = LabConfig::default();
    let read = |f: &str| -> serde_json::Value {
        serde_yaml_ng::from_str(&std::fs::read_to_string(root().join("argocd").join(f)).unwrap())
            .unwrap()
    };
    let project = read("appproject.yaml");
    let app = read("application.yaml");
    assert_eq!(app["metadata"]["name"], c.argocd_app.as_str());
    assert_eq!(app["metadata"]["namespace"], c.argocd_namespace.as_str());
    assert_eq!(
        project["metadata"]["namespace"],
        c.argocd_namespace.as_str()
    );
    assert_eq!(app["spec"]["project"], project["metadata"]["name"]);
    assert_eq!(app["spec"]["source"]["path"], lint::DEFAULT_PATH);
    assert_eq!(
        app["spec"]["destination"]["namespace"],
        c.namespace.as_str()
    );
    assert_eq!(
        project["spec"]["sourceRepos"][0],
        app["spec"]["source"]["repoURL"]
    );
    assert_eq!(
        project["spec"]["destinations"][0]["namespace"],
        c.namespace.as_str()
    );
    let sync = &app["spec"]["syncPolicy"];
    assert_eq!(sync["automated"]["prune"], true);
    assert_eq!(sync["automated"]["selfHeal"], true);
    assert!(
        sync["syncOptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "CreateNamespace=true")
    );
    assert!(sync["retry"]["backoff"]["duration"].is_string());

    let allowed = |list: &str| -> BTreeSet<(String, String)> {
        project["spec"][list]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["group"].as_str().unwrap().to_owned(),
                    k["kind"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let cluster = allowed("clusterResourceWhitelist");
    let namespaced = allowed("namespaceResourceWhitelist");
    // The homelab overlay, and the same with each component a user may enable.
    let mut texts = vec![lint::source::kustomize(&root().join(lint::DEFAULT_PATH)).unwrap()];
    for component in ["gateway", "ingress-nginx"] {
        texts.push(lint::source::kustomize(&homelab_with_component(component)).unwrap());
    }
    let mut rendered = BTreeSet::new();
    for doc in texts
        .iter()
        .flat_map(|t| lint::source::documents(t, "homelab").unwrap())
    {
        let api = doc["apiVersion"].as_str().unwrap();
        let group = api.rsplit_once('/').map_or("", |(g, _)| g).to_owned();
        let kind = doc["kind"].as_str().unwrap().to_owned();
        let is_cluster = kind == "Namespace";
        let ok = if is_cluster {
            cluster.contains(&(group.clone(), kind.clone()))
        } else {
            namespaced.contains(&(group.clone(), kind.clone()))
        };
        assert!(ok, "AppProject does not allow {group}/{kind}");
        rendered.insert((group, kind));
    }
    // And it allows nothing the overlay does not render.
    let all: BTreeSet<_> = cluster.union(&namespaced).cloned().collect();
    assert_eq!(all, rendered);
}

/// CI step for the local lab: both overlays pass a server-side dry run against its API server.
/// Needs `MLOPS_LAB_KUBECONFIG` (the lab's kubeconfig); creates only the namespace for real.
#[test]
#[ignore = "needs the local lab (MLOPS_LAB_KUBECONFIG)"]
fn overlays_pass_a_server_side_dry_run_in_the_lab() {
    let kubeconfig = std::env::var("MLOPS_LAB_KUBECONFIG")
        .expect("MLOPS_LAB_KUBECONFIG points at the local lab's kubeconfig");
    let kubectl = |args: &[&str], stdin: Option<&str>| -> Output {
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(text) = stdin {
            std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    };
    // Namespaced objects cannot be dry-run into a namespace that does not exist.
    let ns = kubectl(
        &[
            "create",
            "namespace",
            "mlops-lab",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        None,
    );
    let o = kubectl(
        &["apply", "-f", "-"],
        Some(&String::from_utf8_lossy(&ns.stdout)),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for overlay in OVERLAYS {
        let text = lint::source::kustomize(&root().join(overlay)).unwrap();
        let o = kubectl(
            &[
                "apply",
                "--dry-run=server",
                "--server-side",
                "--field-manager=labctl-lint-test",
                "--validate=strict",
                "-f",
                "-",
            ],
            Some(&text),
        );
        assert!(
            o.status.success(),
            "{overlay}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
