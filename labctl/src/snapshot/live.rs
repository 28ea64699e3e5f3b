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
use std::collections::BTreeMap;

use super::{Captured, Clock, ClusterSnapshot};
use crate::config::{LabConfig, NamespacedName};
use crate::fetch;

/// Which namespaces the live snapshot covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespaces {
    One(String),
    All,
}

/// A list the API server answered, or the permission it refused (403), in kubectl's words.
type Listed<K> = Result<Vec<K>, String>;

/// `v1/pods`: the resource as [`ClusterSnapshot::read`] names it.
fn key<K: kube::Resource<DynamicType = ()>>() -> String {
    format!("{}/{}", K::api_version(&()), K::plural(&()))
}

/// A refusal kept as [`Listed`]; any other failure fails the read.
fn listed<K>(result: Result<Vec<K>, fetch::FetchError>) -> anyhow::Result<Listed<K>> {
    match result {
        Ok(items) => Ok(Ok(items)),
        Err(fetch::FetchError::Forbidden { permission }) => Ok(Err(permission)),
        Err(e) => Err(e.into()),
    }
}

/// Lists `K` in `ns` (or everywhere).
async fn list<K>(client: &kube::Client, ns: &Namespaces) -> anyhow::Result<Listed<K>>
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
    listed(fetch::list_in(client, ns, &ListParams::default()).await)
}

async fn list_cluster<K>(client: &kube::Client) -> anyhow::Result<Listed<K>>
where
    K: kube::Resource<Scope = k8s_openapi::ClusterResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    listed(fetch::list_cluster(client, &ListParams::default()).await)
}

/// The lists the API server refused, by resource, while the answered ones are unpacked.
#[derive(Default)]
struct Refused(BTreeMap<String, String>);

impl Refused {
    /// The objects of a typed list; none, noted, when it was refused.
    fn take<K: kube::Resource<DynamicType = ()>>(&mut self, listed: Listed<K>) -> Vec<K> {
        self.note(key::<K>(), listed)
    }

    fn note<K>(&mut self, resource: String, listed: Listed<K>) -> Vec<K> {
        listed.unwrap_or_else(|permission| {
            self.0.insert(resource, permission);
            Vec::new()
        })
    }
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
/// HTTPRoutes) in `namespace`: none when its CRD is not installed (404).
async fn list_dynamic(
    client: &kube::Client,
    namespace: &str,
    resource: kube::api::ApiResource,
) -> anyhow::Result<Listed<DynamicObject>> {
    match fetch::list_dynamic(client, namespace, &resource).await {
        Err(e) if fetch::is_not_found(&e) => Ok(Ok(Vec::new())),
        other => listed(other),
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

/// The lists a reader of the whole cluster (`diagnose`, `labctl snapshot`) does without when
/// the API server refuses them: an operator may not be allowed to read Argo CD's namespace,
/// and the Gateway API's routes matter only with a Gateway.
const OPTIONAL: [&str; 2] = [
    concat!("argoproj.io/v1alpha1", "/applications"),
    concat!("gateway.networking.k8s.io/v1", "/httproutes"),
];

/// [`load`] for a reader that needs every list but the [`OPTIONAL`] ones: another refused
/// list fails the read, naming the permission.
pub async fn load_whole(
    client: &kube::Client,
    namespaces: &Namespaces,
    config: &LabConfig,
) -> anyhow::Result<ClusterSnapshot> {
    let snapshot = load(client, namespaces, config).await?;
    if let Some(permission) = refused_needed(&snapshot) {
        anyhow::bail!("{permission}");
    }
    Ok(snapshot)
}

/// The permission of the first list a reader of the whole cluster needs that the API server
/// refused ([`load_whole`]); `None` when it has them all.
pub fn refused_needed(snapshot: &ClusterSnapshot) -> Option<&str> {
    snapshot
        .forbidden
        .iter()
        .find(|(resource, _)| !OPTIONAL.contains(&resource.as_str()))
        .map(|(_, permission)| permission.as_str())
}

/// Reads everything the engine and `verify` judge, with all list calls in flight at once. A
/// list the API server refuses (403) is left out of [`ClusterSnapshot::read`] and named in
/// [`ClusterSnapshot::forbidden`]; any other failure fails the read.
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
    // The lab's route, as `verify` judges it.
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
    let mut refused = Refused::default();
    let dynamic_key = |r: kube::api::ApiResource| format!("{}/{}", r.api_version, r.plural);
    let applications = refused.note(dynamic_key(application::resource()), apps);
    let http_routes = refused.note(dynamic_key(gateway::http_route_resource()), http_routes);
    let mut pods = refused.take(pods);
    pods.extend(elsewhere);
    let mut deployments = refused.take(deployments);
    for d in provisioner_deployments {
        let already = deployments.iter().any(|x| {
            x.metadata.namespace == d.metadata.namespace && x.metadata.name == d.metadata.name
        });
        if !already {
            deployments.push(d);
        }
    }
    let mut snapshot = ClusterSnapshot {
        persistent_volume_claims: refused.take(pvcs),
        persistent_volumes: refused.take(pvs),
        storage_classes: refused.take(classes),
        nodes: refused.take(nodes),
        pods,
        jobs: refused.take(jobs),
        cron_jobs: refused.take(cron_jobs),
        replica_sets: refused.take(replica_sets),
        deployments,
        stateful_sets: refused.take(stateful_sets),
        services: refused.take(services),
        endpoint_slices: refused.take(endpoint_slices),
        ingresses: refused.take(ingresses),
        http_routes,
        events: refused.take(events),
        events_v1: refused.take(events_v1),
        applications,
        namespaces: Vec::new(),
        config_maps: Vec::new(),
        daemon_sets: Vec::new(),
        network_policies: Vec::new(),
        read: None,
        captured: Some(captured),
        forbidden: refused.0,
    };
    // Every resource is read whole, except one the API server refused (and those only lint
    // reads, which are not listed).
    let mut read = super::resources();
    read.retain(|r| {
        !snapshot.forbidden.contains_key(r) && !super::MANIFEST_ONLY.contains(&r.as_str())
    });
    snapshot.read = Some(read);
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
    use serde_json::{Value, json};

    /// A client whose API server answers `answer(path)` to a GET (`None`: an empty list, or
    /// 404 for a Deployment by name), and 403 to a list of `refused`.
    fn client(answer: fn(&str) -> Option<Value>, refused: &'static str) -> kube::Client {
        type Request = http::Request<kube::client::Body>;
        type Response = http::Response<kube::client::Body>;
        let (service, mut handle) = tower_test::mock::pair::<Request, Response>();
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let path = request.uri().path().to_owned();
                let (status, body) = match answer(&path) {
                    _ if path == refused => (
                        403,
                        json!({"code": 403, "reason": "Forbidden", "status": "Failure"}),
                    ),
                    Some(body) => (200, body),
                    None if path.contains("/deployments/") => (
                        404,
                        json!({"code": 404, "reason": "NotFound", "status": "Failure"}),
                    ),
                    None => (200, json!({"items": []})),
                };
                let body = serde_json::to_vec(&body).unwrap();
                let response = http::Response::builder()
                    .status(status)
                    .body(kube::client::Body::from(body))
                    .unwrap();
                send.send_response(response);
            }
        });
        kube::Client::new(service, "mlops-lab")
    }

    /// Whatever path an object comes by (a list, a get, a dynamic list), the live snapshot
    /// keeps none of the writers' bookkeeping.
    #[tokio::test]
    async fn no_object_of_a_live_snapshot_keeps_managed_fields() {
        let client = client(
            |path| {
                let managed =
                    json!([{"manager": "argocd-controller", "fieldsV1": {"f:status": {}}}]);
                match path {
                    "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications" => Some(json!({
                        "items": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                                   "metadata": {"name": "mlops-lab", "namespace": "argocd",
                                                "managedFields": managed}}]})),
                    "/apis/apps/v1/namespaces/kube-system/deployments/local-path-provisioner" => {
                        Some(json!({"metadata": {"name": "local-path-provisioner",
                                                 "namespace": "kube-system",
                                                 "managedFields": managed}}))
                    }
                    _ => None,
                }
            },
            "",
        );
        let config = LabConfig::default();
        let s = load(&client, &Namespaces::One("mlops-lab".into()), &config)
            .await
            .unwrap();
        assert_eq!(s.applications.len(), 1);
        assert_eq!(s.deployments.len(), 1, "the provisioner, by get");
        assert!(s.applications[0].metadata.managed_fields.is_none());
        assert!(s.deployments[0].metadata.managed_fields.is_none());
        assert!(s.forbidden.is_empty());
    }

    /// A refused list leaves the read whole-or-nothing per resource: out of `read`, named in
    /// `forbidden` with the permission; a reader of the whole cluster fails on it.
    #[tokio::test]
    async fn a_refused_list_is_named_not_taken_for_an_empty_one() {
        let config = LabConfig::default();
        let ns = Namespaces::One("mlops-lab".into());
        let refused = "/api/v1/namespaces/mlops-lab/pods";
        let s = load(&client(|_| None, refused), &ns, &config)
            .await
            .unwrap();
        assert_eq!(
            s.forbidden.get("v1/pods").map(String::as_str),
            Some("cannot list pods in mlops-lab")
        );
        let read = s.read.as_ref().unwrap();
        assert!(!read.contains("v1/pods") && read.contains("v1/services"));
        // Not listed live, so not named read.
        assert!(!read.contains("apps/v1/daemonsets"));
        assert_eq!(
            s.held("v1/pods", false),
            super::super::Held::Forbidden("cannot list pods in mlops-lab")
        );
        let err = load_whole(&client(|_| None, refused), &ns, &config)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "cannot list pods in mlops-lab");
        // Argo CD's Applications are optional for a whole read.
        let apps = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications";
        let s = load_whole(&client(|_| None, apps), &ns, &config)
            .await
            .unwrap();
        assert!(
            s.forbidden
                .contains_key("argoproj.io/v1alpha1/applications")
        );
    }
}
