//! Every template of every stage passes cfn-lint (0 errors, 0 warnings) and
//! checkov (0 failed checks; the few this architecture must fail are
//! skipped in the resource's own Metadata, with the reason).
//!
//! The linters are Python tools: `scripts/install-tools.sh` installs them.

use std::path::{Path, PathBuf};
use std::process::Command;

use stacks::assets::AssetTable;
use stacks::manifest::template_file;
use stacks::stage::STAGES;

fn fixture_assets() -> AssetTable {
    stacks::testing::platform_assets()
}

/// Writes every stage's templates under `dir/<stage>/` and returns the files.
fn write_templates(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for stage in STAGES {
        let stage_dir = dir.join(stage.name);
        std::fs::create_dir_all(&stage_dir).unwrap();
        for stack in stacks::platform::synth(stage, &fixture_assets()).unwrap() {
            let path = stage_dir.join(template_file(&stack.id));
            std::fs::write(&path, &stack.body).unwrap();
            files.push(path);
        }
    }
    files
}

fn tool(name: &str) -> PathBuf {
    let local = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/bin").join(name));
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name));
    on_path
        .chain(local)
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed; run scripts/install-tools.sh"))
}

#[test]
fn every_template_passes_cfn_lint_without_errors_or_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_templates(dir.path());
    let output = Command::new(tool("cfn-lint"))
        .args(["--format", "json", "--"])
        .args(&files)
        .output()
        .expect("running cfn-lint");
    let findings: Vec<serde_json::Value> =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
            panic!(
                "cfn-lint output is not JSON: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let problems: Vec<String> = findings
        .iter()
        .filter(|f| matches!(f["Level"].as_str(), Some("Error" | "Warning")))
        .map(|f| {
            format!(
                "{} {} {}: {}",
                f["Level"].as_str().unwrap_or_default(),
                f["Rule"]["Id"].as_str().unwrap_or_default(),
                f["Filename"].as_str().unwrap_or_default(),
                f["Message"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert!(
        problems.is_empty(),
        "cfn-lint findings:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_template_passes_checkov_except_documented_skips() {
    let dir = tempfile::tempdir().unwrap();
    write_templates(dir.path());
    let output = Command::new(tool("checkov"))
        .arg("--directory")
        .arg(dir.path())
        .args([
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--compact",
            "--quiet",
        ])
        .output()
        .expect("running checkov");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "checkov output is not JSON:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    // One framework gives an object; several give a list of them.
    let reports = match report {
        serde_json::Value::Array(reports) => reports,
        single => vec![single],
    };
    let mut failed = Vec::new();
    let mut passed = 0;
    for report in &reports {
        passed += report["summary"]["passed"].as_u64().unwrap_or(0);
        for check in report["results"]["failed_checks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            failed.push(format!(
                "{} {} {}: {}",
                check["check_id"].as_str().unwrap_or_default(),
                check["file_path"].as_str().unwrap_or_default(),
                check["resource"].as_str().unwrap_or_default(),
                check["check_name"].as_str().unwrap_or_default()
            ));
        }
    }
    assert!(
        passed > 0,
        "checkov ran no checks: {report:?}",
        report = reports
    );
    assert!(
        failed.is_empty(),
        "checkov failed checks:\n{}",
        failed.join("\n")
    );
}
