//! How a command fails: one message with its cause chain, a hint saying what
//! to do, and the documented exit code.
//!
//! Exit codes (see README): 0 ok or no-op, 1 deploy failed or rolled back
//! (or a check failed), 2 usage, configuration or synth error; 130
//! interrupted ([`crate::interrupt`]).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// A deploy failed or rolled back, a diff found changes with `--fail`,
    /// or a verification check failed.
    Failed = 1,
    /// Bad usage, configuration, credentials or synth error: nothing was changed.
    Usage = 2,
}

#[derive(Debug)]
pub struct Failure {
    pub code: ExitCode,
    pub error: anyhow::Error,
    pub hint: Option<String>,
}

impl Failure {
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        Self {
            code: ExitCode::Usage,
            error: error.into(),
            hint: None,
        }
    }

    pub fn failed(error: impl Into<anyhow::Error>) -> Self {
        Self {
            code: ExitCode::Failed,
            error: error.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {:#}", self.error)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

pub type CommandResult = Result<(), Failure>;
