//! The read-only permissions labctl uses: one table that drives both the `permissions` preflight
//! check (SelfSubjectAccessReview per row) and `manifests/rbac/clusterrole.yaml` (a test keeps
//! the manifest equal to [`cluster_role_yaml`]), so the two cannot drift.

/// Where labctl uses a permission (the ClusterRole grants it everywhere; the review asks where
/// it matters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A cluster-scoped resource.
    Cluster,
    /// In the lab namespace (and, for Deployments and DaemonSets, the ingress and provisioner
    /// namespaces).
    Lab,
    /// In the Argo CD namespace.
    ArgoCd,
}

/// One RBAC rule row: `verbs` on `group/resource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    pub group: &'static str,
    pub resource: &'static str,
    pub verbs: &'static [&'static str],
    /// Where the permission is reviewed.
    pub scope: Scope,
}

const fn p(
    group: &'static str,
    resource: &'static str,
    verbs: &'static [&'static str],
    scope: Scope,
) -> Permission {
    Permission {
        group,
        resource,
        verbs,
        scope,
    }
}

/// Everything labctl reads (preflight, verify, diagnose, snapshot), grouped by API group.
/// Only `get` and `list`: labctl never mutates the cluster (the two `create`s are reviews of
/// the caller itself and store nothing).
pub const PERMISSIONS: &[Permission] = &[
    p("", "events", &["list"], Scope::Lab),
    p("", "namespaces", &["get"], Scope::Cluster),
    p("", "nodes", &["list"], Scope::Cluster),
    p("", "persistentvolumeclaims", &["get", "list"], Scope::Lab),
    p("", "persistentvolumes", &["get", "list"], Scope::Cluster),
    p("", "pods", &["list"], Scope::Lab),
    p("", "services", &["get", "list"], Scope::Lab),
    p(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        &["get"],
        Scope::Cluster,
    ),
    p("apps", "daemonsets", &["get", "list"], Scope::Lab),
    p("apps", "deployments", &["get", "list"], Scope::Lab),
    p("apps", "replicasets", &["list"], Scope::Lab),
    p("apps", "statefulsets", &["get", "list"], Scope::Lab),
    p(
        "argoproj.io",
        "applications",
        &["get", "list"],
        Scope::ArgoCd,
    ),
    p("batch", "cronjobs", &["get", "list"], Scope::Lab),
    p("batch", "jobs", &["list"], Scope::Lab),
    p("discovery.k8s.io", "endpointslices", &["list"], Scope::Lab),
    p("events.k8s.io", "events", &["list"], Scope::Lab),
    // With `ingress_controller = "gateway"`: the Gateway (in its own namespace, often
    // kube-system) and the lab's HTTPRoute.
    p(
        "gateway.networking.k8s.io",
        "gateways",
        &["get"],
        Scope::Cluster,
    ),
    p(
        "gateway.networking.k8s.io",
        "httproutes",
        &["get", "list"],
        Scope::Lab,
    ),
    p(
        "networking.k8s.io",
        "ingressclasses",
        &["get"],
        Scope::Cluster,
    ),
    p(
        "networking.k8s.io",
        "ingresses",
        &["get", "list"],
        Scope::Lab,
    ),
    p(
        "storage.k8s.io",
        "storageclasses",
        &["get", "list"],
        Scope::Cluster,
    ),
];

/// Reviews of the caller itself (granted to every authenticated user by `system:basic-user`,
/// listed in the ClusterRole anyway so the role is complete on its own).
pub const SELF_REVIEWS: &[Permission] = &[
    p(
        "authentication.k8s.io",
        "selfsubjectreviews",
        &["create"],
        Scope::Cluster,
    ),
    p(
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
        &["create"],
        Scope::Cluster,
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
