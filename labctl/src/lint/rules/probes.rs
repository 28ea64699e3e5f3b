//! Probes of the long-running workloads.

use super::{Template, finding};
use crate::lint::{LintFinding, RuleId};

/// `probes-missing`: every container of a long-running workload has readiness and liveness.
pub fn probes(templates: &[Template<'_>]) -> Vec<LintFinding> {
    let mut out = Vec::new();
    for t in templates.iter().filter(|t| t.long_running) {
        let mut missing = Vec::new();
        for c in &t.spec.containers {
            if c.readiness_probe.is_none() {
                missing.push(format!("container {}: no readinessProbe", c.name));
            }
            if c.liveness_probe.is_none() {
                missing.push(format!("container {}: no livenessProbe", c.name));
            }
        }
        if missing.is_empty() {
            continue;
        }
        out.push(finding(
            RuleId::ProbesMissing,
            t.workload.clone(),
            format!("{} lacks probes: {}", t.workload, missing.join("; ")),
            missing,
            "Add a readinessProbe (for inference: httpGet /readyz, 503 until a model is loaded, so \
             no traffic reaches a pod without a model) and a livenessProbe that does not depend on \
             the model (httpGet /healthz); a startupProbe on /readyz gives the first load time."
                .to_owned(),
        ));
    }
    out
}
