//! The real data plane: trainer → inference → nginx (ingress) → dnsmasq (Pi-hole) →
//! `labctl predict` / `labctl verify`, all real processes on loopback.

use serde_json::Value;

use crate::support::{DATA_PLANE_CHECKS, DataPlane, HOST, UNROUTED_HOST};

// In an empty directory, without a kubeconfig: these commands must not need one.
use crate::support::labctl::{run as labctl, stderr, stdout};

fn args(plane: &DataPlane, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    a.extend(plane.labctl_args());
    a
}

/// y = Σ wᵢxᵢ + b from the published model.json (one feature here).
fn model_y(plane: &DataPlane, x: f64) -> f64 {
    let model: Value = serde_json::from_str(
        &std::fs::read_to_string(plane.model_dir.path().join("model.json")).unwrap(),
    )
    .unwrap();
    model["weights"][0].as_f64().unwrap() * x + model["bias"].as_f64().unwrap()
}

#[test]
fn predict_returns_the_models_value_through_dns_and_ingress() {
    let plane = DataPlane::start();
    let out = labctl(&args(&plane, &["predict", "4.2", "-o", "json"]));
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).expect("one JSON document");
    let y = v["y"].as_f64().unwrap();
    assert!((y - model_y(&plane, 4.2)).abs() < 1e-9, "y = {y}");
    assert_eq!(v["x"], 4.2);
    assert_eq!(v["model_version"], plane.model_version.as_str());
    assert_eq!(v["host"], HOST);
    assert_eq!(v["address"], plane.nginx.addr.to_string());
    assert_eq!(v["dns_server"], plane.dns.addr.to_string());
    assert!(v["latency_ms"].as_f64().unwrap() >= 0.0);

    // The table names the same facts.
    let out = labctl(&args(&plane, &["predict", "4.2"]));
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains(&plane.model_version) && text.contains(&plane.dns.addr.to_string()),
        "{text}"
    );
}

#[test]
fn predict_with_resolve_skips_dns() {
    let mut plane = DataPlane::start();
    plane.dns.guard.stop();
    let out = labctl(&args(
        &plane,
        &["predict", "-1.5", "--resolve", "127.0.0.1", "-o", "json"],
    ));
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["dns_server"], Value::Null);
    assert!((v["y"].as_f64().unwrap() - model_y(&plane, -1.5)).abs() < 1e-9);
}

#[test]
fn wrong_host_is_reported_as_not_routed() {
    let plane = DataPlane::start();
    let out = labctl(&args(&plane, &["predict", "4.2", "--host", UNROUTED_HOST]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("labctl: predict failed at ingress routing: host other.homelab is not routed")
            && err.contains("not routed"),
        "{err}"
    );
    assert!(
        stdout(&out).is_empty(),
        "table mode prints failures on stderr only"
    );
}

#[test]
fn stopped_inference_is_a_backend_failure() {
    let mut plane = DataPlane::start();
    plane.inference.guard.stop();
    let out = labctl(&args(&plane, &["predict", "4.2"]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("labctl: predict failed at backend:") && err.contains("502"),
        "{err}"
    );
}

#[test]
fn stopped_dnsmasq_is_a_dns_failure_naming_the_server() {
    let mut plane = DataPlane::start();
    plane.dns.guard.stop();
    let out = labctl(&args(&plane, &["predict", "4.2", "--timeout", "1s"]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let out_json = labctl(&args(
        &plane,
        &["predict", "4.2", "--timeout", "1s", "-o", "json"],
    ));
    assert_eq!(out_json.status.code(), Some(1));
    let doc: Value = serde_json::from_str(&stdout(&out_json)).expect("a JSON failure document");
    assert_eq!(doc["hop"], "dns");
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains(&plane.dns.addr.to_string())
    );
    assert!(
        err.contains("labctl: predict failed at DNS: DNS server")
            && err.contains(&plane.dns.addr.to_string()),
        "{err}"
    );
}

#[test]
fn empty_model_dir_is_model_not_ready() {
    let plane = DataPlane::start_in(tempfile::tempdir().unwrap(), String::new());
    let out = labctl(&args(&plane, &["predict", "4.2"]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("labctl: predict failed at model not ready: the model server is not ready"),
        "{err}"
    );
}

/// Runs the data-plane verify checks; `overrides` replace the plane's flags (`--port`, …) or add
/// new ones (`--host`).
fn verify(plane: &DataPlane, overrides: &[(&str, &str)]) -> (Option<i32>, Value) {
    let mut a = vec!["verify", "-o", "json", "--timeout", "2s"];
    a.extend(DATA_PLANE_CHECKS);
    let mut a = args(plane, &a);
    for (flag, value) in overrides {
        match a.iter().position(|x| x == flag) {
            Some(i) => a[i + 1] = value.to_string(),
            None => a.extend([flag.to_string(), value.to_string()]),
        }
    }
    let out = labctl(&a);
    let v: Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{e}: {} / {}", stdout(&out), stderr(&out)));
    (out.status.code(), v)
}

fn status_of(report: &Value, id: &str) -> (String, String) {
    let c = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap();
    (
        c["status"].as_str().unwrap().to_owned(),
        c["message"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn verify_data_plane_checks_pass_on_a_healthy_plane() {
    let plane = DataPlane::start();
    let (code, report) = verify(&plane, &[]);
    assert_eq!(code, Some(0), "{report:#}");
    // Only the selected checks ran: no gates, no cluster needed.
    assert_eq!(report["checks"].as_array().unwrap().len(), 3);
    for id in ["dns-resolves-host", "http-healthz", "model-ready"] {
        assert_eq!(status_of(&report, id).0, "pass", "{report:#}");
    }
    assert!(
        status_of(&report, "dns-resolves-host")
            .1
            .contains(&plane.dns.addr.to_string())
    );
    assert!(
        status_of(&report, "model-ready")
            .1
            .contains(&plane.model_version)
    );
}

#[test]
fn verify_data_plane_checks_fail_when_serving_dns_or_routing_break() {
    let mut plane = DataPlane::start();

    // Wrong address in Pi-hole's eyes: the ingress is elsewhere.
    let (code, report) = verify(&plane, &[("--ingress-address", "127.0.0.2")]);
    assert_eq!(code, Some(1));
    assert_eq!(status_of(&report, "dns-resolves-host").0, "fail");
    assert!(
        status_of(&report, "dns-resolves-host")
            .1
            .contains("not to the ingress address 127.0.0.2")
    );

    // Host not routed by the ingress.
    let (code, report) = verify(&plane, &[("--host", UNROUTED_HOST)]);
    assert_eq!(code, Some(1));
    assert_eq!(status_of(&report, "dns-resolves-host").0, "pass");
    let (status, message) = status_of(&report, "http-healthz");
    assert_eq!(status, "fail");
    assert!(message.contains("not routed"), "{message}");

    // Serving down.
    plane.inference.guard.stop();
    let (code, report) = verify(&plane, &[]);
    assert_eq!(code, Some(1));
    let (status, message) = status_of(&report, "http-healthz");
    assert_eq!(status, "fail");
    assert!(message.contains("502"), "{message}");
    assert_eq!(status_of(&report, "model-ready").0, "fail");

    // Pi-hole down.
    plane.dns.guard.stop();
    let (_, report) = verify(&plane, &[]);
    let (status, message) = status_of(&report, "dns-resolves-host");
    assert_eq!(status, "fail");
    assert!(message.contains(&plane.dns.addr.to_string()), "{message}");
}

#[test]
fn pihole_without_the_record_is_a_warning_with_the_record_to_add() {
    let plane = DataPlane::start();
    let preflight = |extra: &[&str]| {
        let mut a = vec![
            "preflight",
            "-o",
            "json",
            "--check",
            "pihole-dns-record",
            "--host",
            "missing.homelab",
        ];
        a.extend(extra);
        let out = labctl(&args(&plane, &a));
        let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
        (out.status.code(), v)
    };
    let (code, report) = preflight(&[]);
    assert_eq!(code, Some(0), "{report:#}");
    let check = &report["checks"][0];
    assert_eq!(check["status"], "warn");
    let evidence: Vec<&str> = check["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        evidence
            .iter()
            .any(|e| e.contains("\"127.0.0.1 missing.homelab\"") && e.contains("v6")),
        "{evidence:?}"
    );
    assert!(
        evidence.iter().any(|e| e.contains("custom.list")),
        "{evidence:?}"
    );
    let (code, _) = preflight(&["--strict"]);
    assert_eq!(code, Some(1));

    // With the record, it passes.
    let out = labctl(&args(
        &plane,
        &["preflight", "--check", "pihole-dns-record"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // predict names the refusal as a DNS failure at that server.
    let out = labctl(&args(
        &plane,
        &["predict", "1", "--host", "missing.homelab"],
    ));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("predict failed at DNS") && err.contains("no local record for it"),
        "{err}"
    );
}
