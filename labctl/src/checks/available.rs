//! Whether a Deployment or a DaemonSet is available: the judgement the storage, ingress and
//! serving checks share.

use crate::k8s::model::{DaemonSet, Deployment};

use super::Outcome;

/// A Deployment is available: Available=True and at least one ready replica.
pub fn evaluate_deployment_available(d: Option<&Deployment>, what: &str) -> Outcome {
    let Some(d) = d else {
        return Outcome::fail(format!("{what} not found"));
    };
    let status = d.status.as_ref();
    let ready = status.and_then(|s| s.ready_replicas).unwrap_or(0);
    let wanted = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let available = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Available"));
    match available {
        Some(c) if c.status == "True" && ready > 0 => {
            Outcome::pass(format!("{what}: {ready}/{wanted} ready"))
        }
        Some(c) => {
            Outcome::fail(format!("{what} is not available: {ready}/{wanted} ready")).with(format!(
                "condition Available={}: {}",
                c.status,
                c.message.as_deref().unwrap_or("")
            ))
        }
        None => Outcome::fail(format!("{what} is not available: {ready}/{wanted} ready")),
    }
}

/// A DaemonSet with at least one available pod (every scheduled pod available to pass).
pub fn evaluate_daemonset_available(ds: &DaemonSet, what: &str) -> Outcome {
    let status = ds.status.as_ref();
    let desired = status.map_or(0, |s| s.desired_number_scheduled);
    let available = status.and_then(|s| s.number_available).unwrap_or(0);
    if desired == 0 {
        return Outcome::fail(format!("{what} runs on no node (0 scheduled)"))
            .with("its nodeSelector, affinity or tolerations match no schedulable node");
    }
    if available == desired {
        Outcome::pass(format!("{what}: {available}/{desired} available"))
    } else if available > 0 {
        Outcome::warn(format!("{what}: only {available}/{desired} available"))
    } else {
        Outcome::fail(format!("{what} is not available: 0/{desired} available"))
    }
}

#[cfg(test)]
mod available_tests {
    use super::*;
    use crate::checks::Status;
    use crate::checks::test_objects::*;

    #[test]
    fn available_deployment_passes() {
        assert_eq!(
            evaluate_deployment_available(Some(&deployment(true, 1)), "x").status,
            Status::Pass
        );
    }

    #[test]
    fn unavailable_or_missing_deployment_fails() {
        let o = evaluate_deployment_available(Some(&deployment(false, 0)), "x");
        assert_eq!(o.status, Status::Fail);
        assert!(o.evidence[0].contains("minimum availability"));
        assert_eq!(
            evaluate_deployment_available(None, "x").status,
            Status::Fail
        );
    }
}
