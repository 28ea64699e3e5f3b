//! The lab's names, in one place: its nodes, the node the pipeline is pinned to, its
//! namespace. Every room of the lab (certificates, node, add-ons, scenarios) reads them here,
//! so none of them imports another only for a name.

/// The real node: kubelet, containerd, runc and CNI on this machine.
pub const NODE: &str = "lab-node-1";
/// The kwok node: host processes' stand-in pods, and a second node for the scenarios.
pub const KWOK_NODE: &str = "lab-node-2";
/// Both nodes, the real one first.
pub const NODES: [&str; 2] = [NODE, KWOK_NODE];
/// The node the pipeline is pinned to (the real one: its pods run for real).
pub const PIN_NODE: &str = NODE;
/// The pipeline's namespace.
pub const NAMESPACE: &str = "mlops-lab";
