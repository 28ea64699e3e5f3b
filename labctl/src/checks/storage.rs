//! Storage: the StorageClass and its provisioner before deploying; the model claim bound and
//! its volume on the node the workloads are pinned to afterwards.

use crate::k8s::model::{Deployment, PersistentVolume};
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;

use super::available::evaluate_deployment_available;
use super::cluster::Cluster;
use super::{CheckError, Outcome};
use crate::config::LabConfig;
use crate::context::Context;
use crate::fetch;
use crate::k8s::names;
use crate::k8s::placement::{self, node_selector_value};
use crate::k8s::workload::{cron_job_pod_spec, deployment_pod_spec};

pub fn evaluate_storage_class(sc: Option<&StorageClass>, name: &str) -> Outcome {
    let Some(sc) = sc else {
        return Outcome::fail(format!("StorageClass {name} not found"));
    };
    let mode = sc.volume_binding_mode.as_deref().unwrap_or("Immediate");
    if mode == "WaitForFirstConsumer" {
        Outcome::pass(format!("{name}: {}, WaitForFirstConsumer", sc.provisioner))
    } else {
        Outcome::fail(format!(
            "StorageClass {name} binds {mode}, not WaitForFirstConsumer"
        ))
        .with(
            "Immediate binding may put the node-local volume on a node the pods are not pinned to",
        )
    }
}

pub async fn storageclass_local_path(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = super::client(ctx).await?;
    let name = &ctx.config.storage_class;
    let sc: Option<StorageClass> = fetch::get_cluster(&client, name).await?;
    Ok(evaluate_storage_class(sc.as_ref(), name))
}

pub async fn local_path_provisioner_available(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = super::client(ctx).await?;
    for candidate in &ctx.config.provisioner_deployments {
        let d: Option<Deployment> =
            fetch::get_namespaced(&client, &candidate.namespace, &candidate.name).await?;
        if let Some(d) = d {
            let what = format!("Deployment {}/{}", candidate.namespace, candidate.name);
            return Ok(evaluate_deployment_available(Some(&d), &what));
        }
    }
    let places: Vec<String> = ctx
        .config
        .provisioner_deployments
        .iter()
        .map(|c| format!("{}/{}", c.namespace, c.name))
        .collect();
    Ok(Outcome::fail("the local-path provisioner is not installed")
        .with(format!("looked for: {}", places.join(", "))))
}

#[cfg(test)]
mod storage_class_tests {
    use super::*;
    use crate::checks::Status;
    use crate::checks::test_objects::*;

    use k8s_openapi::api::storage::v1::StorageClass;

    fn storage_class(mode: Option<&str>) -> StorageClass {
        StorageClass {
            metadata: meta("local-path"),
            provisioner: "rancher.io/local-path".into(),
            volume_binding_mode: mode.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn wait_for_first_consumer_storage_class_passes() {
        let o = evaluate_storage_class(
            Some(&storage_class(Some("WaitForFirstConsumer"))),
            "local-path",
        );
        assert_eq!(o.status, Status::Pass, "{o:?}");
    }

    #[test]
    fn immediate_or_missing_storage_class_fails() {
        assert_eq!(
            evaluate_storage_class(Some(&storage_class(None)), "local-path").status,
            Status::Fail
        );
        assert_eq!(
            evaluate_storage_class(None, "local-path").status,
            Status::Fail
        );
    }
}

pub fn evaluate_pvc(pvc: Option<&PersistentVolumeClaim>, name: &str) -> Outcome {
    let Some(pvc) = pvc else {
        return Outcome::fail(format!("PVC {name} not found"));
    };
    let phase = pvc
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Unknown");
    let volume = pvc.spec.as_ref().and_then(|s| s.volume_name.as_deref());
    let selected = pvc
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("volume.kubernetes.io/selected-node"));
    match (phase, volume) {
        ("Bound", Some(v)) => Outcome::pass(format!("{name} bound to {v}")),
        _ => {
            let mut o = Outcome::fail(format!("PVC {name} is {phase}"));
            o = match selected {
                Some(node) => o.with(format!("selected node {node}: the provisioner has not created the volume")),
                None => o.with("no consumer scheduled yet (WaitForFirstConsumer): is the trainer or inference pod Pending?"),
            };
            o
        }
    }
}

pub fn pvc_bound(cluster: &Cluster, c: &LabConfig) -> Result<Outcome, CheckError> {
    let claims = &cluster.snapshot.persistent_volume_claims;
    let pvc = cluster.get(claims, Some(&c.namespace), &c.pvc)?;
    Ok(evaluate_pvc(pvc, &c.pvc))
}

/// Whether the volume is on exactly one node and both workloads are pinned there. The volume's
/// node is every node its node affinity matches ([`placement::volume_nodes`]); a pin `key=value`
/// is there when that node carries the label.
pub fn evaluate_pv_affinity(
    pv: Option<&PersistentVolume>,
    nodes: &[Node],
    deployment_pin: Option<&str>,
    cronjob_pin: Option<&str>,
    key: &str,
) -> Outcome {
    let Some(pv) = pv else {
        return Outcome::fail("the PVC has no PersistentVolume yet");
    };
    let pv_name = pv.metadata.name.as_deref().unwrap_or("<pv>");
    let nodes: Vec<&Node> = nodes.iter().collect();
    // A volume without node affinity is not node-local: it is on no one node.
    let held = match placement::pv_affinity(pv) {
        Some(_) => placement::volume_nodes(pv, &nodes),
        None => Vec::new(),
    };
    let [node] = held.as_slice() else {
        let names: Vec<&str> = held.iter().map(|n| names::name(&n.metadata)).collect();
        return Outcome::fail(format!(
            "PV {pv_name} is not restricted to exactly one node ({names:?})"
        ));
    };
    let node_label = node.metadata.labels.as_ref().and_then(|l| l.get(key));
    let node = names::name(&node.metadata);
    let mut problems = Vec::new();
    for (what, pin) in [("Deployment", deployment_pin), ("CronJob", cronjob_pin)] {
        match pin {
            None => problems.push(format!("{what} has no nodeSelector {key}")),
            Some(p) if node_label.map(String::as_str) != Some(p) => {
                problems.push(format!("{what} is pinned to {p}, the volume is on {node}"))
            }
            Some(_) => {}
        }
    }
    if problems.is_empty() {
        Outcome::pass(format!(
            "PV {pv_name} and both workloads are on node {node}"
        ))
    } else {
        Outcome::fail(format!(
            "PV {pv_name} is on node {node} but the workloads are not pinned there"
        ))
        .with_all(problems)
    }
}

pub fn pv_node_affinity(cluster: &Cluster, c: &LabConfig) -> Result<Outcome, CheckError> {
    let s = &cluster.snapshot;
    let ns = Some(c.namespace.as_str());
    let pvc = cluster.get(&s.persistent_volume_claims, ns, &c.pvc)?;
    let deploy = cluster.get(&s.deployments, ns, &c.deployment)?;
    let cj = cluster.get(&s.cron_jobs, ns, &c.cronjob)?;
    let volume = pvc
        .and_then(|p| p.spec.as_ref())
        .and_then(|s| s.volume_name.as_deref());
    let pv = match volume {
        Some(v) => cluster.get(&s.persistent_volumes, None, v)?,
        None => None,
    };
    // Every node: cluster-scoped, so the list is the snapshot's whole list.
    cluster.list(&s.nodes, None)?;
    let key = &c.pin_label_key;
    Ok(evaluate_pv_affinity(
        pv,
        &s.nodes,
        node_selector_value(deploy.and_then(deployment_pod_spec), key),
        node_selector_value(cj.and_then(cron_job_pod_spec), key),
        key,
    ))
}

#[cfg(test)]
mod claim_tests {
    use super::*;
    use crate::checks::Status;
    use crate::checks::test_objects::*;

    use k8s_openapi::api::core::v1::*;

    use crate::k8s::model::{PersistentVolume, PersistentVolumeSpec};

    fn pvc(phase: &str, volume: Option<&str>) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            metadata: meta("models"),
            spec: Some(PersistentVolumeClaimSpec {
                volume_name: volume.map(Into::into),
                ..Default::default()
            }),
            status: Some(PersistentVolumeClaimStatus {
                phase: Some(phase.into()),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn bound_pvc_passes() {
        assert_eq!(
            evaluate_pvc(Some(&pvc("Bound", Some("pvc-1"))), "models").status,
            Status::Pass
        );
    }

    #[test]
    fn pending_or_missing_pvc_fails() {
        let o = evaluate_pvc(Some(&pvc("Pending", None)), "models");
        assert_eq!(o.status, Status::Fail);
        assert!(o.evidence[0].contains("WaitForFirstConsumer"));
        assert_eq!(evaluate_pvc(None, "models").status, Status::Fail);
    }

    fn pv(node: &str) -> PersistentVolume {
        PersistentVolume {
            metadata: meta("pvc-1"),
            spec: Some(PersistentVolumeSpec {
                node_affinity: Some(VolumeNodeAffinity {
                    required: Some(NodeSelector {
                        node_selector_terms: vec![NodeSelectorTerm {
                            match_expressions: Some(vec![NodeSelectorRequirement {
                                key: HOST.into(),
                                operator: "In".into(),
                                values: Some(vec![node.into()]),
                            }]),
                            ..Default::default()
                        }],
                    }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn nodes() -> [Node; 2] {
        [
            crate::k8s::nodes::tests::node("n1", "n1"),
            crate::k8s::nodes::tests::node("n2", "n2"),
        ]
    }

    #[test]
    fn pv_on_the_pinned_node_passes() {
        assert_eq!(
            evaluate_pv_affinity(Some(&pv("n1")), &nodes(), Some("n1"), Some("n1"), HOST).status,
            Status::Pass
        );
    }

    #[test]
    fn pv_elsewhere_or_unpinned_workload_fails() {
        let o = evaluate_pv_affinity(Some(&pv("n1")), &nodes(), Some("n2"), Some("n1"), HOST);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.evidence,
            ["Deployment is pinned to n2, the volume is on n1"]
        );
        let o = evaluate_pv_affinity(Some(&pv("n1")), &nodes(), Some("n1"), None, HOST);
        assert!(o.evidence[0].contains("CronJob has no nodeSelector"));
        assert_eq!(
            evaluate_pv_affinity(None, &nodes(), Some("n1"), Some("n1"), HOST).status,
            Status::Fail
        );
    }
}
