//! Requests and limits of every container.

use std::collections::BTreeMap;

use super::{Template, all_containers, finding};
use crate::lint::{LintFinding, RuleId};

/// `resources-missing`: every container (init containers too) requests CPU and memory and has a
/// memory limit.
pub fn resources(templates: &[Template<'_>]) -> Vec<LintFinding> {
    let mut out = Vec::new();
    for t in templates {
        let mut missing = Vec::new();
        for c in all_containers(t.spec) {
            let r = c.resources.as_ref();
            let has = |which: Option<&BTreeMap<_, _>>, key: &str| {
                which.is_some_and(|m: &BTreeMap<String, _>| m.contains_key(key))
            };
            let requests = r.and_then(|r| r.requests.as_ref());
            let limits = r.and_then(|r| r.limits.as_ref());
            let mut lacks = Vec::new();
            if !has(requests, "cpu") {
                lacks.push("requests.cpu");
            }
            if !has(requests, "memory") {
                lacks.push("requests.memory");
            }
            if !has(limits, "memory") {
                lacks.push("limits.memory");
            }
            if !lacks.is_empty() {
                missing.push(format!("container {}: no {}", c.name, lacks.join(", ")));
            }
        }
        if missing.is_empty() {
            continue;
        }
        out.push(finding(
            RuleId::ResourcesMissing,
            t.workload.clone(),
            format!("{} lacks resources: {}", t.workload, missing.join("; ")),
            missing,
            "Set resources.requests.cpu, resources.requests.memory and resources.limits.memory on \
             every container: the pinned node is the only place these pods can run, so the \
             scheduler must know what they need, and a leak must not take the node down."
                .to_owned(),
        ));
    }
    out
}
