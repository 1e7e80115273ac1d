//! The toolkit template passes the same linters as the platform's:
//! cfn-lint without errors or warnings, checkov without failed checks (its
//! one skip is documented in the resource's Metadata).

use std::path::PathBuf;
use std::process::Command;

fn tool(name: &str) -> PathBuf {
    let local = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/bin").join(name));
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .chain(local)
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed; run scripts/install-tools.sh"))
}

fn written() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("toolkit.template.json");
    std::fs::write(&path, stacks::toolkit::template_body()).unwrap();
    (dir, path)
}

#[test]
fn the_toolkit_template_passes_cfn_lint() {
    let (_dir, path) = written();
    let output = Command::new(tool("cfn-lint"))
        .arg("--")
        .arg(&path)
        .output()
        .expect("running cfn-lint");
    assert!(
        output.status.success(),
        "cfn-lint findings:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_toolkit_template_passes_checkov() {
    let (dir, _path) = written();
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
            "checkov output is not JSON:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let summary = &report["summary"];
    assert!(
        summary["passed"].as_u64().unwrap_or(0) > 0,
        "checkov ran no checks: {report}"
    );
    assert_eq!(
        summary["failed"].as_u64(),
        Some(0),
        "failed checks: {}",
        report["results"]["failed_checks"]
    );
}
