//! The Lambda asset builder end to end, with cargo-lambda and zig (installed
//! by `scripts/install-tools.sh`), on small fixture workspaces made in
//! temporary folders: reproducible zips, the cache, the glibc check, and
//! what a failed build says.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use provisioner::assets::glibc::{self, GlibcVersion, LAMBDA_GLIBC};
use provisioner::assets::{AssetError, BuildOptions, BuiltAssets, build_assets};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("provisioner/ is inside the repository")
        .to_path_buf()
}

/// The repository's `[profile.lambda]` tables, so fixtures build like the
/// platform.
fn lambda_profile() -> String {
    let manifest = fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let mut tables = String::new();
    let mut in_lambda_profile = false;
    for line in manifest.lines() {
        if line.starts_with('[') {
            in_lambda_profile = line.starts_with("[profile.lambda");
        }
        if in_lambda_profile {
            tables.push_str(line);
            tables.push('\n');
        }
    }
    assert!(
        tables.contains("[profile.lambda]"),
        "the root Cargo.toml defines [profile.lambda]"
    );
    tables
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// A workspace like the repository's, with `functions` (name, main.rs) and
/// the shared `record` library, no dependencies from crates.io.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(functions: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            &root.join("Cargo.toml"),
            &format!(
                "[workspace]\nresolver = \"3\"\nmembers = [\"lambdas/*\"]\n\n{}",
                lambda_profile()
            ),
        );
        write(
            &root.join("lambdas/record/Cargo.toml"),
            "[package]\nname = \"record\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
        );
        write(
            &root.join("lambdas/record/src/lib.rs"),
            "pub fn greeting() -> &'static str { \"hello from record\" }\n",
        );
        let fixture = Self { dir };
        for (name, main) in functions {
            fixture.function(name, main);
        }
        let lock = Command::new("cargo")
            .args(["generate-lockfile", "--offline"])
            .current_dir(fixture.root())
            .output()
            .unwrap();
        assert!(
            lock.status.success(),
            "{}",
            String::from_utf8_lossy(&lock.stderr)
        );
        fixture
    }

    fn function(&self, name: &str, main: &str) {
        let dir = self.root().join("lambdas").join(name);
        write(
            &dir.join("Cargo.toml"),
            &format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
                 [dependencies]\nrecord = {{ path = \"../record\" }}\n"
            ),
        );
        write(&dir.join("src/main.rs"), main);
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn options(&self) -> BuildOptions {
        BuildOptions {
            workspace: self.root().to_path_buf(),
            target_dir: self.root().join("target"),
            cargo_lambda: None,
            only: None,
        }
    }

    fn build(&self, out: &Path) -> Result<(BuiltAssets, String), AssetError> {
        self.build_with(&self.options(), out)
    }

    fn build_with(
        &self,
        opts: &BuildOptions,
        out: &Path,
    ) -> Result<(BuiltAssets, String), AssetError> {
        let mut progress = Vec::new();
        let built = build_assets(opts, out, &mut progress)?;
        Ok((built, String::from_utf8(progress).unwrap()))
    }
}

const HELLO: &str =
    "fn main() { println!(\"{} {}\", record::greeting(), env!(\"CARGO_PKG_NAME\")); }\n";

fn unzip_bootstrap(zip_path: &Path) -> (Vec<u8>, Option<u32>, usize) {
    let file = fs::File::open(zip_path).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    let entries = archive.len();
    let mut entry = archive.by_name("bootstrap").unwrap();
    let mode = entry.unix_mode();
    let mut binary = Vec::new();
    entry.read_to_end(&mut binary).unwrap();
    (binary, mode, entries)
}

#[test]
fn the_same_sources_give_the_same_zip_in_another_folder_and_target_dir() {
    let (first, second) = (
        Fixture::new(&[("hello", HELLO)]),
        Fixture::new(&[("hello", HELLO)]),
    );
    assert_ne!(first.root(), second.root());
    let (out_a, out_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, _) = first.build(out_a.path()).unwrap();
    let (b, _) = second.build(out_b.path()).unwrap();

    assert_eq!(a.entries.len(), 1);
    assert_eq!(
        a.entries[0].sha256, b.entries[0].sha256,
        "the workspace and target paths must not reach the binary"
    );
    let zip_a = fs::read(out_a.path().join(&a.entries[0].file)).unwrap();
    let zip_b = fs::read(out_b.path().join(&b.entries[0].file)).unwrap();
    assert_eq!(zip_a, zip_b);
}

#[test]
fn a_built_function_is_a_zip_of_one_executable_bootstrap_that_runs_on_lambdas_glibc() {
    let fixture = Fixture::new(&[("hello", HELLO)]);
    let out = tempfile::tempdir().unwrap();
    let (built, progress) = fixture.build(out.path()).unwrap();

    let entry = &built.entries[0];
    assert_eq!(entry.name, "hello");
    assert_eq!(entry.file, format!("assets/{}.zip", entry.sha256));
    assert_eq!(entry.s3_key, format!("{}.zip", entry.sha256));
    let zip_path = out.path().join(&entry.file);
    assert_eq!(fs::metadata(&zip_path).unwrap().len(), entry.size);
    let table_entry = built.table.get("hello").unwrap();
    assert_eq!(
        (table_entry.sha256.as_str(), table_entry.size),
        (entry.sha256.as_str(), entry.size)
    );
    assert_eq!(built.functions, ["hello"]);
    assert_eq!(built.rebuilt, ["hello"]);
    assert!(progress.contains("hello"), "{progress}");
    assert!(
        progress.contains(&entry.size.to_string()),
        "sizes are reported: {progress}"
    );

    let (binary, mode, entries) = unzip_bootstrap(&zip_path);
    assert_eq!(entries, 1);
    assert_eq!(mode.map(|m| m & 0o777), Some(0o755));
    assert!(
        glibc::symbols_newer_than(&binary, LAMBDA_GLIBC)
            .unwrap()
            .is_empty()
    );
    let newest = glibc::newest_needed(&binary).unwrap().unwrap();
    assert!(newest <= LAMBDA_GLIBC, "{newest}");

    // The bootstrap is a real program: run it (this machine's glibc is newer).
    let run_dir = tempfile::tempdir().unwrap();
    let bootstrap = run_dir.path().join("bootstrap");
    fs::write(&bootstrap, &binary).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&bootstrap, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let output = Command::new(&bootstrap).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "hello from record hello\n"
    );
}

#[test]
fn unchanged_sources_come_from_the_cache_and_only_the_changed_function_is_rebuilt() {
    let fixture = Fixture::new(&[("hello", HELLO), ("bye", HELLO)]);
    let out = tempfile::tempdir().unwrap();
    let (first, _) = fixture.build(out.path()).unwrap();
    assert_eq!(first.rebuilt, ["bye", "hello"]);

    // A cargo-lambda that does not exist proves nothing is built.
    let no_builder = BuildOptions {
        cargo_lambda: Some(PathBuf::from("/nonexistent/cargo-lambda")),
        ..fixture.options()
    };
    let again = tempfile::tempdir().unwrap();
    let (cached, progress) = fixture.build_with(&no_builder, again.path()).unwrap();
    assert!(cached.rebuilt.is_empty());
    assert_eq!(cached.entries, first.entries);
    assert!(again.path().join(&cached.entries[0].file).is_file());
    assert!(progress.contains("cached"), "{progress}");

    fixture.function("bye", "fn main() { println!(\"bye\"); }\n");
    let (changed, _) = fixture.build(out.path()).unwrap();
    assert_eq!(changed.rebuilt, ["bye"]);
    let sha = |built: &BuiltAssets, name: &str| built.table.get(name).unwrap().sha256.clone();
    assert_ne!(sha(&changed, "bye"), sha(&first, "bye"));
    assert_eq!(sha(&changed, "hello"), sha(&first, "hello"));
}

#[test]
fn a_compile_error_names_the_function_and_shows_the_end_of_cargos_output() {
    let fixture = Fixture::new(&[
        ("hello", HELLO),
        ("broken", "fn main() { let x: u8 = \"text\"; }\n"),
    ]);
    let out = tempfile::tempdir().unwrap();
    let err = fixture.build(out.path()).unwrap_err();
    let AssetError::BuildFailed {
        functions, tail, ..
    } = &err
    else {
        panic!("expected a build failure, got {err}");
    };
    assert_eq!(functions, &["broken"]);
    assert!(tail.contains("mismatched types"), "{tail}");
    let message = err.to_string();
    assert!(
        message.starts_with("building broken with cargo-lambda failed"),
        "{message}"
    );
    assert!(message.contains("could not compile `broken`"), "{message}");
}

#[test]
fn building_one_function_leaves_the_others_out() {
    let fixture = Fixture::new(&[("hello", HELLO), ("bye", HELLO)]);
    let opts = BuildOptions {
        only: Some(vec!["bye".into()]),
        ..fixture.options()
    };
    let out = tempfile::tempdir().unwrap();
    let (built, _) = fixture.build_with(&opts, out.path()).unwrap();
    assert_eq!(built.functions, ["bye"]);
    assert!(built.table.get("hello").is_none());
}

/// A C program calling `arc4random`, which glibc added in 2.36: linked by
/// the host's toolchain (Debian 12, glibc 2.36), it cannot start on Lambda.
#[test]
fn the_glibc_check_names_a_symbol_newer_than_lambdas_glibc() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("random.c");
    fs::write(
        &source,
        "#include <stdio.h>\n#include <stdlib.h>\nint main(void) { printf(\"%u\\n\", arc4random()); return 0; }\n",
    )
    .unwrap();
    let binary = dir.path().join("random");
    let cc = Command::new("cc")
        .arg(&source)
        .arg("-o")
        .arg(&binary)
        .output()
        .unwrap();
    assert!(
        cc.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&cc.stderr)
    );

    let bytes = fs::read(&binary).unwrap();
    let too_new = glibc::symbols_newer_than(&bytes, LAMBDA_GLIBC).unwrap();
    let names: Vec<String> = too_new.iter().map(ToString::to_string).collect();
    assert_eq!(names, ["arc4random@GLIBC_2.36"]);
    assert_eq!(
        glibc::newest_needed(&bytes).unwrap(),
        Some(GlibcVersion {
            major: 2,
            minor: 36
        })
    );
    // printf is as old as x86_64 glibc: within Lambda's limit.
    assert!(
        glibc::symbols_newer_than(
            &bytes,
            GlibcVersion {
                major: 2,
                minor: 36
            }
        )
        .unwrap()
        .is_empty()
    );
}
