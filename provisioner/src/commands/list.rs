//! `provisioner list`: stacks in deploy order with their dependencies.

use std::io::Write;

use crate::commands::synth::Synthesis;
use crate::failure::{CommandResult, Failure};

pub fn print(synthesis: &Synthesis, w: &mut dyn Write) -> CommandResult {
    let io = |e: std::io::Error| Failure::usage(anyhow::Error::new(e).context("writing output"));
    for (n, stack) in synthesis.manifest.stacks.iter().enumerate() {
        writeln!(w, "{}. {} ({})", n + 1, stack.id, stack.stack_name).map_err(io)?;
        for dependency in &stack.dependencies {
            writeln!(w, "     after {}:", dependency.stack).map_err(io)?;
            for reason in &dependency.reasons {
                writeln!(w, "       {reason}").map_err(io)?;
            }
        }
    }
    Ok(())
}
