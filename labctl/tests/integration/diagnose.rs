//! `labctl diagnose pvc` on snapshot fixtures (tests/fixtures/generated, written by
//! `tests/fixtures/generated/generate.py` the way a cluster writes them): every finding id fires on its
//! scenario and stays silent on its near miss; output snapshots and exit codes through the real
//! binary (`runbooks.rs` checks that the runbook has a complete section per id).

use std::path::{Path, PathBuf};

use labctl::config::LabConfig;
use labctl::diagnose::{CATALOGUE, Diagnosis, Scope, Severity, diagnose};

/// The fixtures, grouped: `generated` (written by `generated/generate.py`), `lab` (recorded
/// from the real lab by `scripts/record-lab-fixtures.sh`), `lint` (broken copies of the
/// manifests).
fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A generated fixture.
fn fixture(name: &str) -> PathBuf {
    fixtures_dir().join("generated").join(name)
}

fn run_fixture(name: &str) -> Diagnosis {
    run_path(&fixture(name))
}

fn run_path(path: &Path) -> Diagnosis {
    let snapshot = labctl::snapshot::load_path(path).expect("the fixture loads");
    diagnose(
        &snapshot,
        &LabConfig::default(),
        &Scope::namespace("mlops-lab"),
    )
}

/// `(id, severity)` of every finding, in output order.
fn ids(d: &Diagnosis) -> Vec<(&'static str, Severity)> {
    d.findings
        .iter()
        .map(|f| (f.id.as_str(), f.severity))
        .collect()
}

mod engine {
    use super::*;
    use Severity::{Error, Info, Warning};

    /// Fixture → the findings it must produce, exactly.
    const CASES: &[(&str, &[(&str, Severity)])] = &[
        ("healthy.json", &[]),
        (
            "waiting-cronjob-not-run.yaml",
            &[("pvc-waiting-for-consumer", Info)],
        ),
        // Every consumer idle (inference scaled to 0, the trainer suspended): it never binds.
        (
            "waiting-cronjob-suspended.json",
            &[("pvc-consumers-idle", Error)],
        ),
        (
            "pv-node-affinity-conflict.json",
            &[("pv-node-affinity-conflict", Error)],
        ),
        (
            "pv-node-affinity-conflict-events-only.yaml",
            &[("pv-node-affinity-conflict", Error)],
        ),
        (
            "consumers-pinned-apart.json",
            &[("consumers-pinned-to-different-nodes", Error)],
        ),
        ("rwo-shared-one-node.yaml", &[]),
        ("pv-node-missing.json", &[("pv-node-missing", Error)]),
        ("pv-node-relabelled.yaml", &[("pv-node-missing", Error)]),
        ("pv-node-notready.json", &[("pv-node-unavailable", Error)]),
        ("pv-node-cordoned.yaml", &[("pv-node-unavailable", Error)]),
        ("pv-node-taint-tolerated.json", &[]),
        (
            "selected-node-stale.yaml",
            &[("selected-node-stale", Error)],
        ),
        (
            "selected-node-stale-cleared.json",
            &[("selected-node-stale", Error)],
        ),
        ("provisioning-in-progress.json", &[]),
        (
            "provisioning-failed.json",
            &[("provisioning-failed", Error)],
        ),
        (
            "provisioning-failed-no-events.yaml",
            &[("provisioning-failed", Error)],
        ),
        (
            "node-selector-matches-no-node.json",
            &[("node-selector-matches-no-node", Error)],
        ),
        (
            "partial-selector-matches-no-node.yaml",
            &[("node-selector-matches-no-node", Error)],
        ),
        ("partial-healthy.yaml", &[]),
        ("pinned-by-affinity.yaml", &[]),
        (
            "storageclass-missing.json",
            &[("storageclass-missing", Error)],
        ),
        (
            "no-default-storageclass.yaml",
            &[("storageclass-missing", Error)],
        ),
        ("default-storageclass.yaml", &[]),
        (
            "provisioner-not-running.json",
            &[("provisioner-not-running", Error)],
        ),
        (
            "provisioner-missing.yaml",
            &[("provisioner-not-running", Error)],
        ),
        (
            "access-mode-rwx.json",
            &[("access-mode-unsupported", Error)],
        ),
        (
            "access-mode-rwop-shared.yaml",
            &[("access-mode-unsupported", Error)],
        ),
        ("rwop-single-consumer.json", &[]),
        (
            "pvc-terminating-in-use.yaml",
            &[("pvc-terminating-in-use", Warning)],
        ),
        (
            "pvc-terminating-finished-pod.json",
            &[("pvc-terminating-in-use", Warning)],
        ),
        ("pvc-terminating-unused.json", &[]),
        (
            "pv-released-not-rebound.json",
            &[("pv-released-not-rebound", Warning)],
        ),
        ("pv-released-orphan.yaml", &[]),
        ("pvc-lost.json", &[("pvc-lost", Error)]),
        ("sync-wave-deadlock.json", &[("sync-wave-deadlock", Error)]),
        (
            "sync-wave-annotations.yaml",
            &[("sync-wave-deadlock", Error)],
        ),
        ("sync-wave-bound.yaml", &[]),
        (
            "sync-wave-hook-first-consumer.yaml",
            &[("pvc-waiting-for-consumer", Info)],
        ),
        ("completed-hook-elsewhere.yaml", &[]),
        ("sync-wave-same.json", &[("pvc-waiting-for-consumer", Info)]),
        (
            "insufficient-resources.json",
            &[("insufficient-resources", Error)],
        ),
        (
            "insufficient-pods-bound.yaml",
            &[("insufficient-resources", Error)],
        ),
        ("insufficient-resources-other-namespace.yaml", &[]),
        (
            "pin-node-unavailable.json",
            &[("pin-node-unavailable", Error)],
        ),
        (
            "pin-node-unavailable-events-only.yaml",
            &[("pin-node-unavailable", Error)],
        ),
        // The scheduler's older wordings (1.18-1.24, 1.17 and before, the predicates form).
        (
            "scheduling-taint-wording-1-20.yaml",
            &[("pin-node-unavailable", Error)],
        ),
        (
            "scheduling-taint-wording-1-17.yaml",
            &[("pin-node-unavailable", Error)],
        ),
        (
            "scheduling-predicates-wording.yaml",
            &[("insufficient-resources", Error)],
        ),
        (
            "pin-node-taint-tolerated.json",
            &[("pvc-waiting-for-consumer", Info)],
        ),
    ];

    #[test]
    fn every_fixture_yields_exactly_its_findings() {
        let mut failures = Vec::new();
        for (name, expected) in CASES {
            let got = ids(&run_fixture(name));
            if got != *expected {
                failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// `labctl diagnose` (everything) on the storage fixtures says what `diagnose pvc` says:
    /// a root cause both the claims and the pods show is one finding.
    #[test]
    fn every_diagnosis_adds_nothing_to_a_storage_fixture() {
        for (name, expected) in CASES {
            let snapshot = labctl::snapshot::load_path(&fixture(name)).unwrap();
            let d = labctl::diagnose::diagnose_target(
                &snapshot,
                &LabConfig::default(),
                &Scope::namespace("mlops-lab"),
                labctl::diagnose::Target::All,
            );
            assert_eq!(ids(&d), *expected, "{name}");
        }
    }

    /// Pod and workload fixture → the findings `labctl diagnose` (everything) must produce.
    const POD_CASES: &[(&str, &[(&str, Severity)])] = &[
        ("image-pull-not-found.json", &[("image-pull-failed", Error)]),
        (
            "image-pull-unauthorized.yaml",
            &[("image-pull-failed", Error)],
        ),
        ("image-invalid-name.yaml", &[("image-pull-failed", Error)]),
        ("image-pulling.yaml", &[]),
        (
            "image-platform-mismatch.json",
            &[("image-platform-mismatch", Error)],
        ),
        (
            "image-exec-format-error.yaml",
            &[("image-platform-mismatch", Error)],
        ),
        ("image-arm64-running.yaml", &[]),
        (
            "container-crash-looping.json",
            &[("container-crash-looping", Error)],
        ),
        (
            "container-crash-looping-inference.yaml",
            &[("container-crash-looping", Error)],
        ),
        ("container-restarted-once.yaml", &[]),
        (
            "container-oom-killed.json",
            &[("container-oom-killed", Error)],
        ),
        ("container-killed-not-oom.yaml", &[]),
        (
            "container-start-failed.json",
            &[("container-start-failed", Error)],
        ),
        (
            "container-start-failed-command.yaml",
            &[("container-start-failed", Error)],
        ),
        ("trainer-job-failed.json", &[("trainer-job-failed", Error)]),
        (
            "trainer-hook-deadline-exceeded.yaml",
            &[("trainer-job-failed", Error)],
        ),
        ("trainer-job-failed-then-succeeded.yaml", &[]),
        (
            "readiness-failing-no-model.json",
            &[("readiness-failing", Error)],
        ),
        ("readiness-failing.yaml", &[("readiness-failing", Error)]),
        ("readiness-starting.yaml", &[]),
        ("config-missing.json", &[("config-missing", Error)]),
        ("config-missing-secret.yaml", &[("config-missing", Error)]),
        ("config-container-creating.yaml", &[]),
        (
            "insufficient-resources.json",
            &[("insufficient-resources", Error)],
        ),
        ("insufficient-resources-other-namespace.yaml", &[]),
        ("config-missing-volume.yaml", &[("config-missing", Error)]),
        (
            "image-pull-backoff-unauthorized.yaml",
            &[("image-pull-failed", Error)],
        ),
        (
            "image-pull-rate-limited.yaml",
            &[("image-pull-failed", Error)],
        ),
        (
            "image-pull-untrusted-certificate.yaml",
            &[("image-pull-failed", Error)],
        ),
        (
            "image-pull-plain-http-registry.yaml",
            &[("image-pull-failed", Error)],
        ),
        (
            "image-pull-node-disk-full.yaml",
            &[("image-pull-failed", Error)],
        ),
        // CRI-O's and Docker's wordings of the same pull failures.
        (
            "image-pull-crio-not-found.yaml",
            &[("image-pull-failed", Error)],
        ),
        (
            "image-pull-crio-platform.yaml",
            &[("image-platform-mismatch", Error)],
        ),
        (
            "image-pull-docker-denied.yaml",
            &[("image-pull-failed", Error)],
        ),
        (
            "container-start-failed-last-state.yaml",
            &[("container-start-failed", Error)],
        ),
        ("node-pressure-evicted.yaml", &[("node-pressure", Error)]),
        ("node-pressure-recovered.yaml", &[]),
        (
            "volume-path-missing.yaml",
            &[("volume-path-missing", Error)],
        ),
        (
            "service-selects-no-pod.yaml",
            &[("service-selects-no-pod", Error)],
        ),
        ("host-not-routed.yaml", &[("host-not-routed", Error)]),
        ("host-routed.yaml", &[]),
        // What the sweep reads from a stuck object's own state, and near misses.
        (
            "volume-mount-timeout.yaml",
            &[("volume-mount-failed", Error)],
        ),
        (
            "volume-multi-attach.yaml",
            &[("volume-mount-failed", Error)],
        ),
        (
            "volume-attach-failed.yaml",
            &[("volume-mount-failed", Error)],
        ),
        ("volume-mount-recovered.yaml", &[]),
        ("scheduling-gated.yaml", &[("scheduling-gated", Error)]),
        ("scheduling-gated-young.yaml", &[]),
        (
            "rollout-stuck-pod-security.yaml",
            &[("rollout-stuck", Error)],
        ),
        ("rollout-stuck-quota.yaml", &[("rollout-stuck", Error)]),
        ("rollout-progressing.yaml", &[]),
        // Never silent: a failure no rule knows yet (a pod for a scheduler that does not run).
        (
            "unexplained-unknown-scheduler.yaml",
            &[("unexplained-failure", Error)],
        ),
    ];

    /// The cause is read where each version of the kubelet writes it: the waiting message, the
    /// kubelet's `Failed` event (ImagePullBackOff before 1.34), the last termination.
    #[test]
    fn the_summary_names_the_cause_in_every_wording() {
        for (name, words) in [
            // containerd's `pull access denied, repository does not exist or may require
            // authorization`: a missing repository and a private one are answered alike.
            (
                "image-pull-backoff-unauthorized.yaml",
                "private and needs imagePullSecrets",
            ),
            ("image-pull-rate-limited.yaml", "429 Too Many Requests"),
            ("image-pull-untrusted-certificate.yaml", "x509"),
            ("image-pull-plain-http-registry.yaml", "plain HTTP"),
            ("image-pull-node-disk-full.yaml", "disk is full"),
            ("image-pull-crio-not-found.yaml", "not found"),
            (
                "image-pull-docker-denied.yaml",
                "does not exist, or it is private",
            ),
            (
                "container-start-failed-last-state.yaml",
                "its command is not in the image",
            ),
            (
                "config-missing-volume.yaml",
                "ConfigMap inference-config does not exist",
            ),
            (
                "volume-mount-timeout.yaml",
                "gave up mounting volume(s) [models]",
            ),
            (
                "volume-multi-attach.yaml",
                "(claim models) of pod inference-6f9c7d8b5-q2x7m is still attached for pod(s) inference-5b8f6c7d9-k2m4x",
            ),
            (
                "volume-attach-failed.yaml",
                "AttachVolume.Attach failed for volume",
            ),
            ("scheduling-gated.yaml", "example.com/capacity-check"),
            ("rollout-stuck-pod-security.yaml", "violates PodSecurity"),
            ("rollout-stuck-quota.yaml", "exceeded quota"),
        ] {
            let d = run_all(name);
            assert!(
                d.findings[0].summary.contains(words),
                "{name}: {}",
                d.findings[0].summary
            );
        }
    }

    fn run_all(name: &str) -> Diagnosis {
        let snapshot = labctl::snapshot::load_path(&fixture(name)).expect(name);
        labctl::diagnose::diagnose_target(
            &snapshot,
            &LabConfig::default(),
            &Scope::namespace("mlops-lab"),
            labctl::diagnose::Target::All,
        )
    }

    #[test]
    fn every_pod_fixture_yields_exactly_its_findings() {
        let mut failures = Vec::new();
        for (name, expected) in POD_CASES {
            let got = ids(&run_all(name));
            if got != *expected {
                failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// The pods diagnosis alone says the same about its fixtures (nothing there is storage).
    #[test]
    fn the_pods_diagnosis_alone_agrees() {
        for (name, expected) in POD_CASES {
            let snapshot = labctl::snapshot::load_path(&fixture(name)).unwrap();
            let d = labctl::diagnose::diagnose_target(
                &snapshot,
                &LabConfig::default(),
                &Scope::namespace("mlops-lab"),
                labctl::diagnose::Target::Pods,
            );
            assert_eq!(ids(&d), *expected, "{name}");
        }
    }

    #[test]
    fn pod_findings_carry_the_kubelet_and_registry_facts() {
        let f = &run_all("image-pull-not-found.json").findings[0];
        assert!(f.summary.contains("(not found)"), "{}", f.summary);
        assert!(
            f.evidence
                .iter()
                .any(|e| e.contains("Failed to pull image")),
            "{:?}",
            f.evidence
        );
        let f = &run_all("image-pull-unauthorized.yaml").findings[0];
        assert!(f.summary.contains("unauthorized"), "{}", f.summary);
        // Argo CD manages the Deployment with selfHeal: the Git change first.
        assert!(
            f.remediation
                .starts_with("Argo CD's Application mlops-lab (selfHeal)"),
            "{}",
            f.remediation
        );
        let f = &run_all("image-platform-mismatch.json").findings[0];
        assert!(
            f.summary.contains("kubernetes.io/arch=arm64"),
            "{}",
            f.summary
        );
        let f = &run_all("image-exec-format-error.yaml").findings[0];
        assert!(f.summary.contains("exec format error"), "{}", f.summary);
        let f = &run_all("container-crash-looping.json").findings[0];
        assert!(
            f.summary
                .contains("last exit code 1: trainer: holdout r2 0.412 is below --min-r2 0.8"),
            "{}",
            f.summary
        );
        assert!(
            f.evidence.iter().any(|e| e.starts_with(
                "trainer exit 1: bad training data, or the model scored below --min-r2"
            )),
            "{:?}",
            f.evidence
        );
        let f = &run_all("container-crash-looping-inference.yaml").findings[0];
        assert!(
            f.evidence
                .iter()
                .any(|e| e.starts_with("inference exit 2:")),
            "{:?}",
            f.evidence
        );
        let f = &run_all("container-oom-killed.json").findings[0];
        assert!(
            f.summary.contains("memory limit 128Mi, suggested 256Mi"),
            "{}",
            f.summary
        );
        assert!(f.remediation.contains("In Git: raise resources.limits.memory of container inference in Deployment inference to 256Mi"), "{}", f.remediation);
        let f = &run_all("container-start-failed.json").findings[0];
        assert!(
            f.summary.contains("its memory limit (2Mi) is below what the runtime uses to start it (error setting cgroup config for procHooks process: unable to set memory limit to 2097152"),
            "{}",
            f.summary
        );
        assert!(f.remediation.contains("Raise resources.limits.memory of container inference in Deployment inference in manifests/"), "{}", f.remediation);
        let f = &run_all("container-start-failed-command.yaml").findings[0];
        assert!(
            f.summary.ends_with(r#"its command is not in the image (exec: "/usr/local/bin/inferenc": stat /usr/local/bin/inferenc: no such file or directory)"#),
            "{}",
            f.summary
        );
        let f = &run_all("trainer-job-failed.json").findings[0];
        assert!(f.summary.ends_with("(BackoffLimitExceeded): trainer: training data /data/training.csv line 17: expected 2 columns, found 3"), "{}", f.summary);
        let f = &run_all("trainer-hook-deadline-exceeded.yaml").findings[0];
        assert!(
            f.summary
                .contains("(DeadlineExceeded): trainer: cannot create /models/.staging"),
            "{}",
            f.summary
        );
        let f = &run_all("readiness-failing-no-model.json").findings[0];
        assert!(
            f.evidence
                .iter()
                .any(|e| e
                    .contains("Readiness probe failed: HTTP probe failed with statuscode: 503")),
            "{:?}",
            f.evidence
        );
        assert!(
            f.summary.contains("no model has been published"),
            "{}",
            f.summary
        );
        assert!(
            f.remediation.contains("create job --from=cronjob/trainer"),
            "{}",
            f.remediation
        );
        let f = &run_all("readiness-failing.yaml").findings[0];
        assert!(!f.summary.contains("no model"), "{}", f.summary);
        let f = &run_all("config-missing.json").findings[0];
        assert_eq!(
            f.subject.to_string(),
            "ConfigMap mlops-lab/inference-config"
        );
        let f = &run_all("config-missing-secret.yaml").findings[0];
        assert_eq!(f.subject.to_string(), "Secret mlops-lab/registry-token");
        assert!(
            f.remediation
                .contains("In Git: add Secret registry-token to the manifests"),
            "{}",
            f.remediation
        );
    }

    /// What a failed `verify` names: the error findings, one line each; none on a healthy lab
    /// and never the info "waiting for a consumer".
    #[test]
    fn verify_causes_are_the_root_cause_findings() {
        use labctl::checks::Cause;
        let ids = |name: &str| -> Vec<&'static str> {
            Cause::of(&run_all(name))
                .iter()
                .map(|c| c.id.as_str())
                .collect()
        };
        assert_eq!(
            ids("insufficient-resources.json"),
            ["insufficient-resources"]
        );
        assert_eq!(
            ids("readiness-failing-no-model.json"),
            ["readiness-failing"]
        );
        assert_eq!(
            ids("pv-node-affinity-conflict.json"),
            ["pv-node-affinity-conflict"]
        );
        assert_eq!(
            ids("pvc-terminating-in-use.yaml"),
            ["pvc-terminating-in-use"]
        );
        assert!(ids("healthy.json").is_empty());
        assert!(ids("waiting-cronjob-not-run.yaml").is_empty());
    }

    #[test]
    fn every_finding_id_has_a_triggering_fixture() {
        for kind in CATALOGUE {
            assert!(
                CASES
                    .iter()
                    .chain(POD_CASES)
                    .any(|(_, f)| f.iter().any(|(id, _)| *id == kind.id)),
                "no fixture triggers {}",
                kind.id
            );
        }
    }

    #[test]
    fn healthy_namespace_has_no_error_or_warning() {
        for name in [
            "healthy.json",
            "rwo-shared-one-node.yaml",
            "pv-node-taint-tolerated.json",
        ] {
            let d = run_fixture(name);
            assert_eq!((d.summary.error, d.summary.warning), (0, 0), "{name}");
            assert_eq!(d.exit_code(true), 0, "{name}");
        }
    }

    #[test]
    fn one_finding_lists_the_whole_chain() {
        let d = run_fixture("pv-node-affinity-conflict.json");
        let f = &d.findings[0];
        let kinds: Vec<&str> = f.affected.iter().map(|a| a.object.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "PersistentVolumeClaim",
                "PersistentVolume",
                "Pod",
                "Deployment",
                "CronJob",
                "Service"
            ]
        );
        let svc = f.affected.last().unwrap();
        assert_eq!(svc.state.as_deref(), Some("no ready endpoints"));
        // The remediation names the real node and objects.
        assert!(
            f.remediation
                .contains("kubectl -n mlops-lab patch deployment inference"),
            "{}",
            f.remediation
        );
        assert!(
            f.remediation
                .contains("\"kubernetes.io/hostname\":\"lab-node-1\""),
            "{}",
            f.remediation
        );
        // State first: the PodScheduled condition is quoted, and the event as well.
        assert!(
            f.evidence
                .iter()
                .any(|e| e.contains("PodScheduled=False Unschedulable"))
        );
        assert!(
            f.evidence
                .iter()
                .any(|e| e.starts_with("Event Warning FailedScheduling") && e.contains("x17"))
        );
    }

    #[test]
    fn the_same_event_through_both_apis_is_quoted_once() {
        let d = run_fixture("pv-node-affinity-conflict.json");
        let events = d.findings[0]
            .evidence
            .iter()
            .filter(|e| e.starts_with("Event "))
            .count();
        assert_eq!(events, 1, "{:#?}", d.findings[0].evidence);
    }

    #[test]
    fn combined_prefix_is_stripped_from_evidence() {
        let d = run_fixture("provisioner-missing.yaml");
        let ev = d.findings[0].evidence.join("\n");
        assert!(
            ev.contains("waiting for a volume to be created, either by external provisioner"),
            "{ev}"
        );
        assert!(!ev.contains("(combined from similar events)"), "{ev}");
    }

    #[test]
    fn remediations_fill_in_real_names() {
        let cordoned = &run_fixture("pv-node-cordoned.yaml").findings[0];
        assert!(
            cordoned.remediation.contains("kubectl uncordon lab-node-1"),
            "{}",
            cordoned.remediation
        );
        let stale = &run_fixture("selected-node-stale.yaml").findings[0];
        assert!(stale.remediation.contains(
            "kubectl -n mlops-lab annotate pvc models volume.kubernetes.io/selected-node-"
        ));
        let relabelled = &run_fixture("pv-node-relabelled.yaml").findings[0];
        assert!(relabelled.remediation.contains(
            "kubectl label node lab-node-1 kubernetes.io/hostname=lab-node-1 --overwrite"
        ));
        let prov = &run_fixture("provisioner-not-running.json").findings[0];
        assert!(prov.remediation.contains(
            "kubectl -n kube-system scale deployment/local-path-provisioner --replicas=1"
        ));
        let idle = &run_fixture("waiting-cronjob-suspended.json").findings[0];
        assert!(
            idle.remediation.contains(
                "kubectl -n mlops-lab create job --from=cronjob/trainer trainer-first-run"
            ) && idle
                .remediation
                .contains("kubectl -n mlops-lab scale deployment/inference --replicas=1"),
            "{}",
            idle.remediation
        );
        assert!(idle.remediation.contains("suspend"));
    }

    #[test]
    fn grouped_root_cause_is_one_finding() {
        // Two claims whose volumes live on the same NotReady node: one finding, both claims listed.
        let mut snap = labctl::snapshot::load_path(&fixture("pv-node-notready.json")).unwrap();
        let mut pvc = snap.persistent_volume_claims[0].clone();
        let mut pv = snap.persistent_volumes[0].clone();
        pvc.metadata.name = Some("datasets".into());
        pvc.metadata.uid = Some("uid-datasets".into());
        pv.metadata.name = Some("pvc-datasets".into());
        pvc.spec.as_mut().unwrap().volume_name = Some("pvc-datasets".into());
        let claim_ref = pv.spec.as_mut().unwrap().claim_ref.as_mut().unwrap();
        claim_ref.name = Some("datasets".into());
        claim_ref.uid = Some("uid-datasets".into());
        let mut pod = snap.pods[0].clone();
        pod.metadata.name = Some("reader".into());
        pod.metadata.owner_references = None;
        let spec = pod.spec.as_mut().unwrap();
        spec.volumes.as_mut().unwrap()[0]
            .persistent_volume_claim
            .as_mut()
            .unwrap()
            .claim_name = "datasets".into();
        snap.persistent_volume_claims.push(pvc);
        snap.persistent_volumes.push(pv);
        snap.pods.push(pod);
        let d = diagnose(&snap, &LabConfig::default(), &Scope::namespace("mlops-lab"));
        assert_eq!(ids(&d), [("pv-node-unavailable", Error)]);
        let f = &d.findings[0];
        assert_eq!(f.subject.to_string(), "Node lab-node-1");
        assert!(f.summary.contains("2 claims"), "{}", f.summary);
        let claims: Vec<&str> = f
            .affected
            .iter()
            .filter(|a| a.object.kind == "PersistentVolumeClaim")
            .map(|a| a.object.name.as_str())
            .collect();
        assert_eq!(claims, ["models", "datasets"]);
    }

    #[test]
    fn scope_filters_namespace_and_claim() {
        let snap = labctl::snapshot::load_path(&fixture("pvc-lost.json")).unwrap();
        let cfg = LabConfig::default();
        assert!(
            diagnose(&snap, &cfg, &Scope::namespace("other"))
                .findings
                .is_empty()
        );
        assert_eq!(
            diagnose(&snap, &cfg, &Scope::all_namespaces())
                .findings
                .len(),
            1
        );
        let only = |pvc: &str| Scope {
            namespace: Some("mlops-lab".into()),
            pvc: Some(pvc.into()),
        };
        assert!(diagnose(&snap, &cfg, &only("datasets")).findings.is_empty());
        assert_eq!(diagnose(&snap, &cfg, &only("models")).findings.len(), 1);
    }

    #[test]
    fn snapshot_round_trips_through_one_list() {
        for (name, _) in CASES {
            let snap = labctl::snapshot::load_path(&fixture(name)).unwrap();
            let text = serde_json::to_string(&snap.to_list().unwrap()).unwrap();
            let again = labctl::snapshot::parse_str(&text, Path::new("roundtrip.json")).unwrap();
            assert_eq!(again.len(), snap.len(), "{name}");
            let cfg = LabConfig::default();
            let scope = Scope::namespace("mlops-lab");
            assert_eq!(
                diagnose(&again, &cfg, &scope),
                diagnose(&snap, &cfg, &scope),
                "{name}"
            );
        }
    }

    #[test]
    fn a_directory_of_files_is_one_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(fixture("pv-node-affinity-conflict.json")).unwrap();
        let list: serde_json::Value = serde_json::from_str(&text).unwrap();
        let items = list["items"].as_array().unwrap();
        let (a, b) = items.split_at(items.len() / 2);
        std::fs::write(
            dir.path().join("a.json"),
            serde_json::json!({"kind": "List", "apiVersion": "v1", "items": a}).to_string(),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("more")).unwrap();
        let yaml: String = b
            .iter()
            .map(|o| format!("---\n{}\n", serde_yaml_ng::to_string(o).unwrap()))
            .collect();
        std::fs::write(dir.path().join("more/b.yaml"), yaml).unwrap();
        std::fs::write(dir.path().join("README.txt"), "ignored").unwrap();
        let snap = labctl::snapshot::load_path(dir.path()).unwrap();
        let d = diagnose(&snap, &LabConfig::default(), &Scope::namespace("mlops-lab"));
        assert_eq!(ids(&d), [("pv-node-affinity-conflict", Error)]);
    }
}

mod cli {
    use super::*;
    use crate::support::labctl::{run_in, stderr, stdout};

    /// The exit code, stdout and stderr of `labctl ARGS` in the crate's directory.
    fn labctl(args: &[&str]) -> (i32, String, String) {
        let out = run_in(Path::new(env!("CARGO_MANIFEST_DIR")), args);
        (out.status.code().unwrap_or(-1), stdout(&out), stderr(&out))
    }

    fn diagnose_file(name: &str, extra: &[&str]) -> (i32, String, String) {
        let path = fixture(name);
        let mut args = vec!["diagnose", "pvc", "--snapshot", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        labctl(&args)
    }

    #[test]
    fn exit_codes() {
        assert_eq!(diagnose_file("healthy.json", &[]).0, 0);
        assert_eq!(
            diagnose_file("waiting-cronjob-not-run.yaml", &["--strict"]).0,
            0,
            "info never fails"
        );
        assert_eq!(diagnose_file("pv-node-missing.json", &[]).0, 1);
        assert_eq!(
            diagnose_file("pvc-terminating-in-use.yaml", &[]).0,
            0,
            "warnings pass without --strict"
        );
        assert_eq!(
            diagnose_file("pvc-terminating-in-use.yaml", &["--strict"]).0,
            1
        );
        assert_eq!(
            diagnose_file("pv-node-missing.json", &["--pvc", "models"]).0,
            1
        );
        let (code, _, stderr) = diagnose_file("pv-node-missing.json", &["--pvc", "other"]);
        assert_eq!(code, 2);
        assert!(
            stderr.contains("no PersistentVolumeClaim \"other\" in namespace mlops-lab"),
            "{stderr}"
        );
        assert_eq!(diagnose_file("pv-node-missing.json", &["-n", "other"]).0, 0);
        assert_eq!(
            diagnose_file("pv-node-missing.json", &["-n", "other", "-A"]).0,
            1
        );
    }

    #[test]
    fn every_diagnosis_and_the_pods_diagnosis_share_flags_exit_codes_and_shape() {
        let run = |args: &[&str], name: &str| {
            let path = fixture(name);
            let mut all = args.to_vec();
            all.extend(["--snapshot", path.to_str().unwrap()]);
            labctl(&all)
        };
        assert_eq!(run(&["diagnose"], "healthy.json").0, 0);
        assert_eq!(run(&["diagnose", "pods"], "healthy.json").0, 0);
        assert_eq!(run(&["diagnose"], "pv-node-missing.json").0, 1);
        assert_eq!(
            run(&["diagnose", "-n", "other"], "pv-node-missing.json").0,
            0
        );
        assert_eq!(
            run(&["diagnose", "-A", "-n", "other"], "pv-node-missing.json").0,
            1
        );
        assert_eq!(run(&["diagnose", "-A", "pvc"], "pv-node-missing.json").0, 1);
        assert_eq!(
            run(&["diagnose", "--strict"], "pvc-terminating-in-use.yaml").0,
            1
        );
        let (code, out, _) = run(&["diagnose", "-o", "json"], "insufficient-resources.json");
        assert_eq!(code, 1);
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(doc["schema"], 1);
        // The claim and the pod show one root cause: one finding.
        assert_eq!(doc["findings"].as_array().unwrap().len(), 1, "{out}");
        assert_eq!(doc["findings"][0]["id"], "insufficient-resources");
        assert_eq!(doc["summary"]["error"], 1);
        let (code, out, _) = run(
            &["diagnose", "pods", "-o", "short"],
            "insufficient-resources.json",
        );
        assert_eq!(code, 1);
        assert!(
            out.starts_with("ERROR insufficient-resources Node lab-node-1: "),
            "{out}"
        );
        let (_, out, _) = run(&["diagnose"], "healthy.json");
        assert!(out.contains("Diagnosis: no problem found"), "{out}");
        let (code, _, err) = run(&["diagnose", "--snapshot"], "healthy.json");
        assert_eq!(code, 2, "{err}");
    }

    #[test]
    fn malformed_snapshot_is_exit_2_with_file_and_position() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("broken.json");
        std::fs::write(&bad, "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n  {\"apiVersion\": \"v1\", \"kind\": \"Pod\",\n").unwrap();
        let (code, stdout, stderr) =
            labctl(&["diagnose", "pvc", "--snapshot", bad.to_str().unwrap()]);
        assert_eq!(code, 2);
        assert!(stdout.is_empty());
        assert!(stderr.starts_with("labctl: invalid snapshot "), "{stderr}");
        assert!(stderr.contains("broken.json:3:"), "{stderr}");

        let wrong_type = dir.path().join("wrong.yaml");
        std::fs::write(&wrong_type, "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: models\nspec:\n  accessModes: ReadWriteOnce\n").unwrap();
        let (code, _, stderr) = labctl(&[
            "diagnose",
            "pvc",
            "--snapshot",
            wrong_type.to_str().unwrap(),
        ]);
        assert_eq!(code, 2);
        assert!(
            stderr.contains("wrong.yaml") && stderr.contains("PersistentVolumeClaim \"models\""),
            "{stderr}"
        );

        let (code, _, stderr) =
            labctl(&["diagnose", "pvc", "--snapshot", "/nonexistent/snap.json"]);
        assert_eq!(code, 2);
        assert!(
            stderr.contains("cannot read snapshot /nonexistent/snap.json"),
            "{stderr}"
        );
    }

    #[test]
    fn table_output() {
        let (code, stdout, _) = diagnose_file("pv-node-affinity-conflict.json", &[]);
        assert_eq!(code, 1);
        insta::assert_snapshot!("table_pv_node_affinity_conflict", stdout);
        let (_, stdout, _) = diagnose_file("waiting-cronjob-not-run.yaml", &[]);
        insta::assert_snapshot!("table_waiting_for_consumer", stdout);
        let (_, stdout, _) = diagnose_file("healthy.json", &[]);
        insta::assert_snapshot!("table_healthy", stdout);
    }

    #[test]
    fn json_output() {
        let (code, stdout, _) = diagnose_file("pv-node-notready.json", &["-o", "json"]);
        assert_eq!(code, 1);
        let v: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
        assert_eq!(v["schema"], 1);
        insta::assert_snapshot!("json_pv_node_unavailable", stdout);
        let (_, stdout, _) = diagnose_file("healthy.json", &["-o", "json"]);
        insta::assert_snapshot!("json_healthy", stdout);
    }

    #[test]
    fn short_output() {
        let (_, stdout, _) = diagnose_file("pv-released-not-rebound.json", &["-o", "short"]);
        insta::assert_snapshot!("short_pv_released", stdout);
    }
}

/// Never silent: every fixture of a broken cluster, generated or recorded from the real lab,
/// gets at least one error or warning from `labctl diagnose`; only the healthy clusters and the
/// near misses (something on its way up, a condition tolerated) say nothing is wrong.
mod never_silent {
    use super::*;

    /// The fixtures that show no failure: healthy clusters and near misses. The claims waiting
    /// for a first consumer say so as info, which is no failure.
    const QUIET: &[&str] = &[
        "generated/healthy.json",
        "generated/partial-healthy.yaml",
        "generated/default-storageclass.yaml",
        "generated/pinned-by-affinity.yaml",
        "generated/rwo-shared-one-node.yaml",
        "generated/rwop-single-consumer.json",
        "generated/pin-node-taint-tolerated.json",
        "generated/pv-node-taint-tolerated.json",
        "generated/provisioning-in-progress.json",
        "generated/pvc-terminating-unused.json",
        "generated/pv-released-orphan.yaml",
        "generated/sync-wave-same.json",
        "generated/sync-wave-bound.yaml",
        "generated/sync-wave-hook-first-consumer.yaml",
        "generated/completed-hook-elsewhere.yaml",
        "generated/waiting-cronjob-not-run.yaml",
        "generated/image-pulling.yaml",
        "generated/image-arm64-running.yaml",
        "generated/readiness-starting.yaml",
        "generated/config-container-creating.yaml",
        "generated/volume-mount-recovered.yaml",
        "generated/scheduling-gated-young.yaml",
        "generated/rollout-progressing.yaml",
        "generated/container-restarted-once.yaml",
        "generated/container-killed-not-oom.yaml",
        "generated/insufficient-resources-other-namespace.yaml",
        "generated/trainer-job-failed-then-succeeded.yaml",
        "generated/node-pressure-recovered.yaml",
        "generated/host-routed.yaml",
        "lab/healthy.json",
        // The fault is outside the cluster's objects: the Pi-hole record (verify's DNS check).
        "lab/pihole-missing-record.json",
    ];

    #[test]
    fn no_fixture_of_a_broken_cluster_is_silent_and_no_near_miss_speaks() {
        let mut failures = Vec::new();
        let mut judged = 0;
        for group in ["generated", "lab"] {
            let mut names: Vec<String> = std::fs::read_dir(fixtures_dir().join(group))
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".json") || n.ends_with(".yaml"))
                .collect();
            names.sort();
            for name in names {
                let file = format!("{group}/{name}");
                let snapshot = labctl::snapshot::load_path(&fixtures_dir().join(&file)).unwrap();
                let d = labctl::diagnose::diagnose_target(
                    &snapshot,
                    &LabConfig::default(),
                    &Scope::namespace("mlops-lab"),
                    labctl::diagnose::Target::All,
                );
                let speaks = d.summary.error + d.summary.warning > 0;
                let quiet = QUIET.contains(&file.as_str());
                judged += 1;
                if speaks == quiet {
                    let ids: Vec<&str> = d.findings.iter().map(|f| f.id.as_str()).collect();
                    failures.push(format!(
                        "{file}: {} {ids:?}",
                        if quiet {
                            "a near miss speaks"
                        } else {
                            "silent on a broken cluster"
                        }
                    ));
                }
            }
        }
        assert!(judged > 80, "only {judged} fixtures");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

/// Live loading against the fake API server (`support::fake_api`) serving a fixture's objects:
/// the snapshot read live, written by `labctl snapshot`, and read back from the file must
/// diagnose the same.
mod live {
    use super::*;
    use std::time::Duration;

    use crate::support::fake_api::{Scenario, cluster, items_of, testcontext};

    /// A scenario answering list and get calls from the objects of the fixture, as a
    /// cluster holding exactly those objects would.
    fn serving(fixture_name: &str) -> Scenario {
        Scenario::new(cluster(items_of(&fixture(fixture_name))))
    }

    #[tokio::test]
    async fn live_snapshot_file_and_fixture_agree() {
        let name = "pv-node-affinity-conflict.json";
        let (client, server) = testcontext();
        let verifier = server.run(serving(name).expect_all([
            // The capture time, by the API server's clock.
            "GET /version",
            "GET /api/v1/namespaces/mlops-lab/persistentvolumeclaims?",
            "GET /api/v1/persistentvolumes?",
            "GET /apis/storage.k8s.io/v1/storageclasses?",
            "GET /api/v1/nodes?",
            "GET /api/v1/namespaces/mlops-lab/pods?",
            "GET /api/v1/namespaces/mlops-lab/events?",
            "GET /apis/events.k8s.io/v1/namespaces/mlops-lab/events?",
            "GET /apis/apps/v1/namespaces/kube-system/deployments/local-path-provisioner",
            "GET /apis/argoproj.io/v1alpha1/namespaces/argocd/applications?",
            "GET /apis/networking.k8s.io/v1/namespaces/mlops-lab/ingresses?",
            "GET /apis/gateway.networking.k8s.io/v1/namespaces/mlops-lab/httproutes?",
        ]));
        let config = LabConfig::default();
        let namespaces = labctl::snapshot::live::Namespaces::One("mlops-lab".into());
        let live = tokio::time::timeout(
            Duration::from_secs(10),
            labctl::snapshot::live::load(&client, &namespaces, &config),
        )
        .await
        .expect("no hang")
        .expect("live load");
        let scope = Scope::namespace("mlops-lab");
        let from_file = run_fixture(name);
        assert_eq!(diagnose(&live, &config, &scope), from_file);

        drop(client);
        verifier.verified().await;

        // `labctl snapshot -f FILE` writes what live mode read; diagnosing the file agrees.
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("snap.json");
        let (client, server) = testcontext();
        let verifier = server.run(serving(name));
        let ctx = labctl::context::Context::new(config.clone()).with_client(client);
        let args = labctl::cli::snapshot::SnapshotArgs {
            output_file: Some(out.clone()),
            all_namespaces: false,
        };
        let code = labctl::commands::snapshot::run(&ctx, &args)
            .await
            .expect("snapshot");
        assert_eq!(code, 0);
        drop(ctx);
        verifier.verified().await;
        let written = labctl::snapshot::load_path(&out).unwrap();
        assert_eq!(written.len(), live.len());
        // It says what it read whole: none of a kind then means none in the cluster.
        assert_eq!(written.read, live.read);
        let read = written
            .read
            .as_ref()
            .expect("labctl's snapshot says what it read");
        assert!(read.contains("networking.k8s.io/v1/ingresses"));
        assert_eq!(diagnose(&written, &config, &scope), from_file);
        // It says when it was taken, by the API server's clock (the `Date` it answered with).
        let captured = written
            .captured
            .expect("labctl's snapshot says when it was taken");
        assert_eq!(captured.clock, labctl::snapshot::Clock::ApiServer);
        assert_eq!(captured.at.to_string(), "2026-11-30T04:00:00Z");
        assert_eq!(live.captured, written.captured);
    }
}

/// The engine never panics, whatever part of a cluster a snapshot holds: fixtures with random
/// objects dropped and random `spec`/`status`/`metadata` fields removed.
mod robustness {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn fixture_items(name: &str) -> Vec<Value> {
        let text = std::fs::read_to_string(fixture(name)).unwrap();
        if name.ends_with(".json") {
            let v: Value = serde_json::from_str(&text).unwrap();
            v["items"].as_array().unwrap().clone()
        } else {
            serde_yaml_ng::Deserializer::from_str(&text)
                .map(|d| <Value as serde::Deserialize>::deserialize(d).unwrap())
                .filter(|v| !v.is_null())
                .collect()
        }
    }

    fn fixtures() -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(fixture(""))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".json") || n.ends_with(".yaml"))
            .collect();
        names.sort();
        names
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn diagnose_never_panics(which in any::<prop::sample::Index>(), keep in any::<u64>(), strip in any::<u64>(), field in 0usize..6) {
            let names = fixtures();
            let name = which.get(&names);
            let items: Vec<Value> = fixture_items(name)
                .into_iter()
                .enumerate()
                .filter(|(i, _)| keep >> (i % 64) & 1 == 1 || i % 3 == 0)
                .map(|(i, mut o)| {
                    if strip >> (i % 64) & 1 == 1 {
                        let key = ["spec", "status", "metadata", "involvedObject", "regarding", "items"][field];
                        if let Some(m) = o.as_object_mut() {
                            m.remove(key);
                        }
                    }
                    o
                })
                .collect();
            let text = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string();
            // Some removals make an object invalid (a required field): a clear error, fine.
            if let Ok(snap) = labctl::snapshot::parse_str(&text, Path::new("mutated.json")) {
                for scope in [Scope::namespace("mlops-lab"), Scope::all_namespaces()] {
                    let d = diagnose(&snap, &LabConfig::default(), &scope);
                    prop_assert_eq!(d.findings.len(), d.summary.error + d.summary.warning + d.summary.info);
                }
            }
        }
    }
}

/// Snapshots recorded from the real local lab (testbed/: kube-apiserver, scheduler and
/// controller-manager v1.36, the real node's kubelet v1.36 with containerd 2.4 and runc 1.5,
/// the real local-path provisioner, Argo CD 3.6, Traefik 3.6) by
/// `scripts/record-lab-fixtures.sh` (the lab e2e with `LAB_RECORD=1`): each scenario yields
/// its finding and nothing else.
mod lab {
    use super::*;

    /// Scenario (testbed/src/scenarios.rs) → the one finding it must produce (`None` = healthy).
    const RECORDED: &[(&str, Option<&str>)] = &[
        ("healthy", None),
        ("volume-node-differs", Some("pv-node-affinity-conflict")),
        (
            "consumers-pinned-apart",
            Some("consumers-pinned-to-different-nodes"),
        ),
        ("pv-node-deleted", Some("pv-node-missing")),
        ("pv-node-notready", Some("pv-node-unavailable")),
        ("node-selector-typo", Some("node-selector-matches-no-node")),
        ("storageclass-missing", Some("storageclass-missing")),
        ("provisioner-stopped", Some("provisioner-not-running")),
        ("rwx-requested", Some("access-mode-unsupported")),
        ("pvc-deleted-in-use", Some("pvc-terminating-in-use")),
        ("sync-wave-deadlock", Some("sync-wave-deadlock")),
        ("cronjob-never-run", Some("pvc-consumers-idle")),
        // Networking and DNS failures are verify's business: no storage finding may appear.
        ("service-selector-typo", None),
        ("ingress-other-host", None),
        ("pihole-missing-record", None),
    ];

    /// Failures of the real node (kubelet, containerd, runc) → the one finding `labctl
    /// diagnose` (the whole pipeline) must produce.
    const RECORDED_PIPELINE: &[(&str, &str)] = &[
        ("image-tag-missing", "image-pull-failed"),
        ("image-arm64-only", "image-platform-mismatch"),
        ("registry-wrong-credentials", "image-pull-failed"),
        ("registry-ca-untrusted", "image-pull-failed"),
        ("registry-plain-http", "image-pull-failed"),
        ("registry-stopped", "image-pull-failed"),
        ("trainer-bad-data", "trainer-job-failed"),
        ("inference-oom", "container-oom-killed"),
        ("inference-command-typo", "container-start-failed"),
        ("no-model-published", "readiness-failing"),
    ];

    /// The fuzzer's minimal reproducers (`LAB_RECORD=1 cargo lab fuzz`): each recording
    /// `lab/<name>.json` and its expectation in `lab-fuzz.json` (the seed, the faults, the ids
    /// labctl must report). Every finding id it names is among the findings (at any severity:
    /// docs/accuracy.md says which are reported below error, and why); check ids are verify's.
    #[test]
    fn every_fuzz_reproducer_reports_the_findings_of_its_faults() {
        let path = fixtures_dir().join("lab-fuzz.json");
        let text = std::fs::read_to_string(&path).expect("lab-fuzz.json");
        let all: std::collections::BTreeMap<String, serde_json::Value> =
            serde_json::from_str(&text).expect("lab-fuzz.json is a map of expectations");
        assert!(!all.is_empty(), "lab-fuzz.json names no reproducer");
        let mut failures = Vec::new();
        for (name, expectation) in &all {
            let file = format!("lab/{name}.json");
            let snapshot = labctl::snapshot::load_path(&fixtures_dir().join(&file))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            let d = labctl::diagnose::diagnose_target(
                &snapshot,
                &LabConfig::default(),
                &Scope::namespace("mlops-lab"),
                labctl::diagnose::Target::All,
            );
            let got: Vec<&str> = d.findings.iter().map(|f| f.id.as_str()).collect();
            let ids = expectation["expect"]
                .as_array()
                .expect("expect: a list of ids");
            for id in ids.iter().filter_map(|i| i.as_str()) {
                let finding = CATALOGUE.iter().any(|e| e.id == id);
                if finding && !got.contains(&id) {
                    failures.push(format!("{file}: expected {id}, got {got:?}"));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn every_recorded_pipeline_failure_yields_exactly_its_finding() {
        let mut failures = Vec::new();
        for (name, want) in RECORDED_PIPELINE {
            let file = format!("lab/{name}.json");
            let path = fixtures_dir().join(&file);
            let Ok(snapshot) = labctl::snapshot::load_path(&path) else {
                failures.push(format!(
                    "{file}: not recorded (scripts/record-lab-fixtures.sh {name})"
                ));
                continue;
            };
            let d = labctl::diagnose::diagnose_target(
                &snapshot,
                &LabConfig::default(),
                &Scope::namespace("mlops-lab"),
                labctl::diagnose::Target::All,
            );
            let got: Vec<&str> = d.findings.iter().map(|f| f.id.as_str()).collect();
            if got != [*want] {
                failures.push(format!("{file}: expected [{want}], got {got:?}"));
            }
        }
        // And the healthy lab, judged whole, has nothing to say.
        let healthy = labctl::snapshot::load_path(&fixtures_dir().join("lab/healthy.json"))
            .expect("lab/healthy.json");
        let d = labctl::diagnose::diagnose_target(
            &healthy,
            &LabConfig::default(),
            &Scope::namespace("mlops-lab"),
            labctl::diagnose::Target::All,
        );
        if !d.findings.is_empty() {
            let ids: Vec<&str> = d.findings.iter().map(|f| f.id.as_str()).collect();
            failures.push(format!("lab/healthy.json, whole pipeline: {ids:?}"));
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// The lab's pull failures, each containerd 2.4's own words behind the kubelet's, named
    /// for their cause: the scenario → what the finding's summary must say.
    const RECORDED_PULLS: &[(&str, &str)] = &[
        (
            "image-tag-missing",
            "mlops-lab-inference:0.0.0-missing of container inference cannot be pulled: the image or tag does not exist in the registry (not found)",
        ),
        (
            "image-arm64-only",
            "mlops-lab-inference:arm64-only has no linux/amd64 variant for node lab-node-1 (kubernetes.io/arch=amd64)",
        ),
        (
            "registry-wrong-credentials",
            "the registry refused the pull (unauthorized: private image, no or wrong imagePullSecrets)",
        ),
        (
            "registry-ca-untrusted",
            "the node does not trust the registry's certificate (x509: signed by an unknown authority)",
        ),
        (
            "registry-plain-http",
            "the registry speaks plain HTTP and the node asked it over HTTPS",
        ),
        (
            "registry-stopped",
            "the node cannot reach the registry (unreachable: DNS, network or TLS)",
        ),
    ];

    #[test]
    fn every_recorded_pull_failure_is_named_for_its_cause() {
        let mut failures = Vec::new();
        for (name, want) in RECORDED_PULLS {
            let path = fixtures_dir().join(format!("lab/{name}.json"));
            let snapshot = labctl::snapshot::load_path(&path).expect("recorded");
            let d = labctl::diagnose::diagnose_target(
                &snapshot,
                &LabConfig::default(),
                &Scope::namespace("mlops-lab"),
                labctl::diagnose::Target::All,
            );
            let summaries: Vec<&str> = d.findings.iter().map(|f| f.summary.as_str()).collect();
            if !summaries.iter().any(|s| s.contains(want)) {
                failures.push(format!("{name}: no finding says {want:?}: {summaries:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn every_recorded_scenario_yields_exactly_its_finding() {
        let mut failures = Vec::new();
        for (name, want) in RECORDED {
            let file = format!("lab/{name}.json");
            let path = fixtures_dir().join(&file);
            if !path.exists() {
                failures.push(format!(
                    "{file}: not recorded (scripts/record-lab-fixtures.sh {name})"
                ));
                continue;
            }
            let got: Vec<&str> = run_path(&path)
                .findings
                .iter()
                .map(|f| f.id.as_str())
                .collect();
            let expected: Vec<&str> = want.iter().copied().collect();
            if got != expected {
                failures.push(format!("{file}: expected {expected:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// `verify --snapshot` over every recording: the verify checks a scenario expects to fail
    /// (testbed/src/scenarios.rs) fail from its recording as they failed live, unless they
    /// need the live network (DNS, HTTP: skipped offline); the healthy recording passes every
    /// check it judges. Nothing verify asks is missing from a recording.
    #[tokio::test]
    async fn verify_judges_every_recording_as_it_judged_the_lab() {
        use labctl::checks::Status;
        use testbed::scenarios::{Expect, SCENARIOS};
        let config = LabConfig::default();
        let catalogue = labctl::checks::applicable(labctl::checks::catalogue::verify(), &config);
        let offline = |id: &str| {
            catalogue
                .iter()
                .any(|c| c.id == id && (c.gate || !c.needs_api))
        };
        let judge = |name: &str| {
            let path = fixtures_dir().join(format!("lab/{name}.json"));
            let snapshot = labctl::snapshot::load_path(&path).expect("recorded");
            let mut ctx = labctl::context::Context::new(config.clone());
            // Whatever day this runs, a recording is judged as of itself.
            ctx.clock = wall_clock_must_not_be_read;
            let ctx = ctx.judging(path, snapshot);
            let catalogue = catalogue.clone();
            async move { labctl::runner::run(&ctx, &catalogue, |_| {}).await }
        };
        let mut failures = Vec::new();
        let healthy = judge("healthy").await;
        for c in &healthy.checks {
            let fine = match c.status {
                Status::Pass => true,
                Status::Skip => offline(&c.id),
                _ => false,
            };
            if !fine {
                failures.push(format!("healthy: {} {:?}: {}", c.id, c.status, c.message));
            }
        }
        let mut judged = 0;
        for scenario in SCENARIOS {
            let expected: Vec<&str> = scenario
                .expect
                .iter()
                .filter_map(|e| match e {
                    Expect::Check("verify", id) if !offline(id) => Some(*id),
                    _ => None,
                })
                .collect();
            if expected.is_empty() {
                continue;
            }
            let report = judge(scenario.name).await;
            for id in expected {
                judged += 1;
                match report.checks.iter().find(|c| c.id == id) {
                    Some(c) if matches!(c.status, Status::Fail | Status::Warn) => {}
                    other => failures.push(format!(
                        "{}: {id} should fail, got {:?}",
                        scenario.name,
                        other.map(|c| (&c.status, &c.message))
                    )),
                }
            }
            for c in report
                .checks
                .iter()
                .filter(|c| c.message.contains("not in the snapshot"))
            {
                failures.push(format!("{}: {}: {}", scenario.name, c.id, c.message));
            }
        }
        assert!(judged >= 3, "only {judged} expectations judged");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// A recording as another cluster would name the same pipeline: the containers `main` and
    /// `server` instead of `trainer` and `inference`, the label key `app` instead of
    /// `app.kubernetes.io/name` (on objects, selectors and pod templates), everywhere they
    /// appear, the kubelet's event texts included. The names the lab description holds (the
    /// CronJob, the Deployment, the Service, the claim) stay: a user configures those.
    fn renamed(mut v: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        const CONTAINERS: [(&str, &str); 2] = [("trainer", "main"), ("inference", "server")];
        fn walk(v: &mut Value, key: &str) {
            match v {
                Value::Object(map) => {
                    let labels = matches!(key, "labels" | "matchLabels" | "selector");
                    if labels && let Some(value) = map.remove("app.kubernetes.io/name") {
                        map.insert("app".into(), value);
                    }
                    let renames_name = matches!(
                        key,
                        "containers"
                            | "initContainers"
                            | "containerStatuses"
                            | "initContainerStatuses"
                    );
                    for (k, child) in map.iter_mut() {
                        if renames_name
                            && k == "name"
                            && let Value::String(name) = child
                            && let Some((_, to)) = CONTAINERS.iter().find(|(from, _)| name == from)
                        {
                            *name = (*to).to_owned();
                        }
                        if matches!(k.as_str(), "message" | "note" | "fieldPath")
                            && let Value::String(text) = child
                        {
                            for (from, to) in CONTAINERS {
                                *text = text
                                    .replace(
                                        &format!("container {from} "),
                                        &format!("container {to} "),
                                    )
                                    .replace(
                                        &format!("container \"{from}\""),
                                        &format!("container \"{to}\""),
                                    )
                                    .replace(&format!("{{{from}}}"), &format!("{{{to}}}"));
                            }
                        }
                        walk(child, k);
                    }
                }
                // Items of a list keep the list's key (`containers` → each container).
                Value::Array(items) => items.iter_mut().for_each(|i| walk(i, key)),
                _ => {}
            }
        }
        walk(&mut v, "");
        v
    }

    /// The pipeline is known by the lab description and ownership, not by this project's
    /// container names or label keys: every recording renamed gives the same findings.
    #[test]
    fn every_recording_renamed_gives_the_same_findings() {
        let mut failures = Vec::new();
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(fixtures_dir().join("lab")).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let other = renamed(serde_json::from_str(&text).unwrap());
            assert_ne!(
                other,
                serde_json::from_str::<serde_json::Value>(&text).unwrap(),
                "renaming changed nothing in {}",
                path.display()
            );
            let copy = dir.path().join(path.file_name().unwrap());
            std::fs::write(&copy, other.to_string()).unwrap();
            let judge = |p: &Path| {
                let snapshot = labctl::snapshot::load_path(p).unwrap();
                let d = labctl::diagnose::diagnose_target(
                    &snapshot,
                    &LabConfig::default(),
                    &Scope::namespace("mlops-lab"),
                    labctl::diagnose::Target::All,
                );
                d.findings
                    .iter()
                    .map(|f| (f.id, f.subject.to_string()))
                    .collect::<Vec<_>>()
            };
            let (ours, theirs) = (judge(&path), judge(&copy));
            if ours != theirs {
                failures.push(format!(
                    "{}: {ours:?}\n  renamed: {theirs:?}",
                    path.file_name().unwrap().to_string_lossy()
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// The wall clock of a test that judges recordings: reading it fails the test, so a
    /// recording's verdicts cannot depend on the day the test runs.
    fn wall_clock_must_not_be_read() -> k8s_openapi::jiff::Timestamp {
        panic!("judging a recording read the wall clock: \"now\" is the recording's")
    }

    /// Every recording is judged as of its own instant (the API server's time `labctl
    /// snapshot` captured, or, in a file of a labctl that wrote none, the newest time in it),
    /// whatever the wall clock says.
    #[test]
    fn every_recording_is_judged_as_of_its_own_time() {
        use labctl::snapshot::as_of::{Clock, Source};
        for name in std::fs::read_dir(fixtures_dir().join("lab")).unwrap() {
            let path = name.unwrap().path();
            let snapshot = labctl::snapshot::load_path(&path).expect("recorded");
            let as_of = snapshot.as_of().expect("a recording holds times");
            assert!(
                matches!(
                    as_of.source,
                    Source::Captured(Clock::ApiServer) | Source::NewestInFile
                ),
                "{}: {:?}",
                path.display(),
                as_of.source
            );
            assert!(as_of.time().starts_with("2026-"), "{}", as_of.time());
        }
    }

    /// The training checks of `verify --snapshot` over the healthy recording with one change.
    async fn training_checks(
        change: impl FnOnce(&mut labctl::snapshot::ClusterSnapshot),
    ) -> Vec<(String, Status, String)> {
        let config = LabConfig::default();
        let path = fixtures_dir().join("lab/healthy.json");
        let mut snapshot = labctl::snapshot::load_path(&path).expect("recorded");
        change(&mut snapshot);
        let mut ctx = labctl::context::Context::new(config);
        ctx.clock = wall_clock_must_not_be_read;
        let ctx = ctx.judging(path, snapshot);
        let ids = [
            "trainer-cronjob-active".to_owned(),
            "trainer-last-job-succeeded".to_owned(),
        ];
        let checks = labctl::checks::select(&labctl::checks::catalogue::verify(), &ids).unwrap();
        // The gates come along (skipped offline); the two training checks, in that order.
        labctl::runner::run(&ctx, &checks, |_| {})
            .await
            .checks
            .into_iter()
            .filter(|c| ids.contains(&c.id))
            .map(|c| (c.id, c.status, c.message))
            .collect()
    }

    use labctl::checks::Status;

    /// Judging offline does not turn the time-relative checks off: a snapshot of a CronJob
    /// that missed two schedules, or is suspended, fails as of the day it was taken.
    #[tokio::test]
    async fn a_recorded_cronjob_that_missed_its_schedule_or_is_suspended_still_fails() {
        let healthy = training_checks(|_| {}).await;
        assert!(
            healthy.iter().all(|(_, s, _)| *s == Status::Pass),
            "{healthy:?}"
        );

        // The last success three days before the capture, with a daily schedule.
        let stale = training_checks(|s| {
            let now = s.as_of().unwrap().at;
            let three_days = k8s_openapi::jiff::SignedDuration::from_hours(72);
            let cj = s
                .cron_jobs
                .iter_mut()
                .find(|c| c.metadata.name.as_deref() == Some("trainer"));
            let status = cj.unwrap().status.as_mut().unwrap();
            status.last_successful_time =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    now.checked_sub(three_days).unwrap(),
                ));
        })
        .await;
        let (_, status, message) = &stale[1];
        assert_eq!(*status, Status::Fail, "{stale:?}");
        assert!(
            message.contains("the last successful training was 3days ago"),
            "{message}"
        );

        // The same file a week later: the capture time moved, the verdict with it.
        let week_later = training_checks(|s| {
            let at = s.as_of().unwrap().at;
            s.captured = Some(labctl::snapshot::Captured {
                at: at
                    .checked_add(k8s_openapi::jiff::SignedDuration::from_hours(7 * 24))
                    .unwrap(),
                clock: labctl::snapshot::Clock::ApiServer,
            });
        })
        .await;
        assert_eq!(week_later[1].1, Status::Fail, "{week_later:?}");

        let suspended = training_checks(|s| {
            let cj = s
                .cron_jobs
                .iter_mut()
                .find(|c| c.metadata.name.as_deref() == Some("trainer"));
            cj.unwrap().spec.as_mut().unwrap().suspend = Some(true);
        })
        .await;
        assert_eq!(suspended[0].1, Status::Fail, "{suspended:?}");
    }

    /// Recorded from real Argo CD (selfHeal): the objects carry its tracking annotation, so
    /// fixes name the change in Git first; kubectl would be reverted within seconds.
    #[test]
    fn fixes_of_objects_argo_cd_manages_name_the_git_change_first() {
        let pin = run_path(&fixtures_dir().join("lab/volume-node-differs.json"));
        let fix = &pin.findings[0].remediation;
        assert!(
            fix.contains("Argo CD's Application mlops-lab (selfHeal) manages"),
            "{fix}"
        );
        assert!(
            fix.contains("In Git: set the pod templates' nodeSelector"),
            "{fix}"
        );
        assert!(!fix.contains("kubectl -n mlops-lab patch"), "{fix}");
        let rwx = run_path(&fixtures_dir().join("lab/rwx-requested.json"));
        let fix = &rwx.findings[0].remediation;
        assert!(fix.contains("re-creates it from Git"), "{fix}");
        assert!(!fix.contains("kubectl apply -k"), "{fix}");
        let wave = run_path(&fixtures_dir().join("lab/sync-wave-deadlock.json"));
        let f = &wave.findings[0];
        assert!(
            f.evidence.iter().any(|e| e.ends_with(
                "operation Running: waiting for healthy state of /PersistentVolumeClaim/models"
            )),
            "{:?}",
            f.evidence
        );
        assert!(f.remediation.contains("in Git"), "{}", f.remediation);
        // Without Argo CD (a generated fixture: no Application, no tracking annotation), the
        // same finding's fix is the kubectl command.
        let plain = run_fixture("pv-node-affinity-conflict.json");
        assert!(
            plain.findings[0]
                .remediation
                .contains("kubectl -n mlops-lab patch"),
            "{}",
            plain.findings[0].remediation
        );
    }
}
