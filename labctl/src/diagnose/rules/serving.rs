//! Inference runs but is not Ready: `readiness-failing`, with the kubelet's `Unhealthy` events
//! and the upstream cause when there is one (no model published yet: the trainer CronJob never
//! succeeded and no first-model hook Job did).

use crate::diagnose::engine::merge::{Found, Hit, pod_hit};
use crate::diagnose::engine::{EVENTS_PER_REASON, View};
use crate::diagnose::rules::containers::{container_line, owner_of};
use crate::k8s::model::Pod;
use crate::k8s::pod::pod_phase;

use crate::diagnose::catalogue::FindingId;
use crate::diagnose::finding::ObjectRef;
use crate::diagnose::rules::training::is_trainer_job;
use crate::k8s::names::{name as meta_name, namespace as meta_ns};

/// Whether any trainer run published a model in `ns`: a CronJob's last success, or a
/// succeeded trainer Job (the first-model hook included).
fn model_published<'a>(view: &View<'_, 'a>, ns: &str) -> Option<String> {
    let crons: Vec<_> = view
        .ix
        .cron_jobs_by_ns
        .get(ns)
        .into_iter()
        .flatten()
        .collect();
    let jobs: Vec<_> = view
        .ix
        .jobs_by_ns
        .get(ns)
        .into_iter()
        .flatten()
        .filter(|j| is_trainer_job(j, view.ix, view.config))
        .collect();
    if crons.is_empty() && jobs.is_empty() {
        return None;
    }
    let cron_ok = crons.iter().any(|c| {
        c.status
            .as_ref()
            .is_some_and(|s| s.last_successful_time.is_some())
    });
    if cron_ok || jobs.iter().any(|j| crate::k8s::job::succeeded(j)) {
        return None;
    }
    let mut why: Vec<String> = crons
        .iter()
        .map(|c| {
            let ran = c
                .status
                .as_ref()
                .is_some_and(|s| s.last_schedule_time.is_some());
            format!(
                "CronJob {ns}/{} {}",
                meta_name(&c.metadata),
                if ran {
                    "has never succeeded"
                } else {
                    "has never run"
                }
            )
        })
        .collect();
    why.push(if jobs.is_empty() {
        "no trainer Job (first-model hook) in the namespace".to_owned()
    } else {
        "no trainer Job succeeded".to_owned()
    });
    Some(why.join("; "))
}

/// A running pod with a readiness probe that does not pass.
pub(crate) fn readiness<'a>(view: &View<'_, 'a>, pod: &'a Pod) -> Vec<Hit> {
    let mut out = Vec::new();
    if pod_phase(pod) != "Running" {
        return out;
    }
    let Some(statuses) = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
    else {
        return out;
    };
    let spec = pod.spec.as_ref();
    let probed = |name: &str| {
        spec.is_some_and(|s| {
            s.containers
                .iter()
                .any(|c| c.name == name && c.readiness_probe.is_some())
        })
    };
    let Some(cs) = statuses.iter().find(|cs| {
        !cs.ready && cs.state.as_ref().is_some_and(|s| s.running.is_some()) && probed(&cs.name)
    }) else {
        return out;
    };
    let ns = meta_ns(&pod.metadata);
    let mut unhealthy: Vec<String> = view
        .ix
        .events_for("Pod", &pod.metadata)
        // A startup probe gates the readiness probe: until it passes, its failures are
        // why the pod is not Ready (the kubelet's "Startup probe failed: …" events).
        .filter(|e| {
            e.reason == "Unhealthy"
                && (e.message.contains("Readiness probe failed")
                    || e.message.contains("Startup probe failed"))
        })
        .map(|e| {
            crate::diagnose::engine::evidence::event_line("Pod", ns, meta_name(&pod.metadata), e)
        })
        .collect();
    unhealthy.reverse();
    unhealthy.truncate(EVENTS_PER_REASON);
    let upstream = model_published(view, ns);
    if unhealthy.is_empty() && upstream.is_none() {
        // Not Ready and nothing says why yet: it may be starting.
        return out;
    }
    let (kind, wname, _) = owner_of(view, pod);
    let container = spec.and_then(|s| s.containers.iter().find(|c| c.name == cs.name));
    let http_get = container
        .and_then(|c| c.readiness_probe.as_ref())
        .and_then(|p| p.http_get.as_ref());
    // The probe's path and port as the pod declares them (a named port resolved to its
    // number), so the command to ask the pod is the pod's own, whatever it serves on.
    let probe_path = http_get
        .and_then(|h| h.path.as_deref())
        .unwrap_or("/")
        .to_owned();
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let port_number = |port: &IntOrString| match port {
        IntOrString::Int(i) => Some(*i),
        IntOrString::String(name) => container
            .and_then(|c| c.ports.as_ref())
            .and_then(|ports| ports.iter().find(|p| p.name.as_deref() == Some(name)))
            .map(|p| p.container_port),
    };
    let probe = http_get.map(|h| {
        let port = match &h.port {
            IntOrString::Int(i) => i.to_string(),
            IntOrString::String(s) => s.clone(),
        };
        format!("readinessProbe: GET {probe_path} on port {port}")
    });
    // A port the pod does not declare by that name cannot be forwarded by number.
    let probe_port = http_get.and_then(|h| port_number(&h.port));
    let mut ev = vec![container_line(pod, cs)];
    ev.extend(probe);
    ev.extend(unhealthy);
    let summary;
    let fix;
    match &upstream {
        Some(why) => {
            ev.push(format!("no model published: {why}"));
            // The CronJob the lab description names, else the namespace's one.
            let crons = || {
                view.ix
                    .snapshot
                    .cron_jobs
                    .iter()
                    .filter(|c| meta_ns(&c.metadata) == ns)
            };
            let cron = crons()
                .find(|c| meta_name(&c.metadata) == view.config.cronjob)
                .or_else(|| crons().next())
                .map(|c| meta_name(&c.metadata));
            summary = format!(
                "{kind} {wname} runs but is not Ready: no model has been published (the trainer never succeeded)"
            );
            fix = match cron {
                Some(c) => format!(
                    "Publish a model: run the trainer once, kubectl -n {ns} create job --from=cronjob/{c} {c}-first-run; inference becomes Ready when the model appears (it reloads every 2s). If that Job fails, labctl diagnose names why (trainer-job-failed)."
                ),
                None => "Publish a model: run the trainer (the first-model hook runs on every Argo CD sync); inference becomes Ready when the model appears.".to_owned(),
            };
        }
        None => {
            summary = format!(
                "{kind} {wname} runs but its readiness probe fails, so its Service has no ready endpoint"
            );
            let ask = match &probe_port {
                Some(port) => format!(
                    "kubectl -n {ns} port-forward pod/{pod_name} {port} & curl -s localhost:{port}{probe_path} (inference answers 503 with the reason: the model is missing or invalid)",
                    pod_name = meta_name(&pod.metadata),
                ),
                None => format!("kubectl -n {ns} describe pod {}", meta_name(&pod.metadata)),
            };
            fix = format!(
                "Ask it why: {ask}; a model reload failure is logged: kubectl -n {ns} logs {} -c {}",
                meta_name(&pod.metadata),
                cs.name
            );
        }
    }
    out.push(pod_hit(
        view,
        pod,
        "Running, not Ready".to_owned(),
        Found {
            id: FindingId::ReadinessFailing,
            root: ObjectRef::namespaced(kind.as_str(), ns, wname),
            summary,
            evidence: ev,
            remediation: fix,
        },
    ));
    out
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_cluster::*;
    use serde_json::json;

    fn lab(ready: bool) -> Vec<serde_json::Value> {
        let mut items = base();
        let spec = json!({"nodeName": "node-1", "containers": [{"name": "inference", "image": "i",
            "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080}}}]});
        items.push(pod(
            "inference-0",
            spec,
            "Running",
            json!({"containerStatuses": [{"name": "inference", "image": "i", "imageID": "",
                "ready": ready, "restartCount": 0, "state": {"running": {}}}]}),
        ));
        // The kubelet's word for it (in both cases: a ready pod may have failed earlier).
        items.push(json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "inference-0.1", "namespace": NS, "uid": "uid-ev-1"},
            "involvedObject": {"kind": "Pod", "namespace": NS, "name": "inference-0",
                               "uid": "uid-inference-0"},
            "reason": "Unhealthy", "type": "Warning", "count": 12,
            "message": "Readiness probe failed: HTTP probe failed with statuscode: 503",
            "source": {"component": "kubelet"}}));
        items
    }

    #[test]
    fn a_running_pod_whose_probe_fails_is_readiness_failing() {
        assert!(ids(lab(false)).contains(&"readiness-failing"));
    }

    #[test]
    fn a_ready_pod_is_fine() {
        assert!(!ids(lab(true)).contains(&"readiness-failing"));
    }
}
