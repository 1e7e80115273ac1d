//! `--outputs-file`: checked before anything is deployed, written after.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::failure::{CommandResult, Failure};

/// Whether `--outputs-file` can be written, asked before anything is
/// deployed: a path found unwritable only after the deploy fails a run
/// that changed the stage.
pub fn check_outputs_path(path: &Path) -> CommandResult {
    let refuse = |detail: String| {
        Failure::usage(anyhow::anyhow!(
            "--outputs-file {} cannot be written: {detail}",
            path.display()
        ))
        .hint("name a file in a writable folder, like --outputs-file outputs.json; nothing was deployed")
    };
    if path.is_dir() {
        return Err(refuse("it is a folder".to_owned()));
    }
    // The nearest folder that exists: write_outputs creates the rest.
    let mut folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    while !folder.exists() {
        match folder.parent() {
            Some(p) if !p.as_os_str().is_empty() => folder = p.to_path_buf(),
            _ => folder = PathBuf::from("."),
        }
    }
    if !folder.is_dir() {
        return Err(refuse(format!("{} is not a folder", folder.display())));
    }
    tempfile::NamedTempFile::new_in(&folder)
        .map(drop)
        .map_err(|e| refuse(format!("cannot create a file in {}: {e}", folder.display())))
}

/// `{ "<stack id>": { "<output>": "<value>" } }`, pretty, atomically.
pub fn write_outputs(
    path: &Path,
    outputs: &BTreeMap<String, BTreeMap<String, String>>,
) -> anyhow::Result<()> {
    let mut json = serde_json::to_string_pretty(outputs)?;
    json.push('\n');
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let mut file = tempfile::NamedTempFile::new_in(&parent)
        .with_context(|| format!("writing outputs to {}", path.display()))?;
    file.write_all(json.as_bytes())
        .with_context(|| format!("writing outputs to {}", path.display()))?;
    file.persist(path)
        .with_context(|| format!("writing outputs to {}", path.display()))?;
    Ok(())
}
