//! Finding, checking and deploying the toolkit stack that owns the asset
//! bucket.

use stacks::assets::{TOOLKIT_STACK_NAME, TOOLKIT_VERSION};
use stacks::toolkit::{BUCKET_OUTPUT, VERSION_OUTPUT};

use super::cfn::{Cfn, StackState, TemplateSource};
use super::engine::{Engine, Outcome, StackRequest};
use super::error::{DeployError, Result};
use super::status::Phase;

/// A usable toolkit stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toolkit {
    pub bucket: String,
    pub version: u32,
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
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| broken(VERSION_OUTPUT))?;
    Ok(Toolkit { bucket, version })
}

/// Refuses a toolkit of another version than this build expects.
pub fn check(toolkit: &Toolkit) -> Result<()> {
    let stack = TOOLKIT_STACK_NAME.to_string();
    match toolkit.version.cmp(&TOOLKIT_VERSION) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Less => Err(DeployError::ToolkitOutdated {
            stack,
            found: toolkit.version,
            expected: TOOLKIT_VERSION,
        }),
        std::cmp::Ordering::Greater => Err(DeployError::ToolkitNewer {
            stack,
            found: toolkit.version,
            expected: TOOLKIT_VERSION,
        }),
    }
}

/// Creates or upgrades the toolkit stack; an up-to-date one is left alone
/// (`UpdateStack` would refuse a template without changes).
pub async fn bootstrap(engine: &Engine<'_>) -> Result<(Outcome, Toolkit)> {
    let deployed = super::plan::remote(engine.cfn, TOOLKIT_STACK_NAME).await?;
    if let Some(state) = &deployed.state
        && super::status::succeeded(&state.status)
        && deployed.template.as_ref() == Some(&stacks::toolkit::template())
    {
        return Ok((Outcome::NoChanges, read(state)?));
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
    };
    let (outcome, state) = engine.deploy(&request).await?;
    Ok((outcome, read(&state)?))
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
        assert!(matches!(err, DeployError::ToolkitOutdated { found: 0, .. }));
        assert!(err.hint().unwrap().contains("provisioner bootstrap"));
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
            ("Version", &TOOLKIT_VERSION.to_string()),
        ]))
        .unwrap();
        assert!(check(&toolkit).is_ok());
    }
}
