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

/// The command that writes the synth output of `stage` into `dir`: hints
/// name the folder, so following one fills the folder that was read.
pub fn synth_command(stage: &str, dir: &Path) -> String {
    if dir == Path::new(DEFAULT_SYNTH_DIR) {
        format!("provisioner synth --stage {stage}")
    } else {
        format!("provisioner synth --stage {stage} --out {}", dir.display())
    }
}

/// The manifest in `dir`, checked to be of `stage` and of this version.
pub fn read_manifest(dir: &Path, stage: &str) -> Result<Manifest, Failure> {
    let manifest = read_any_manifest(dir, stage)?;
    if manifest.stage != stage {
        return Err(Failure::usage(anyhow::anyhow!(
            "{} was synthesised for stage {}, not {stage}",
            dir.join(MANIFEST_FILE).display(),
            manifest.stage
        ))
        .hint(format!(
            "run `{}`, or drop --stage to use the folder's own stage",
            synth_command(stage, dir)
        )));
    }
    Ok(manifest)
}

/// The stage `dir` was synthesised for: a folder named on the command line
/// says its stage, so `--stage` need not repeat it.
pub fn stage_of(dir: &Path) -> Result<String, Failure> {
    Ok(read_any_manifest(dir, "dev")?.stage)
}

/// The manifest in `dir` of whatever stage, checked to be of this version;
/// hints suggest synthesising `stage`.
fn read_any_manifest(dir: &Path, stage: &str) -> Result<Manifest, Failure> {
    let path = dir.join(MANIFEST_FILE);
    let synth_hint = format!("run `{}` first", synth_command(stage, dir));
    let text = fs::read_to_string(&path)
        .with_context(|| format!("reading {}", path.display()))
        .map_err(|e| Failure::usage(e).hint(synth_hint.clone()))?;
    let manifest: Manifest = serde_json::from_str(&text)
        .with_context(|| format!("parsing {}", path.display()))
        .map_err(|e| {
            Failure::usage(e).hint(format!(
                "the manifest is not the JSON synth wrote (edited or cut short): \
                 run `{}` again",
                synth_command(stage, dir)
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
                         run `{}` again",
                        synth_command(&manifest.stage, dir)
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
                account: entry.account.as_ref().map(|account| account.id.clone()),
            })
        })
        .collect()
}

/// A stage synthesised for one region cannot go to another: its templates
/// name the region (Firehose CIDRs, ARNs). Every command that talks to the
/// stage's stacks (deploy, diff, destroy, verify) asks this first.
pub fn check_region(manifest: &Manifest, region: &str) -> CommandResult {
    if manifest.region == region {
        return Ok(());
    }
    Err(Failure::usage(anyhow::anyhow!(
        "stage {} is synthesised for region {}, not {region}",
        manifest.stage,
        manifest.region
    ))
    .hint(
        "drop --region and unset AWS_REGION (templates name their region, e.g. in Firehose \
         CIDRs), or change the stage's region in stacks/src/stage.rs",
    ))
}
