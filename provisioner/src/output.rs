//! What commands print on standard output, in one place: the pipe-aware
//! standard output every command writes to, text for people or JSON for
//! machines (`--output`), and the error a failed write becomes.

use std::io::{self, Write};

use serde::Serialize;

use crate::failure::Failure;
use crate::pipe::ClosedPipeIsTheEnd;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON document, from the same result the text is printed from.
    Json,
}

/// How much a command says besides its result (`--quiet`, `--verbose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verbosity {
    /// No progress or notes: errors and the result only.
    Quiet,
    #[default]
    Normal,
    /// Raw details too (the IAM statements of an approval as JSON).
    Verbose,
}

static VERBOSITY: std::sync::OnceLock<Verbosity> = std::sync::OnceLock::new();

/// Set once, from the command line, before the command runs.
pub fn set_verbosity(verbosity: Verbosity) {
    let _ = VERBOSITY.set(verbosity);
}

/// The run's verbosity (normal unless set).
pub fn verbosity() -> Verbosity {
    VERBOSITY.get().copied().unwrap_or_default()
}

/// Where progress and notes go: standard error, or nowhere under
/// `--quiet` (errors are printed by `main`, not through this).
pub fn stderr() -> Box<dyn Write + Send> {
    match verbosity() {
        Verbosity::Quiet => Box::new(io::sink()),
        _ => Box::new(io::stderr()),
    }
}

/// Standard output, locked, where a closed pipe ends the output rather
/// than the command (`provisioner diff | head -1`, see `pipe`).
pub fn stdout() -> ClosedPipeIsTheEnd<io::StdoutLock<'static>> {
    ClosedPipeIsTheEnd::new(io::stdout().lock())
}

/// `value` as pretty JSON and a newline.
pub fn json(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

/// A write to standard output that failed (not a closed pipe: that is
/// absorbed). Usage: a command whose output cannot be written changed
/// nothing yet, or says otherwise (see `deploy::report::changed_anyway`).
pub fn unwritable(e: io::Error) -> Failure {
    Failure::usage(anyhow::Error::new(e).context("writing output"))
}
