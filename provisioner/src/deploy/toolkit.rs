//! Finding, checking and deploying the toolkit stack that owns the asset
//! bucket.

use stacks::assets::{TOOLKIT_MINOR_VERSION, TOOLKIT_STACK_NAME, TOOLKIT_VERSION};
use stacks::toolkit::{BUCKET_OUTPUT, VERSION_OUTPUT};

use super::cfn::{Cfn, StackState, TemplateSource};
use super::engine::{Engine, Outcome, StackRequest};
use super::error::{DeployError, Result};
use super::status::Phase;

/// A usable toolkit stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toolkit {
    pub bucket: String,
    pub version: Version,
    /// The account that owns the stack and so its bucket (from the stack's
    /// ARN), for `ExpectedBucketOwner`.
    pub account: Option<String>,
}

/// A toolkit version, `MAJOR[.MINOR]` in the stack's `Version` output.
/// A minor version only adds to the toolkit (a permission, a lifecycle
/// rule): a provisioner of the same major version works with it, so two
/// people on different releases can share an account. A major version
/// changes what deploy relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
}

impl Version {
    /// The version this provisioner deploys.
    pub const CURRENT: Version = Version {
        major: TOOLKIT_VERSION,
        minor: TOOLKIT_MINOR_VERSION,
    };

    pub fn parse(text: &str) -> Option<Self> {
        let (major, minor) = text.split_once('.').unwrap_or((text, "0"));
        Some(Self {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.minor {
            0 => write!(f, "{}", self.major),
            minor => write!(f, "{}.{minor}", self.major),
        }
    }
}

/// The account in a stack ARN
/// (`arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/ID`).
pub fn account_of(stack_arn: &str) -> Option<String> {
    let mut parts = stack_arn.split(':');
    (parts.next() == Some("arn"))
        .then(|| parts.nth(3))
        .flatten()
        .filter(|account| !account.is_empty())
        .map(str::to_string)
}

/// The toolkit as deployed: `None` when it is missing or was never created
/// successfully.
pub async fn find(cfn: &Cfn) -> Result<Option<Toolkit>> {
    match cfn.describe(TOOLKIT_STACK_NAME).await? {
        None => Ok(None),
        Some(state) => match state.phase() {
            Phase::Review | Phase::FailedCreate => Ok(None),
            _ => read(&state).map(Some),
        },
    }
}

/// The toolkit's bucket and version from its outputs.
pub fn read(state: &StackState) -> Result<Toolkit> {
    let broken = |output| DeployError::ToolkitBroken {
        stack: TOOLKIT_STACK_NAME.to_string(),
        output,
        repair_tried: false,
    };
    let bucket = state
        .outputs
        .get(BUCKET_OUTPUT)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| broken(BUCKET_OUTPUT))?
        .clone();
    let version = state
        .outputs
        .get(VERSION_OUTPUT)
        .and_then(|v| Version::parse(v))
        .ok_or_else(|| broken(VERSION_OUTPUT))?;
    Ok(Toolkit {
        bucket,
        version,
        account: account_of(&state.id),
    })
}

/// Refuses a toolkit older than this build needs, or of a newer major
/// version; a newer minor version of the same major is fine.
pub fn check(toolkit: &Toolkit) -> Result<()> {
    let stack = TOOLKIT_STACK_NAME.to_string();
    let (found, expected) = (toolkit.version, Version::CURRENT);
    if found.major > expected.major {
        return Err(DeployError::ToolkitNewer {
            stack,
            found: found.to_string(),
            expected: expected.to_string(),
        });
    }
    if found < expected {
        return Err(DeployError::ToolkitOutdated {
            stack,
            found: found.to_string(),
            expected: expected.to_string(),
        });
    }
    Ok(())
}

/// A toolkit a newer provisioner of the same major version deployed: this
/// one works with it, and must not downgrade it.
fn newer_compatible(toolkit: &Toolkit) -> bool {
    toolkit.version > Version::CURRENT && check(toolkit).is_ok()
}

/// Creates or upgrades the toolkit stack; an up-to-date one is left alone
/// (`UpdateStack` would refuse a template without changes). A toolkit
/// stack without its outputs is repaired (see [`with_outputs`]).
///
/// `account` names the asset bucket in errors, and lets a direct create
/// (`--method direct`, which has no early validation) be refused before it
/// starts when the bucket is already there.
pub async fn bootstrap(
    engine: &Engine<'_>,
    account: Option<&Account<'_>>,
) -> Result<(Outcome, Toolkit)> {
    let result = bootstrap_stack(engine, account).await;
    match (result, account) {
        (Err(e), Some(account)) => Err(account.name_the_bucket(e).await),
        (result, _) => result,
    }
}

async fn bootstrap_stack(
    engine: &Engine<'_>,
    account: Option<&Account<'_>>,
) -> Result<(Outcome, Toolkit)> {
    let deployed = super::plan::remote(engine.cfn, TOOLKIT_STACK_NAME).await?;
    let request = request();
    let usable = deployed
        .state
        .as_ref()
        .is_some_and(|s| super::status::succeeded(&s.status));
    if !usable
        && engine.method == super::engine::Method::Direct
        && let Some(account) = account
        && let Some(bucket) = account.existing_bucket().await
    {
        return Err(DeployError::ToolkitBucketExists {
            stack: TOOLKIT_STACK_NAME.to_string(),
            bucket,
        });
    }
    if let Some(state) = &deployed.state
        && super::status::succeeded(&state.status)
    {
        if deployed.template.as_ref() == Some(&stacks::toolkit::template()) {
            let repaired = read(state).is_err();
            let toolkit = with_outputs(engine, &request, state).await?;
            let outcome = if repaired {
                Outcome::Updated
            } else {
                Outcome::NoChanges
            };
            return Ok((outcome, toolkit));
        }
        if let Ok(toolkit) = read(state)
            && newer_compatible(&toolkit)
        {
            return Ok((Outcome::NoChanges, toolkit));
        }
    }
    let (outcome, state) = match engine
        .deploy(&request)
        .await
        .map_err(bucket_exists)
        .map_err(bucket_taken)
    {
        // A bucket left by an earlier toolkit (deleted, or whose first
        // create failed before RetainExceptOnCreate): adopt it rather than
        // ask the user to empty it.
        Err(DeployError::ToolkitBucketExists { bucket, .. })
            if engine.method == super::engine::Method::ChangeSet
                && bucket != stacks::assets::ASSET_BUCKET_PATTERN =>
        {
            adopt(engine, &bucket).await?;
            let (_, state) = engine.deploy(&request).await?;
            (Outcome::Created, state)
        }
        Err(taken @ DeployError::ToolkitBucketExists { .. }) if !usable => {
            discard_failed_create(engine).await?;
            return Err(taken);
        }
        other => other?,
    };
    Ok((outcome, with_outputs(engine, &request, &state).await?))
}

/// An endpoint that does not roll back a failed create (moto) leaves the
/// toolkit stack `REVIEW_IN_PROGRESS` or `CREATE_IN_PROGRESS`, which would
/// block the next bootstrap as busy: it is deleted, as CloudFormation's
/// rollback would, so the account is as it was.
async fn discard_failed_create(engine: &Engine<'_>) -> Result<()> {
    let name = TOOLKIT_STACK_NAME;
    let Some(state) = engine.cfn.describe(name).await? else {
        return Ok(());
    };
    let baseline = engine.cfn.newest_event(&state.id).await?;
    let token = engine.token("discard", name);
    engine.cfn.delete_stack(&state.id, &token).await?;
    engine
        .cfn
        .wait_stack(
            name,
            &state.id,
            "delete",
            baseline,
            Some(&token),
            engine.progress,
        )
        .await?;
    Ok(())
}

/// The toolkit stack as this build deploys it.
fn request() -> StackRequest {
    StackRequest {
        name: TOOLKIT_STACK_NAME.to_string(),
        template: TemplateSource::Body(stacks::toolkit::template_body()),
        // Its bucket is retained anyway; protection would only get in the
        // way of a deliberate teardown of the account.
        termination_protection: false,
        resources: stacks::toolkit::template()["Resources"]
            .as_object()
            .map(|r| r.len()),
        exported: Default::default(),
    }
}

/// The toolkit read from `state`; when its outputs are missing, the stack
/// is first updated directly (`UpdateStack`) with the same template. An
/// emulator whose change sets create stacks without outputs (moto) sets
/// them on a direct update; real CloudFormation always sets them, and
/// answers such an update with "No updates are to be performed", which
/// leaves the stack reported broken, with the way out.
async fn with_outputs(
    engine: &Engine<'_>,
    request: &StackRequest,
    state: &StackState,
) -> Result<Toolkit> {
    let Err(DeployError::ToolkitBroken { stack, output, .. }) = read(state) else {
        return read(state);
    };
    engine.progress.note(&format!(
        "{stack} has no {output} output (an endpoint whose change sets set no outputs, such as \
         moto): updating it directly so that they are set"
    ));
    let direct = Engine {
        cfn: engine.cfn,
        progress: engine.progress,
        method: super::engine::Method::Direct,
        change_set_name: format!("{}-outputs", engine.change_set_name),
        replacement_gate: None,
        disable_rollback: false,
    };
    let still_broken = || DeployError::ToolkitBroken {
        stack: stack.clone(),
        output,
        repair_tried: true,
    };
    match direct.deploy(request).await {
        Ok((_, state)) => read(&state).map_err(|_| still_broken()),
        Err(DeployError::Aws(e)) if e.kind == super::error::AwsErrorKind::Validation => {
            Err(still_broken())
        }
        Err(e) => Err(e),
    }
}

/// Who the credentials belong to and what S3 holds there: what bootstrap
/// asks besides CloudFormation.
#[derive(Debug)]
pub struct Account<'a> {
    pub sts: &'a aws_sdk_sts::Client,
    pub s3: &'a aws_sdk_s3::Client,
    pub region: &'a str,
}

impl Account<'_> {
    /// The asset bucket's name, from STS's account.
    async fn bucket(&self) -> Option<(String, String)> {
        let caller = crate::preflight::account::caller(self.sts).await.ok()?;
        let name = bucket_name(&caller.account, self.region);
        Some((name, caller.account))
    }

    /// The asset bucket when it exists in this account (left by a deleted
    /// toolkit); `None` when it does not, or S3 cannot tell (the create
    /// then reports it).
    async fn existing_bucket(&self) -> Option<String> {
        let (bucket, account) = self.bucket().await?;
        self.s3
            .head_bucket()
            .bucket(&bucket)
            .expected_bucket_owner(account)
            .send()
            .await
            .ok()
            .map(|_| bucket)
    }

    /// The bucket named when `error` could not name it (an endpoint that
    /// answers the create with `BucketAlreadyExists`).
    async fn name_the_bucket(&self, error: DeployError) -> DeployError {
        match error {
            DeployError::ToolkitBucketExists { stack, bucket }
                if bucket == stacks::assets::ASSET_BUCKET_PATTERN =>
            {
                let bucket = self.bucket().await.map_or(bucket, |(name, _)| name);
                DeployError::ToolkitBucketExists { stack, bucket }
            }
            other => other,
        }
    }
}

/// The asset bucket's name in `account` and `region`, as the toolkit
/// template's `BucketName` makes it.
pub fn bucket_name(account: &str, region: &str) -> String {
    stacks::assets::ASSET_BUCKET_PATTERN
        .replace("${AWS::AccountId}", account)
        .replace("${AWS::Region}", region)
}

/// An endpoint without early validation (moto) fails the create itself
/// with S3's `BucketAlreadyExists` (or `BucketAlreadyOwnedByYou`): the
/// bucket of an earlier toolkit, which the caller names.
fn bucket_taken(error: DeployError) -> DeployError {
    match &error {
        DeployError::Aws(e)
            if matches!(
                e.code.as_deref(),
                Some("BucketAlreadyExists" | "BucketAlreadyOwnedByYou")
            ) =>
        {
            DeployError::ToolkitBucketExists {
                stack: TOOLKIT_STACK_NAME.to_string(),
                bucket: stacks::assets::ASSET_BUCKET_PATTERN.to_string(),
            }
        }
        _ => error,
    }
}

/// Imports the existing asset bucket into the toolkit stack (an `IMPORT`
/// change set whose template holds only the bucket); the normal deploy
/// that follows adds the rest and the outputs.
async fn adopt(engine: &Engine<'_>, bucket: &str) -> Result<()> {
    let name = TOOLKIT_STACK_NAME;
    engine.progress.note(&format!(
        "{name}: adopting the existing bucket {bucket} (import) instead of creating it"
    ));
    let mut template = stacks::toolkit::template();
    let only_bucket = serde_json::json!({
        stacks::toolkit::BUCKET_LOGICAL_ID:
            template["Resources"][stacks::toolkit::BUCKET_LOGICAL_ID].take()
    });
    template["Resources"] = only_bucket;
    if let Some(t) = template.as_object_mut() {
        t.remove("Outputs");
    }
    let change_set = engine
        .cfn
        .create_import_change_set(
            name,
            &format!("{}-import", engine.change_set_name),
            &template.to_string(),
            &[(
                "AWS::S3::Bucket",
                stacks::toolkit::BUCKET_LOGICAL_ID,
                "BucketName",
                bucket,
            )],
            &engine.token("import", name),
        )
        .await?;
    match engine.cfn.wait_change_set(name, &change_set.arn).await? {
        super::cfn::ChangeSetResult::Ready => {}
        super::cfn::ChangeSetResult::Empty { reason } => {
            return Err(DeployError::ChangeSetFailed {
                stack: name.to_string(),
                reason,
                details: Vec::new(),
            });
        }
        super::cfn::ChangeSetResult::Failed { reason, details } => {
            return Err(DeployError::ChangeSetFailed {
                stack: name.to_string(),
                reason,
                details,
            });
        }
    }
    let baseline = engine.cfn.newest_event(&change_set.stack_id).await?;
    let token = engine.token("exec-import", name);
    engine
        .cfn
        .execute_change_set(name, &change_set.arn, &token, false)
        .await?;
    engine
        .cfn
        .wait_stack(
            name,
            &change_set.stack_id,
            "import",
            baseline,
            Some(&token),
            engine.progress,
        )
        .await?;
    Ok(())
}

/// Early validation's finding that the bucket's name is taken: a bucket
/// retained from an earlier toolkit, named for what to do.
fn bucket_exists(error: DeployError) -> DeployError {
    let DeployError::ChangeSetFailed { details, .. } = &error else {
        return error;
    };
    let conflict = details.iter().find(|p| {
        p.logical_id == stacks::toolkit::BUCKET_LOGICAL_ID
            && p.check.as_deref() == Some("NAME_CONFLICT_VALIDATION")
    });
    match conflict {
        Some(problem) => DeployError::ToolkitBucketExists {
            stack: TOOLKIT_STACK_NAME.to_string(),
            bucket: problem
                .physical_id
                .clone()
                .unwrap_or_else(|| stacks::assets::ASSET_BUCKET_PATTERN.to_string()),
        },
        None => error,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn state(outputs: &[(&str, &str)]) -> StackState {
        StackState {
            id: "id".into(),
            name: TOOLKIT_STACK_NAME.into(),
            status: "CREATE_COMPLETE".into(),
            status_reason: None,
            termination_protection: false,
            outputs: outputs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn an_older_toolkit_asks_for_a_bootstrap() {
        let toolkit = read(&state(&[("AssetBucket", "b"), ("Version", "0")])).unwrap();
        let err = check(&toolkit).unwrap_err();
        assert!(matches!(&err, DeployError::ToolkitOutdated { found, .. } if found == "0"));
        assert!(err.hint().unwrap().contains("provisioner bootstrap"));
    }

    #[test]
    fn a_newer_toolkit_of_the_same_major_version_is_used_and_not_downgraded() {
        let newer = format!("{TOOLKIT_VERSION}.3");
        let toolkit = read(&state(&[("AssetBucket", "b"), ("Version", &newer)])).unwrap();
        assert_eq!(toolkit.version.to_string(), newer);
        assert!(check(&toolkit).is_ok());
        assert!(newer_compatible(&toolkit));
    }

    #[test]
    fn a_toolkit_of_a_newer_major_version_asks_to_upgrade_provisioner() {
        let next = (TOOLKIT_VERSION + 1).to_string();
        let toolkit = read(&state(&[("AssetBucket", "b"), ("Version", &next)])).unwrap();
        let err = check(&toolkit).unwrap_err();
        assert!(matches!(err, DeployError::ToolkitNewer { .. }));
        assert!(!newer_compatible(&toolkit));
    }

    #[test]
    fn the_bucket_owner_is_the_account_of_the_toolkit_stack() {
        assert_eq!(
            account_of("arn:aws:cloudformation:eu-west-1:123456789012:stack/provisioner-toolkit/1")
                .as_deref(),
            Some("123456789012")
        );
        assert_eq!(account_of("provisioner-toolkit"), None);
    }

    #[test]
    fn a_toolkit_without_outputs_is_reported_broken() {
        let err = read(&state(&[])).unwrap_err();
        assert!(matches!(
            err,
            DeployError::ToolkitBroken {
                output: "AssetBucket",
                repair_tried: false,
                ..
            }
        ));
    }

    #[test]
    fn the_current_toolkit_passes() {
        let toolkit = read(&state(&[
            ("AssetBucket", "provisioner-assets-1-eu-west-1"),
            ("Version", &stacks::toolkit::toolkit_version()),
        ]))
        .unwrap();
        assert!(check(&toolkit).is_ok());
    }

    #[test]
    fn a_toolkit_without_the_api_gateway_role_asks_for_a_bootstrap() {
        let before = format!("{TOOLKIT_VERSION}");
        let toolkit = read(&state(&[("AssetBucket", "b"), ("Version", &before)])).unwrap();
        let err = check(&toolkit).unwrap_err();
        assert!(matches!(err, DeployError::ToolkitOutdated { .. }));
    }
}
