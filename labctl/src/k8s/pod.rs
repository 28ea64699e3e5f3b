//! Facts about Pods every command reads the same way: the phase, whether the pod is done or
//! still waiting, and why the scheduler has not placed it.

use crate::k8s::model::Pod;

/// The pod's phase, `Unknown` when it has none yet.
pub fn pod_phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Unknown")
}

pub fn is_terminated(pod: &Pod) -> bool {
    matches!(pod_phase(pod), "Succeeded" | "Failed")
}

pub fn is_pending(pod: &Pod) -> bool {
    pod_phase(pod) == "Pending"
}

/// `PodScheduled=False` condition (reason, message).
pub fn unscheduled_condition(pod: &Pod) -> Option<(&str, &str)> {
    let c = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
    Some((
        c.reason.as_deref().unwrap_or(""),
        c.message.as_deref().unwrap_or(""),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "status": status})).unwrap()
    }

    #[test]
    fn phase_and_scheduling_are_read_from_the_status() {
        assert_eq!(pod_phase(&pod(json!({}))), "Unknown");
        assert!(is_terminated(&pod(json!({"phase": "Failed"}))));
        assert!(!is_terminated(&pod(json!({"phase": "Running"}))));
        let waiting = pod(
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
            "status": "False", "reason": "Unschedulable", "message": "0/1 nodes are available"}]}),
        );
        assert!(is_pending(&waiting));
        assert_eq!(
            unscheduled_condition(&waiting),
            Some(("Unschedulable", "0/1 nodes are available"))
        );
        assert_eq!(
            unscheduled_condition(&pod(json!({"phase": "Running"}))),
            None
        );
    }
}
