//! `provisioner synth`: templates, manifest and Lambda assets into a folder.
//!
//! The output is written to a temporary folder beside the destination and
//! renamed into place, so a failed synth never leaves half-written output.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use stacks::assets::AssetTable;
use stacks::manifest::{AssetEntry, MANIFEST_FILE, Manifest, template_file};
use stacks::model::{SynthesizedStack, limits};
use stacks::stage::Stage;

use crate::failure::{CommandResult, Failure};

/// Stacks of a stage with their manifest, in memory.
#[derive(Debug)]
pub struct Synthesis {
    pub stacks: Vec<SynthesizedStack>,
    pub manifest: Manifest,
}

/// Renders the platform for `stage` with the given Lambda assets.
pub fn synthesize(
    stage: &Stage,
    table: &AssetTable,
    assets: Vec<AssetEntry>,
) -> Result<Synthesis, Failure> {
    let stacks = stacks::platform::synth(stage, table).map_err(|e| {
        Failure::usage(anyhow::Error::new(e).context(format!("synthesising stage {}", stage.name)))
    })?;
    let manifest = Manifest::new(stage, &stacks, assets);
    Ok(Synthesis { stacks, manifest })
}

/// Looks a stack up by its short id (case-insensitive) or its stack name.
pub fn find_stack<'a>(
    synthesis: &'a Synthesis,
    name: &str,
) -> Result<&'a SynthesizedStack, Failure> {
    synthesis
        .stacks
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(name) || s.stack_name == name)
        .ok_or_else(|| {
            let known: Vec<_> = synthesis.stacks.iter().map(|s| s.id.as_str()).collect();
            Failure::usage(anyhow::anyhow!("no stack named {name:?}"))
                .hint(format!("stacks of this stage: {}", known.join(", ")))
        })
}

/// Writes templates and manifest into `staging` (a fresh folder that
/// already holds the asset zips).
pub fn write_into(staging: &Path, synthesis: &Synthesis) -> anyhow::Result<()> {
    for stack in &synthesis.stacks {
        let path = staging.join(template_file(&stack.id));
        fs::write(&path, &stack.body).with_context(|| format!("writing {}", path.display()))?;
    }
    let path = staging.join(MANIFEST_FILE);
    fs::write(&path, synthesis.manifest.to_json())
        .with_context(|| format!("writing {}", path.display()))
}

/// Synth replaces the output *folder*; anything else at that path is the
/// user's, so it is refused before anything is built or moved.
fn refuse_a_file_as_output(out: &Path) -> CommandResult {
    match fs::symlink_metadata(out) {
        Ok(meta) if !meta.is_dir() => Err(Failure::usage(anyhow::anyhow!(
            "{} exists and is not a folder: synth writes a folder of templates there",
            out.display()
        ))
        .hint("choose another output folder with --out DIR (nothing was changed)")),
        _ => Ok(()),
    }
}

/// A temporary folder beside `out`, so the final rename stays on one file system.
pub fn staging_dir(out: &Path) -> anyhow::Result<tempfile::TempDir> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    tempfile::Builder::new()
        .prefix(".synth-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a temporary folder in {}", parent.display()))
}

/// Replaces `out` with `staging` in two renames; the previous output is
/// removed only once the new one is in place.
pub fn publish(staging: tempfile::TempDir, out: &Path) -> anyhow::Result<()> {
    let staging = staging.keep();
    let previous = out.with_extension(format!("previous-{}", std::process::id()));
    let had_previous = out.exists();
    if had_previous {
        fs::rename(out, &previous)
            .with_context(|| format!("moving the previous output {} aside", out.display()))?;
    }
    if let Err(e) = fs::rename(&staging, out) {
        if had_previous {
            let _ = fs::rename(&previous, out);
        }
        let _ = fs::remove_dir_all(&staging);
        return Err(e).with_context(|| format!("moving the new output into {}", out.display()));
    }
    if had_previous {
        fs::remove_dir_all(&previous)
            .with_context(|| format!("removing the previous output {}", previous.display()))?;
    }
    Ok(())
}

/// The short table synth prints: stack, resources, bytes.
pub fn print_summary(synthesis: &Synthesis, out_dir: &Path, w: &mut dyn Write) -> CommandResult {
    let write =
        |w: &mut dyn Write, line: String| writeln!(w, "{line}").map_err(crate::output::unwritable);
    write(
        w,
        format!(
            "{:<20} {:<28} {:>9} {:>9}",
            "STACK", "NAME", "RESOURCES", "BYTES"
        ),
    )?;
    for stack in &synthesis.stacks {
        let via_bucket = if stack.body.len() > limits::MAX_INLINE_TEMPLATE_BYTES {
            "  (deployed through the asset bucket)"
        } else {
            ""
        };
        write(
            w,
            format!(
                "{:<20} {:<28} {:>9} {:>9}{via_bucket}",
                stack.id,
                stack.stack_name,
                stack.template.resources.len(),
                stack.body.len()
            ),
        )?;
    }
    for asset in &synthesis.manifest.assets {
        write(
            w,
            format!(
                "asset {:<22} {:>10} bytes  {}",
                asset.name, asset.size, asset.s3_key
            ),
        )?;
    }
    write(
        w,
        format!(
            "stage {} ({}): {} stacks written to {}",
            synthesis.manifest.stage,
            synthesis.manifest.region,
            synthesis.stacks.len(),
            out_dir.display()
        ),
    )
}

/// Starts compiling the policy templates (~5 ms) on another thread, so a
/// command overlaps it with what it does before its first render. Synth
/// waits for it where it needs the templates; a template fault is reported
/// there.
pub fn compile_policies_in_background() {
    std::thread::spawn(|| {
        let _ = stacks::policies::prepare();
    });
}

/// Builds the Lambda assets into a folder (zips under `<dir>/assets/`) and
/// returns their hashes; injected so tests need not run cargo-lambda.
pub type BuildAssets<'a> =
    dyn FnMut(&Path, &mut dyn Write) -> Result<(AssetTable, Vec<AssetEntry>), Failure> + 'a;

/// `provisioner synth`: everything into `out`, or one template to `w`.
pub fn run(
    stage: &Stage,
    out: &Path,
    stack: Option<&str>,
    build_assets: &mut BuildAssets<'_>,
    w: &mut dyn Write,
    progress: &mut dyn Write,
) -> CommandResult {
    // The fingerprints of the asset step (~3 ms when nothing changed)
    // overlap the templates' compile.
    compile_policies_in_background();
    refuse_a_file_as_output(out)?;
    let staging = staging_dir(out)
        .map_err(|e| Failure::usage(e).hint("choose a writable output folder with --out DIR"))?;
    // Ctrl-C during the Lambda builds would leave the staging folder (tens
    // of MB of zips) beside the output; the previous output stays as it is.
    let _staging_on_interrupt = crate::interrupt::remove_on_interrupt(
        staging.path(),
        &format!("synth of stage {} into {}", stage.name, out.display()),
    );
    let (table, assets) = build_assets(staging.path(), progress)?;
    let synthesis = synthesize(stage, &table, assets)?;
    if let Some(name) = stack {
        let stack = find_stack(&synthesis, name)?;
        return w
            .write_all(stack.body.as_bytes())
            .map_err(|e| Failure::usage(anyhow::Error::new(e).context("writing the template")));
    }
    write_into(staging.path(), &synthesis)
        .and_then(|()| crate::interrupt::uninterrupted(|| publish(staging, out)))
        .map_err(|e| {
            Failure::usage(e).hint("check that the output folder is writable (--out DIR)")
        })?;
    print_summary(&synthesis, out, w)
}
