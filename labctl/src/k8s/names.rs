//! Names, namespaces and labels of API objects as the commands print them.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The label local-path pins its volumes with, and the usual key of a workload's pin.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// `metadata.name`, empty when unset (objects read from files may lack it).
pub fn name(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or("")
}

/// `metadata.namespace`, empty for cluster-scoped objects.
pub fn namespace(meta: &ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or("")
}

/// `(namespace, name)`: how namespaced objects are looked up.
pub type Key<'a> = (&'a str, &'a str);

pub fn key(meta: &ObjectMeta) -> Key<'_> {
    (namespace(meta), name(meta))
}

/// Names as one list for a message (`a, b`), or `none`.
pub fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// `k=v,k2=v2`, as `kubectl get -l` takes a selector.
pub fn labels_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_names_are_empty_and_labels_join_like_kubectl() {
        let meta = ObjectMeta {
            name: Some("models".into()),
            ..Default::default()
        };
        assert_eq!(key(&meta), ("", "models"));
        let labels = [("a".to_owned(), "1".to_owned()), ("b".into(), "2".into())].into();
        assert_eq!(labels_text(&labels), "a=1,b=2");
    }
}
