//! `provisioner list`: stacks in deploy order with their dependencies.

use std::io::Write;

use serde::Serialize;
use stacks::manifest::Dependency;

use crate::commands::synth::Synthesis;
use crate::failure::CommandResult;
use crate::output::{Format, unwritable};

/// One stack of `--output json`, in deploy order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Listed<'a> {
    id: &'a str,
    stack_name: &'a str,
    dependencies: &'a [Dependency],
}

pub fn print(synthesis: &Synthesis, format: Format, w: &mut dyn Write) -> CommandResult {
    let stacks = &synthesis.manifest.stacks;
    if format == Format::Json {
        let listed: Vec<Listed<'_>> = stacks
            .iter()
            .map(|s| Listed {
                id: &s.id,
                stack_name: &s.stack_name,
                dependencies: &s.dependencies,
            })
            .collect();
        return crate::output::json(w, &listed).map_err(unwritable);
    }
    for (n, stack) in stacks.iter().enumerate() {
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
