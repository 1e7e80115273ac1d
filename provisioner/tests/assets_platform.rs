//! The platform's own functions, built as `provisioner synth` builds them:
//! every one of them must start on Lambda's glibc and be packed as one
//! `bootstrap`. Slow on a cold target folder (all functions in release);
//! later runs, and `synth`, take the zips from the cache.

use std::fs;
use std::io::Read;
use std::path::Path;

use provisioner::assets::glibc::{self, LAMBDA_GLIBC};
use provisioner::assets::{BuildOptions, build_assets, functions};

#[test]
fn every_platform_function_builds_into_a_zip_that_starts_on_lambdas_glibc() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let expected: Vec<String> = functions(root)
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert!(
        !expected.iter().any(|f| f == "record"),
        "record is a library, not a function"
    );

    let out = tempfile::tempdir().unwrap();
    let mut progress = Vec::new();
    let started = std::time::Instant::now();
    let built = build_assets(
        &BuildOptions::for_workspace(root),
        out.path(),
        &mut progress,
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&progress)));

    let elapsed = started.elapsed();
    // Zip sizes and what was rebuilt, shown with `--nocapture`.
    eprint!("{}", String::from_utf8_lossy(&progress));
    eprintln!("build_assets: {:.3}s", elapsed.as_secs_f64());
    assert_eq!(built.functions, expected);
    for entry in &built.entries {
        let zip = fs::File::open(out.path().join(&entry.file)).unwrap();
        let mut archive = zip::ZipArchive::new(zip).unwrap();
        assert_eq!(archive.len(), 1, "{}", entry.name);
        let mut bootstrap = archive.by_name("bootstrap").unwrap();
        assert_eq!(bootstrap.unix_mode().map(|m| m & 0o777), Some(0o755));
        let mut binary = Vec::new();
        bootstrap.read_to_end(&mut binary).unwrap();
        let too_new = glibc::symbols_newer_than(&binary, LAMBDA_GLIBC).unwrap();
        assert!(too_new.is_empty(), "{}: {too_new:?}", entry.name);
        // Where the repository and cargo's registry live on this machine
        // must not reach the binary (they would change its hash elsewhere).
        let home = std::env::var("HOME").unwrap_or_default();
        for path in [
            root.to_string_lossy().into_owned(),
            format!("{home}/.cargo"),
        ] {
            assert!(
                !binary.windows(path.len()).any(|w| w == path.as_bytes()),
                "{} contains the machine path {path}",
                entry.name
            );
        }
    }
}
