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
    /// The account and region it deploys into, where the stage spans
    /// accounts; absent: the account of the deploying credentials, in the
    /// manifest's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<StackAccount>,
}

/// One account of a stage that spans several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackAccount {
    pub id: String,
    pub region: String,
    /// The profile `deploy` uses for it unless a flag names another.
    pub profile: String,
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

impl Manifest {
    /// The manifest of synthesised stacks (already in deploy order) and the
    /// assets built for them.
    pub fn new(
        stage: &crate::stage::Stage,
        stacks: &[crate::model::SynthesizedStack],
        assets: Vec<AssetEntry>,
    ) -> Self {
        use sha2::{Digest, Sha256};
        Self {
            version: MANIFEST_VERSION,
            stage: stage.name.to_string(),
            region: stage.region.to_string(),
            stacks: stacks
                .iter()
                .map(|s| StackEntry {
                    id: s.id.clone(),
                    stack_name: s.stack_name.clone(),
                    template_file: template_file(&s.id),
                    template_sha256: hex::encode(Sha256::digest(s.body.as_bytes())),
                    template_bytes: s.body.len() as u64,
                    resource_count: s.template.resources.len(),
                    termination_protection: stage.termination_protection,
                    dependencies: s.dependencies.clone(),
                    exports: s.exports.clone(),
                    assets: s.assets.clone(),
                    account: s
                        .account
                        .as_deref()
                        .and_then(|id| stage.account(id))
                        .map(|account| StackAccount {
                            id: account.id.to_string(),
                            region: account.region.to_string(),
                            profile: account.profile.to_string(),
                        }),
                })
                .collect(),
            assets,
        }
    }

    /// Pretty JSON with a final newline, like the templates.
    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).expect("the manifest is plain data");
        json.push('\n');
        json
    }
}

/// File name of a stack's template in the synth output folder.
pub fn template_file(stack_id: &str) -> String {
    format!("{stack_id}.template.json")
}
