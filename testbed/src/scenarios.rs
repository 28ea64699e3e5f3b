//! Failure scenarios: each breaks the healthy lab in one way (STORAGE-FAILURES.md, the
//! verify checks) and can be undone. Scenarios are data: a name, what it does, what labctl
//! must report, and two functions.

use std::time::Duration;

use anyhow::{Context, Result};

use crate::argocd::Operation;
use crate::cluster::NODES;
use crate::controlplane::NOT_READY_LABEL;
use crate::lab::{Lab, NAMESPACE, PIN_NODE};

/// What labctl must report while a scenario is applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expect {
    /// `labctl diagnose pvc -o json` lists this finding id.
    Finding(&'static str),
    /// `labctl <command> -o json` reports this check id as failed (or warned).
    Check(&'static str, &'static str),
}

impl Expect {
    /// Whether labctl reports this now, once the Application status is refreshed: `Ok`, or
    /// what labctl reports instead.
    pub fn shown(self, lab: &Lab) -> Result<(), String> {
        let fail = |e: anyhow::Error| format!("{e:#}");
        lab.refresh_app_status().map_err(fail)?;
        match self {
            Expect::Finding(id) => {
                let (_, d) = lab.labctl_json(&["diagnose", "pvc"]).map_err(fail)?;
                let ids: Vec<&str> = d["findings"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f["id"].as_str())
                    .collect();
                if ids.contains(&id) {
                    Ok(())
                } else {
                    Err(format!("diagnose pvc reports {ids:?}, not {id}"))
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

const OTHER_NODE: &str = NODES[1];

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "volume-node-differs",
        description: "the pin moves to lab-node-2 while the model volume stays on lab-node-1",
        expect: &[Expect::Finding("pv-node-affinity-conflict")],
        apply: |lab| {
            pin(lab, "cronjob/trainer", OTHER_NODE)?;
            pin(lab, "deployment/inference", OTHER_NODE)
        },
        undo: |lab| {
            pin(lab, "cronjob/trainer", PIN_NODE)?;
            pin(lab, "deployment/inference", PIN_NODE)
        },
    },
    Scenario {
        name: "consumers-pinned-apart",
        description: "the trainer CronJob is pinned to lab-node-2, inference to lab-node-1",
        expect: &[Expect::Finding("consumers-pinned-to-different-nodes")],
        apply: |lab| pin(lab, "cronjob/trainer", OTHER_NODE),
        undo: |lab| pin(lab, "cronjob/trainer", PIN_NODE),
    },
    Scenario {
        name: "pv-node-deleted",
        description: "the node holding the volume is deleted (its pods go with it)",
        expect: &[Expect::Finding("pv-node-missing")],
        apply: |lab| {
            lab.kubectl(&["delete", "node", PIN_NODE, "--wait=true"])?;
            // The pod GC removes pods of a deleted node; the Deployment recreates them.
            restart_inference(lab)
        },
        undo: |lab| {
            let nodes = lab.repo.join("testbed/addons/nodes.yaml");
            lab.kubectl(&["apply", "-f", &nodes.display().to_string()])?;
            wait_node_ready(lab, PIN_NODE)
        },
    },
    Scenario {
        name: "pv-node-notready",
        description: "the volume's node is cordoned and its kubelet reports NotReady",
        expect: &[Expect::Finding("pv-node-unavailable")],
        apply: |lab| {
            lab.kubectl(&["cordon", PIN_NODE])?;
            lab.kubectl(&[
                "label",
                "--overwrite",
                "node",
                PIN_NODE,
                &format!("{NOT_READY_LABEL}=true"),
            ])?;
            lab.wait_for(
                "the node to turn NotReady",
                Duration::from_secs(90),
                |lab| node_ready(lab, PIN_NODE).map(|r| r == "False" || r == "Unknown"),
            )?;
            // What the taint manager does after tolerationSeconds (300 s), done now.
            restart_inference(lab)
        },
        undo: |lab| {
            lab.kubectl(&["label", "node", PIN_NODE, &format!("{NOT_READY_LABEL}-")])?;
            lab.kubectl(&["uncordon", PIN_NODE])?;
            wait_node_ready(lab, PIN_NODE)
        },
    },
    Scenario {
        name: "node-selector-typo",
        description: "inference's nodeSelector names lab-node-l (a typo)",
        expect: &[Expect::Finding("node-selector-matches-no-node")],
        apply: |lab| pin(lab, "deployment/inference", "lab-node-l"),
        undo: |lab| pin(lab, "deployment/inference", PIN_NODE),
    },
    Scenario {
        name: "storageclass-missing",
        description: "the local-path StorageClass is gone when the claim is created",
        // The Pending claim keeps the Application Progressing.
        expect: &[
            Expect::Finding("storageclass-missing"),
            Expect::Check("verify", "argocd-app-healthy"),
        ],
        apply: |lab| {
            remove_claim(lab)?;
            lab.kubectl(&["delete", "storageclass", "local-path"])?;
            recreate_claim(lab, None)
        },
        undo: |lab| {
            let addons = lab.repo.join("testbed/addons/local-path.yaml");
            lab.kubectl(&["apply", "-f", &addons.display().to_string()])?;
            remove_claim(lab)?;
            recreate_claim(lab, None)
        },
    },
    Scenario {
        name: "provisioner-stopped",
        description: "the local-path provisioner is down when the claim is created",
        expect: &[Expect::Finding("provisioner-not-running")],
        apply: |lab| {
            remove_claim(lab)?;
            lab.stop_provisioner()?;
            recreate_claim(lab, None)
        },
        undo: |lab| {
            lab.start_provisioner()?;
            remove_claim(lab)?;
            recreate_claim(lab, None)
        },
    },
    Scenario {
        name: "rwx-requested",
        description: "the claim asks for ReadWriteMany, which local-path cannot provide",
        expect: &[Expect::Finding("access-mode-unsupported")],
        apply: |lab| {
            remove_claim(lab)?;
            recreate_claim(lab, Some(r#"{"spec":{"accessModes":["ReadWriteMany"]}}"#))
        },
        undo: |lab| {
            remove_claim(lab)?;
            recreate_claim(lab, None)
        },
    },
    Scenario {
        name: "pvc-deleted-in-use",
        description: "the claim is deleted while inference still mounts it",
        expect: &[Expect::Finding("pvc-terminating-in-use")],
        apply: |lab| {
            lab.kubectl(&["-n", NAMESPACE, "delete", "pvc", "models", "--wait=false"])
                .map(drop)
        },
        undo: |lab| {
            remove_claim(lab)?;
            recreate_claim(lab, None)
        },
    },
    Scenario {
        name: "sync-wave-deadlock",
        description: "the claim is in an earlier sync wave than its consumers, which are not applied yet",
        expect: &[Expect::Finding("sync-wave-deadlock")],
        apply: |lab| {
            remove_claim(lab)?;
            lab.kubectl(&[
                "-n",
                NAMESPACE,
                "delete",
                "deployment/inference",
                "cronjob/trainer",
                "--wait=true",
            ])?;
            apply_claim_only(
                lab,
                Some(r#"{"metadata":{"annotations":{"argocd.argoproj.io/sync-wave":"-1"}}}"#),
            )?;
            // The live objects show the rest (claim Pending, consumers missing); that the sync
            // is stuck waiting for the claim is what the lab tells.
            lab.operation = Operation::WaitingForClaim { claim_wave: -1 };
            lab.refresh_app_status()
        },
        undo: |lab| {
            remove_claim(lab)?;
            lab.deploy()
        },
    },
    Scenario {
        name: "cronjob-never-run",
        description: "a fresh install whose only consumer is a CronJob that has not run yet",
        expect: &[Expect::Finding("pvc-waiting-for-consumer")],
        apply: |lab| {
            remove_claim(lab)?;
            lab.kubectl(&[
                "-n",
                NAMESPACE,
                "delete",
                "deployment/inference",
                "--wait=true",
            ])?;
            lab.kubectl(&[
                "-n",
                NAMESPACE,
                "patch",
                "cronjob/trainer",
                "--type=merge",
                "-p",
                r#"{"spec":{"suspend":true}}"#,
            ])?;
            apply_claim_only(lab, None)
        },
        undo: |lab| {
            remove_claim(lab)?;
            lab.kubectl(&[
                "-n",
                NAMESPACE,
                "patch",
                "cronjob/trainer",
                "--type=merge",
                "-p",
                r#"{"spec":{"suspend":false}}"#,
            ])?;
            lab.deploy()
        },
    },
    Scenario {
        name: "service-selector-typo",
        description: "the Service selects app.kubernetes.io/name=inferense: no endpoints, the ingress answers 503",
        // Argo CD sees the Service differ from Git: the Application is OutOfSync.
        expect: &[
            Expect::Check("verify", "endpoints-ready"),
            Expect::Check("verify", "argocd-app-healthy"),
        ],
        apply: |lab| {
            set_selector(lab, "inferense")?;
            lab.sync_ingress()
        },
        undo: |lab| {
            set_selector(lab, "inference")?;
            lab.sync_ingress()
        },
    },
    Scenario {
        name: "ingress-other-host",
        description: "the Ingress routes other.homelab instead of model.homelab: the ingress answers 404",
        expect: &[
            Expect::Check("verify", "ingress-routes-host"),
            Expect::Check("verify", "http-healthz"),
        ],
        apply: |lab| {
            set_host(lab, "other.homelab")?;
            lab.sync_ingress()
        },
        undo: |lab| {
            set_host(lab, "model.homelab")?;
            lab.sync_ingress()
        },
    },
    Scenario {
        name: "pihole-missing-record",
        description: "Pi-hole has no record for model.homelab",
        expect: &[Expect::Check("verify", "dns-resolves-host")],
        apply: |lab| lab.restart_dns(false),
        undo: |lab| lab.restart_dns(true),
    },
];

/// The scenario called `name`.
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// Pins a workload (`cronjob/trainer` or `deployment/inference`) to `node`.
fn pin(lab: &mut Lab, workload: &str, node: &str) -> Result<()> {
    let template = if workload.starts_with("cronjob") {
        format!(
            r#"{{"spec":{{"jobTemplate":{{"spec":{{"template":{{"spec":{{"nodeSelector":{{"kubernetes.io/hostname":"{node}"}}}}}}}}}}}}}}"#
        )
    } else {
        format!(
            r#"{{"spec":{{"template":{{"spec":{{"nodeSelector":{{"kubernetes.io/hostname":"{node}"}}}}}}}}}}"#
        )
    };
    lab.kubectl(&[
        "-n",
        NAMESPACE,
        "patch",
        workload,
        "--type=merge",
        "-p",
        &template,
    ])?;
    Ok(())
}

fn set_selector(lab: &mut Lab, name: &str) -> Result<()> {
    let patch = format!(r#"{{"spec":{{"selector":{{"app.kubernetes.io/name":"{name}"}}}}}}"#);
    lab.kubectl(&[
        "-n",
        NAMESPACE,
        "patch",
        "service/inference",
        "--type=merge",
        "-p",
        &patch,
    ])?;
    // The EndpointSlice controller follows the selector within a moment.
    lab.wait_for(
        "EndpointSlices to follow the selector",
        Duration::from_secs(30),
        |lab| {
            let ready = lab.ready_endpoints("inference")?;
            Ok((name == "inference") == (ready > 0))
        },
    )
}

fn set_host(lab: &mut Lab, host: &str) -> Result<()> {
    let patch = format!(r#"[{{"op":"replace","path":"/spec/rules/0/host","value":"{host}"}}]"#);
    lab.kubectl(&[
        "-n",
        NAMESPACE,
        "patch",
        "ingress/inference",
        "--type=json",
        "-p",
        &patch,
    ])?;
    Ok(())
}

/// Deletes the inference pods so the Deployment makes new ones (what an eviction does).
fn restart_inference(lab: &mut Lab) -> Result<()> {
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

/// Scales inference down, deletes the pods and the claim, and waits until it is gone.
fn remove_claim(lab: &mut Lab) -> Result<()> {
    let _ = lab.kubectl(&[
        "-n",
        NAMESPACE,
        "scale",
        "deployment/inference",
        "--replicas=0",
    ]);
    // Every scheduled pod that names the claim holds it, finished Job pods included
    // (pvc_protection_controller.go: podUsesPVCForDeletion ignores the pod's phase). Their
    // pods go; the Jobs, and with them the CronJob's history, stay.
    let _ = lab.kubectl(&[
        "-n",
        NAMESPACE,
        "delete",
        "pods",
        "--all",
        "--force",
        "--grace-period=0",
    ]);
    lab.kubectl(&[
        "-n",
        NAMESPACE,
        "delete",
        "pvc",
        "models",
        "--ignore-not-found",
        "--wait=true",
        "--timeout=60s",
    ])
    .context("deleting the claim")?;
    Ok(())
}

/// The claim as the lab overlay renders it (one YAML document).
fn rendered_claim(lab: &Lab) -> Result<String> {
    let overlay = lab
        .repo
        .join("manifests/overlays/lab")
        .display()
        .to_string();
    let rendered = lab.kubectl(&["kustomize", &overlay])?;
    rendered
        .split("\n---\n")
        .find(|doc| doc.contains("kind: PersistentVolumeClaim"))
        .map(str::to_owned)
        .context("the lab overlay has no PersistentVolumeClaim")
}

/// Applies only the claim from the lab overlay, then an optional merge patch of fields that
/// may change after creation (annotations): the claim is WaitForFirstConsumer and has no
/// consumer yet.
fn apply_claim_only(lab: &mut Lab, patch: Option<&str>) -> Result<()> {
    lab.cp.apply(&rendered_claim(lab)?)?;
    if let Some(p) = patch {
        lab.kubectl(&[
            "-n",
            NAMESPACE,
            "patch",
            "pvc/models",
            "--type=merge",
            "-p",
            p,
        ])?;
    }
    Ok(())
}

/// Re-creates the claim with `spec_patch` merged in before creation (a claim's spec is
/// immutable) and brings its consumers back.
fn recreate_claim(lab: &mut Lab, spec_patch: Option<&str>) -> Result<()> {
    let mut claim = rendered_claim(lab)?;
    if let Some(p) = spec_patch {
        let file = lab.dir.join("claim.yaml");
        std::fs::write(&file, &claim)?;
        claim = lab.kubectl(&[
            "patch",
            "--local",
            "-f",
            &file.display().to_string(),
            "--type=merge",
            "-p",
            p,
            "-o",
            "yaml",
        ])?;
    }
    lab.cp.apply(&claim)?;
    lab.kubectl(&[
        "-n",
        NAMESPACE,
        "scale",
        "deployment/inference",
        "--replicas=1",
    ])?;
    Ok(())
}
