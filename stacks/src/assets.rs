//! Lambda code assets as the stacks see them: a content hash per function.
//!
//! Building the zips is the binary's job (`provisioner::assets`); the stacks
//! only need each function's sha256 to reference `s3://<asset bucket>/<key>`.

use std::collections::BTreeMap;

/// Name of the asset bucket, per account and region, created by the
/// toolkit stack (`provisioner bootstrap`). A `Fn::Sub` pattern.
pub const ASSET_BUCKET_PATTERN: &str = "provisioner-assets-${AWS::AccountId}-${AWS::Region}";

/// Name of the toolkit stack that owns the asset bucket.
pub const TOOLKIT_STACK_NAME: &str = "provisioner-toolkit";

/// Version of the toolkit stack this build of the tool expects.
pub const TOOLKIT_VERSION: u32 = 1;

/// Its minor version: what a toolkit of the same major version has gained
/// (1: API Gateway's account-wide CloudWatch role).
pub const TOOLKIT_MINOR_VERSION: u32 = 1;

/// The S3 key of an asset: its content hash, so a changed zip gets a new key
/// and an unchanged one leaves the template (and the stack) untouched.
pub fn asset_key(sha256: &str) -> String {
    format!("{sha256}.zip")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    pub sha256: String,
    pub size: u64,
}

/// Function name (crate name under `lambdas/`) to its built asset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssetTable {
    assets: BTreeMap<String, Asset>,
}

impl AssetTable {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, function: impl Into<String>, asset: Asset) {
        self.assets.insert(function.into(), asset);
    }

    pub fn get(&self, function: &str) -> Option<&Asset> {
        self.assets.get(function)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Asset)> {
        self.assets.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Every function without a built asset: for commands that show only the
    /// platform's structure (`provisioner list`), which stack order and
    /// dependencies do not depend on. Its all-zero hashes must never reach a
    /// template that is written or deployed.
    pub fn unbuilt<S: AsRef<str>>(functions: &[S]) -> Self {
        let mut table = Self::new();
        for function in functions {
            let (sha256, size) = ("0".repeat(64), 0);
            table.insert(function.as_ref(), Asset { sha256, size });
        }
        table
    }

    /// A table with a stable fake hash per function, for tests and benchmarks
    /// of synth that must not build Lambdas.
    pub fn fixture(functions: &[&str]) -> Self {
        let mut table = Self::new();
        for (i, f) in functions.iter().enumerate() {
            table.insert(
                *f,
                Asset {
                    sha256: format!("{:064x}", i + 1),
                    size: 1024,
                },
            );
        }
        table
    }
}
