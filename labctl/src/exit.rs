//! Exit codes: public, documented constants (see ARCHITECTURE.md "labctl").

/// Everything passed, or nothing wrong was found.
pub const OK: i32 = 0;
/// A check failed or a problem was found (warnings count only with `--strict`).
pub const PROBLEM: i32 = 1;
/// labctl could not do its job: bad arguments, unreadable snapshot, internal error.
pub const INTERNAL_ERROR: i32 = 2;
