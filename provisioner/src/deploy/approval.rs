//! Asking before a deploy broadens access (or changes anything, if asked
//! to), and before a destroy. Without a terminal to ask on, the answer is
//! no: a script must say what it wants with a flag.

use std::io::{BufRead, IsTerminal, Write};

/// When a deploy stops to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RequireApproval {
    /// Deploy without asking.
    Never,
    /// New or wider IAM statements, resource policies, Lambda permissions,
    /// security group ingress.
    #[default]
    Broadening,
    /// Ask before any change, showing the differences.
    AnyChange,
}

/// A yes/no question to the user.
pub trait Prompt {
    /// Whether there is someone to ask.
    fn interactive(&self) -> bool;
    fn confirm(&mut self, question: &str) -> std::io::Result<bool>;
}

/// Asks on standard error, reads standard input; interactive only when
/// both are terminals.
#[derive(Debug, Default)]
pub struct TerminalPrompt;

impl Prompt for TerminalPrompt {
    fn interactive(&self) -> bool {
        std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
    }

    fn confirm(&mut self, question: &str) -> std::io::Result<bool> {
        let mut stderr = std::io::stderr();
        write!(stderr, "{question} [y/N] ")?;
        stderr.flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
    }
}

/// Answers fixed in advance, for tests; not interactive when empty.
#[derive(Debug, Default)]
pub struct ScriptedPrompt {
    pub answers: Vec<bool>,
    pub asked: Vec<String>,
}

impl Prompt for ScriptedPrompt {
    fn interactive(&self) -> bool {
        !self.answers.is_empty()
    }

    fn confirm(&mut self, question: &str) -> std::io::Result<bool> {
        self.asked.push(question.to_string());
        Ok(if self.answers.is_empty() {
            false
        } else {
            self.answers.remove(0)
        })
    }
}
