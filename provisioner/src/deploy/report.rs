//! The end of a deploy: one line per stack, the outputs file, and the
//! command's exit code from the first failure.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use super::engine::Outcome;
use super::error::DeployError;
use super::hotswap::{self, Swapped};
use super::outputs::write_outputs;
use super::pipeline::DeployOptions;
use super::schedule::Run;
use crate::failure::{CommandResult, Failure};
use crate::output::unwritable;

/// What happened to one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackResult {
    /// Template and settings already deployed: not even a change set.
    Unchanged,
    /// Same template; termination protection turned on (or off).
    Protection(bool),
    Deployed(Outcome),
    /// `--hotswap`: these functions' code updated through Lambda.
    Hotswapped(Vec<Swapped>),
}

impl std::fmt::Display for StackResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StackResult::Unchanged => "unchanged",
            StackResult::Protection(true) => "termination protection turned on",
            StackResult::Protection(false) => "termination protection turned off",
            StackResult::Deployed(Outcome::Created) => "created",
            StackResult::Deployed(Outcome::Updated) => "updated",
            StackResult::Deployed(Outcome::NoChanges) => "no changes",
            StackResult::Hotswapped(swapped) => {
                return write!(f, "hotswapped {}", hotswap::summary(swapped));
            }
        })
    }
}

pub type StackRun = Run<(StackResult, BTreeMap<String, String>), DeployError>;

/// One stack's line of the report, as text or JSON (`--output json`).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackLine {
    pub id: String,
    /// "created", "updated", "no changes", "unchanged", "hotswapped ...",
    /// "failed" or "not deployed".
    pub result: String,
    /// Why it failed or was not deployed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The stack's outputs after a deploy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<BTreeMap<String, String>>,
}

/// The whole run, for `--output json`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployReport<'a> {
    pub stage: &'a str,
    /// "done" or "failed".
    pub result: &'static str,
    pub seconds: f64,
    pub stacks: Vec<StackLine>,
}

/// Prints one line per stack (or the JSON report), writes the outputs
/// file, and turns the first failure into the command's.
pub fn report(
    results: Vec<(String, StackRun)>,
    started: Instant,
    stage: &str,
    options: &DeployOptions,
    out: &mut dyn Write,
) -> CommandResult {
    let mut outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut first_failure = None;
    let mut failed = 0;
    let mut changed = false;
    let mut lines = Vec::new();
    for (id, run) in results {
        let (result, reason, stack_outputs) = match run {
            Run::Done((result, stack_outputs)) => {
                outputs.insert(id.clone(), stack_outputs.clone());
                changed |= !matches!(
                    result,
                    StackResult::Unchanged | StackResult::Deployed(Outcome::NoChanges)
                );
                (result.to_string(), None, Some(stack_outputs))
            }
            Run::Failed(error) => {
                failed += 1;
                let reason = error.to_string();
                first_failure.get_or_insert(error);
                ("failed".to_string(), Some(reason), None)
            }
            Run::NotStarted {
                blocked_by: Some(dependency),
            } => (
                "not deployed".to_string(),
                Some(format!("{dependency} failed")),
                None,
            ),
            Run::NotStarted { blocked_by: None } => (
                "not deployed".to_string(),
                Some("stopped after a failure".to_string()),
                None,
            ),
        };
        lines.push(StackLine {
            id,
            result,
            reason,
            outputs: stack_outputs,
        });
    }
    let result = if failed == 0 { "done" } else { "failed" };
    let seconds = started.elapsed().as_secs_f64();
    match options.output {
        crate::output::Format::Json => crate::output::json(
            out,
            &DeployReport {
                stage,
                result,
                seconds,
                stacks: lines,
            },
        )
        .map_err(unwritable)?,
        crate::output::Format::Text => {
            for line in &lines {
                let text = match (line.result.as_str(), &line.reason) {
                    ("failed", Some(reason)) => format!("FAILED: {reason}"),
                    (result, Some(reason)) => format!("{result}: {reason}"),
                    (result, None) => result.to_string(),
                };
                writeln!(out, "{:<20} {text}", line.id).map_err(unwritable)?;
            }
            writeln!(out, "deploy {result} in {seconds:.1}s").map_err(unwritable)?;
        }
    }
    if let Some(path) = &options.outputs_file {
        write_outputs(path, &outputs).map_err(Failure::usage)?;
    }
    match first_failure {
        None => Ok(()),
        Some(error) => Err(changed_anyway(error.into_failure(), changed)),
    }
}

/// Exit code 2 promises that nothing was changed: once another stack of
/// the run has been, a credentials or connection failure is exit 1.
pub fn changed_anyway(mut failure: Failure, changed: bool) -> Failure {
    if changed && failure.code == crate::failure::ExitCode::Usage {
        failure.code = crate::failure::ExitCode::Failed;
    }
    failure
}
