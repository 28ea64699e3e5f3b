//! Argo CD: installed before deploying; the lab's Application Synced and Healthy afterwards.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject};

use super::available::evaluate_deployment_available;
use super::{CheckError, Outcome};
use crate::context::Context;
use crate::fetch;

pub const ARGOCD_CRD: &str = "applications.argoproj.io";
pub const ARGOCD_CONTROLLER: &str = "argocd-application-controller";

/// The application controller runs as a StatefulSet (default) or a Deployment (some installs).
pub fn evaluate_argocd(
    crd: Option<&CustomResourceDefinition>,
    sts: Option<&StatefulSet>,
    deploy: Option<&Deployment>,
    ns: &str,
) -> Outcome {
    if crd.is_none() {
        return Outcome::fail(format!(
            "CRD {ARGOCD_CRD} not found: Argo CD is not installed"
        ));
    }
    if let Some(sts) = sts {
        let ready = sts
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        return if ready > 0 {
            Outcome::pass(format!(
                "StatefulSet {ns}/{ARGOCD_CONTROLLER}: {ready} ready"
            ))
        } else {
            Outcome::fail(format!(
                "StatefulSet {ns}/{ARGOCD_CONTROLLER} has no ready replica"
            ))
        };
    }
    if deploy.is_some() {
        return evaluate_deployment_available(
            deploy,
            &format!("Deployment {ns}/{ARGOCD_CONTROLLER}"),
        );
    }
    Outcome::fail(format!("{ARGOCD_CONTROLLER} not found in namespace {ns}"))
}

pub async fn argocd_installed(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let ns = &ctx.config.argocd_namespace;
    let (crd, sts, deploy) = futures::try_join!(
        fetch::get_cluster::<CustomResourceDefinition>(&client, ARGOCD_CRD),
        fetch::get_namespaced::<StatefulSet>(&client, ns, ARGOCD_CONTROLLER),
        fetch::get_namespaced::<Deployment>(&client, ns, ARGOCD_CONTROLLER),
    )?;
    Ok(evaluate_argocd(
        crd.as_ref(),
        sts.as_ref(),
        deploy.as_ref(),
        ns,
    ))
}

#[cfg(test)]
mod installed_tests {
    use super::*;
    use crate::checks::Status;
    use crate::checks::test_objects::*;
    use k8s_openapi::api::apps::v1::*;

    #[test]
    fn argocd_with_crd_and_ready_controller_passes() {
        let crd = CustomResourceDefinition {
            metadata: meta(ARGOCD_CRD),
            ..Default::default()
        };
        let sts = StatefulSet {
            status: Some(StatefulSetStatus {
                ready_replicas: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            evaluate_argocd(Some(&crd), Some(&sts), None, "argocd").status,
            Status::Pass
        );
        assert_eq!(
            evaluate_argocd(Some(&crd), None, Some(&deployment(true, 1)), "argocd").status,
            Status::Pass
        );
    }

    #[test]
    fn argocd_without_crd_or_controller_fails() {
        assert!(
            evaluate_argocd(None, None, None, "argocd")
                .message
                .contains(ARGOCD_CRD)
        );
        let crd = CustomResourceDefinition {
            metadata: meta(ARGOCD_CRD),
            ..Default::default()
        };
        assert_eq!(
            evaluate_argocd(Some(&crd), None, None, "argocd").status,
            Status::Fail
        );
        assert_eq!(
            evaluate_argocd(Some(&crd), Some(&StatefulSet::default()), None, "argocd").status,
            Status::Fail
        );
    }
}

/// The part of an Argo CD Application's status we judge (argoproj.io/v1alpha1).
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStatus {
    #[serde(default)]
    pub sync: Option<AppStatusField>,
    #[serde(default)]
    pub health: Option<AppStatusField>,
    #[serde(default)]
    pub conditions: Vec<AppCondition>,
    #[serde(default)]
    pub resources: Vec<AppResource>,
    #[serde(default)]
    pub operation_state: Option<OperationState>,
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct AppStatusField {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct AppCondition {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct AppResource {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub health: Option<AppStatusField>,
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct OperationState {
    #[serde(default)]
    pub phase: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

pub fn evaluate_application(app: Option<&ApplicationStatus>, name: &str) -> Outcome {
    let Some(app) = app else {
        return Outcome::fail(format!("Application {name} not found"));
    };
    let field = |f: &Option<AppStatusField>| {
        f.as_ref()
            .and_then(|s| s.status.clone())
            .unwrap_or_else(|| "Unknown".into())
    };
    let (sync, health) = (field(&app.sync), field(&app.health));
    if sync == "Synced" && health == "Healthy" {
        return Outcome::pass(format!("{name}: Synced, Healthy"));
    }
    let mut evidence = Vec::new();
    for r in &app.resources {
        let h = r.health.as_ref().and_then(|h| h.status.as_deref());
        let s = r.status.as_deref();
        let unhealthy = h.is_some_and(|h| h != "Healthy");
        let unsynced = s.is_some_and(|s| s != "Synced");
        if unhealthy || unsynced {
            let msg = r
                .health
                .as_ref()
                .and_then(|h| h.message.as_deref())
                .unwrap_or("");
            evidence.push(
                format!(
                    "{}/{}: {} {} {msg}",
                    r.kind,
                    r.name,
                    s.unwrap_or("-"),
                    h.unwrap_or("-")
                )
                .trim_end()
                .to_owned(),
            );
        }
    }
    for c in &app.conditions {
        evidence.push(format!(
            "condition {}: {}",
            c.type_,
            c.message.as_deref().unwrap_or("")
        ));
    }
    if let Some(op) = &app.operation_state
        && matches!(op.phase.as_deref(), Some("Failed" | "Error"))
    {
        evidence.push(format!(
            "last sync {}: {}",
            op.phase.as_deref().unwrap_or(""),
            op.message.as_deref().unwrap_or("")
        ));
    }
    Outcome::fail(format!("{name}: {sync}, {health}")).with_all(evidence)
}

fn application_resource() -> ApiResource {
    ApiResource {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Application".into(),
        plural: "applications".into(),
    }
}

pub async fn argocd_app_healthy(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = fetch::client(ctx).await?;
    let c = &ctx.config;
    let api: Api<DynamicObject> =
        Api::namespaced_with(client, &c.argocd_namespace, &application_resource());
    let app = api.get_opt(&c.argocd_app).await.map_err(|e| {
        fetch::classify(
            e,
            "get",
            "applications.argoproj.io",
            Some(&c.argocd_namespace),
        )
    })?;
    let status = app.map(|a| {
        a.data
            .get("status")
            .cloned()
            .and_then(|s| serde_json::from_value::<ApplicationStatus>(s).ok())
            .unwrap_or_default()
    });
    Ok(evaluate_application(status.as_ref(), &c.argocd_app))
}

#[cfg(test)]
mod application_tests {
    use super::*;
    use crate::checks::Status;

    fn app(sync: &str, health: &str) -> ApplicationStatus {
        serde_json::from_value(serde_json::json!({
            "sync": {"status": sync},
            "health": {"status": health},
            "resources": [
                {"kind": "PersistentVolumeClaim", "name": "models", "status": "Synced",
                 "health": {"status": "Progressing", "message": "waiting for first consumer"}},
                {"kind": "Service", "name": "inference", "status": "Synced", "health": {"status": "Healthy"}}
            ],
            "conditions": [{"type": "SyncError", "message": "one or more objects failed to apply"}]
        }))
        .unwrap()
    }

    #[test]
    fn synced_healthy_application_passes() {
        assert_eq!(
            evaluate_application(Some(&app("Synced", "Healthy")), "mlops-lab").status,
            Status::Pass
        );
    }

    #[test]
    fn unhealthy_application_fails_naming_resource_and_condition() {
        let o = evaluate_application(Some(&app("Synced", "Progressing")), "mlops-lab");
        assert_eq!(o.status, Status::Fail);
        assert_eq!(o.message, "mlops-lab: Synced, Progressing");
        assert!(
            o.evidence
                .iter()
                .any(|e| e.contains("PersistentVolumeClaim/models")
                    && e.contains("waiting for first consumer"))
        );
        assert!(!o.evidence.iter().any(|e| e.contains("Service/inference")));
        assert!(o.evidence.iter().any(|e| e.contains("SyncError")));
        assert_eq!(evaluate_application(None, "mlops-lab").status, Status::Fail);
    }
}
