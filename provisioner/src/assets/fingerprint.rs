//! The source hash of a function: everything that decides its binary, so an
//! unchanged hash means the cached zip is still the right one.
//!
//! Hashed: the function's crate, the shared `lambdas/record` crate, every
//! other crate under `lambdas/` the function depends on (its
//! `[dependencies]`, transitively: `api-response`, another function's
//! library), the root
//! `Cargo.toml` (workspace dependencies, `[profile.lambda]`) and `Cargo.lock`,
//! cargo configuration and toolchain files when present, the compiler
//! (`rustc -vV`) and the builder's own recipe (target, profile, flags).
//! Paths enter relative to the workspace root and no timestamps enter at
//! all, so a fresh clone hashes like the original.
//!
//! Not hashed: `tests/`, `benches/` and `examples/` (other cargo targets,
//! never linked into the function's binary), `target/`, and dot-files.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

use super::AssetError;
use super::workspace::{Function, LAMBDAS_DIR, SHARED_CRATE};

/// Folders inside a crate that cannot change its binary.
const NOT_IN_BINARY: &[&str] = &["target", "tests", "benches", "examples"];

/// Workspace files that change how every function compiles. Absent ones
/// are hashed as absent, so adding one invalidates the cache.
const WORKSPACE_FILES: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    ".cargo/config.toml",
    ".cargo/config",
    "rust-toolchain.toml",
    "rust-toolchain",
];

/// `rustc -vV` of the compiler cargo will use (`$RUSTC` or `rustc`): a new
/// toolchain must rebuild everything.
pub fn rustc_version(workspace: &Path) -> Result<String, AssetError> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .arg("-vV")
        // rustup picks the toolchain from the workspace's toolchain file.
        .current_dir(workspace)
        .output()
        .map_err(|source| AssetError::Spawn {
            command: format!("{} -vV", rustc.to_string_lossy()),
            source,
        })?;
    if !output.status.success() {
        return Err(AssetError::RustcVersion {
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Hashes the inputs every function shares once; `of` adds a function's own.
#[derive(Debug, Clone)]
pub struct SourceHasher {
    shared: Sha256,
}

impl SourceHasher {
    pub fn new(workspace: &Path, toolchain: &str, recipe: &str) -> Result<Self, AssetError> {
        let mut shared = Sha256::new();
        field(&mut shared, "toolchain", toolchain.as_bytes());
        field(&mut shared, "recipe", recipe.as_bytes());
        for file in WORKSPACE_FILES {
            let path = workspace.join(file);
            match fs::read(&path) {
                Ok(bytes) => field(&mut shared, &format!("file {file}"), &bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    field(&mut shared, &format!("absent {file}"), b"");
                }
                Err(source) => return Err(AssetError::Read { path, source }),
            }
        }
        let shared_crate = format!("{LAMBDAS_DIR}/{SHARED_CRATE}");
        hash_tree(&mut shared, workspace, &shared_crate)?;
        Ok(Self { shared })
    }

    /// The source hash of `function`, as 64 hex digits.
    pub fn of(&self, workspace: &Path, function: &Function) -> Result<String, AssetError> {
        let mut hasher = self.shared.clone();
        field(&mut hasher, "function", function.name.as_bytes());
        for name in local_crates_of(workspace, &function.name)? {
            hash_tree(&mut hasher, workspace, &format!("{LAMBDAS_DIR}/{name}"))?;
        }
        Ok(hex::encode(hasher.finalize()))
    }
}

/// `function` and the crates under `lambdas/` it depends on, transitively,
/// in sorted order (the shared crate is hashed for every function already).
fn local_crates_of(workspace: &Path, function: &str) -> Result<BTreeSet<String>, AssetError> {
    let mut found = BTreeSet::new();
    let mut pending = vec![function.to_owned()];
    while let Some(name) = pending.pop() {
        if name == SHARED_CRATE || !found.insert(name.clone()) {
            continue;
        }
        let manifest = workspace.join(LAMBDAS_DIR).join(&name).join("Cargo.toml");
        let text = fs::read_to_string(&manifest).map_err(|source| AssetError::Read {
            path: manifest.clone(),
            source,
        })?;
        pending.extend(dependency_names(&text).into_iter().filter(|dep| {
            workspace
                .join(LAMBDAS_DIR)
                .join(dep)
                .join("Cargo.toml")
                .is_file()
        }));
    }
    Ok(found)
}

/// The keys of a manifest's `[dependencies]` and `[build-dependencies]`
/// (dev-dependencies never reach the binary): `name.workspace = true`,
/// `name = ...` and `[dependencies.name]` forms.
fn dependency_names(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_dependencies = false;
    for line in manifest.lines() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[') {
            let header = header.trim_end_matches(']');
            in_dependencies = matches!(header, "dependencies" | "build-dependencies")
                || header.ends_with(".dependencies")
                || header.ends_with(".build-dependencies");
            if let Some(name) = header
                .strip_prefix("dependencies.")
                .or_else(|| header.strip_prefix("build-dependencies."))
            {
                names.push(name.to_owned());
            }
            continue;
        }
        if !in_dependencies || line.starts_with('#') {
            continue;
        }
        if let Some((key, _)) = line.split_once('=') {
            let key = key.trim();
            names.push(
                key.strip_suffix(".workspace")
                    .unwrap_or(key)
                    .trim()
                    .to_owned(),
            );
        }
    }
    names
}

/// A length-prefixed field, so no two different inputs hash alike by
/// running together.
fn field(hasher: &mut Sha256, label: &str, bytes: &[u8]) {
    hasher.update((label.len() as u64).to_le_bytes());
    hasher.update(label.as_bytes());
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

/// Every file under `<workspace>/<relative>` in sorted order, with its path
/// relative to the workspace (always `/`-separated).
fn hash_tree(hasher: &mut Sha256, workspace: &Path, relative: &str) -> Result<(), AssetError> {
    let dir = workspace.join(relative);
    let mut entries = fs::read_dir(&dir)
        .and_then(|entries| entries.collect::<Result<Vec<_>, _>>())
        .map_err(|source| AssetError::Read {
            path: dir.clone(),
            source,
        })?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let child = format!("{relative}/{name}");
        let file_type = fs::metadata(&path).map_err(|source| AssetError::Read {
            path: path.clone(),
            source,
        })?;
        if file_type.is_dir() {
            let is_crate_root = workspace.join(relative).join("Cargo.toml").is_file();
            if is_crate_root && NOT_IN_BINARY.contains(&name.as_str()) {
                continue;
            }
            hash_tree(hasher, workspace, &child)?;
        } else {
            let bytes = fs::read(&path).map_err(|source| AssetError::Read { path, source })?;
            field(hasher, &format!("file {child}"), &bytes);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn write(root: &Path, relative: &str, text: &str) {
        let path = root.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// A workspace with two functions and the shared crate.
    fn workspace() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "Cargo.toml", "[workspace]\n");
        write(root.path(), "Cargo.lock", "version = 4\n");
        for name in ["ingest", "query"] {
            write(
                root.path(),
                &format!("lambdas/{name}/Cargo.toml"),
                &format!("[package]\nname = \"{name}\"\n"),
            );
            write(
                root.path(),
                &format!("lambdas/{name}/src/main.rs"),
                "fn main() {}\n",
            );
        }
        write(
            root.path(),
            "lambdas/record/Cargo.toml",
            "[package]\nname = \"record\"\n",
        );
        write(
            root.path(),
            "lambdas/record/src/lib.rs",
            "pub struct Row;\n",
        );
        root
    }

    fn function(root: &Path, name: &str) -> Function {
        Function {
            name: name.into(),
            dir: root.join("lambdas").join(name),
        }
    }

    fn hash(root: &Path, name: &str) -> String {
        SourceHasher::new(root, "rustc 1.95.0", "recipe")
            .unwrap()
            .of(root, &function(root, name))
            .unwrap()
    }

    #[test]
    fn the_same_sources_hash_alike_in_another_folder() {
        let (a, b) = (workspace(), workspace());
        assert_ne!(a.path(), b.path());
        assert_eq!(hash(a.path(), "ingest"), hash(b.path(), "ingest"));
    }

    #[test]
    fn functions_hash_differently_from_each_other() {
        let root = workspace();
        assert_ne!(hash(root.path(), "ingest"), hash(root.path(), "query"));
    }

    #[test]
    fn an_edit_to_a_function_changes_only_its_hash() {
        let root = workspace();
        let (ingest, query) = (hash(root.path(), "ingest"), hash(root.path(), "query"));
        write(root.path(), "lambdas/ingest/src/main.rs", "fn main() { }\n");
        assert_ne!(hash(root.path(), "ingest"), ingest);
        assert_eq!(hash(root.path(), "query"), query);
    }

    #[test]
    fn an_edit_to_a_library_a_function_depends_on_changes_that_functions_hash_only() {
        let root = workspace();
        write(
            root.path(),
            "lambdas/ingest/Cargo.toml",
            "[package]\nname = \"ingest\"\n\n[dependencies]\napi-response.workspace = true\n",
        );
        write(
            root.path(),
            "lambdas/query/Cargo.toml",
            "[package]\nname = \"query\"\n\n[dev-dependencies]\napi-response.workspace = true\n",
        );
        write(
            root.path(),
            "lambdas/api-response/Cargo.toml",
            "[package]\nname = \"api-response\"\n",
        );
        write(
            root.path(),
            "lambdas/api-response/src/lib.rs",
            "pub fn ok() {}\n",
        );
        let (ingest, query) = (hash(root.path(), "ingest"), hash(root.path(), "query"));
        write(
            root.path(),
            "lambdas/api-response/src/lib.rs",
            "pub fn ok() { }\n",
        );
        assert_ne!(hash(root.path(), "ingest"), ingest);
        assert_eq!(
            hash(root.path(), "query"),
            query,
            "a dev-dependency never reaches the binary"
        );
    }

    #[test]
    fn dependency_names_come_from_every_dependency_table_form() {
        let manifest = "[package]\nname = \"x\"\n[dependencies]\nrecord.workspace = true\n\
                        serde = { version = \"1\" }\n[dev-dependencies]\ntempfile = \"3\"\n\
                        [dependencies.dynamodb-writer]\nworkspace = true\n";
        assert_eq!(
            dependency_names(manifest),
            ["record", "serde", "dynamodb-writer"]
        );
    }

    #[test]
    fn an_edit_to_the_shared_crate_or_the_lockfile_changes_every_hash() {
        let root = workspace();
        let before = hash(root.path(), "query");
        write(
            root.path(),
            "lambdas/record/src/lib.rs",
            "pub struct Row(u8);\n",
        );
        let after_record = hash(root.path(), "query");
        assert_ne!(after_record, before);
        write(root.path(), "Cargo.lock", "version = 4\n# bumped\n");
        assert_ne!(hash(root.path(), "query"), after_record);
    }

    #[test]
    fn a_new_source_file_changes_the_hash() {
        let root = workspace();
        let before = hash(root.path(), "ingest");
        write(root.path(), "lambdas/ingest/src/handler.rs", "");
        assert_ne!(hash(root.path(), "ingest"), before);
    }

    #[test]
    fn tests_benches_and_build_output_do_not_change_the_hash() {
        let root = workspace();
        let before = hash(root.path(), "ingest");
        write(
            root.path(),
            "lambdas/ingest/tests/handler.rs",
            "#[test] fn t() {}\n",
        );
        write(root.path(), "lambdas/ingest/benches/b.rs", "");
        write(root.path(), "lambdas/ingest/target/debug/x", "");
        write(root.path(), "lambdas/ingest/.editor-swap", "");
        assert_eq!(hash(root.path(), "ingest"), before);
    }

    #[test]
    fn a_folder_named_tests_inside_src_is_source() {
        let root = workspace();
        let before = hash(root.path(), "ingest");
        write(root.path(), "lambdas/ingest/src/tests/mod.rs", "");
        assert_ne!(hash(root.path(), "ingest"), before);
    }

    #[test]
    fn another_compiler_or_recipe_changes_the_hash() {
        let root = workspace();
        let ingest = function(root.path(), "ingest");
        let with = |toolchain: &str, recipe: &str| {
            SourceHasher::new(root.path(), toolchain, recipe)
                .unwrap()
                .of(root.path(), &ingest)
                .unwrap()
        };
        let base = with("rustc 1.95.0", "recipe");
        assert_ne!(with("rustc 1.96.0", "recipe"), base);
        assert_ne!(with("rustc 1.95.0", "recipe --flag"), base);
    }

    #[test]
    fn adding_a_cargo_config_changes_the_hash() {
        let root = workspace();
        let before = hash(root.path(), "ingest");
        write(root.path(), ".cargo/config.toml", "[build]\n");
        assert_ne!(hash(root.path(), "ingest"), before);
    }

    #[test]
    fn reads_the_toolchain_version_of_the_workspace() {
        let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let version = rustc_version(&here).unwrap();
        assert!(version.starts_with("rustc "), "{version}");
        assert!(version.contains("host: "), "{version}");
    }
}
