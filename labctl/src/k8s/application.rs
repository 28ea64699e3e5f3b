//! Facts about an Argo CD `Application` (argoproj.io/v1alpha1) as Argo CD 3.x writes it: what
//! Git revision it compared and synced, its sync operation (phase, message, which wave or hook
//! it waits for, failed hooks), and which resources differ from Git. No verdicts here.
//!
//! What labctl does not read: `.status.resources[].health`. Since Argo CD 3.0 the controller
//! does not persist each resource's health there by default (`--persist-resource-health`,
//! `controller.resource.health.persist`, is false; the health lives in the resource tree,
//! which only Argo CD's API serves). labctl judges each resource's health from the live object
//! it reads anyway, and takes from the Application only what Argo CD itself says of the app.

use serde::Deserialize;

/// The Application, as far as labctl reads it.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Application {
    pub metadata: Metadata,
    pub spec: Spec,
    pub status: Status,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Metadata {
    pub name: String,
    pub namespace: String,
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// Set (to `normal` or `hard`) by a Git webhook, `argocd app get --refresh` or a user to ask
/// Argo CD to compare with Git now; Argo CD removes it once it has.
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Spec {
    pub source: Source,
    pub sync_policy: SyncPolicy,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Source {
    pub repo_url: String,
    pub target_revision: String,
    pub path: String,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct SyncPolicy {
    pub automated: Option<Automated>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Automated {
    pub prune: bool,
    pub self_heal: bool,
    /// Argo CD 3.1+: automated sync can be switched off without removing the block.
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Status {
    pub sync: SyncStatus,
    pub health: HealthStatus,
    pub operation_state: Option<OperationState>,
    pub conditions: Vec<Condition>,
    pub resources: Vec<Resource>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct SyncStatus {
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub status: String,
    /// The Git commit Argo CD last compared with.
    pub revision: String,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct HealthStatus {
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing` or `Unknown`.
    pub status: String,
    pub message: String,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OperationState {
    /// `Running`, `Terminating`, `Failed`, `Error` or `Succeeded`.
    pub phase: String,
    pub message: String,
    pub started_at: String,
    pub finished_at: String,
    pub retry_count: i64,
    pub operation: Operation,
    pub sync_result: SyncResult,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Operation {
    pub sync: OperationSync,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct OperationSync {
    pub revision: String,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct SyncResult {
    pub revision: String,
    pub resources: Vec<ResourceResult>,
}

/// One resource's result in a sync operation (hooks included).
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ResourceResult {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `Synced`, `SyncFailed`, `Pruned`, `PruneSkipped`.
    pub status: String,
    pub message: String,
    /// `PreSync`, `Sync`, `PostSync`, `SyncFail`… for a hook; empty for a resource.
    pub hook_type: String,
    /// `Running`, `Succeeded`, `Failed`, `Error`, `Terminating`.
    pub hook_phase: String,
    pub sync_phase: String,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub message: String,
}

/// A managed resource in `.status.resources`: its sync status and wave.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Resource {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub status: String,
    pub sync_wave: Option<i64>,
    pub requires_pruning: bool,
}

impl Resource {
    /// `Kind namespace/name` (or `Kind name` when cluster-scoped).
    pub fn reference(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

impl ResourceResult {
    pub fn is_hook(&self) -> bool {
        !self.hook_type.is_empty()
    }
}

/// The first seven characters of a commit, as Git and Argo CD's UI print it.
/// The Application resource (`argoproj.io/v1alpha1`, `applications`): k8s-openapi has no type
/// for it, so it is read as a dynamic object of this resource.
pub fn resource() -> kube::api::ApiResource {
    kube::api::ApiResource {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Application".into(),
        plural: "applications".into(),
    }
}

pub fn short(revision: &str) -> &str {
    revision.get(..7).unwrap_or(revision)
}

impl Application {
    /// Reads an Application from its JSON (a live object or a snapshot's); fields labctl does
    /// not know are ignored, missing ones are empty.
    pub fn from_value(value: &serde_json::Value) -> Result<Application, serde_json::Error> {
        Application::deserialize(value)
    }

    /// Reads an Application listed or fetched untyped (kube's `DynamicObject`); `None` when it
    /// does not have an Application's shape.
    pub fn from_object(object: &kube::api::DynamicObject) -> Option<Application> {
        Application::from_value(&serde_json::to_value(object).ok()?).ok()
    }

    /// Whether Argo CD syncs automatically and reverts changes made in the cluster: then a
    /// fix is a change in Git, and `kubectl` only confirms it.
    pub fn self_heals(&self) -> bool {
        self.spec
            .sync_policy
            .automated
            .as_ref()
            .is_some_and(|a| a.self_heal && a.enabled != Some(false))
    }

    /// Managed resources whose live state differs from Git (missing ones included).
    pub fn out_of_sync(&self) -> impl Iterator<Item = &Resource> {
        self.status
            .resources
            .iter()
            .filter(|r| r.status == "OutOfSync")
    }

    /// Hooks of the last operation that failed (the first-model Job, for this lab).
    pub fn failed_hooks(&self) -> impl Iterator<Item = &ResourceResult> {
        self.status
            .operation_state
            .iter()
            .flat_map(|o| &o.sync_result.resources)
            .filter(|r| r.is_hook() && matches!(r.hook_phase.as_str(), "Failed" | "Error"))
    }

    /// The operation's phase, or `None` when Argo CD never ran one.
    pub fn operation_phase(&self) -> Option<&str> {
        self.status
            .operation_state
            .as_ref()
            .map(|o| o.phase.as_str())
            .filter(|p| !p.is_empty())
    }

    /// The revision the last (or running) operation syncs.
    pub fn operation_revision(&self) -> Option<&str> {
        let o = self.status.operation_state.as_ref()?;
        [&o.sync_result.revision, &o.operation.sync.revision]
            .into_iter()
            .find(|r| !r.is_empty())
            .map(String::as_str)
    }

    /// Whether the last sync operation ended in failure (retries exhausted: while Argo CD
    /// retries, the phase stays `Running`).
    pub fn operation_failed(&self) -> bool {
        matches!(self.operation_phase(), Some("Failed" | "Error"))
    }

    /// Whether a refresh was asked for and Argo CD has not compared with Git since: what the
    /// status says may be about an older commit.
    pub fn refresh_pending(&self) -> bool {
        self.metadata.annotations.contains_key(REFRESH_ANNOTATION)
    }

    /// Whether Argo CD compared `revision` (a full or abbreviated commit).
    pub fn compared(&self, revision: &str) -> bool {
        !revision.is_empty() && self.status.sync.revision.starts_with(revision)
    }

    /// Whether Argo CD has finished syncing the revision it compared with: no refresh pending,
    /// the operation of that revision succeeded and nothing differs from Git.
    pub fn synced_to_compared_revision(&self) -> bool {
        let revision = &self.status.sync.revision;
        !self.refresh_pending()
            && self.status.sync.status == "Synced"
            && !revision.is_empty()
            && self.operation_phase().is_none_or(|p| p == "Succeeded")
            && self
                .operation_revision()
                .is_none_or(|r| r == revision.as_str())
    }

    /// One line per thing Argo CD says is wrong, for evidence: the resources that differ from
    /// Git, the running or failed operation (with Argo CD's own message: which wave's
    /// resource or which hook it waits for), failed hooks, conditions.
    pub fn evidence(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let out: Vec<String> = self.out_of_sync().map(Resource::reference).collect();
        if !out.is_empty() {
            lines.push(format!("OutOfSync with Git: {}", out.join(", ")));
        }
        let health = &self.status.health;
        if !health.message.is_empty() {
            lines.push(format!("health {}: {}", health.status, health.message));
        }
        if let Some(op) = &self.status.operation_state
            && op.phase != "Succeeded"
            && !op.phase.is_empty()
        {
            let revision = self.operation_revision().map(short).unwrap_or("?");
            let retries = if op.retry_count > 0 {
                format!(", retry {}", op.retry_count)
            } else {
                String::new()
            };
            lines.push(
                format!(
                    "sync operation of {revision} {}{retries}: {}",
                    op.phase, op.message
                )
                .trim_end_matches([':', ' '])
                .to_owned(),
            );
        }
        for hook in self.failed_hooks() {
            lines.push(format!(
                "{} hook {} {}/{}: {}: {}",
                hook.hook_type, hook.kind, hook.namespace, hook.name, hook.hook_phase, hook.message
            ));
        }
        for c in &self.status.conditions {
            lines.push(format!("condition {}: {}", c.type_, c.message));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What Argo CD v3.6 writes while its sync waits for a claim of an earlier wave (recorded
    /// from the lab, trimmed): no `health` in `.status.resources`.
    fn waiting_for_claim() -> serde_json::Value {
        json!({
            "metadata": {"name": "mlops-lab", "namespace": "argocd"},
            "spec": {"source": {"repoURL": "http://git/mlops-lab.git", "targetRevision": "main", "path": "manifests/overlays/lab"},
                     "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}},
            "status": {
                "sync": {"status": "OutOfSync", "revision": "0123456789abcdef"},
                "health": {"status": "Progressing"},
                "resources": [
                    {"kind": "PersistentVolumeClaim", "namespace": "mlops-lab", "name": "models", "status": "Synced", "syncWave": -1, "version": "v1"},
                    {"group": "apps", "kind": "Deployment", "namespace": "mlops-lab", "name": "inference", "status": "OutOfSync", "syncWave": 1, "version": "v1"}
                ],
                "operationState": {
                    "phase": "Running",
                    "message": "waiting for healthy state of /PersistentVolumeClaim/models",
                    "operation": {"sync": {"revision": "0123456789abcdef"}},
                    "syncResult": {"revision": "0123456789abcdef", "resources": [
                        {"kind": "PersistentVolumeClaim", "namespace": "mlops-lab", "name": "models", "status": "Synced", "hookPhase": "Running", "syncPhase": "Sync"}
                    ]}
                }
            }
        })
    }

    #[test]
    fn reads_what_argocd_3_writes_without_resource_health() {
        let app = Application::from_value(&waiting_for_claim()).unwrap();
        assert!(app.self_heals());
        assert_eq!(
            app.out_of_sync()
                .map(Resource::reference)
                .collect::<Vec<_>>(),
            ["Deployment mlops-lab/inference"]
        );
        assert_eq!(app.operation_revision(), Some("0123456789abcdef"));
        assert!(!app.operation_failed());
        assert!(!app.synced_to_compared_revision());
        assert_eq!(
            app.evidence(),
            [
                "OutOfSync with Git: Deployment mlops-lab/inference",
                "sync operation of 0123456 Running: waiting for healthy state of /PersistentVolumeClaim/models"
            ]
        );
    }

    #[test]
    fn a_finished_sync_of_the_compared_revision_is_settled() {
        let mut v = waiting_for_claim();
        v["status"]["sync"]["status"] = json!("Synced");
        v["status"]["operationState"]["phase"] = json!("Succeeded");
        let app = Application::from_value(&v).unwrap();
        assert!(app.synced_to_compared_revision());
        // A newer commit compared but not synced yet is not settled.
        v["status"]["sync"]["revision"] = json!("fedcba9876543210");
        let app = Application::from_value(&v).unwrap();
        assert!(!app.synced_to_compared_revision());
    }

    #[test]
    fn a_pending_refresh_is_not_settled_and_revisions_match_by_prefix() {
        let mut v = waiting_for_claim();
        v["status"]["sync"]["status"] = json!("Synced");
        v["status"]["operationState"]["phase"] = json!("Succeeded");
        v["metadata"]["annotations"] = json!({REFRESH_ANNOTATION: "normal"});
        let app = Application::from_value(&v).unwrap();
        assert!(app.refresh_pending());
        assert!(!app.synced_to_compared_revision());
        assert!(app.compared("0123456"));
        assert!(!app.compared("fedcba9"));
        assert!(!app.compared(""));
    }

    #[test]
    fn failed_hooks_and_failed_operations_are_named() {
        let mut v = waiting_for_claim();
        v["status"]["operationState"]["phase"] = json!("Failed");
        v["status"]["operationState"]["message"] =
            json!("one or more synchronization tasks completed unsuccessfully");
        v["status"]["operationState"]["retryCount"] = json!(5);
        v["status"]["operationState"]["syncResult"]["resources"] = json!([
            {"kind": "Job", "namespace": "mlops-lab", "name": "trainer-first-model", "hookType": "Sync", "hookPhase": "Failed", "message": "Job has reached the specified backoff limit", "status": "Synced"}
        ]);
        let app = Application::from_value(&v).unwrap();
        assert!(app.operation_failed());
        assert_eq!(app.failed_hooks().count(), 1);
        let evidence = app.evidence();
        assert!(
            evidence.contains(&"sync operation of 0123456 Failed, retry 5: one or more synchronization tasks completed unsuccessfully".to_owned()),
            "{evidence:?}"
        );
        assert!(
            evidence.contains(&"Sync hook Job mlops-lab/trainer-first-model: Failed: Job has reached the specified backoff limit".to_owned()),
            "{evidence:?}"
        );
    }

    #[test]
    fn self_heal_is_off_without_automated_sync_or_when_disabled() {
        let mut v = waiting_for_claim();
        v["spec"]["syncPolicy"]["automated"]["enabled"] = json!(false);
        assert!(!Application::from_value(&v).unwrap().self_heals());
        v["spec"]["syncPolicy"] = json!({});
        assert!(!Application::from_value(&v).unwrap().self_heals());
    }
}
