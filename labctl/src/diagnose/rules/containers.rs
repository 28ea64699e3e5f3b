//! Containers that cannot start or keep failing, from the pod's container statuses as the
//! kubelet writes them (`state.waiting.reason/message`, `lastState.terminated.{exitCode,reason,
//! message}`): `image-pull-failed`, `image-platform-mismatch`, `container-crash-looping`,
//! `container-oom-killed`, `config-missing`; `container-start-failed` is in `start.rs`.
//!
//! Longer than 600 lines because of its tests: each finding fired and a near miss, on pods
//! built in code, beside the rules that share the container-status helpers.

use super::capitalise;
use crate::diagnose::engine::View;
use crate::diagnose::engine::evidence::events;
use crate::diagnose::engine::merge::{Found, Hit, pod_hit};
use crate::diagnose::engine::remedy::template_fix;
use crate::diagnose::rules::Verdict;
use crate::diagnose::rules::start::start_failed;
use crate::k8s::model::{Container, Pod};
use crate::k8s::pod::pod_phase;
use k8s_openapi::api::core::v1::ContainerStatus;

use crate::diagnose::catalogue::FindingId;
use crate::diagnose::finding::ObjectRef;
use crate::k8s::WorkloadKind;
use crate::k8s::names::{name as meta_name, namespace as meta_ns};
use crate::k8s::resources::{format_amount, parse_quantity};

pub(crate) use super::pull::PullProblem;

pub(crate) const ARCH_LABEL: &str = "kubernetes.io/arch";

/// Which of this repository's binaries a container runs (`trainer`, `inference`), by its
/// command or, without one, its image's name (`…/mlops-lab-trainer:0.1.0`), never by the
/// container's name: users name containers their own way.
pub(crate) fn program(pod: &Pod, cs: &ContainerStatus) -> Option<&'static str> {
    let spec = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.iter().find(|c| c.name == cs.name));
    let command = spec
        .and_then(|c| c.command.as_ref())
        .and_then(|c| c.first())
        .map(|c| c.rsplit('/').next().unwrap_or(c));
    let image = spec
        .and_then(|c| c.image.as_deref())
        .unwrap_or(cs.image.as_str());
    // The repository's last segment, without tag or digest.
    let repository = image.split('@').next().unwrap_or(image);
    let last = repository.rsplit('/').next().unwrap_or(repository);
    let name = last.split(':').next().unwrap_or(last);
    ["trainer", "inference"]
        .into_iter()
        .find(|p| command.map_or_else(|| name.ends_with(p), |c| c == *p))
}

/// What an exit code means for the program a container runs ([`program`]; README.md:
/// trainer, inference), and for any program when it is a signal's.
pub(crate) fn exit_meaning(program: Option<&str>, code: i32) -> Option<&'static str> {
    match (program.unwrap_or(""), code) {
        ("trainer", 1) => Some(
            "trainer exit 1: bad training data, or the model scored below --min-r2 (not published)",
        ),
        ("trainer", 2) => Some(
            "trainer exit 2: bad usage or an I/O failure (model directory not writable, training data missing)",
        ),
        ("inference", 2) => Some(
            "inference exit 2: bad flag value or it could not start (e.g. its port cannot be bound)",
        ),
        (_, 137) => Some("exit 137: killed by SIGKILL (memory limit, or a failed liveness probe)"),
        (_, 143) => Some("exit 143: stopped by SIGTERM"),
        (_, 139) => Some("exit 139: segmentation fault"),
        _ => None,
    }
}

/// A container status with the spec of its container.
pub(crate) struct Failing<'a> {
    pub(crate) status: &'a ContainerStatus,
    pub(crate) spec: Option<&'a Container>,
}

fn waiting(cs: &ContainerStatus) -> Option<(&str, &str)> {
    let w = cs.state.as_ref()?.waiting.as_ref()?;
    Some((
        w.reason.as_deref().unwrap_or(""),
        w.message.as_deref().unwrap_or(""),
    ))
}

pub(crate) fn last_terminated(
    cs: &ContainerStatus,
) -> Option<&k8s_openapi::api::core::v1::ContainerStateTerminated> {
    cs.last_state.as_ref()?.terminated.as_ref()
}

/// `container trainer: waiting CrashLoopBackOff (…); last terminated exit 1 Error: "…"; 5 restarts`.
pub(crate) fn container_line(pod: &Pod, cs: &ContainerStatus) -> String {
    let mut s = format!(
        "Pod {}/{} container {}",
        meta_ns(&pod.metadata),
        meta_name(&pod.metadata),
        cs.name
    );
    if let Some((r, m)) = waiting(cs) {
        s.push_str(&format!(": waiting {r}"));
        if !m.is_empty() {
            s.push_str(&format!(" ({m})"));
        }
    } else if cs.state.as_ref().is_some_and(|st| st.running.is_some()) {
        s.push_str(&format!(
            ": running, {}",
            if cs.ready { "ready" } else { "not ready" }
        ));
    } else if let Some(t) = cs.state.as_ref().and_then(|st| st.terminated.as_ref()) {
        s.push_str(&format!(
            ": terminated exit {} {}",
            t.exit_code,
            t.reason.as_deref().unwrap_or("")
        ));
        if let Some(m) = t.message.as_deref().filter(|m| !m.trim().is_empty()) {
            s.push_str(&format!(": {:?}", m.trim()));
        }
    }
    if let Some(t) = last_terminated(cs) {
        s.push_str(&format!(
            "; last terminated exit {} {}",
            t.exit_code,
            t.reason.as_deref().unwrap_or("")
        ));
        if let Some(m) = t.message.as_deref().filter(|m| !m.trim().is_empty()) {
            s.push_str(&format!(": {:?}", m.trim()));
        }
    }
    if cs.restart_count > 0 {
        s.push_str(&format!("; {} restart(s)", cs.restart_count));
    }
    s
}

/// The memory limit of a failing container's spec (`resources.limits.memory`), as written.
pub(crate) fn memory_limit(f: &Failing<'_>) -> Option<String> {
    f.spec
        .and_then(|c| c.resources.as_ref())
        .and_then(|r| r.limits.as_ref())
        .and_then(|l| l.get("memory"))
        .map(|q| q.0.clone())
}

/// The first failing container of a scheduled pod, judged.
pub(crate) fn containers<'a>(view: &View<'_, 'a>, pod: &'a Pod) -> Verdict {
    let status = pod.status.as_ref()?;
    let spec = pod.spec.as_ref();
    let specs = spec.into_iter().flat_map(|s| {
        s.init_containers
            .iter()
            .flatten()
            .chain(s.containers.iter())
    });
    let specs: Vec<&'a Container> = specs.collect();
    let statuses = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    for cs in statuses {
        let f = Failing {
            status: cs,
            spec: specs.iter().copied().find(|c| c.name == cs.name),
        };
        if let Some(hits) = container(view, pod, &f) {
            return Some(hits);
        }
    }
    None
}

fn container<'a>(view: &View<'_, 'a>, pod: &'a Pod, f: &Failing<'a>) -> Verdict {
    let mut out = Vec::new();
    let cs = f.status;
    let last = last_terminated(cs);
    let exec_format = |m: Option<&str>| m.is_some_and(|m| m.contains("exec format error"));
    let explained = match waiting(cs) {
        Some((r @ ("ErrImagePull" | "ImagePullBackOff" | "InvalidImageName"), m)) => {
            let mut problem = PullProblem::classify(r, m);
            // Before 1.34 `ImagePullBackOff` says only `Back-off pulling image "…"`: the
            // reason is in the kubelet's `Failed` event of the last attempt.
            if problem == PullProblem::Unknown
                && let Some(e) = pull_failure_event(view, pod)
            {
                problem = PullProblem::classify(r, e);
            }
            let m = if problem == PullProblem::Platform && !m.contains("platform") {
                pull_failure_event(view, pod).unwrap_or(m)
            } else {
                m
            };
            if problem == PullProblem::Platform {
                out.extend(platform_mismatch(view, pod, cs, m));
            } else {
                out.extend(image_pull_failed(view, pod, cs, problem));
            }
            true
        }
        Some(("CreateContainerConfigError", m)) => {
            out.extend(config_missing(view, pod, cs, m));
            true
        }
        // A ConfigMap or Secret mounted as a volume that does not exist: the pod stays
        // `ContainerCreating` and only the kubelet's `FailedMount` event says why.
        Some(("ContainerCreating", _)) => match failed_mount_config(view, pod) {
            Some(m) => {
                out.extend(config_missing(view, pod, cs, m));
                true
            }
            None => false,
        },
        Some((
            r @ ("CrashLoopBackOff" | "RunContainerError" | "CreateContainerError" | "StartError"),
            m,
        )) => {
            if last.is_some_and(|t| t.reason.as_deref() == Some("OOMKilled")) {
                out.extend(oom_killed(view, pod, f));
            } else if exec_format(Some(m)) || exec_format(last.and_then(|t| t.message.as_deref())) {
                out.extend(platform_mismatch(view, pod, cs, "exec format error"));
            } else if r != "CrashLoopBackOff"
                || last.is_some_and(|t| t.reason.as_deref() == Some("StartError"))
            {
                // The runtime never started the process: its message says why (backing
                // off after that is still a StartError, not a crash).
                // The runtime's words are the waiting message, or, when that is empty
                // (a `StartError` backing off), the last termination's message.
                let last_message = last.and_then(|t| t.message.as_deref());
                let message = match r {
                    "CrashLoopBackOff" => last_message.unwrap_or(m),
                    _ if m.trim().is_empty() => last_message.unwrap_or(m),
                    _ => m,
                };
                out.extend(start_failed(view, pod, f, message));
            } else {
                out.extend(crash_looping(view, pod, cs));
            }
            true
        }
        _ => {
            // Restarted after an OOM kill and running again: it will be killed again.
            if cs.restart_count > 0
                && last.is_some_and(|t| t.reason.as_deref() == Some("OOMKilled"))
            {
                out.extend(oom_killed(view, pod, f));
                return Some(out);
            }
            false
        }
    };
    explained.then_some(out)
}

/// The workload of a pod: (kind, name, meta) of its top owner, or the pod.
pub(crate) fn owner_of<'a>(
    view: &View<'_, 'a>,
    pod: &'a Pod,
) -> (
    WorkloadKind,
    &'a str,
    Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
) {
    match view.ix.top_owner(&pod.metadata) {
        Some((k, m)) => (k, meta_name(m), Some(m)),
        None => (WorkloadKind::Pod, meta_name(&pod.metadata), None),
    }
}

pub(crate) fn pod_state(pod: &Pod, cs: &ContainerStatus) -> String {
    match waiting(cs) {
        Some((r, _)) => format!("{} ({r})", pod_phase(pod)),
        None => pod_phase(pod).to_owned(),
    }
}

/// The message of the kubelet's newest `FailedMount` event about `pod` that names a
/// missing ConfigMap or Secret (`MountVolume.SetUp failed for volume "config" : configmap
/// "x" not found`).
fn failed_mount_config<'a>(view: &View<'_, 'a>, pod: &'a Pod) -> Option<&'a str> {
    view.ix
        .events_for("Pod", &pod.metadata)
        .filter(|e| e.reason == "FailedMount" && missing_config(e.message).is_some())
        .max_by_key(|e| e.last_seen)
        .map(|e| e.message)
}

/// The message of the kubelet's newest `Failed to pull image` event about `pod`.
fn pull_failure_event<'a>(view: &View<'_, 'a>, pod: &'a Pod) -> Option<&'a str> {
    view.ix
        .events_for("Pod", &pod.metadata)
        .filter(|e| e.reason == "Failed" && e.message.contains("pull"))
        .max_by_key(|e| e.last_seen)
        .map(|e| e.message)
}

fn image_pull_failed<'a>(
    view: &View<'_, 'a>,
    pod: &'a Pod,
    cs: &ContainerStatus,
    problem: PullProblem,
) -> Vec<Hit> {
    let ns = meta_ns(&pod.metadata);
    let (kind, wname, wmeta) = owner_of(view, pod);
    let image = &cs.image;
    let mut ev = vec![container_line(pod, cs)];
    ev.extend(events(view, "Pod", &pod.metadata, &["Failed", "BackOff"]));
    let (change, kubectl) = match problem {
        PullProblem::Unauthorized => (
            format!(
                "add imagePullSecrets to {kind} {wname}'s pod template (or make the image public)"
            ),
            format!(
                "kubectl -n {ns} create secret docker-registry regcred --docker-server=<registry> --docker-username=<user> --docker-password=<token>, \
                 then reference it as imagePullSecrets: [{{name: regcred}}] in {kind} {wname}'s pod template"
            ),
        ),
        PullProblem::RateLimited => (
            format!(
                "pull {image} with credentials (authenticated pulls have a higher limit: imagePullSecrets in {kind} {wname}'s pod template) or from a mirror"
            ),
            format!(
                "Wait for the limit to reset, or pull with credentials: kubectl -n {ns} create secret docker-registry regcred --docker-server=<registry> --docker-username=<user> --docker-password=<token> and reference it as imagePullSecrets; a registry mirror on the node (containerd hosts.toml, k3s registries.yaml `mirrors`) avoids the limit for good"
            ),
        ),
        PullProblem::UntrustedCertificate | PullProblem::PlainHttpRegistry => {
            let node = pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .unwrap_or("?");
            let how = if problem == PullProblem::UntrustedCertificate {
                "trust the registry's CA on the node: containerd's certs.d/<registry>/hosts.toml `ca = \"…\"`, or on k3s /etc/rancher/k3s/registries.yaml `configs.<registry>.tls.ca_file`, then restart k3s"
            } else {
                "declare the registry as plain HTTP on the node: containerd's certs.d/<registry>/hosts.toml `server = \"http://<registry>\"`, or on k3s /etc/rancher/k3s/registries.yaml `mirrors.<registry>.endpoint: [\"http://<registry>\"]`, then restart k3s (or serve the registry over HTTPS)"
            };
            (
                format!("on node {node}: {how}"),
                format!(
                    "On node {node}: {how}; crictl pull {image} on the node shows the same error until then"
                ),
            )
        }
        PullProblem::NodeDiskFull => {
            let node = pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .unwrap_or("?");
            (
                format!("free disk space on node {node} (the image cannot be unpacked)"),
                format!(
                    "Free disk space on node {node}: crictl rmi --prune removes unused images; kubectl describe node {node} shows DiskPressure"
                ),
            )
        }
        PullProblem::Unreachable => (
            "point the image at a registry the nodes can reach".to_owned(),
            format!(
                "The node cannot reach the registry of {image}: check DNS and the network from node {} (crictl pull {image} on the node shows the same error)",
                pod.spec
                    .as_ref()
                    .and_then(|s| s.node_name.as_deref())
                    .unwrap_or("?")
            ),
        ),
        PullProblem::DeniedOrMissing => (
            format!(
                "check the image name in the overlay's kustomization.yaml `images:` for {kind} {wname}: push it if it is missing, or add imagePullSecrets to the pod template if it is private"
            ),
            format!(
                "Try the name with the registry's credentials (crictl pull --creds <user>:<token> {image} on the node): \
                 'not found' means push it or fix the name, success means the pod needs imagePullSecrets \
                 (kubectl -n {ns} create secret docker-registry regcred … and imagePullSecrets: [{{name: regcred}}])"
            ),
        ),
        _ => (
            format!(
                "set an image (name and tag) that was pushed, in the overlay's kustomization.yaml `images:` for {kind} {wname}"
            ),
            format!(
                "Push {image}, or set an existing image: kubectl -n {ns} set image {}/{wname} {}=<registry>/<name>:<tag> (the overlay's `images:` is the lasting fix)",
                kind.as_str().to_lowercase(),
                cs.name
            ),
        ),
    };
    let confirm = format!(
        "kubectl -n {ns} get pod {} -o jsonpath='{{.status.containerStatuses[*].state}}'",
        meta_name(&pod.metadata)
    );
    let fix = template_fix(
        view,
        &format!("{kind} {wname}"),
        wmeta,
        &change,
        &kubectl,
        &confirm,
    );
    vec![pod_hit(
        view,
        pod,
        pod_state(pod, cs),
        Found {
            id: FindingId::ImagePullFailed,
            root: ObjectRef::namespaced(kind.as_str(), ns, wname),
            summary: format!(
                "image {image} of container {} cannot be pulled: {}",
                cs.name,
                problem.words()
            ),
            evidence: ev,
            remediation: fix,
        },
    )]
}

fn platform_mismatch<'a>(
    view: &View<'_, 'a>,
    pod: &'a Pod,
    cs: &ContainerStatus,
    why: &str,
) -> Vec<Hit> {
    let ns = meta_ns(&pod.metadata);
    let (kind, wname, wmeta) = owner_of(view, pod);
    let node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("");
    let arch = view
        .ix
        .node_by_name
        .get(node)
        .and_then(|n| n.metadata.labels.as_ref())
        .and_then(|l| l.get(ARCH_LABEL))
        .map_or("unknown", String::as_str);
    let mut ev = vec![container_line(pod, cs)];
    ev.push(format!("Node {node}: {ARCH_LABEL}={arch}"));
    ev.extend(events(view, "Pod", &pod.metadata, &["Failed", "BackOff"]));
    let image = &cs.image;
    let what = if why.contains("exec format error") {
        format!(
            "the binary in image {image} cannot execute on node {node} ({ARCH_LABEL}={arch}): exec format error"
        )
    } else {
        format!("image {image} has no linux/{arch} variant for node {node} ({ARCH_LABEL}={arch})")
    };
    // This repository's own images are built for both platforms by `cargo lab images`;
    // other images by their own build, here Docker's.
    let build = format!(
        "build and push a multi-platform image: cargo lab images --push <registry>/<namespace> \
         (this repository's trainer and inference), or docker buildx build --platform \
         linux/amd64,linux/arm64 -t {image} --push . (any Dockerfile)"
    );
    let change = format!("set {kind} {wname}'s image to a tag built for linux/{arch}");
    let kubectl = format!(
        "{}; or pin the workload to a node of the image's architecture",
        capitalise(&build)
    );
    let confirm = format!(
        "docker buildx imagetools inspect {image} (lists the platforms of the image index)"
    );
    let fix = template_fix(
        view,
        &format!("{kind} {wname}"),
        wmeta,
        &change,
        &kubectl,
        &confirm,
    );
    let fix = if fix == kubectl {
        fix
    } else {
        format!("{}. {fix}", capitalise(&build))
    };
    vec![pod_hit(
        view,
        pod,
        pod_state(pod, cs),
        Found {
            id: FindingId::ImagePlatformMismatch,
            root: ObjectRef::namespaced(kind.as_str(), ns, wname),
            summary: what,
            evidence: ev,
            remediation: fix,
        },
    )]
}

fn crash_looping<'a>(view: &View<'_, 'a>, pod: &'a Pod, cs: &ContainerStatus) -> Vec<Hit> {
    let ns = meta_ns(&pod.metadata);
    let (kind, wname, _) = owner_of(view, pod);
    let mut ev = vec![container_line(pod, cs)];
    let last = last_terminated(cs);
    let code = last.map(|t| t.exit_code);
    let meaning = code.and_then(|c| exit_meaning(program(pod, cs), c));
    if let Some(m) = meaning {
        ev.push(m.to_owned());
    }
    ev.extend(events(view, "Pod", &pod.metadata, &["BackOff"]));
    let message = last
        .and_then(|t| t.message.as_deref())
        .map(str::trim)
        .filter(|m| !m.is_empty());
    let summary = format!(
        "container {} of {kind} {wname} keeps exiting (CrashLoopBackOff){}{}",
        cs.name,
        code.map(|c| format!(", last exit code {c}"))
            .unwrap_or_default(),
        message
            .map(|m| format!(": {}", m.lines().last().unwrap_or(m)))
            .unwrap_or_default()
    );
    let logs = format!(
        "kubectl -n {ns} logs {} -c {} --previous",
        meta_name(&pod.metadata),
        cs.name
    );
    let fix = match (cs.name.as_str(), code) {
        ("trainer", Some(1)) => format!(
            "Fix the training data (manifests/base/data/training.csv, the training-data ConfigMap) or the --min-r2 gate in the trainer's args in manifests/; see why: {logs}"
        ),
        ("trainer", Some(2)) => format!(
            "Check the trainer's arguments and its volumes (MODEL_DIR writable, TRAINING_DATA present) in manifests/; see why: {logs}"
        ),
        _ => format!("Read why it exits: {logs}; fix the cause in the workload's manifest"),
    };
    vec![pod_hit(
        view,
        pod,
        pod_state(pod, cs),
        Found {
            id: FindingId::ContainerCrashLooping,
            root: ObjectRef::namespaced(kind.as_str(), ns, wname),
            summary,
            evidence: ev,
            remediation: fix,
        },
    )]
}

pub(crate) fn oom_killed<'a>(view: &View<'_, 'a>, pod: &'a Pod, f: &Failing<'a>) -> Vec<Hit> {
    let cs = f.status;
    let ns = meta_ns(&pod.metadata);
    let (kind, wname, wmeta) = owner_of(view, pod);
    let limit = memory_limit(f);
    let suggested = limit
        .as_deref()
        .and_then(parse_quantity)
        .map(|b| format_amount("memory", b * 2.0));
    let mut ev = vec![container_line(pod, cs)];
    ev.push(format!(
        "container {} memory limit: {}",
        cs.name,
        limit
            .as_deref()
            .unwrap_or("none (killed at the node's memory pressure)")
    ));
    ev.extend(events(
        view,
        "Pod",
        &pod.metadata,
        &["BackOff", "OOMKilling"],
    ));
    let target = suggested.clone().unwrap_or_else(|| "<limit>".to_owned());
    let kubectl = match kind {
        WorkloadKind::Deployment | WorkloadKind::StatefulSet => format!(
            "kubectl -n {ns} set resources {}/{wname} -c {} --limits=memory={target}",
            kind.as_str().to_lowercase(),
            cs.name
        ),
        _ => format!(
            "raise resources.limits.memory of container {} in {kind} {wname} to {target} (kubectl -n {ns} edit {} {wname})",
            cs.name,
            kind.as_str().to_lowercase()
        ),
    };
    let change = format!(
        "raise resources.limits.memory of container {} in {kind} {wname} to {target}",
        cs.name
    );
    let confirm = format!(
        "kubectl -n {ns} get {} {wname} -o jsonpath='{{..resources.limits.memory}}'",
        kind.as_str().to_lowercase()
    );
    let fix = template_fix(
        view,
        &format!("{kind} {wname}"),
        wmeta,
        &change,
        &kubectl,
        &confirm,
    );
    vec![pod_hit(
        view,
        pod,
        pod_state(pod, cs),
        Found {
            id: FindingId::ContainerOomKilled,
            root: ObjectRef::namespaced(kind.as_str(), ns, wname),
            summary: format!(
                "container {} of {kind} {wname} was OOMKilled: memory limit {}{}",
                cs.name,
                limit.as_deref().unwrap_or("none"),
                suggested
                    .map(|s| format!(", suggested {s} (double)"))
                    .unwrap_or_default()
            ),
            evidence: ev,
            remediation: fix,
        },
    )]
}

fn config_missing<'a>(
    view: &View<'_, 'a>,
    pod: &'a Pod,
    cs: &ContainerStatus,
    message: &str,
) -> Vec<Hit> {
    let ns = meta_ns(&pod.metadata);
    let (kind, wname, wmeta) = owner_of(view, pod);
    let (object_kind, name) = missing_config(message).unwrap_or(("ConfigMap", "?".to_owned()));
    let mut ev = vec![container_line(pod, cs)];
    ev.extend(events(
        view,
        "Pod",
        &pod.metadata,
        &["Failed", "FailedMount"],
    ));
    let create = if object_kind == "Secret" {
        format!("kubectl -n {ns} create secret generic {name} --from-literal=<key>=<value>")
    } else {
        format!("kubectl -n {ns} create configmap {name} --from-literal=<key>=<value>")
    };
    let kubectl = format!(
        "Create {object_kind} {name} ({create}) or remove the reference from {kind} {wname}; the pod starts by itself once it exists"
    );
    let change = format!(
        "add {object_kind} {name} to the manifests (or remove the reference from {kind} {wname})"
    );
    let confirm = format!("kubectl -n {ns} get {} {name}", object_kind.to_lowercase());
    let fix = template_fix(
        view,
        &format!("{kind} {wname}"),
        wmeta,
        &change,
        &kubectl,
        &confirm,
    );
    vec![pod_hit(
        view,
        pod,
        pod_state(pod, cs),
        Found {
            id: FindingId::ConfigMissing,
            root: ObjectRef::namespaced(object_kind, ns, &name),
            summary: format!(
                "container {} of {kind} {wname} cannot start: {object_kind} {name} does not exist",
                cs.name
            ),
            evidence: ev,
            remediation: fix,
        },
    )]
}

/// `configmap "x" not found` / `secret "x" not found` / `couldn't find key k in ConfigMap ns/x`.
pub(crate) fn missing_config(message: &str) -> Option<(&'static str, String)> {
    let m = message.to_ascii_lowercase();
    for (word, kind) in [("configmap", "ConfigMap"), ("secret", "Secret")] {
        if let Some(i) = m.find(&format!("{word} \"")) {
            let rest = &message[i + word.len() + 2..];
            return Some((kind, rest.split('"').next()?.to_owned()));
        }
        if let Some(i) = m.find(&format!("in {word} ")) {
            let rest = &message[i + word.len() + 4..];
            let obj = rest.split_whitespace().next()?;
            let name = obj.rsplit('/').next()?.trim_end_matches(['.', ',']);
            return Some((kind, name.to_owned()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::test_cluster::*;
    use serde_json::json;

    /// A running pod whose container is in `state` after an exit with `code`.
    fn lab(state: serde_json::Value, code: i32) -> Vec<serde_json::Value> {
        let mut items = base();
        let spec =
            json!({"nodeName": "node-1", "containers": [{"name": "inference", "image": "i"}]});
        items.push(pod(
            "inference-0",
            spec,
            "Running",
            json!({"containerStatuses": [{"name": "inference", "image": "i", "imageID": "",
                "ready": false, "restartCount": 4, "state": state,
                "lastState": {"terminated": {"exitCode": code, "reason": "Error"}}}]}),
        ));
        items
    }

    /// Every runtime's wording of every pull refusal, through the whole diagnosis: the
    /// finding (pull failed, or the platform) and the registry's answer in its summary.
    #[test]
    fn every_runtimes_pull_wording_is_named_in_the_finding() {
        let mut wrong = Vec::new();
        for (runtime, message, class) in super::super::pull::tests::WORDINGS {
            let waiting = json!({"waiting": {"reason": "ErrImagePull", "message": message}});
            let mut items = base();
            let spec =
                json!({"nodeName": "node-1", "containers": [{"name": "app", "image": "x/app:1"}]});
            items.push(pod(
                "app-0",
                spec,
                "Pending",
                json!({"containerStatuses": [{"name": "app", "image": "x/app:1", "imageID": "",
                    "ready": false, "restartCount": 0, "state": waiting}]}),
            ));
            let d = crate::diagnose::test_cluster::diagnose(items);
            let want = if *class == PullProblem::Platform {
                "image-platform-mismatch"
            } else {
                "image-pull-failed"
            };
            let f = d.findings.first();
            let ok = f.is_some_and(|f| {
                f.id == want && (want != "image-pull-failed" || f.summary.contains(class.words()))
            });
            if !ok {
                wrong.push(format!(
                    "{runtime}: {message}\n  got {:?}",
                    f.map(|f| (f.id, &f.summary))
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn a_container_in_crash_loop_back_off_is_crash_looping() {
        let waiting = json!({"waiting": {"reason": "CrashLoopBackOff",
            "message": "back-off 40s restarting failed container"}});
        assert!(ids(lab(waiting, 2)).contains(&"container-crash-looping"));
    }

    /// A sidecar (a restartable init container, `restartPolicy: Always`, 1.29+) that crashes
    /// keeps its pod from ever being Ready: its status is read like any container's.
    #[test]
    fn a_crash_looping_sidecar_is_crash_looping() {
        let mut items = base();
        let spec = json!({"nodeName": "node-1",
            "initContainers": [{"name": "log-shipper", "image": "s", "restartPolicy": "Always"}],
            "containers": [{"name": "inference", "image": "i"}]});
        items.push(pod(
            "inference-0",
            spec,
            "Pending",
            json!({"initContainerStatuses": [{"name": "log-shipper", "image": "s", "imageID": "",
                "ready": false, "restartCount": 6, "started": false,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s restarting failed container=log-shipper"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}],
                "containerStatuses": [{"name": "inference", "image": "i", "imageID": "",
                "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "PodInitializing"}}}]}),
        ));
        let d = diagnose(items);
        let f = d
            .findings
            .iter()
            .find(|f| f.id == "container-crash-looping")
            .unwrap_or_else(|| panic!("{:?}", d.findings));
        assert!(f.summary.contains("log-shipper"), "{}", f.summary);
    }

    #[test]
    fn a_container_running_again_after_an_error_exit_is_not() {
        let got = ids(lab(json!({"running": {}}), 2));
        assert!(!got.contains(&"container-crash-looping"), "{got:?}");
    }

    #[test]
    fn missing_config_names_the_object() {
        assert_eq!(
            missing_config(r#"configmap "inference-config" not found"#),
            Some(("ConfigMap", "inference-config".to_owned()))
        );
        assert_eq!(
            missing_config(r#"secret "registry-token" not found"#),
            Some(("Secret", "registry-token".to_owned()))
        );
        assert_eq!(
            missing_config("couldn't find key MODEL_DIR in ConfigMap mlops-lab/settings"),
            Some(("ConfigMap", "settings".to_owned()))
        );
        assert_eq!(missing_config("something else"), None);
    }

    #[test]
    fn exit_codes_mean_what_the_readme_says() {
        assert!(
            exit_meaning(Some("trainer"), 1)
                .unwrap()
                .contains("--min-r2")
        );
        assert!(exit_meaning(Some("trainer"), 2).unwrap().contains("I/O"));
        assert!(
            exit_meaning(Some("inference"), 2)
                .unwrap()
                .contains("could not start")
        );
        assert_eq!(exit_meaning(Some("trainer"), 3), None);
        assert_eq!(exit_meaning(None, 1), None, "another program's exit 1");
        assert!(exit_meaning(None, 137).unwrap().contains("SIGKILL"));
    }

    /// The program is known by the command or the image, whatever the container is called.
    #[test]
    fn the_program_is_known_by_command_or_image_not_by_container_name() {
        let pod = |name: &str, image: &str, command: Option<&str>| -> (Pod, ContainerStatus) {
            let mut c = serde_json::json!({"name": name, "image": image});
            if let Some(cmd) = command {
                c["command"] = serde_json::json!([cmd]);
            }
            let pod: Pod = serde_json::from_value(serde_json::json!({
                "metadata": {"name": "p"}, "spec": {"containers": [c]}}))
            .unwrap();
            let cs: ContainerStatus = serde_json::from_value(serde_json::json!({
                "name": name, "image": image, "imageID": "", "ready": false, "restartCount": 0}))
            .unwrap();
            (pod, cs)
        };
        let cases = [
            (
                pod("main", "registry.lan/mlops-lab-trainer:2", None),
                Some("trainer"),
            ),
            (
                pod("main", "ghcr.io/x/mlops-lab-inference@sha256:ab", None),
                Some("inference"),
            ),
            (
                pod("app", "python:3", Some("/usr/local/bin/trainer")),
                Some("trainer"),
            ),
            (pod("trainer", "busybox:1", Some("sh")), None),
            (pod("trainer", "busybox:1", None), None),
        ];
        for ((pod, cs), want) in cases {
            assert_eq!(program(&pod, &cs), want, "{:?}", pod.spec);
        }
    }
}
