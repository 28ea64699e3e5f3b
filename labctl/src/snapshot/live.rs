//! Loading a snapshot from the API server: concurrent list calls, namespace-scoped where the
//! scope allows it, cluster-scoped for PersistentVolumes, Nodes and StorageClasses.
//!
//! Read-only: only `list` and `get`, the verbs the labctl RBAC grants.

use crate::k8s::model::{
    CronJob, Deployment, Event as CoreEvent, EventV1 as EventsV1Event, Job, PersistentVolume, Pod,
    ReplicaSet, StatefulSet,
};
use crate::k8s::{application, gateway};
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::core::DynamicObject;
use serde::de::DeserializeOwned;

use super::{Captured, Clock, ClusterSnapshot};
use crate::config::{LabConfig, NamespacedName};
use crate::fetch;

/// Which namespaces the live snapshot covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespaces {
    One(String),
    All,
}

/// Lists `K` in `ns` (or everywhere).
async fn list<K>(client: &kube::Client, ns: &Namespaces) -> anyhow::Result<Vec<K>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let ns = match ns {
        Namespaces::One(n) => Some(n.as_str()),
        Namespaces::All => None,
    };
    Ok(fetch::list_in(client, ns, &ListParams::default()).await?)
}

async fn list_cluster<K>(client: &kube::Client) -> anyhow::Result<Vec<K>>
where
    K: kube::Resource<Scope = k8s_openapi::ClusterResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    Ok(fetch::list_cluster(client, &ListParams::default()).await?)
}

/// The provisioner Deployments named in the lab description (absent ones are skipped: which of
/// the candidate locations exists depends on the distribution).
async fn provisioners(
    client: &kube::Client,
    candidates: &[NamespacedName],
) -> anyhow::Result<Vec<Deployment>> {
    let mut found = Vec::new();
    for c in candidates {
        match fetch::get_namespaced::<Deployment>(client, &c.namespace, &c.name).await {
            Ok(Some(d)) => found.push(d),
            Ok(None) => {}
            // Not allowed to read kube-system: judge from events instead of failing the run.
            Err(fetch::FetchError::Forbidden { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(found)
}

/// Objects of a kind k8s-openapi has no type for (Argo CD's Applications, the Gateway API's
/// HTTPRoutes) in `namespace`: none when its CRD is not installed (404), `None` when it is
/// not readable (403).
async fn list_dynamic(
    client: &kube::Client,
    namespace: &str,
    resource: kube::api::ApiResource,
) -> anyhow::Result<Option<Vec<DynamicObject>>> {
    match fetch::list_dynamic(client, namespace, &resource).await {
        Ok(items) => Ok(Some(items)),
        Err(fetch::FetchError::Forbidden { .. }) => Ok(None),
        Err(e) if fetch::is_not_found(&e) => Ok(Some(Vec::new())),
        Err(e) => Err(e.into()),
    }
}

/// Pods of other namespaces that hold resources on a node (scheduled, not finished): a node's
/// free room (`insufficient-resources`) counts what they request, k3s's Traefik and CoreDNS in
/// kube-system among them. Read for a one-namespace snapshot only (every namespace is read
/// whole anyway); none when listing pods everywhere is forbidden, and the room is then
/// overstated as in any partial snapshot.
async fn pods_elsewhere(
    client: &kube::Client,
    namespaces: &Namespaces,
) -> anyhow::Result<Vec<Pod>> {
    let Namespaces::One(ns) = namespaces else {
        return Ok(Vec::new());
    };
    let running = ListParams::default().fields("status.phase!=Succeeded,status.phase!=Failed");
    match fetch::list_in::<Pod>(client, None, &running).await {
        Ok(pods) => Ok(holding_elsewhere(pods, ns)),
        Err(fetch::FetchError::Forbidden { .. }) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// The pods outside `ns` that are bound to a node.
fn holding_elsewhere(pods: Vec<Pod>, ns: &str) -> Vec<Pod> {
    pods.into_iter()
        .filter(|p| {
            p.metadata.namespace.as_deref() != Some(ns)
                && p.spec.as_ref().is_some_and(|s| s.node_name.is_some())
        })
        .collect()
}

/// When the read happened: the API server's clock (the `Date` header of its answer to
/// `GET /version`, which the API server, a Go HTTP server, writes on every answer), else this
/// machine's. The API server's is the clock the objects' own times were written by.
async fn capture_time(client: &kube::Client) -> anyhow::Result<Captured> {
    let local = Captured {
        at: Timestamp::now(),
        clock: Clock::Local,
    };
    let request = http::Request::get("/version").body(kube::client::Body::from(Vec::new()))?;
    let Ok(response) = client.send(request).await else {
        return Ok(local);
    };
    let date = response
        .headers()
        .get(http::header::DATE)
        .and_then(|d| d.to_str().ok())
        .and_then(http_date);
    Ok(match date {
        Some(at) => Captured {
            at,
            clock: Clock::ApiServer,
        },
        None => local,
    })
}

/// An HTTP `Date` (`Fri, 04 Dec 2026 16:41:47 GMT`, RFC 9110's IMF-fixdate, a form of RFC 2822).
fn http_date(text: &str) -> Option<Timestamp> {
    k8s_openapi::jiff::fmt::rfc2822::parse(text)
        .ok()
        .map(|z| z.timestamp())
}

/// Reads everything the engine needs, with all list calls in flight at once.
pub async fn load(
    client: &kube::Client,
    namespaces: &Namespaces,
    config: &LabConfig,
) -> anyhow::Result<ClusterSnapshot> {
    let c = client;
    let ns = namespaces;
    let (captured, pvcs, pvs, classes, nodes, pods, jobs, cron_jobs) = futures::try_join!(
        capture_time(c),
        list::<PersistentVolumeClaim>(c, ns),
        list_cluster::<PersistentVolume>(c),
        list_cluster::<StorageClass>(c),
        list_cluster::<Node>(c),
        list::<Pod>(c, ns),
        list::<Job>(c, ns),
        list::<CronJob>(c, ns),
    )?;
    let (replica_sets, deployments, stateful_sets, services, endpoint_slices) = futures::try_join!(
        list::<ReplicaSet>(c, ns),
        list::<Deployment>(c, ns),
        list::<StatefulSet>(c, ns),
        list::<Service>(c, ns),
        list::<EndpointSlice>(c, ns),
    )?;
    // The lab's route, as `verify` judges it (`verify --snapshot`).
    let route_ns = match ns {
        Namespaces::One(n) => n.as_str(),
        Namespaces::All => config.namespace.as_str(),
    };
    // Both event APIs: the scheduler writes events.k8s.io/v1, the PV controller and the
    // provisioner core/v1. They are one store seen twice; the engine de-duplicates by uid.
    let (events, events_v1, provisioner_deployments, apps, elsewhere, ingresses, http_routes) = futures::try_join!(
        list::<CoreEvent>(c, ns),
        list::<EventsV1Event>(c, ns),
        provisioners(c, &config.provisioner_deployments),
        list_dynamic(c, &config.argocd_namespace, application::resource()),
        pods_elsewhere(c, ns),
        list::<Ingress>(c, ns),
        list_dynamic(c, route_ns, gateway::http_route_resource()),
    )?;
    // Every resource is read whole, except a kind labctl may not read.
    let mut read = super::resources();
    for (objects, resource) in [
        (&apps, application::resource()),
        (&http_routes, gateway::http_route_resource()),
    ] {
        if objects.is_none() {
            read.remove(&format!("{}/{}", resource.api_version, resource.plural));
        }
    }
    let mut pods = pods;
    pods.extend(elsewhere);
    let mut deployments = deployments;
    for d in provisioner_deployments {
        let already = deployments.iter().any(|x| {
            x.metadata.namespace == d.metadata.namespace && x.metadata.name == d.metadata.name
        });
        if !already {
            deployments.push(d);
        }
    }
    let mut snapshot = ClusterSnapshot {
        persistent_volume_claims: pvcs,
        persistent_volumes: pvs,
        storage_classes: classes,
        nodes,
        pods,
        jobs,
        cron_jobs,
        replica_sets,
        deployments,
        stateful_sets,
        services,
        endpoint_slices,
        ingresses,
        http_routes: http_routes.unwrap_or_default(),
        events,
        events_v1,
        applications: apps.unwrap_or_default(),
        read: Some(read),
        captured: Some(captured),
    };
    // Every list and get above, the Applications and the other namespaces' pods included.
    snapshot.drop_bookkeeping();
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::model::PodSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(ns: &str, node: Option<&str>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(format!("p-{ns}")),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: node.map(str::to_owned),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_api_servers_date_header_reads_as_a_time() {
        let t = http_date("Fri, 04 Dec 2026 16:41:47 GMT").unwrap();
        assert_eq!(t.to_string(), "2026-12-04T16:41:47Z");
        assert_eq!(http_date("yesterday"), None);
    }

    #[test]
    fn only_scheduled_pods_of_other_namespaces_count_for_a_nodes_room() {
        let pods = vec![
            pod("mlops-lab", Some("n1")),
            pod("kube-system", Some("n1")),
            pod("kube-system", None),
        ];
        let kept = holding_elsewhere(pods, "mlops-lab");
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].metadata.namespace.as_deref(), Some("kube-system"));
        assert!(kept[0].spec.as_ref().unwrap().node_name.is_some());
    }
}

#[cfg(test)]
mod bookkeeping {
    use super::*;
    use serde_json::json;

    /// Whatever path an object comes by (a list, a get, a dynamic list), the live snapshot
    /// keeps none of the writers' bookkeeping.
    #[tokio::test]
    async fn no_object_of_a_live_snapshot_keeps_managed_fields() {
        let managed = json!([{"manager": "argocd-controller", "fieldsV1": {"f:status": {}}}]);
        let app: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "mlops-lab", "namespace": "argocd", "managedFields": managed}}))
        .unwrap();
        let provisioner: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "local-path-provisioner", "namespace": "kube-system",
                         "managedFields": managed}}))
        .unwrap();
        let cluster = ClusterSnapshot {
            applications: vec![app],
            deployments: vec![provisioner],
            read: Some(super::super::resources()),
            ..ClusterSnapshot::default()
        };
        let client = super::super::server::client(std::sync::Arc::new(cluster), "mlops-lab");
        let config = LabConfig::default();
        let s = load(&client, &Namespaces::One("mlops-lab".into()), &config)
            .await
            .unwrap();
        assert_eq!(s.applications.len(), 1);
        assert_eq!(s.deployments.len(), 1, "the provisioner, by get");
        assert!(s.applications[0].metadata.managed_fields.is_none());
        assert!(s.deployments[0].metadata.managed_fields.is_none());
    }
}
