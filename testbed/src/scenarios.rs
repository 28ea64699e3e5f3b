//! Failure scenarios: each breaks the healthy lab in one way (the storage failure modes of
//! `runbooks/failure-modes.md`, the verify checks) and can be undone. Scenarios are data: a
//! name, what it does, what labctl must report, and two functions.
//!
//! Argo CD syncs the lab with selfHeal, so a change to an object it manages is made the way a
//! user makes it: a commit to the lab's Git (a kustomize patch in the lab overlay, see
//! [`commit_patches`]). Everything else (nodes, the StorageClass, the provisioner, Pi-hole) is
//! changed directly. Undo restores Git and lets Argo CD sync it back.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::lab::Lab;
use crate::poll::Look;
use crate::registry;
use crate::topology::{KWOK_NODE, NAMESPACE, PIN_NODE};

/// What labctl must report while a scenario is applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expect {
    /// `labctl diagnose pvc -o json` lists this finding id.
    Finding(&'static str),
    /// `labctl diagnose pvc -o json` lists this finding id with an evidence line containing
    /// the text (what a real component wrote, such as Argo CD's operation message).
    Evidence(&'static str, &'static str),
    /// `labctl diagnose -o json` (the whole pipeline) lists this finding id.
    Pipeline(&'static str),
    /// `labctl diagnose -o json` lists this finding id with an evidence line containing the
    /// text (what the kubelet, containerd or the trainer wrote).
    PipelineEvidence(&'static str, &'static str),
    /// `labctl <command> -o json` reports this check id as failed (or warned).
    Check(&'static str, &'static str),
    /// [`Expect::Check`] whose message or an evidence line contains the text.
    CheckSays(&'static str, &'static str, &'static str),
    /// `labctl verify --wait` gives up before its limit, naming this id: waiting cannot heal.
    WaitGivesUp(&'static str),
}

impl Expect {
    /// Whether labctl reports this now: `Ok`, or what labctl reports instead.
    pub fn shown(self, lab: &Lab) -> Result<(), String> {
        let fail = |e: anyhow::Error| format!("{e:#}");
        match self {
            Expect::Pipeline(id) => finding(lab, &["diagnose"], id, None),
            Expect::PipelineEvidence(id, text) => finding(lab, &["diagnose"], id, Some(text)),
            Expect::Finding(id) => finding(lab, &["diagnose", "pvc"], id, None),
            Expect::Evidence(id, text) => finding(lab, &["diagnose", "pvc"], id, Some(text)),
            // Giving up because waiting cannot help is its own verdict ("gave up after Ns,
            // waiting cannot help: …"), distinct from reaching the limit ("gave up after
            // 2m 30s: …"): the words say which, so the test reads them instead of timing it.
            // The limit only bounds the wait.
            Expect::WaitGivesUp(id) => {
                let (code, _, stderr) = lab
                    .labctl(&["verify", "--wait=150s", "-o", "json"])
                    .map_err(fail)?;
                if code == 1 && stderr.contains("waiting cannot help") && stderr.contains(id) {
                    Ok(())
                } else {
                    Err(format!("verify --wait exited {code}: {stderr}"))
                }
            }
            Expect::CheckSays(command, id, text) => {
                let (_, r) = lab.labctl_json(&[command]).map_err(fail)?;
                let check = r["checks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| c["id"] == id && (c["status"] == "fail" || c["status"] == "warn"))
                    .ok_or_else(|| format!("{command}: {id} did not fail: {:?}", not_passed(&r)))?;
                let said = std::iter::once(&check["message"])
                    .chain(check["evidence"].as_array().into_iter().flatten())
                    .any(|line| line.as_str().is_some_and(|l| l.contains(text)));
                if said {
                    Ok(())
                } else {
                    Err(format!("{command}: {id} does not say {text:?}: {check}"))
                }
            }
            Expect::Check(command, id) => {
                let (_, r) = lab.labctl_json(&[command]).map_err(fail)?;
                let bad = not_passed(&r);
                if bad
                    .iter()
                    .any(|(i, s, _)| i == id && (s == "fail" || s == "warn"))
                {
                    Ok(())
                } else {
                    Err(format!("{command}: {id} did not fail; not passed: {bad:?}"))
                }
            }
        }
    }
}

/// Waits (every 2 s) until labctl reports each of `expects`, all of them within `within`;
/// returns those that did not show, each with what labctl reported instead.
pub fn wait_shown<'a>(
    lab: &Lab,
    expects: impl IntoIterator<Item = &'a Expect>,
    within: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut not_shown = Vec::new();
    for expect in expects {
        let mut why = String::new();
        let left = deadline.saturating_duration_since(Instant::now());
        let what = format!("{expect:?}");
        let shown = crate::poll::until(&what, left, Duration::from_secs(2), || {
            Ok(match expect.shown(lab) {
                Ok(()) => Look::Ready(()),
                Err(e) => {
                    why = e;
                    Look::NotYet(None)
                }
            })
        });
        if shown.is_err() {
            not_shown.push(format!("{expect:?}: {why}"));
        }
    }
    not_shown
}

/// `labctl ARGS -o json` lists the finding `id` (with an evidence line containing `text`).
fn finding(lab: &Lab, args: &[&str], id: &str, text: Option<&str>) -> Result<(), String> {
    let (_, d) = lab.labctl_json(args).map_err(|e| format!("{e:#}"))?;
    let findings = d["findings"].as_array().cloned().unwrap_or_default();
    let Some(f) = findings.iter().find(|f| f["id"] == id) else {
        let ids: Vec<&str> = findings.iter().filter_map(|f| f["id"].as_str()).collect();
        return Err(format!("labctl {args:?} reports {ids:?}, not {id}"));
    };
    let Some(text) = text else { return Ok(()) };
    let evidence = f["evidence"].as_array().cloned().unwrap_or_default();
    if evidence
        .iter()
        .any(|e| e.as_str().is_some_and(|e| e.contains(text)))
    {
        Ok(())
    } else {
        Err(format!(
            "{id}: no evidence line with {text:?}: {evidence:?}"
        ))
    }
}

/// Ids of the checks of a `preflight`/`verify` JSON report that did not pass, with their
/// status and message.
pub fn not_passed(report: &serde_json::Value) -> Vec<(String, String, String)> {
    report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["status"] != "pass")
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            (s("id"), s("status"), s("message"))
        })
        .collect()
}

/// One way to break the lab.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    pub description: &'static str,
    pub expect: &'static [Expect],
    pub apply: fn(&mut Lab) -> Result<()>,
    pub undo: fn(&mut Lab) -> Result<()>,
}

const OTHER_NODE: &str = KWOK_NODE;

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "volume-node-differs",
        description: "a commit pins trainer and inference to lab-node-2 while the model volume stays on lab-node-1",
        expect: &[
            Expect::Finding("pv-node-affinity-conflict"),
            Expect::WaitGivesUp("pv-node-affinity-conflict"),
        ],
        apply: |lab| {
            commit_pins(
                lab,
                "Pin the pipeline to lab-node-2",
                &[("CronJob", OTHER_NODE), ("Deployment", OTHER_NODE)],
            )
        },
        undo: |lab| lab.reset(false),
    },
    Scenario {
        name: "consumers-pinned-apart",
        description: "a commit pins the trainer CronJob to lab-node-2, inference stays on lab-node-1",
        expect: &[Expect::Finding("consumers-pinned-to-different-nodes")],
        apply: |lab| {
            commit_pins(
                lab,
                "Pin the trainer to lab-node-2",
                &[("CronJob", OTHER_NODE)],
            )
        },
        undo: |lab| lab.reset(false),
    },
    Scenario {
        name: "pv-node-deleted",
        description: "the node holding the volume is removed (kubelet stopped, Node deleted; its pods go with it)",
        expect: &[Expect::Finding("pv-node-missing")],
        apply: |lab| {
            // A node taken out of the cluster: its kubelet stops, then `kubectl delete node`.
            lab.stop_kubelet();
            lab.kubectl(&["delete", "node", PIN_NODE, "--wait=true"])?;
            // The pod GC removes pods of a deleted node; the Deployment recreates them.
            restart_inference(lab)
        },
        undo: |lab| {
            // A kubelet that starts registers its Node again.
            lab.start_kubelet()?;
            wait_node_ready(lab, PIN_NODE)?;
            lab.reset(false)
        },
    },
    Scenario {
        name: "pv-node-notready",
        description: "the volume's node is cordoned and its kubelet stops: the node turns NotReady",
        expect: &[Expect::Finding("pv-node-unavailable")],
        apply: |lab| {
            lab.kubectl(&["cordon", PIN_NODE])?;
            lab.stop_kubelet();
            lab.wait_for(
                "the node to turn NotReady",
                Duration::from_secs(90),
                |lab| node_ready(lab, PIN_NODE).map(|r| r == "False" || r == "Unknown"),
            )?;
            // What the taint manager does after tolerationSeconds (300 s), done now.
            restart_inference(lab)
        },
        undo: |lab| {
            lab.start_kubelet()?;
            lab.kubectl(&["uncordon", PIN_NODE])?;
            wait_node_ready(lab, PIN_NODE)?;
            lab.reset(false)
        },
    },
    Scenario {
        name: "node-selector-typo",
        description: "a commit pins inference to lab-node-l (a typo)",
        expect: &[Expect::Finding("node-selector-matches-no-node")],
        apply: |lab| {
            commit_pins(
                lab,
                "Pin inference to lab-node-l",
                &[("Deployment", "lab-node-l")],
            )
        },
        undo: |lab| lab.reset(false),
    },
    Scenario {
        name: "storageclass-missing",
        description: "the local-path StorageClass is gone at a first install",
        // The Pending claim keeps the Application Progressing.
        expect: &[
            Expect::Finding("storageclass-missing"),
            Expect::Check("verify", "argocd-app-healthy"),
        ],
        apply: |lab| {
            lab.kubectl(&["delete", "storageclass", "local-path"])?;
            first_install(lab)
        },
        undo: |lab| {
            lab.reinstall_local_path()?;
            lab.reset(true)
        },
    },
    Scenario {
        name: "provisioner-stopped",
        description: "the local-path provisioner is down at a first install",
        expect: &[Expect::Finding("provisioner-not-running")],
        apply: |lab| {
            lab.stop_provisioner()?;
            first_install(lab)
        },
        undo: |lab| {
            lab.start_provisioner()?;
            lab.reset(true)
        },
    },
    Scenario {
        name: "rwx-requested",
        description: "a commit asks for ReadWriteMany, which local-path cannot provide, at a first install",
        expect: &[Expect::Finding("access-mode-unsupported")],
        apply: |lab| {
            edit_overlay(
                lab,
                &[json_patch(
                    "PersistentVolumeClaim",
                    r#"[{"op":"replace","path":"/spec/accessModes","value":["ReadWriteMany"]}]"#,
                )],
            )?;
            lab.commit("The model volume is ReadWriteMany")?;
            first_install(lab)
        },
        undo: |lab| lab.reset(true),
    },
    Scenario {
        name: "pvc-deleted-in-use",
        description: "the claim is deleted while inference still mounts it",
        expect: &[Expect::Finding("pvc-terminating-in-use")],
        apply: |lab| {
            lab.kubectl(&["-n", NAMESPACE, "delete", "pvc", "models", "--wait=false"])
                .map(drop)
        },
        undo: |lab| lab.reset(true),
    },
    Scenario {
        name: "sync-wave-deadlock",
        description: "a commit puts the claim in wave -1, before its consumers, at a first install: Argo CD waits for the claim forever",
        expect: &[
            Expect::Finding("sync-wave-deadlock"),
            // Argo CD's own word, from its operation state.
            Expect::Evidence(
                "sync-wave-deadlock",
                "waiting for healthy state of /PersistentVolumeClaim/models",
            ),
        ],
        apply: |lab| {
            edit_overlay(
                lab,
                &[json_patch(
                    "PersistentVolumeClaim",
                    r#"[{"op":"add","path":"/metadata/annotations/argocd.argoproj.io~1sync-wave","value":"-1"}]"#,
                )],
            )?;
            lab.commit("The model volume first (sync wave -1)")?;
            first_install(lab)
        },
        undo: |lab| lab.reset(true),
    },
    Scenario {
        name: "cronjob-never-run",
        description: "a first install whose only consumer of the claim is a suspended CronJob (no first-model hook, no inference)",
        expect: &[Expect::Finding("pvc-consumers-idle")],
        apply: |lab| {
            edit_overlay(
                lab,
                &[
                    delete_patch("batch/v1", "Job", "trainer-first-model"),
                    delete_patch("apps/v1", "Deployment", "inference"),
                    // In the claim's wave: Argo CD applies both, then waits for the claim.
                    json_patch(
                        "CronJob",
                        r#"[{"op":"add","path":"/spec/suspend","value":true},{"op":"replace","path":"/metadata/annotations/argocd.argoproj.io~1sync-wave","value":"0"}]"#,
                    ),
                ],
            )?;
            lab.commit("Only the suspended trainer CronJob uses the model volume")?;
            first_install(lab)
        },
        undo: |lab| lab.reset(true),
    },
    Scenario {
        name: "service-selector-typo",
        description: "a commit makes the Service select app.kubernetes.io/name=inferense: no endpoints, the ingress answers 503",
        expect: &[Expect::Check("verify", "endpoints-ready")],
        apply: |lab| {
            commit_patches(
                lab,
                "Service selector typo",
                &[json_patch(
                    "Service",
                    r#"[{"op":"replace","path":"/spec/selector/app.kubernetes.io~1name","value":"inferense"}]"#,
                )],
            )?;
            // The EndpointSlice controller follows the selector; Traefik follows the slices.
            lab.wait_for("EndpointSlices to follow the selector", SYNC, |lab| {
                Ok(lab.ready_endpoints("inference")? == 0)
            })
        },
        undo: |lab| lab.reset(false),
    },
    Scenario {
        name: "ingress-other-host",
        description: "a commit makes the Ingress route other.homelab instead of model.homelab: the ingress answers 404",
        expect: &[
            Expect::Check("verify", "ingress-routes-host"),
            Expect::Check("verify", "http-healthz"),
        ],
        apply: |lab| {
            // The overlay's settings hold the host (its replacements write it into the
            // Ingress): the commit a user makes.
            let settings = lab.git_file("manifests/overlays/lab/settings.yaml");
            let text = std::fs::read_to_string(&settings)?;
            anyhow::ensure!(
                text.contains("host: model.homelab"),
                "the lab overlay's settings.yaml has no `host: model.homelab`"
            );
            std::fs::write(
                &settings,
                text.replace("host: model.homelab", "host: other.homelab"),
            )?;
            lab.push("Serve other.homelab")?;
            lab.wait_for("Argo CD to apply the host", SYNC, |lab| {
                let host = lab.kubectl(&[
                    "-n",
                    NAMESPACE,
                    "get",
                    "ingress",
                    "inference",
                    "-o",
                    "jsonpath={.spec.rules[0].host}",
                ])?;
                Ok(host.trim() == "other.homelab")
            })
        },
        undo: |lab| lab.reset(false),
    },
    Scenario {
        name: "image-tag-missing",
        description: "a commit sets inference's image tag to one the lab's registry does not have: containerd's pull fails (ErrImagePull, ImagePullBackOff)",
        expect: &[Expect::PipelineEvidence("image-pull-failed", "not found")],
        apply: |lab| {
            set_image_tag(lab, "mlops-lab-inference", "0.0.0-missing")?;
            lab.push("inference:0.0.0-missing").map(drop)
        },
        undo: |lab| lab.reset(false),
    },
    Scenario {
        name: "image-arm64-only",
        description: "a commit gives inference an index that lists only linux/arm64 (an image built for a Raspberry Pi alone) on the amd64 node: containerd finds no match for its platform, and preflight's images-match-node-arch, reading the index from the registry, fails",
        expect: &[
            Expect::PipelineEvidence("image-platform-mismatch", "no match for platform"),
            // It names the node's architecture and the platforms the index offers.
            Expect::CheckSays(
                "preflight",
                "images-match-node-arch",
                "offer(s) no linux/amd64 variant for node lab-node-1",
            ),
            Expect::CheckSays(
                "preflight",
                "images-match-node-arch",
                "10.88.0.1:5443/lab/mlops-lab-inference:arm64-only: linux/arm64",
            ),
        ],
        apply: |lab| {
            set_image_tag(lab, "mlops-lab-inference", registry::ARM64_ONLY_TAG)?;
            lab.push("inference: the arm64-only index").map(drop)
        },
        undo: |lab| lab.reset(false),
    },
    Scenario {
        name: "registry-wrong-credentials",
        description: "the pull Secret holds a wrong password and inference's pod must pull again (the image gone from the node, the pod replaced): the registry answers 401 Unauthorized",
        expect: &[Expect::PipelineEvidence(
            "image-pull-failed",
            "401 Unauthorized",
        )],
        apply: |lab| {
            lab.install_pull_secret(Some("not-the-password"))?;
            pull_inference_again(lab)
        },
        undo: |lab| {
            lab.install_pull_secret(None)?;
            heal_inference(lab)
        },
    },
    Scenario {
        name: "registry-ca-untrusted",
        description: "containerd's hosts.toml for the lab's registry loses its CA (a node nobody gave the CA to) and inference's pod must pull again: x509, certificate signed by unknown authority",
        expect: &[Expect::PipelineEvidence(
            "image-pull-failed",
            "x509: certificate signed by unknown authority",
        )],
        apply: |lab| {
            lab.trust_registry(false)?;
            pull_inference_again(lab)
        },
        undo: |lab| {
            lab.trust_registry(true)?;
            heal_inference(lab)
        },
    },
    Scenario {
        name: "registry-plain-http",
        description: "the registry is restarted without TLS while containerd asks it over HTTPS, and inference's pod must pull again: server gave HTTP response to HTTPS client",
        expect: &[Expect::PipelineEvidence(
            "image-pull-failed",
            "server gave HTTP response to HTTPS client",
        )],
        apply: |lab| {
            lab.restart_registry(false)?;
            pull_inference_again(lab)
        },
        undo: |lab| {
            lab.restart_registry(true)?;
            heal_inference(lab)
        },
    },
    Scenario {
        name: "registry-stopped",
        description: "the registry is stopped and inference's pod must pull again: connection refused",
        expect: &[Expect::PipelineEvidence(
            "image-pull-failed",
            "connection refused",
        )],
        apply: |lab| {
            lab.stop_registry();
            pull_inference_again(lab)
        },
        undo: |lab| {
            lab.restart_registry(true)?;
            heal_inference(lab)
        },
    },
    Scenario {
        name: "trainer-bad-data",
        description: "a commit puts a non-numeric row into data/training.csv; the CronJob's next run fails at once (podFailurePolicy: FailJob on exit 1), the trainer's error in its termination message",
        expect: &[Expect::PipelineEvidence(
            "trainer-job-failed",
            "is not a finite number",
        )],
        apply: |lab| {
            let data = lab.git_file("manifests/base/data/training.csv");
            let mut text = std::fs::read_to_string(&data)?;
            text.push_str("4.2,not-a-number\n");
            std::fs::write(&data, text)?;
            let revision = lab.push("A bad row in the training data")?;
            lab.wait_operation(&revision, SYNC)?;
            // The CronJob's next scheduled run, now.
            run_trainer(lab, BAD_DATA_JOB)
        },
        undo: |lab| {
            lab.kubectl(&[
                "-n",
                NAMESPACE,
                "delete",
                "job",
                BAD_DATA_JOB,
                "--ignore-not-found",
            ])?;
            lab.reset(false)
        },
    },
    Scenario {
        name: "inference-oom",
        description: "a commit sets inference's memory limit to 6Mi; a burst of slow clients makes it allocate past it and the kernel OOM-kills it (OOMKilled, restarted)",
        expect: &[Expect::Pipeline("container-oom-killed")],
        apply: |lab| {
            let revision = commit_patches_at(
                lab,
                "inference: memory limit 6Mi",
                &[json_patch(
                    "Deployment",
                    &format!(
                        r#"[{{"op":"replace","path":"/spec/template/spec/containers/0/resources/limits/memory","value":"{OOM_LIMIT}"}},{{"op":"replace","path":"/spec/template/spec/containers/0/resources/requests/memory","value":"{OOM_LIMIT}"}}]"#
                    ),
                )],
            )?;
            lab.wait_operation(&revision, SYNC)?;
            lab.wait_healthy(SYNC)?;
            let ip = lab.kubectl(&[
                "-n",
                NAMESPACE,
                "get",
                "pods",
                "-l",
                "app.kubernetes.io/name=inference",
                "--field-selector=status.phase=Running",
                "-o",
                "jsonpath={.items[0].status.podIP}",
            ])?;
            slow_clients(ip.trim(), 8080, 2000)
        },
        undo: |lab| lab.reset(false),
    },
    Scenario {
        name: "inference-command-typo",
        description: "a commit gives inference the command /usr/local/bin/inferenc: runc cannot start it (StartError, RunContainerError)",
        expect: &[Expect::PipelineEvidence(
            "container-start-failed",
            "/usr/local/bin/inferenc",
        )],
        apply: |lab| {
            commit_patches(
                lab,
                "inference: command typo",
                &[json_patch(
                    "Deployment",
                    r#"[{"op":"add","path":"/spec/template/spec/containers/0/command","value":["/usr/local/bin/inferenc"]}]"#,
                )],
            )
        },
        undo: |lab| lab.reset(false),
    },
    Scenario {
        name: "no-model-published",
        description: "a first install without the first-model hook (the claim moved to wave 1 with inference): inference runs on an empty volume and never turns Ready",
        expect: &[
            Expect::Pipeline("readiness-failing"),
            Expect::PipelineEvidence("readiness-failing", "Startup probe failed"),
        ],
        apply: |lab| {
            edit_overlay(
                lab,
                &[
                    delete_patch("batch/v1", "Job", "trainer-first-model"),
                    json_patch(
                        "PersistentVolumeClaim",
                        r#"[{"op":"add","path":"/metadata/annotations/argocd.argoproj.io~1sync-wave","value":"1"}]"#,
                    ),
                ],
            )?;
            lab.commit("No first-model hook")?;
            first_install(lab)
        },
        undo: |lab| lab.reset(true),
    },
    Scenario {
        name: "pihole-missing-record",
        description: "Pi-hole has no record for model.homelab",
        expect: &[Expect::Check("verify", "dns-resolves-host")],
        apply: |lab| lab.restart_dns(false),
        undo: |lab| lab.restart_dns(true),
    },
];

/// Faults only the fuzzer injects (the lab end to end does not run them). Each is delivered
/// as a user would break a homelab: a commit Argo CD syncs, or an action on the node.
pub const FUZZ_SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "service-target-port-wrong",
        description: "a commit points the Service's targetPort at 9999, a port no container of inference has: the endpoints are ready, the ingress cannot connect",
        expect: &[Expect::CheckSays(
            "verify",
            "service-selects-pods",
            "targetPort 9999",
        )],
        apply: |lab| {
            commit_patches(
                lab,
                "Service targetPort 9999",
                &[json_patch(
                    "Service",
                    r#"[{"op":"replace","path":"/spec/ports/0/targetPort","value":9999}]"#,
                )],
            )?;
            lab.wait_for("Argo CD to apply the targetPort", SYNC, |lab| {
                let port = lab.kubectl(&[
                    "-n",
                    NAMESPACE,
                    "get",
                    "service",
                    "inference",
                    "-o",
                    "jsonpath={.spec.ports[0].targetPort}",
                ])?;
                Ok(port.trim() == "9999")
            })
        },
        undo: |lab| lab.reset(false),
    },
    Scenario {
        name: "ingress-class-wrong",
        description: "a commit gives the Ingress ingressClassName nginx, a class no controller of the lab serves: Traefik ignores it, the host is not routed",
        expect: &[Expect::CheckSays(
            "verify",
            "ingress-routes-host",
            "ingressClassName",
        )],
        apply: |lab| {
            commit_patches(
                lab,
                "Ingress class nginx",
                &[json_patch(
                    "Ingress",
                    r#"[{"op":"add","path":"/spec/ingressClassName","value":"nginx"}]"#,
                )],
            )
        },
        undo: |lab| lab.reset(false),
    },
    Scenario {
        name: "inference-cpu-too-big",
        description: "a commit makes inference request 64 CPUs, more than the pin node has: its new pod stays Pending (Insufficient cpu)",
        expect: &[Expect::Pipeline("insufficient-resources")],
        apply: |lab| {
            commit_patches(
                lab,
                "inference: request 64 CPUs",
                &[json_patch(
                    "Deployment",
                    r#"[{"op":"add","path":"/spec/template/spec/containers/0/resources/requests/cpu","value":"64"}]"#,
                )],
            )
        },
        undo: |lab| lab.reset(false),
    },
    Scenario {
        name: "inference-configmap-missing",
        description: "a commit gives inference an environment variable from ConfigMap inference-settings, which does not exist: CreateContainerConfigError",
        expect: &[Expect::Pipeline("config-missing")],
        apply: |lab| {
            commit_patches(
                lab,
                "inference: a setting from ConfigMap inference-settings",
                &[json_patch(
                    "Deployment",
                    r#"[{"op":"add","path":"/spec/template/spec/containers/0/env/-","value":{"name":"LAB_SETTING","valueFrom":{"configMapKeyRef":{"name":"inference-settings","key":"setting"}}}}]"#,
                )],
            )
        },
        undo: |lab| lab.reset(false),
    },
    Scenario {
        name: "pin-node-tainted",
        description: "the pin node gets a NoSchedule taint no pod tolerates and inference's pod is replaced: the new pod cannot go back to the node that holds its volume",
        expect: &[Expect::Finding("pv-node-unavailable")],
        apply: |lab| {
            lab.kubectl(&[
                "taint",
                "node",
                PIN_NODE,
                &format!("{TAINT_KEY}=broken:NoSchedule"),
                "--overwrite",
            ])?;
            restart_inference(lab)
        },
        undo: |lab| {
            lab.kubectl(&["taint", "node", PIN_NODE, &format!("{TAINT_KEY}-")])?;
            Ok(())
        },
    },
];

/// The taint [`FUZZ_SCENARIOS`]' `pin-node-tainted` puts on the pin node.
const TAINT_KEY: &str = "mlops-lab/fuzz";

/// How long Argo CD may take to apply a pushed commit.
const SYNC: Duration = Duration::from_secs(120);

/// The Job the bad-data scenario creates from the CronJob.
const BAD_DATA_JOB: &str = "trainer-bad-data";

/// A memory limit inference starts within (about 3.5 MiB at rest on the lab's node) but not
/// with several hundred open connections (measured: killed at about 880).
const OOM_LIMIT: &str = "6Mi";

/// Opens up to `n` connections to `ip:port`, each sending the start of a request and never
/// the end, as slow clients do; stops at the first refused connection (the server is gone)
/// and closes them all after a moment.
fn slow_clients(ip: &str, port: u16, n: usize) -> Result<()> {
    use std::io::Write;
    let addr: std::net::SocketAddr = format!("{ip}:{port}")
        .parse()
        .with_context(|| format!("pod address {ip:?}"))?;
    let mut open = Vec::new();
    for _ in 0..n {
        let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        else {
            break;
        };
        if stream
            .write_all(b"GET /predict?x=1 HTTP/1.1\r\nHost: model.homelab\r\n")
            .is_err()
        {
            break;
        }
        open.push(stream);
    }
    std::thread::sleep(Duration::from_secs(2));
    Ok(())
}

/// Sets the lab overlay's `newTag` of image `name` in the lab's Git clone.
fn set_image_tag(lab: &mut Lab, name: &str, tag: &str) -> Result<()> {
    let file = lab.git_file(OVERLAY_KUSTOMIZATION);
    let text = std::fs::read_to_string(&file)?;
    let entry = text
        .find(&format!("  - name: {name}\n"))
        .with_context(|| format!("no images entry for {name} in the lab overlay"))?;
    let key = "    newTag: ";
    let start = entry
        + text[entry..]
            .find(key)
            .with_context(|| format!("no newTag for {name} in the lab overlay"))?
        + key.len();
    let end = start + text[start..].find('\n').unwrap_or(text.len() - start);
    std::fs::write(&file, format!("{}{tag}{}", &text[..start], &text[end..]))?;
    Ok(())
}

/// The node must pull inference's image again: its references removed from containerd (as
/// the kubelet's image garbage collection does) and the pod replaced (as after an eviction),
/// so the Deployment's new pod pulls it.
fn pull_inference_again(lab: &mut Lab) -> Result<()> {
    lab.forget_images(&registry::image("mlops-lab-inference"))?;
    restart_inference(lab)
}

/// After a pull failure's cause is gone: the backing-off pod replaced (its back-off would
/// delay the next pull for minutes), then the lab synced and healthy again.
fn heal_inference(lab: &mut Lab) -> Result<()> {
    restart_inference(lab)?;
    lab.reset(false)
}

/// Creates Job `name` from the trainer CronJob (what its schedule does).
fn run_trainer(lab: &mut Lab, name: &str) -> Result<()> {
    let _ = lab.kubectl(&["-n", NAMESPACE, "delete", "job", name, "--ignore-not-found"]);
    lab.kubectl(&[
        "-n",
        NAMESPACE,
        "create",
        "job",
        name,
        "--from=cronjob/trainer",
    ])
    .map(drop)
}

/// The scenario called `name`.
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// The lab overlay's kustomization in the lab's Git clone.
const OVERLAY_KUSTOMIZATION: &str = "manifests/overlays/lab/kustomization.yaml";

/// Adds kustomize `patches:` entries to the lab overlay in the lab's Git clone, at the head
/// of the overlay's own list (its pull-secret patches).
fn edit_overlay(lab: &mut Lab, patches: &[String]) -> Result<()> {
    let file = lab.git_file(OVERLAY_KUSTOMIZATION);
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
    std::fs::write(&file, with_patches(&text, patches))?;
    Ok(())
}

/// `kustomization` with `patches` added to its `patches:` list (made if it has none).
fn with_patches(kustomization: &str, patches: &[String]) -> String {
    let added: String = patches.concat();
    match kustomization.find("\npatches:\n") {
        Some(at) => {
            let head = at + "\npatches:\n".len();
            format!(
                "{}{added}{}",
                &kustomization[..head],
                &kustomization[head..]
            )
        }
        None => format!("{kustomization}\n# A lab scenario's change.\npatches:\n{added}"),
    }
}

/// [`edit_overlay`], committed and pushed; Argo CD applies it (selfHeal keeps it applied).
pub(crate) fn commit_patches(lab: &mut Lab, message: &str, patches: &[String]) -> Result<()> {
    commit_patches_at(lab, message, patches).map(drop)
}

/// [`commit_patches`], returning the new revision.
fn commit_patches_at(lab: &mut Lab, message: &str, patches: &[String]) -> Result<String> {
    edit_overlay(lab, patches)?;
    lab.push(message)
}

/// A JSON patch (RFC 6902 operations, as JSON) of the overlay's one object of `kind`.
pub(crate) fn json_patch(kind: &str, ops: &str) -> String {
    format!("  - target:\n      kind: {kind}\n    patch: '{ops}'\n")
}

/// A strategic-merge patch that removes an object from what the overlay renders.
fn delete_patch(api_version: &str, kind: &str, name: &str) -> String {
    format!(
        "  - patch: |-\n      $patch: delete\n      apiVersion: {api_version}\n      kind: {kind}\n      metadata:\n        name: {name}\n"
    )
}

/// Takes `kind`'s pin out of the overlay's `replacements:` (which run after `patches:` and
/// would overwrite a pin patch with the settings' node), so a [`pin`] patch holds.
fn unpin_from_settings(lab: &mut Lab, kind: &str) -> Result<()> {
    let file = lab.git_file(OVERLAY_KUSTOMIZATION);
    let text = std::fs::read_to_string(&file)?;
    let block = format!("      - select:\n          kind: {kind}\n");
    let start = text
        .find(&block)
        .with_context(|| format!("no replacement target of kind {kind} in the lab overlay"))?;
    // The target ends after its one fieldPaths item.
    let paths = text[start..]
        .find("fieldPaths:\n")
        .context("a replacement target without fieldPaths")?;
    let item_start = start + paths + "fieldPaths:\n".len();
    let item_end = item_start + text[item_start..].find('\n').unwrap_or(0) + 1;
    let edited = format!("{}{}", &text[..start], &text[item_end..]);
    std::fs::write(&file, edited)?;
    Ok(())
}

/// Pins the CronJob's or the Deployment's pods to `node` by commits to the lab's Git.
fn commit_pins(lab: &mut Lab, message: &str, pins: &[(&str, &str)]) -> Result<()> {
    for (kind, _) in pins {
        unpin_from_settings(lab, kind)?;
    }
    let patches: Vec<String> = pins.iter().map(|(kind, node)| pin(kind, node)).collect();
    commit_patches(lab, message, &patches)
}

/// A patch that pins the CronJob's or the Deployment's pods to `node`.
fn pin(kind: &str, node: &str) -> String {
    let path = if kind == "CronJob" {
        "/spec/jobTemplate/spec/template/spec/nodeSelector/kubernetes.io~1hostname"
    } else {
        "/spec/template/spec/nodeSelector/kubernetes.io~1hostname"
    };
    json_patch(
        kind,
        &format!(r#"[{{"op":"replace","path":"{path}","value":"{node}"}}]"#),
    )
}

/// Enables `manifests/components/<name>` in the lab overlay by a commit, as a user enables it
/// in theirs; returns the new revision.
pub fn commit_component(lab: &mut Lab, name: &str) -> Result<String> {
    let file = lab.git_file(OVERLAY_KUSTOMIZATION);
    let mut text = std::fs::read_to_string(&file)?;
    text.push_str(&format!("\ncomponents:\n  - ../../components/{name}\n"));
    std::fs::write(&file, text)?;
    lab.push(&format!("Enable components/{name}"))
}

/// Commits a change Argo CD must roll out (an annotation on inference's pod template), as a
/// routine deploy does; returns the new revision.
pub fn commit_rollout(lab: &mut Lab) -> Result<String> {
    edit_overlay(
        lab,
        &[json_patch(
            "Deployment",
            r#"[{"op":"add","path":"/spec/template/metadata/annotations","value":{"mlops-lab/rollout":"1"}}]"#,
        )],
    )?;
    lab.push("Roll inference out again")
}

/// A first install of what Git holds now: the Application and the namespace removed, then
/// the Application applied again. Argo CD creates everything, the claim included.
fn first_install(lab: &mut Lab) -> Result<()> {
    lab.uninstall()?;
    lab.apply_application()
}

/// Deletes the inference pods so the Deployment makes new ones (what an eviction does).
pub(crate) fn restart_inference(lab: &mut Lab) -> Result<()> {
    lab.kubectl(&[
        "-n",
        NAMESPACE,
        "delete",
        "pod",
        "-l",
        "app.kubernetes.io/name=inference",
        "--wait=false",
        "--force",
        "--grace-period=0",
    ])?;
    Ok(())
}

fn node_ready(lab: &Lab, node: &str) -> Result<String> {
    lab.kubectl(&[
        "get",
        "node",
        node,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ])
    .map(|s| s.trim().to_owned())
}

fn wait_node_ready(lab: &mut Lab, node: &str) -> Result<()> {
    lab.wait_for("the node to be Ready", Duration::from_secs(90), |lab| {
        node_ready(lab, node).map(|r| r == "True")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_patches_join_the_overlays_own_list() {
        let overlay = "resources:\n  - ../../base\n\npatches:\n  - target:\n      kind: Job\n";
        let added = with_patches(overlay, &[json_patch("Service", "[]")]);
        assert_eq!(
            added,
            "resources:\n  - ../../base\n\npatches:\n  - target:\n      kind: Service\n    patch: '[]'\n  - target:\n      kind: Job\n"
        );
        let without = with_patches("resources: []\n", &[json_patch("Service", "[]")]);
        assert!(without.ends_with("patches:\n  - target:\n      kind: Service\n    patch: '[]'\n"));
    }

    #[test]
    fn the_lab_overlay_takes_a_tag_and_a_patch() {
        let repo = crate::workspace::repo_root();
        let text = std::fs::read_to_string(repo.join(OVERLAY_KUSTOMIZATION)).unwrap();
        assert_eq!(text.matches("\npatches:\n").count(), 1, "{text}");
        assert!(text.contains(&format!(
            "  - name: mlops-lab-inference\n    newName: {}\n    newTag: {}\n",
            registry::image("mlops-lab-inference"),
            registry::TAG
        )));
    }
}
