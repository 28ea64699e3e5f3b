//! The read-only permissions labctl uses: one table that drives both the `permissions` preflight
//! check (SelfSubjectAccessReview per row) and `manifests/rbac/clusterrole.yaml` (a test keeps
//! the manifest equal to [`cluster_role_yaml`]), so the two cannot drift.

/// One RBAC rule row: `verbs` on `group/resource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    pub group: &'static str,
    pub resource: &'static str,
    pub verbs: &'static [&'static str],
    /// Namespaced resources are reviewed in the lab namespace; cluster-scoped ones cluster-wide.
    pub namespaced: bool,
}

const fn p(
    group: &'static str,
    resource: &'static str,
    verbs: &'static [&'static str],
    namespaced: bool,
) -> Permission {
    Permission {
        group,
        resource,
        verbs,
        namespaced,
    }
}

/// Everything labctl reads (preflight, verify, diagnose, snapshot), grouped by API group.
/// Only `get` and `list`: labctl never mutates the cluster (the two `create`s are reviews of
/// the caller itself and store nothing).
pub const PERMISSIONS: &[Permission] = &[
    p("", "events", &["list"], true),
    p("", "namespaces", &["get"], false),
    p("", "nodes", &["list"], false),
    p("", "persistentvolumeclaims", &["get", "list"], true),
    p("", "persistentvolumes", &["get", "list"], false),
    p("", "pods", &["list"], true),
    p("", "services", &["get", "list"], true),
    p(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        &["get"],
        false,
    ),
    p("apps", "daemonsets", &["list"], true),
    p("apps", "deployments", &["get", "list"], true),
    p("apps", "statefulsets", &["get", "list"], true),
    p("argoproj.io", "applications", &["get"], true),
    p("batch", "cronjobs", &["get", "list"], true),
    p("batch", "jobs", &["list"], true),
    p("discovery.k8s.io", "endpointslices", &["list"], true),
    p("events.k8s.io", "events", &["list"], true),
    p("networking.k8s.io", "ingressclasses", &["get"], false),
    p("networking.k8s.io", "ingresses", &["get", "list"], true),
    p("storage.k8s.io", "storageclasses", &["get", "list"], false),
];

/// Reviews of the caller itself (granted to every authenticated user by `system:basic-user`,
/// listed in the ClusterRole anyway so the role is complete on its own).
pub const SELF_REVIEWS: &[Permission] = &[
    p(
        "authentication.k8s.io",
        "selfsubjectreviews",
        &["create"],
        false,
    ),
    p(
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
        &["create"],
        false,
    ),
];

impl Permission {
    /// `deployments.apps`, `pods`: kubectl's spelling.
    pub fn resource_name(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_owned()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

/// Name of the ClusterRole and its example binding.
pub const CLUSTER_ROLE: &str = "labctl-read-only";

/// The ClusterRole manifest generated from [`PERMISSIONS`] and [`SELF_REVIEWS`].
pub fn cluster_role_yaml() -> String {
    let mut out = String::from(
        "# Generated from labctl/src/checks/permissions.rs (a test keeps them equal).\n\
         # Read-only: exactly the verbs labctl uses; it never mutates the cluster.\n\
         apiVersion: rbac.authorization.k8s.io/v1\n\
         kind: ClusterRole\n\
         metadata:\n",
    );
    out.push_str(&format!("  name: {CLUSTER_ROLE}\n"));
    out.push_str("  labels:\n    app.kubernetes.io/name: labctl\n    app.kubernetes.io/part-of: mlops-lab\nrules:\n");
    for perm in PERMISSIONS.iter().chain(SELF_REVIEWS) {
        out.push_str(&format!("  - apiGroups: [\"{}\"]\n", perm.group));
        out.push_str(&format!("    resources: [\"{}\"]\n", perm.resource));
        let verbs: Vec<String> = perm.verbs.iter().map(|v| format!("\"{v}\"")).collect();
        out.push_str(&format!("    verbs: [{}]\n", verbs.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_matches_the_table() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../manifests/rbac/clusterrole.yaml"
        );
        // LABCTL_BLESS=1 rewrites the manifest after a deliberate change of the table.
        if std::env::var_os("LABCTL_BLESS").is_some() {
            std::fs::write(path, cluster_role_yaml()).expect("write clusterrole.yaml");
        }
        let on_disk =
            std::fs::read_to_string(path).expect("manifests/rbac/clusterrole.yaml exists");
        assert_eq!(
            on_disk,
            cluster_role_yaml(),
            "manifests/rbac/clusterrole.yaml differs from checks::permissions: rerun with LABCTL_BLESS=1"
        );
    }

    #[test]
    fn only_read_verbs_outside_self_reviews() {
        for perm in PERMISSIONS {
            assert!(
                perm.verbs.iter().all(|v| *v == "get" || *v == "list"),
                "{perm:?}"
            );
        }
    }
}
