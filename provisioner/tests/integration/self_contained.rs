//! A clone is self-contained: no tracked file names a path outside the
//! repository (a folder beside the checkout, or a build machine's absolute
//! path), since a user's clone has nothing beside it.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// Absolute paths of a machine's home or work folders, wherever they are
/// quoted or follow a space, `=` or `(`.
const ABSOLUTE_PREFIXES: [&str; 6] = ["/work/", "/home/", "/root/", "/Users/", "/mnt/", "/srv/"];

/// Absolute paths that are not read from disk: in-memory fixtures.
const ALLOWED_ABSOLUTE: [(&str, &str); 1] = [(
    "provisioner/src/aws.rs",
    "a fake home folder of the profile-file tests (aws_types' in-memory Fs)",
)];

/// Files whose paths are fixtures of temporary folders, never read from the
/// checkout: not scanned at all.
const FIXTURE_FILES: [(&str, &str); 2] = [
    (
        "provisioner/tests/integration/self_contained.rs",
        "this check itself: its prefixes and its own fixtures",
    ),
    (
        "provisioner/tests/integration/assets.rs",
        "a fixture workspace in a temporary folder (`../record` inside it)",
    ),
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the provisioner crate sits in the workspace")
        .to_path_buf()
}

fn tracked_files(root: &Path) -> Vec<PathBuf> {
    let output = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .output()
        .expect("running `git ls-files` (this check needs a git checkout)");
    assert!(output.status.success(), "git ls-files failed");
    output
        .stdout
        .split(|byte| *byte == 0)
        .filter(|name| !name.is_empty())
        .map(|name| PathBuf::from(String::from_utf8_lossy(name).into_owned()))
        .collect()
}

/// `base` joined with `relative` (only `..` and names), or None when it
/// climbs above the repository root.
fn resolve(base: &Path, relative: &str) -> Option<PathBuf> {
    let mut parts: Vec<_> = base.components().collect();
    for component in Path::new(relative).components() {
        match component {
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(_) => parts.push(component),
            _ => {}
        }
    }
    Some(parts.iter().collect())
}

/// The folder of the nearest `Cargo.toml` above a file: what
/// `CARGO_MANIFEST_DIR` is for it.
fn crate_dir(file: &Path, tracked: &BTreeSet<PathBuf>) -> Option<PathBuf> {
    file.ancestors()
        .skip(1)
        .find(|dir| tracked.contains(&dir.join("Cargo.toml")))
        .map(Path::to_path_buf)
}

/// The relative paths of one line that start with `../`: each up to the
/// first character that cannot be part of a path.
fn parent_paths(line: &str) -> impl Iterator<Item = &str> {
    line.match_indices("../").filter_map(move |(at, _)| {
        let before = line[..at].chars().next_back();
        // Only where a path starts: not the tail of `.../` or `a/../b`.
        if matches!(before, Some('.' | '/')) || before.is_some_and(char::is_alphanumeric) {
            return None;
        }
        let rest = &line[at..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || "./_-".contains(c)))
            .unwrap_or(rest.len());
        Some(&rest[..end])
    })
}

/// Where `file` (tracked, relative to the root) names something outside the
/// repository: each finding as `path:line: text`.
fn outside_references(root: &Path, file: &Path, tracked: &BTreeSet<PathBuf>) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(root.join(file)) else {
        return Vec::new(); // binary files name no paths
    };
    let exists = |path: &Path| {
        tracked.contains(path) || tracked.iter().any(|tracked| tracked.starts_with(path))
    };
    let allowed_absolute = ALLOWED_ABSOLUTE
        .iter()
        .any(|(allowed, _)| file == Path::new(allowed));
    let here = file.parent().unwrap_or(Path::new(""));
    let manifest_dir = crate_dir(file, tracked);
    let mut findings = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let mut report = |what: &str| {
            findings.push(format!(
                "{}:{}: {what}: {}",
                file.display(),
                number + 1,
                line.trim()
            ));
        };
        if !allowed_absolute {
            for prefix in ABSOLUTE_PREFIXES {
                let quoted = ["\"", "'", " ", "=", "(", "`"].map(|lead| format!("{lead}{prefix}"));
                if quoted.iter().any(|q| line.contains(q.as_str())) || line.starts_with(prefix) {
                    report("an absolute path of a machine");
                }
            }
        }
        for path in parent_paths(line) {
            // Relative to the file itself (include_str!, README links), or to
            // its crate (`env!("CARGO_MANIFEST_DIR")`): either must stay
            // inside the repository and name something tracked.
            let from_file = resolve(here, path).filter(|target| exists(target));
            let from_crate = manifest_dir
                .as_deref()
                .and_then(|dir| resolve(dir, path))
                .filter(|target| exists(target));
            if from_file.is_none() && from_crate.is_none() {
                report(&format!(
                    "`{path}` leads outside the repository or to nothing in it"
                ));
            }
        }
    }
    findings
}

#[test]
fn no_tracked_file_names_a_path_outside_the_repository() {
    let root = workspace_root();
    let files = tracked_files(&root);
    let tracked: BTreeSet<PathBuf> = files.iter().cloned().collect();
    let findings: Vec<String> = files
        .iter()
        .filter(|file| !file.starts_with("data/"))
        .filter(|file| !FIXTURE_FILES.iter().any(|(f, _)| *file == Path::new(f)))
        .flat_map(|file| outside_references(&root, file, &tracked))
        .collect();
    assert!(
        findings.is_empty(),
        "paths outside the repository (use record::sample::dir() for the sample, or a path inside the checkout):\n{}",
        findings.join("\n")
    );
}

#[test]
fn the_check_finds_a_folder_beside_the_checkout_and_an_absolute_path() {
    let root = tempfile::tempdir().unwrap();
    let crate_dir = root.path().join("lambdas/record");
    std::fs::create_dir_all(crate_dir.join("src")).unwrap();
    std::fs::write(crate_dir.join("Cargo.toml"), "").unwrap();
    std::fs::write(
        crate_dir.join("src/sample.rs"),
        "let dir = manifest.join(\"../../../shared/data/online-retail\");\n\
         const SAMPLE: &str = \"/work/shared/data/online-retail/2010-12-01.csv\";\n\
         let ok = manifest.join(\"../../data/online-retail\");\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.path().join("data/online-retail")).unwrap();
    std::fs::write(root.path().join("data/online-retail/a.csv"), "").unwrap();
    let tracked: BTreeSet<PathBuf> = [
        "lambdas/record/Cargo.toml",
        "lambdas/record/src/sample.rs",
        "data/online-retail/a.csv",
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect();

    let findings = outside_references(
        root.path(),
        Path::new("lambdas/record/src/sample.rs"),
        &tracked,
    );

    assert_eq!(findings.len(), 2, "{findings:#?}");
    assert!(findings[0].contains(":1: `../../../shared/data/online-retail` leads outside"));
    assert!(findings[1].contains(":2: an absolute path of a machine"));
}
