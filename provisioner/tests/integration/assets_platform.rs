//! The platform's own functions, built as `provisioner synth` builds them:
//! every one of them must start on Lambda's glibc and be packed as one
//! `bootstrap` within the size limit, with one TLS stack. Slow on a cold target
//! folder (all functions in release); later runs, and `synth`, take the
//! zips from the cache.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::Path;

use provisioner::assets::glibc::{self, LAMBDA_GLIBC};
use provisioner::assets::{BuildOptions, build_assets, functions};

use crate::support::cargo_tree;

/// Every zip stays under this: it is uploaded on each deploy and
/// downloaded on every cold start. A ratchet, not the goal: issue 15 asks
/// for 3 MB; loading the SDK configuration from Lambda's environment
/// (sdk-config, without aws-config's chain) took the SDK functions from
/// 3.9-5.5 MB to 3.1-4.96 MB (batch-import the largest), logging without
/// tracing-subscriber's regex engine (lambda-logging) to 1.1-4.55 MB, one
/// codegen unit per crate (Cargo.toml's `[profile.lambda]`) to 0.99-4.05
/// MB. Lower it as they shrink, never raise it without the measurement
/// that justifies it.
const MAX_ZIP_BYTES: u64 = 4_100_000;

/// The crypto providers rustls can use; a function links at most one.
const CRYPTO_PROVIDERS: [&str; 2] = ["ring", "aws-lc-rs"];

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
        assert!(
            entry.size < MAX_ZIP_BYTES,
            "{}: its zip is {} bytes, over {MAX_ZIP_BYTES}: see what it links with \
             `cargo tree -p {} -e normal` (two TLS stacks, an SDK crate's default \
             features) and the profile in the root Cargo.toml",
            entry.name,
            entry.size,
            entry.name
        );
        let zip = fs::File::open(out.path().join(&entry.file)).unwrap();
        let mut archive = zip::ZipArchive::new(zip).unwrap();
        assert_eq!(archive.len(), 1, "{}", entry.name);
        let mut bootstrap = archive.by_name("bootstrap").unwrap();
        assert_eq!(bootstrap.unix_mode().map(|m| m & 0o777), Some(0o755));
        let mut binary = Vec::new();
        bootstrap.read_to_end(&mut binary).unwrap();
        let too_new = glibc::symbols_newer_than(&binary, LAMBDA_GLIBC).unwrap();
        assert!(too_new.is_empty(), "{}: {too_new:?}", entry.name);
        // The binary's own evidence, beside the dependency tree's (below):
        // crates leave their source paths in it (panic locations).
        let providers: Vec<&str> = CRYPTO_PROVIDERS
            .into_iter()
            .filter(|provider| holds_code_of(&binary, provider))
            .collect();
        assert!(
            providers.len() <= 1,
            "{}: its binary holds code of both {providers:?}",
            entry.name
        );
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

#[test]
fn every_platform_function_links_one_tls_stack_with_one_crypto_provider() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for function in functions(root).unwrap() {
        let crates = linked_crates(root, &function.name);
        let providers: Vec<&str> = CRYPTO_PROVIDERS
            .into_iter()
            .filter(|provider| crates.contains_key(*provider))
            .collect();
        assert!(
            providers.len() <= 1,
            "{}: links both {providers:?}: load its SDK configuration with \
             `sdk_config::loader()` and build its SDK crates without their \
             `default-https-client` and `rustls` features \
             (`cargo tree -p {} -e normal -i aws-lc-rs` shows what pulls it in)",
            function.name,
            function.name
        );
        let rustls = crates.get("rustls").cloned().unwrap_or_default();
        assert!(
            rustls.len() <= 1,
            "{}: links rustls {rustls:?}, two TLS stacks (an SDK crate's legacy \
             `rustls` feature brings 0.21)",
            function.name
        );
    }
}

/// Crates that were in every zip for work the functions never do, each
/// with the change that keeps them out.
const KEPT_OUT: [(&[&str], &str); 2] = [
    (
        // 0.22 MB of ingest's zip, 0.23 of batch-import's.
        &["matchers", "regex-automata"],
        "tracing-subscriber's `env-filter` and its regex engine, where Lambda's \
         logging controls set one level: take lambda_runtime without its default \
         features and log through `lambda_logging::init()`",
    ),
    (
        &["icu_normalizer", "icu_properties"],
        "ICU4X, the Unicode back end of IDNA, which `url` (through aws-sdk-s3) \
         brings for non-ASCII host names; the functions only reach AWS \
         endpoints, all ASCII: `cargo update -p idna_adapter --precise 1.0.0` \
         (its ASCII-only stub) and commit Cargo.lock",
    ),
];

#[test]
fn no_function_links_code_it_has_no_use_for() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for function in functions(root).unwrap() {
        let crates = linked_crates(root, &function.name);
        assert!(
            crates.contains_key("tracing-subscriber"),
            "{}: {crates:?}",
            function.name
        );
        for (names, why) in KEPT_OUT {
            let linked: Vec<&str> = names
                .iter()
                .copied()
                .filter(|name| crates.contains_key(*name))
                .collect();
            assert!(
                linked.is_empty(),
                "{}: links {linked:?}, {why} (`cargo tree -p {} -e features -i {}` \
                 shows what brings it)",
                function.name,
                function.name,
                linked[0]
            );
        }
    }
}

#[test]
fn the_s3_functions_take_idnas_ascii_only_back_end() {
    // What keeps ICU4X out (above) is Cargo.lock's idna_adapter version.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let lake_writer = linked_crates(root, "lake-writer");
    assert!(lake_writer.contains_key("idna_adapter"), "{lake_writer:?}");
    assert_eq!(
        lake_writer["idna_adapter"],
        BTreeSet::from(["v1.0.0".to_owned()]),
        "idna_adapter 1.0 is the ASCII-only stub; 1.1 is unicode-rs, 1.2 ICU4X"
    );
}

#[test]
fn nothing_in_the_workspace_builds_aws_lc() {
    // The CLI passes the functions' HTTPS client (`sdk_config`) to its
    // configuration too: an SDK crate's `default-https-client` feature
    // anywhere in the workspace would bring aws-lc-rs back into every build
    // (its C library was 45 s of the cold test build).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let crates = tree_crates(
        root,
        &[
            "--workspace",
            "--edges",
            "normal,build,dev",
            "--target",
            "all",
        ],
    );
    assert!(crates.contains_key("ring"), "{crates:?}");
    let aws_lc: Vec<&String> = crates
        .keys()
        .filter(|name| name.starts_with("aws-lc-"))
        .collect();
    assert!(
        aws_lc.is_empty(),
        "the workspace builds {aws_lc:?}: build the SDK crates without \
         `default-https-client` and give every configuration \
         `sdk_config::https_client()` (`cargo tree --workspace -i aws-lc-rs` \
         shows what pulls it in)"
    );
}

#[test]
fn the_tls_check_sees_rustls_on_ring_in_an_sdk_function_and_no_tls_in_the_transform() {
    // The check above must see real trees: the SDK functions link rustls
    // on ring, the transform (no AWS calls) no TLS at all.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let lake_writer = linked_crates(root, "lake-writer");
    assert!(lake_writer.contains_key("rustls"), "{lake_writer:?}");
    assert!(lake_writer.contains_key("ring"), "{lake_writer:?}");
    assert!(!lake_writer.contains_key("aws-lc-rs"), "{lake_writer:?}");
    let transform = linked_crates(root, "firehose-transform");
    assert!(transform.contains_key("lambda_runtime"), "{transform:?}");
    assert!(!transform.contains_key("rustls"), "{transform:?}");
}

/// Whether `binary` holds a source path of the crate `name` (a panic
/// location such as `/cargo/registry/src/.../ring-0.17.14/src/...`).
fn holds_code_of(binary: &[u8], name: &str) -> bool {
    let marker = format!("/{name}-");
    binary
        .windows(marker.len() + 1)
        .any(|w| w.starts_with(marker.as_bytes()) && w[marker.len()].is_ascii_digit())
}

/// Crate name to versions in `package`'s normal dependency tree for
/// Lambda's target, resolved as cargo builds that package alone (with its
/// own features, not those of the whole workspace).
fn linked_crates(root: &Path, package: &str) -> BTreeMap<String, BTreeSet<String>> {
    tree_crates(
        root,
        &[
            "--package",
            package,
            "--edges",
            "normal",
            "--target",
            "x86_64-unknown-linux-gnu",
        ],
    )
}

/// Crate name to versions in the tree `cargo tree` prints for `selection`.
fn tree_crates(root: &Path, selection: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let mut args = selection.to_vec();
    args.extend(["--format", "{p}"]);
    let mut crates: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in cargo_tree(root, &args).lines() {
        let mut words = line.split_whitespace();
        if let (Some(name), Some(version)) = (words.next(), words.next()) {
            crates
                .entry(name.to_owned())
                .or_default()
                .insert(version.to_owned());
        }
    }
    crates
}
