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
use std::path::{Path, PathBuf};
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
///
/// Running it costs ~25 ms (most of an unchanged synth), so when the
/// compiler's binary is known without running it, the answer is kept in
/// `cache_dir` keyed by that binary's path, size and modification time, as
/// cargo keeps its own `.rustc_info.json`. Known means `$RUSTC` is a path,
/// or rustup names the toolchain in the environment (`RUSTUP_HOME` and
/// `RUSTUP_TOOLCHAIN`, which rustup sets for everything run under `cargo`
/// and which takes precedence over toolchain files).
pub fn rustc_version(workspace: &Path, cache_dir: &Path) -> Result<String, AssetError> {
    match known_rustc(|name| std::env::var(name).ok()) {
        Some(rustc) => remembered_version(&rustc, workspace, &cache_dir.join(RUSTC_VERSION_FILE)),
        None => {
            let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
            run_version(Path::new(&rustc), workspace)
        }
    }
}

/// Where `rustc_version` keeps the answer.
const RUSTC_VERSION_FILE: &str = "rustc-version";

/// The compiler binary cargo will run, when the environment names it.
fn known_rustc(var: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(rustc) = var("RUSTC").filter(|r| !r.is_empty()) {
        let path = PathBuf::from(rustc);
        return (path.is_absolute() && path.is_file()).then_some(path);
    }
    let toolchain = var("RUSTUP_TOOLCHAIN").filter(|t| !t.is_empty())?;
    let home = var("RUSTUP_HOME").filter(|h| !h.is_empty())?;
    let path = Path::new(&home)
        .join("toolchains")
        .join(toolchain)
        .join("bin/rustc");
    path.is_file().then_some(path)
}

/// `rustc -vV` of `rustc`, from `cache_file` when it was run on the same
/// binary before. The cache is best effort: a file that cannot be read or
/// written only costs a run.
fn remembered_version(
    rustc: &Path,
    workspace: &Path,
    cache_file: &Path,
) -> Result<String, AssetError> {
    let key = fs::metadata(rustc).ok().map(|meta| {
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        format!("{}\n{}\n{modified}\n", rustc.display(), meta.len())
    });
    let Some(key) = key else {
        return run_version(rustc, workspace);
    };
    if let Some(version) = fs::read_to_string(cache_file)
        .ok()
        .and_then(|text| text.strip_prefix(&key).map(str::to_owned))
    {
        return Ok(version);
    }
    let version = run_version(rustc, workspace)?;
    if let Some(dir) = cache_file.parent() {
        let _ = fs::create_dir_all(dir);
        let partial = cache_file.with_extension(format!("partial-{}", std::process::id()));
        if fs::write(&partial, format!("{key}{version}")).is_ok() {
            let _ = fs::rename(&partial, cache_file);
        }
    }
    Ok(version)
}

fn run_version(rustc: &Path, workspace: &Path) -> Result<String, AssetError> {
    let output = Command::new(rustc)
        .arg("-vV")
        // rustup picks the toolchain from the workspace's toolchain file.
        .current_dir(workspace)
        .output()
        .map_err(|source| AssetError::Spawn {
            command: format!("{} -vV", rustc.display()),
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
        let cache = tempfile::tempdir().unwrap();
        let version = rustc_version(&here, cache.path()).unwrap();
        assert!(version.starts_with("rustc "), "{version}");
        assert!(version.contains("host: "), "{version}");
        // Twice: the second answer may come from the cache, and is the same.
        assert_eq!(rustc_version(&here, cache.path()).unwrap(), version);
    }

    /// A fake compiler that counts its runs in `runs`.
    fn fake_rustc(dir: &Path, release: &str) -> PathBuf {
        let path = dir.join("rustc");
        let runs = dir.join("runs");
        write(
            dir,
            "rustc",
            &format!(
                "#!/bin/sh\necho run >> {}\necho 'rustc {release}'\n",
                runs.display()
            ),
        );
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn runs(dir: &Path) -> usize {
        fs::read_to_string(dir.join("runs"))
            .unwrap_or_default()
            .lines()
            .count()
    }

    #[test]
    fn the_version_of_a_known_compiler_is_run_once_and_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let rustc = fake_rustc(dir.path(), "1.0.0");
        let cache = dir.path().join("cache/rustc-version");
        let first = remembered_version(&rustc, dir.path(), &cache).unwrap();
        let second = remembered_version(&rustc, dir.path(), &cache).unwrap();
        assert_eq!(
            (first.as_str(), second.as_str()),
            ("rustc 1.0.0\n", "rustc 1.0.0\n")
        );
        assert_eq!(runs(dir.path()), 1);
    }

    #[test]
    fn another_compiler_binary_is_run_again() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache/rustc-version");
        let rustc = fake_rustc(dir.path(), "1.0.0");
        remembered_version(&rustc, dir.path(), &cache).unwrap();
        // A new toolchain installed in place: another size.
        let rustc = fake_rustc(dir.path(), "1.10.0");
        let version = remembered_version(&rustc, dir.path(), &cache).unwrap();
        assert_eq!(version, "rustc 1.10.0\n");
        assert_eq!(runs(dir.path()), 2);
    }

    #[test]
    fn rustup_names_the_compiler_in_the_environment() {
        let home = tempfile::tempdir().unwrap();
        write(home.path(), "toolchains/stable-x/bin/rustc", "");
        let home_var = home.path().display().to_string();
        let vars = |pairs: Vec<(&'static str, String)>| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            }
        };
        assert_eq!(
            known_rustc(vars(vec![
                ("RUSTUP_HOME", home_var.clone()),
                ("RUSTUP_TOOLCHAIN", "stable-x".into()),
            ])),
            Some(home.path().join("toolchains/stable-x/bin/rustc"))
        );
        assert_eq!(
            known_rustc(vars(vec![("RUSTUP_TOOLCHAIN", "stable-x".into())])),
            None
        );
        assert_eq!(
            known_rustc(vars(vec![("RUSTC", "rustc".into())])),
            None,
            "not a path"
        );
    }
}
