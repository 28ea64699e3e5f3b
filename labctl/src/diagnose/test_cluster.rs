//! Small clusters built in code for the rules' unit tests: the lab's namespace, a `local-path`
//! class, nodes, a claim with its volume and a consumer, each a few lines of JSON as the API
//! server would return them. The integration fixtures (`tests/fixtures/generated`) cover every
//! finding as a whole cluster shows it; these isolate one rule's condition and its near miss.

use std::path::Path;

use serde_json::{Value, json};

use crate::config::LabConfig;
use crate::diagnose::finding::Diagnosis;
use crate::diagnose::scope::Scope;
use crate::diagnose::{Target, diagnose_target};
use crate::snapshot::ClusterSnapshot;

pub(crate) const NS: &str = "mlops-lab";
pub(crate) const HOST: &str = "kubernetes.io/hostname";

pub(crate) fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": NS, "uid": format!("uid-{name}"),
           "creationTimestamp": "2026-11-28T08:00:00Z"})
}

/// The k3s class: `rancher.io/local-path`, WaitForFirstConsumer, the default.
pub(crate) fn local_path() -> Value {
    json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
           "metadata": {"name": "local-path",
                        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
           "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"})
}

/// The running local-path provisioner.
pub(crate) fn provisioner() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "local-path-provisioner", "namespace": "kube-system", "uid": "uid-lpp"},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "lpp"}},
                    "template": {"spec": {"containers": [{"name": "p"}]}}},
           "status": {"replicas": 1, "availableReplicas": 1, "readyReplicas": 1}})
}

/// A Ready, schedulable node.
pub(crate) fn node(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": name, "uid": format!("uid-{name}"),
                        "labels": {HOST: name, "kubernetes.io/arch": "amd64"}},
           "status": {"conditions": [{"type": "Ready", "status": "True"}],
                      "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"}}})
}

/// A claim of `local-path` in `phase`, bound to `pvc-<name>` unless Pending.
pub(crate) fn claim(name: &str, phase: &str, modes: &[&str]) -> Value {
    let mut spec = json!({"accessModes": modes, "storageClassName": "local-path",
                          "resources": {"requests": {"storage": "1Gi"}}});
    if phase != "Pending" {
        spec["volumeName"] = format!("pvc-{name}").into();
    }
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta(name),
           "spec": spec, "status": {"phase": phase}})
}

/// The local-path volume of claim `name`, on node `host`.
pub(crate) fn volume(name: &str, host: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolume",
           "metadata": {"name": format!("pvc-{name}"), "uid": format!("uid-pv-{name}")},
           "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"},
                    "claimRef": {"kind": "PersistentVolumeClaim", "namespace": NS, "name": name,
                                 "uid": format!("uid-{name}")},
                    "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "local-path",
                    "hostPath": {"path": "/var/lib/rancher/k3s/storage/x"},
                    "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                        {"key": HOST, "operator": "In", "values": [host]}]}]}}},
           "status": {"phase": "Bound"}})
}

/// A pod template spec mounting `claim`, pinned to `pin` by hostname.
pub(crate) fn pod_spec(claim: &str, pin: &str) -> Value {
    json!({"nodeSelector": {HOST: pin},
           "containers": [{"name": "inference", "image": "ghcr.io/example/inference:0.1.0",
                           "volumeMounts": [{"name": "models", "mountPath": "/models"}]}],
           "volumes": [{"name": "models", "persistentVolumeClaim": {"claimName": claim}}]})
}

/// A Deployment of one replica whose pods mount `claim` on node `pin`.
pub(crate) fn deployment(name: &str, claim: &str, pin: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(name),
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec(claim, pin)}},
           "status": {"replicas": 1}})
}

/// A bare pod in `phase` with `spec`; `status` fields are merged into its status.
pub(crate) fn pod(name: &str, spec: Value, phase: &str, status: Value) -> Value {
    let mut st = json!({"phase": phase});
    if let (Some(st), Some(extra)) = (st.as_object_mut(), status.as_object()) {
        st.extend(extra.clone());
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta(name), "spec": spec, "status": st})
}

/// The objects as a snapshot, read by the snapshot reader as a file would be.
pub(crate) fn snapshot(items: Vec<Value>) -> ClusterSnapshot {
    let text = json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string();
    crate::snapshot::parse_str(&text, Path::new("test.json")).expect("valid objects")
}

/// Every diagnosis of the lab's namespace over `items`.
pub(crate) fn diagnose(items: Vec<Value>) -> Diagnosis {
    diagnose_target(
        &snapshot(items),
        &LabConfig::default(),
        &Scope::namespace(NS),
        Target::All,
    )
}

/// The ids of the findings over `items`.
pub(crate) fn ids(items: Vec<Value>) -> Vec<&'static str> {
    diagnose(items)
        .findings
        .iter()
        .map(|f| f.id.as_str())
        .collect()
}

/// The healthy base: the class, its provisioner, nodes `node-1` and `node-2`.
pub(crate) fn base() -> Vec<Value> {
    vec![local_path(), provisioner(), node("node-1"), node("node-2")]
}
