//! `cargo lab peers`: labctl measured beside the tools a homelab user could run instead,
//! k8sgpt (`k8sgpt analyze`, no AI backend) and popeye, on the same broken clusters.
//!
//! A [`Fault`] is one way the lab is broken: the scenario that delivers it (apply, undo, and the
//! finding or check ids labctl must report, in `scenarios.rs`), plus what a peer must say to
//! count as having found it, written as data so anyone can check the scoring: the faulted
//! object(s) and the words that name the cause. A case injects a list of faults; today each case
//! is one scenario, and the scoring already takes a list, so composed faults score the same way.
//!
//! The run is recorded raw ([`Record`]: every tool's exit code, time and output), and scored
//! from the record, so a published table can be scored again from its recording without a lab.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lab::Lab;
use crate::scenarios::{self, Expect, SCENARIOS, Scenario};
use crate::topology::{NAMESPACE, PIN_NODE};

/// An object as a tool names it. An empty field matches anything; `name` is a prefix, so
/// `inference-` matches the pods a Deployment's ReplicaSet makes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Obj {
    pub kind: &'static str,
    pub namespace: &'static str,
    pub name: &'static str,
}

const fn obj(kind: &'static str, namespace: &'static str, name: &'static str) -> Obj {
    Obj {
        kind,
        namespace,
        name,
    }
}

/// Every object of the pipeline's namespace: a fault of the pipeline breaks what is in it.
const PIPELINE: Obj = obj("", NAMESPACE, "");
const INFERENCE_POD: Obj = obj("Pod", NAMESPACE, "inference-");
const INFERENCE_DEPLOYMENT: Obj = obj("Deployment", NAMESPACE, "inference");
const INFERENCE_SERVICE: Obj = obj("Service", NAMESPACE, "inference");
const CLAIM: Obj = obj("PersistentVolumeClaim", NAMESPACE, "models");
const TRAINER_CRONJOB: Obj = obj("CronJob", NAMESPACE, "trainer");
const TRAINER_POD: Obj = obj("Pod", NAMESPACE, "trainer-");
const PIN_NODE_OBJ: Obj = obj("Node", "", PIN_NODE);
const PROVISIONER: Obj = obj("", "kube-system", "local-path-provisioner");

/// One way the lab is broken, and what counts as finding it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Fault {
    /// The scenario that delivers it (`scenarios.rs`: apply, undo, labctl's expected ids).
    pub scenario: &'static str,
    /// A peer found the fault when one of its results names one of these objects...
    pub objects: &'static [Obj],
    /// ...and, in that same result's text, one of these words (case-insensitive): the cause
    /// in the peer's own words, or the component's words the peer passes on.
    pub words: &'static [&'static str],
    /// What the fault breaks, directly or downstream: an error about any of these is
    /// explained by the fault (unless the tool says the same of the healthy lab).
    pub breaks: &'static [Obj],
}

/// The volume's node affinity as the scheduler words it (older and newer wordings). The pod's
/// own `node affinity/selector` does not count: it names neither the volume nor its node.
const VOLUME_AFFINITY: &[&str] = &[
    "volume node affinity conflict",
    "persistentvolume's node affinity",
];

/// The faults of the lab's scenarios. Written from what each fault is (the object it breaks
/// and the words that say why), not from what a tool happened to print; words that turned out
/// to match a symptom or an object's own name rather than a cause were taken out, for every
/// tool alike (docs/accuracy.md lists each change and whom it cost).
pub const FAULTS: &[Fault] = &[
    Fault {
        scenario: "volume-node-differs",
        objects: &[
            INFERENCE_POD,
            INFERENCE_DEPLOYMENT,
            TRAINER_CRONJOB,
            TRAINER_POD,
            CLAIM,
        ],
        words: VOLUME_AFFINITY,
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "consumers-pinned-apart",
        objects: &[TRAINER_CRONJOB, TRAINER_POD, CLAIM],
        words: VOLUME_AFFINITY,
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "pv-node-deleted",
        objects: &[
            INFERENCE_POD,
            CLAIM,
            obj("PersistentVolume", "", ""),
            PIN_NODE_OBJ,
        ],
        words: &[
            "volume node affinity conflict",
            "persistentvolume's node affinity",
            "lab-node-1\" not found",
            "node not found",
            "deleted",
        ],
        breaks: &[PIPELINE, PIN_NODE_OBJ, obj("PersistentVolume", "", "")],
    },
    Fault {
        scenario: "pv-node-notready",
        objects: &[PIN_NODE_OBJ, INFERENCE_POD],
        words: &[
            "notready",
            "not ready",
            "nodestatusunknown",
            "stopped posting",
            "unreachable",
            "unschedulable",
            "scheduling disabled",
            "cordon",
            "unknown condition",
            "persistentvolume's node affinity",
            "volume node affinity conflict",
        ],
        breaks: &[PIPELINE, PIN_NODE_OBJ],
    },
    Fault {
        scenario: "node-selector-typo",
        objects: &[INFERENCE_POD, INFERENCE_DEPLOYMENT],
        words: &[
            "node affinity/selector",
            "nodeselector",
            "node selector",
            "lab-node-l",
        ],
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "storageclass-missing",
        objects: &[CLAIM],
        words: &["storageclass", "storage class", "\"local-path\" not found"],
        breaks: &[PIPELINE, obj("StorageClass", "", "local-path")],
    },
    Fault {
        scenario: "provisioner-stopped",
        objects: &[CLAIM, PROVISIONER],
        // Not the word `provisioner`: the provisioner's own name holds it.
        words: &[
            "external provisioner",
            "no pods match",
            "zero scale",
            "0 replicas",
            "no replicas",
            "not running",
        ],
        breaks: &[PIPELINE, PROVISIONER],
    },
    Fault {
        scenario: "rwx-requested",
        objects: &[CLAIM],
        words: &["readwriteonce", "readwritemany", "access mode"],
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "pvc-deleted-in-use",
        objects: &[CLAIM],
        words: &["terminating", "being deleted", "deletion", "pvc-protection"],
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "sync-wave-deadlock",
        objects: &[CLAIM],
        // The claim waits for a consumer that Argo CD holds back: saying the claim waits for
        // its first consumer names the object and the immediate cause.
        words: &["sync wave", "sync-wave", "first consumer"],
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "cronjob-never-run",
        objects: &[CLAIM, TRAINER_CRONJOB],
        words: &["suspend", "first consumer"],
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "service-selector-typo",
        objects: &[INFERENCE_SERVICE],
        words: &["inferense", "no endpoints", "selector", "no pods"],
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "ingress-other-host",
        objects: &[obj("Ingress", NAMESPACE, "inference")],
        words: &["other.homelab", "model.homelab"],
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "image-tag-missing",
        objects: &[INFERENCE_POD, INFERENCE_DEPLOYMENT],
        words: &["imagepull", "errimagepull", "pull", "0.0.0-missing"],
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "image-arm64-only",
        objects: &[INFERENCE_POD, INFERENCE_DEPLOYMENT],
        words: &["platform", "arm64", "architecture"],
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "registry-wrong-credentials",
        objects: &[INFERENCE_POD, INFERENCE_DEPLOYMENT],
        words: &["401", "unauthorized", "credentials", "imagepullsecrets"],
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "registry-ca-untrusted",
        objects: &[INFERENCE_POD, INFERENCE_DEPLOYMENT],
        words: &["x509", "certificate", "unknown authority"],
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "registry-plain-http",
        objects: &[INFERENCE_POD, INFERENCE_DEPLOYMENT],
        words: &["http response to https client", "plain http"],
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "registry-stopped",
        objects: &[INFERENCE_POD, INFERENCE_DEPLOYMENT],
        words: &["connection refused", "unreachable", "cannot reach"],
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "trainer-bad-data",
        objects: &[
            obj("Job", NAMESPACE, "trainer-bad-data"),
            obj("Pod", NAMESPACE, "trainer-bad-data"),
            TRAINER_CRONJOB,
        ],
        // Why the trainer failed (its data), not only that it failed.
        words: &["not a finite number", "training.csv", "training data"],
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "inference-oom",
        objects: &[INFERENCE_POD, INFERENCE_DEPLOYMENT],
        words: &["oomkilled", "out of memory", "oom"],
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "inference-command-typo",
        objects: &[INFERENCE_POD, INFERENCE_DEPLOYMENT],
        words: &[
            "/usr/local/bin/inferenc\"",
            "/usr/local/bin/inferenc:",
            "no such file",
            "starterror",
            "runcontainererror",
            "executable file not found",
        ],
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "no-model-published",
        objects: &[INFERENCE_POD, INFERENCE_DEPLOYMENT],
        // Why it is not ready (its probe fails: no model), not only that it is not.
        words: &["probe failed", "no model"],
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "pihole-missing-record",
        // Pi-hole is outside the cluster: only a tool that resolves the host can see this.
        objects: &[obj("", "", "")],
        words: &["model.homelab"],
        breaks: &[PIPELINE],
    },
];

/// The rules of the faults only the fuzzer injects (`scenarios::FUZZ_SCENARIOS`).
pub const FUZZ_FAULTS: &[Fault] = &[
    Fault {
        scenario: "service-target-port-wrong",
        objects: &[INFERENCE_SERVICE],
        words: &["9999", "targetport", "target port"],
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "ingress-class-wrong",
        objects: &[obj("Ingress", NAMESPACE, "inference")],
        words: &["nginx", "ingressclass", "ingress class"],
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "inference-cpu-too-big",
        objects: &[INFERENCE_POD, INFERENCE_DEPLOYMENT],
        words: &["insufficient cpu"],
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "inference-configmap-missing",
        objects: &[INFERENCE_POD, INFERENCE_DEPLOYMENT],
        words: &["inference-settings", "createcontainerconfigerror"],
        breaks: &[PIPELINE],
    },
    Fault {
        scenario: "pin-node-tainted",
        objects: &[INFERENCE_POD, INFERENCE_DEPLOYMENT, PIN_NODE_OBJ],
        words: &["taint", "untolerated"],
        breaks: &[PIPELINE, PIN_NODE_OBJ],
    },
];

/// The fault a scenario delivers: one of the lab's scenarios, or one the fuzzer adds
/// (`fuzz.rs`, faults the lab end to end does not run).
pub fn fault(scenario: &str) -> Option<&'static Fault> {
    FAULTS
        .iter()
        .chain(FUZZ_FAULTS)
        .find(|f| f.scenario == scenario)
}

/// The scenario of a fault's name: the lab's, or one the fuzzer adds.
pub fn scenario(name: &str) -> Option<&'static Scenario> {
    SCENARIOS
        .iter()
        .chain(scenarios::FUZZ_SCENARIOS)
        .find(|s| s.name == name)
}

/// One tool's run: how it was called (paths left out), its exit code, wall time and output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolRun {
    pub command: String,
    pub code: i32,
    pub secs: f64,
    /// The JSON document it printed, or its text when that was not JSON.
    pub stdout: Value,
    pub stderr: String,
}

/// The tools' names in a [`Case`]'s `runs`.
pub const LABCTL_DIAGNOSE: &str = "labctl diagnose";
pub const LABCTL_VERIFY: &str = "labctl verify";
pub const K8SGPT: &str = "k8sgpt";
pub const POPEYE: &str = "popeye";

/// One cluster the tools were run on: healthy (no faults) or broken by the faults named.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Case {
    pub name: String,
    pub faults: Vec<String>,
    /// Why delivering a fault failed, if it did.
    #[serde(default)]
    pub apply_error: Option<String>,
    /// Expectations of labctl's that had not shown when the settle wait ended.
    #[serde(default)]
    pub not_shown: Vec<String>,
    pub settle_secs: f64,
    pub runs: BTreeMap<String, ToolRun>,
    /// What was still unhealthy after undoing the faults (empty: healed).
    #[serde(default)]
    pub unhealed: Vec<String>,
    /// The whole case: from the first fault's delivery until the lab was healthy again.
    #[serde(default)]
    pub total_secs: f64,
}

/// A whole run, as written by `cargo lab peers --out`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub date: String,
    pub machine: String,
    pub command: String,
    pub versions: BTreeMap<String, String>,
    pub cases: Vec<Case>,
}

/// The tools scored, as columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Tool {
    Labctl,
    K8sgpt,
    Popeye,
}

impl Tool {
    pub const ALL: [Tool; 3] = [Tool::Labctl, Tool::K8sgpt, Tool::Popeye];
    pub fn name(self) -> &'static str {
        match self {
            Tool::Labctl => "labctl",
            Tool::K8sgpt => "k8sgpt",
            Tool::Popeye => "popeye",
        }
    }
    /// The runs of a case that make up this tool's answer.
    fn runs(self) -> &'static [&'static str] {
        match self {
            Tool::Labctl => &[LABCTL_DIAGNOSE, LABCTL_VERIFY],
            Tool::K8sgpt => &[K8SGPT],
            Tool::Popeye => &[POPEYE],
        }
    }
}

/// How bad a tool says a result is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Level {
    Info,
    Warning,
    Error,
}

/// One result of a tool, in common terms: the object it names, its words, its level, and for
/// labctl the finding or check id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub text: String,
    pub level: Level,
    pub id: Option<String>,
}

impl Item {
    fn names(&self, o: &Obj) -> bool {
        (o.kind.is_empty() || o.kind == self.kind)
            && (o.namespace.is_empty() || o.namespace == self.namespace)
            && self.name.starts_with(o.name)
    }
    fn names_any(&self, objects: &[Obj]) -> bool {
        objects.iter().any(|o| self.names(o))
    }
    fn says_any(&self, words: &[&str]) -> bool {
        let text = self.text.to_lowercase();
        words.iter().any(|w| text.contains(&w.to_lowercase()))
    }
    /// The result's lines, each with its object, without what changes from one run to the
    /// next: the suffixes controllers generate (`inference-5d8f7c9b4-x2x7k` is `inference`)
    /// and numbers (addresses, counts). A result of the healthy lab is then the same as one
    /// about its successor, and a result that now says more is not the same.
    fn lines(&self) -> Vec<(String, String, String, String)> {
        self.text
            .lines()
            .map(|line| {
                let words: Vec<String> = line
                    .split_whitespace()
                    .map(|w| {
                        w.split('/')
                            .map(generated_suffixes_stripped)
                            .collect::<Vec<_>>()
                            .join("/")
                    })
                    .map(|w| {
                        // Every run of digits as one `#`.
                        let mut out = String::new();
                        for c in w.chars() {
                            if !c.is_ascii_digit() {
                                out.push(c);
                            } else if !out.ends_with('#') {
                                out.push('#');
                            }
                        }
                        out
                    })
                    .collect();
                (
                    self.kind.clone(),
                    self.namespace.clone(),
                    generated_suffixes_stripped(&self.name),
                    words.join(" "),
                )
            })
            .collect()
    }
}

/// `inference-5d8f7c9b4-x2x7k` → `inference`; `trainer-29412345-abcde` → `trainer`.
pub fn generated_suffixes_stripped(name: &str) -> String {
    let mut parts: Vec<&str> = name.split('-').collect();
    while parts.len() > 1 {
        let last = parts[parts.len() - 1];
        let generated = (last.len() == 5
            && last
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && last.chars().any(|c| c.is_ascii_digit()))
            || (last.len() >= 8
                && last.len() <= 10
                && last
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && last.chars().any(|c| c.is_ascii_digit()));
        if !generated {
            break;
        }
        parts.pop();
    }
    parts.join("-")
}

/// Splits `namespace/name` (a cluster-scoped object has no `/`).
fn split_name(full: &str) -> (String, String) {
    match full.split_once('/') {
        Some((ns, name)) => (ns.to_owned(), name.to_owned()),
        None => (String::new(), full.to_owned()),
    }
}

/// A kind from popeye's resource (`v1/pods`, `apps/v1/deployments`).
fn kind_of_resource(gvr: &str) -> String {
    let plural = gvr.rsplit('/').next().unwrap_or(gvr);
    let kind = match plural {
        "pods" => "Pod",
        "deployments" => "Deployment",
        "replicasets" => "ReplicaSet",
        "statefulsets" => "StatefulSet",
        "daemonsets" => "DaemonSet",
        "jobs" => "Job",
        "cronjobs" => "CronJob",
        "services" => "Service",
        "persistentvolumeclaims" => "PersistentVolumeClaim",
        "persistentvolumes" => "PersistentVolume",
        "nodes" => "Node",
        "namespaces" => "Namespace",
        "ingresses" => "Ingress",
        "configmaps" => "ConfigMap",
        "secrets" => "Secret",
        "serviceaccounts" => "ServiceAccount",
        "networkpolicies" => "NetworkPolicy",
        "poddisruptionbudgets" => "PodDisruptionBudget",
        "horizontalpodautoscalers" => "HorizontalPodAutoscaler",
        "clusterroles" => "ClusterRole",
        "clusterrolebindings" => "ClusterRoleBinding",
        "roles" => "Role",
        "rolebindings" => "RoleBinding",
        "gateways" => "Gateway",
        "gatewayclasses" => "GatewayClass",
        "httproutes" => "HTTPRoute",
        "storageclasses" => "StorageClass",
        other => other,
    };
    kind.to_owned()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// `labctl diagnose -o json`: one item per finding, naming its subject, with its id,
/// summary and evidence as text.
pub fn labctl_diagnose_items(doc: &Value) -> Vec<Item> {
    doc["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            let mut text = vec![s(&f["id"]), s(&f["summary"])];
            text.extend(strings(&f["evidence"]));
            Item {
                kind: s(&f["subject"]["kind"]),
                namespace: s(&f["subject"]["namespace"]),
                name: s(&f["subject"]["name"]),
                text: text.join("\n"),
                level: match f["severity"].as_str() {
                    Some("error") => Level::Error,
                    Some("warning") => Level::Warning,
                    _ => Level::Info,
                },
                id: Some(s(&f["id"])),
            }
        })
        .collect()
}

/// `labctl verify -o json`: one item per check that did not pass or skip. A check judges the
/// pipeline, so it names the lab's namespace.
pub fn labctl_verify_items(doc: &Value) -> Vec<Item> {
    doc["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let level = match c["status"].as_str() {
                Some("fail") => Level::Error,
                Some("warn") => Level::Warning,
                _ => return None,
            };
            let id = c["id"].as_str().unwrap_or_default().to_owned();
            let mut text = vec![id.clone(), c["message"].as_str().unwrap_or_default().into()];
            text.extend(strings(&c["evidence"]));
            Some(Item {
                kind: "Check".into(),
                namespace: NAMESPACE.into(),
                name: id.clone(),
                text: text.join("\n"),
                level,
                id: Some(id),
            })
        })
        .collect()
}

/// `k8sgpt analyze -o json`: one item per result (k8sgpt has no levels: each result is a
/// problem it reports), its failures' texts and parent object as text.
pub fn k8sgpt_items(doc: &Value) -> Vec<Item> {
    doc["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let (namespace, name) = split_name(r["name"].as_str().unwrap_or_default());
            let mut text: Vec<String> = r["error"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["Text"].as_str().map(str::to_owned))
                .collect();
            if let Some(p) = r["parentObject"].as_str().filter(|p| !p.is_empty()) {
                text.push(format!("parent {p}"));
            }
            Item {
                kind: r["kind"].as_str().unwrap_or_default().to_owned(),
                namespace,
                name,
                text: text.join("\n"),
                level: Level::Error,
                id: None,
            }
        })
        .collect()
}

/// `popeye -o json`: one item per issue (level 1 info, 2 warning, 3 error; level 0 is OK and
/// left out), named by its section's resource and the issue's object.
pub fn popeye_items(doc: &Value) -> Vec<Item> {
    let mut out = Vec::new();
    for section in doc["popeye"]["sections"].as_array().into_iter().flatten() {
        let kind = kind_of_resource(section["gvr"].as_str().unwrap_or_default());
        let Some(issues) = section["issues"].as_object() else {
            continue;
        };
        for (fqn, list) in issues {
            let (namespace, name) = split_name(fqn);
            for issue in list.as_array().into_iter().flatten() {
                let level = match issue["level"].as_u64() {
                    Some(3) => Level::Error,
                    Some(2) => Level::Warning,
                    Some(1) => Level::Info,
                    _ => continue,
                };
                let group = issue["group"].as_str().unwrap_or_default();
                let message = issue["message"].as_str().unwrap_or_default();
                out.push(Item {
                    kind: kind.clone(),
                    namespace: namespace.clone(),
                    name: name.clone(),
                    text: if group.is_empty() || group == "__root__" {
                        message.to_owned()
                    } else {
                        format!("{group}: {message}")
                    },
                    level,
                    id: None,
                });
            }
        }
    }
    out
}

/// A tool's items in a case.
pub fn items(tool: Tool, case: &Case) -> Vec<Item> {
    let run = |name: &str| case.runs.get(name).map(|r| &r.stdout);
    let mut out = Vec::new();
    match tool {
        Tool::Labctl => {
            if let Some(d) = run(LABCTL_DIAGNOSE) {
                out.extend(labctl_diagnose_items(d));
            }
            if let Some(v) = run(LABCTL_VERIFY) {
                out.extend(labctl_verify_items(v));
            }
        }
        Tool::K8sgpt => out.extend(run(K8SGPT).map(k8sgpt_items).unwrap_or_default()),
        Tool::Popeye => out.extend(run(POPEYE).map(popeye_items).unwrap_or_default()),
    }
    out
}

/// Whether labctl reports what the scenario expects, and at which level: each finding id
/// among its findings (with the evidence text when the scenario names one), each check id
/// among verify's failed (error) or warned checks (with the text when it names one); the lowest level of those, or `None` when
/// one is missing or only info. Waiting with `verify --wait` is not part of one diagnosis, so
/// [`Expect::WaitGivesUp`] is left out, and so are checks of other commands than verify
/// (preflight's): the peers' run asks labctl only `verify` and `diagnose`.
pub fn labctl_found(expect: &[Expect], items: &[Item]) -> Option<Level> {
    let best = |check: bool, id: &str, text: Option<&str>| {
        items
            .iter()
            .filter(|i| {
                (i.kind == "Check") == check
                    && i.level >= Level::Warning
                    && i.id.as_deref() == Some(id)
                    && text.is_none_or(|t| i.text.contains(t))
            })
            .map(|i| i.level)
            .max()
    };
    expect
        .iter()
        .filter(|e| judged_by_peers(e))
        .map(|e| match *e {
            Expect::Finding(id) | Expect::Pipeline(id) => best(false, id, None),
            Expect::Evidence(id, t) | Expect::PipelineEvidence(id, t) => best(false, id, Some(t)),
            Expect::Check(_, id) => best(true, id, None),
            Expect::CheckSays(_, id, t) => best(true, id, Some(t)),
            Expect::WaitGivesUp(_) => Some(Level::Error),
        })
        .try_fold(Level::Error, |lowest, level| level.map(|l| lowest.min(l)))
}

/// Whether the peers' run can see an expectation: not a check of a command it does not run.
fn judged_by_peers(e: &Expect) -> bool {
    !matches!(e, Expect::Check(c, _) | Expect::CheckSays(c, _, _) if *c != "verify")
}

/// The ids labctl must report for a fault (what its scenario expects).
pub(crate) fn expected_ids(expect: &[Expect]) -> Vec<&'static str> {
    let mut ids: Vec<&str> = expect
        .iter()
        .filter(|e| judged_by_peers(e))
        .filter_map(|e| match *e {
            Expect::Finding(id)
            | Expect::Pipeline(id)
            | Expect::Evidence(id, _)
            | Expect::PipelineEvidence(id, _)
            | Expect::Check(_, id)
            | Expect::CheckSays(_, id, _) => Some(id),
            Expect::WaitGivesUp(_) => None,
        })
        .collect();
    ids.dedup();
    ids
}

/// The result of a peer that finds the fault, at its highest level: it names one of the
/// fault's objects and says one of its words (warning or error; popeye's info lines are not
/// findings).
pub fn peer_match<'a>(fault: &Fault, items: &'a [Item]) -> Option<&'a Item> {
    items
        .iter()
        .filter(|i| {
            i.level >= Level::Warning && i.names_any(fault.objects) && i.says_any(fault.words)
        })
        .max_by_key(|i| i.level)
}

/// One tool's score on one case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    pub tool: Tool,
    pub case: String,
    /// Per injected fault, the level at which the tool reported it (`None`: missed). Found
    /// means found at error level; a warning is shown apart.
    pub found: Vec<(String, Option<Level>)>,
    /// Its error-level results.
    pub errors: usize,
    /// Those no injected fault explains.
    pub unexplained: Vec<String>,
    /// Nothing at error level: the tool says the lab is fine.
    pub silent: bool,
    /// Wall time of its runs.
    pub secs: f64,
}

/// Scores `tool` on `case`, whose injected faults are `faults` (empty: the healthy lab).
/// `baseline`: the tool's items on the healthy lab; an error the tool also reports there is
/// noise, never explained by a fault.
pub fn score(tool: Tool, case: &Case, faults: &[&Fault], baseline: &[Item]) -> Score {
    let items = items(tool, case);
    let found = faults
        .iter()
        .map(|f| {
            let hit = match tool {
                Tool::Labctl => scenario(f.scenario).and_then(|s| labctl_found(s.expect, &items)),
                _ => peer_match(f, &items).map(|i| i.level),
            };
            (f.scenario.to_owned(), hit)
        })
        .collect();
    // An error whose every line the tool also said of the healthy lab is noise.
    let noise: Vec<_> = baseline
        .iter()
        .filter(|i| i.level == Level::Error)
        .flat_map(Item::lines)
        .collect();
    let is_noise = |i: &Item| i.lines().iter().all(|l| noise.contains(l));
    let explained = |i: &Item| {
        faults.iter().any(|f| {
            let by_rule = match tool {
                Tool::Labctl => scenario(f.scenario).is_some_and(|s| {
                    i.id.as_deref()
                        .is_some_and(|id| expected_ids(s.expect).contains(&id))
                }),
                _ => i.names_any(f.objects) && i.says_any(f.words),
            };
            by_rule || (i.names_any(f.breaks) && !is_noise(i))
        })
    };
    let errors: Vec<&Item> = items.iter().filter(|i| i.level == Level::Error).collect();
    let unexplained = errors
        .iter()
        .filter(|i| !explained(i))
        .map(|i| {
            format!(
                "{} {}{}{}: {}",
                i.kind,
                i.namespace,
                if i.namespace.is_empty() { "" } else { "/" },
                i.name,
                i.text.lines().next().unwrap_or_default()
            )
        })
        .collect();
    let runs: Vec<&ToolRun> = tool
        .runs()
        .iter()
        .filter_map(|r| case.runs.get(*r))
        .collect();
    Score {
        tool,
        case: case.name.clone(),
        found,
        errors: errors.len(),
        unexplained,
        silent: errors.is_empty(),
        secs: runs.iter().map(|r| r.secs).sum(),
    }
}

/// The faults a case injected, from its names.
fn faults_of(case: &Case) -> Vec<&'static Fault> {
    case.faults.iter().filter_map(|f| fault(f)).collect()
}

/// Every tool's score on every case of a record; the healthy case (no faults) is the baseline.
pub fn score_record(record: &Record) -> Vec<Score> {
    let healthy = record.cases.iter().find(|c| c.faults.is_empty());
    let mut out = Vec::new();
    for case in &record.cases {
        let faults = faults_of(case);
        for tool in Tool::ALL {
            let baseline = match healthy {
                Some(h) if !faults.is_empty() => items(tool, h),
                _ => Vec::new(),
            };
            out.push(score(tool, case, &faults, &baseline));
        }
    }
    out
}

/// Totals of one tool over the broken cases.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    pub tool: Tool,
    pub faults: usize,
    /// Found at error level.
    pub found: usize,
    /// Found at warning level only.
    pub warned: usize,
    pub errors: usize,
    pub unexplained: usize,
    pub silent: usize,
    pub median_secs: f64,
}

impl Totals {
    /// Faults found at error level, over faults injected.
    pub fn recall(&self) -> f64 {
        self.found as f64 / self.faults.max(1) as f64
    }
    /// Faults found at warning or error level, over faults injected.
    pub fn recall_with_warnings(&self) -> f64 {
        (self.found + self.warned) as f64 / self.faults.max(1) as f64
    }
    /// Explained errors over all errors (1 when there were none).
    pub fn precision(&self) -> f64 {
        if self.errors == 0 {
            1.0
        } else {
            (self.errors - self.unexplained) as f64 / self.errors as f64
        }
    }
}

pub fn totals(record: &Record, scores: &[Score]) -> Vec<Totals> {
    let broken: Vec<&str> = record
        .cases
        .iter()
        .filter(|c| !c.faults.is_empty())
        .map(|c| c.name.as_str())
        .collect();
    Tool::ALL
        .iter()
        .map(|&tool| {
            let mine: Vec<&Score> = scores
                .iter()
                .filter(|s| s.tool == tool && broken.contains(&s.case.as_str()))
                .collect();
            let mut secs: Vec<f64> = mine.iter().map(|s| s.secs).collect();
            let count = |level: Level| -> usize {
                mine.iter()
                    .map(|s| s.found.iter().filter(|(_, f)| *f == Some(level)).count())
                    .sum()
            };
            Totals {
                tool,
                faults: mine.iter().map(|s| s.found.len()).sum(),
                found: count(Level::Error),
                warned: count(Level::Warning),
                errors: mine.iter().map(|s| s.errors).sum(),
                unexplained: mine.iter().map(|s| s.unexplained.len()).sum(),
                silent: mine.iter().filter(|s| s.silent).count(),
                median_secs: median(&mut secs),
            }
        })
        .collect()
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The tables of a record, in Markdown: per case, then overall.
pub fn table(record: &Record) -> String {
    let scores = score_record(record);
    let mut out = String::new();
    out.push_str("| case | labctl | k8sgpt | popeye |\n|---|---|---|---|\n");
    for case in &record.cases {
        let mut row = format!("| {} ", case.name);
        for tool in Tool::ALL {
            let Some(s) = scores
                .iter()
                .find(|s| s.tool == tool && s.case == case.name)
            else {
                row.push_str("| – ");
                continue;
            };
            let lowest = s.found.iter().map(|(_, f)| *f).min().flatten();
            let verdict = if case.faults.is_empty() {
                "healthy lab"
            } else {
                match lowest {
                    Some(Level::Error) => "**found**",
                    Some(_) => "as a warning",
                    None => "missed",
                }
            };
            let silent = if !case.faults.is_empty() && s.silent {
                ", silent"
            } else {
                ""
            };
            row.push_str(&format!(
                "| {verdict}{silent}; {} error(s), {} unexplained; {:.1} s ",
                s.errors,
                s.unexplained.len(),
                s.secs
            ));
        }
        out.push_str(&row);
        out.push_str("|\n");
    }
    out.push_str("\n| tool | recall | with warnings | precision | silent | median time |\n|---|---|---|---|---|---|\n");
    for t in totals(record, &scores) {
        out.push_str(&format!(
            "| {} | {:.2} ({}/{}) | {:.2} ({}/{}) | {:.2} ({}/{} errors explained) | {} | {:.1} s |\n",
            t.tool.name(),
            t.recall(),
            t.found,
            t.faults,
            t.recall_with_warnings(),
            t.found + t.warned,
            t.faults,
            t.precision(),
            t.errors - t.unexplained,
            t.errors,
            t.silent,
            t.median_secs
        ));
    }
    out
}

/// The peers' matching rule of every fault, in Markdown.
pub fn rules() -> String {
    rules_of(&FAULTS.iter().collect::<Vec<_>>())
}

/// The peers' matching rule of these faults, in Markdown.
pub fn rules_of(faults: &[&Fault]) -> String {
    let object = |o: &Obj| {
        let mut s = if o.kind.is_empty() {
            "any kind".to_owned()
        } else {
            o.kind.to_owned()
        };
        if !o.namespace.is_empty() {
            s.push_str(&format!(" {}/", o.namespace));
        } else {
            s.push(' ');
        }
        s.push_str(if o.name.is_empty() { "*" } else { o.name });
        if !o.name.is_empty() && o.name.ends_with('-') {
            s.push('*');
        }
        s
    };
    let mut out = String::from(
        "| fault | labctl must report | a peer names one of | with one of the words |\n|---|---|---|---|\n",
    );
    for f in faults {
        let expect = scenario(f.scenario)
            .map(|s| expected_ids(s.expect).join(", "))
            .unwrap_or_default();
        let objects: Vec<String> = f.objects.iter().map(object).collect();
        let words: Vec<String> = f.words.iter().map(|w| format!("`{w}`")).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            f.scenario,
            expect,
            objects.join("; "),
            words.join(", ")
        ));
    }
    out
}

/// Unexplained errors per tool and case, to check the precision column by hand.
pub fn unexplained(record: &Record) -> String {
    let mut out = String::new();
    for s in score_record(record) {
        for u in &s.unexplained {
            out.push_str(&format!("{} on {}: {u}\n", s.tool.name(), s.case));
        }
    }
    out
}

// ---- Running the tools on the lab ----

/// The peers' binaries, built by `testbed/build --peers`.
#[derive(Debug, Clone)]
pub struct Peers {
    pub k8sgpt: PathBuf,
    pub popeye: PathBuf,
    pub versions: BTreeMap<String, String>,
}

impl Peers {
    /// Builds the peers (once; cached like the lab's components) and finds their binaries.
    pub fn build(repo: &Path) -> Result<Peers> {
        let out = Command::new(repo.join("testbed/build"))
            .arg("--peers")
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("run testbed/build --peers")?;
        anyhow::ensure!(out.status.success(), "testbed/build --peers failed");
        let text = String::from_utf8_lossy(&out.stdout);
        let dir = |name: &str| -> Result<PathBuf> {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .map(PathBuf::from)
                .with_context(|| format!("testbed/build --peers printed no {name}= line"))
        };
        let k8sgpt = dir("k8sgpt")?;
        let popeye = dir("popeye")?;
        let mut versions = BTreeMap::new();
        for d in [&k8sgpt, &popeye] {
            let base = d.file_name().unwrap_or_default().to_string_lossy();
            if let Some((name, version)) = base.split_once("-v") {
                versions.insert(name.to_owned(), format!("v{version}"));
            }
        }
        Ok(Peers {
            k8sgpt: k8sgpt.join("k8sgpt"),
            popeye: popeye.join("popeye"),
            versions,
        })
    }
}

/// Runs `program ARGS` and times it; `shown` is how the record names the command.
fn run_tool(mut command: Command, shown: &str) -> Result<ToolRun> {
    let started = Instant::now();
    let out = command
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    let secs = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // The tools' progress and logs are not what is scored; their start is enough to debug.
    if stderr.len() > 4000 {
        let mut cut = 4000;
        while !stderr.is_char_boundary(cut) {
            cut -= 1;
        }
        stderr.truncate(cut);
        stderr.push_str("\n[…]");
    }
    Ok(ToolRun {
        command: shown.to_owned(),
        code: out.status.code().unwrap_or(-1),
        secs,
        stdout: serde_json::from_str(&stdout).unwrap_or(Value::String(stdout)),
        stderr,
    })
}

/// The measured tools, pointed at a lab.
pub(crate) struct Tools {
    labctl: PathBuf,
    pub(crate) peers: Peers,
    /// A HOME of its own for the peers: k8sgpt writes its configuration there.
    home: PathBuf,
}

impl Tools {
    /// The peers built (once, cached), labctl's release build, and no other lab running.
    pub(crate) fn prepare(repo: &Path, dir: &Path) -> Result<Tools> {
        let peers = Peers::build(repo)?;
        // labctl as a user runs it: the release build.
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--quiet", "--release", "-p", "labctl"])
            .current_dir(repo)
            .status()?;
        anyhow::ensure!(status.success(), "cargo build --release -p labctl failed");
        let labctl = crate::workspace::target_dir().join("release/labctl");
        check_no_other_lab()?;
        let home = dir.join("peers-home");
        std::fs::create_dir_all(home.join(".config"))?;
        Ok(Tools {
            labctl,
            peers,
            home,
        })
    }

    pub(crate) fn run_all(&self, lab: &Lab) -> Result<BTreeMap<String, ToolRun>> {
        let mut runs = BTreeMap::new();
        for (name, args) in [
            (LABCTL_DIAGNOSE, &["diagnose", "-o", "json"][..]),
            (LABCTL_VERIFY, &["verify", "-o", "json"]),
        ] {
            let mut c = Command::new(&self.labctl);
            c.arg("--kubeconfig")
                .arg(lab.labctl_kubeconfig())
                .arg("--config")
                .arg(lab.labctl_config())
                .args(args)
                .env("NO_COLOR", "1");
            runs.insert(
                name.to_owned(),
                run_tool(c, &format!("labctl {}", args.join(" ")))?,
            );
        }
        let peer = |program: &Path| {
            let mut c = Command::new(program);
            c.env("KUBECONFIG", lab.admin_kubeconfig())
                .env("HOME", &self.home)
                .env("XDG_CONFIG_HOME", self.home.join(".config"))
                .env("XDG_CACHE_HOME", self.home.join(".cache"))
                .env("NO_COLOR", "1");
            c
        };
        let mut k8sgpt = peer(&self.peers.k8sgpt);
        k8sgpt.args(K8SGPT_ARGS);
        runs.insert(
            K8SGPT.to_owned(),
            run_tool(k8sgpt, &format!("k8sgpt {}", K8SGPT_ARGS.join(" ")))?,
        );
        let mut popeye = peer(&self.peers.popeye);
        popeye.args(POPEYE_ARGS);
        runs.insert(
            POPEYE.to_owned(),
            run_tool(popeye, &format!("popeye {}", POPEYE_ARGS.join(" ")))?,
        );
        Ok(runs)
    }
}

/// k8sgpt's analysis without an AI backend, every namespace (its default), every default
/// analyzer.
pub const K8SGPT_ARGS: &[&str] = &["analyze", "--explain=false", "-o", "json"];
/// popeye over every namespace, as one lints a homelab cluster (its cluster-scoped linters,
/// nodes among them, run either way); `--force-exit-zero` is not given, so its exit code says
/// whether it found errors.
pub const POPEYE_ARGS: &[&str] = &["-A", "-o", "json"];

/// How long a scenario may take to show before the tools run (what `cargo lab drill` waits).
const SHOW: Duration = Duration::from_secs(180);
/// How long the lab may take to heal after undo (what the lab end to end waits).
const HEAL: Duration = Duration::from_secs(90);

/// What is unhealthy now (empty: healthy), as the lab end to end judges it: verify's
/// failures, `diagnose pvc`'s problems, the pipeline's pods not Running or Succeeded.
pub fn unhealthy(lab: &Lab) -> Vec<String> {
    let mut out = Vec::new();
    match lab.labctl_json(&["verify"]) {
        Ok((_, v)) => out.extend(
            scenarios::not_passed(&v)
                .into_iter()
                .map(|(id, s, m)| format!("verify {id} {s}: {m}")),
        ),
        Err(e) => out.push(format!("verify: {e:#}")),
    }
    match lab.labctl_json(&["diagnose", "pvc"]) {
        Ok((_, d)) => out.extend(
            labctl_diagnose_items(&d)
                .into_iter()
                .filter(|i| i.level > Level::Info)
                .map(|i| format!("diagnose {}", i.id.unwrap_or_default())),
        ),
        Err(e) => out.push(format!("diagnose pvc: {e:#}")),
    }
    let pods = lab
        .kubectl(&["-n", NAMESPACE, "get", "pods", "-o", "json"])
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

pub(crate) fn wait_healthy(lab: &Lab) -> Vec<String> {
    // What is still unhealthy at the last look: nothing once the lab has healed.
    let mut left = Vec::new();
    let _ = crate::poll::until("the lab to heal", HEAL, Duration::from_secs(2), || {
        left = unhealthy(lab);
        Ok(crate::poll::Look::from_bool(left.is_empty()))
    });
    left
}

/// Refuses to start beside another lab: only one may run on a machine (they share the
/// node's bridge and cgroups), and the other may be a lab someone else started.
pub fn check_no_other_lab() -> Result<()> {
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim() == "kube-apiserver" {
            bail!(
                "a kube-apiserver runs already (pid {}): another lab is up; run this when it is done",
                entry.file_name().to_string_lossy()
            );
        }
    }
    Ok(())
}

/// The machine, in one line: CPU model, cores, memory, kernel.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|m| m.trim().trim_end_matches(" kB").parse::<u64>().ok())
        .map_or(0, |kb| (kb + (1 << 19)) >> 20);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cores} cores, {mem_gib} GiB, Linux {}",
        kernel.trim()
    )
}

/// The scenarios to run: all, or those named (unknown names are an error).
pub fn chosen(only: &[String]) -> Result<Vec<&'static Scenario>> {
    if only.is_empty() {
        return Ok(SCENARIOS.iter().collect());
    }
    only.iter()
        .map(|n| {
            scenarios::find(n)
                .with_context(|| format!("no scenario {n:?}; `cargo lab scenarios` lists them"))
        })
        .collect()
}

/// Brings the lab up once, runs every tool on the healthy lab and on each scenario (put in
/// place and waited for as `cargo lab drill` does, undone as the lab end to end does), and
/// returns the record.
/// The record is written to `out` after every case, so a run cut short keeps what it measured.
pub fn run(repo: &Path, dir: &Path, only: &[String], command: &str, out: &Path) -> Result<Record> {
    let scenarios = chosen(only)?;
    for s in &scenarios {
        anyhow::ensure!(
            fault(s.name).is_some(),
            "scenario {} has no fault rule",
            s.name
        );
    }
    let tools = Tools::prepare(repo, dir)?;
    let mut versions = tools.peers.versions.clone();
    versions.insert("labctl".into(), env!("CARGO_PKG_VERSION").into());
    let mut record = Record {
        date: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        machine: machine(),
        command: command.to_owned(),
        versions,
        cases: Vec::new(),
    };
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let save = |record: &Record| -> Result<()> {
        std::fs::write(out, serde_json::to_string_pretty(record)?)
            .with_context(|| format!("write {}", out.display()))
    };
    let started = Instant::now();
    let mut lab = Lab::up(repo, dir)?;
    eprintln!("lab: peers: up in {:.0} s", started.elapsed().as_secs_f64());
    let unhealed = wait_healthy(&lab);
    eprintln!("lab: peers: the healthy lab");
    record.cases.push(Case {
        name: "healthy".into(),
        faults: Vec::new(),
        apply_error: None,
        not_shown: Vec::new(),
        settle_secs: 0.0,
        runs: tools.run_all(&lab)?,
        unhealed,
        total_secs: 0.0,
    });
    save(&record)?;
    for s in scenarios {
        eprintln!("lab: peers: {}: {}", s.name, s.description);
        let started = Instant::now();
        record.cases.push(run_case(&mut lab, &tools, s.name, &[s])?);
        save(&record)?;
        eprintln!(
            "lab: peers: {}: {:.0} s",
            s.name,
            started.elapsed().as_secs_f64()
        );
    }
    drop(lab);
    Ok(record)
}

/// One case: the scenarios put in place in order (up to the first that fails), waited for
/// until labctl reports what each expects (one deadline for all), the tools run, then undone
/// in reverse order and the lab waited for until healthy. Today a case is one scenario; a
/// case of composed faults is the same loop over several.
fn run_case(lab: &mut Lab, tools: &Tools, name: &str, faults: &[&Scenario]) -> Result<Case> {
    run_case_with(
        lab,
        tools,
        name,
        faults,
        &CaseOptions {
            show: SHOW,
            judged_only: false,
            snapshot: None,
            after_each: None,
        },
    )
}

/// How [`run_case_with`] waits and what it keeps.
pub(crate) struct CaseOptions {
    /// How long the faults may take to show before the tools run.
    pub show: Duration,
    /// Wait only for what the tools' scoring judges: not `verify --wait` giving up, not
    /// preflight's checks (the peers' run asks labctl only diagnose and verify).
    pub judged_only: bool,
    /// Where to write `labctl snapshot` of the broken lab, if anywhere.
    pub snapshot: Option<PathBuf>,
    /// Run after each fault is delivered (before the next one is).
    pub after_each: Option<fn(&mut Lab)>,
}

/// [`run_case`] with its wait bounded by `options.show`, optionally waiting only for what
/// is scored, and optionally recording the broken lab with `labctl snapshot`.
pub(crate) fn run_case_with(
    lab: &mut Lab,
    tools: &Tools,
    name: &str,
    faults: &[&Scenario],
    options: &CaseOptions,
) -> Result<Case> {
    let started = Instant::now();
    let mut applied = Vec::new();
    let mut apply_error = None;
    for s in faults {
        match (s.apply)(lab) {
            Ok(()) => {
                applied.push(*s);
                if let Some(after) = options.after_each {
                    after(lab);
                }
            }
            Err(e) => {
                // Undo runs for this one too: a half-applied scenario must not break the next.
                applied.push(*s);
                apply_error = Some(format!("{}: {e:#}", s.name));
                break;
            }
        }
    }
    let mut not_shown = Vec::new();
    if apply_error.is_none() {
        let expects = faults
            .iter()
            .flat_map(|s| s.expect)
            .filter(|e| !options.judged_only || judged_by_peers(e))
            .filter(|e| !options.judged_only || !matches!(e, Expect::WaitGivesUp(_)));
        not_shown = scenarios::wait_shown(lab, expects, options.show);
    }
    let settle_secs = started.elapsed().as_secs_f64();
    let runs = tools.run_all(lab)?;
    if let Some(file) = &options.snapshot {
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match lab.labctl(&["snapshot", "-f", &file.display().to_string()]) {
            Ok((0, _, _)) => {}
            Ok((code, _, stderr)) => {
                eprintln!("lab: {name}: labctl snapshot exited {code}: {stderr}")
            }
            Err(e) => eprintln!("lab: {name}: labctl snapshot: {e:#}"),
        }
    }
    for s in applied.iter().rev() {
        if let Err(e) = (s.undo)(lab) {
            eprintln!("lab: peers: {}: undo failed: {e:#}", s.name);
        }
    }
    let unhealed = wait_healthy(lab);
    if !unhealed.is_empty() {
        eprintln!("lab: peers: {name}: still unhealthy: {unhealed:?}");
    }
    Ok(Case {
        name: name.to_owned(),
        faults: faults.iter().map(|s| s.name.to_owned()).collect(),
        apply_error,
        not_shown,
        settle_secs,
        runs,
        unhealed,
        total_secs: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_has_a_fault_and_every_fault_a_scenario() {
        for s in SCENARIOS {
            assert!(fault(s.name).is_some(), "{} has no fault", s.name);
        }
        for f in FAULTS {
            assert!(scenarios::find(f.scenario).is_some(), "{}", f.scenario);
            assert!(
                !f.objects.is_empty() && !f.words.is_empty(),
                "{}",
                f.scenario
            );
        }
    }

    #[test]
    fn generated_names_are_stripped_to_their_owner() {
        assert_eq!(
            generated_suffixes_stripped("inference-5d8f7c9b4-x2x7k"),
            "inference"
        );
        assert_eq!(
            generated_suffixes_stripped("trainer-29412345-abcd1"),
            "trainer"
        );
        assert_eq!(generated_suffixes_stripped("lab-node-1"), "lab-node-1");
        assert_eq!(generated_suffixes_stripped("models"), "models");
        assert_eq!(
            generated_suffixes_stripped("local-path-provisioner"),
            "local-path-provisioner"
        );
    }

    /// An excerpt of a real run (`cargo lab peers`, 2026-12-05): what labctl, k8sgpt v0.3.48
    /// and popeye v0.22.1 printed on the healthy lab and on eight scenarios; popeye's issues
    /// cut to those about the pipeline, the provisioner and the nodes, at warning or error.
    const RUN: &str = include_str!("../tests/fixtures/peers/run.json");

    fn recorded() -> Record {
        serde_json::from_str(RUN).expect("the fixture is a record")
    }

    #[test]
    fn the_recorded_run_scores_as_it_did() {
        use Level::{Error as E, Warning as W};
        let record = recorded();
        let scores = score_record(&record);
        let found = |tool: Tool, case: &str| {
            let s = scores
                .iter()
                .find(|s| s.tool == tool && s.case == case)
                .unwrap_or_else(|| panic!("no score of {tool:?} on {case}"));
            s.found.iter().map(|(_, f)| *f).min().flatten()
        };
        // labctl, k8sgpt, popeye.
        let expected: &[(&str, [Option<Level>; 3])] = &[
            ("volume-node-differs", [Some(E), Some(E), None]),
            ("pv-node-deleted", [Some(E), None, None]),
            ("pv-node-notready", [Some(E), Some(E), Some(W)]),
            ("provisioner-stopped", [Some(E), None, Some(E)]),
            // In the recorded run labctl reported pvc-waiting-for-consumer as info only (it has
            // pvc-consumers-idle, an error, since).
            ("cronjob-never-run", [None, Some(E), Some(W)]),
            ("trainer-bad-data", [Some(E), None, None]),
            ("no-model-published", [Some(E), None, None]),
            ("ingress-other-host", [Some(E), None, None]),
        ];
        for (case, levels) in expected {
            for (tool, level) in Tool::ALL.iter().zip(levels) {
                assert_eq!(found(*tool, case), *level, "{tool:?} on {case}");
            }
        }
        let unexplained = |tool: Tool, case: &str| {
            scores
                .iter()
                .find(|s| s.tool == tool && s.case == case)
                .map(|s| s.unexplained.len())
        };
        // k8sgpt passes on an event of the lab's API server (a Service's cluster IP repaired)
        // on the healthy lab too: noise wherever it is all a result says.
        assert_eq!(unexplained(Tool::K8sgpt, "healthy"), Some(1));
        assert_eq!(unexplained(Tool::K8sgpt, "trainer-bad-data"), Some(1));
        assert_eq!(unexplained(Tool::K8sgpt, "volume-node-differs"), Some(0));
        assert_eq!(unexplained(Tool::Labctl, "volume-node-differs"), Some(0));
        let silent = |tool: Tool, case: &str| {
            scores
                .iter()
                .any(|s| s.tool == tool && s.case == case && s.silent)
        };
        assert!(silent(Tool::K8sgpt, "provisioner-stopped"));
        assert!(silent(Tool::Popeye, "ingress-other-host"));
        assert!(!silent(Tool::Labctl, "ingress-other-host"));
        let totals = totals(&record, &scores);
        assert_eq!(totals[0].tool, Tool::Labctl);
        assert_eq!((totals[0].faults, totals[0].found), (8, 7));
    }

    #[test]
    fn a_peer_must_name_the_object_and_the_cause() {
        let record = recorded();
        let case = |name: &str| record.cases.iter().find(|c| c.name == name).unwrap();
        // k8sgpt on the deleted node: the pod's own selector matches no node, which names
        // neither the volume nor the node that went.
        let items = super::items(Tool::K8sgpt, case("pv-node-deleted"));
        assert!(
            items
                .iter()
                .any(|i| i.text.contains("didn't match Pod's node affinity/selector"))
        );
        assert_eq!(peer_match(fault("pv-node-deleted").unwrap(), &items), None);
        // k8sgpt on the pinned pipeline: the scheduler's volume affinity, on the pod.
        let items = super::items(Tool::K8sgpt, case("volume-node-differs"));
        let hit = peer_match(fault("volume-node-differs").unwrap(), &items).unwrap();
        assert_eq!(
            (hit.kind.as_str(), hit.namespace.as_str()),
            ("Pod", NAMESPACE)
        );
        assert!(
            hit.text.contains("PersistentVolume's node affinity"),
            "{hit:?}"
        );
        // popeye on the stopped provisioner: its Deployment without pods, in popeye's words.
        let items = super::items(Tool::Popeye, case("provisioner-stopped"));
        let hit = peer_match(fault("provisioner-stopped").unwrap(), &items).unwrap();
        assert_eq!(
            (hit.kind.as_str(), hit.name.as_str(), hit.level),
            ("Deployment", "local-path-provisioner", Level::Error)
        );
        // popeye on the failed training run: that the trainer failed, not why.
        let items = super::items(Tool::Popeye, case("trainer-bad-data"));
        assert!(
            items
                .iter()
                .any(|i| i.kind == "Job" && i.text.contains("failed with exit code 1"))
        );
        assert_eq!(peer_match(fault("trainer-bad-data").unwrap(), &items), None);
    }

    #[test]
    fn labctl_is_found_at_the_lowest_level_of_its_expectations() {
        let item = |kind: &str, id: &str, level: Level, text: &str| Item {
            kind: kind.into(),
            namespace: NAMESPACE.into(),
            name: id.into(),
            text: format!("{id}\n{text}"),
            level,
            id: Some(id.into()),
        };
        let expect = [
            Expect::PipelineEvidence("readiness-failing", "Startup probe failed"),
            Expect::Check("verify", "endpoints-ready"),
        ];
        let both = [
            item(
                "Deployment",
                "readiness-failing",
                Level::Error,
                "Startup probe failed: 503",
            ),
            item("Check", "endpoints-ready", Level::Warning, ""),
        ];
        assert_eq!(labctl_found(&expect, &both), Some(Level::Warning));
        // Without the evidence the scenario names, the finding is not the one expected.
        let other = [
            item(
                "Deployment",
                "readiness-failing",
                Level::Error,
                "Readiness probe failed",
            ),
            item("Check", "endpoints-ready", Level::Error, ""),
        ];
        assert_eq!(labctl_found(&expect, &other), None);
        // Info is not a finding.
        let info = [item(
            "PersistentVolumeClaim",
            "pvc-waiting-for-consumer",
            Level::Info,
            "",
        )];
        assert_eq!(
            labctl_found(&[Expect::Finding("pvc-waiting-for-consumer")], &info),
            None
        );
        assert_eq!(
            labctl_found(&[Expect::WaitGivesUp("x")], &[]),
            Some(Level::Error),
            "verify --wait is not part of one diagnosis"
        );
        // The peers' run asks no preflight: a preflight check is not held against labctl.
        let preflight = [
            Expect::Pipeline("image-platform-mismatch"),
            Expect::CheckSays("preflight", "images-match-node-arch", "linux/amd64"),
        ];
        let finding = [item(
            "Deployment",
            "image-platform-mismatch",
            Level::Error,
            "",
        )];
        assert_eq!(labctl_found(&preflight, &finding), Some(Level::Error));
        assert_eq!(expected_ids(&preflight), ["image-platform-mismatch"]);
    }

    #[test]
    fn popeye_issues_become_items_by_resource_and_level() {
        let doc: Value = serde_json::from_str(
            r#"{"popeye": {"sections": [{"linter": "deployments", "gvr": "apps/v1/deployments", "issues": {
                "kube-system/local-path-provisioner": [
                    {"group": "__root__", "gvr": "apps/v1/deployments", "level": 3, "message": "[POP-508] No pods match controller selector: app=local-path-provisioner"},
                    {"group": "local-path-provisioner", "gvr": "containers", "level": 2, "message": "[POP-106] No resources requests/limits defined"},
                    {"group": "__root__", "gvr": "apps/v1/deployments", "level": 0, "message": "ok"}]}},
                {"linter": "nodes", "gvr": "v1/nodes", "issues": {"lab-node-1": [{"group": "__root__", "gvr": "v1/nodes", "level": 1, "message": "[POP-711] x"}]}}]}}"#,
        )
        .unwrap();
        let items = popeye_items(&doc);
        let summary: Vec<_> = items
            .iter()
            .map(|i| {
                (
                    i.kind.as_str(),
                    i.namespace.as_str(),
                    i.name.as_str(),
                    i.level,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "Deployment",
                    "kube-system",
                    "local-path-provisioner",
                    Level::Error
                ),
                (
                    "Deployment",
                    "kube-system",
                    "local-path-provisioner",
                    Level::Warning
                ),
                ("Node", "", "lab-node-1", Level::Info),
            ]
        );
        assert!(
            items[1]
                .text
                .starts_with("local-path-provisioner: [POP-106]")
        );
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }
}
