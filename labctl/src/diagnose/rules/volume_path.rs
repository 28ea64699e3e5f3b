//! `volume-path-missing`: a bound node-local volume whose directory is gone from its node (the
//! SD card re-flashed, the directory removed by hand): the kubelet cannot mount it, and the pods
//! that use it stay `ContainerCreating`. Only the kubelet's `FailedMount` event says so:
//! `MountVolume.NewMounter initialization failed for volume "pvc-…" : path "…" does not exist`.
//! A free function from the index to hits.

use crate::diagnose::catalogue::FindingId;
use crate::diagnose::engine::evidence::event_line;
use crate::diagnose::engine::merge::Hit;
use crate::diagnose::finding::{Affected, ObjectRef};
use crate::diagnose::index::Index;
use crate::diagnose::scope::Scope;
use crate::k8s::names::{name as meta_name, namespace as meta_ns};

/// The `volume-path-missing` hits of the pods in scope that are not running.
pub(crate) fn missing(ix: &Index<'_>, scope: &Scope) -> Vec<Hit> {
    let mut hits = Vec::new();
    for pod in ix
        .snapshot
        .pods
        .iter()
        .filter(|p| scope.includes_namespace(meta_ns(&p.metadata)))
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending"))
    {
        let ns = meta_ns(&pod.metadata);
        let name = meta_name(&pod.metadata);
        let Some((event, volume, path)) = ix
            .events_for("Pod", &pod.metadata)
            .filter(|e| e.reason == "FailedMount")
            .filter_map(|e| parse(e.message).map(|(v, p)| (e, v, p)))
            .max_by_key(|(e, _, _)| e.last_seen)
        else {
            continue;
        };
        let pv = ix.pv_by_name.get(volume).copied();
        let node = pv
            .and_then(|pv| crate::k8s::placement::pv_pin(pv))
            .map(|(_, value)| value)
            .or_else(|| pod.spec.as_ref().and_then(|s| s.node_name.as_deref()))
            .unwrap_or("?");
        let claim = pv
            .and_then(|pv| pv.spec.as_ref()?.claim_ref.as_ref())
            .map(|c| {
                (
                    c.namespace.clone().unwrap_or_default(),
                    c.name.clone().unwrap_or_default(),
                )
            });
        let mut evidence = vec![event_line("Pod", ns, name, event)];
        if let Some(pv) = pv {
            evidence.push(crate::diagnose::engine::evidence::pv_line(pv));
        }
        let mut affected = vec![Affected {
            object: ObjectRef::namespaced("Pod", ns, name),
            state: Some("Pending (ContainerCreating)".to_owned()),
        }];
        if let Some(owner) = ix.top_owner_ref(&pod.metadata) {
            affected.push(Affected {
                object: owner,
                state: None,
            });
        }
        let recreate = match &claim {
            Some((cns, cname)) => format!(
                "or, to start empty, delete the claim and its volume so local-path provisions a new one \
                 (kubectl -n {cns} delete pvc {cname}; with Argo CD it re-creates the claim from Git), then run the trainer again"
            ),
            None => "or delete the volume and its claim so a new one is provisioned".to_owned(),
        };
        hits.push(Hit {
            id: FindingId::VolumePathMissing,
            root: ObjectRef::cluster("PersistentVolume", volume),
            summary: format!(
                "PersistentVolume {volume} cannot be mounted: its directory {path} does not exist on node {node} (the data is gone)"
            ),
            group_summary: Some(format!(
                "{{n}} pods cannot mount PersistentVolume {volume}: its directory {path} does not exist on node {node}"
            )),
            evidence,
            affected,
            remediation: format!(
                "The volume's data is gone from node {node}. Either re-create the directory on the node \
                 (mkdir -p {path}; chmod 0777 {path}, as local-path creates it) and publish a model again, \
                 {recreate}. Confirm: kubectl -n {ns} get pod {name} (Running)."
            ),
        });
    }
    hits
}

/// `(volume, path)` of the kubelet's `MountVolume.NewMounter initialization failed for volume
/// "pvc-…" : path "…" does not exist`.
fn parse(message: &str) -> Option<(&str, &str)> {
    if !message.contains("does not exist") {
        return None;
    }
    let (_, rest) = message.split_once("for volume \"")?;
    let (volume, rest) = rest.split_once('"')?;
    let (_, rest) = rest.split_once("path \"")?;
    let (path, _) = rest.split_once('"')?;
    Some((volume, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_volume_and_path_come_from_the_kubelets_message() {
        assert_eq!(
            parse(
                r#"MountVolume.NewMounter initialization failed for volume "pvc-1758301a" : path "/var/lib/rancher/k3s/storage/pvc-1758301a_mlops-lab_models" does not exist"#
            ),
            Some((
                "pvc-1758301a",
                "/var/lib/rancher/k3s/storage/pvc-1758301a_mlops-lab_models"
            ))
        );
        assert_eq!(
            parse(r#"MountVolume.SetUp failed for volume "config" : configmap "x" not found"#),
            None
        );
    }
}
