//! Where the Lambda sources are: the workspace root, its target folder, and
//! the function crates under `lambdas/`.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

use super::AssetError;

/// Folder of the Lambda crates, relative to the workspace root.
pub const LAMBDAS_DIR: &str = "lambdas";

/// The shared transaction-record library: compiled into every function,
/// never deployed on its own.
pub const SHARED_CRATE: &str = "record";

/// A function crate: `lambdas/<name>/` with a `src/main.rs`, whose crate
/// name is its folder name and its Lambda function's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    pub dir: PathBuf,
}

/// The nearest folder at or above `start` that holds `Cargo.toml` and
/// `lambdas/`: the repository root, from wherever the tool is run inside it.
pub fn find_root(start: &Path) -> Result<PathBuf, AssetError> {
    start
        .ancestors()
        .find(|dir| dir.join("Cargo.toml").is_file() && dir.join(LAMBDAS_DIR).is_dir())
        .map(Path::to_path_buf)
        .ok_or_else(|| AssetError::WorkspaceNotFound {
            start: start.to_path_buf(),
        })
}

/// Cargo's target folder as cargo itself picks it: `$CARGO_TARGET_DIR`
/// (relative to the current folder) when set, else `<root>/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                env::current_dir().map_or(dir.clone(), |cwd| cwd.join(dir))
            }
        }
        _ => root.join("target"),
    }
}

/// The function crates under `<root>/lambdas/`, sorted by name: every crate
/// with a `src/main.rs` (so not the shared `record` library).
pub fn functions(root: &Path) -> Result<Vec<Function>, AssetError> {
    let lambdas = root.join(LAMBDAS_DIR);
    let entries = fs::read_dir(&lambdas).map_err(|source| AssetError::Read {
        path: lambdas.clone(),
        source,
    })?;
    let mut functions = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| AssetError::Read {
            path: lambdas.clone(),
            source,
        })?;
        let dir = entry.path();
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() || !dir.join("src/main.rs").is_file() {
            continue;
        }
        let folder = entry.file_name().to_string_lossy().into_owned();
        let text = fs::read_to_string(&manifest).map_err(|source| AssetError::Read {
            path: manifest.clone(),
            source,
        })?;
        match package_name(&text) {
            Some(package) if package == folder => {}
            other => {
                return Err(AssetError::CrateNameMismatch {
                    manifest,
                    package: other.unwrap_or_default(),
                    folder,
                });
            }
        }
        functions.push(Function { name: folder, dir });
    }
    if functions.is_empty() {
        return Err(AssetError::NoFunctions { dir: lambdas });
    }
    functions.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(functions)
}

/// `name` of the `[package]` table of a Cargo.toml. Lambda manifests are
/// plain (`name = "ingest"` on its own line), which is all this reads.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if !in_package {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() == "name" {
            let value = value.trim();
            return value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .map(str::to_owned);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn crate_at(root: &Path, folder: &str, name: &str, binary: bool) {
        let dir = root.join(LAMBDAS_DIR).join(folder);
        write(
            &dir.join("Cargo.toml"),
            &format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\n\n[dependencies]\nname = \"not this\"\n"
            ),
        );
        let source = if binary { "src/main.rs" } else { "src/lib.rs" };
        write(&dir.join(source), "");
    }

    #[test]
    fn functions_are_the_binary_crates_under_lambdas_sorted_by_name() {
        let root = tempfile::tempdir().unwrap();
        write(&root.path().join("Cargo.toml"), "[workspace]\n");
        crate_at(root.path(), "query", "query", true);
        crate_at(root.path(), "ingest", "ingest", true);
        crate_at(root.path(), "record", "record", false);
        let names: Vec<_> = functions(root.path())
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, ["ingest", "query"]);
    }

    #[test]
    fn rejects_a_function_crate_named_unlike_its_folder() {
        let root = tempfile::tempdir().unwrap();
        crate_at(root.path(), "ingest", "ingest-fn", true);
        let err = functions(root.path()).unwrap_err();
        assert!(
            matches!(&err, AssetError::CrateNameMismatch { package, folder, .. }
                if package == "ingest-fn" && folder == "ingest"),
            "{err}"
        );
    }

    #[test]
    fn an_empty_lambdas_folder_is_an_error_not_an_empty_build() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join(LAMBDAS_DIR)).unwrap();
        assert!(matches!(
            functions(root.path()),
            Err(AssetError::NoFunctions { .. })
        ));
    }

    #[test]
    fn finds_the_root_from_a_folder_inside_it() {
        let root = tempfile::tempdir().unwrap();
        write(&root.path().join("Cargo.toml"), "[workspace]\n");
        crate_at(root.path(), "ingest", "ingest", true);
        let inside = root.path().join(LAMBDAS_DIR).join("ingest/src");
        assert_eq!(find_root(&inside).unwrap(), root.path());
    }

    #[test]
    fn reads_the_package_name_not_a_dependency_called_name() {
        let manifest =
            "[dependencies]\nname = \"dep\"\n[package]\nedition = \"2024\"\nname = \"ingest\"\n";
        assert_eq!(package_name(manifest).as_deref(), Some("ingest"));
        assert_eq!(package_name("[workspace]\n"), None);
    }
}
