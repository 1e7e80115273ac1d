//! Lambda assets: `lambdas/*` built with cargo-lambda for `provided.al2023`
//! (x86_64, glibc 2.34), checked to start there, packed into deterministic
//! zips named by their sha256, and cached by source hash so `synth` only
//! builds the functions whose sources changed.
//!
//! ```text
//! lambdas/<function>/ ─ source hash ─► cache hit? ──────────────► out/assets/<sha256>.zip
//!                                        │ miss                     ▲
//!                                        ▼                          │
//!                  cargo lambda build (all misses at once) ─► glibc check ─► zip ─► cache
//! ```
//!
//! Measured on the 2-core machine, all seven functions (four still stubs,
//! every SDK dependency there), `[profile.lambda]` as in the root
//! Cargo.toml: cold build 640 s in one cargo invocation (other builds
//! running beside; aws-lc-sys' C build alone is ~230 s of it); one changed
//! function 12 s; a change to the shared `record` crate 27 s (all seven
//! recompiled); nothing changed 22-25 ms (cache hits, zips hard-linked into
//! the output, most of it `rustc -vV`). Zips: 0.18 MB (stub), 1.3 MB
//! firehose-transform, 5.4 MB dynamodb-writer, 6.2 MB lake-writer.
//!
//! With the functions' SDK client on ring (`lambdas/sdk-config`, no
//! aws-lc-sys), measured again (issue 15; load 7-8 on the 2 cores from
//! other builds): cold build of all seven 708 s; zips 1.32 MB
//! firehose-transform, 3.88 ingest, 3.91 query, 4.08 warehouse-schema, 4.69
//! lake-writer, 4.96 dynamodb-writer, 5.32 batch-import (each SDK function
//! ~0.25 MB smaller than with aws-lc-rs). Measured on batch-import and not taken:
//! thin LTO with deps at opt-level "z" (zip 4.93 MB, one changed function
//! rebuilt in 217 s); fat LTO, opt-level "z" and `panic = "abort"` together
//! (zip 3.29 MB, binary 7.0 MB, a single-threaded link of minutes).
//!
//! All nine functions, alone on the 2 cores (issue 15): 8 min 33 s cold
//! with the dependencies' opt-level set as `package."*"`, which also
//! optimised the build scripts and proc macros (syn twice, serde_derive,
//! ...); 7 min 08 s with it set for the whole profile, where they keep
//! `build-override`'s opt-level 0 (855 s of compile units instead of 1,023;
//! the binaries within 0.2% of the same size). The largest units: aws-sdk-s3
//! 157 s, aws-sdk-dynamodb 89 s, aws-sdk-kinesis 49 s.
//!
//! One codegen unit per crate instead of 16 (issue 15), all nine cold,
//! alone: 388 CPU-s and 198 s instead of 461 and 237, every zip 7-12%
//! smaller; one changed function rebuilt in 8.5-12 s (7.6 with 16 units).
//! Measured and not taken: position-dependent binaries (`-no-pie`, as the
//! CLI links), without the dynamic relocations: lake-writer's zip 3.40 ->
//! 3.35 MB, ingest's 2.52 -> 2.47. About 1.5%, for giving up address
//! randomisation of the code of functions that parse untrusted input.
//!
//! `cargo_lambda.rs` says what makes a binary reproducible, `bundle.rs`
//! what makes its zip reproducible.

mod build_lock;
mod bundle;
mod cache;
mod cargo_lambda;
mod error;
mod fingerprint;
pub mod glibc;
mod toolchain;
mod workspace;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use stacks::assets::{Asset, AssetTable, asset_key};
use stacks::manifest::AssetEntry;

pub use bundle::zip_bootstrap;
pub use cache::Cache;
pub use cargo_lambda::{PROFILE, TARGET};
pub use error::AssetError;
pub use workspace::{Function, find_root, functions};

/// Folder of the zips inside the synth output.
pub const ASSETS_DIR: &str = "assets";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// Repository root: `Cargo.toml`, `Cargo.lock` and `lambdas/`.
    pub workspace: PathBuf,
    /// Cargo's target folder; the cache lives in `<target>/lambda-assets/`.
    pub target_dir: PathBuf,
    /// The `cargo-lambda` executable; `None` finds it on PATH or in
    /// `~/.local/bin` (where `scripts/install-tools.sh` puts it).
    pub cargo_lambda: Option<PathBuf>,
    /// Build only these functions; `None` builds every one.
    pub only: Option<Vec<String>>,
}

impl BuildOptions {
    /// For the repository at `workspace`, with cargo's target folder
    /// (`$CARGO_TARGET_DIR`, else `<workspace>/target`).
    pub fn for_workspace(workspace: impl Into<PathBuf>) -> Self {
        let workspace = workspace.into();
        Self {
            target_dir: workspace::target_dir(&workspace),
            workspace,
            cargo_lambda: None,
            only: None,
        }
    }

    /// For the repository that contains `start` (e.g. the current folder).
    pub fn discover(start: &Path) -> Result<Self, AssetError> {
        find_root(start).map(Self::for_workspace)
    }
}

/// The names of the functions under `lambdas/` of the workspace around
/// `start`, found without building anything.
pub fn function_names(start: &Path) -> Result<Vec<String>, AssetError> {
    let root = find_root(start)?;
    Ok(workspace::functions(&root)?
        .into_iter()
        .map(|f| f.name)
        .collect())
}

/// What `build_assets` produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltAssets {
    /// Function name to zip sha256 and size, for the stacks.
    pub table: AssetTable,
    /// Manifest entries, sorted by function; `file` is relative to `out_dir`.
    pub entries: Vec<AssetEntry>,
    /// Every function built or taken from the cache, sorted.
    pub functions: Vec<String>,
    /// The functions compiled by this call (cache misses), sorted.
    pub rebuilt: Vec<String>,
}

/// Where the source hashes are remembered by their inputs' file stats
/// (`<target>/lambda-assets/`).
const SOURCE_HASHES_FILE: &str = "source-hashes.json";

/// Builds the functions whose sources changed, takes the others from the
/// cache, and writes every zip to `<out_dir>/assets/<sha256>.zip`.
pub fn build_assets(
    opts: &BuildOptions,
    out_dir: &Path,
    progress: &mut dyn Write,
) -> Result<BuiltAssets, AssetError> {
    let workspace = &opts.workspace;
    let functions = selected(workspace::functions(workspace)?, opts.only.as_deref())?;
    let toolchain = fingerprint::rustc_version(workspace, &opts.target_dir.join("lambda-assets"))?;
    let hasher = fingerprint::SourceHasher::new(workspace, &toolchain, &cargo_lambda::recipe())?
        .remembering_in(
            opts.target_dir
                .join("lambda-assets")
                .join(SOURCE_HASHES_FILE),
        );
    let cache = Cache::in_target_dir(&opts.target_dir);

    let mut planned: Vec<Planned<'_>> = Vec::with_capacity(functions.len());
    for function in &functions {
        let source_hash = hasher.of(workspace, function)?;
        let cached = cache.lookup(&function.name, &source_hash)?;
        planned.push((function, source_hash, cached));
    }
    hasher.save();
    let mut misses = misses_of(&planned);
    // Held until the zips are linked into `out_dir`, so no other build
    // prunes the cache entries this one takes in between.
    let _one_build_at_a_time = if misses.is_empty() {
        None
    } else {
        let lock =
            build_lock::BuildLock::acquire(&opts.target_dir.join("lambda-assets"), progress)?;
        // What another build finished while this one waited is cached now.
        for (function, source_hash, cached) in planned.iter_mut().filter(|p| p.2.is_none()) {
            *cached = cache.lookup(&function.name, source_hash)?;
        }
        misses = misses_of(&planned);
        Some(lock)
    };

    let newest_glibc = if misses.is_empty() {
        Vec::new()
    } else {
        build_misses(opts, &cache, &mut planned, &misses, progress)?
    };

    let assets_dir = out_dir.join(ASSETS_DIR);
    fs::create_dir_all(&assets_dir).map_err(|source| AssetError::Write {
        path: assets_dir.clone(),
        source,
    })?;
    let mut built = BuiltAssets {
        table: AssetTable::new(),
        entries: Vec::with_capacity(planned.len()),
        functions: Vec::with_capacity(planned.len()),
        rebuilt: misses.clone(),
    };
    for (function, source_hash, cached) in planned {
        let zip = cached.expect("every miss was built above");
        let file = format!("{ASSETS_DIR}/{}", asset_key(&zip.sha256));
        link_or_copy(
            &cache.zip_path(&function.name, &source_hash),
            &out_dir.join(&file),
        )?;
        let how = if misses.contains(&function.name) {
            let glibc = newest_glibc
                .iter()
                .find(|(name, _)| *name == function.name)
                .and_then(|(_, v)| *v)
                .map_or_else(|| "no glibc".to_owned(), |v| format!("needs {v}"));
            format!("built, {glibc}")
        } else {
            "cached".to_owned()
        };
        say(
            progress,
            format_args!(
                "  {:<20} {:>10} bytes ({:>5.1} MB)  sha256 {}  {how}",
                function.name,
                zip.size,
                zip.size as f64 / 1e6,
                &zip.sha256[..12]
            ),
        );
        built.table.insert(
            function.name.clone(),
            Asset {
                sha256: zip.sha256.clone(),
                size: zip.size,
            },
        );
        built.entries.push(AssetEntry {
            name: function.name.clone(),
            s3_key: asset_key(&zip.sha256),
            sha256: zip.sha256,
            file,
            size: zip.size,
        });
        built.functions.push(function.name.clone());
    }
    Ok(built)
}

/// A function to build, its source hash, and its cache entry once there is one.
type Planned<'a> = (&'a Function, String, Option<cache::CachedZip>);

/// Compiles the cache misses in one cargo-lambda run, checks, zips and
/// caches each; returns the newest glibc each one needs.
fn build_misses(
    opts: &BuildOptions,
    cache: &Cache,
    planned: &mut [Planned<'_>],
    misses: &[String],
    progress: &mut dyn Write,
) -> Result<Vec<(String, Option<glibc::GlibcVersion>)>, AssetError> {
    let program = match &opts.cargo_lambda {
        Some(program) => program.clone(),
        None => cargo_lambda::locate()?,
    };
    let lambda_dir = opts.target_dir.join("lambda-assets").join("bin");
    say(
        progress,
        format_args!(
            "lambda assets: building {} with cargo-lambda ({TARGET}, profile {PROFILE}); {} cached",
            misses.join(", "),
            planned.len() - misses.len()
        ),
    );
    let started = Instant::now();
    cargo_lambda::Build {
        program: &program,
        workspace: &opts.workspace,
        target_dir: &opts.target_dir,
        lambda_dir: &lambda_dir,
        functions: misses,
    }
    .run(progress)?;
    say(
        progress,
        format_args!(
            "lambda assets: compiled in {:.1}s",
            started.elapsed().as_secs_f64()
        ),
    );
    let mut newest_glibc = Vec::with_capacity(misses.len());
    for (function, source_hash, cached) in planned.iter_mut().filter(|p| p.2.is_none()) {
        let binary_path = lambda_dir.join(&function.name).join("bootstrap");
        let binary = fs::read(&binary_path).map_err(|_| AssetError::BinaryMissing {
            function: function.name.clone(),
            path: binary_path.clone(),
        })?;
        let newest = check_glibc(&function.name, &binary_path, &binary)?;
        newest_glibc.push((function.name.clone(), newest));
        let zip = zip_bootstrap(&binary).map_err(|source| AssetError::Zip {
            function: function.name.clone(),
            source,
        })?;
        *cached = Some(cache.store(&function.name, source_hash, &zip)?);
    }
    Ok(newest_glibc)
}

/// Keeps the functions named in `only` (all when `None`).
fn selected(all: Vec<Function>, only: Option<&[String]>) -> Result<Vec<Function>, AssetError> {
    let Some(only) = only else { return Ok(all) };
    for name in only {
        if !all.iter().any(|f| &f.name == name) {
            return Err(AssetError::UnknownFunction {
                name: name.clone(),
                known: all.iter().map(|f| f.name.clone()).collect(),
            });
        }
    }
    Ok(all.into_iter().filter(|f| only.contains(&f.name)).collect())
}

/// Fails unless `binary` is an x86_64 ELF that starts on Lambda's glibc;
/// returns the newest glibc it needs.
fn check_glibc(
    function: &str,
    path: &Path,
    binary: &[u8],
) -> Result<Option<glibc::GlibcVersion>, AssetError> {
    let not_an_elf = |e: glibc::ElfError| AssetError::NotAnElf {
        function: function.to_owned(),
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let too_new = glibc::symbols_newer_than(binary, glibc::LAMBDA_GLIBC).map_err(not_an_elf)?;
    if !too_new.is_empty() {
        return Err(AssetError::GlibcTooNew {
            function: function.to_owned(),
            symbols: too_new,
        });
    }
    glibc::newest_needed(binary).map_err(not_an_elf)
}

/// A hard link when the cache and the output share a file system (the zips
/// are never modified in place), else a copy.
fn link_or_copy(from: &Path, to: &Path) -> Result<(), AssetError> {
    let write_error = |source| AssetError::Write {
        path: to.to_path_buf(),
        source,
    };
    match fs::remove_file(to) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(write_error(e)),
    }
    if fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    fs::copy(from, to).map(drop).map_err(write_error)
}

/// The functions `planned` found no cached zip for, sorted as planned.
fn misses_of(planned: &[Planned<'_>]) -> Vec<String> {
    planned
        .iter()
        .filter(|(_, _, cached)| cached.is_none())
        .map(|(f, _, _)| f.name.clone())
        .collect()
}

/// Progress is best effort: a closed progress writer must not fail a build.
/// One line in one write: standard error is unbuffered, and formatted
/// padding would be a write per character.
fn say(progress: &mut dyn Write, line: std::fmt::Arguments<'_>) {
    let _ = progress.write_all(format!("{line}\n").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(name: &str) -> Function {
        Function {
            name: name.into(),
            dir: PathBuf::from("lambdas").join(name),
        }
    }

    #[test]
    fn selecting_an_unknown_function_lists_the_known_ones() {
        let all = vec![function("ingest"), function("query")];
        let err = selected(all, Some(&["ingset".to_owned()])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown Lambda function \"ingset\"; the functions are: ingest, query"
        );
    }

    #[test]
    fn selecting_keeps_the_named_functions_in_order() {
        let all = vec![
            function("ingest"),
            function("query"),
            function("lake-writer"),
        ];
        let names: Vec<_> = selected(all, Some(&["query".to_owned(), "ingest".to_owned()]))
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, ["ingest", "query"]);
    }

    #[test]
    fn a_glibc_failure_names_the_function_and_the_symbols() {
        let err = AssetError::GlibcTooNew {
            function: "ingest".into(),
            symbols: vec![glibc::TooNewSymbol {
                symbol: "arc4random".into(),
                version: "GLIBC_2.36".into(),
            }],
        };
        let message = err.to_string();
        assert!(
            message.starts_with("ingest needs a newer glibc"),
            "{message}"
        );
        assert!(message.contains("arc4random@GLIBC_2.36"), "{message}");
        assert!(message.contains("glibc 2.34"), "{message}");
    }
}
