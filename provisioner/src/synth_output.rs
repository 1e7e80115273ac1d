//! The synth output folder: where synth writes, and reading back what it
//! wrote (the manifest and the templates). Commands after synth (deploy,
//! diff, graph…) read only this.

use std::fs;
use std::path::Path;

use anyhow::Context;
use stacks::manifest::{MANIFEST_FILE, MANIFEST_VERSION, Manifest};
use stacks::model::{SynthesizedStack, Template};

use crate::failure::{CommandResult, Failure};

/// Where synth writes and later commands read, unless told otherwise.
pub const DEFAULT_SYNTH_DIR: &str = "target/synth";

/// The manifest in `dir`, checked to be of `stage` and of this version.
pub fn read_manifest(dir: &Path, stage: &str) -> Result<Manifest, Failure> {
    let path = dir.join(MANIFEST_FILE);
    let synth_hint = format!("run `provisioner synth --stage {stage}` first");
    let text = fs::read_to_string(&path)
        .with_context(|| format!("reading {}", path.display()))
        .map_err(|e| Failure::usage(e).hint(synth_hint.clone()))?;
    let manifest: Manifest = serde_json::from_str(&text)
        .with_context(|| format!("parsing {}", path.display()))
        .map_err(|e| {
            Failure::usage(e).hint(format!(
                "the manifest is not the JSON synth wrote (edited or cut short): \
                 run `provisioner synth --stage {stage}` again"
            ))
        })?;
    if manifest.version != MANIFEST_VERSION {
        return Err(Failure::usage(anyhow::anyhow!(
            "{} has manifest version {}, this provisioner reads version {MANIFEST_VERSION}",
            path.display(),
            manifest.version
        ))
        .hint(synth_hint));
    }
    if manifest.stage != stage {
        return Err(Failure::usage(anyhow::anyhow!(
            "{} was synthesised for stage {}, not {stage}",
            path.display(),
            manifest.stage
        ))
        .hint(synth_hint));
    }
    Ok(manifest)
}

/// Every stack of the manifest with its template, in deploy order.
pub fn read_stacks(dir: &Path, manifest: &Manifest) -> Result<Vec<SynthesizedStack>, Failure> {
    manifest
        .stacks
        .iter()
        .map(|entry| {
            let path = dir.join(&entry.template_file);
            let body = fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))
                .map_err(|e| {
                    Failure::usage(e).hint("synthesise again: the output folder is incomplete")
                })?;
            let template: Template = serde_json::from_str(&body)
                .with_context(|| format!("parsing {}", path.display()))
                .map_err(|e| {
                    Failure::usage(e).hint(format!(
                        "the template is not the JSON synth wrote (edited or cut short): \
                         run `provisioner synth --stage {}` again",
                        manifest.stage
                    ))
                })?;
            Ok(SynthesizedStack {
                id: entry.id.clone(),
                stack_name: entry.stack_name.clone(),
                template,
                body,
                dependencies: entry.dependencies.clone(),
                exports: entry.exports.clone(),
                assets: entry.assets.clone(),
            })
        })
        .collect()
}

/// A stage synthesised for one region cannot go to another: its templates
/// name the region (Firehose CIDRs, ARNs).
pub fn check_region(manifest: &Manifest, region: &str) -> CommandResult {
    if manifest.region == region {
        return Ok(());
    }
    Err(Failure::usage(anyhow::anyhow!(
        "stage {} is synthesised for region {}, not {region}",
        manifest.stage,
        manifest.region
    ))
    .hint("drop --region (templates name their region, e.g. in Firehose CIDRs), or change the stage's region in stacks/src/stage.rs"))
}
