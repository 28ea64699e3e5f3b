//! The causes the never-silent sweep names from an object's own state, when no rule named the
//! object first: a pod held by scheduling gates, a volume the kubelet cannot attach or mount,
//! a rollout past its progress deadline or whose pods cannot be created, a host no route
//! serves; and, when none of them fits, `unexplained-failure` with how to read the raw state.
//!
//! Pure functions of the objects and their events. The wordings read here are Kubernetes'
//! own (1.20 to 1.36): the kubelet's `FailedMount` (`Unable to attach or mount volumes:
//! unmounted volumes=[…], unattached volumes=[…]…: timed out waiting for the condition`,
//! `context deadline exceeded` since the poll took a context), the volume operations'
//! `<operation> failed for volume "<name>" : <detail>`, the attach/detach controller's
//! `Multi-Attach error for volume "<name>" Volume is already used by pod(s) …`, the
//! Deployment controller's `ReplicaSet "<name>" has timed out progressing.` and the ReplicaSet
//! controller's `FailedCreate`.

use crate::config::LabConfig;
use crate::diagnose::catalogue::FindingId;
use crate::diagnose::finding::ObjectRef;
use crate::diagnose::index::{EventRecord, Index};
use crate::k8s::model::{Deployment, Pod};
use crate::k8s::names::{name as meta_name, namespace as meta_ns};

/// A cause the sweep names: its finding, what happened, and the fix.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cause {
    pub(crate) id: FindingId,
    pub(crate) summary: String,
    pub(crate) remediation: String,
}

impl Cause {
    /// `unexplained-failure`: what to read, and how to report the case.
    pub(crate) fn unexplained(object: &ObjectRef, state: &str) -> Self {
        let (kind, name) = (object.kind.to_lowercase(), &object.name);
        let ns = object.namespace.as_deref().unwrap_or_default();
        Cause {
            id: FindingId::UnexplainedFailure,
            summary: format!("{object} is failing and no rule explains why: {state}"),
            remediation: format!(
                "labctl knows no cause for this yet. Read the state and the events above, and the \
                 object's own account: kubectl -n {ns} describe {kind} {name}; kubectl -n {ns} get \
                 events --field-selector involvedObject.name={name}. Then report the case with \
                 `labctl snapshot -f snapshot.json` attached, so a rule can learn it (see the \
                 runbook)."
            ),
        }
    }

    /// `host-not-routed`: the route of the lab's host is missing or leads to no Service port.
    pub(crate) fn host_not_routed(config: &LabConfig, kind: &str, name: &str, state: &str) -> Self {
        let ns = &config.namespace;
        Cause {
            id: FindingId::HostNotRouted,
            summary: format!("requests for {} reach no Service: {state}", config.host),
            remediation: format!(
                "In Git: route host {host} to Service {svc} on a port it declares ({kind} {name} in manifests/); \
                 Argo CD applies it. Confirm: kubectl -n {ns} get {kinds} -o wide, then labctl predict 4.2",
                host = config.host,
                svc = config.service,
                kinds = kind.to_lowercase(),
            ),
        }
    }

    /// `scheduling-gated`: the pod still carries scheduling gates (or the scheduler reports it
    /// `SchedulingGated`), so it is never considered for a node. `in_template` says whether
    /// the gates come from its workload's pod template, that is from Git.
    pub(crate) fn scheduling_gated(pod: &Pod, in_template: bool) -> Option<Self> {
        let gates: Vec<&str> = pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduling_gates.as_ref())
            .into_iter()
            .flatten()
            .map(|g| g.name.as_str())
            .collect();
        let reported = crate::k8s::pod::unscheduled_condition(pod)
            .is_some_and(|(reason, _)| reason == "SchedulingGated");
        if gates.is_empty() && !reported {
            return None;
        }
        let (ns, name) = (meta_ns(&pod.metadata), meta_name(&pod.metadata));
        let listed = if gates.is_empty() {
            "its scheduling gates".to_owned()
        } else {
            format!("scheduling gate(s) {}", gates.join(", "))
        };
        let remediation = if in_template {
            format!(
                "The gates are in the pod template, so every new pod waits for a controller to remove them. \
                 If no controller of this cluster owns {listed}, remove them from the template in Git \
                 (manifests/); Argo CD applies it. Confirm: kubectl -n {ns} get pods -o \
                 custom-columns=NAME:.metadata.name,GATES:.spec.schedulingGates"
            )
        } else {
            format!(
                "A controller or admission webhook added {listed} and has not removed them: find which \
                 (a queueing controller such as Kueue, a policy webhook) and why it holds the pod, in its \
                 own status and logs. Confirm: kubectl -n {ns} get pod {name} -o jsonpath='{{.spec.schedulingGates}}'"
            )
        };
        Some(Cause {
            id: FindingId::SchedulingGated,
            summary: format!(
                "pod {name} is held by {listed}: the scheduler does not consider it until they are removed"
            ),
            remediation,
        })
    }

    /// `volume-mount-failed`: the kubelet's `FailedMount` or the attach/detach controller's
    /// `FailedAttachVolume` about the pod (Warning events, newest first). The most specific
    /// message wins: an operation's own error over the kubelet's summary that it gave up.
    pub(crate) fn volume_mount(
        ix: &Index<'_>,
        pod: &Pod,
        events: &[&EventRecord<'_>],
    ) -> Option<Self> {
        let failures: Vec<&EventRecord<'_>> = events
            .iter()
            .copied()
            .filter(|e| matches!(e.reason, "FailedMount" | "FailedAttachVolume"))
            .collect();
        let specific = failures.iter().find(|e| !is_give_up(e.message));
        let event = specific.or(failures.first())?;
        let (ns, name) = (meta_ns(&pod.metadata), meta_name(&pod.metadata));
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or("its node");
        let failure = MountFailure::read(event.message);
        // Events name the pod's volume (`models`) or, from the attach side, the
        // PersistentVolume (`pvc-…`): either leads to the claim.
        let claim_of = |volume: &str| -> String {
            let by_pod_volume = pod
                .spec
                .as_ref()
                .and_then(|s| s.volumes.as_ref())
                .into_iter()
                .flatten()
                .find(|v| v.name == volume)
                .and_then(|v| v.persistent_volume_claim.as_ref())
                .map(|c| c.claim_name.as_str());
            let by_pv = || {
                let pv = ix.pv_by_name.get(volume)?;
                pv.spec.as_ref()?.claim_ref.as_ref()?.name.as_deref()
            };
            by_pod_volume
                .or_else(by_pv)
                .map_or_else(String::new, |c| format!(" (claim {c})"))
        };
        let look =
            format!("Confirm: kubectl -n {ns} describe pod {name}; kubectl get volumeattachments");
        let (summary, remediation) = match failure {
            MountFailure::MultiAttach { volume, holders } => (
                format!(
                    "volume {volume}{} of pod {name} is still attached for {holders} on another node: a \
                     ReadWriteOnce volume attaches to one node at a time",
                    claim_of(&volume)
                ),
                format!(
                    "The other pod must let go first; it is usually the previous pod of a rolling update, \
                     started on another node. In Git (manifests/): give the Deployment `strategy: Recreate`, \
                     so the old pod stops before the new one starts, or pin its pods to one node. Until then, \
                     deleting the old pod frees the volume. {look}"
                ),
            ),
            MountFailure::Operation {
                operation,
                volume,
                detail,
            } => (
                format!(
                    "{operation} failed for volume {volume}{} of pod {name} on {node}: {detail}",
                    claim_of(&volume)
                ),
                format!(
                    "The detail is the volume plugin's or CSI driver's own answer: fix what it names, then \
                     read its node plugin's log on {node} if it is not clear. The kubelet retries by itself; \
                     the pod starts once the volume mounts. {look}"
                ),
            ),
            MountFailure::GaveUp { unmounted, tail } => (
                format!(
                    "the kubelet on {node} gave up mounting volume(s) {unmounted} of pod {name} ({tail}); \
                     no more specific error was recorded"
                ),
                format!(
                    "The kubelet waited two minutes for the volume and recorded no reason: read its log on \
                     {node} for the volume, and the storage driver's (for a node-local volume, its directory \
                     on {node}: see volume-path-missing in the runbook). {look}"
                ),
            ),
        };
        Some(Cause {
            id: FindingId::VolumeMountFailed,
            summary,
            remediation,
        })
    }

    /// `rollout-stuck`: a Deployment whose rollout stopped progressing (`Progressing=False`,
    /// `ProgressDeadlineExceeded`) or whose ReplicaSet cannot create pods (`FailedCreate`),
    /// while none of its pods is named by a finding.
    pub(crate) fn rollout(
        deployment: &Deployment,
        replica_set_events: &[&EventRecord<'_>],
    ) -> Option<Self> {
        let (ns, name) = (
            meta_ns(&deployment.metadata),
            meta_name(&deployment.metadata),
        );
        let conditions = deployment
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref());
        let stalled = conditions
            .into_iter()
            .flatten()
            .find(|c| c.type_ == "Progressing" && c.status == "False");
        let create = replica_set_events
            .iter()
            .find(|e| e.type_ == "Warning" && e.reason == "FailedCreate");
        let confirm = format!("Confirm: kubectl -n {ns} rollout status deployment/{name}");
        let (summary, remediation) = match (create, stalled) {
            (Some(e), _) => {
                let why = refusal(e.message);
                (
                    format!(
                        "Deployment {name}'s ReplicaSet {} cannot create pods: {}",
                        e.object_name, e.message
                    ),
                    format!(
                        "The API server refuses the pods the template describes: {why}. Change the template \
                         (or the namespace's policy) in Git (manifests/); Argo CD applies it and the \
                         ReplicaSet creates the pods. {confirm}"
                    ),
                )
            }
            (None, Some(c)) => {
                let deadline = deployment
                    .spec
                    .as_ref()
                    .and_then(|s| s.progress_deadline_seconds)
                    .unwrap_or(600);
                (
                    format!(
                        "Deployment {name}'s rollout exceeded its progress deadline ({deadline} s): {}",
                        c.message.as_deref().unwrap_or("").trim()
                    ),
                    format!(
                        "The new pods never became available in time and no other finding says why: read the \
                         newest ReplicaSet's pods and events (kubectl -n {ns} describe rs -l <the template's \
                         labels>). Fix the template in Git (manifests/), or roll back by reverting the \
                         commit; Argo CD applies it. {confirm}"
                    ),
                )
            }
            (None, None) => return None,
        };
        Some(Cause {
            id: FindingId::RolloutStuck,
            summary,
            remediation,
        })
    }
}

/// Whether a `FailedMount` message is the kubelet's summary that it stopped waiting (no
/// reason of its own).
fn is_give_up(message: &str) -> bool {
    message.starts_with("Unable to attach or mount volumes")
        || message.starts_with("Unable to mount volumes")
}

/// What one volume event says.
#[derive(Debug, Clone, PartialEq)]
enum MountFailure {
    /// The attach/detach controller: the volume is attached elsewhere for other pods.
    MultiAttach { volume: String, holders: String },
    /// A volume operation's error: `<operation> failed for volume "<v>" : <detail>`.
    Operation {
        operation: String,
        volume: String,
        detail: String,
    },
    /// The kubelet's timeout: which volumes stayed unmounted, and how it ended.
    GaveUp { unmounted: String, tail: String },
}

impl MountFailure {
    fn read(message: &str) -> Self {
        if let Some(rest) = message.strip_prefix("Multi-Attach error for volume ") {
            let (volume, after) = quoted(rest);
            let holders = after
                .trim()
                .strip_prefix("Volume is already used by ")
                .or_else(|| {
                    after
                        .trim()
                        .strip_prefix("Volume is already exclusively attached to ")
                })
                .unwrap_or(after.trim())
                .to_owned();
            return MountFailure::MultiAttach { volume, holders };
        }
        if let Some((operation, rest)) = message.split_once(" failed for volume ") {
            let (volume, after) = quoted(rest);
            let detail = after.trim().trim_start_matches(':').trim().to_owned();
            return MountFailure::Operation {
                operation: operation.trim().to_owned(),
                volume,
                detail,
            };
        }
        let unmounted = message
            .split_once("unmounted volumes=")
            .map(|(_, r)| r.split(']').next().unwrap_or("").to_owned() + "]")
            .unwrap_or_else(|| "[?]".to_owned());
        let tail = message
            .rsplit(": ")
            .next()
            .unwrap_or(message)
            .trim()
            .to_owned();
        MountFailure::GaveUp { unmounted, tail }
    }
}

/// `"name" rest` → (`name`, `rest`); a name without quotes runs to the first space.
fn quoted(text: &str) -> (String, &str) {
    let text = text.trim_start();
    if let Some(inner) = text.strip_prefix('"')
        && let Some((name, rest)) = inner.split_once('"')
    {
        return (name.to_owned(), rest);
    }
    match text.split_once(' ') {
        Some((name, rest)) => (name.to_owned(), rest),
        None => (text.to_owned(), ""),
    }
}

/// What refused a pod's creation, by the API server's wording.
fn refusal(message: &str) -> &'static str {
    if message.contains("exceeded quota") {
        "a ResourceQuota of the namespace (lower the requests and limits, or raise the quota)"
    } else if message.contains("violates PodSecurity") {
        "the namespace's Pod Security level (give the pod the securityContext the level asks for)"
    } else if message.contains("admission webhook") {
        "an admission webhook (its message says what it wants)"
    } else if message.contains("must specify limits") || message.contains("LimitRange") {
        "a LimitRange of the namespace"
    } else if message.contains("serviceaccount") {
        "the ServiceAccount the template names does not exist"
    } else {
        "read its message above"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubelets_and_controllers_volume_wordings_are_read() {
        // The attach/detach controller (pkg/controller/volume/attachdetach/reconciler).
        assert_eq!(
            MountFailure::read(
                r#"Multi-Attach error for volume "pvc-3f0c" Volume is already used by pod(s) inference-7d9c-x2k4p"#
            ),
            MountFailure::MultiAttach {
                volume: "pvc-3f0c".into(),
                holders: "pod(s) inference-7d9c-x2k4p".into()
            }
        );
        // A CSI driver's answer through the operation executor.
        assert_eq!(
            MountFailure::read(
                r#"AttachVolume.Attach failed for volume "pvc-3f0c" : rpc error: code = DeadlineExceeded desc = context deadline exceeded"#
            ),
            MountFailure::Operation {
                operation: "AttachVolume.Attach".into(),
                volume: "pvc-3f0c".into(),
                detail: "rpc error: code = DeadlineExceeded desc = context deadline exceeded"
                    .into()
            }
        );
        // The kubelet's timeout, before and after its poll took a context.
        for (message, tail) in [
            (
                "Unable to attach or mount volumes: unmounted volumes=[models], unattached volumes=[models kube-api-access-x2x4b]: timed out waiting for the condition",
                "timed out waiting for the condition",
            ),
            (
                "Unable to attach or mount volumes: unmounted volumes=[models], unattached volumes=[], failed to process volumes=[]: context deadline exceeded",
                "context deadline exceeded",
            ),
        ] {
            assert_eq!(
                MountFailure::read(message),
                MountFailure::GaveUp {
                    unmounted: "[models]".into(),
                    tail: tail.into()
                }
            );
            assert!(is_give_up(message));
        }
        assert!(!is_give_up(
            r#"MountVolume.SetUp failed for volume "x" : y"#
        ));
    }

    #[test]
    fn a_refusal_names_what_refused() {
        assert!(
            refusal(r#"Error creating: pods "inference-5c9-" is forbidden: exceeded quota: compute, requested: limits.memory=2Gi"#)
                .contains("ResourceQuota")
        );
        assert!(
            refusal(r#"Error creating: pods "inference-5c9-x" is forbidden: violates PodSecurity "restricted:latest": runAsNonRoot != true"#)
                .contains("Pod Security")
        );
        assert_eq!(refusal("something new"), "read its message above");
    }
}
