//! Exit codes: public, documented constants (`docs/architecture.md`), and the one type every
//! command returns so that no other number can be written.

use std::process::ExitCode;

/// Everything passed, or nothing wrong was found.
pub const OK: i32 = 0;
/// A check failed or a problem was found (warnings count only with `--strict`).
pub const PROBLEM: i32 = 1;
/// labctl could not do its job: bad arguments, unreadable snapshot, internal error.
pub const INTERNAL_ERROR: i32 = 2;

/// How a command ended, converted once into the process's exit code (as uv's `ExitStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// [`OK`]: everything passed, or nothing wrong was found.
    Success,
    /// [`PROBLEM`]: a check failed or a problem was found.
    Failure,
    /// [`INTERNAL_ERROR`]: labctl could not do its job.
    Error,
}

impl ExitStatus {
    /// `Failure` when `problem`, else `Success`.
    pub fn failure_if(problem: bool) -> Self {
        if problem {
            Self::Failure
        } else {
            Self::Success
        }
    }

    /// The documented code.
    pub fn code(self) -> i32 {
        match self {
            Self::Success => OK,
            Self::Failure => PROBLEM,
            Self::Error => INTERNAL_ERROR,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        match status {
            ExitStatus::Success => ExitCode::SUCCESS,
            ExitStatus::Failure => ExitCode::from(1),
            ExitStatus::Error => ExitCode::from(2),
        }
    }
}

/// A status compares equal to the code it stands for, so tests can name the documented codes.
impl PartialEq<i32> for ExitStatus {
    fn eq(&self, code: &i32) -> bool {
        self.code() == *code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_the_documented_codes() {
        assert_eq!(ExitStatus::Success, OK);
        assert_eq!(ExitStatus::Failure, PROBLEM);
        assert_eq!(ExitStatus::Error, INTERNAL_ERROR);
        assert_eq!(ExitStatus::failure_if(true), ExitStatus::Failure);
    }
}
