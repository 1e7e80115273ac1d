//! `provisioner diff`: what a deploy would change, stack by stack, against
//! the deployed templates.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::aws::Clients;
use crate::synth_output::read_manifest;
use stacks::model::limits::MAX_INLINE_TEMPLATE_BYTES;

use crate::deploy::cfn::{Cfn, ChangeSetResult, TemplateSource};
use crate::deploy::diff::diff as diff_templates;
use crate::deploy::error::DeployError;
use crate::deploy::plan::{self, Closure, LocalStack};
use crate::deploy::replacement;
use crate::failure::{CommandResult, Failure};
use crate::output::unwritable;

/// `provisioner diff` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct DiffArgs {
    /// Stage whose synth output is compared.
    #[arg(long, default_value = "dev", env = "PROVISIONER_STAGE")]
    pub stage: String,
    /// Stacks to compare; none: every stack.
    pub stacks: Vec<String>,
    /// Exit with code 1 when a stack differs.
    #[arg(long)]
    pub fail: bool,
    /// Folder written by `provisioner synth`.
    #[arg(long, default_value = crate::synth_output::DEFAULT_SYNTH_DIR)]
    pub synth_dir: PathBuf,
    /// Compare templates only; by default a change set (created, read and
    /// deleted, never executed) tells which modified resources are replaced.
    #[arg(long)]
    pub no_change_set: bool,
}

pub fn run(args: DiffArgs, aws: &crate::aws::AwsOptions, out: &mut dyn Write) -> CommandResult {
    use crate::commands::session;
    let stage = crate::stage::named(&args.stage)?;
    session::block_on(async {
        let clients = session::clients(aws, stage.region).await;
        let change_set = (!args.no_change_set).then(session::change_set_name);
        diff(
            &args.synth_dir,
            stage.name,
            &args.stacks,
            args.fail,
            change_set.as_deref(),
            &clients,
            out,
        )
        .await
    })
}

/// Prints the differences; with `fail`, a difference is exit code 1. With
/// `change_set` (a change set name), replacements of modified resources are
/// asked of CloudFormation.
pub async fn diff(
    dir: &Path,
    stage: &str,
    stacks: &[String],
    fail: bool,
    change_set: Option<&str>,
    clients: &Clients,
    out: &mut dyn Write,
) -> CommandResult {
    let manifest = read_manifest(dir, stage)?;
    crate::synth_output::check_region(&manifest, &clients.region)?;
    let ids = plan::select(&manifest, stacks, Closure::Exactly)?;
    let local = plan::read_local(dir, &manifest, &ids).map_err(DeployError::into_failure)?;
    let cfn = Cfn::new(clients.cloudformation.clone(), Duration::from_secs(1));
    let remotes = plan::remotes(&cfn, &local)
        .await
        .map_err(DeployError::into_failure)?;
    let mut differing = Vec::new();
    for (stack, remote) in local.iter().zip(&remotes) {
        let mut differences = diff_templates(remote.template.as_ref(), &stack.template);
        let mut note = None;
        if let Some(name) = change_set
            && remote.template.is_some()
            && differences.replacements_unknown()
        {
            match replacements(&cfn, stack, name).await {
                Ok(found) => differences.mark_replacements(&found),
                Err(reason) => note = Some(reason),
            }
        }
        let status = match &remote.state {
            None => " (new stack)".to_string(),
            Some(state) if remote.template.is_none() => {
                format!(" ({}, nothing deployed)", state.status)
            }
            Some(_) => String::new(),
        };
        writeln!(
            out,
            "Stack {} ({}){status}",
            stack.entry.id, stack.entry.stack_name
        )
        .map_err(unwritable)?;
        let protection_changes = remote
            .state
            .as_ref()
            .is_some_and(|s| s.termination_protection != stack.entry.termination_protection);
        if differences.is_empty() && !protection_changes {
            writeln!(out, "  no differences").map_err(unwritable)?;
            continue;
        }
        differing.push(stack.entry.id.clone());
        write!(out, "{differences}").map_err(unwritable)?;
        if let Some(note) = note {
            writeln!(out, "  (replacements unknown: {note})").map_err(unwritable)?;
        }
        for blocked in replacement::exports_replaced(&differences, &stack.template) {
            writeln!(out, "  ! {blocked}").map_err(unwritable)?;
        }
        if protection_changes {
            writeln!(
                out,
                "  ~ termination protection {}",
                if stack.entry.termination_protection {
                    "on"
                } else {
                    "off"
                }
            )
            .map_err(unwritable)?;
        }
    }
    if fail && !differing.is_empty() {
        return Err(Failure::failed(anyhow::anyhow!(
            "{} of {} stacks differ from what is deployed: {}",
            differing.len(),
            local.len(),
            differing.join(", ")
        )));
    }
    Ok(())
}

/// Which modified resources a deploy would replace, from a change set that
/// is created, read and deleted (never executed). `Err` says why not.
async fn replacements(
    cfn: &Cfn,
    stack: &LocalStack,
    name: &str,
) -> Result<BTreeMap<String, String>, String> {
    if stack.body.len() > MAX_INLINE_TEMPLATE_BYTES {
        return Err("the template goes through the asset bucket; deploy uploads it".to_string());
    }
    let stack_name = &stack.entry.stack_name;
    let template = TemplateSource::Body(stack.body.clone());
    let created = cfn
        .create_change_set(
            stack_name,
            name,
            false,
            &template,
            &crate::deploy::token::for_operation("diff", stack_name, name),
        )
        .await
        .map_err(|e| e.to_string())?;
    let result = match cfn.wait_change_set(stack_name, &created.arn).await {
        Ok(ChangeSetResult::Ready) => cfn
            .change_set_replacements(stack_name, &created.arn)
            .await
            .map_err(|e| e.to_string()),
        Ok(ChangeSetResult::Empty { .. }) => Ok(BTreeMap::new()),
        Ok(ChangeSetResult::Failed { reason, details }) => Err(format!(
            "the change set failed: {reason}{}",
            details.iter().map(|d| format!("; {d}")).collect::<String>()
        )),
        Err(e) => Err(e.to_string()),
    };
    let deleted = cfn.delete_change_set(stack_name, &created.arn).await;
    match (result, deleted) {
        (Ok(found), Ok(())) => Ok(found),
        (Ok(_), Err(e)) => Err(e.to_string()),
        (Err(reason), _) => Err(reason),
    }
}
