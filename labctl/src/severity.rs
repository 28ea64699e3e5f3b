//! How bad a problem is, for checks and findings alike.
//!
//! A finding is `error`, `warning` or `info`; a check that fails is an `Error` or, when it is
//! `warning_only`, a `Warning` (its status is then `warn`: the JSON of a check result says
//! `warn` for its status and `warning` nowhere, the JSON of a finding says `warning` for its
//! severity). Exit code 1 on any `Error`; a `Warning` only with `--strict`.

use serde::Serialize;

/// How bad it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}
