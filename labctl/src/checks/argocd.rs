//! Argo CD: installed before deploying; the lab's Application Synced and Healthy afterwards.

use crate::k8s::model::{Deployment, StatefulSet};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

use super::available::evaluate_deployment_available;
use super::cluster::Cluster;
use super::{CheckError, Outcome};
use crate::config::LabConfig;
use crate::context::Context;
use crate::fetch;
use crate::k8s::application::{Application, short};

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
    let client = super::client(ctx).await?;
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
    use crate::k8s::model::StatefulSet;
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

/// Argo CD's own word on the Application: Synced to the revision it compared and Healthy.
/// Failing, the evidence is what Argo CD says (see [`Application::evidence`]): the resources
/// that differ from Git, the sync operation and what it waits for, failed hooks, conditions.
/// Each resource's health is judged by the other checks from the live objects, never from
/// `.status.resources[].health` (Argo CD 3.x does not persist it).
pub fn evaluate_application(app: Option<&Application>, name: &str) -> Outcome {
    let Some(app) = app else {
        return Outcome::fail(format!("Application {name} not found"));
    };
    let or_unknown = |s: &str| {
        if s.is_empty() {
            "Unknown".to_owned()
        } else {
            s.to_owned()
        }
    };
    let (sync, health) = (
        or_unknown(&app.status.sync.status),
        or_unknown(&app.status.health.status),
    );
    let revision = &app.status.sync.revision;
    let at = if revision.is_empty() {
        String::new()
    } else {
        format!(" at {}", short(revision))
    };
    if sync == "Synced" && health == "Healthy" {
        return Outcome::pass(format!("{name}: Synced{at}, Healthy"));
    }
    Outcome::fail(format!("{name}: {sync}{at}, {health}")).with_all(app.evidence())
}

/// The lab's Application, in the snapshot's list of Argo CD's namespace.
pub fn argocd_app_healthy(cluster: &Cluster, c: &LabConfig) -> Result<Outcome, CheckError> {
    let app = cluster.get_dynamic(
        &cluster.snapshot.applications,
        &crate::k8s::application::resource(),
        &c.argocd_namespace,
        &c.argocd_app,
    )?;
    let app = app.map(|a| Application::from_object(a).unwrap_or_default());
    Ok(evaluate_application(app.as_ref(), &c.argocd_app))
}

#[cfg(test)]
mod application_tests {
    use super::*;
    use crate::checks::Status;

    /// An Application as Argo CD 3.x writes it: no health in `.status.resources`.
    fn app(sync: &str, health: &str) -> Application {
        Application::from_value(&serde_json::json!({
            "status": {
                "sync": {"status": sync, "revision": "4f6c2b1e9d0a"},
                "health": {"status": health},
                "resources": [
                    {"kind": "PersistentVolumeClaim", "namespace": "mlops-lab", "name": "models", "status": "Synced"},
                    {"kind": "Service", "namespace": "mlops-lab", "name": "inference", "status": "OutOfSync"}
                ],
                "operationState": {"phase": "Running", "message": "waiting for healthy state of /PersistentVolumeClaim/models",
                                   "syncResult": {"revision": "4f6c2b1e9d0a"}},
                "conditions": [{"type": "SyncError", "message": "one or more objects failed to apply"}]
            }
        }))
        .unwrap()
    }

    #[test]
    fn synced_healthy_application_passes() {
        let o = evaluate_application(Some(&app("Synced", "Healthy")), "mlops-lab");
        assert_eq!(o.status, Status::Pass);
        assert_eq!(o.message, "mlops-lab: Synced at 4f6c2b1, Healthy");
    }

    #[test]
    fn unhealthy_application_fails_with_argocds_own_words() {
        let o = evaluate_application(Some(&app("OutOfSync", "Progressing")), "mlops-lab");
        assert_eq!(o.status, Status::Fail);
        assert_eq!(o.message, "mlops-lab: OutOfSync at 4f6c2b1, Progressing");
        assert_eq!(
            o.evidence,
            [
                "OutOfSync with Git: Service mlops-lab/inference",
                "sync operation of 4f6c2b1 Running: waiting for healthy state of /PersistentVolumeClaim/models",
                "condition SyncError: one or more objects failed to apply",
            ]
        );
        assert_eq!(evaluate_application(None, "mlops-lab").status, Status::Fail);
    }
}
