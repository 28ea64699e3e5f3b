//! The cluster as one round of checks sees it: one [`ClusterSnapshot`], read once a round by
//! the loader `diagnose` uses ([`crate::snapshot::live::load`]) or from a file (`verify
//! --snapshot`), and the instant it is judged as of. The checks that judge objects are pure
//! functions of it and the lab description (a [`super::Run::Judge`]), so that live and
//! recorded verify judge alike and a round asks the API server for each list once.
//!
//! A check finds its objects here the way it would ask the API server: an object by name or
//! every object of a namespace. When the snapshot lacks the resource, the answer says why, as
//! a check needs it: refused live ([`FetchError::Forbidden`], the check is skipped naming the
//! permission), or not read by the file's writer ([`CheckError::NotInSnapshot`]: a file of
//! `kubectl get` that did not ask for Ingresses says nothing about them).

use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::api::{ApiResource, DynamicObject};

use super::CheckError;
use crate::fetch::{self, FetchError};
use crate::snapshot::{ClusterSnapshot, Held};

/// One round's snapshot and its "now".
#[derive(Debug, Clone)]
pub struct Cluster {
    pub snapshot: Arc<ClusterSnapshot>,
    /// The instant time-relative judgements are made against ("is the last training older
    /// than two schedules?"): the read's, by the API server's clock, or a recording's.
    pub now: Timestamp,
}

impl Cluster {
    pub fn new(snapshot: Arc<ClusterSnapshot>, now: Timestamp) -> Self {
        Self { snapshot, now }
    }

    /// The object `name` of `items` (in `namespace`; `None` for a cluster-scoped kind), as a
    /// GET would answer: `None` when it does not exist.
    pub fn get<'a, K>(
        &self,
        items: &'a [K],
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<&'a K>, CheckError>
    where
        K: Resource<DynamicType = ()>,
    {
        let resource = fetch::resource_name::<K>();
        self.held(&key::<K>(), !items.is_empty(), "get", &resource, namespace)?;
        Ok(items.iter().find(|o| is(o.meta(), namespace, Some(name))))
    }

    /// Every object of `items` in `namespace` (`None`: every one), as a LIST would answer.
    pub fn list<'a, K>(
        &self,
        items: &'a [K],
        namespace: Option<&str>,
    ) -> Result<Vec<&'a K>, CheckError>
    where
        K: Resource<DynamicType = ()>,
    {
        let resource = fetch::resource_name::<K>();
        self.held(&key::<K>(), !items.is_empty(), "list", &resource, namespace)?;
        Ok(items
            .iter()
            .filter(|o| is(o.meta(), namespace, None))
            .collect())
    }

    /// [`Self::get`] for a kind k8s-openapi has no type for (Argo CD's Application, the
    /// Gateway API's HTTPRoute), described by `resource`.
    pub fn get_dynamic<'a>(
        &self,
        items: &'a [DynamicObject],
        resource: &ApiResource,
        namespace: &str,
        name: &str,
    ) -> Result<Option<&'a DynamicObject>, CheckError> {
        let key = format!("{}/{}", resource.api_version, resource.plural);
        let named = format!("{}.{}", resource.plural, resource.group);
        self.held(&key, !items.is_empty(), "get", &named, Some(namespace))?;
        Ok(items
            .iter()
            .find(|o| is(&o.metadata, Some(namespace), Some(name))))
    }

    /// Whether the snapshot holds `key`, or why a check cannot judge without it.
    fn held(
        &self,
        key: &str,
        has_objects: bool,
        verb: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> Result<(), CheckError> {
        match self.snapshot.held(key, has_objects) {
            Held::Yes => Ok(()),
            Held::Forbidden(permission) => Err(CheckError::Fetch(FetchError::Forbidden {
                permission: permission.to_owned(),
            })),
            Held::No => Err(CheckError::NotInSnapshot {
                action: fetch::action(verb, resource, namespace),
            }),
        }
    }
}

/// `v1/pods`: a typed kind as [`ClusterSnapshot::read`] names it.
fn key<K: Resource<DynamicType = ()>>() -> String {
    format!("{}/{}", K::api_version(&()), K::plural(&()))
}

/// Whether an object is in `namespace` (any, with `None`) and, when given, named `name`.
fn is(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    namespace: Option<&str>,
    name: Option<&str>,
) -> bool {
    namespace.is_none_or(|ns| meta.namespace.as_deref() == Some(ns))
        && name.is_none_or(|n| meta.name.as_deref() == Some(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn claim(ns: &str, name: &str) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn cluster(snapshot: ClusterSnapshot) -> Cluster {
        Cluster::new(Arc::new(snapshot), Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn an_object_is_found_by_namespace_and_name() {
        let c = cluster(ClusterSnapshot {
            persistent_volume_claims: vec![claim("other", "models"), claim("mlops-lab", "models")],
            ..Default::default()
        });
        let claims = &c.snapshot.persistent_volume_claims;
        let found = c.get(claims, Some("mlops-lab"), "models").unwrap();
        assert_eq!(
            found.unwrap().metadata.namespace.as_deref(),
            Some("mlops-lab")
        );
        assert!(c.get(claims, Some("mlops-lab"), "gone").unwrap().is_none());
        assert_eq!(c.list(claims, Some("other")).unwrap().len(), 1);
    }

    #[test]
    fn a_resource_read_whole_without_objects_has_none() {
        let c = cluster(ClusterSnapshot {
            read: Some(crate::snapshot::resources()),
            ..Default::default()
        });
        assert!(c.get(&c.snapshot.nodes, None, "n1").unwrap().is_none());
    }

    #[test]
    fn a_refused_or_unread_resource_says_why() {
        let mut refused = ClusterSnapshot::default();
        refused
            .forbidden
            .insert("v1/nodes".into(), "cannot list nodes".into());
        let c = cluster(refused);
        let err = c.list(&c.snapshot.nodes, None).unwrap_err();
        assert!(
            matches!(&err, CheckError::Fetch(FetchError::Forbidden { permission })
                if permission == "cannot list nodes"),
            "{err}"
        );
        // A file of `kubectl get` that holds no claim did not ask for claims.
        let c = cluster(ClusterSnapshot::default());
        let claims = &c.snapshot.persistent_volume_claims;
        let err = c.get(claims, Some("mlops-lab"), "models").unwrap_err();
        assert_eq!(
            err.to_string(),
            "get persistentvolumeclaims in mlops-lab: not in the snapshot"
        );
        let nodes: &[Node] = &c.snapshot.nodes;
        assert_eq!(
            c.list(nodes, None).unwrap_err().to_string(),
            "list nodes: not in the snapshot"
        );
    }
}
