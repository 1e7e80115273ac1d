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

use std::collections::{BTreeMap, BTreeSet, btree_map};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::AssetError;
use super::toolchain::compiler_binary;
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
/// Running it costs ~15-25 ms (most of an unchanged synth), so when the
/// compiler's binary is known without running it ([`compiler_binary`]: the
/// environment and rustup's files), the answer is kept in `cache_dir` keyed
/// by that binary's path, size and modification time, as cargo keeps its
/// own `.rustc_info.json`.
pub fn rustc_version(workspace: &Path, cache_dir: &Path) -> Result<String, AssetError> {
    match compiler_binary(workspace, |name| std::env::var(name).ok()) {
        Some(rustc) => remembered_version(&rustc, workspace, &cache_dir.join(RUSTC_VERSION_FILE)),
        None => {
            let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
            run_version(Path::new(&rustc), workspace)
        }
    }
}

/// Where `rustc_version` keeps the answer.
const RUSTC_VERSION_FILE: &str = "rustc-version";

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

/// The source hash of each function, from its inputs' contents.
///
/// Reading and hashing every source file costs ~10 ms per synth, so each
/// answer is remembered (`memo_file`) with a key made of the inputs' paths,
/// sizes and modification times, as cargo's fingerprints do: when no input
/// was touched, the contents are not read at all. The remembered hash is
/// the same value the contents give, so the memo only saves time.
#[derive(Debug)]
pub struct SourceHasher {
    workspace: PathBuf,
    toolchain: String,
    recipe: String,
    memo_file: Option<PathBuf>,
    memo: std::cell::RefCell<Memo>,
    /// The memo differs from the file's: [`Self::save`] writes it.
    changed: std::cell::Cell<bool>,
    /// Each crate tree listed this run, with its files' stats: the nine
    /// functions share most of their crates, so each is walked once.
    trees: std::cell::RefCell<BTreeMap<String, Vec<(String, String)>>>,
    /// The folders of `lambdas/` that hold a crate, listed once: asking
    /// for every dependency of every function cost ~240 failed stats.
    local_crates: BTreeSet<String>,
}

/// Function name -> (stat key, source hash).
type Memo = BTreeMap<String, (String, String)>;

/// An input of a function's hash, in hashing order.
enum Input {
    /// A workspace file, hashed as absent when it does not exist.
    WorkspaceFile(&'static str),
    /// A file of a crate tree, by its path relative to the workspace, with
    /// its size and modification time as listed.
    TreeFile(String, String),
    /// The function's name, between the shared inputs and its own.
    FunctionName,
}

impl SourceHasher {
    pub fn new(workspace: &Path, toolchain: &str, recipe: &str) -> Result<Self, AssetError> {
        Ok(Self {
            workspace: workspace.to_path_buf(),
            toolchain: toolchain.to_owned(),
            recipe: recipe.to_owned(),
            memo_file: None,
            memo: Default::default(),
            changed: Default::default(),
            trees: Default::default(),
            local_crates: crates_under_lambdas(workspace)?,
        })
    }

    /// Remembers answers in `file` across runs (best effort: a file that
    /// cannot be read or written only costs the hashing).
    pub fn remembering_in(mut self, file: PathBuf) -> Self {
        let memo = fs::read(&file)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        self.memo = std::cell::RefCell::new(memo);
        self.memo_file = Some(file);
        self
    }

    /// The source hash of `function`, as 64 hex digits.
    pub fn of(&self, workspace: &Path, function: &Function) -> Result<String, AssetError> {
        debug_assert_eq!(workspace, self.workspace);
        let inputs = self.inputs_of(&function.name)?;
        let stat_key = self.stat_key(&inputs);
        if let Some((key, hash)) = self.memo.borrow().get(&function.name)
            && *key == stat_key
        {
            return Ok(hash.clone());
        }
        let hash = self.content_hash(&function.name, &inputs)?;
        self.memo
            .borrow_mut()
            .insert(function.name.clone(), (stat_key, hash.clone()));
        self.changed.set(true);
        Ok(hash)
    }

    /// Writes the remembered answers back, when a memo file was given.
    pub fn save(&self) {
        let Some(file) = &self.memo_file else { return };
        if !self.changed.get() {
            return;
        }
        let Ok(json) = serde_json::to_vec(&*self.memo.borrow()) else {
            return;
        };
        if let Some(dir) = file.parent() {
            let _ = fs::create_dir_all(dir);
        }
        let partial = file.with_extension(format!("partial-{}", std::process::id()));
        if fs::write(&partial, json).is_ok() {
            let _ = fs::rename(&partial, file);
        }
    }

    fn inputs_of(&self, function: &str) -> Result<Vec<Input>, AssetError> {
        let workspace = &self.workspace;
        let mut inputs: Vec<Input> = WORKSPACE_FILES
            .iter()
            .map(|f| Input::WorkspaceFile(f))
            .collect();
        let tree = |relative: &str, inputs: &mut Vec<Input>| -> Result<(), AssetError> {
            let mut trees = self.trees.borrow_mut();
            let files = match trees.entry(relative.to_owned()) {
                btree_map::Entry::Occupied(listed) => listed.into_mut(),
                btree_map::Entry::Vacant(new) => new.insert(tree_files(workspace, relative)?),
            };
            inputs.extend(
                files
                    .iter()
                    .map(|(file, stat)| Input::TreeFile(file.clone(), stat.clone())),
            );
            Ok(())
        };
        tree(&format!("{LAMBDAS_DIR}/{SHARED_CRATE}"), &mut inputs)?;
        inputs.push(Input::FunctionName);
        for name in local_crates_of(workspace, function, &self.local_crates)? {
            tree(&format!("{LAMBDAS_DIR}/{name}"), &mut inputs)?;
        }
        Ok(inputs)
    }

    /// Paths, sizes and modification times of the inputs, with the
    /// toolchain and recipe: equal keys mean nothing was touched.
    fn stat_key(&self, inputs: &[Input]) -> String {
        let mut key = Sha256::new();
        field(&mut key, "toolchain", self.toolchain.as_bytes());
        field(&mut key, "recipe", self.recipe.as_bytes());
        for input in inputs {
            match input {
                Input::WorkspaceFile(file) => {
                    let stat = fs::metadata(self.workspace.join(file)).ok();
                    field(
                        &mut key,
                        file,
                        stat.map(|m| stat_text(&m)).unwrap_or_default().as_bytes(),
                    );
                }
                Input::TreeFile(file, stat) => field(&mut key, file, stat.as_bytes()),
                Input::FunctionName => {}
            }
        }
        hex::encode(key.finalize())
    }

    fn content_hash(&self, function: &str, inputs: &[Input]) -> Result<String, AssetError> {
        let mut hasher = Sha256::new();
        field(&mut hasher, "toolchain", self.toolchain.as_bytes());
        field(&mut hasher, "recipe", self.recipe.as_bytes());
        for input in inputs {
            match input {
                Input::WorkspaceFile(file) => match fs::read(self.workspace.join(file)) {
                    Ok(bytes) => field(&mut hasher, &format!("file {file}"), &bytes),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        field(&mut hasher, &format!("absent {file}"), b"");
                    }
                    Err(source) => {
                        let path = self.workspace.join(file);
                        return Err(AssetError::Read { path, source });
                    }
                },
                Input::TreeFile(file, _) => {
                    let path = self.workspace.join(file);
                    let bytes =
                        fs::read(&path).map_err(|source| AssetError::Read { path, source })?;
                    field(&mut hasher, &format!("file {file}"), &bytes);
                }
                Input::FunctionName => field(&mut hasher, "function", function.as_bytes()),
            }
        }
        Ok(hex::encode(hasher.finalize()))
    }
}

/// `function` and the crates under `lambdas/` it depends on, transitively,
/// in sorted order (the shared crate is hashed for every function already).
fn local_crates_of(
    workspace: &Path,
    function: &str,
    local_crates: &BTreeSet<String>,
) -> Result<BTreeSet<String>, AssetError> {
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
        pending.extend(
            dependency_names(&text)
                .into_iter()
                .filter(|dep| local_crates.contains(dep)),
        );
    }
    Ok(found)
}

/// The folders of `lambdas/` with a `Cargo.toml`: the crates a function
/// can depend on by path.
fn crates_under_lambdas(workspace: &Path) -> Result<BTreeSet<String>, AssetError> {
    let dir = workspace.join(LAMBDAS_DIR);
    let read_error = |source| AssetError::Read {
        path: dir.clone(),
        source,
    };
    let mut crates = BTreeSet::new();
    for entry in fs::read_dir(&dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        if entry.path().join("Cargo.toml").is_file() {
            crates.insert(entry.file_name().to_string_lossy().into_owned());
        }
    }
    Ok(crates)
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

/// Size and modification time: what says a file was touched.
fn stat_text(meta: &fs::Metadata) -> String {
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{} {modified}", meta.len())
}

/// Every file under `<workspace>/<relative>` in sorted order, by its path
/// relative to the workspace (always `/`-separated), with its
/// [`stat_text`].
fn tree_files(workspace: &Path, relative: &str) -> Result<Vec<(String, String)>, AssetError> {
    let mut files = Vec::new();
    collect_tree(workspace, relative, &mut files)?;
    Ok(files)
}

fn collect_tree(
    workspace: &Path,
    relative: &str,
    files: &mut Vec<(String, String)>,
) -> Result<(), AssetError> {
    let dir = workspace.join(relative);
    let mut entries = fs::read_dir(&dir)
        .and_then(|entries| entries.collect::<Result<Vec<_>, _>>())
        .map_err(|source| AssetError::Read {
            path: dir.clone(),
            source,
        })?;
    entries.sort_by_key(|entry| entry.file_name());
    let is_crate_root = dir.join("Cargo.toml").is_file();
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
            if is_crate_root && NOT_IN_BINARY.contains(&name.as_str()) {
                continue;
            }
            collect_tree(workspace, &child, files)?;
        } else {
            files.push((child, stat_text(&file_type)));
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

    fn remembering(root: &Path, memo: &Path) -> SourceHasher {
        SourceHasher::new(root, "rustc 1.95.0", "recipe")
            .unwrap()
            .remembering_in(memo.to_path_buf())
    }

    #[test]
    fn a_remembered_hash_equals_the_hash_of_the_contents() {
        let root = workspace();
        let memo = root.path().join("target/source-hashes.json");
        let first = remembering(root.path(), &memo);
        let ingest = first
            .of(root.path(), &function(root.path(), "ingest"))
            .unwrap();
        first.save();
        assert_eq!(ingest, hash(root.path(), "ingest"));
        let again = remembering(root.path(), &memo);
        assert_eq!(
            again
                .of(root.path(), &function(root.path(), "ingest"))
                .unwrap(),
            ingest
        );
    }

    #[test]
    fn untouched_inputs_are_not_read_again_and_a_touched_one_is() {
        let root = workspace();
        let memo = root.path().join("target/source-hashes.json");
        let first = remembering(root.path(), &memo);
        let before = first
            .of(root.path(), &function(root.path(), "ingest"))
            .unwrap();
        first.save();

        // Same size and modification time: as for cargo, the file counts as
        // untouched and its contents are not read.
        let main = root.path().join("lambdas/ingest/src/main.rs");
        let modified = fs::metadata(&main).unwrap().modified().unwrap();
        fs::write(&main, "fn main(){ }\n").unwrap();
        fs::File::options()
            .write(true)
            .open(&main)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        let untouched = remembering(root.path(), &memo);
        assert_eq!(
            untouched
                .of(root.path(), &function(root.path(), "ingest"))
                .unwrap(),
            before
        );

        let later = modified + std::time::Duration::from_secs(1);
        fs::File::options()
            .write(true)
            .open(&main)
            .unwrap()
            .set_modified(later)
            .unwrap();
        let touched = remembering(root.path(), &memo);
        let after = touched
            .of(root.path(), &function(root.path(), "ingest"))
            .unwrap();
        assert_ne!(after, before);
        assert_eq!(after, hash(root.path(), "ingest"));
    }
}
