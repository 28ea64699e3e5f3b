//! The diagnosis rules, one file per family of findings. Each is a method of the engine that
//! looks at one claim and records hits; [`crate::diagnose::engine`] calls them in order.

mod access_mode;
mod bound;
pub(crate) mod containers;
mod lifecycle;
mod pending;
mod pinning;
mod pods;
mod provisioning;
pub(crate) mod scheduling;
mod serving;
mod start;
mod sync_wave;
pub(crate) mod training;
