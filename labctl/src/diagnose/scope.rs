//! What a diagnosis covers: a namespace or all, and optionally one claim.

/// What to diagnose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// `None` = every namespace (`-A`).
    pub namespace: Option<String>,
    /// Only this claim (`--pvc NAME`) and what it affects.
    pub pvc: Option<String>,
}

impl Scope {
    pub fn namespace(ns: &str) -> Self {
        Self {
            namespace: Some(ns.to_owned()),
            pvc: None,
        }
    }

    pub fn all_namespaces() -> Self {
        Self::default()
    }

    pub(crate) fn includes_namespace(&self, ns: &str) -> bool {
        self.namespace.as_deref().is_none_or(|n| n == ns)
    }
}
