//! Golden templates: every stack of every stage, byte for byte.
//!
//! A change to a template is made on purpose: run
//! `UPDATE_GOLDEN=1 cargo test -p stacks --test golden` and review the diff.

use std::fs;
use std::path::PathBuf;

use stacks::assets::AssetTable;
use stacks::manifest::template_file;
use stacks::stage::STAGES;

/// Fixed fake hashes: goldens must not change when Lambda code does.
pub fn fixture_assets() -> AssetTable {
    stacks::testing::platform_assets()
}

#[test]
fn every_template_matches_its_golden_file() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatches = Vec::new();
    for stage in STAGES {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(stage.name);
        let stacks = stacks::platform::synth(stage, &fixture_assets()).unwrap();
        if update {
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
        }
        for stack in &stacks {
            let path = dir.join(template_file(&stack.id));
            if update {
                fs::write(&path, &stack.body).unwrap();
            } else if fs::read_to_string(&path).ok().as_deref() != Some(stack.body.as_str()) {
                mismatches.push(path.display().to_string());
            }
        }
        if !update {
            let expected = stacks.len();
            let found = fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
            if found != expected {
                mismatches.push(format!(
                    "{}: {found} golden files for {expected} stacks",
                    dir.display()
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "templates differ from their golden files (if intended, run \
         UPDATE_GOLDEN=1 cargo test -p stacks --test golden and review the diff):\n{}",
        mismatches.join("\n")
    );
}
