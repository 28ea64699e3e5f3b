//! Label selectors (`metav1.LabelSelector`): whether one selects a set of labels, as the API
//! server and every controller decide it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Whether `selector` selects `labels`: every `matchLabels` pair and every `matchExpressions`
/// requirement holds. The empty selector selects everything.
pub fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let pairs = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            // An operator the API server would have refused: selects nothing.
            _ => false,
        }
    });
    pairs && expressions
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expression(key: &str, op: &str, values: &[&str]) -> LabelSelector {
        LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: key.into(),
                operator: op.into(),
                values: Some(values.iter().map(|v| v.to_string()).collect()),
            }]),
            ..Default::default()
        }
    }

    #[test]
    fn match_labels_and_expressions_as_the_api_server_reads_them() {
        let ns = labels(&[("kubernetes.io/metadata.name", "kube-system")]);
        assert!(selects(&LabelSelector::default(), &ns));
        let by_name = LabelSelector {
            match_labels: Some(labels(&[("kubernetes.io/metadata.name", "kube-system")])),
            ..Default::default()
        };
        assert!(selects(&by_name, &ns));
        assert!(!selects(
            &by_name,
            &labels(&[("kubernetes.io/metadata.name", "ingress-nginx")])
        ));
        let key = "kubernetes.io/metadata.name";
        assert!(selects(&expression(key, "In", &["a", "kube-system"]), &ns));
        assert!(!selects(&expression(key, "NotIn", &["kube-system"]), &ns));
        assert!(selects(&expression(key, "Exists", &[]), &ns));
        assert!(!selects(&expression(key, "DoesNotExist", &[]), &ns));
        assert!(!selects(&expression(key, "Bogus", &[]), &ns));
    }
}
