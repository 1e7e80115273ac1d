//! Which compiler binary cargo will run for the workspace, found from the
//! environment and rustup's own files without starting a process.
//!
//! Asking `rustc -vV` through rustup's proxy costs ~15 ms on every synth
//! (the proxy, then the toolchain's compiler); knowing the binary lets its
//! answer be remembered by the binary's path, size and modification time,
//! as cargo keeps `.rustc_info.json`. The lookup follows rustup's order
//! (<https://rust-lang.github.io/rustup/overrides.html>): `RUSTUP_TOOLCHAIN`,
//! a directory override, a toolchain file in the workspace or above it, the
//! default toolchain. Anything it cannot decide for certain (a directory
//! override, a toolchain not installed) answers `None`, and the caller runs
//! the compiler as before.

use std::fs;
use std::path::{Path, PathBuf};

/// The compiler binary for `workspace`, when it can be known without
/// running anything; `var` reads the environment.
pub fn compiler_binary(workspace: &Path, var: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(rustc) = var("RUSTC").filter(|r| !r.is_empty()) {
        let path = PathBuf::from(rustc);
        return (path.is_absolute() && path.is_file()).then_some(path);
    }
    let rustup_home = var("RUSTUP_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|home| Path::new(&home).join(".rustup")))?;
    if let Some(toolchain) = var("RUSTUP_TOOLCHAIN").filter(|t| !t.is_empty()) {
        return toolchain_rustc(&rustup_home, &toolchain);
    }
    let on_path = find_on_path(&var("PATH")?, "rustc")?;
    let resolved = fs::canonicalize(&on_path).ok()?;
    if resolved.file_name().is_none_or(|name| name != "rustup") {
        return Some(resolved); // a compiler itself, not rustup's proxy
    }
    let settings = fs::read_to_string(rustup_home.join("settings.toml")).unwrap_or_default();
    if has_directory_overrides(&settings) {
        return None;
    }
    let toolchain = workspace
        .ancestors()
        .find_map(toolchain_file_channel)
        .or_else(|| settings_value(&settings, "default_toolchain"))?;
    toolchain_rustc(&rustup_home, &toolchain)
}

/// `bin/rustc` of an installed toolchain: a path, a full name
/// (`stable-x86_64-unknown-linux-gnu`), or a channel that one installed
/// toolchain's name starts with (`stable`, `1.95.0`).
fn toolchain_rustc(rustup_home: &Path, toolchain: &str) -> Option<PathBuf> {
    let as_path = Path::new(toolchain);
    if as_path.is_absolute() {
        return Some(as_path.join("bin/rustc")).filter(|rustc| rustc.is_file());
    }
    let toolchains = rustup_home.join("toolchains");
    let exact = toolchains.join(toolchain).join("bin/rustc");
    if exact.is_file() {
        return Some(exact);
    }
    let prefix = format!("{toolchain}-");
    let mut matches = fs::read_dir(&toolchains)
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
        .map(|entry| entry.path().join("bin/rustc"))
        .filter(|rustc| rustc.is_file());
    let only = matches.next()?;
    matches.next().is_none().then_some(only)
}

fn find_on_path(path: &str, name: &str) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The channel a `rust-toolchain.toml` or `rust-toolchain` file in `dir`
/// names (the legacy file may hold just the name).
fn toolchain_file_channel(dir: &Path) -> Option<String> {
    ["rust-toolchain.toml", "rust-toolchain"]
        .iter()
        .find_map(|file| fs::read_to_string(dir.join(file)).ok())
        .and_then(|text| {
            settings_value(&text, "channel").or_else(|| {
                let name = text.trim();
                (!name.is_empty() && !name.contains(['\n', '=', '['])).then(|| name.to_owned())
            })
        })
}

/// A `key = "value"` line of a TOML file rustup writes (flat keys).
fn settings_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// Whether rustup's settings hold any `[overrides]` entry (`rustup
/// override set`): then rustup decides, not this lookup.
fn has_directory_overrides(settings: &str) -> bool {
    let mut in_overrides = false;
    settings.lines().map(str::trim).any(|line| {
        if line.starts_with('[') {
            in_overrides = line == "[overrides]";
            return false;
        }
        in_overrides && line.contains('=')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, relative: &str, text: &str) -> PathBuf {
        let path = root.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }

    /// A home with rustup's proxy on PATH, two installed toolchains and
    /// `stable` as the default; returns (home, workspace, PATH).
    fn rustup_machine(settings: &str) -> (tempfile::TempDir, PathBuf, String) {
        let home = tempfile::tempdir().unwrap();
        let rustup = write(home.path(), ".cargo/bin/rustup", "");
        std::os::unix::fs::symlink(&rustup, home.path().join(".cargo/bin/rustc")).unwrap();
        write(
            home.path(),
            ".rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustc",
            "",
        );
        write(
            home.path(),
            ".rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu/bin/rustc",
            "",
        );
        write(home.path(), ".rustup/settings.toml", settings);
        let workspace = home.path().join("project");
        fs::create_dir_all(&workspace).unwrap();
        let path = home.path().join(".cargo/bin").display().to_string();
        (home, workspace, path)
    }

    fn env(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        }
    }

    const DEFAULT_STABLE: &str =
        "version = \"12\"\ndefault_toolchain = \"stable-x86_64-unknown-linux-gnu\"\n[overrides]\n";

    #[test]
    fn run_directly_the_default_toolchain_is_read_from_rustups_settings() {
        let (home, workspace, path) = rustup_machine(DEFAULT_STABLE);
        let vars = env(vec![
            ("HOME", home.path().display().to_string()),
            ("PATH", path),
        ]);
        assert_eq!(
            compiler_binary(&workspace, vars),
            Some(
                home.path()
                    .join(".rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustc")
            )
        );
    }

    #[test]
    fn a_toolchain_file_of_the_workspace_wins_over_the_default() {
        let (home, workspace, path) = rustup_machine(DEFAULT_STABLE);
        write(
            &workspace,
            "rust-toolchain.toml",
            "[toolchain]\nchannel = \"1.95.0\"\n",
        );
        let vars = env(vec![
            ("HOME", home.path().display().to_string()),
            ("PATH", path),
        ]);
        assert_eq!(
            compiler_binary(&workspace, vars),
            Some(
                home.path()
                    .join(".rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu/bin/rustc")
            )
        );
    }

    #[test]
    fn rustup_toolchain_in_the_environment_wins_over_files() {
        let (home, workspace, _) = rustup_machine(DEFAULT_STABLE);
        write(&workspace, "rust-toolchain", "stable\n");
        let vars = env(vec![
            (
                "RUSTUP_HOME",
                home.path().join(".rustup").display().to_string(),
            ),
            ("RUSTUP_TOOLCHAIN", "1.95.0-x86_64-unknown-linux-gnu".into()),
        ]);
        assert_eq!(
            compiler_binary(&workspace, vars),
            Some(
                home.path()
                    .join(".rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu/bin/rustc")
            )
        );
    }

    #[test]
    fn a_directory_override_or_a_missing_toolchain_is_left_to_rustup() {
        let (home, workspace, path) =
            rustup_machine(&format!("{DEFAULT_STABLE}\"/somewhere\" = \"nightly\"\n"));
        let vars = env(vec![
            ("HOME", home.path().display().to_string()),
            ("PATH", path.clone()),
        ]);
        assert_eq!(compiler_binary(&workspace, vars), None);

        let (home, workspace, path) = rustup_machine(DEFAULT_STABLE);
        write(&workspace, "rust-toolchain", "beta\n");
        let vars = env(vec![
            ("HOME", home.path().display().to_string()),
            ("PATH", path),
        ]);
        assert_eq!(
            compiler_binary(&workspace, vars),
            None,
            "beta is not installed"
        );
    }

    #[test]
    fn a_compiler_on_path_that_is_not_rustup_is_itself_the_answer() {
        let dir = tempfile::tempdir().unwrap();
        let rustc = write(dir.path(), "bin/rustc", "");
        let vars = env(vec![
            ("HOME", dir.path().display().to_string()),
            ("PATH", dir.path().join("bin").display().to_string()),
        ]);
        assert_eq!(
            compiler_binary(dir.path(), vars),
            Some(rustc.canonicalize().unwrap())
        );
    }

    #[test]
    fn rustc_in_the_environment_must_be_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let rustc = write(dir.path(), "rustc", "");
        let as_text = rustc.display().to_string();
        assert_eq!(
            compiler_binary(dir.path(), env(vec![("RUSTC", as_text)])),
            Some(rustc)
        );
        assert_eq!(
            compiler_binary(dir.path(), env(vec![("RUSTC", "rustc".into())])),
            None
        );
    }
}
