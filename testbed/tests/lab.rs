//! End to end on the real control plane: the healthy lab passes `labctl preflight`, `verify`,
//! `predict` and `diagnose pvc`; each scenario makes labctl report its finding or failed check;
//! undoing it makes the lab healthy again.
//!
//! Needs root and the lab's binaries (built from Go modules by `testbed/build`, cached) plus
//! nginx (the lab's Git server), fcgiwrap, redis and dnsmasq, so it is ignored in the everyday `cargo test`; `scripts/test` runs it with
//! `--ignored`. `LAB_SCENARIOS=a,b` runs only those scenarios; `LAB_RECORD=1` writes each
//! scenario's `labctl snapshot` into labctl's offline fixtures (labctl/tests/fixtures/lab/).

use std::time::{Duration, Instant};

use serde_json::Value;
use testbed::lab::Lab;
use testbed::poll::Look;
use testbed::scenarios::{SCENARIOS, not_passed};

/// How long a scenario may take to show (the scheduler retries, events arrive) or to heal.
const SETTLE: Duration = Duration::from_secs(90);

fn json_of(lab: &Lab, args: &[&str]) -> (i32, Value) {
    lab.labctl_json(args).expect("labctl answers JSON")
}

/// Error and warning finding ids of a diagnosis.
fn problems(diagnosis: &Value) -> Vec<String> {
    diagnosis["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] != "info")
        .map(|f| f["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// What is unhealthy now (empty = healthy): verify failures and diagnosis problems.
fn unhealthy(lab: &Lab) -> Vec<String> {
    let (_, verify) = json_of(lab, &["verify"]);
    let (_, diagnosis) = json_of(lab, &["diagnose", "pvc"]);
    let mut out: Vec<String> = not_passed(&verify)
        .into_iter()
        .map(|(id, s, m)| format!("verify {id} {s}: {m}"))
        .collect();
    out.extend(
        problems(&diagnosis)
            .into_iter()
            .map(|id| format!("diagnose {id}")),
    );
    // labctl may see a Deployment's status before its controller caught up; the pods tell.
    let pods = lab
        .kubectl(&["-n", "mlops-lab", "get", "pods", "-o", "json"])
        .unwrap_or_default();
    let pods: Value = serde_json::from_str(&pods).unwrap_or_default();
    for pod in pods["items"].as_array().into_iter().flatten() {
        let phase = pod["status"]["phase"].as_str().unwrap_or("?");
        if phase != "Running" && phase != "Succeeded" {
            out.push(format!(
                "pod {} is {phase}",
                pod["metadata"]["name"].as_str().unwrap_or("?")
            ));
        }
    }
    out
}

/// Retries `attempt` every 2 s for up to `timeout` (with testbed's poller); on timeout, the
/// last attempt's error.
fn poll<T>(timeout: Duration, mut attempt: impl FnMut() -> Result<T, String>) -> Result<T, String> {
    let mut why = String::new();
    testbed::poll::until(
        "labctl to report it",
        timeout,
        Duration::from_secs(2),
        || {
            Ok(match attempt() {
                Ok(v) => Look::Ready(v),
                Err(e) => {
                    why = e;
                    Look::NotYet(None)
                }
            })
        },
    )
    .map_err(|_| why)
}

fn assert_healthy(lab: &Lab) {
    let (_, preflight) = json_of(lab, &["preflight"]);
    let bad = not_passed(&preflight);
    assert!(bad.is_empty(), "preflight on the healthy lab: {bad:#?}");
    // images-match-node-arch read both indexes from the lab's registry with the pull
    // Secret's credentials, as the kubelet pulls.
    let arch = preflight["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "images-match-node-arch")
        .expect("images-match-node-arch ran")
        .to_string();
    for text in [
        "the images offer linux/amd64",
        "10.88.0.1:5443/lab/mlops-lab-inference:dev: linux/amd64, linux/arm64",
        "credentials for 10.88.0.1:5443: user lab from Secret mlops-lab/lab-registry",
    ] {
        assert!(arch.contains(text), "{text} not in {arch}");
    }
    let problems = poll(SETTLE, || {
        let u = unhealthy(lab);
        if u.is_empty() {
            Ok(())
        } else {
            Err(u.join("\n"))
        }
    });
    assert_eq!(problems, Ok(()), "the healthy lab");
    let (code, predicted) = json_of(lab, &["predict", "4.2"]);
    assert_eq!(code, 0, "{predicted}");
    // The model the trainer pod published into the claim's directory on the real node.
    let model = model::load(&lab.model_dir().expect("the volume's directory")).unwrap();
    assert_eq!(
        predicted["y"].as_f64().unwrap(),
        model.predict(&[4.2]),
        "{predicted}"
    );
    assert_eq!(predicted["model_version"], model.version);
    assert_eq!(predicted["dns_server"], lab.dns_addr().unwrap().to_string());
}

/// The kubelet pulled both workload images from the lab's registry: its `Pulled` events name
/// them there (nothing imported them into the node).
fn pulled_from_the_lab_registry(lab: &Lab) {
    let events = lab
        .kubectl(&[
            "-n",
            "mlops-lab",
            "get",
            "events",
            "--field-selector=reason=Pulled",
            "-o",
            "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}",
        ])
        .expect("the Pulled events");
    eprintln!("the kubelet's Pulled events:\n{events}");
    for program in ["trainer", "inference"] {
        let name = format!(
            "\"{}:dev\"",
            testbed::registry::image(&format!("mlops-lab-{program}"))
        );
        assert!(
            events
                .lines()
                .any(|l| l.starts_with("Successfully pulled image") && l.contains(&name)),
            "no Pulled event for {name}:\n{events}"
        );
    }
}

/// The lab has several nodes: without `pin_label_value`, preflight finds the node in the
/// deployed Deployment's nodeSelector.
fn preflight_takes_the_pin_from_the_deployment(lab: &Lab, dir: &std::path::Path) {
    let config = std::fs::read_to_string(lab.labctl_config()).unwrap();
    assert!(config.contains("pin_label_value"), "{config}");
    let unpinned: String = config
        .lines()
        .filter(|l| !l.starts_with("pin_label_value"))
        .map(|l| format!("{l}\n"))
        .collect();
    let file = dir.join("labctl-unpinned.toml");
    std::fs::write(&file, unpinned).unwrap();
    let (_, stdout, stderr) = lab
        .labctl_with_config(
            &file,
            &["preflight", "--check", "pin-node-schedulable", "-o", "json"],
        )
        .unwrap();
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "pin-node-schedulable")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(check["status"], "pass", "{check}");
    assert_eq!(
        check["message"],
        format!(
            "node {} (kubernetes.io/hostname={})",
            testbed::topology::PIN_NODE,
            testbed::topology::PIN_NODE
        )
    );
}

/// A routine deploy: a commit Argo CD rolls out. `labctl verify --wait` started right after the
/// push returns 0 only once Argo CD has synced that very commit and every check passes.
fn verify_wait_returns_once_a_fresh_sync_is_healthy(lab: &mut Lab) {
    let revision = testbed::scenarios::commit_rollout(lab).expect("push a rollout");
    let (code, stdout, stderr) = lab
        .labctl(&["verify", "--wait=3m", "--revision", &revision, "-o", "json"])
        .expect("labctl verify --wait");
    assert_eq!(code, 0, "verify --wait: {stdout}\n{stderr}");
    let app = lab.application().expect("read the Application");
    let status = &app.status;
    assert_eq!(status.sync.revision, revision, "{status:?}");
    assert_eq!(status.sync.status, "Synced", "{status:?}");
    let operation = status.operation_state.clone().unwrap_or_default();
    assert_eq!(operation.sync_result.revision, revision, "{status:?}");
    assert!(stderr.contains("settled after"), "{stderr}");
    lab.reset(false)
        .expect("back to the repository's manifests");
}

/// The manifests' Gateway API path on Traefik's Gateway provider: a commit enables
/// `components/gateway`; with `ingress_controller = "gateway"`, preflight and verify pass
/// (`gateway-programmed`, `httproute-accepted`, both judged from what Traefik wrote) and
/// `predict` answers through the HTTPRoute. A listener that admits only its own namespace's
/// routes (the chart's default) fails both, with the reason Traefik gives.
fn gateway_routes_the_host(lab: &mut Lab, dir: &std::path::Path) {
    let revision = testbed::scenarios::commit_component(lab, "gateway").expect("commit");
    lab.wait_operation(&revision, Duration::from_secs(120))
        .expect("Argo CD syncs the HTTPRoute");
    let config = dir.join("labctl-gateway.toml");
    let text = std::fs::read_to_string(lab.labctl_config()).unwrap();
    std::fs::write(&config, format!("{text}ingress_controller = \"gateway\"\n")).unwrap();
    let json = |args: &[&str]| -> (i32, Value) {
        let mut full = args.to_vec();
        full.extend(["-o", "json"]);
        let (code, stdout, stderr) = lab.labctl_with_config(&config, &full).unwrap();
        let value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
        (code, value)
    };
    let status = |report: &Value, id: &str| -> (String, String) {
        let c = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no {id} in {report}"));
        (
            c["status"].as_str().unwrap().to_owned(),
            format!("{} {}", c["message"], c["evidence"]),
        )
    };
    let healthy = poll(SETTLE, || {
        let (_, verify) = json(&["verify"]);
        let bad = not_passed(&verify);
        if bad.is_empty() {
            Ok(verify)
        } else {
            Err(format!("{bad:?}"))
        }
    });
    let verify = healthy.expect("verify passes through the Gateway");
    snapshot_verify_agrees(lab, dir, &config).expect("verify --snapshot agrees, HTTPRoute too");
    assert_eq!(status(&verify, "httproute-accepted").0, "pass");
    assert!(
        !verify.to_string().contains("ingress-routes-host"),
        "an Ingress check in gateway mode: {verify}"
    );
    let (_, preflight) = json(&["preflight"]);
    assert_eq!(
        status(&preflight, "gateway-programmed").0,
        "pass",
        "{preflight}"
    );
    let (code, predicted) = json(&["predict", "4.2"]);
    assert_eq!(code, 0, "predict through the HTTPRoute: {predicted}");

    let listener = |from: &str| {
        lab.kubectl(&[
            "-n",
            "kube-system",
            "patch",
            "gateway",
            "traefik-gateway",
            "--type=json",
            "-p",
            &format!(
                r#"[{{"op":"replace","path":"/spec/listeners/0/allowedRoutes/namespaces/from","value":"{from}"}}]"#
            ),
        ])
        .expect("patch the Gateway")
    };
    listener("Same");
    let refused = poll(SETTLE, || {
        let (_, verify) = json(&["verify", "--check", "httproute-accepted"]);
        match status(&verify, "httproute-accepted") {
            (s, text) if s == "fail" && text.contains("NotAllowedByListeners") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    assert_eq!(refused, Ok(()), "a listener admitting only kube-system");
    snapshot_verify_agrees(lab, dir, &config).expect("verify --snapshot fails the HTTPRoute too");
    let (_, preflight) = json(&["preflight", "--check", "gateway-programmed"]);
    let (s, text) = status(&preflight, "gateway-programmed");
    assert_eq!(s, "fail", "{text}");
    assert!(
        text.contains("no listener admits routes from namespace mlops-lab"),
        "{text}"
    );
    listener("All");
    lab.reset(false)
        .expect("back to the repository's manifests");
}

/// `labctl verify --snapshot` of a snapshot taken now judges every check it runs as live
/// `verify` does; it skips only the gates and the data plane (a fresh snapshot holds all that
/// `verify` asks). Retried while the lab moves between the reads. `config`: the labctl.toml.
fn snapshot_verify_agrees(
    lab: &Lab,
    dir: &std::path::Path,
    config: &std::path::Path,
) -> Result<(), String> {
    let file = dir.join("verify-snapshot.json").display().to_string();
    let report = |args: &[&str]| -> Result<Value, String> {
        let (_, out, err) = lab
            .labctl_with_config(config, args)
            .map_err(|e| format!("{e:#}"))?;
        serde_json::from_str(&out).map_err(|e| format!("labctl {args:?}: {e}: {err}"))
    };
    let statuses = |report: &Value| -> Vec<(String, String, String)> {
        report["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
                (s("id"), s("status"), s("message"))
            })
            .collect()
    };
    poll(SETTLE, || {
        let (code, _, stderr) = lab
            .labctl_with_config(config, &["snapshot", "-f", &file])
            .map_err(|e| format!("{e:#}"))?;
        if code != 0 {
            return Err(format!("labctl snapshot: {stderr}"));
        }
        let offline = statuses(&report(&["verify", "--snapshot", &file, "-o", "json"])?);
        let live = statuses(&report(&["verify", "-o", "json"])?);
        let mut differences = Vec::new();
        let mut judged = 0;
        for (id, status, message) in &offline {
            if status == "skip" {
                if message.contains("not in the snapshot") {
                    differences.push(format!("{id}: {message}"));
                }
                continue;
            }
            judged += 1;
            match live.iter().find(|(i, _, _)| i == id) {
                Some((_, s, m)) if s == status => {}
                other => differences.push(format!(
                    "{id}: {status} ({message}) from the snapshot, live {other:?}"
                )),
            }
        }
        if judged < 8 {
            differences.push(format!("only {judged} checks judged from the snapshot"));
        }
        if differences.is_empty() {
            Ok(())
        } else {
            Err(differences.join("\n"))
        }
    })
}

/// With `LAB_RECORD=1`, writes what `labctl snapshot` reads now into labctl's offline
/// fixtures as `<name>.json` (labctl/tests/diagnose.rs checks every recording).
fn record(lab: &Lab, name: &str) {
    if std::env::var_os("LAB_RECORD").is_none() {
        return;
    }
    let dir = lab.repo().join("labctl/tests/fixtures/lab");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("{name}.json"));
    let (code, _, stderr) = lab
        .labctl(&["snapshot", "-f", &out.display().to_string()])
        .unwrap();
    assert_eq!(code, 0, "labctl snapshot: {stderr}");
}

#[test]
#[ignore = "needs the lab: root, the components built by testbed/build, and Debian's tools (scripts/test runs it)"]
fn lab_healthy_then_every_scenario_and_back() {
    // A killed test must not leave a control plane behind.
    testbed::process::stop_all_on_interrupt().expect("signal handler");
    let repo = testbed::workspace::repo_root();
    let dir = tempfile_dir();
    let mut lab = Lab::up(&repo, &dir).expect("lab up");
    pulled_from_the_lab_registry(&lab);
    assert_healthy(&lab);
    record(&lab, "healthy");
    snapshot_verify_agrees(&lab, &dir, lab.labctl_config()).expect("verify --snapshot agrees");
    verify_wait_returns_once_a_fresh_sync_is_healthy(&mut lab);
    preflight_takes_the_pin_from_the_deployment(&lab, &dir);
    gateway_routes_the_host(&mut lab, &dir);
    // Both overlays are accepted by a real API server (schema, admission), not only by lint.
    // The lab already runs the hook Job, whose pod template is immutable and names another
    // node in the homelab overlay, so Jobs are left out of the dry run.
    for overlay in ["manifests/overlays/homelab", "manifests/overlays/lab"] {
        let rendered = lab
            .kubectl(&["kustomize", &repo.join(overlay).display().to_string()])
            .expect("render");
        let docs: Vec<&str> = rendered
            .split("\n---\n")
            .filter(|d| !d.contains("\nkind: Job\n"))
            .collect();
        let file = dir.join("dry-run.yaml");
        std::fs::write(&file, docs.join("\n---\n")).unwrap();
        let out = lab.kubectl(&[
            "apply",
            "--dry-run=server",
            "--server-side",
            "--validate=strict",
            "-f",
            &file.display().to_string(),
        ]);
        assert!(out.is_ok(), "server-side dry run of {overlay}: {out:?}");
    }

    let only = std::env::var("LAB_SCENARIOS")
        .ok()
        .filter(|s| !s.is_empty());
    let mut failures = Vec::new();
    let fail = |failures: &mut Vec<String>, message: String| {
        eprintln!("FAILED {message}");
        failures.push(message);
    };
    for scenario in SCENARIOS {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|n| n == scenario.name))
        {
            continue;
        }
        eprintln!("scenario {}: {}", scenario.name, scenario.description);
        let started = Instant::now();
        // Undo runs even when apply fails half-way, so one scenario never breaks the next.
        let applied = (scenario.apply)(&mut lab);
        if let Err(e) = &applied {
            fail(
                &mut failures,
                format!("{}: apply failed: {e:#}", scenario.name),
            );
        }
        for expect in scenario.expect.iter().filter(|_| applied.is_ok()) {
            if let Err(e) = poll(SETTLE, || expect.shown(&lab)) {
                fail(
                    &mut failures,
                    format!("{}: expected {expect:?}: {e}", scenario.name),
                );
            }
        }
        record(&lab, scenario.name);
        if let Err(e) = snapshot_verify_agrees(&lab, &dir, lab.labctl_config()) {
            fail(
                &mut failures,
                format!(
                    "{}: verify --snapshot disagrees with verify: {e}",
                    scenario.name
                ),
            );
        }
        if let Err(e) = (scenario.undo)(&mut lab) {
            fail(
                &mut failures,
                format!("{}: undo failed: {e:#}", scenario.name),
            );
        }
        let healed = poll(SETTLE, || {
            let u = unhealthy(&lab);
            if u.is_empty() {
                Ok(())
            } else {
                Err(u.join("\n"))
            }
        });
        if let Err(u) = healed {
            failures.push(format!(
                "{}: still unhealthy after undo: {u:?}",
                scenario.name
            ));
        }
        eprintln!(
            "scenario {}: {:.0} s",
            scenario.name,
            started.elapsed().as_secs_f64()
        );
    }
    assert!(
        failures.is_empty(),
        "{} scenario failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Stopped (containers, mounts and bridge removed) before its directory goes; a failed
    // run keeps the directory and its logs.
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory for this run's lab (certificates, etcd data, logs, kubeconfigs).
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mlops-lab-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
