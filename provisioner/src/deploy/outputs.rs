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

/// One outputs file from the files of several deploys (one per account of
/// a stage across accounts; stack ids are unique across them). A part no
/// deploy wrote (it stopped before) is skipped.
pub fn merge_outputs(parts: &[PathBuf], path: &Path) -> anyhow::Result<()> {
    let mut all = BTreeMap::new();
    for part in parts.iter().filter(|part| part.exists()) {
        let text = std::fs::read_to_string(part)
            .with_context(|| format!("reading the outputs of {}", part.display()))?;
        let outputs: BTreeMap<String, BTreeMap<String, String>> = serde_json::from_str(&text)
            .with_context(|| format!("reading the outputs of {}", part.display()))?;
        all.extend(outputs);
    }
    write_outputs(path, &all)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs(stack: &str, key: &str, value: &str) -> BTreeMap<String, BTreeMap<String, String>> {
        BTreeMap::from([(
            stack.to_string(),
            BTreeMap::from([(key.to_string(), value.to_string())]),
        )])
    }

    #[test]
    fn the_outputs_of_each_account_end_in_one_file_and_a_deploy_that_never_ran_adds_none() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("111122223333.json");
        let warehouse = dir.path().join("444455556666.json");
        let never_ran = dir.path().join("999999999999.json");
        write_outputs(&data, &outputs("Storage", "LakeBucketName", "lake")).unwrap();
        write_outputs(&warehouse, &outputs("Warehouse", "CopyRoleArn", "arn:role")).unwrap();
        let merged = dir.path().join("out/outputs.json");
        merge_outputs(&[data, warehouse, never_ran], &merged).unwrap();
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&merged).unwrap()).unwrap();
        assert_eq!(
            written,
            serde_json::json!({
                "Storage": {"LakeBucketName": "lake"},
                "Warehouse": {"CopyRoleArn": "arn:role"}
            })
        );
    }
}
