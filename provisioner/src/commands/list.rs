//! `provisioner list`: stacks in deploy order with their dependencies.

use std::io::Write;

use crate::commands::synth::Synthesis;
use crate::failure::CommandResult;
use crate::output::unwritable;

pub fn print(synthesis: &Synthesis, w: &mut dyn Write) -> CommandResult {
    for (n, stack) in synthesis.manifest.stacks.iter().enumerate() {
        writeln!(w, "{}. {} ({})", n + 1, stack.id, stack.stack_name).map_err(unwritable)?;
        for dependency in &stack.dependencies {
            writeln!(w, "     after {}:", dependency.stack).map_err(unwritable)?;
            for reason in &dependency.reasons {
                writeln!(w, "       {reason}").map_err(unwritable)?;
            }
        }
    }
    Ok(())
}
