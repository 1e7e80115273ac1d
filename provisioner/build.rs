//! Embeds the git commit this build comes from, for `provisioner
//! --version`. Outside a git checkout (a source tarball) or without git,
//! the commit is `unknown`: the build never fails for it.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let output = Command::new("git")
        .args(args)
        .current_dir(manifest_dir)
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

/// Rebuilds when the git file `name` (in the git folder, wherever a
/// worktree keeps it) changes.
fn watch(name: &str) {
    let Some(path) = git(&["rev-parse", "--git-path", name]) else {
        return;
    };
    let path = Path::new(&path);
    let path = match std::env::var("CARGO_MANIFEST_DIR") {
        Ok(dir) if path.is_relative() => Path::new(&dir).join(path),
        _ => path.to_path_buf(),
    };
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// Whether git's work tree is this workspace: a tarball unpacked inside
/// another repository must not take that repository's commit.
fn own_checkout() -> bool {
    let Ok(manifest_dir) = std::env::var("CARGO_MANIFEST_DIR") else {
        return false;
    };
    let workspace = Path::new(&manifest_dir).parent().map(Path::canonicalize);
    let toplevel = git(&["rev-parse", "--show-toplevel"]).map(|t| Path::new(&t).canonicalize());
    matches!((workspace, toplevel), (Some(Ok(a)), Some(Ok(b))) if a == b)
}

fn main() {
    // The CLI as a position-dependent executable: a PIE of this size makes
    // the loader apply ~80,000 relocations to 1.9 MB of `.data.rel.ro` at
    // every start (~470 page faults), the bulk of a `--version` run. On
    // Linux only, whose gcc and ld take `-no-pie`.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bin=provisioner=-no-pie");
    }
    let commit = own_checkout()
        .then(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .flatten();
    // HEAD (a branch switch) and the ref it points at (a new commit).
    watch("HEAD");
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch(&reference);
    }
    println!("cargo:rerun-if-env-changed=GIT_DIR");
    println!(
        "cargo:rustc-env=PROVISIONER_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
}
