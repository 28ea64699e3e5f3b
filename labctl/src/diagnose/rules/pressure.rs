//! `node-pressure`: the kubelet evicted a pod because its node ran out of disk (a full SD card),
//! memory or process IDs, and the workload has no ready pod since. A free function from the
//! index to hits: it reads the pod's eviction, the node's pressure conditions and the kubelet's
//! events, and needs nothing of the other rules.
//!
//! An eviction the workload has recovered from (a ready pod runs again) is history: evicted
//! pods stay listed until someone deletes them, and they are no failure then.

use crate::diagnose::catalogue::FindingId;
use crate::diagnose::engine::evidence::event_line;
use crate::diagnose::engine::merge::Hit;
use crate::diagnose::finding::{Affected, ObjectRef};
use crate::diagnose::index::Index;
use crate::diagnose::scope::Scope;
use crate::k8s::model::Pod;
use crate::k8s::names::{name as meta_name, namespace as meta_ns};

/// The node conditions that make the kubelet evict pods and refuse new ones.
const PRESSURE: [&str; 3] = ["DiskPressure", "MemoryPressure", "PIDPressure"];

/// The `node-pressure` hits of the pods in scope.
pub(crate) fn evictions(ix: &Index<'_>, scope: &Scope) -> Vec<Hit> {
    ix.snapshot
        .pods
        .iter()
        .filter(|p| scope.includes_namespace(meta_ns(&p.metadata)))
        .filter(|p| is_evicted(p) && !recovered(ix, p))
        .map(|p| hit(ix, p))
        .collect()
}

/// Whether the kubelet evicted `pod` (phase `Failed`, reason `Evicted`).
pub(crate) fn is_evicted(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    status.and_then(|s| s.phase.as_deref()) == Some("Failed")
        && status.and_then(|s| s.reason.as_deref()) == Some("Evicted")
}

/// Whether the pod's workload runs a ready pod again (its replacement).
pub(crate) fn recovered(ix: &Index<'_>, pod: &Pod) -> bool {
    let Some((_, owner)) = ix.top_owner(&pod.metadata) else {
        return false;
    };
    let uid = owner.uid.as_deref();
    ix.snapshot.pods.iter().any(|other| {
        !std::ptr::eq(other, pod)
            && ix
                .top_owner(&other.metadata)
                .is_some_and(|(_, o)| o.uid.as_deref() == uid)
            && other.status.as_ref().is_some_and(|s| {
                s.phase.as_deref() == Some("Running")
                    && s.conditions
                        .iter()
                        .flatten()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
            })
    })
}

/// The resource the kubelet ran out of, from its eviction message (`The node was low on
/// resource: ephemeral-storage. …`, `The node had condition: [DiskPressure]. `).
fn resource(message: &str) -> Option<&str> {
    if let Some((_, rest)) = message.split_once("low on resource: ") {
        return rest.split(['.', ' ', ',']).next().filter(|r| !r.is_empty());
    }
    let (_, rest) = message.split_once("had condition: [")?;
    rest.split(']').next()
}

fn hit(ix: &Index<'_>, pod: &Pod) -> Hit {
    let ns = meta_ns(&pod.metadata);
    let name = meta_name(&pod.metadata);
    let node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("?");
    let message = pod
        .status
        .as_ref()
        .and_then(|s| s.message.as_deref())
        .unwrap_or("");
    let what = resource(message).unwrap_or("a resource");
    let mut evidence = vec![format!("Pod {ns}/{name}: Failed (Evicted): {message}")];
    let pressured: Vec<String> = ix
        .node_by_name
        .get(node)
        .and_then(|n| n.status.as_ref()?.conditions.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| PRESSURE.contains(&c.type_.as_str()) && c.status == "True")
        .map(|c| {
            format!(
                "Node {node}: {}=True {}: {}",
                c.type_,
                c.reason.as_deref().unwrap_or(""),
                c.message.as_deref().unwrap_or("")
            )
        })
        .collect();
    let still = !pressured.is_empty();
    evidence.extend(pressured);
    for e in ix
        .events_for("Pod", &pod.metadata)
        .filter(|e| e.reason == "Evicted")
    {
        evidence.push(event_line("Pod", ns, name, e));
    }
    let mut affected = vec![Affected {
        object: ObjectRef::namespaced("Pod", ns, name),
        state: Some("Evicted".to_owned()),
    }];
    if let Some(owner) = ix.top_owner_ref(&pod.metadata) {
        affected.push(Affected {
            object: owner,
            state: Some("no ready pod".to_owned()),
        });
    }
    let now = if still {
        "and it still is: the kubelet refuses new pods there"
    } else {
        "(the node no longer reports it)"
    };
    let free = match what {
        "ephemeral-storage" | "nodefs" | "imagefs" | "DiskPressure" => {
            "free disk space on the node (crictl rmi --prune removes unused images; old logs under /var/log; on a Raspberry Pi the SD card is often full), or give the pods' containers an ephemeral-storage limit"
        }
        "memory" | "MemoryPressure" => {
            "free memory on the node, or lower the pods' memory requests and limits to what they use"
        }
        _ => "free the resource on the node",
    };
    Hit {
        id: FindingId::NodePressure,
        root: ObjectRef::cluster("Node", node),
        summary: format!(
            "Pod {name} was evicted: node {node} ran low on {what} {now}, and its workload has no ready pod since"
        ),
        group_summary: Some(format!(
            "{{n}} pods were evicted: node {node} ran low on {what} {now}"
        )),
        evidence,
        affected,
        remediation: format!(
            "On node {node}: {free}. Then delete the evicted pods (kubectl -n {ns} delete pod --field-selector=status.phase==Failed); \
             their workload makes new ones. Confirm: kubectl describe node {node} (Conditions: DiskPressure, MemoryPressure, PIDPressure False)."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_comes_from_the_kubelets_eviction_message() {
        assert_eq!(
            resource(
                "The node was low on resource: ephemeral-storage. Threshold quantity: 1Gi, available: 524Mi."
            ),
            Some("ephemeral-storage")
        );
        assert_eq!(
            resource("The node was low on resource: memory. Container x was using 900Mi."),
            Some("memory")
        );
        assert_eq!(
            resource("The node had condition: [DiskPressure]. "),
            Some("DiskPressure")
        );
        assert_eq!(resource("something else"), None);
    }
}
