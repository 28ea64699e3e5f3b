//! The findings catalogue as data: every id the engine can report, with its severity, a title
//! and the runbook anchor. Ids and severities are a public contract: scripts match on them, and `runbooks/failure-modes.md` has one section per id.

use serde::Serialize;

pub use crate::severity::Severity;

/// The runbook every hint points into.
pub const RUNBOOK: &str = "runbooks/failure-modes.md";

/// A finding id. The order is the catalogue order (used to sort output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingId {
    PvcWaitingForConsumer,
    PvNodeAffinityConflict,
    ConsumersPinnedToDifferentNodes,
    PvNodeMissing,
    PvNodeUnavailable,
    SelectedNodeStale,
    ProvisioningFailed,
    NodeSelectorMatchesNoNode,
    StorageclassMissing,
    ProvisionerNotRunning,
    AccessModeUnsupported,
    PvcTerminatingInUse,
    PvReleasedNotRebound,
    PvcLost,
    SyncWaveDeadlock,
    InsufficientResources,
    PinNodeUnavailable,
    ImagePullFailed,
    ImagePlatformMismatch,
    ContainerCrashLooping,
    ContainerOomKilled,
    ContainerStartFailed,
    TrainerJobFailed,
    ReadinessFailing,
    ConfigMissing,
    NodePressure,
    VolumePathMissing,
    ServiceSelectsNoPod,
    HostNotRouted,
    SchedulingGated,
    VolumeMountFailed,
    RolloutStuck,
    PvcConsumersIdle,
    UnexplainedFailure,
}

/// What a finding is: the spec of one catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FindingSpec {
    /// Stable kebab-case id, also the runbook anchor (as a check's `id`).
    pub id: &'static str,
    /// The typed id the engine records.
    pub finding: FindingId,
    pub severity: Severity,
    /// What the finding means, in a few words.
    pub title: &'static str,
}

impl FindingSpec {
    /// `runbooks/failure-modes.md#<id>`.
    pub fn hint(&self) -> String {
        format!("{RUNBOOK}#{}", self.id)
    }
}

const fn entry(
    finding: FindingId,
    id: &'static str,
    severity: Severity,
    title: &'static str,
) -> FindingSpec {
    FindingSpec {
        id,
        finding,
        severity,
        title,
    }
}

/// Every finding, in catalogue order.
pub const CATALOGUE: [FindingSpec; 34] = [
    entry(
        FindingId::PvcWaitingForConsumer,
        "pvc-waiting-for-consumer",
        Severity::Info,
        "WaitForFirstConsumer claim has no scheduled consumer yet",
    ),
    entry(
        FindingId::PvNodeAffinityConflict,
        "pv-node-affinity-conflict",
        Severity::Error,
        "consumer is pinned to another node than its node-local volume",
    ),
    entry(
        FindingId::ConsumersPinnedToDifferentNodes,
        "consumers-pinned-to-different-nodes",
        Severity::Error,
        "consumers of one node-local claim are pinned to different nodes",
    ),
    entry(
        FindingId::PvNodeMissing,
        "pv-node-missing",
        Severity::Error,
        "the node that holds the volume does not exist",
    ),
    entry(
        FindingId::PvNodeUnavailable,
        "pv-node-unavailable",
        Severity::Error,
        "the node that holds the volume cannot run the consumers",
    ),
    entry(
        FindingId::SelectedNodeStale,
        "selected-node-stale",
        Severity::Error,
        "the claim's selected node does not exist",
    ),
    entry(
        FindingId::ProvisioningFailed,
        "provisioning-failed",
        Severity::Error,
        "the provisioner failed to create the volume",
    ),
    entry(
        FindingId::NodeSelectorMatchesNoNode,
        "node-selector-matches-no-node",
        Severity::Error,
        "a consumer's node selector matches no node",
    ),
    entry(
        FindingId::StorageclassMissing,
        "storageclass-missing",
        Severity::Error,
        "the claim's StorageClass does not exist",
    ),
    entry(
        FindingId::ProvisionerNotRunning,
        "provisioner-not-running",
        Severity::Error,
        "the storage provisioner is not running",
    ),
    entry(
        FindingId::AccessModeUnsupported,
        "access-mode-unsupported",
        Severity::Error,
        "access mode not supported for this claim",
    ),
    entry(
        FindingId::PvcTerminatingInUse,
        "pvc-terminating-in-use",
        Severity::Warning,
        "claim is being deleted while pods use it",
    ),
    entry(
        FindingId::PvReleasedNotRebound,
        "pv-released-not-rebound",
        Severity::Warning,
        "a retained volume with the old data was not re-bound to the recreated claim",
    ),
    entry(
        FindingId::PvcLost,
        "pvc-lost",
        Severity::Error,
        "the claim lost its PersistentVolume",
    ),
    entry(
        FindingId::SyncWaveDeadlock,
        "sync-wave-deadlock",
        Severity::Error,
        "Argo CD waits for a WaitForFirstConsumer claim before applying its consumers",
    ),
    entry(
        FindingId::InsufficientResources,
        "insufficient-resources",
        Severity::Error,
        "a pod cannot be placed: its node lacks the CPU, memory, pods or ephemeral storage it requests",
    ),
    entry(
        FindingId::PinNodeUnavailable,
        "pin-node-unavailable",
        Severity::Error,
        "the node the workloads are pinned to cannot take pods, and no volume is bound yet",
    ),
    entry(
        FindingId::ImagePullFailed,
        "image-pull-failed",
        Severity::Error,
        "a container image cannot be pulled (not found, unauthorized, registry unreachable, invalid name)",
    ),
    entry(
        FindingId::ImagePlatformMismatch,
        "image-platform-mismatch",
        Severity::Error,
        "the image has no variant for the node's CPU architecture, or its binary cannot execute there",
    ),
    entry(
        FindingId::ContainerCrashLooping,
        "container-crash-looping",
        Severity::Error,
        "a container exits again and again (CrashLoopBackOff)",
    ),
    entry(
        FindingId::ContainerOomKilled,
        "container-oom-killed",
        Severity::Error,
        "a container was killed for exceeding its memory limit",
    ),
    entry(
        FindingId::ContainerStartFailed,
        "container-start-failed",
        Severity::Error,
        "the container runtime cannot start a container (its command, a mount, a limit it cannot set)",
    ),
    entry(
        FindingId::TrainerJobFailed,
        "trainer-job-failed",
        Severity::Error,
        "a training Job failed (backoff limit or deadline exceeded)",
    ),
    entry(
        FindingId::ReadinessFailing,
        "readiness-failing",
        Severity::Error,
        "inference runs but never becomes Ready",
    ),
    entry(
        FindingId::ConfigMissing,
        "config-missing",
        Severity::Error,
        "a ConfigMap or Secret a pod needs does not exist",
    ),
    entry(
        FindingId::NodePressure,
        "node-pressure",
        Severity::Error,
        "the kubelet evicted a pod: its node ran out of disk, memory or process IDs",
    ),
    entry(
        FindingId::VolumePathMissing,
        "volume-path-missing",
        Severity::Error,
        "a node-local volume's directory is gone from its node: the kubelet cannot mount it",
    ),
    entry(
        FindingId::ServiceSelectsNoPod,
        "service-selects-no-pod",
        Severity::Error,
        "the pipeline's Service selects none of its Deployment's pods: no endpoint",
    ),
    entry(
        FindingId::HostNotRouted,
        "host-not-routed",
        Severity::Error,
        "no Ingress or HTTPRoute routes the lab's host to an existing Service port",
    ),
    entry(
        FindingId::SchedulingGated,
        "scheduling-gated",
        Severity::Error,
        "a pod is held by scheduling gates that nothing removes: the scheduler never considers it",
    ),
    entry(
        FindingId::VolumeMountFailed,
        "volume-mount-failed",
        Severity::Error,
        "the kubelet cannot attach or mount a pod's volume (attached elsewhere, a driver error, a timeout)",
    ),
    entry(
        FindingId::RolloutStuck,
        "rollout-stuck",
        Severity::Error,
        "a Deployment's rollout stopped: its pods cannot be created, or it exceeded its progress deadline",
    ),
    entry(
        FindingId::PvcConsumersIdle,
        "pvc-consumers-idle",
        Severity::Error,
        "a WaitForFirstConsumer claim's every consumer is suspended or scaled to 0: it never binds",
    ),
    entry(
        FindingId::UnexplainedFailure,
        "unexplained-failure",
        Severity::Error,
        "an object is failing and no rule explains why: its raw state and Warning events",
    ),
];

/// Serialised by its kebab id, as everywhere in labctl's output.
impl Serialize for FindingId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// An id compares equal to its kebab-case id, the contract that tests (like scripts) name.
impl PartialEq<&str> for FindingId {
    fn eq(&self, id: &&str) -> bool {
        self.as_str() == *id
    }
}

impl std::fmt::Display for FindingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FindingId {
    /// The catalogue entry of this id.
    pub fn spec(self) -> &'static FindingSpec {
        // CATALOGUE is in enum order (checked by a test), so the discriminant is the index.
        &CATALOGUE[self as usize]
    }

    pub fn as_str(self) -> &'static str {
        self.spec().id
    }

    pub fn severity(self) -> Severity {
        self.spec().severity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_in_enum_order_with_kebab_ids() {
        for (i, k) in CATALOGUE.iter().enumerate() {
            assert_eq!(k.finding as usize, i, "{}", k.id);
            assert!(
                k.id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{}",
                k.id
            );
        }
    }

    #[test]
    fn an_id_serialises_as_its_kebab_id() {
        assert_eq!(
            serde_json::to_string(&FindingId::PvNodeUnavailable).unwrap(),
            r#""pv-node-unavailable""#
        );
    }

    #[test]
    fn ids_and_severities_are_the_contract() {
        let got: Vec<(&str, &str)> = CATALOGUE
            .iter()
            .map(|k| (k.id, k.severity.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("pvc-waiting-for-consumer", "info"),
                ("pv-node-affinity-conflict", "error"),
                ("consumers-pinned-to-different-nodes", "error"),
                ("pv-node-missing", "error"),
                ("pv-node-unavailable", "error"),
                ("selected-node-stale", "error"),
                ("provisioning-failed", "error"),
                ("node-selector-matches-no-node", "error"),
                ("storageclass-missing", "error"),
                ("provisioner-not-running", "error"),
                ("access-mode-unsupported", "error"),
                ("pvc-terminating-in-use", "warning"),
                ("pv-released-not-rebound", "warning"),
                ("pvc-lost", "error"),
                ("sync-wave-deadlock", "error"),
                ("insufficient-resources", "error"),
                ("pin-node-unavailable", "error"),
                ("image-pull-failed", "error"),
                ("image-platform-mismatch", "error"),
                ("container-crash-looping", "error"),
                ("container-oom-killed", "error"),
                ("container-start-failed", "error"),
                ("trainer-job-failed", "error"),
                ("readiness-failing", "error"),
                ("config-missing", "error"),
                ("node-pressure", "error"),
                ("volume-path-missing", "error"),
                ("service-selects-no-pod", "error"),
                ("host-not-routed", "error"),
                ("scheduling-gated", "error"),
                ("volume-mount-failed", "error"),
                ("rollout-stuck", "error"),
                ("pvc-consumers-idle", "error"),
                ("unexplained-failure", "error"),
            ]
        );
    }
}
