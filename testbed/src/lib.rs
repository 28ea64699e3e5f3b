//! The local lab: a real Kubernetes control plane built from its Go modules, the add-ons a
//! k3s homelab has, the real data plane (trainer, inference, nginx as the ingress, dnsmasq as
//! Pi-hole), and scenarios that break it the ways node-local storage breaks.
//!
//! Every process is started on a free loopback port and stopped by its pid.

pub mod addons;
pub mod certs;
pub mod controlplane;
pub mod dataplane;
pub mod fuzz;
pub mod gitops;
pub mod images;
pub mod ingress;
pub mod lab;
pub mod node;
pub mod peers;
pub mod process;
pub mod publish;
pub mod registry;
pub mod scenarios;
pub mod topology;
