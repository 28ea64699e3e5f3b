//! The one list/get layer, for live checks and live snapshots: thin wrappers over `kube::Api`
//! that turn a 403 into [`FetchError::Forbidden`] naming the permission in kubectl's words
//! (`cannot list events in mlops-lab`) and every other error into one that says what was tried.
//! A check turns the first into "skipped" and the second into a failure; the live snapshot
//! keeps the first as the list it could not read.

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

/// Why a list or get failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The API refused the call with 403.
    #[error("{permission}")]
    Forbidden {
        /// In kubectl's words, e.g. `cannot list events in mlops-lab`.
        permission: String,
    },
    /// Any other failure (unreachable, 401, 5xx, bad response).
    #[error("cannot {action}: {source}")]
    Api {
        /// What was attempted, e.g. `get deployments in mlops-lab`.
        action: String,
        #[source]
        source: kube::Error,
    },
}

/// Whether the API refused a call as forbidden (403): the one place that decides it.
pub fn is_forbidden(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 403)
}

/// `deployments`, `ingresses.networking.k8s.io`: the resource as `kubectl auth can-i` names it.
pub fn resource_name<K: Resource<DynamicType = ()>>() -> String {
    let plural = K::plural(&());
    let group = K::group(&());
    if group.is_empty() {
        plural.into_owned()
    } else {
        format!("{plural}.{group}")
    }
}

/// What was attempted, e.g. `list events in mlops-lab` or `list nodes`.
pub fn action(verb: &str, resource: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("{verb} {resource} in {ns}"),
        None => format!("{verb} {resource}"),
    }
}

/// Maps a kube error for `verb resource [in ns]`.
pub fn classify(err: kube::Error, verb: &str, resource: &str, ns: Option<&str>) -> FetchError {
    let action = action(verb, resource, ns);
    if is_forbidden(&err) {
        FetchError::Forbidden {
            permission: format!("cannot {action}"),
        }
    } else {
        FetchError::Api {
            action,
            source: err,
        }
    }
}

/// GET a namespaced object; `None` when it does not exist.
pub async fn get_namespaced<K>(
    client: &Client,
    ns: &str,
    name: &str,
) -> Result<Option<K>, FetchError>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
{
    Api::<K>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .map_err(|e| classify(e, "get", &resource_name::<K>(), Some(ns)))
}

/// GET a namespaced object of a kind k8s-openapi has no type for (Argo CD's Application, the
/// Gateway API's objects), described by `resource`; `None` when it does not exist.
pub async fn get_dynamic(
    client: &Client,
    ns: &str,
    resource: &ApiResource,
    name: &str,
) -> Result<Option<DynamicObject>, FetchError> {
    Api::<DynamicObject>::namespaced_with(client.clone(), ns, resource)
        .get_opt(name)
        .await
        .map_err(|e| {
            let plural = format!("{}.{}", resource.plural, resource.group);
            classify(e, "get", &plural, Some(ns))
        })
}

/// LIST namespaced objects of a kind k8s-openapi has no type for, described by `resource`.
pub async fn list_dynamic(
    client: &Client,
    ns: &str,
    resource: &ApiResource,
) -> Result<Vec<DynamicObject>, FetchError> {
    Api::<DynamicObject>::namespaced_with(client.clone(), ns, resource)
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .map_err(|e| {
            let plural = format!("{}.{}", resource.plural, resource.group);
            classify(e, "list", &plural, Some(ns))
        })
}

/// Whether the API answered that the resource itself does not exist (404): for a custom
/// resource, its CRD is not installed.
pub fn is_not_found(err: &FetchError) -> bool {
    matches!(err, FetchError::Api { source: kube::Error::Api(s), .. } if s.code == 404)
}

/// GET a cluster-scoped object; `None` when it does not exist.
pub async fn get_cluster<K>(client: &Client, name: &str) -> Result<Option<K>, FetchError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    Api::<K>::all(client.clone())
        .get_opt(name)
        .await
        .map_err(|e| classify(e, "get", &resource_name::<K>(), None))
}

/// LIST namespaced objects (optionally by label selector).
pub async fn list_namespaced<K>(
    client: &Client,
    ns: &str,
    params: &ListParams,
) -> Result<Vec<K>, FetchError>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
{
    list_in(client, Some(ns), params).await
}

/// LIST namespaced objects in `ns`, or in every namespace with `None`.
pub async fn list_in<K>(
    client: &Client,
    ns: Option<&str>,
    params: &ListParams,
) -> Result<Vec<K>, FetchError>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let api = match ns {
        Some(ns) => Api::<K>::namespaced(client.clone(), ns),
        None => Api::<K>::all(client.clone()),
    };
    api.list(params)
        .await
        .map(|l| l.items)
        .map_err(|e| classify(e, "list", &resource_name::<K>(), ns))
}

/// LIST cluster-scoped objects.
pub async fn list_cluster<K>(client: &Client, params: &ListParams) -> Result<Vec<K>, FetchError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    Api::<K>::all(client.clone())
        .list(params)
        .await
        .map(|l| l.items)
        .map_err(|e| classify(e, "list", &resource_name::<K>(), None))
}
