//! Fields the Kubernetes types do not know (a typo the API server would drop or refuse).

use super::finding;
use crate::diagnose::ObjectRef;
use crate::lint::{LintFinding, RuleId};

/// `unknown-field`: fields the k8s-openapi types (the Kubernetes API of v1.33) do not know.
pub fn unknown_fields(unknown: &[(ObjectRef, Vec<String>)]) -> Vec<LintFinding> {
    unknown
        .iter()
        .map(|(object, paths)| {
            finding(
                RuleId::UnknownField,
                object.clone(),
                format!(
                    "{object} has {} field(s) the Kubernetes API does not know: {}",
                    paths.len(),
                    paths.join(", ")
                ),
                paths.iter().map(|p| format!("{object}: {p}")).collect(),
                "Fix the spelling or the indentation (field names are case-sensitive camelCase; \
                 compare with `kubectl explain <kind>.<path>`). The API server rejects unknown \
                 fields with strict validation, or drops them with a warning."
                    .to_owned(),
            )
        })
        .collect()
}
