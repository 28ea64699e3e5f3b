//! The Kubernetes API: reachable at a supported version, credentials accepted (the two
//! gates), and the read permissions labctl needs.

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::apimachinery::pkg::version::Info;
use kube::api::{Api, PostParams};

use super::permissions::{PERMISSIONS, Permission, Scope};
use super::{CheckError, Outcome};
use crate::config::LabConfig;
use crate::context::Context;
use crate::fetch;

/// Oldest Kubernetes minor version the lab supports (k8s-openapi is built for it).
pub const MIN_MINOR: u32 = 33;

/// Parses `"33"` or `"33+"` (some distributions append `+`).
fn minor_version(info: &Info) -> Option<u32> {
    info.minor.trim_end_matches('+').parse().ok()
}

pub fn evaluate_version(info: &Info) -> Outcome {
    let version = &info.git_version;
    match (info.major.as_str(), minor_version(info)) {
        ("1", Some(minor)) if minor >= MIN_MINOR => Outcome::pass(format!("Kubernetes {version}")),
        ("1", Some(_)) => Outcome::fail(format!(
            "Kubernetes {version} is older than the oldest supported version v1.{MIN_MINOR}"
        )),
        _ => Outcome::fail(format!("unrecognised Kubernetes version {version:?}")),
    }
}

pub async fn api_reachable(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = super::client(ctx).await?;
    let info = client.apiserver_version().await.map_err(|e| {
        CheckError::from(fetch::FetchError::Api {
            action: "reach the API server (GET /version)".into(),
            source: e,
        })
    })?;
    Ok(evaluate_version(&info))
}

pub fn evaluate_self_review(review: &SelfSubjectReview) -> Outcome {
    let user = review.status.as_ref().and_then(|s| s.user_info.as_ref());
    match user.and_then(|u| u.username.as_deref()) {
        Some(name) if !name.is_empty() && name != "system:anonymous" => {
            Outcome::pass(format!("authenticated as {name}"))
        }
        _ => Outcome::fail("the API server treats these credentials as anonymous"),
    }
}

pub async fn credentials_accepted(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = super::client(ctx).await?;
    let api: Api<SelfSubjectReview> = Api::all(client);
    match api
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
    {
        Ok(review) => Ok(evaluate_self_review(&review)),
        Err(kube::Error::Api(status)) if status.code == 401 => Ok(Outcome::fail(
            "the API server rejected the credentials (401 Unauthorized)",
        )
        .with("check the user of the kubeconfig context (expired token or certificate?)")),
        Err(e) => Err(fetch::classify(
            e,
            "create",
            "selfsubjectreviews.authentication.k8s.io",
            None,
        )
        .into()),
    }
}

#[cfg(test)]
mod gates_tests {
    use super::*;
    use crate::checks::Status;

    use k8s_openapi::api::authentication::v1::{SelfSubjectReviewStatus, UserInfo};

    fn info(major: &str, minor: &str) -> Info {
        Info {
            major: major.into(),
            minor: minor.into(),
            git_version: format!("v{major}.{minor}.0"),
            ..Default::default()
        }
    }

    #[test]
    fn version_supported_passes() {
        assert_eq!(evaluate_version(&info("1", "33")).status, Status::Pass);
        assert_eq!(evaluate_version(&info("1", "34+")).status, Status::Pass);
    }

    #[test]
    fn version_too_old_fails() {
        let o = evaluate_version(&info("1", "30"));
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message
                .contains("older than the oldest supported version v1.33")
        );
        assert_eq!(evaluate_version(&info("", "")).status, Status::Fail);
    }

    fn review(user: &str) -> SelfSubjectReview {
        SelfSubjectReview {
            status: Some(SelfSubjectReviewStatus {
                user_info: Some(UserInfo {
                    username: Some(user.into()),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn authenticated_user_passes_and_anonymous_fails() {
        let o = evaluate_self_review(&review("kubernetes-admin"));
        assert_eq!(o.status, Status::Pass);
        assert!(o.message.contains("kubernetes-admin"));
        assert_eq!(
            evaluate_self_review(&review("system:anonymous")).status,
            Status::Fail
        );
    }
}

/// Missing permissions, in kubectl's words.
pub fn evaluate_permissions(reviews: &[(String, bool)]) -> Outcome {
    let missing: Vec<&String> = reviews
        .iter()
        .filter(|(_, allowed)| !allowed)
        .map(|(p, _)| p)
        .collect();
    if missing.is_empty() {
        Outcome::pass(format!("all {} permissions granted", reviews.len()))
    } else {
        Outcome::fail(format!(
            "{} of {} permissions missing",
            missing.len(),
            reviews.len()
        ))
        .with_all(missing.into_iter().cloned())
        .with("apply manifests/rbac/ (ClusterRole labctl-read-only) and bind it to this user")
    }
}

fn review_for(
    perm: &Permission,
    verb: &str,
    config: &LabConfig,
) -> (String, SelfSubjectAccessReview) {
    let namespace = match perm.scope {
        Scope::Cluster => None,
        Scope::Lab => Some(config.namespace.clone()),
        Scope::ArgoCd => Some(config.argocd_namespace.clone()),
    };
    let what = format!(
        "cannot {}",
        fetch::action(verb, &perm.resource_name(), namespace.as_deref())
    );
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                group: Some(perm.group.to_owned()),
                resource: Some(perm.resource.to_owned()),
                verb: Some(verb.to_owned()),
                namespace,
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    (what, review)
}

pub async fn permissions(ctx: &Context) -> Result<Outcome, CheckError> {
    let client = super::client(ctx).await?;
    let api: Api<SelfSubjectAccessReview> = Api::all(client);
    let reviews: Vec<_> = PERMISSIONS
        .iter()
        .flat_map(|p| p.verbs.iter().map(move |v| review_for(p, v, &ctx.config)))
        .collect();
    let answers = futures::future::join_all(reviews.iter().map(|(what, review)| {
        let api = api.clone();
        async move {
            let answer = api.create(&PostParams::default(), review).await;
            (what, answer)
        }
    }))
    .await;
    let mut results = Vec::with_capacity(answers.len());
    for (what, answer) in answers {
        let review = answer.map_err(|e| {
            fetch::classify(
                e,
                "create",
                "selfsubjectaccessreviews.authorization.k8s.io",
                None,
            )
        })?;
        let allowed = review.status.is_some_and(|s| s.allowed);
        results.push((what.clone(), allowed));
    }
    Ok(evaluate_permissions(&results))
}

#[cfg(test)]
mod permissions_tests {
    use super::*;
    use crate::checks::Status;

    #[test]
    fn permissions_all_granted_pass_and_missing_ones_are_named() {
        let ok = [("cannot list pods in mlops-lab".to_owned(), true)];
        assert_eq!(evaluate_permissions(&ok).status, Status::Pass);
        let missing = [
            ("cannot list events in mlops-lab".to_owned(), false),
            ("cannot list nodes".to_owned(), true),
        ];
        let o = evaluate_permissions(&missing);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(o.evidence[0], "cannot list events in mlops-lab");
    }

    #[test]
    fn review_names_namespace_only_for_namespaced_resources() {
        let (what, r) = review_for(&PERMISSIONS[0], "list", &LabConfig::default());
        assert_eq!(what, "cannot list events in mlops-lab");
        assert_eq!(
            r.spec.resource_attributes.unwrap().namespace.as_deref(),
            Some("mlops-lab")
        );
        let nodes = PERMISSIONS.iter().find(|p| p.resource == "nodes").unwrap();
        let (what, r) = review_for(nodes, "list", &LabConfig::default());
        assert_eq!(what, "cannot list nodes");
        assert_eq!(r.spec.resource_attributes.unwrap().namespace, None);
    }
}
