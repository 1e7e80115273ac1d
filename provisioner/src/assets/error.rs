//! What can go wrong while turning `lambdas/*` into zips, each with what to do.

use std::path::PathBuf;

use super::glibc::TooNewSymbol;

#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error(
        "cargo-lambda is not installed (looked for `cargo-lambda` on PATH and in {looked_in}); \
         run `scripts/install-tools.sh` (or `pip install --user cargo-lambda ziglang`)"
    )]
    CargoLambdaMissing { looked_in: String },

    #[error("no Cargo workspace with a `lambdas/` folder at or above {start}")]
    WorkspaceNotFound { start: PathBuf },

    #[error("no Lambda functions under {dir}: expected crates with a src/main.rs")]
    NoFunctions { dir: PathBuf },

    #[error(
        "unknown Lambda function {name:?}; the functions are: {known}",
        known = known.join(", ")
    )]
    UnknownFunction { name: String, known: Vec<String> },

    #[error(
        "{manifest} names its package {package:?}, but a Lambda crate's name must be its \
         folder name {folder:?} (the function is deployed under that name)"
    )]
    CrateNameMismatch {
        manifest: PathBuf,
        package: String,
        folder: String,
    },

    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("writing {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("locking {path} (one build of the functions at a time)")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("running `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },

    #[error("`rustc -vV` failed ({status}): {stderr}")]
    RustcVersion { status: String, stderr: String },

    #[error(
        "building {functions} with cargo-lambda failed ({status}); last lines of its output:\n{tail}",
        functions = functions.join(", ")
    )]
    BuildFailed {
        functions: Vec<String>,
        status: String,
        tail: String,
    },

    #[error(
        "cargo-lambda reported success but left no binary for {function} at {path}; \
         is `{function}` a binary crate with src/main.rs?"
    )]
    BinaryMissing { function: String, path: PathBuf },

    #[error("{function}: {path} is not an x86_64 Linux ELF executable: {reason}")]
    NotAnElf {
        function: String,
        path: PathBuf,
        reason: String,
    },

    #[error(
        "{function} needs a newer glibc than Lambda's provided.al2023 ({max}) offers: {symbols}; \
         the binary would fail to start on Lambda. Build through cargo-lambda with the \
         `.2.34` target suffix (zig links against glibc 2.34), or drop the dependency that \
         calls these functions",
        max = super::glibc::LAMBDA_GLIBC,
        symbols = symbols.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    GlibcTooNew {
        function: String,
        symbols: Vec<TooNewSymbol>,
    },

    #[error("writing the zip for {function}")]
    Zip {
        function: String,
        #[source]
        source: zip::result::ZipError,
    },

    #[error("cache entry {path} is unreadable; delete it to rebuild")]
    CorruptCache {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}
