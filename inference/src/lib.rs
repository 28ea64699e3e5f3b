//! The inference server: serves the model `trainer` publishes, reloading it when a new one
//! appears.
//!
//! - [`state`]: the current model, swapped atomically, and why the server is not ready;
//! - [`reload`]: watches `version.txt` and loads, validates and swaps new models;
//! - [`api`]: the HTTP routes (`/predict`, Open Inference Protocol v2, probes);
//! - [`metrics`]: lock-free counters and the Prometheus text rendering;
//! - [`server`]: binds, serves and drains on SIGTERM.

pub mod api;
pub mod metrics;
pub mod reload;
pub mod server;
pub mod state;
