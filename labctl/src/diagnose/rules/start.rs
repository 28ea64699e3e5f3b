//! Containers the runtime cannot start (`container-start-failed`): runc's `StartError`, the
//! kubelet's `RunContainerError`/`CreateContainerError`, whose message says why. Recognised
//! in runc 1.5's words, as the lab's node (containerd 2.4, runc 1.5) writes them: a command
//! that is not in the image, a memory limit below what runc's own setup of the container uses.

use crate::diagnose::engine::View;
use crate::diagnose::engine::evidence::events;
use crate::diagnose::engine::merge::{Found, Hit, pod_hit};
use crate::diagnose::rules::containers::{owner_of, pod_state};
use crate::k8s::model::Pod;

use super::containers::{Failing, container_line, memory_limit};
use crate::diagnose::catalogue::FindingId;
use crate::diagnose::finding::ObjectRef;
use crate::k8s::names::{name as meta_name, namespace as meta_ns};

/// The runtime could not start the container (runc's `StartError`, the kubelet's
/// `RunContainerError`/`CreateContainerError`): the command is not in the image, a
/// limit is below what the runtime itself uses, a mount or a security setting fails.
pub(crate) fn start_failed<'a>(
    view: &View<'_, 'a>,
    pod: &'a Pod,
    f: &Failing<'a>,
    message: &str,
) -> Vec<Hit> {
    let cs = f.status;
    let ns = meta_ns(&pod.metadata);
    let (kind, wname, _) = owner_of(view, pod);
    let mut ev = vec![container_line(pod, cs)];
    ev.extend(events(view, "Pod", &pod.metadata, &["Failed", "BackOff"]));
    let cause = StartFailure::classify(message);
    let limit = memory_limit(f);
    let command = f
        .spec
        .map(|c| {
            c.command
                .iter()
                .flatten()
                .chain(c.args.iter().flatten())
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|c| !c.is_empty());
    let (what, fix) = match cause {
        StartFailure::CommandNotFound => (
            "its command is not in the image".to_owned(),
            format!(
                "Fix command/args of container {} in {kind} {wname} in manifests/ (now: {}); this project's images run /usr/local/bin/trainer and /usr/local/bin/inference as their entrypoints, so no command is needed",
                cs.name,
                command.as_deref().unwrap_or("the image's entrypoint")
            ),
        ),
        StartFailure::MemoryLimitTooLow => (
            format!(
                "its memory limit ({}) is below what the runtime uses to start it",
                limit.as_deref().unwrap_or("none")
            ),
            format!(
                "Raise resources.limits.memory of container {} in {kind} {wname} in manifests/ (the runtime's message gives the usage it needed); confirm with kubectl -n {ns} get pod {} -o jsonpath='{{.status.containerStatuses[*].state}}'",
                cs.name,
                meta_name(&pod.metadata)
            ),
        ),
        StartFailure::Other => (
            "the runtime refused to start it".to_owned(),
            format!(
                "Read the runtime's message above; fix the container's command, mounts or securityContext of {kind} {wname} in manifests/"
            ),
        ),
    };
    // runc's own words, after containerd's and runc's wrappers.
    let message = message.trim();
    let last_line = message
        .rsplit_once("error during container init: ")
        .map_or(message, |(_, m)| m);
    vec![pod_hit(
        view,
        pod,
        pod_state(pod, cs),
        Found {
            id: FindingId::ContainerStartFailed,
            root: ObjectRef::namespaced(kind.as_str(), ns, wname),
            summary: format!(
                "container {} of {kind} {wname} cannot start: {what} ({last_line})",
                cs.name
            ),
            evidence: ev,
            remediation: fix,
        },
    )]
}

/// Why the runtime could not start a container, from its message (runc's wordings, as
/// containerd 2.4 and runc 1.5 report them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartFailure {
    CommandNotFound,
    MemoryLimitTooLow,
    Other,
}

impl StartFailure {
    fn classify(message: &str) -> StartFailure {
        if message.contains("executable file not found")
            || (message.contains("exec:") && message.contains("no such file or directory"))
        {
            StartFailure::CommandNotFound
        } else if message.contains("unable to set memory limit") {
            StartFailure::MemoryLimitTooLow
        } else {
            StartFailure::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failures_in_runc_1_5_wordings() {
        // Recorded from the lab's node (containerd 2.4.2, runc 1.5.3).
        assert_eq!(
            StartFailure::classify(
                "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: error setting cgroup config for procHooks process: unable to set memory limit to 2097152 (current usage: 3657728, peak usage: 3833856)"
            ),
            StartFailure::MemoryLimitTooLow
        );
        assert_eq!(
            StartFailure::classify(
                r#"failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: exec: "/usr/local/bin/inferenc": stat /usr/local/bin/inferenc: no such file or directory"#
            ),
            StartFailure::CommandNotFound
        );
        assert_eq!(
            StartFailure::classify(
                r#"failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: exec: "serve": executable file not found in $PATH"#
            ),
            StartFailure::CommandNotFound
        );
        assert_eq!(
            StartFailure::classify(
                "error mounting \"/x\" to rootfs at \"/models\": permission denied"
            ),
            StartFailure::Other
        );
    }
}
