//! Preflight checks that the pin node can run the lab as the manifests describe it: room for
//! the trainer's and inference's requests (`pin-node-capacity`), and images built for the
//! node's CPU architecture (`images-match-node-arch`).
//!
//! The workloads come from the rendered overlay (`manifests` in `labctl.toml`, default
//! `manifests/overlays/homelab`), read as a snapshot file is (a [`ClusterSnapshot`] of the
//! objects that are not in the cluster yet); the room is the node's allocatable minus what the pods already
//! scheduled there request, as the scheduler counts it (`k8s/resources.rs`).
//!
//! Longer than 600 lines because of its tests (about 200 lines of objects in code beside the
//! two checks); the checks themselves share the rendered workloads and the pin node.

use std::path::PathBuf;

use crate::k8s::model::{Pod, PodSpec};
use k8s_openapi::api::core::v1::{Node, Secret};
use kube::api::ListParams;

use crate::checks::{CheckError, Outcome};
use crate::context::Context;
use crate::fetch;
use crate::k8s::names::{name as meta_name, namespace as meta_ns};
use crate::k8s::resources::{self, Amounts, Room};
use crate::snapshot::ClusterSnapshot;

/// The overlay preflight reads when `labctl.toml` names none.
pub const DEFAULT_MANIFESTS: &str = "manifests/overlays/homelab";

/// A workload of the manifests: `CronJob trainer`, its pod template, how many pods it runs.
#[derive(Debug, Clone)]
pub struct Planned {
    pub name: String,
    pub spec: PodSpec,
    pub replicas: u32,
}

/// The trainer's and inference's pod templates from the rendered manifests (the CronJob and
/// Deployment named in the lab description; every CronJob and Deployment when those are absent).
pub fn planned(m: &ClusterSnapshot, config: &crate::config::LabConfig) -> Vec<Planned> {
    let mut out = Vec::new();
    let crons: Vec<_> = m
        .cron_jobs
        .iter()
        .filter(|c| m.cron_jobs.len() == 1 || meta_name(&c.metadata) == config.cronjob)
        .collect();
    for c in crons {
        if let Some(spec) = c
            .spec
            .as_ref()
            .and_then(|s| s.job_template.spec.as_ref())
            .and_then(|j| j.template.spec.clone())
        {
            out.push(Planned {
                name: format!("CronJob {}", meta_name(&c.metadata)),
                spec,
                replicas: 1,
            });
        }
    }
    let deps: Vec<_> = m
        .deployments
        .iter()
        .filter(|d| m.deployments.len() == 1 || meta_name(&d.metadata) == config.deployment)
        .collect();
    for d in deps {
        if let Some(s) = d.spec.as_ref()
            && let Some(spec) = s.template.spec.clone()
        {
            out.push(Planned {
                name: format!("Deployment {}", meta_name(&d.metadata)),
                spec,
                replicas: s.replicas.unwrap_or(1).max(0) as u32,
            });
        }
    }
    out
}

/// Whether the pin node has room for every planned pod at once. `pods` are the pods scheduled
/// on the node now; those of the lab's own namespace are left out (a rerun after a deploy must
/// not count the lab twice).
pub fn evaluate_capacity(
    node: Option<&Node>,
    pin: &str,
    pods: &[Pod],
    lab_namespace: &str,
    planned: &[Planned],
) -> Outcome {
    let Some(node) = node else {
        return Outcome::skip(format!(
            "pin node {pin} not found (pin-node-schedulable says why)"
        ));
    };
    if planned.is_empty() {
        return Outcome::skip("the manifests hold no CronJob or Deployment to place");
    }
    let name = meta_name(&node.metadata);
    let mut wanted = Amounts::default();
    let mut lines = Vec::new();
    for p in planned {
        let r = resources::pod_requests(&p.spec);
        let text: Vec<String> = resources::RESOURCES
            .iter()
            .filter(|k| r.get(k) > 0.0)
            .map(|k| format!("{k} {}", resources::format_amount(k, r.get(k))))
            .collect();
        lines.push(format!(
            "{} requests {}{}",
            p.name,
            if text.is_empty() {
                "nothing".to_owned()
            } else {
                text.join(", ")
            },
            if p.replicas == 1 {
                String::new()
            } else {
                format!(" per pod, {} pods", p.replicas)
            }
        ));
        for (k, v) in r.0 {
            *wanted.0.entry(k).or_default() += v * f64::from(p.replicas);
        }
    }
    let others: Vec<&Pod> = pods
        .iter()
        .filter(|p| meta_ns(&p.metadata) != lab_namespace)
        .collect();
    let requested = resources::requested_on(name, others.iter().copied());
    let rooms = resources::room(&wanted, &resources::allocatable(node), &requested);
    if rooms.is_empty() {
        return Outcome::skip(format!("node {name} reports no allocatable resources"))
            .with_all(lines);
    }
    lines.extend(rooms.iter().map(|r| format!("node {name}: {}", r.line())));
    let short: Vec<&Room> = rooms.iter().filter(|r| !r.fits()).collect();
    if short.is_empty() {
        Outcome::pass(format!(
            "node {name} has room for the trainer and inference"
        ))
        .with_all(lines)
    } else {
        Outcome::fail(format!(
            "node {name} lacks {} for the trainer and inference: their pods would stay Pending (insufficient-resources)",
            short
                .iter()
                .map(|r| r.resource.as_str())
                .collect::<Vec<_>>()
                .join(" and ")
        ))
        .with_all(lines)
    }
}

/// Whether `platforms` offer `linux/<arch>`.
pub fn offers(platforms: &[String], arch: &str) -> bool {
    let want = format!("linux/{arch}");
    platforms
        .iter()
        .any(|p| p == &want || p.starts_with(&format!("{want}/")))
}

/// An image's platforms (`None`: a single-platform manifest), or why they could not be read.
pub type IndexRead = Result<Option<Vec<String>>, String>;

/// The verdict over the images' indexes: `indexes` holds, per image, its platforms or why
/// they could not be read.
pub fn evaluate_platforms(node: &str, arch: &str, indexes: &[(String, IndexRead)]) -> Outcome {
    let mut missing = Vec::new();
    let mut unread = Vec::new();
    let mut lines = vec![format!("node {node}: kubernetes.io/arch={arch}")];
    for (image, r) in indexes {
        match r {
            Ok(Some(p)) => {
                lines.push(format!("{image}: {}", p.join(", ")));
                if !offers(p, arch) {
                    missing.push(image.as_str());
                }
            }
            Ok(None) => lines.push(format!(
                "{image}: a single-platform manifest (its platform is not listed)"
            )),
            Err(why) => {
                lines.push(format!("{image}: {why}"));
                unread.push(image.as_str());
            }
        }
    }
    if !missing.is_empty() {
        return Outcome::fail(format!(
            "{} offer(s) no linux/{arch} variant for node {node} (image-platform-mismatch)",
            missing.join(", ")
        ))
        .with_all(lines);
    }
    if !unread.is_empty() && unread.len() == indexes.len() {
        return Outcome::skip(format!(
            "cannot read the image index of {} (registry unreachable, or it needs credentials); not checked",
            unread.join(", ")
        ))
        .with_all(lines);
    }
    Outcome::pass(format!("the images offer linux/{arch}")).with_all(lines)
}

fn manifests_path(ctx: &Context) -> Option<PathBuf> {
    match &ctx.config.manifests {
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from(DEFAULT_MANIFESTS)).filter(|p| p.exists()),
    }
}

/// The rendered manifests (rendered as `lint` renders them), read by the snapshot's reader.
fn read_manifests(ctx: &Context) -> Result<(PathBuf, ClusterSnapshot), Outcome> {
    let Some(path) = manifests_path(ctx) else {
        return Err(Outcome::skip(format!(
            "no manifests to read ({DEFAULT_MANIFESTS} is not here; set manifests in labctl.toml)"
        )));
    };
    let text = crate::lint::source::read(&path)
        .map_err(|e| Outcome::skip(format!("cannot read the manifests {}: {e}", path.display())))?
        .0;
    let m = crate::snapshot::parse_str(&text, &path).map_err(|e| {
        Outcome::skip(format!(
            "cannot parse the manifests {}: {e}",
            path.display()
        ))
    })?;
    Ok((path, m))
}

/// The pin: the lab description's, else the manifests' nodeSelector, else the only node.
fn pin_of<'n>(
    ctx: &Context,
    planned: &[Planned],
    nodes: &'n [Node],
) -> Option<(String, Option<&'n Node>)> {
    let key = &ctx.config.pin_label_key;
    let value = ctx.config.pin_label_value.clone().or_else(|| {
        planned.iter().find_map(|p| {
            crate::k8s::placement::node_selector_value(Some(&p.spec), key).map(str::to_owned)
        })
    });
    match value {
        Some(v) => {
            let node = nodes.iter().find(|n| {
                n.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(key))
                    .is_some_and(|x| x == &v)
            });
            Some((v, node))
        }
        None if nodes.len() == 1 => Some((meta_name(&nodes[0].metadata).to_owned(), nodes.first())),
        None => None,
    }
}

pub async fn pin_node_capacity(ctx: &Context) -> Result<Outcome, CheckError> {
    let (path, m) = match read_manifests(ctx) {
        Ok(x) => x,
        Err(o) => return Ok(o),
    };
    let planned = planned(&m, &ctx.config);
    let client = super::client(ctx).await?;
    let nodes: Vec<Node> = fetch::list_cluster(&client, &ListParams::default()).await?;
    let Some((pin, node)) = pin_of(ctx, &planned, &nodes) else {
        return Ok(Outcome::skip(
            "the pin node is not known (set pin_label_value in labctl.toml)",
        ));
    };
    let node_name = node
        .map(|n| meta_name(&n.metadata).to_owned())
        .unwrap_or_default();
    let pods: Vec<Pod> = if node.is_some() {
        let params = ListParams::default().fields(&format!("spec.nodeName={node_name}"));
        fetch::list_cluster(&client, &params).await?
    } else {
        Vec::new()
    };
    Ok(
        evaluate_capacity(node, &pin, &pods, &ctx.config.namespace, &planned)
            .with(format!("workloads from {}", path.display())),
    )
}

pub async fn images_match_node_arch(ctx: &Context) -> Result<Outcome, CheckError> {
    if !ctx.config.registry_lookups {
        return Ok(Outcome::skip(
            "registry_lookups = false in labctl.toml: the images' registries are not asked",
        ));
    }
    let (_, m) = match read_manifests(ctx) {
        Ok(x) => x,
        Err(o) => return Ok(o),
    };
    let planned = planned(&m, &ctx.config);
    let client = super::client(ctx).await?;
    let nodes: Vec<Node> = fetch::list_cluster(&client, &ListParams::default()).await?;
    let Some((pin, Some(node))) = pin_of(ctx, &planned, &nodes) else {
        return Ok(Outcome::skip("the pin node is not known or not found"));
    };
    let arch = node
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("kubernetes.io/arch"))
        .cloned()
        .unwrap_or_else(|| "unknown".to_owned());
    let mut images: Vec<String> = planned
        .iter()
        .flat_map(|p| p.spec.containers.iter().filter_map(|c| c.image.clone()))
        .collect();
    images.sort();
    images.dedup();
    let (access, notes) = match registry_access(ctx, &client, &planned).await {
        Ok(x) => x,
        Err(why) => return Ok(Outcome::fail(why)),
    };
    let mut indexes = Vec::new();
    for image in images {
        let r = crate::registry::read_platforms(&image, ctx.timeout, &access).await;
        indexes.push((image, r));
    }
    let mut outcome = evaluate_platforms(&pin, &arch, &indexes);
    outcome.evidence.extend(notes);
    Ok(outcome)
}

/// What the registries are asked with, as the kubelet would: the pull secrets the workloads
/// name (when labctl may read them: `get` on those Secrets is not in its read-only role), then
/// the user's Docker config, else nothing (anonymous); the lab description's CA and plain-HTTP
/// registries. The notes say where credentials came from, never what they are.
async fn registry_access(
    ctx: &Context,
    client: &kube::Client,
    planned: &[Planned],
) -> Result<(crate::registry::Access, Vec<String>), String> {
    let c = &ctx.config;
    let mut access =
        crate::registry::Access::new(c.registry_ca_file.as_deref(), &c.plain_http_registries)?;
    let mut notes = Vec::new();
    let mut secrets: Vec<&str> = planned
        .iter()
        .flat_map(|p| p.spec.image_pull_secrets.iter().flatten())
        .map(|r| r.name.as_str())
        .collect();
    secrets.sort_unstable();
    secrets.dedup();
    for name in secrets {
        let source = format!("Secret {}/{name}", c.namespace);
        match fetch::get_namespaced::<Secret>(client, &c.namespace, name).await {
            Ok(Some(secret)) => {
                let json = secret
                    .data
                    .as_ref()
                    .and_then(|d| d.get(".dockerconfigjson"))
                    .and_then(|b| serde_json::from_slice(&b.0).ok());
                match json {
                    Some(json) => access.add_docker_config(&json, &source),
                    None => notes.push(format!(
                        "{source} holds no .dockerconfigjson (type kubernetes.io/dockerconfigjson)"
                    )),
                }
            }
            Ok(None) => notes.push(format!(
                "{source}, named in imagePullSecrets, does not exist: the kubelet pulls anonymously"
            )),
            Err(e) => notes.push(format!(
                "{source} not read ({e}); asked with the Docker config's credentials, or anonymously"
            )),
        }
    }
    if let Some(path) = docker_config_path()
        && let Some(json) = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    {
        access.add_docker_config(&json, &path.display().to_string());
    }
    for (registry, (credential, source)) in &access.credentials {
        notes.push(format!(
            "credentials for {registry}: user {} from {source}",
            credential.username
        ));
    }
    Ok((access, notes))
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, as `docker login` writes it.
fn docker_config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::k8s::model::Container;
    use k8s_openapi::api::core::v1::{NodeStatus, PodStatus, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::collections::BTreeMap;

    fn spec(cpu: &str, mem: &str) -> PodSpec {
        PodSpec {
            containers: vec![Container {
                name: "c".into(),
                resources: Some(ResourceRequirements {
                    requests: Some(BTreeMap::from([
                        ("cpu".into(), Quantity(cpu.into())),
                        ("memory".into(), Quantity(mem.into())),
                    ])),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn node(mem: &str) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some("pi".into()),
                ..Default::default()
            },
            status: Some(NodeStatus {
                allocatable: Some(BTreeMap::from([
                    ("cpu".into(), Quantity("4".into())),
                    ("memory".into(), Quantity(mem.into())),
                    ("pods".into(), Quantity("110".into())),
                ])),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn on_node(ns: &str, mem: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("pi".into()),
                ..spec("100m", mem)
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                ..Default::default()
            }),
        }
    }

    fn lab() -> Vec<Planned> {
        vec![
            Planned {
                name: "CronJob trainer".into(),
                spec: spec("100m", "64Mi"),
                replicas: 1,
            },
            Planned {
                name: "Deployment inference".into(),
                spec: spec("100m", "64Mi"),
                replicas: 2,
            },
        ]
    }

    #[test]
    fn room_for_the_lab_passes_and_a_full_node_fails() {
        let o = evaluate_capacity(
            Some(&node("1Gi")),
            "pi",
            &[on_node("pihole", "512Mi")],
            "mlops-lab",
            &lab(),
        );
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert!(o.evidence.iter().any(|e| e == "Deployment inference requests cpu 100m, memory 64Mi per pod, 2 pods"), "{o:?}");
        let o = evaluate_capacity(
            Some(&node("1Gi")),
            "pi",
            &[on_node("pihole", "900Mi")],
            "mlops-lab",
            &lab(),
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("lacks memory"), "{}", o.message);
        assert!(
            o.evidence
                .iter()
                .any(|e| e.starts_with("node pi: memory: requests 192Mi, free 124Mi")),
            "{o:?}"
        );
        // The lab's own pods (a rerun after deploying) are not counted twice.
        let o = evaluate_capacity(
            Some(&node("1Gi")),
            "pi",
            &[on_node("mlops-lab", "900Mi")],
            "mlops-lab",
            &lab(),
        );
        assert_eq!(o.status, Status::Pass);
        assert_eq!(
            evaluate_capacity(None, "pi", &[], "mlops-lab", &lab()).status,
            Status::Skip
        );
    }

    #[test]
    fn recorded_indexes_give_their_platforms() {
        // An OCI index as buildx pushes it (with an attestation manifest).
        let oci: serde_json::Value = serde_json::from_str(r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":1,"platform":{"architecture":"amd64","os":"linux"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bb","size":1,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:cc","size":1,"annotations":{"vnd.docker.reference.type":"attestation-manifest"},"platform":{"architecture":"unknown","os":"unknown"}}]}"#).unwrap();
        let p = crate::registry::index_platforms(&oci).unwrap();
        assert_eq!(p, ["linux/amd64", "linux/arm64/v8"]);
        assert!(offers(&p, "arm64"));
        assert!(!offers(&p, "arm"));
        // A Docker manifest list with amd64 only.
        let list: serde_json::Value = serde_json::from_str(r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[
            {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:dd","size":1,"platform":{"architecture":"amd64","os":"linux"}}]}"#).unwrap();
        let p = crate::registry::index_platforms(&list).unwrap();
        let o = evaluate_platforms(
            "pi",
            "arm64",
            &[("ghcr.io/x/inference:0.1.0".into(), Ok(Some(p)))],
        );
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message.contains("no linux/arm64 variant"),
            "{}",
            o.message
        );
        // A single-platform manifest lists no platform.
        let single: serde_json::Value = serde_json::from_str(r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:ee"},"layers":[]}"#).unwrap();
        assert_eq!(crate::registry::index_platforms(&single), None);
    }

    #[test]
    fn an_unreadable_index_is_skipped_saying_so() {
        let o = evaluate_platforms(
            "pi",
            "arm64",
            &[(
                "ghcr.io/me/private:1".into(),
                Err("needs credentials".into()),
            )],
        );
        assert_eq!(o.status, Status::Skip);
        assert!(o.message.contains("needs credentials"), "{}", o.message);
    }

    /// The rendered manifests are read as a snapshot file is: the trainer's CronJob and the
    /// inference Deployment (with its replicas) are the planned workloads, whatever else the
    /// overlay renders.
    #[test]
    fn the_planned_workloads_are_read_from_the_rendered_manifests() {
        let rendered = "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: trainer}\n\
            spec: {schedule: '0 3 * * *', jobTemplate: {spec: {template: {spec: \
            {containers: [{name: trainer, image: t}]}}}}}\n---\n\
            apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: inference}\n\
            spec: {replicas: 2, selector: {}, template: {spec: {containers: \
            [{name: inference, image: i}]}}}\n---\n\
            apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n";
        let m = crate::snapshot::parse_str(rendered, std::path::Path::new("overlay")).unwrap();
        let planned = planned(&m, &crate::config::LabConfig::default());
        let names: Vec<(&str, u32)> = planned
            .iter()
            .map(|p| (p.name.as_str(), p.replicas))
            .collect();
        assert_eq!(names, [("CronJob trainer", 1), ("Deployment inference", 2)]);
        assert_eq!(planned[1].spec.containers[0].image.as_deref(), Some("i"));
    }
}
