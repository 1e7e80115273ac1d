//! Running `cargo lambda build`: one invocation for every function to build,
//! so they share their compiled dependencies (the AWS SDK above all).
//!
//! cargo-lambda links through zig against the glibc named in the target's
//! suffix (`x86_64-unknown-linux-gnu.2.34`), whatever the build machine's
//! own glibc is; `--disable-optimizations` leaves the optimisation settings
//! to `[profile.lambda]` in the root Cargo.toml instead of cargo-lambda's
//! defaults, so they are visible, hashed and the same everywhere.

use std::collections::VecDeque;
use std::env;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::AssetError;

/// Lambda's `provided.al2023` runtime on x86_64, linked against its glibc.
pub const TARGET: &str = "x86_64-unknown-linux-gnu.2.34";

/// The cargo profile of Lambda builds (root Cargo.toml).
pub const PROFILE: &str = "lambda";

/// Lines of cargo's output kept to explain a failed build.
const TAIL_LINES: usize = 40;

/// 1980-01-01T00:00:00Z, the zip epoch: for build scripts and tools that
/// honour `SOURCE_DATE_EPOCH` instead of embedding the build time.
const SOURCE_DATE_EPOCH: &str = "315532800";

/// Variables that would change how the functions compile, removed from
/// cargo-lambda's environment so the build depends on the repository, not
/// on the shell: flags that would override ours (cargo takes the first of
/// these that is set and ignores `build.rustflags`), and clippy as the
/// workspace's compiler (`scripts/test` lints while it builds the tests;
/// clippy-driver adds `--cfg clippy`, which would change the functions'
/// bytes and rebuild them apart from a user's).
const FOREIGN_FLAG_VARIABLES: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
    "CARGO_LAMBDA_COMPILER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CLIPPY_ARGS",
];

/// Variables cargo sets for the crate it builds or runs (`cargo run`,
/// `cargo test`), present when the tool itself runs under cargo. Some build
/// scripts declare `rerun-if-env-changed` on them (ring on
/// `CARGO_MANIFEST_DIR`), so inheriting them would rebuild ring, rustls and
/// everything above them — minutes — whenever the caller changes.
fn set_by_a_parent_cargo(names: impl Iterator<Item = OsString>) -> Vec<OsString> {
    const EXACT: &[&str] = &[
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "OUT_DIR",
    ];
    const PREFIXES: &[&str] = &[
        "CARGO_PKG_",
        "CARGO_BIN_EXE_",
        "CARGO_CFG_",
        "CARGO_FEATURE_",
    ];
    names
        .filter(|name| {
            name.to_str().is_some_and(|name| {
                EXACT.contains(&name) || PREFIXES.iter().any(|prefix| name.starts_with(prefix))
            })
        })
        .collect()
}

/// Finds the `cargo-lambda` executable: on PATH, else where
/// `scripts/install-tools.sh` (`pip install --user`) puts it.
pub fn locate() -> Result<PathBuf, AssetError> {
    locate_in(env::var_os("PATH"), env::var_os("HOME"))
}

/// `locate` with the environment passed in.
pub fn locate_in(path: Option<OsString>, home: Option<OsString>) -> Result<PathBuf, AssetError> {
    let on_path = path
        .map(|path| env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    let user_bin = home.map(|home| PathBuf::from(home).join(".local/bin"));
    on_path
        .iter()
        .chain(user_bin.iter())
        .map(|dir| dir.join("cargo-lambda"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| AssetError::CargoLambdaMissing {
            looked_in: user_bin.map_or_else(
                || "~/.local/bin".to_owned(),
                |dir| dir.display().to_string(),
            ),
        })
}

/// Where cargo keeps downloaded crates: `$CARGO_HOME` or `~/.cargo`.
fn cargo_home() -> Option<PathBuf> {
    env::var_os("CARGO_HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
}

/// What of the recipe enters the source hash: machine-independent (no
/// paths), changed whenever the flags below change.
pub fn recipe() -> String {
    format!(
        "cargo lambda build --profile {PROFILE} --target {TARGET} --disable-optimizations \
         --locked; rustflags: remap workspace=/workspace, cargo home=/cargo, target=/target; \
         SOURCE_DATE_EPOCH={SOURCE_DATE_EPOCH}; zip: bootstrap 0o755 1980-01-01 deflate-9"
    )
}

/// `--remap-path-prefix` for every folder whose absolute path could end up
/// in a binary (panic locations, `file!()`, generated code included from
/// `OUT_DIR`), so where the repository, cargo's home or the target folder
/// live does not change the bytes. rustc applies the last matching prefix,
/// so the target folder (often inside the workspace) comes last.
fn remap_flags(workspace: &Path, target_dir: &Path) -> Vec<OsString> {
    let mut prefixes: Vec<(PathBuf, &str)> = Vec::new();
    if let Some(home) = cargo_home() {
        prefixes.push((home, "/cargo"));
    }
    prefixes.push((workspace.to_path_buf(), "/workspace"));
    prefixes.push((target_dir.to_path_buf(), "/target"));
    prefixes
        .into_iter()
        .map(|(from, to)| {
            let mut flag = OsString::from("--remap-path-prefix=");
            flag.push(from.as_os_str());
            flag.push("=");
            flag.push(to);
            flag
        })
        .collect()
}

/// Cargo's target folder for Lambda builds: `<target>/lambda-assets/cargo`.
/// Nothing is shared with debug builds anyway (another profile and target
/// triple), and a folder of its own has its own cargo lock, so a
/// minutes-long Lambda build does not block `cargo check` or `cargo test`.
pub fn lambda_target_dir(target_dir: &Path) -> PathBuf {
    target_dir.join("lambda-assets").join("cargo")
}

/// A planned `cargo lambda build` of `functions`.
#[derive(Debug)]
pub struct Build<'a> {
    pub program: &'a Path,
    pub workspace: &'a Path,
    /// Cargo's target folder; Lambda builds get their own inside it.
    pub target_dir: &'a Path,
    /// cargo-lambda writes `<lambda_dir>/<function>/bootstrap`.
    pub lambda_dir: &'a Path,
    pub functions: &'a [String],
}

impl Build<'_> {
    pub fn command(&self) -> Command {
        let mut command = Command::new(self.program);
        command
            .arg("lambda")
            .arg("build")
            .arg("--manifest-path")
            .arg(self.workspace.join("Cargo.toml"))
            .args(["--profile", PROFILE, "--target", TARGET])
            .args(["--disable-optimizations", "--locked", "--color", "never"])
            .arg("--lambda-dir")
            .arg(self.lambda_dir);
        for function in self.functions {
            command.args(["--package", function]);
        }
        for variable in FOREIGN_FLAG_VARIABLES {
            command.env_remove(variable);
        }
        for variable in set_by_a_parent_cargo(env::vars_os().map(|(name, _)| name)) {
            command.env_remove(variable);
        }
        // The encoded form keeps a path with spaces one flag.
        let encoded = remap_flags(self.workspace, self.target_dir).join(&OsString::from("\x1f"));
        command
            // Not `--target-dir`: cargo-lambda 1.9 also passes that flag to
            // `cargo metadata`, which rejects it.
            .env("CARGO_TARGET_DIR", lambda_target_dir(self.target_dir))
            .env("CARGO_ENCODED_RUSTFLAGS", encoded)
            .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
            .current_dir(self.workspace);
        command
    }

    /// Runs the build, forwarding cargo's progress lines to `progress`.
    pub fn run(&self, progress: &mut dyn Write) -> Result<(), AssetError> {
        let mut command = self.command();
        let shown = format!(
            "{} lambda build --profile {PROFILE} --target {TARGET} -p {}",
            self.program.display(),
            self.functions.join(" -p ")
        );
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| AssetError::Spawn {
                command: shown,
                source,
            })?;

        // cargo writes its progress and errors to stderr; stdout is drained
        // on the side so a chatty build script cannot block the pipe.
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let stdout_reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut tail = VecDeque::with_capacity(TAIL_LINES);
        let mut failed_crates = Vec::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            // Progress is best effort: a closed progress writer must not
            // abort a build that is otherwise going fine.
            let _ = writeln!(progress, "  {line}");
            if let Some(name) = failed_crate(&line) {
                failed_crates.push(name);
            }
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
        let status = child.wait().map_err(|source| AssetError::Spawn {
            command: "waiting for cargo-lambda".into(),
            source,
        })?;
        let stdout = stdout_reader.join().unwrap_or_default();
        if status.success() {
            return Ok(());
        }
        let mut tail: Vec<String> = tail.into();
        let stdout: Vec<&str> = stdout.lines().collect();
        let from = stdout.len().saturating_sub(5);
        tail.extend(stdout[from..].iter().map(|line| (*line).to_owned()));
        Err(AssetError::BuildFailed {
            functions: if failed_crates.is_empty() {
                self.functions.to_vec()
            } else {
                failed_crates
            },
            status: status.to_string(),
            tail: tail.join("\n"),
        })
    }
}

/// The crate named by cargo's "error: could not compile `ingest` (bin ...)".
fn failed_crate(line: &str) -> Option<String> {
    let rest = line.strip_prefix("error: could not compile `")?;
    rest.split_once('`').map(|(name, _)| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(command: &Command) -> Vec<String> {
        command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn env_of(command: &Command, name: &str) -> Option<Option<String>> {
        command
            .get_envs()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
    }

    fn build<'a>(functions: &'a [String]) -> Build<'a> {
        Build {
            program: Path::new("/bin/cargo-lambda"),
            workspace: Path::new("/src/my repo"),
            target_dir: Path::new("/src/my repo/target"),
            lambda_dir: Path::new("/src/my repo/target/lambda-assets/bin"),
            functions,
        }
    }

    #[test]
    fn builds_every_function_in_one_invocation_for_lambdas_glibc() {
        let functions = vec!["ingest".to_owned(), "query".to_owned()];
        let command = build(&functions).command();
        let args = args(&command).join(" ");
        assert!(args.starts_with("lambda build "), "{args}");
        assert!(
            args.contains("--target x86_64-unknown-linux-gnu.2.34"),
            "{args}"
        );
        assert!(args.contains("--profile lambda"), "{args}");
        assert!(args.contains("--disable-optimizations"), "{args}");
        assert!(args.contains("--locked"), "{args}");
        assert!(args.contains("--package ingest --package query"), "{args}");
        assert!(!args.contains("--release"), "{args}");
    }

    #[test]
    fn replaces_the_callers_rustflags_with_path_remapping() {
        let functions = vec!["ingest".to_owned()];
        let command = build(&functions).command();
        assert_eq!(env_of(&command, "RUSTFLAGS"), Some(None));
        let flags = env_of(&command, "CARGO_ENCODED_RUSTFLAGS")
            .unwrap()
            .unwrap();
        let flags: Vec<_> = flags.split('\x1f').collect();
        assert!(
            flags.contains(&"--remap-path-prefix=/src/my repo=/workspace"),
            "{flags:?}"
        );
        // The target folder is inside the workspace: its more specific
        // prefix comes later, and rustc applies the last match.
        let workspace = flags.iter().position(|f| f.ends_with("=/workspace"));
        let target = flags.iter().position(|f| f.ends_with("=/target"));
        assert!(workspace < target, "{flags:?}");
        assert_eq!(
            env_of(&command, "CARGO_TARGET_DIR"),
            Some(Some("/src/my repo/target/lambda-assets/cargo".into()))
        );
        assert_eq!(
            env_of(&command, "SOURCE_DATE_EPOCH"),
            Some(Some("315532800".into()))
        );
    }

    #[test]
    fn builds_with_rustc_even_when_the_caller_lints_with_clippy() {
        let functions = vec!["ingest".to_owned()];
        let command = build(&functions).command();
        for variable in ["RUSTC_WORKSPACE_WRAPPER", "CLIPPY_ARGS"] {
            assert_eq!(env_of(&command, variable), Some(None), "{variable}");
        }
    }

    #[test]
    fn finds_cargo_lambda_on_path_before_the_user_bin() {
        let (on_path, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::create_dir_all(home.path().join(".local/bin")).unwrap();
        std::fs::write(home.path().join(".local/bin/cargo-lambda"), "").unwrap();
        let found = locate_in(None, Some(home.path().into())).unwrap();
        assert_eq!(found, home.path().join(".local/bin/cargo-lambda"));
        std::fs::write(on_path.path().join("cargo-lambda"), "").unwrap();
        let found = locate_in(Some(on_path.path().into()), Some(home.path().into())).unwrap();
        assert_eq!(found, on_path.path().join("cargo-lambda"));
    }

    #[test]
    fn without_cargo_lambda_the_error_says_how_to_install_it() {
        let (empty, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let err = locate_in(Some(empty.path().into()), Some(home.path().into())).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("scripts/install-tools.sh"), "{message}");
        assert!(
            message.contains("pip install --user cargo-lambda ziglang"),
            "{message}"
        );
        assert!(
            message.contains(&home.path().join(".local/bin").display().to_string()),
            "{message}"
        );
    }

    #[test]
    fn drops_what_a_parent_cargo_set_for_its_own_crate() {
        let names = [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_BIN_EXE_provisioner",
            "CARGO_HOME",
            "CARGO_NET_OFFLINE",
            "PATH",
        ]
        .map(OsString::from);
        assert_eq!(
            set_by_a_parent_cargo(names.into_iter()),
            [
                "CARGO_MANIFEST_DIR",
                "CARGO_PKG_NAME",
                "CARGO_BIN_EXE_provisioner"
            ]
            .map(OsString::from)
        );
        // This test runs under `cargo test`, which set CARGO_MANIFEST_DIR.
        let functions = vec!["ingest".to_owned()];
        assert_eq!(
            env_of(&build(&functions).command(), "CARGO_MANIFEST_DIR"),
            Some(None)
        );
    }

    #[test]
    fn recognises_the_crate_cargo_could_not_compile() {
        assert_eq!(
            failed_crate(
                "error: could not compile `ingest` (bin \"ingest\") due to 2 previous errors"
            ),
            Some("ingest".into())
        );
        assert_eq!(failed_crate("   Compiling ingest v0.1.0"), None);
    }

    #[test]
    fn the_recipe_names_no_machine_path() {
        let recipe = recipe();
        assert!(!recipe.contains(env!("CARGO_MANIFEST_DIR")));
        assert!(recipe.contains(TARGET));
    }
}
