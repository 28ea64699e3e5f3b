//! The lab's stand-in for Argo CD's application controller. Argo CD does not run in the lab,
//! so the lab writes the `Application`'s status itself, from the live objects, with Argo CD's
//! own rules: a resource is OutOfSync when it is missing or differs from what Git renders
//! (`kubectl diff --server-side`), and its health is what Argo CD's health checks say of it.
//! Only the sync operation is told rather than observed ([`Operation`]).
//!
//! Everything here is pure (objects in, status out); `Lab::refresh_app_status` does the I/O.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

/// The last sync operation, which the lab cannot observe (nothing syncs): it says which one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// The last sync ran all its tasks.
    Succeeded,
    /// A sync stuck waiting for the claim to be healthy, because Git puts the claim in
    /// `claim_wave`, earlier than every consumer (argo-cd#12840).
    WaitingForClaim { claim_wave: i64 },
}

impl Operation {
    /// What Git holds under this operation: the lab's overlay, with the claim's wave moved
    /// for [`Operation::WaitingForClaim`].
    pub fn desired(self, mut objects: Vec<Value>) -> Vec<Value> {
        if let Operation::WaitingForClaim { claim_wave } = self {
            for o in objects
                .iter_mut()
                .filter(|o| o["kind"] == "PersistentVolumeClaim")
            {
                o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] =
                    json!(claim_wave.to_string());
            }
        }
        objects
    }
}

/// Argo CD's health statuses, best first: an Application's health is its worst resource's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    Healthy,
    Suspended,
    Progressing,
    Missing,
    Degraded,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "Healthy",
            Health::Suspended => "Suspended",
            Health::Progressing => "Progressing",
            Health::Missing => "Missing",
            Health::Degraded => "Degraded",
        }
    }
}

/// `(kind, name)` of one object of the application (all in one namespace, or cluster-scoped).
pub type Key = (String, String);

pub fn key_of(object: &Value) -> Key {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (s(&object["kind"]), s(&object["metadata"]["name"]))
}

/// Kinds Argo CD has a health check for (built in, or shipped as a Lua customisation).
const ASSESSED: [&str; 5] = [
    "PersistentVolumeClaim",
    "Deployment",
    "Service",
    "Ingress",
    "CronJob",
];

/// What Argo CD's health check says of a live object; `None` for kinds it does not assess
/// (ConfigMap, NetworkPolicy, Namespace…), which do not count towards the app's health.
pub fn health(live: &Value) -> Option<Health> {
    let kind = live["kind"].as_str()?;
    if !ASSESSED.contains(&kind) {
        return None;
    }
    // gitops-engine judges an object being deleted before any check of its kind.
    if live["metadata"]["deletionTimestamp"].is_string() {
        return Some(Health::Progressing);
    }
    let status = &live["status"];
    match kind {
        "PersistentVolumeClaim" => Some(match status["phase"].as_str() {
            Some("Bound") => Health::Healthy,
            Some("Lost") => Health::Degraded,
            _ => Health::Progressing,
        }),
        "Deployment" => Some(deployment_health(live)),
        "Service" => Some(
            if live["spec"]["type"] == "LoadBalancer" && !has_lb_ingress(status) {
                Health::Progressing
            } else {
                Health::Healthy
            },
        ),
        "Ingress" => Some(if has_lb_ingress(status) {
            Health::Healthy
        } else {
            Health::Progressing
        }),
        "CronJob" => Some(cronjob_health(live)),
        _ => None,
    }
}

fn has_lb_ingress(status: &Value) -> bool {
    status["loadBalancer"]["ingress"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
}

/// Argo CD's Deployment check (gitops-engine `getDeploymentHealth`).
fn deployment_health(d: &Value) -> Health {
    let spec = &d["spec"];
    let status = &d["status"];
    if spec["paused"] == true {
        return Health::Suspended;
    }
    let n = |v: &Value| v.as_i64().unwrap_or(0);
    if n(&d["metadata"]["generation"]) > n(&status["observedGeneration"]) {
        return Health::Progressing;
    }
    let deadline_exceeded = status["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded")
    });
    if deadline_exceeded {
        return Health::Degraded;
    }
    let wanted = spec["replicas"].as_i64().unwrap_or(1);
    let updated = n(&status["updatedReplicas"]);
    if updated < wanted
        || n(&status["replicas"]) > updated
        || n(&status["availableReplicas"]) < updated
    {
        return Health::Progressing;
    }
    Health::Healthy
}

/// Argo CD's CronJob check (`resource_customizations/batch/CronJob/health.lua`): suspended is
/// Suspended; a last run that is not running and did not succeed is Degraded.
fn cronjob_health(cj: &Value) -> Health {
    if cj["spec"]["suspend"] == true {
        return Health::Suspended;
    }
    let status = &cj["status"];
    if status.is_null() {
        return Health::Progressing;
    }
    let (Some(scheduled), Some(succeeded)) = (
        status["lastScheduleTime"].as_str(),
        status["lastSuccessfulTime"].as_str(),
    ) else {
        return Health::Healthy;
    };
    let running = status["active"].as_array().is_some_and(|a| !a.is_empty());
    // RFC 3339 UTC timestamps of one format compare as strings.
    if !running && succeeded < scheduled {
        Health::Degraded
    } else {
        Health::Healthy
    }
}

/// The objects `kubectl diff` reports as different, from its `diff -u -N LIVE/x MERGED/x`
/// headers. kubectl names each file `[group.]version.Kind.namespace.name`.
pub fn drifted(diff_output: &str, desired: &[Value]) -> HashSet<Key> {
    let files: Vec<&str> = diff_output
        .lines()
        .filter_map(|l| l.strip_prefix("diff "))
        .filter_map(|l| l.split_whitespace().find(|w| w.contains("/LIVE-")))
        .filter_map(|p| p.rsplit('/').next())
        .collect();
    desired
        .iter()
        .filter(|o| {
            let suffix = format!(
                ".{}.{}.{}",
                o["kind"].as_str().unwrap_or_default(),
                o["metadata"]["namespace"].as_str().unwrap_or_default(),
                o["metadata"]["name"].as_str().unwrap_or_default()
            );
            files.iter().any(|f| f.ends_with(&suffix))
        })
        .map(key_of)
        .collect()
}

fn sync_wave(object: &Value) -> i64 {
    object["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
        .as_str()
        .and_then(|w| w.parse().ok())
        .unwrap_or(0)
}

/// Where the status came from, for `status.sync.comparedTo` and `operationState`.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    pub revision: &'a str,
    pub namespace: &'a str,
    /// RFC 3339 time of this reconciliation.
    pub now: &'a str,
}

/// The Application's `status`, as Argo CD's controller writes it: sync and health of every
/// desired (non-hook) object, the app's overall sync and health, and the operation state.
pub fn status(
    desired: &[Value],
    live: &HashMap<Key, Value>,
    drift: &HashSet<Key>,
    operation: Operation,
    source: &Source<'_>,
) -> Value {
    let mut resources = Vec::new();
    let mut app_health = Health::Healthy;
    let mut app_synced = true;
    for object in desired {
        let key = key_of(object);
        let current = live.get(&key);
        let synced = current.is_some() && !drift.contains(&key);
        app_synced &= synced;
        // A missing object shows as Missing, but only kinds with a health check count
        // towards the app's health (Argo CD's `setApplicationHealth`).
        let health = match current {
            None => Some(Health::Missing),
            Some(o) => health(o),
        };
        let counts = current.is_some() || ASSESSED.contains(&key.0.as_str());
        if let Some(h) = health.filter(|_| counts) {
            app_health = app_health.max(h);
        }
        let (group, version) = match object["apiVersion"].as_str().unwrap_or_default() {
            api if api.contains('/') => api.split_once('/').unwrap_or_default(),
            api => ("", api),
        };
        // Argo CD reports the wave Git gives the object.
        let wave = sync_wave(object);
        let mut r = json!({"group": group, "version": version, "kind": key.0, "name": key.1,
            "status": if synced { "Synced" } else { "OutOfSync" }, "syncWave": wave});
        if let Some(h) = health {
            r["health"] = json!({"status": h.as_str()});
        }
        if key.0 != "Namespace" {
            r["namespace"] = json!(source.namespace);
        }
        resources.push(r);
    }
    let (phase, message) = match operation {
        Operation::Succeeded => ("Succeeded", "successfully synced (all tasks run)"),
        Operation::WaitingForClaim { .. } => (
            "Running",
            "waiting for healthy state of /PersistentVolumeClaim/models",
        ),
    };
    let mut operation_state = json!({"phase": phase, "message": message, "startedAt": source.now,
        "operation": {"sync": {"revision": source.revision}, "initiatedBy": {"automated": true}}});
    if operation == Operation::Succeeded {
        operation_state["finishedAt"] = json!(source.now);
    }
    json!({
        "sync": {"status": if app_synced { "Synced" } else { "OutOfSync" }, "revision": source.revision,
            "comparedTo": {
                "source": {"repoURL": "https://github.com/example/mlops-lab.git", "path": "manifests/overlays/homelab", "targetRevision": "main"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": source.namespace}}},
        "health": {"status": app_health.as_str(), "lastTransitionTime": source.now},
        "operationState": operation_state,
        "resources": resources,
        "reconciledAt": source.now,
        "sourceType": "Kustomize",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(generation: i64, observed: i64, updated: i64, available: i64) -> Value {
        json!({"kind": "Deployment", "metadata": {"name": "inference", "generation": generation},
            "spec": {"replicas": 1},
            "status": {"observedGeneration": observed, "replicas": updated, "updatedReplicas": updated,
                "availableReplicas": available}})
    }

    #[test]
    fn health_follows_argo_cd_rules() {
        let h = |v: Value| health(&v);
        assert_eq!(h(deployment(2, 2, 1, 1)), Some(Health::Healthy));
        assert_eq!(h(deployment(3, 2, 1, 1)), Some(Health::Progressing));
        assert_eq!(h(deployment(2, 2, 1, 0)), Some(Health::Progressing));
        let mut stuck = deployment(2, 2, 0, 0);
        stuck["status"]["conditions"] =
            json!([{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]);
        assert_eq!(h(stuck), Some(Health::Degraded));
        let pvc =
            |phase: &str| json!({"kind": "PersistentVolumeClaim", "status": {"phase": phase}});
        assert_eq!(h(pvc("Bound")), Some(Health::Healthy));
        assert_eq!(h(pvc("Pending")), Some(Health::Progressing));
        assert_eq!(h(pvc("Lost")), Some(Health::Degraded));
        let ingress = |lb: Value| json!({"kind": "Ingress", "status": {"loadBalancer": lb}});
        assert_eq!(
            h(ingress(json!({"ingress": [{"ip": "192.168.1.50"}]}))),
            Some(Health::Healthy)
        );
        assert_eq!(h(ingress(json!({}))), Some(Health::Progressing));
        assert_eq!(
            h(json!({"kind": "Service", "spec": {"type": "ClusterIP"}})),
            Some(Health::Healthy)
        );
        assert_eq!(
            h(json!({"kind": "Service", "spec": {"type": "LoadBalancer"}, "status": {}})),
            Some(Health::Progressing)
        );
        assert_eq!(h(json!({"kind": "ConfigMap"})), None);
        let mut deleting = pvc("Bound");
        deleting["metadata"] = json!({"deletionTimestamp": "2026-11-28T12:00:00Z"});
        assert_eq!(h(deleting), Some(Health::Progressing), "pending deletion");
    }

    #[test]
    fn cronjob_health_follows_argo_cd_lua() {
        let cj = |suspend: bool, status: Value| json!({"kind": "CronJob", "spec": {"suspend": suspend}, "status": status});
        let t1 = "2026-11-28T03:17:00Z";
        let t2 = "2026-11-29T03:17:00Z";
        assert_eq!(health(&cj(true, json!({}))), Some(Health::Suspended));
        assert_eq!(health(&cj(false, json!({}))), Some(Health::Healthy));
        assert_eq!(
            health(&cj(
                false,
                json!({"lastScheduleTime": t2, "lastSuccessfulTime": t1})
            )),
            Some(Health::Degraded),
            "the last run failed"
        );
        assert_eq!(
            health(&cj(
                false,
                json!({"lastScheduleTime": t2, "lastSuccessfulTime": t1, "active": [{}]})
            )),
            Some(Health::Healthy),
            "still running"
        );
        assert_eq!(
            health(&cj(
                false,
                json!({"lastScheduleTime": t2, "lastSuccessfulTime": t2})
            )),
            Some(Health::Healthy)
        );
        assert_eq!(
            health(&json!({"kind": "CronJob", "spec": {}})),
            Some(Health::Progressing)
        );
    }

    fn object(api: &str, kind: &str, name: &str, wave: &str) -> Value {
        json!({"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": "mlops-lab",
            "annotations": {"argocd.argoproj.io/sync-wave": wave}}})
    }

    #[test]
    fn waiting_for_the_claim_moves_its_wave_in_git() {
        let objects = vec![
            object("v1", "PersistentVolumeClaim", "models", "0"),
            object("apps/v1", "Deployment", "inference", "1"),
        ];
        let git = Operation::WaitingForClaim { claim_wave: -1 }.desired(objects.clone());
        assert_eq!(sync_wave(&git[0]), -1);
        assert_eq!(sync_wave(&git[1]), 1);
        assert_eq!(Operation::Succeeded.desired(objects.clone()), objects);
    }

    #[test]
    fn drift_is_read_from_kubectl_diff_headers() {
        let desired = [
            object("apps/v1", "Deployment", "inference", "1"),
            object("v1", "Service", "inference", "1"),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mlops-lab"}}),
        ];
        let diff = "diff -u -N /tmp/LIVE-1/v1.Service.mlops-lab.inference /tmp/MERGED-2/v1.Service.mlops-lab.inference\n\
                    --- /tmp/LIVE-1/v1.Service.mlops-lab.inference\n\
                    +++ /tmp/MERGED-2/v1.Service.mlops-lab.inference\n\
                    diff -u -N /tmp/LIVE-1/v1.Namespace..mlops-lab /tmp/MERGED-2/v1.Namespace..mlops-lab\n";
        let d = drifted(diff, &desired);
        assert!(d.contains(&("Service".into(), "inference".into())));
        assert!(d.contains(&("Namespace".into(), "mlops-lab".into())));
        assert!(!d.contains(&("Deployment".into(), "inference".into())));
        assert!(drifted("", &desired).is_empty());
    }

    #[test]
    fn status_is_synced_and_healthy_only_when_every_object_is() {
        let desired = vec![
            object("v1", "PersistentVolumeClaim", "models", "0"),
            object("apps/v1", "Deployment", "inference", "1"),
            object("v1", "ConfigMap", "training-data", "0"),
        ];
        let mut live: HashMap<Key, Value> = HashMap::new();
        let mut pvc = desired[0].clone();
        pvc["status"] = json!({"phase": "Bound"});
        live.insert(key_of(&pvc), pvc);
        let mut d = deployment(1, 1, 1, 1);
        d["metadata"]["annotations"] = json!({"argocd.argoproj.io/sync-wave": "1"});
        live.insert(key_of(&d), d);
        live.insert(key_of(&desired[2]), desired[2].clone());
        let source = Source {
            revision: "abc",
            namespace: "mlops-lab",
            now: "2026-11-28T12:00:00Z",
        };
        let healthy = status(
            &desired,
            &live,
            &HashSet::new(),
            Operation::Succeeded,
            &source,
        );
        assert_eq!(healthy["sync"]["status"], "Synced");
        assert_eq!(healthy["health"]["status"], "Healthy");
        assert_eq!(healthy["operationState"]["phase"], "Succeeded");
        assert_eq!(healthy["resources"][1]["syncWave"], 1);
        assert!(
            healthy["resources"][2].get("health").is_none(),
            "a ConfigMap has no health"
        );

        // Drift makes the app OutOfSync; a missing Deployment makes it Missing too.
        let drift: HashSet<Key> = [("ConfigMap".to_owned(), "training-data".to_owned())].into();
        let s = status(&desired, &live, &drift, Operation::Succeeded, &source);
        assert_eq!(s["sync"]["status"], "OutOfSync");
        assert_eq!(s["health"]["status"], "Healthy");
        // A missing ConfigMap (no health check) is Missing but leaves the app's health alone.
        let no_config: HashMap<Key, Value> = live
            .iter()
            .filter(|(k, _)| k.0 != "ConfigMap")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let s = status(
            &desired,
            &no_config,
            &HashSet::new(),
            Operation::Succeeded,
            &source,
        );
        assert_eq!(s["sync"]["status"], "OutOfSync");
        assert_eq!(s["health"]["status"], "Healthy");
        assert_eq!(s["resources"][2]["health"]["status"], "Missing");
        live.remove(&("Deployment".to_owned(), "inference".to_owned()));
        let s = status(
            &desired,
            &live,
            &HashSet::new(),
            Operation::WaitingForClaim { claim_wave: -1 },
            &source,
        );
        assert_eq!(s["sync"]["status"], "OutOfSync");
        assert_eq!(s["health"]["status"], "Missing");
        assert_eq!(s["resources"][1]["status"], "OutOfSync");
        assert_eq!(s["resources"][1]["health"]["status"], "Missing");
        assert_eq!(s["operationState"]["phase"], "Running");
        assert!(s["operationState"].get("finishedAt").is_none());
    }
}
