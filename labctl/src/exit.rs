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
    /// The process's exit code is the documented one: the conversion reads [`ExitStatus::code`].
    fn from(status: ExitStatus) -> Self {
        // The documented codes are 0, 1 and 2: they fit a byte.
        ExitCode::from(u8::try_from(status.code()).unwrap_or(2))
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

    /// What the process returns (`main` converts the status into an `ExitCode`) is the
    /// documented number of each status.
    #[test]
    fn the_process_exits_with_the_documented_codes() {
        for (status, code) in [
            (ExitStatus::Success, 0u8),
            (ExitStatus::Failure, 1),
            (ExitStatus::Error, 2),
        ] {
            assert_eq!(ExitCode::from(status), ExitCode::from(code), "{status:?}");
        }
        assert_eq!(ExitCode::from(ExitStatus::Success), ExitCode::SUCCESS);
        assert_eq!((OK, PROBLEM, INTERNAL_ERROR), (0, 1, 2));
    }

    #[test]
    fn a_problem_is_a_failure_and_none_a_success() {
        assert_eq!(ExitStatus::failure_if(true), ExitStatus::Failure);
        assert_eq!(ExitStatus::failure_if(false), ExitStatus::Success);
    }
}
