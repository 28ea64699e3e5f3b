//! The diagnosis rules, one file per family of findings. Each is a method of the engine that
//! looks at one claim and records hits; [`crate::diagnose::engine`] calls them in order.

mod access_mode;
mod bound;
pub(crate) mod containers;
mod lifecycle;
mod pending;
mod pinning;
mod pods;
pub(crate) mod pressure;
mod provisioning;
mod pull;
pub(crate) mod scheduling;
mod serving;
mod start;
mod sync_wave;
pub(crate) mod training;
pub(crate) mod volume_path;

/// `s` with its first letter in upper case, to start a sentence with a phrase that is also
/// used mid-sentence (a cause, a build step).
fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
