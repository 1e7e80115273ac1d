//! Asking before a deploy broadens access (or changes anything, if asked
//! to), and before a destroy. Without a terminal to ask on, the answer is
//! no: a script must say what it wants with a flag.

use std::io::{BufRead, IsTerminal, Write};

use super::error::DeployError;
use super::plan::{Needs, Planned};
use super::progress::Progress;
use crate::failure::{CommandResult, Failure};
use crate::output::unwritable;

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

/// Shows the changes that need approval and asks, per `policy`.
pub fn approve(
    stacks: &[Planned],
    policy: RequireApproval,
    out: &mut dyn Write,
    progress: &dyn Progress,
    prompt: &mut dyn Prompt,
) -> CommandResult {
    let needing: Vec<&Planned> = stacks
        .iter()
        .filter(|s| s.needs == Needs::Deploy)
        .filter(|s| match policy {
            RequireApproval::Never => false,
            RequireApproval::Broadening => s.diff.broadening().next().is_some(),
            RequireApproval::AnyChange => true,
        })
        .collect();
    if needing.is_empty() {
        return Ok(());
    }
    let what = match policy {
        RequireApproval::AnyChange => "changes",
        _ => "changes that broaden access",
    };
    let names: Vec<&str> = needing
        .iter()
        .map(|s| s.local.entry.stack_name.as_str())
        .collect();
    for stack in &needing {
        writeln!(
            out,
            "{} ({}):",
            stack.local.entry.id, stack.local.entry.stack_name
        )
        .map_err(unwritable)?;
        match policy {
            RequireApproval::AnyChange => write!(out, "{}", stack.diff).map_err(unwritable)?,
            _ => {
                for change in stack.diff.broadening() {
                    writeln!(
                        out,
                        "  + {} {}: {}",
                        change.logical_id, change.kind, change.grant
                    )
                    .map_err(unwritable)?;
                }
            }
        }
    }
    out.flush().map_err(unwritable)?;
    let changes = format!("{what} in {}", names.join(", "));
    if !prompt.interactive() {
        return Err(DeployError::ApprovalNeedsTerminal {
            stack: names.join(", "),
            changes: what.to_string(),
        }
        .into_failure());
    }
    let mut answer = Ok(false);
    progress.suspend(&mut || answer = prompt.confirm(&format!("Deploy {changes}?")));
    match answer {
        Ok(true) => Ok(()),
        Ok(false) => Err(DeployError::NotApproved {
            stack: names.join(", "),
            changes: what.to_string(),
        }
        .into_failure()),
        Err(e) => Err(Failure::usage(
            anyhow::Error::new(e).context("reading the answer"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use stacks::manifest::StackEntry;

    use super::*;
    use crate::deploy::diff::diff;
    use crate::deploy::plan::{LocalStack, Remote};
    use crate::deploy::progress::PlainProgress;
    use crate::failure::ExitCode;

    fn planned(old: Option<serde_json::Value>, new: serde_json::Value) -> Planned {
        let entry = StackEntry {
            id: "Ingest".into(),
            stack_name: "retail-dev-ingest".into(),
            template_file: "Ingest.template.json".into(),
            template_sha256: String::new(),
            template_bytes: 0,
            resource_count: 1,
            termination_protection: false,
            dependencies: vec![],
            exports: vec![],
            assets: vec![],
            account: None,
        };
        let diff = diff(old.as_ref(), &new);
        Planned {
            local: LocalStack {
                entry,
                body: new.to_string(),
                template: new,
            },
            remote: Remote::default(),
            needs: Needs::Deploy,
            diff,
            hotswap: None,
        }
    }

    fn queue(name: &str) -> serde_json::Value {
        json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": name}}}})
    }

    fn permission() -> serde_json::Value {
        json!({"Resources": {"Invoke": {"Type": "AWS::Lambda::Permission", "Properties": {
            "Action": "lambda:InvokeFunction", "Principal": "apigateway.amazonaws.com",
            "FunctionName": "ingest"}}}})
    }

    fn ask(
        stacks: &[Planned],
        policy: RequireApproval,
        prompt: &mut ScriptedPrompt,
    ) -> (CommandResult, String) {
        let mut out = Vec::new();
        let progress = PlainProgress::new(Vec::new());
        let result = approve(stacks, policy, &mut out, &progress, prompt);
        (result, String::from_utf8(out).unwrap())
    }

    #[test]
    fn a_new_lambda_permission_is_shown_and_deployed_once_approved() {
        let mut prompt = ScriptedPrompt {
            answers: vec![true],
            ..Default::default()
        };
        let (result, shown) = ask(
            &[planned(None, permission())],
            RequireApproval::Broadening,
            &mut prompt,
        );
        assert!(result.is_ok());
        assert!(shown.contains("+ Invoke Lambda permission:"), "{shown}");
        assert_eq!(
            prompt.asked,
            ["Deploy changes that broaden access in retail-dev-ingest?"]
        );
    }

    #[test]
    fn a_declined_broadening_change_fails_the_deploy() {
        let mut prompt = ScriptedPrompt {
            answers: vec![false],
            ..Default::default()
        };
        let (result, _) = ask(
            &[planned(None, permission())],
            RequireApproval::Broadening,
            &mut prompt,
        );
        let failure = result.unwrap_err();
        assert_eq!(failure.code, ExitCode::Failed);
        assert!(failure.to_string().contains("not approved"));
    }

    #[test]
    fn a_change_that_broadens_nothing_is_not_asked_about() {
        let mut prompt = ScriptedPrompt::default();
        let (result, shown) = ask(
            &[planned(Some(queue("a")), queue("b"))],
            RequireApproval::Broadening,
            &mut prompt,
        );
        assert!(result.is_ok());
        assert!(shown.is_empty());
        assert!(prompt.asked.is_empty());
    }

    #[test]
    fn any_change_asks_about_every_change_with_its_diff() {
        let mut prompt = ScriptedPrompt {
            answers: vec![true],
            ..Default::default()
        };
        let (result, shown) = ask(
            &[planned(Some(queue("a")), queue("b"))],
            RequireApproval::AnyChange,
            &mut prompt,
        );
        assert!(result.is_ok());
        assert!(shown.contains("~ AWS::SQS::Queue Q"), "{shown}");
        assert_eq!(prompt.asked.len(), 1);
    }

    #[test]
    fn never_deploys_broadening_changes_without_asking() {
        let mut prompt = ScriptedPrompt::default();
        let (result, _) = ask(
            &[planned(None, permission())],
            RequireApproval::Never,
            &mut prompt,
        );
        assert!(result.is_ok());
        assert!(prompt.asked.is_empty());
    }

    #[test]
    fn without_a_terminal_a_broadening_change_is_refused_as_usage() {
        let mut prompt = ScriptedPrompt::default();
        let (result, _) = ask(
            &[planned(None, permission())],
            RequireApproval::Broadening,
            &mut prompt,
        );
        let failure = result.unwrap_err();
        assert_eq!(failure.code, ExitCode::Usage);
        assert!(failure.hint.unwrap().contains("--require-approval never"));
        assert!(prompt.asked.is_empty());
    }
}
