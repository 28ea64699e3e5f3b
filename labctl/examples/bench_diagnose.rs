//! Benchmark of `labctl diagnose` (every diagnosis: claims, pods and workloads) from a snapshot
//! file (not a test).
//!
//! Generates a snapshot per size (N claims, N volumes, N pods with their ReplicaSets and
//! Deployments, 200 nodes, 4 events per claim and per pod, half through each event API), writes
//! it as one `List` file, then times parsing and diagnosing it (best of 3) and prints the
//! figures. About one claim in ten is broken in one of several ways so every engine path runs.
//!
//! ```sh
//! cargo run --release -p labctl --example bench_diagnose -- 1000 5000 20000
//! JUDGE_ONLY=7 target/release/examples/bench_diagnose 5000 20000   # judge the written files only
//! ```
//!
//! On stderr, where judging goes: building the indexes alone, `diagnose pvc` and `diagnose pods`.

use std::time::{Duration, Instant};

use labctl::config::LabConfig;
use labctl::diagnose::{Scope, Target, diagnose_target};
use serde_json::{Value, json};

const NODES: usize = 200;
const NS: &str = "bench";
const T: &str = "2026-11-28T08:00:00Z";

fn node(i: usize) -> Value {
    let name = format!("node-{i:03}");
    json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "uid": format!("node-uid-{i}"), "creationTimestamp": T,
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}},
        "spec": {"podCIDR": "10.42.0.0/24"},
        "status": {"conditions": [{"type": "Ready", "status": if i == 7 { "Unknown" } else { "True" }, "reason": "KubeletReady"}]}})
}

fn event_core(kind: &str, name: &str, uid: &str, j: usize, reason: &str, message: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{name}.{j:x}"), "namespace": NS, "uid": format!("{uid}-ev{j}"), "creationTimestamp": T},
        "involvedObject": {"apiVersion": "v1", "kind": kind, "name": name, "namespace": NS, "uid": uid},
        "reason": reason, "message": message, "type": "Normal", "count": 3,
        "source": {"component": "persistentvolume-controller"}, "firstTimestamp": T, "lastTimestamp": T})
}

fn event_v1(kind: &str, name: &str, uid: &str, j: usize, reason: &str, note: &str) -> Value {
    json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": format!("{name}.{j:x}"), "namespace": NS, "uid": format!("{uid}-ev{j}"), "creationTimestamp": T},
        "eventTime": "2026-11-28T08:00:00.000000Z", "reportingController": "default-scheduler",
        "reportingInstance": "default-scheduler-node-000", "action": "Scheduling",
        "regarding": {"apiVersion": "v1", "kind": kind, "name": name, "namespace": NS, "uid": uid},
        "reason": reason, "note": note, "type": "Warning", "series": {"count": 4, "lastObservedTime": "2026-11-28T08:10:00.000000Z"}})
}

/// One claim with its volume, Deployment, ReplicaSet, pod and 8 events.
fn claim(i: usize, items: &mut Vec<Value>) {
    let name = format!("data-{i}");
    let pvc_uid = format!("pvc-uid-{i}");
    let pv_name = format!("pvc-{pvc_uid}");
    let host = format!("node-{:03}", i % NODES);
    // One in ten broken: pinned elsewhere, pending on a missing class, or lost.
    let broken = i % 10;
    let pin = if broken == 1 {
        format!("node-{:03}", (i + 1) % NODES)
    } else {
        host.clone()
    };
    let (phase, class) = match broken {
        2 => ("Pending", "no-such-class"),
        3 => ("Lost", "local-path"),
        _ => ("Bound", "local-path"),
    };
    items.push(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": NS, "uid": pvc_uid, "creationTimestamp": T,
                     "finalizers": ["kubernetes.io/pvc-protection"],
                     "annotations": {"pv.kubernetes.io/bind-completed": "yes", "volume.kubernetes.io/selected-node": host,
                                     "volume.kubernetes.io/storage-provisioner": "rancher.io/local-path"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                 "storageClassName": class, "volumeName": if phase == "Pending" { Value::Null } else { pv_name.clone().into() },
                 "volumeMode": "Filesystem"},
        "status": {"phase": phase}}));
    if phase == "Bound" {
        items.push(json!({"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": pv_name, "uid": format!("pv-uid-{i}"), "creationTimestamp": T,
                         "annotations": {"pv.kubernetes.io/provisioned-by": "rancher.io/local-path"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"},
                     "claimRef": {"kind": "PersistentVolumeClaim", "namespace": NS, "name": name, "uid": pvc_uid},
                     "hostPath": {"path": format!("/var/lib/rancher/k3s/storage/{pv_name}"), "type": "DirectoryOrCreate"},
                     "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                         {"key": "kubernetes.io/hostname", "operator": "In", "values": [host]}]}]}},
                     "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "local-path"},
            "status": {"phase": "Bound"}}));
    }
    let app = format!("app-{i}");
    let labels = json!({"app": app});
    let spec = json!({"nodeSelector": {"kubernetes.io/hostname": pin},
        "containers": [{"name": "main", "image": "ghcr.io/example/app:1", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": name}}]});
    let dep_uid = format!("dep-uid-{i}");
    let rs_uid = format!("rs-uid-{i}");
    items.push(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": app, "namespace": NS, "uid": dep_uid, "creationTimestamp": T},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": spec}},
        "status": {"replicas": 1, "availableReplicas": 1}}));
    items.push(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": format!("{app}-5d9f"), "namespace": NS, "uid": rs_uid, "creationTimestamp": T,
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": app, "uid": dep_uid, "controller": true}]},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": spec}},
        "status": {"replicas": 1}}));
    let pod_name = format!("{app}-5d9f-x{i}");
    let pod_uid = format!("pod-uid-{i}");
    let running = broken == 0 || broken > 3;
    let mut pod_spec = spec.clone();
    if running {
        pod_spec["nodeName"] = host.clone().into();
    }
    items.push(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod_name, "namespace": NS, "uid": pod_uid, "creationTimestamp": T, "labels": labels,
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-5d9f"), "uid": rs_uid, "controller": true}]},
        "spec": pod_spec,
        "status": if running {
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}]})
        } else {
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/200 nodes are available: 1 node(s) had volume node affinity conflict, 199 node(s) didn't match Pod's node affinity/selector. preemption: 0/200 nodes are available: 200 Preemption is not helpful for scheduling."}]})
        }}));
    for j in 0..4 {
        items.push(event_core("PersistentVolumeClaim", &name, &pvc_uid, j, "ExternalProvisioning",
            "Waiting for a volume to be created either by the external provisioner 'rancher.io/local-path' or manually by the system administrator."));
        items.push(event_v1("Pod", &pod_name, &pod_uid, j, "FailedScheduling",
            "0/200 nodes are available: 1 node(s) had volume node affinity conflict, 199 node(s) didn't match Pod's node affinity/selector."));
    }
    if i.is_multiple_of(50) {
        items.push(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": app, "namespace": NS, "uid": format!("svc-uid-{i}")},
            "spec": {"selector": labels, "ports": [{"port": 80}]}}));
    }
}

fn generate(n: usize) -> String {
    let mut items = Vec::with_capacity(n * 13 + NODES + 2);
    items.push(json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "local-path", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"}));
    items.push(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "local-path-provisioner", "namespace": "kube-system"},
        "spec": {"selector": {"matchLabels": {"app": "p"}}, "template": {"spec": {"containers": [{"name": "p"}]}}},
        "status": {"availableReplicas": 1}}));
    items.extend((0..NODES).map(node));
    for i in 0..n {
        claim(i, &mut items);
    }
    serde_json::to_string(&json!({"apiVersion": "v1", "kind": "List", "items": items}))
        .expect("serialise")
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let out = f();
        best = best.min(start.elapsed());
        last = Some(out);
    }
    (best, last.expect("at least one run"))
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("sizes are numbers of claims"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1000, 5000, 20000]
    } else {
        sizes
    };
    let dir = std::env::temp_dir().join("labctl-bench");
    std::fs::create_dir_all(&dir).expect("temp dir");
    println!(
        "{:>7} {:>9} {:>9} {:>10} {:>10} {:>10} {:>9}",
        "claims", "objects", "MiB", "parse ms", "diagnose ms", "total ms", "findings"
    );
    for n in sizes {
        let path = dir.join(format!("snapshot-{n}.json"));
        // `JUDGE_ONLY=RUNS`: judge the snapshot an earlier run wrote, best of RUNS, nothing else
        // (for a profiler, or to compare two builds on the same file).
        if let Some(runs) = std::env::var("JUDGE_ONLY")
            .ok()
            .and_then(|r| r.parse::<usize>().ok())
        {
            let snapshot = labctl::snapshot::load_path(&path).expect("parse");
            let config = LabConfig::default();
            let scope = Scope::namespace(NS);
            let (d, _) = best_of(runs, || {
                diagnose_target(&snapshot, &config, &scope, Target::All)
            });
            eprintln!("{n} judge {:.1} ms", d.as_secs_f64() * 1e3);
            continue;
        }
        let text = generate(n);
        std::fs::write(&path, &text).expect("write snapshot");
        let mib = text.len() as f64 / (1024.0 * 1024.0);
        drop(text);
        let (parse, snapshot) = best_of(3, || labctl::snapshot::load_path(&path).expect("parse"));
        let config = LabConfig::default();
        let scope = Scope::namespace(NS);
        let (diag, d) = best_of(3, || {
            diagnose_target(&snapshot, &config, &scope, Target::All)
        });
        // Where judging goes: the indexes alone, then each diagnosis (each builds its index).
        let (index, _) = best_of(3, || {
            labctl::diagnose::index::Index::new(&snapshot).nodes.len()
        });
        let (pvc, _) = best_of(3, || {
            diagnose_target(&snapshot, &config, &scope, Target::Pvc)
        });
        let (pods, _) = best_of(3, || {
            diagnose_target(&snapshot, &config, &scope, Target::Pods)
        });
        eprintln!(
            "{n:>7} claims: index {:.0} ms, pvc {:.0} ms, pods {:.0} ms",
            index.as_secs_f64() * 1e3,
            pvc.as_secs_f64() * 1e3,
            pods.as_secs_f64() * 1e3
        );
        println!(
            "{n:>7} {:>9} {mib:>9.1} {:>10.0} {:>11.0} {:>10.0} {:>9}",
            snapshot.len(),
            parse.as_secs_f64() * 1e3,
            diag.as_secs_f64() * 1e3,
            (parse + diag).as_secs_f64() * 1e3,
            d.findings.len()
        );
    }
}
