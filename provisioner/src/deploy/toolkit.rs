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
/// (`UpdateStack` would refuse a template without changes).
pub async fn bootstrap(engine: &Engine<'_>) -> Result<(Outcome, Toolkit)> {
    let deployed = super::plan::remote(engine.cfn, TOOLKIT_STACK_NAME).await?;
    if let Some(state) = &deployed.state
        && super::status::succeeded(&state.status)
    {
        if deployed.template.as_ref() == Some(&stacks::toolkit::template()) {
            return Ok((Outcome::NoChanges, read(state)?));
        }
        if let Ok(toolkit) = read(state)
            && newer_compatible(&toolkit)
        {
            return Ok((Outcome::NoChanges, toolkit));
        }
    }
    let request = StackRequest {
        name: TOOLKIT_STACK_NAME.to_string(),
        template: TemplateSource::Body(stacks::toolkit::template_body()),
        // Its bucket is retained anyway; protection would only get in the
        // way of a deliberate teardown of the account.
        termination_protection: false,
        resources: stacks::toolkit::template()["Resources"]
            .as_object()
            .map(|r| r.len()),
        exported: Default::default(),
    };
    let (outcome, state) = match engine.deploy(&request).await.map_err(bucket_exists) {
        // A bucket left by an earlier toolkit (deleted, or whose first
        // create failed before RetainExceptOnCreate): adopt it rather than
        // ask the user to empty it.
        Err(DeployError::ToolkitBucketExists { bucket, .. })
            if engine.method == super::engine::Method::ChangeSet =>
        {
            adopt(engine, &bucket).await?;
            let (_, state) = engine.deploy(&request).await?;
            (Outcome::Created, state)
        }
        other => other?,
    };
    Ok((outcome, read(&state)?))
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
