//! The real `labctl` binary: help, bad flags, exit codes, and table/short/JSON output
//! (insta snapshots, with filters for ports, versions and latencies).

use std::path::Path;
use std::process::Output;

use labctl::exit;

use crate::support::{DATA_PLANE_CHECKS, DataPlane};

use crate::support::labctl::{
    command, run as labctl, run_in as labctl_in, stderr as err, stdout as out,
};

/// Things that vary between runs.
fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
        (r"\d+\.\d+ ms", "[LATENCY] ms"),
        (
            r"model [0-9A-Za-z._:-]+ is loaded",
            "model [VERSION] is loaded",
        ),
    ]
}

#[test]
fn help_lists_commands_and_global_flags() {
    let o = labctl(&["--help"]);
    assert_eq!(o.status.code(), Some(exit::OK));
    insta::assert_snapshot!("help", out(&o));
}

#[test]
fn verify_help_lists_its_flags() {
    let o = labctl(&["verify", "--help"]);
    assert_eq!(o.status.code(), Some(exit::OK));
    insta::assert_snapshot!("verify_help", out(&o));
}

#[test]
fn bad_flag_is_exit_2_with_usage() {
    let o = labctl(&["verify", "--bogus"]);
    assert_eq!(o.status.code(), Some(exit::INTERNAL_ERROR));
    assert!(
        err(&o).contains("unexpected argument '--bogus'"),
        "{}",
        err(&o)
    );
    let o = labctl(&["-o", "yaml", "verify"]);
    assert_eq!(o.status.code(), Some(exit::INTERNAL_ERROR));
    let o = labctl(&["--timeout", "0s", "verify"]);
    assert_eq!(o.status.code(), Some(exit::INTERNAL_ERROR));
    assert!(err(&o).contains("must be greater than zero"));
}

#[test]
fn non_numeric_x_is_refused_before_any_network() {
    // A DNS server that would hang if asked: the refusal must come first.
    let o = labctl(&["predict", "four", "--dns", "192.0.2.1"]);
    assert_eq!(o.status.code(), Some(exit::INTERNAL_ERROR));
    insta::assert_snapshot!("predict_bad_x", err(&o));
}

#[test]
fn predict_without_dns_server_says_how_to_give_one() {
    let o = labctl(&["predict", "4.2"]);
    assert_eq!(o.status.code(), Some(exit::INTERNAL_ERROR));
    assert!(
        err(&o).starts_with("labctl: cannot resolve model.homelab: no Pi-hole DNS server"),
        "{}",
        err(&o)
    );
}

#[test]
fn unknown_check_id_is_exit_2() {
    let o = labctl(&["verify", "--check", "pvc-bund"]);
    assert_eq!(o.status.code(), Some(exit::INTERNAL_ERROR));
    assert!(
        err(&o).contains("unknown check \"pvc-bund\""),
        "{}",
        err(&o)
    );
}

#[test]
fn check_lists_are_stable() {
    insta::assert_snapshot!("preflight_list", out(&labctl(&["preflight", "--list"])));
    insta::assert_snapshot!("verify_list", out(&labctl(&["verify", "--list"])));
    let v: serde_json::Value =
        serde_json::from_str(&out(&labctl(&["verify", "--list", "-o", "json"]))).unwrap();
    assert_eq!(v["schema"], 1);
    let text_rows = out(&labctl(&["verify", "--list"])).lines().count();
    assert_eq!(v["checks"].as_array().map(Vec::len), Some(text_rows));
    assert_eq!(v["checks"][3]["id"], "pvc-bound");
    assert!(
        v["checks"][3]["hint"]
            .as_str()
            .unwrap()
            .contains("#pvc-bound")
    );
}

#[test]
fn config_prints_defaults_file_and_flag_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let o = labctl_in(dir.path(), &["config"]);
    assert_eq!(o.status.code(), Some(exit::OK));
    insta::assert_snapshot!("config_defaults", out(&o));

    std::fs::write(
        dir.path().join("labctl.toml"),
        "host = \"ml.lan\"\npihole_dns = \"192.168.1.2\"\n",
    )
    .unwrap();
    let o = labctl_in(dir.path(), &["config", "-n", "lab2", "-o", "json"]);
    assert_eq!(o.status.code(), Some(exit::OK));
    let v: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(v["host"], "ml.lan");
    assert_eq!(v["pihole_dns"], "192.168.1.2:53");
    assert_eq!(v["namespace"], "lab2");
    assert_eq!(v["schema"], 1, "versioned like every JSON document");
    // Flags beat the file.
    let o = labctl_in(dir.path(), &["config", "--host", "other.lan", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(v["host"], "other.lan");
}

#[test]
fn config_with_unknown_key_is_exit_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("labctl.toml"),
        "namespace = \"x\"\npihole = \"1.2.3.4\"\n",
    )
    .unwrap();
    let o = labctl_in(dir.path(), &["config"]);
    assert_eq!(o.status.code(), Some(exit::INTERNAL_ERROR));
    let e = err(&o);
    assert!(
        e.starts_with("labctl: invalid lab description labctl.toml")
            && e.contains("unknown field `pihole`"),
        "{e}"
    );
}

#[test]
fn completions_are_generated() {
    let o = labctl(&["completions", "bash"]);
    assert_eq!(o.status.code(), Some(exit::OK));
    assert!(out(&o).contains("labctl") && out(&o).contains("--kubeconfig"));
}

#[test]
fn unreadable_kubeconfig_fails_the_gate_and_skips_the_rest() {
    let o = labctl(&[
        "verify",
        "--kubeconfig",
        "/nonexistent/kubeconfig",
        "--check",
        "pvc-bound",
    ]);
    assert_eq!(o.status.code(), Some(exit::PROBLEM));
    insta::assert_snapshot!("verify_no_cluster_table", out(&o));
}

fn data_plane_verify(plane: &DataPlane, format: &str) -> Output {
    let port = plane.nginx.addr.port().to_string();
    let dns = plane.dns.addr.to_string();
    let mut args = vec!["verify", "-o", format, "--timeout", "3s"];
    args.extend(DATA_PLANE_CHECKS);
    args.extend([
        "--dns",
        &dns,
        "--ingress-address",
        "127.0.0.1",
        "--port",
        &port,
    ]);
    labctl(&args)
}

#[test]
fn verify_output_formats_on_a_healthy_and_a_broken_data_plane() {
    let mut plane = DataPlane::start();
    insta::with_settings!({filters => filters()}, {
        let o = data_plane_verify(&plane, "table");
        assert_eq!(o.status.code(), Some(exit::OK));
        insta::assert_snapshot!("verify_healthy_table", out(&o));
        let o = data_plane_verify(&plane, "short");
        assert_eq!(o.status.code(), Some(exit::OK));
        assert_eq!(out(&o), "", "short prints only what is not OK");

        plane.inference.guard.stop();
        let o = data_plane_verify(&plane, "table");
        assert_eq!(o.status.code(), Some(exit::PROBLEM));
        insta::assert_snapshot!("verify_backend_down_table", out(&o));
        let o = data_plane_verify(&plane, "short");
        assert_eq!(o.status.code(), Some(exit::PROBLEM));
        insta::assert_snapshot!("verify_backend_down_short", out(&o));
        let o = data_plane_verify(&plane, "json");
        assert_eq!(o.status.code(), Some(exit::PROBLEM));
        insta::assert_snapshot!("verify_backend_down_json", out(&o));
    });
}

#[test]
fn closed_stdout_is_success() {
    // `labctl completions zsh | head -0`: the reader is gone before labctl writes.
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(dir.path(), &["completions", "zsh"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(exit::OK), "{}", err(&o));
    assert_eq!(err(&o), "");
}

/// `verify --snapshot`: the checks judge a recorded lab (the real API objects of a scenario)
/// offline; the gates and the data plane are skipped, saying why.
#[test]
fn verify_judges_a_recorded_snapshot_offline() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lab");
    let report = |name: &str| {
        let path = fixtures.join(format!("{name}.json"));
        let o = labctl(&[
            "verify",
            "--snapshot",
            &path.display().to_string(),
            "-o",
            "json",
        ]);
        let v: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", err(&o)));
        let statuses: std::collections::BTreeMap<String, (String, String)> = v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
                (s("id"), (s("status"), s("message")))
            })
            .collect();
        // The instant it was judged as of: the API server's time `labctl snapshot` captured,
        // or, in a recording of a labctl that wrote none, the newest time in it.
        assert!(
            v["as_of"]["source"] == "captured-api-server-clock"
                || v["as_of"]["source"] == "newest-time-in-file",
            "{name}: {}",
            v["as_of"]
        );
        assert!(
            v["as_of"]["time"].as_str().unwrap().starts_with("2026-"),
            "{name}: {}",
            v["as_of"]
        );
        (o.status.code(), statuses)
    };

    let (code, healthy) = report("healthy");
    let table = out(&labctl(&[
        "verify",
        "--snapshot",
        &fixtures.join("healthy.json").display().to_string(),
    ]));
    assert!(
        table.starts_with("Judged as of 2026-")
            && table.contains(", when labctl snapshot took it (the API server's clock)\n"),
        "{table}"
    );
    assert_eq!(code, Some(exit::OK), "{healthy:#?}");
    for id in [
        "argocd-app-healthy",
        "pvc-bound",
        "pv-node-affinity",
        "trainer-last-job-succeeded",
        "inference-available",
        "inference-pods-pinned",
        "service-selects-pods",
        "endpoints-ready",
    ] {
        assert_eq!(healthy[id].0, "pass", "{id}: {:?}", healthy[id]);
    }
    for id in ["api-reachable", "credentials-accepted"] {
        assert_eq!(healthy[id].0, "skip");
        assert!(
            healthy[id].1.starts_with("asks the API server itself"),
            "{:?}",
            healthy[id]
        );
    }
    assert_eq!(healthy["http-healthz"].0, "skip");
    assert!(
        healthy["http-healthz"]
            .1
            .starts_with("needs the live network")
    );
    assert_eq!(healthy["ingress-routes-host"].0, "pass", "{healthy:#?}");

    // The scenario's own verify expectation, from its recording.
    let (code, broken) = report("service-selector-typo");
    assert_eq!(code, Some(exit::PROBLEM));
    assert_eq!(broken["endpoints-ready"].0, "fail", "{broken:#?}");
    assert_eq!(broken["pvc-bound"].0, "pass");

    // A claim deleted in use stays Bound (its finalizer holds it); Argo CD's health says
    // Progressing, as the recording has it.
    let (_, gone) = report("pvc-deleted-in-use");
    assert_eq!(gone["pvc-bound"].0, "pass", "{gone:#?}");
    assert_eq!(gone["argocd-app-healthy"].0, "fail", "{gone:#?}");
}

/// A file of `kubectl get` names no resources read whole: a kind it has none of is not judged
/// ("not in the snapshot") rather than reported missing.
#[test]
fn verify_does_not_take_a_kind_a_file_lacks_for_a_missing_object() {
    let dir = tempfile::tempdir().unwrap();
    let recorded = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lab/healthy.json");
    let mut list: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(recorded).unwrap()).unwrap();
    list.as_object_mut().unwrap().remove("labctl");
    list["items"]
        .as_array_mut()
        .unwrap()
        .retain(|o| o["kind"] != "Ingress");
    let file = dir.path().join("kubectl-get.json");
    std::fs::write(&file, list.to_string()).unwrap();
    let o = labctl(&[
        "verify",
        "--snapshot",
        &file.display().to_string(),
        "--check",
        "ingress-routes-host",
    ]);
    assert_eq!(o.status.code(), Some(exit::OK), "{}", out(&o));
    assert!(
        out(&o).contains("get ingresses.networking.k8s.io in mlops-lab: not in the snapshot"),
        "{}",
        out(&o)
    );
}

#[test]
fn verify_snapshot_and_wait_do_not_go_together() {
    let o = labctl(&["verify", "--snapshot", "x.json", "--wait"]);
    assert_eq!(o.status.code(), Some(exit::INTERNAL_ERROR));
    let o = labctl(&["verify", "--snapshot", "missing.json"]);
    assert_ne!(o.status.code(), Some(exit::OK));
    assert!(err(&o).contains("missing.json"), "{}", err(&o));
}
