//! The CLI without AWS (`--no-default-features`: `scripts/provisioner`'s
//! synth, list and graph, which `scripts/test` builds first) compiles each
//! of its dependencies with the features the whole workspace's build gives
//! it, so the test build that follows reuses them instead of compiling
//! them again (23 crates in a clean `scripts/test` before, issue 15).
//! provisioner/Cargo.toml asks for those features; a dependency update
//! that turns on another one fails here, named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::cargo_tree;

/// Each crate ("name vX.Y.Z") of a `cargo tree` selection with the feature
/// sets it is built with (one per build: a crate used by build scripts or
/// proc macros and by the code may be built twice). The workspace's own
/// crates (a path after the version) are left out: they compile in each
/// build anyway.
fn features_by_crate(root: &Path, selection: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let mut args = selection.to_vec();
    args.extend(["--format", "{p}|{f}"]);
    let mut crates: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in cargo_tree(root, &args).lines() {
        let Some((package, features)) = line.split_once('|') else {
            continue;
        };
        let package = package.replace(" (proc-macro)", "").replace(" (*)", "");
        if package.contains(" (/") || package.contains(" (\\") {
            continue;
        }
        crates
            .entry(package.trim().to_owned())
            .or_default()
            .insert(features.replace(" (*)", "").trim().to_owned());
    }
    crates
}

#[test]
fn the_cli_without_aws_builds_its_dependencies_as_the_test_build_does() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let without_aws = features_by_crate(
        root,
        &[
            "--package",
            "provisioner",
            "--no-default-features",
            "--edges",
            "normal,build",
        ],
    );
    let whole = features_by_crate(
        root,
        &[
            "--workspace",
            "--all-targets",
            "--edges",
            "normal,build,dev",
        ],
    );
    assert!(
        without_aws.keys().any(|c| c.starts_with("serde ")),
        "the tree without AWS was read: {without_aws:?}"
    );
    let drifted: Vec<String> = without_aws
        .iter()
        .filter_map(|(krate, sets)| {
            let theirs = whole.get(krate).cloned().unwrap_or_default();
            (!sets.is_subset(&theirs))
                .then(|| format!("{krate}: without AWS {sets:?}, in the test build {theirs:?}"))
        })
        .collect();
    assert!(
        drifted.is_empty(),
        "the CLI without AWS builds these crates with other features than the test build, \
         so a clean scripts/test compiles them twice; add the missing features to the \
         \"Features, not code\" dependencies of provisioner/Cargo.toml (build scripts' \
         and proc macros' crates under [build-dependencies]):\n{}",
        drifted.join("\n")
    );
}
