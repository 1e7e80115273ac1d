//! What deploy, diff and destroy share: the synthesised stacks read from the
//! synth folder, the selection of stacks on the command line, and each
//! stack as deployed.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};
use stacks::manifest::{Manifest, StackEntry};

use super::cfn::{Cfn, StackState};
use super::diff::StackDiff;
use super::error::{DeployError, Result};
use super::hotswap::Plan;
use super::status::{self, Phase};
use crate::failure::Failure;

/// A synthesised stack with its template.
#[derive(Debug, Clone)]
pub struct LocalStack {
    pub entry: StackEntry,
    pub body: String,
    pub template: Value,
}

/// Reads the templates of `ids` (manifest order is kept).
pub fn read_local(dir: &Path, manifest: &Manifest, ids: &[String]) -> Result<Vec<LocalStack>> {
    manifest
        .stacks
        .iter()
        .filter(|entry| ids.contains(&entry.id))
        .map(|entry| {
            let path = dir.join(&entry.template_file);
            let read_error = |source| DeployError::ReadFile {
                path: path.display().to_string(),
                source,
            };
            let body = fs::read_to_string(&path).map_err(read_error)?;
            // The manifest pins each template's bytes: an edit after synth
            // would deploy something no synth produced.
            let sha256 = hex::encode(Sha256::digest(body.as_bytes()));
            if sha256 != entry.template_sha256 {
                return Err(read_error(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "its sha256 is {sha256}, the manifest says {}: it changed after synth",
                        entry.template_sha256
                    ),
                )));
            }
            let template = serde_json::from_str(&body)
                .map_err(|e| read_error(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
            Ok(LocalStack {
                entry: entry.clone(),
                body,
                template,
            })
        })
        .collect()
}

/// Which way a selection grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closure {
    /// Add the stacks the named ones import from (deploy: they must exist).
    Dependencies,
    /// Add the stacks importing from the named ones (destroy: an export in
    /// use cannot be deleted).
    Dependents,
    /// Only the named stacks.
    Exactly,
}

/// Ids of the stacks named on the command line (all when none), grown by
/// `closure`, in manifest order.
pub fn select(
    manifest: &Manifest,
    names: &[String],
    closure: Closure,
) -> Result<Vec<String>, Failure> {
    if names.is_empty() {
        return Ok(manifest.stacks.iter().map(|s| s.id.clone()).collect());
    }
    let mut chosen = BTreeSet::new();
    for name in names {
        let entry = manifest.stack(name).ok_or_else(|| {
            let known: Vec<_> = manifest.stacks.iter().map(|s| s.id.as_str()).collect();
            Failure::usage(anyhow::anyhow!(
                "no stack named {name:?} in stage {}",
                manifest.stage
            ))
            .hint(format!("stacks of this stage: {}", known.join(", ")))
        })?;
        chosen.insert(entry.id.clone());
    }
    loop {
        let before = chosen.len();
        for entry in &manifest.stacks {
            match closure {
                Closure::Dependencies if chosen.contains(&entry.id) => {
                    chosen.extend(entry.dependencies.iter().map(|d| d.stack.clone()));
                }
                Closure::Dependents
                    if entry.dependencies.iter().any(|d| chosen.contains(&d.stack)) =>
                {
                    chosen.insert(entry.id.clone());
                }
                _ => {}
            }
        }
        if chosen.len() == before {
            break;
        }
    }
    Ok(manifest
        .stacks
        .iter()
        .filter(|s| chosen.contains(&s.id))
        .map(|s| s.id.clone())
        .collect())
}

/// A stack as deployed.
#[derive(Debug, Clone, Default)]
pub struct Remote {
    pub state: Option<StackState>,
    /// The deployed template, when the stack has one.
    pub template: Option<Value>,
}

pub async fn remote(cfn: &Cfn, stack_name: &str) -> Result<Remote> {
    let Some(state) = cfn.describe(stack_name).await? else {
        return Ok(Remote::default());
    };
    let template = match state.phase() {
        Phase::Review | Phase::FailedCreate => None,
        _ => cfn
            .template(&state.id)
            .await?
            .and_then(|body| serde_json::from_str(&body).ok()),
    };
    Ok(Remote {
        state: Some(state),
        template,
    })
}

/// Stacks looked up at once: CloudFormation throttles Describe* and
/// GetTemplate per account (the SDK retries, but a burst only adds waits).
const PARALLEL_LOOKUPS: usize = 8;

/// Each local stack as deployed, in the same order.
pub async fn remotes(cfn: &Cfn, local: &[LocalStack]) -> Result<Vec<Remote>> {
    use futures_util::StreamExt;
    futures_util::stream::iter(local)
        .map(|stack| remote(cfn, &stack.entry.stack_name))
        .buffered(PARALLEL_LOOKUPS)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// What a stack needs from a deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Deployed, healthy, with exactly this template and protection: no
    /// change set is even created.
    Nothing,
    /// Only termination protection differs (set to this value): a template
    /// update would have nothing to change.
    Protection(bool),
    Deploy,
}

pub fn needs(local: &LocalStack, remote: &Remote) -> Needs {
    let wanted = local.entry.termination_protection;
    match &remote.state {
        Some(state)
            if status::succeeded(&state.status)
                && remote.template.as_ref() == Some(&local.template) =>
        {
            if state.termination_protection == wanted {
                Needs::Nothing
            } else {
                Needs::Protection(wanted)
            }
        }
        _ => Needs::Deploy,
    }
}

/// A stack of this deploy: what synth wrote, what is deployed, and what
/// it takes to bring one to the other.
#[derive(Debug)]
pub struct Planned {
    pub local: LocalStack,
    pub remote: Remote,
    pub needs: Needs,
    pub diff: StackDiff,
    /// With `--hotswap`, for a stack that needs deploying.
    pub hotswap: Option<Plan>,
}

#[cfg(test)]
mod tests {
    use stacks::manifest::{Dependency, MANIFEST_VERSION};

    use super::*;

    fn manifest() -> Manifest {
        let entry = |id: &str, deps: &[&str]| StackEntry {
            id: id.into(),
            stack_name: format!("retail-dev-{}", id.to_lowercase()),
            template_file: format!("{id}.template.json"),
            template_sha256: String::new(),
            template_bytes: 0,
            resource_count: 1,
            termination_protection: false,
            dependencies: deps
                .iter()
                .map(|d| Dependency {
                    stack: d.to_string(),
                    reasons: vec![],
                })
                .collect(),
            exports: vec![],
            assets: vec![],
            account: None,
        };
        Manifest {
            version: MANIFEST_VERSION,
            stage: "dev".into(),
            region: "eu-west-1".into(),
            stacks: vec![
                entry("Network", &[]),
                entry("Storage", &[]),
                entry("Warehouse", &["Network"]),
                entry("Ingest", &["Storage"]),
            ],
            assets: vec![],
        }
    }

    fn deployed(status: &str, protected: bool, template: serde_json::Value) -> Remote {
        Remote {
            state: Some(StackState {
                id: "arn".into(),
                name: "retail-dev-network".into(),
                status: status.into(),
                status_reason: None,
                termination_protection: protected,
                outputs: Default::default(),
            }),
            template: Some(template),
        }
    }

    fn local(protected: bool, template: serde_json::Value) -> LocalStack {
        let mut entry = manifest().stacks[0].clone();
        entry.termination_protection = protected;
        LocalStack {
            entry,
            body: template.to_string(),
            template,
        }
    }

    #[test]
    fn a_healthy_stack_with_the_same_template_needs_nothing() {
        let t = serde_json::json!({"Resources": {}});
        assert_eq!(
            needs(
                &local(false, t.clone()),
                &deployed("UPDATE_COMPLETE", false, t)
            ),
            Needs::Nothing
        );
    }

    #[test]
    fn a_protection_change_alone_needs_no_template_update() {
        let t = serde_json::json!({"Resources": {}});
        assert_eq!(
            needs(
                &local(true, t.clone()),
                &deployed("CREATE_COMPLETE", false, t)
            ),
            Needs::Protection(true)
        );
    }

    #[test]
    fn a_rolled_back_or_different_stack_is_deployed() {
        let t = serde_json::json!({"Resources": {}});
        let other = serde_json::json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}});
        assert_eq!(
            needs(
                &local(false, t.clone()),
                &deployed("UPDATE_ROLLBACK_COMPLETE", false, t.clone())
            ),
            Needs::Deploy
        );
        assert_eq!(
            needs(
                &local(false, other),
                &deployed("UPDATE_COMPLETE", false, t.clone())
            ),
            Needs::Deploy
        );
        assert_eq!(needs(&local(false, t), &Remote::default()), Needs::Deploy);
    }

    #[test]
    fn a_template_edited_after_synth_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = manifest();
        let body = "{\"Resources\": {}}\n";
        std::fs::write(dir.path().join("Network.template.json"), body).unwrap();
        manifest.stacks[0].template_sha256 = hex::encode(Sha256::digest(body.as_bytes()));
        assert!(read_local(dir.path(), &manifest, &["Network".into()]).is_ok());

        std::fs::write(
            dir.path().join("Network.template.json"),
            "{\"Resources\": {\"X\": {}}}",
        )
        .unwrap();
        let error = read_local(dir.path(), &manifest, &["Network".into()]).unwrap_err();
        let failure = error.into_failure();
        assert_eq!(failure.code, crate::failure::ExitCode::Usage);
        assert!(
            format!("{:#}", failure.error).contains("it changed after synth"),
            "{failure}"
        );
    }

    #[test]
    fn deploying_a_stack_brings_the_stacks_it_imports_from() {
        let ids = select(&manifest(), &["warehouse".into()], Closure::Dependencies).unwrap();
        assert_eq!(ids, ["Network", "Warehouse"]);
    }

    #[test]
    fn destroying_a_stack_takes_the_stacks_importing_from_it() {
        let ids = select(&manifest(), &["Storage".into()], Closure::Dependents).unwrap();
        assert_eq!(ids, ["Storage", "Ingest"]);
    }

    #[test]
    fn no_names_select_every_stack_in_deploy_order() {
        let ids = select(&manifest(), &[], Closure::Exactly).unwrap();
        assert_eq!(ids, ["Network", "Storage", "Warehouse", "Ingest"]);
    }

    #[test]
    fn an_unknown_stack_name_lists_the_known_ones() {
        let failure = select(&manifest(), &["Lake".into()], Closure::Exactly).unwrap_err();
        assert_eq!(failure.code, crate::failure::ExitCode::Usage);
        assert_eq!(
            failure.hint.as_deref(),
            Some("stacks of this stage: Network, Storage, Warehouse, Ingest")
        );
    }
}
