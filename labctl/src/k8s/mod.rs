//! Facts about Kubernetes API objects, and no verdicts: what a name is, whether a node can take
//! new pods, where a pod or a volume may run, which kind of workload a pod template belongs to,
//! which pods a Service selects and where its traffic goes.
//!
//! `preflight`, `verify`, `diagnose` and `lint` all ask these functions, so that a fact derived
//! for one command cannot disagree with the same fact derived for another. Each function is
//! pure and tested beside its definition with objects built in code.

pub mod application;
pub mod gateway;
pub mod job;
pub mod labels;
pub mod model;
pub mod names;
pub mod nodes;
pub mod placement;
pub mod pod;
pub mod resources;
pub mod routing;
pub mod service;
pub mod workload;

pub use names::HOSTNAME_LABEL;
pub use nodes::Unavailable;
pub use workload::WorkloadKind;
