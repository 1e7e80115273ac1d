//! `deploy --hotswap`: a stack whose only differences from the deployed
//! template are the code of its Lambda functions gets that code through
//! Lambda's `UpdateFunctionCode`, skipping CloudFormation; any other
//! difference sends the stack through the normal deploy, with the reason.
//!
//! A hotswap leaves the stack's template naming the previous code (drift);
//! the next deploy without `--hotswap` brings the stack in step. Protected
//! stages (prod) refuse it unless forced.

use std::time::{Duration, Instant};

use serde_json::Value;
use stacks::manifest::AssetEntry;
use stacks::stage::Stage;

use super::cfn::Cfn;
use super::diff::{Change, StackDiff};
use super::error::{AwsError, AwsErrorKind, DeployError, Result};
use super::plan::Remote;
use super::status;
use crate::failure::{CommandResult, Failure};

pub const FUNCTION_TYPE: &str = "AWS::Lambda::Function";

/// Longest wait for one function's update. Lambda's own `FunctionUpdated`
/// waiter gives up after 5 minutes.
const MAX_UPDATE_WAIT: Duration = Duration::from_secs(300);

/// How `--hotswap` runs: the Lambda API it goes through, and whether a
/// protected stage is forced.
#[derive(Debug, Clone)]
pub struct Hotswap {
    pub lambda: Lambda,
    pub force: bool,
}

/// Refuses `--hotswap` on a protected stage (termination protection or
/// retained data, i.e. prod) unless `force`: checked before anything runs.
pub fn check_stage(stage: &Stage, force: bool) -> CommandResult {
    if force || !(stage.termination_protection || stage.retain_data) {
        return Ok(());
    }
    Err(Failure::usage(anyhow::anyhow!(
        "--hotswap refused for stage {}: it is protected, and a hotswap leaves its functions \
         running code their stacks do not name",
        stage.name
    ))
    .hint(format!(
        "nothing was changed; deploy without --hotswap (through CloudFormation), or add \
         --hotswap-prod if drift on {} is intended",
        stage.name
    )))
}

/// What `--hotswap` does with a stack that needs deploying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Only these functions' code differs.
    Hotswap(Vec<CodeChange>),
    /// Deployed through CloudFormation; the reason names the first
    /// difference that is not function code.
    Fallback(String),
}

/// A function whose code becomes `asset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChange {
    pub logical_id: String,
    pub asset: AssetEntry,
}

/// Whether the difference between the deployed stack (`remote`) and the
/// new template (`new`, with its `diff`) is code only, whose new keys are
/// among `assets`.
pub fn classify(remote: &Remote, new: &Value, diff: &StackDiff, assets: &[AssetEntry]) -> Plan {
    let (Some(state), Some(old)) = (&remote.state, &remote.template) else {
        return Plan::Fallback("the stack is not deployed yet".into());
    };
    if !status::succeeded(&state.status) {
        return Plan::Fallback(format!("the stack is {}", state.status));
    }
    // The diff covers Resources and Outputs; any other section (Parameters,
    // Conditions, Description...) is a stack change too.
    if let Some(section) = changed_section(old, new) {
        return Plan::Fallback(format!("{section} changed"));
    }
    if let Some((id, change)) = diff.outputs.first() {
        return Plan::Fallback(format!("Output {id} {}", change_word(*change)));
    }
    let mut changes = Vec::new();
    for resource in &diff.resources {
        let id = &resource.logical_id;
        if resource.change != Change::Modified {
            return Plan::Fallback(format!(
                "{id} ({}) {}",
                resource.resource_type,
                change_word(resource.change)
            ));
        }
        let not_code = resource
            .paths
            .iter()
            .find(|p| resource.resource_type != FUNCTION_TYPE || !is_code_path(p));
        if let Some(path) = not_code {
            return Plan::Fallback(format!("{id} {path} changed"));
        }
        let code = &new["Resources"][id]["Properties"]["Code"];
        match asset_of(code, assets) {
            Some(asset) => changes.push(CodeChange {
                logical_id: id.clone(),
                asset: asset.clone(),
            }),
            None => {
                return Plan::Fallback(format!(
                    "{id} Properties.Code is not an asset in the asset bucket"
                ));
            }
        }
    }
    if changes.is_empty() {
        return Plan::Fallback("no function code differs".into());
    }
    Plan::Hotswap(changes)
}

fn change_word(change: Change) -> &'static str {
    match change {
        Change::Added => "added",
        Change::Removed => "removed",
        Change::Modified => "changed",
    }
}

fn is_code_path(path: &str) -> bool {
    path == "Properties.Code" || path.starts_with("Properties.Code.")
}

/// The first top-level section besides Resources and Outputs that differs.
fn changed_section(old: &Value, new: &Value) -> Option<String> {
    let empty = serde_json::Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.into_iter()
        .filter(|k| !matches!(k.as_str(), "Resources" | "Outputs"))
        .find(|k| old.get(*k) != new.get(*k))
        .cloned()
}

/// The manifest asset a function's `Code` names: in the asset bucket (the
/// toolkit's, where deploy uploads), under an asset's key.
fn asset_of<'a>(code: &Value, assets: &'a [AssetEntry]) -> Option<&'a AssetEntry> {
    let in_asset_bucket =
        code["S3Bucket"] == serde_json::json!({"Fn::Sub": stacks::assets::ASSET_BUCKET_PATTERN});
    let key = code["S3Key"].as_str()?;
    let extra = code
        .as_object()?
        .keys()
        .any(|k| !matches!(k.as_str(), "S3Bucket" | "S3Key"));
    (in_asset_bucket && !extra)
        .then(|| assets.iter().find(|a| a.s3_key == key))
        .flatten()
}

/// Lambda's `CodeSha256`: the base64 of the zip's sha256, where the
/// manifest holds it in hex.
pub fn code_sha256(hex_sha256: &str) -> Option<String> {
    hex::decode(hex_sha256)
        .ok()
        .map(aws_smithy_types::base64::encode)
}

/// A function's last update as Lambda reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastUpdate {
    InProgress,
    /// Also a function never updated since its creation (no status).
    Successful,
    Failed {
        reason: String,
    },
}

impl LastUpdate {
    /// From `LastUpdateStatus`, `LastUpdateStatusReasonCode` and
    /// `LastUpdateStatusReason`.
    pub fn from_status(status: Option<&str>, code: Option<&str>, reason: Option<&str>) -> Self {
        match status {
            Some("InProgress") => LastUpdate::InProgress,
            Some("Failed") => LastUpdate::Failed {
                reason: match (code, reason) {
                    (Some(code), Some(reason)) => format!("{code}: {reason}"),
                    (Some(text), None) | (None, Some(text)) => text.to_string(),
                    (None, None) => "no reason given".to_string(),
                },
            },
            _ => LastUpdate::Successful,
        }
    }
}

/// A function's configuration, as far as a hotswap needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionState {
    pub code_sha256: String,
    pub last_update: LastUpdate,
}

/// The Lambda calls a hotswap makes, each with its action in its error.
#[derive(Debug, Clone)]
pub struct Lambda {
    client: aws_sdk_lambda::Client,
    /// Time between two polls of an update in progress.
    poll: Duration,
}

impl Lambda {
    pub fn new(client: aws_sdk_lambda::Client, poll: Duration) -> Self {
        Self { client, poll }
    }

    /// The Lambda API of `region`, configured as the other clients are.
    pub async fn connect(aws: &crate::aws::AwsOptions, region: &str, poll: Duration) -> Self {
        let shared = crate::aws::sdk_config(aws, region).await;
        Self::new(aws_sdk_lambda::Client::new(&shared), poll)
    }

    pub async fn state(&self, function: &str) -> Result<FunctionState> {
        let answer = self
            .client
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    format!("reading the configuration of function {function}"),
                    e,
                )
            })?;
        Ok(FunctionState {
            code_sha256: answer.code_sha256().unwrap_or_default().to_string(),
            last_update: LastUpdate::from_status(
                answer.last_update_status().map(|s| s.as_str()),
                answer.last_update_status_reason_code().map(|c| c.as_str()),
                answer.last_update_status_reason(),
            ),
        })
    }

    pub async fn update_code(&self, function: &str, bucket: &str, key: &str) -> Result<()> {
        self.client
            .update_function_code()
            .function_name(function)
            .s3_bucket(bucket)
            .s3_key(key)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    format!("updating the code of function {function} to s3://{bucket}/{key}"),
                    e,
                )
            })?;
        Ok(())
    }

    /// The function's state once no update is in progress.
    pub async fn settled(&self, function: &str) -> Result<FunctionState> {
        let deadline = Instant::now() + MAX_UPDATE_WAIT;
        loop {
            let state = self.state(function).await?;
            if state.last_update != LastUpdate::InProgress {
                return Ok(state);
            }
            if Instant::now() >= deadline {
                return Err(failure(
                    function,
                    format!(
                        "its update is still in progress after {} s",
                        MAX_UPDATE_WAIT.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

/// A hotswapped function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swapped {
    pub logical_id: String,
    /// It already ran this code (an earlier hotswap): nothing was sent.
    pub already: bool,
}

/// `IngestFunction, QueryFunction (already running this code)`.
pub fn summary(swapped: &[Swapped]) -> String {
    swapped
        .iter()
        .map(|s| {
            if s.already {
                format!("{} (already running this code)", s.logical_id)
            } else {
                s.logical_id.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sends each changed function of `stack` its new code from `bucket`,
/// waits until the update is done and checks that Lambda runs the asset.
pub async fn run(
    cfn: &Cfn,
    lambda: &Lambda,
    stack: &str,
    bucket: &str,
    changes: &[CodeChange],
) -> Result<Vec<Swapped>> {
    let resources = cfn.resources(stack).await?;
    let swaps = changes.iter().map(|change| async {
        let function = resources
            .iter()
            .find(|(id, kind, _)| id == &change.logical_id && kind == FUNCTION_TYPE)
            .map(|(_, _, physical)| physical.as_str())
            .ok_or_else(|| {
                failure(
                    &change.logical_id,
                    format!("{stack} lists no such function; deploy without --hotswap"),
                )
            })?;
        swap(lambda, function, bucket, change).await
    });
    futures_util::future::join_all(swaps)
        .await
        .into_iter()
        .collect()
}

async fn swap(
    lambda: &Lambda,
    function: &str,
    bucket: &str,
    change: &CodeChange,
) -> Result<Swapped> {
    let expected = code_sha256(&change.asset.sha256).ok_or_else(|| {
        failure(
            function,
            format!(
                "the manifest's sha256 of asset {} is not hex: {}",
                change.asset.name, change.asset.sha256
            ),
        )
    })?;
    let swapped = |already| Swapped {
        logical_id: change.logical_id.clone(),
        already,
    };
    if lambda.settled(function).await?.code_sha256 == expected {
        return Ok(swapped(true));
    }
    lambda
        .update_code(function, bucket, &change.asset.s3_key)
        .await?;
    let after = lambda.settled(function).await?;
    verify(&after, &expected).map_err(|message| failure(function, message))?;
    Ok(swapped(false))
}

/// A finished update that runs the expected code, or what is wrong.
pub fn verify(state: &FunctionState, expected_sha256: &str) -> Result<(), String> {
    if let LastUpdate::Failed { reason } = &state.last_update {
        return Err(format!("its update failed: {reason}"));
    }
    if state.code_sha256 != expected_sha256 {
        return Err(format!(
            "it runs code with CodeSha256 {}, not the asset's {expected_sha256}",
            state.code_sha256
        ));
    }
    Ok(())
}

fn failure(function: &str, message: String) -> DeployError {
    AwsError {
        action: format!("hotswapping function {function}"),
        kind: AwsErrorKind::Other,
        code: None,
        message,
    }
    .into()
}

/// What a `--hotswap` run prints after the summary: the stacks that fell
/// back and why, and the drift warning when any code was hotswapped.
pub fn write_notes(
    out: &mut dyn std::io::Write,
    fallbacks: &[(&str, &str)],
    hotswapped: &[&str],
) -> std::io::Result<()> {
    for (stack, reason) in fallbacks {
        writeln!(
            out,
            "hotswap: {stack} fell back to a CloudFormation deploy: {reason}"
        )?;
    }
    if !hotswapped.is_empty() {
        writeln!(
            out,
            "warning: hotswapped code drifts from its stack: the templates of {} still name the \
             previous code; the next deploy without --hotswap brings them in step",
            hotswapped.join(", ")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::deploy::cfn::StackState;
    use crate::deploy::diff::diff;

    const OLD_SHA: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const NEW_SHA: &str = "2222222222222222222222222222222222222222222222222222222222222222";

    fn asset(name: &str, sha: &str) -> AssetEntry {
        AssetEntry {
            name: name.into(),
            sha256: sha.into(),
            s3_key: stacks::assets::asset_key(sha),
            file: format!("assets/{sha}.zip"),
            size: 1,
        }
    }

    fn assets() -> Vec<AssetEntry> {
        vec![asset("ingest", NEW_SHA), asset("query", OLD_SHA)]
    }

    fn function(sha: &str, timeout: u32) -> Value {
        json!({"Type": FUNCTION_TYPE, "Properties": {
            "Code": {"S3Bucket": {"Fn::Sub": stacks::assets::ASSET_BUCKET_PATTERN},
                     "S3Key": stacks::assets::asset_key(sha)},
            "Handler": "bootstrap", "Timeout": timeout,
            "Role": {"Fn::GetAtt": ["IngestRole", "Arn"]}}})
    }

    fn template(ingest: Value) -> Value {
        json!({"Resources": {
            "IngestFunction": ingest,
            "QueryFunction": function(OLD_SHA, 10),
            "IngestRole": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "ingest"}}
        }, "Outputs": {"Url": {"Value": "x"}}})
    }

    fn deployed(template: Value, status: &str) -> Remote {
        Remote {
            state: Some(StackState {
                id: "arn:stack".into(),
                name: "retail-dev-api".into(),
                status: status.into(),
                status_reason: None,
                termination_protection: false,
                outputs: Default::default(),
            }),
            template: Some(template),
        }
    }

    fn classify_change(old: &Value, new: &Value) -> Plan {
        classify(
            &deployed(old.clone(), "UPDATE_COMPLETE"),
            new,
            &diff(Some(old), new),
            &assets(),
        )
    }

    #[test]
    fn a_new_asset_key_alone_is_hotswapped_with_its_asset() {
        let old = template(function(OLD_SHA, 10));
        let new = template(function(NEW_SHA, 10));
        assert_eq!(
            classify_change(&old, &new),
            Plan::Hotswap(vec![CodeChange {
                logical_id: "IngestFunction".into(),
                asset: asset("ingest", NEW_SHA),
            }])
        );
    }

    #[test]
    fn a_changed_timeout_falls_back_naming_its_path() {
        let old = template(function(OLD_SHA, 10));
        let new = template(function(NEW_SHA, 20));
        assert_eq!(
            classify_change(&old, &new),
            Plan::Fallback("IngestFunction Properties.Timeout changed".into())
        );
    }

    #[test]
    fn a_changed_environment_variable_falls_back() {
        let old = template(function(OLD_SHA, 10));
        let mut changed = function(NEW_SHA, 10);
        changed["Properties"]["Environment"] = json!({"Variables": {"TABLE": "b"}});
        let new = template(changed);
        assert_eq!(
            classify_change(&old, &new),
            Plan::Fallback("IngestFunction Properties.Environment changed".into())
        );
    }

    #[test]
    fn a_new_resource_falls_back() {
        let old = template(function(OLD_SHA, 10));
        let mut new = template(function(NEW_SHA, 10));
        new["Resources"]["Queue"] = json!({"Type": "AWS::SQS::Queue"});
        assert_eq!(
            classify_change(&old, &new),
            Plan::Fallback("Queue (AWS::SQS::Queue) added".into())
        );
    }

    #[test]
    fn a_change_outside_a_function_falls_back() {
        let old = template(function(OLD_SHA, 10));
        let mut new = template(function(NEW_SHA, 10));
        new["Resources"]["IngestRole"]["Properties"]["RoleName"] = json!("other");
        assert_eq!(
            classify_change(&old, &new),
            Plan::Fallback("IngestRole Properties.RoleName changed".into())
        );
    }

    #[test]
    fn a_changed_parameter_or_output_falls_back() {
        let old = template(function(OLD_SHA, 10));
        let mut new = template(function(NEW_SHA, 10));
        new["Parameters"] = json!({"Stage": {"Type": "String"}});
        assert_eq!(
            classify_change(&old, &new),
            Plan::Fallback("Parameters changed".into())
        );
        let mut new = template(function(NEW_SHA, 10));
        new["Outputs"]["Url"]["Value"] = json!("y");
        assert_eq!(
            classify_change(&old, &new),
            Plan::Fallback("Output Url changed".into())
        );
    }

    #[test]
    fn code_that_is_not_a_manifest_asset_falls_back() {
        let old = template(function(OLD_SHA, 10));
        let mut unknown = function(OLD_SHA, 10);
        unknown["Properties"]["Code"]["S3Key"] = json!("elsewhere.zip");
        assert_eq!(
            classify_change(&old, &template(unknown)),
            Plan::Fallback(
                "IngestFunction Properties.Code is not an asset in the asset bucket".into()
            )
        );
        let mut inline = function(OLD_SHA, 10);
        inline["Properties"]["Code"] = json!({"ZipFile": "exports.handler = 1"});
        assert!(matches!(
            classify_change(&old, &template(inline)),
            Plan::Fallback(_)
        ));
    }

    #[test]
    fn a_stack_not_deployed_or_not_settled_falls_back() {
        let new = template(function(NEW_SHA, 10));
        assert_eq!(
            classify(&Remote::default(), &new, &diff(None, &new), &assets()),
            Plan::Fallback("the stack is not deployed yet".into())
        );
        let old = template(function(OLD_SHA, 10));
        assert_eq!(
            classify(
                &deployed(old.clone(), "UPDATE_ROLLBACK_COMPLETE"),
                &new,
                &diff(Some(&old), &new),
                &assets()
            ),
            Plan::Fallback("the stack is UPDATE_ROLLBACK_COMPLETE".into())
        );
    }

    #[test]
    fn an_unchanged_template_has_nothing_to_hotswap() {
        let old = template(function(OLD_SHA, 10));
        assert_eq!(
            classify_change(&old, &old),
            Plan::Fallback("no function code differs".into())
        );
    }

    #[test]
    fn prod_refuses_hotswap_unless_forced_and_dev_allows_it() {
        let prod = Stage::named("prod").unwrap();
        let refused = check_stage(prod, false).unwrap_err();
        assert_eq!(refused.code, crate::failure::ExitCode::Usage);
        assert!(refused.to_string().contains("stage prod"), "{refused}");
        assert!(refused.hint.unwrap().contains("--hotswap-prod"));
        assert!(check_stage(prod, true).is_ok());
        assert!(check_stage(Stage::named("dev").unwrap(), false).is_ok());
    }

    #[test]
    fn code_sha256_is_the_base64_of_the_hex_digest() {
        // sha256 of the empty string, as hex and as Lambda reports it
        // (`openssl dgst -sha256 -binary | base64`).
        assert_eq!(
            code_sha256("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
                .as_deref(),
            Some("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
        );
        assert_eq!(code_sha256("not hex"), None);
    }

    #[test]
    fn a_failed_update_reports_its_reason_and_a_wrong_sha_is_caught() {
        let failed = LastUpdate::from_status(
            Some("Failed"),
            Some("InvalidZipFileException"),
            Some("could not unzip"),
        );
        let state = FunctionState {
            code_sha256: "new".into(),
            last_update: failed,
        };
        assert_eq!(
            verify(&state, "new").unwrap_err(),
            "its update failed: InvalidZipFileException: could not unzip"
        );
        let stale = FunctionState {
            code_sha256: "old".into(),
            last_update: LastUpdate::Successful,
        };
        assert!(
            verify(&stale, "new")
                .unwrap_err()
                .contains("CodeSha256 old")
        );
        let done = FunctionState {
            code_sha256: "new".into(),
            last_update: LastUpdate::from_status(Some("Successful"), None, None),
        };
        assert_eq!(verify(&done, "new"), Ok(()));
    }

    #[test]
    fn an_update_in_progress_is_waited_for_and_no_status_means_settled() {
        assert_eq!(
            LastUpdate::from_status(Some("InProgress"), None, None),
            LastUpdate::InProgress
        );
        assert_eq!(
            LastUpdate::from_status(None, None, None),
            LastUpdate::Successful
        );
    }

    #[test]
    fn notes_name_each_fallback_and_warn_of_drift() {
        let mut out = Vec::new();
        write_notes(
            &mut out,
            &[("Streaming", "WriterFunction Properties.Timeout changed")],
            &["Api"],
        )
        .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains(
            "hotswap: Streaming fell back to a CloudFormation deploy: WriterFunction Properties.Timeout changed"
        ));
        assert!(out.contains("warning: hotswapped code drifts"));
        assert!(out.contains("without --hotswap"));
        let mut quiet = Vec::new();
        write_notes(&mut quiet, &[], &[]).unwrap();
        assert!(quiet.is_empty());
    }
}
