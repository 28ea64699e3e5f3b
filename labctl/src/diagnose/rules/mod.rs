//! The diagnosis rules, one file per family of findings, and the order they are judged in
//! (below, on one screen). Each rule is a method of the immutable engine: it reads the index
//! and the lab description and writes its hits to the `out` it is given; a rule that returns
//! `true` has explained its object, and the rules after it are not asked.

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

use crate::diagnose::engine::Engine;
use crate::diagnose::engine::claim::Claim;
use crate::diagnose::engine::merge::Hit;
use crate::k8s::model::Pod;
use crate::k8s::pod::is_terminated;

impl<'i, 'a> Engine<'i, 'a> {
    /// A claim: a volume released by it (always), then lost → terminating while in use → the
    /// template and annotation problems (access mode, consumers pinned apart, sync waves) →
    /// bound (`bound.rs`) or pending (`pending.rs`), each of which tries its causes in order.
    pub(crate) fn judge(&self, c: &Claim<'a>, out: &mut Vec<Hit>) {
        self.released_not_rebound(c, out);
        if c.phase == "Lost" {
            self.pvc_lost(c, None, out);
            return;
        }
        if c.pvc.metadata.deletion_timestamp.is_some() && self.terminating_in_use(c, out) {
            return;
        }
        let access = self.access_mode(c, out);
        let pinned = self.consumers_pinned(c, out);
        let wave = self.sync_wave(c, out);
        match c.phase {
            "Bound" => self.bound(c, pinned, out),
            "Pending" if !access && !wave => self.pending(c, pinned, out),
            _ => {}
        }
    }

    /// A pod: not a failed Job's (that is the Job's finding) → unscheduled → its containers
    /// (pull, platform, start, crash loop, OOM, missing config) → readiness.
    pub(crate) fn judge_pod(&self, pod: &'a Pod, out: &mut Vec<Hit>) {
        if is_terminated(pod) || self.owned_by_failed_job(pod) {
            // A failed Job's pods are the Job's finding (trainer-job-failed).
            return;
        }
        if self.unscheduled(pod) {
            self.pod_unschedulable(pod, out);
            return;
        }
        if self.containers(pod, out) {
            return;
        }
        self.readiness(pod, out);
    }
}

/// `s` with its first letter in upper case, to start a sentence with a phrase that is also
/// used mid-sentence (a cause, a build step).
fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
