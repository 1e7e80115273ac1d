//! The synth output manifest: the contract between `synth` (which writes it)
//! and `deploy`, `diff`, `destroy` and `verify` (which only read it).
//!
//! Paths inside the manifest are relative to the folder that holds it.

use serde::{Deserialize, Serialize};

/// Bumped when a reader of an older manifest would misread this one.
pub const MANIFEST_VERSION: u32 = 1;

/// File name of the manifest inside the synth output folder.
pub const MANIFEST_FILE: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub version: u32,
    pub stage: String,
    pub region: String,
    /// Stacks in deploy order: every stack comes after its dependencies.
    pub stacks: Vec<StackEntry>,
    /// Lambda code bundles, uploaded to the asset bucket before any stack.
    pub assets: Vec<AssetEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackEntry {
    /// Short name used on the command line, e.g. `Network`.
    pub id: String,
    /// CloudFormation stack name, e.g. `retail-prod-network`.
    pub stack_name: String,
    /// Template file name, e.g. `Network.template.json`.
    pub template_file: String,
    /// sha256 of the template bytes, to skip unchanged stacks cheaply.
    pub template_sha256: String,
    pub template_bytes: u64,
    pub resource_count: usize,
    pub termination_protection: bool,
    /// Stacks this one imports from, each with the references that caused it.
    pub dependencies: Vec<Dependency>,
    /// Export names this stack publishes.
    pub exports: Vec<String>,
    /// Names of the assets its templates reference.
    pub assets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    /// Short id of the producer stack.
    pub stack: String,
    /// e.g. `Warehouse/Cluster -> Network/RedshiftSecurityGroup.GroupId`.
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetEntry {
    /// Function name, e.g. `ingest`.
    pub name: String,
    pub sha256: String,
    /// Key in the asset bucket, derived from the content hash.
    pub s3_key: String,
    /// Zip file, relative to the manifest.
    pub file: String,
    pub size: u64,
}

impl Manifest {
    pub fn stack(&self, id: &str) -> Option<&StackEntry> {
        self.stacks
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(id) || s.stack_name == id)
    }
}
