//! The diagnosis rules, one file per family of findings. Each is a method of the engine that
//! looks at one claim and records hits; [`crate::diagnose::engine`] calls them in order.

mod access_mode;
mod bound;
mod lifecycle;
mod pending;
mod pinning;
mod pods;
mod provisioning;
pub(crate) mod scheduling;
mod sync_wave;
