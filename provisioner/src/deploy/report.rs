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

/// Prints one line per stack, writes the outputs file, and turns the first
/// failure into the command's.
pub fn report(
    results: Vec<(String, StackRun)>,
    started: Instant,
    options: &DeployOptions,
    out: &mut dyn Write,
) -> CommandResult {
    let mut outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut first_failure = None;
    let mut failed = 0;
    let mut changed = false;
    for (id, run) in results {
        let line = match run {
            Run::Done((result, stack_outputs)) => {
                outputs.insert(id.clone(), stack_outputs);
                changed |= !matches!(
                    result,
                    StackResult::Unchanged | StackResult::Deployed(Outcome::NoChanges)
                );
                result.to_string()
            }
            Run::Failed(error) => {
                failed += 1;
                let line = format!("FAILED: {error}");
                first_failure.get_or_insert(error);
                line
            }
            Run::NotStarted {
                blocked_by: Some(dependency),
            } => format!("not deployed: {dependency} failed"),
            Run::NotStarted { blocked_by: None } => {
                "not deployed: stopped after a failure".to_string()
            }
        };
        writeln!(out, "{id:<20} {line}").map_err(unwritable)?;
    }
    writeln!(
        out,
        "deploy {} in {:.1}s",
        if failed == 0 { "done" } else { "failed" },
        started.elapsed().as_secs_f64()
    )
    .map_err(unwritable)?;
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
