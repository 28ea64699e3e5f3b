//! The lab namespace: absent, or holding only the lab.

use crate::k8s::model::{CronJob, DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::ListParams;

use super::{CheckError, Outcome};
use crate::config::LabConfig;
use crate::context::Context;
use crate::fetch;

/// Objects found in the namespace, as `kind/name`.
#[derive(Debug, Default)]
pub struct NamespaceContents {
    pub objects: Vec<(String, String)>,
}

/// Names the lab itself creates, per kind.
fn ours(config: &LabConfig, kind: &str, name: &str) -> bool {
    match kind {
        "Deployment" => name == config.deployment,
        "CronJob" => name == config.cronjob,
        "Service" => name == config.service,
        "Ingress" => name == config.ingress,
        "PersistentVolumeClaim" => name == config.pvc,
        _ => false,
    }
}

pub fn evaluate_namespace(
    ns: Option<&Namespace>,
    contents: &NamespaceContents,
    config: &LabConfig,
) -> Outcome {
    let name = &config.namespace;
    let Some(ns) = ns else {
        return Outcome::pass(format!(
            "namespace {name} does not exist yet (Argo CD creates it)"
        ));
    };
    if ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating") {
        return Outcome::fail(format!("namespace {name} is Terminating"));
    }
    let foreign: Vec<String> = contents
        .objects
        .iter()
        .filter(|(kind, n)| !ours(config, kind, n))
        .map(|(kind, n)| format!("{kind}/{n} is not part of the lab"))
        .collect();
    if foreign.is_empty() {
        Outcome::pass(format!(
            "namespace {name} holds only the lab ({} objects)",
            contents.objects.len()
        ))
    } else {
        Outcome::fail(format!(
            "namespace {name} holds {} objects that are not the lab's",
            foreign.len()
        ))
        .with_all(foreign)
        .with("Argo CD with prune would not touch them, but the lab is no longer isolated")
    }
}

pub async fn namespace_isolation(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = super::client(ctx).await?;
    let name = &ctx.config.namespace;
    let ns: Option<Namespace> = fetch::get_cluster(&client, name).await?;
    if ns.is_none() {
        return Ok(evaluate_namespace(
            None,
            &NamespaceContents::default(),
            &ctx.config,
        ));
    }
    let lp = ListParams::default();
    let (deploys, sts, ds, cronjobs, services, ingresses, pvcs) = futures::try_join!(
        fetch::list_namespaced::<Deployment>(&client, name, &lp),
        fetch::list_namespaced::<StatefulSet>(&client, name, &lp),
        fetch::list_namespaced::<DaemonSet>(&client, name, &lp),
        fetch::list_namespaced::<CronJob>(&client, name, &lp),
        fetch::list_namespaced::<Service>(&client, name, &lp),
        fetch::list_namespaced::<Ingress>(&client, name, &lp),
        fetch::list_namespaced::<PersistentVolumeClaim>(&client, name, &lp),
    )?;
    let mut contents = NamespaceContents::default();
    let mut add = |kind: &str, names: Vec<Option<String>>| {
        contents
            .objects
            .extend(names.into_iter().flatten().map(|n| (kind.to_owned(), n)));
    };
    add(
        "Deployment",
        deploys.into_iter().map(|o| o.metadata.name).collect(),
    );
    add(
        "StatefulSet",
        sts.into_iter().map(|o| o.metadata.name).collect(),
    );
    add(
        "DaemonSet",
        ds.into_iter().map(|o| o.metadata.name).collect(),
    );
    add(
        "CronJob",
        cronjobs.into_iter().map(|o| o.metadata.name).collect(),
    );
    add(
        "Service",
        services.into_iter().map(|o| o.metadata.name).collect(),
    );
    add(
        "Ingress",
        ingresses.into_iter().map(|o| o.metadata.name).collect(),
    );
    add(
        "PersistentVolumeClaim",
        pvcs.into_iter().map(|o| o.metadata.name).collect(),
    );
    Ok(evaluate_namespace(ns.as_ref(), &contents, &ctx.config))
}

#[cfg(test)]
mod namespace_tests {
    use super::*;
    use crate::checks::Status;
    use crate::checks::test_objects::*;

    use k8s_openapi::api::core::v1::*;

    #[test]
    fn absent_namespace_or_only_lab_objects_pass() {
        let config = LabConfig::default();
        assert_eq!(
            evaluate_namespace(None, &NamespaceContents::default(), &config).status,
            Status::Pass
        );
        let contents = NamespaceContents {
            objects: vec![
                ("Deployment".into(), "inference".into()),
                ("PersistentVolumeClaim".into(), "models".into()),
            ],
        };
        let ns = Namespace {
            metadata: meta("mlops-lab"),
            ..Default::default()
        };
        assert_eq!(
            evaluate_namespace(Some(&ns), &contents, &config).status,
            Status::Pass
        );
    }

    #[test]
    fn foreign_objects_or_terminating_namespace_fail() {
        let config = LabConfig::default();
        let ns = Namespace {
            metadata: meta("mlops-lab"),
            ..Default::default()
        };
        let contents = NamespaceContents {
            objects: vec![("Deployment".into(), "postgres".into())],
        };
        let o = evaluate_namespace(Some(&ns), &contents, &config);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(o.evidence[0], "Deployment/postgres is not part of the lab");
        let terminating = Namespace {
            status: Some(NamespaceStatus {
                phase: Some("Terminating".into()),
                ..Default::default()
            }),
            ..ns
        };
        assert_eq!(
            evaluate_namespace(Some(&terminating), &NamespaceContents::default(), &config).status,
            Status::Fail
        );
    }
}
