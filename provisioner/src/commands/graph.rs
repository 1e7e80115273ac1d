//! `provisioner graph`: the platform as a picture, from the synth output.

use std::io::Write;
use std::path::Path;

use stacks::graph::Graph;

use crate::failure::{CommandResult, Failure};
use crate::synth_output::{read_manifest, read_stacks};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Mermaid,
    Dot,
}

pub fn run(synth_dir: &Path, stage: &str, format: Format, w: &mut dyn Write) -> CommandResult {
    let manifest = read_manifest(synth_dir, stage)?;
    let graph = Graph::from_stacks(&read_stacks(synth_dir, &manifest)?);
    let text = match format {
        Format::Mermaid => graph.to_mermaid(),
        Format::Dot => graph.to_dot(),
    };
    w.write_all(text.as_bytes())
        .map_err(|e| Failure::usage(anyhow::Error::new(e).context("writing the graph")))
}
