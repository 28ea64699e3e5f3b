//! Resource requests and node capacity as the scheduler's NodeResourcesFit filter counts them:
//! a pod requests the larger of the sum of its containers' requests and its largest init
//! container's request, plus its overhead; a node offers `status.allocatable` minus what the
//! scheduled pods that have not terminated request there.

use std::collections::BTreeMap;

use crate::k8s::model::{Pod, PodSpec};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// The resources the lab's pods request and the scheduler reports on.
pub const RESOURCES: [&str; 3] = ["cpu", "memory", "ephemeral-storage"];

/// Amounts by resource name, in base units (cores, bytes, pods).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Amounts(pub BTreeMap<String, f64>);

impl Amounts {
    pub fn get(&self, resource: &str) -> f64 {
        self.0.get(resource).copied().unwrap_or(0.0)
    }

    fn add(&mut self, resource: &str, v: f64) {
        *self.0.entry(resource.to_owned()).or_default() += v;
    }

    fn max(&mut self, resource: &str, v: f64) {
        let e = self.0.entry(resource.to_owned()).or_default();
        if v > *e {
            *e = v;
        }
    }
}

/// Parses a Kubernetes quantity (`500m`, `1.5`, `128Mi`, `2G`, `1e3`) to base units; `None`
/// when it is not one.
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let (num, suffix) = match suffix.strip_prefix(['e', 'E']) {
        Some(exp)
            if !exp.is_empty()
                && exp
                    .trim_start_matches(['+', '-'])
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
        {
            let e: i32 = exp.parse().ok()?;
            (num.parse::<f64>().ok()? * 10f64.powi(e), "")
        }
        _ => (num.parse::<f64>().ok()?, suffix),
    };
    let mult = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    Some(num * mult)
}

fn amounts(map: Option<&BTreeMap<String, Quantity>>) -> Amounts {
    let mut a = Amounts::default();
    for (k, v) in map.into_iter().flatten() {
        if let Some(x) = parse_quantity(&v.0) {
            a.add(k, x);
        }
    }
    a
}

/// What a pod with `spec` requests (one pod counts 1 against `pods`).
pub fn pod_requests(spec: &PodSpec) -> Amounts {
    let mut total = Amounts::default();
    for c in &spec.containers {
        for (k, v) in amounts(c.resources.as_ref().and_then(|r| r.requests.as_ref())).0 {
            total.add(&k, v);
        }
    }
    for c in spec.init_containers.iter().flatten() {
        for (k, v) in amounts(c.resources.as_ref().and_then(|r| r.requests.as_ref())).0 {
            total.max(&k, v);
        }
    }
    for (k, v) in amounts(spec.overhead.as_ref()).0 {
        total.add(&k, v);
    }
    total.add("pods", 1.0);
    total
}

/// The node's `status.allocatable`.
pub fn allocatable(node: &Node) -> Amounts {
    amounts(node.status.as_ref().and_then(|s| s.allocatable.as_ref()))
}

/// Whether a pod holds its requests on a node: scheduled there and not terminated.
pub fn holds_resources(pod: &Pod, node: &str) -> bool {
    let on_node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| n == node);
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    on_node && !matches!(phase, Some("Succeeded" | "Failed"))
}

/// What the pods scheduled on `node` request (terminated pods excluded).
pub fn requested_on<'p>(node: &str, pods: impl IntoIterator<Item = &'p Pod>) -> Amounts {
    let mut total = Amounts::default();
    for p in pods {
        if holds_resources(p, node)
            && let Some(spec) = &p.spec
        {
            for (k, v) in pod_requests(spec).0 {
                total.add(&k, v);
            }
        }
    }
    total
}

/// An amount as people write it: cores in millicores, bytes in Mi/Gi, pods as a count.
pub fn format_amount(resource: &str, v: f64) -> String {
    match resource {
        "cpu" => format!("{}m", (v * 1000.0).round() as i64),
        "memory" | "ephemeral-storage" => {
            let mi = v / 1024f64.powi(2);
            if mi.abs() >= 1024.0 {
                format!("{:.1}Gi", mi / 1024.0)
            } else {
                format!("{}Mi", mi.round() as i64)
            }
        }
        _ => format!("{}", v.round() as i64),
    }
}

/// A node's room for one pod: per resource, (requested by the pod, allocatable, already
/// requested there), and whether the pod fits.
#[derive(Debug, Clone, PartialEq)]
pub struct Room {
    pub resource: String,
    pub wanted: f64,
    pub allocatable: f64,
    pub requested: f64,
}

impl Room {
    pub fn free(&self) -> f64 {
        self.allocatable - self.requested
    }

    pub fn fits(&self) -> bool {
        self.wanted <= self.free() + 1e-9
    }
}

impl Room {
    /// `memory: requests 2Gi, free 1.2Gi (allocatable 1.8Gi - requested 600Mi)`.
    pub fn line(&self) -> String {
        let r = self.resource.as_str();
        format!(
            "{r}: requests {}, free {} (allocatable {} - requested {})",
            format_amount(r, self.wanted),
            format_amount(r, self.free()),
            format_amount(r, self.allocatable),
            format_amount(r, self.requested)
        )
    }
}

/// The room for `wanted` on a node with `allocatable` and `requested`, for the resources the
/// pod requests (and `pods`), in `RESOURCES` order then `pods`. Resources the node does not
/// report are left out.
pub fn room(wanted: &Amounts, allocatable: &Amounts, requested: &Amounts) -> Vec<Room> {
    RESOURCES
        .iter()
        .copied()
        .chain(["pods"])
        .filter(|r| allocatable.0.contains_key(*r) && (wanted.get(r) > 0.0))
        .map(|r| Room {
            resource: r.to_owned(),
            wanted: wanted.get(r),
            allocatable: allocatable.get(r),
            requested: requested.get(r),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::model::Container;
    use k8s_openapi::api::core::v1::{NodeStatus, PodStatus, ResourceRequirements};

    fn q(s: &str) -> Quantity {
        Quantity(s.to_owned())
    }

    fn spec(cpu: &str, mem: &str) -> PodSpec {
        PodSpec {
            containers: vec![Container {
                name: "c".into(),
                resources: Some(ResourceRequirements {
                    requests: Some(BTreeMap::from([
                        ("cpu".into(), q(cpu)),
                        ("memory".into(), q(mem)),
                    ])),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("2"), Some(2.0));
        assert_eq!(parse_quantity("128Mi"), Some(128.0 * 1024.0 * 1024.0));
        assert_eq!(parse_quantity("1G"), Some(1e9));
        assert_eq!(parse_quantity("1e3"), Some(1000.0));
        assert_eq!(parse_quantity("1.5Gi"), Some(1.5 * 1024f64.powi(3)));
        assert_eq!(parse_quantity("lots"), None);
        assert_eq!(parse_quantity(""), None);
        assert_eq!(parse_quantity("5x"), None);
    }

    #[test]
    fn a_node_offers_allocatable_minus_what_running_pods_request() {
        let node = Node {
            status: Some(NodeStatus {
                allocatable: Some(BTreeMap::from([
                    ("cpu".into(), q("2")),
                    ("memory".into(), q("2Gi")),
                    ("pods".into(), q("110")),
                ])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let running = |phase: &str, node: &str| Pod {
            spec: Some(PodSpec {
                node_name: Some(node.into()),
                ..spec("500m", "1Gi")
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let pods = [
            running("Running", "n1"),
            running("Succeeded", "n1"),
            running("Running", "n2"),
        ];
        let requested = requested_on("n1", &pods);
        assert_eq!(requested.get("cpu"), 0.5);
        assert_eq!(requested.get("pods"), 1.0);
        let want = pod_requests(&spec("250m", "1536Mi"));
        let rooms = room(&want, &allocatable(&node), &requested);
        let mem = rooms.iter().find(|r| r.resource == "memory").unwrap();
        assert!(!mem.fits());
        assert_eq!(
            mem.line(),
            "memory: requests 1.5Gi, free 1.0Gi (allocatable 2.0Gi - requested 1.0Gi)"
        );
        assert!(rooms.iter().find(|r| r.resource == "cpu").unwrap().fits());
        assert!(rooms.iter().find(|r| r.resource == "pods").unwrap().fits());
    }
}
