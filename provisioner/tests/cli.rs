//! The `provisioner` binary as users run it, from the repository: real
//! Lambda builds (cached after the first), real files, exit codes.
//! Slow only on a cold target folder; `assets_platform` warms the cache.

use std::path::Path;
use std::process::{Command, Output};

fn provisioner(args: &[&str]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    Command::new(env!("CARGO_BIN_EXE_provisioner"))
        .args(args)
        .current_dir(root)
        .output()
        .expect("running provisioner")
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in walk(dir) {
        let name = entry.strip_prefix(dir).unwrap().display().to_string();
        files.push((name, std::fs::read(&entry).unwrap()));
    }
    files.sort();
    files
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flat_map(|e| {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

#[test]
fn synth_writes_the_whole_platform_with_its_assets_twice_the_same_and_prints_one_stack() {
    let out = tempfile::tempdir().unwrap();
    let (first, second) = (out.path().join("first"), out.path().join("second"));
    for dir in [&first, &second] {
        let run = provisioner(&["synth", "--stage", "prod", "--out", dir.to_str().unwrap()]);
        assert!(
            run.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let written = files(&first);
    let names: Vec<&str> = written.iter().map(|(n, _)| n.as_str()).collect();
    for stack in [
        "Network",
        "Storage",
        "Warehouse",
        "Streaming",
        "Api",
        "Batch",
    ] {
        assert!(
            names.contains(&format!("{stack}.template.json").as_str()),
            "{names:?}"
        );
    }
    assert!(names.contains(&"manifest.json"));
    let zips = names.iter().filter(|n| n.ends_with(".zip")).count();
    assert_eq!(zips, 7, "one zip per function: {names:?}");
    assert_eq!(written, files(&second), "same sources, same bytes");

    // Every function's key in the templates is a zip that was written.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(first.join("manifest.json")).unwrap()).unwrap();
    for asset in manifest["assets"].as_array().unwrap() {
        assert!(
            first.join(asset["file"].as_str().unwrap()).is_file(),
            "{asset}"
        );
    }

    // One stack to standard output, to read or pipe (in this test: two
    // synths at once would build the same assets at once).
    let run = provisioner(&["synth", "--stage", "dev", "Warehouse"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let template: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(
        template["Resources"]["Cluster"]["Type"],
        "AWS::Redshift::Cluster"
    );
}

#[test]
fn an_unknown_stage_exits_2_and_lists_the_known_ones() {
    let run = provisioner(&["synth", "--stage", "staging"]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("dev, prod"), "{stderr}");
}

#[test]
fn list_prints_the_deploy_order_without_building_any_function() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let empty_target = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_provisioner"))
        .args(["list", "--stage", "prod"])
        .current_dir(root)
        .env("CARGO_TARGET_DIR", empty_target.path())
        .output()
        .expect("running provisioner");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.starts_with("1. Network (retail-prod-network)\n"),
        "{stdout}"
    );
    assert!(stdout.contains("     after Warehouse:\n"), "{stdout}");
    assert_eq!(
        std::fs::read_dir(empty_target.path()).unwrap().count(),
        0,
        "list built or cached something in the target folder"
    );
}

#[test]
fn a_closed_pipe_ends_the_output_quietly_with_the_commands_own_status() {
    // `provisioner list | head -0`: the reader is gone before the first write.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_provisioner"))
        .args(["list", "--stage", "prod"])
        .current_dir(root)
        .stdout(writer)
        .output()
        .expect("running provisioner");
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        run.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn synth_refuses_an_output_path_that_is_a_file_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "the user's own file\n").unwrap();
    let run = provisioner(&["synth", "--stage", "dev", "--out", notes.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("is not a folder"), "{stderr}");
    assert!(stderr.contains("--out DIR"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&notes).unwrap(),
        "the user's own file\n"
    );
    let beside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(beside, ["notes.txt"], "nothing written beside it");
}
