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
use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use crate::deploy::diff::{Change, Replacement, diff as diff_templates};
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
    /// Every stack of the stage (the same as naming none; CDK's flag).
    #[arg(long, conflicts_with = "stacks")]
    pub all: bool,
    /// Stacks compared at the same time (each may create, read and delete
    /// a change set).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// `json`: one document, `{stage, differing, stacks: [...]}`, each
    /// stack with its resources, outputs and security changes.
    #[arg(long, value_enum, default_value = "text")]
    pub output: crate::output::Format,
    /// Exit with code 1 when a stack differs.
    #[arg(long)]
    pub fail: bool,
    #[command(flatten)]
    pub accounts: crate::accounts::AccountArgs,
    /// Folder written by `provisioner synth`.
    #[arg(
        short = 'o',
        long = "output-dir",
        visible_aliases = ["synth-dir", "out"],
        value_name = "DIR",
        default_value = crate::synth_output::DEFAULT_SYNTH_DIR
    )]
    pub synth_dir: PathBuf,
    /// Compare templates only; by default a change set (created, read and
    /// deleted, never executed) tells which modified resources are replaced.
    #[arg(long)]
    pub no_change_set: bool,
}

pub fn run(args: DiffArgs, aws: &crate::aws::AwsOptions, out: &mut dyn Write) -> CommandResult {
    use crate::commands::session;
    let stage = crate::stage::named(&args.stage)?;
    let manifest = crate::synth_output::read_manifest(&args.synth_dir, stage.name)?;
    let groups = crate::accounts::groups(&manifest, stage, &args.accounts.profile_for)?;
    if !groups.is_empty() {
        let selected = plan::select(&manifest, &args.stacks, Closure::Exactly)?;
        return session::block_on(async {
            let sessions = crate::accounts::sessions(aws, &groups, &selected).await?;
            // Every account is compared; the first failure (a difference
            // under --fail) is the exit status.
            let mut first_failure = None;
            let mut reports =
                crate::accounts::AccountReports::new(&mut *out, args.output, "not compared");
            for crate::accounts::Session {
                group,
                ids,
                clients,
                ..
            } in sessions
            {
                let options = DiffOptions {
                    fail: args.fail,
                    change_set: (!args.no_change_set).then(session::change_set_name),
                    concurrency: usize::from(args.concurrency),
                    output: args.output,
                };
                if !reports.is_json() {
                    writeln!(
                        reports.notes(),
                        "account {} (profile {}):",
                        group.account.id,
                        group.profile
                    )
                    .map_err(crate::output::unwritable)?;
                }
                let compared = diff(
                    &args.synth_dir,
                    stage.name,
                    &ids,
                    &options,
                    &clients,
                    reports.report(),
                )
                .await;
                reports.end(&group.account.id, &ids)?;
                if let Err(failure) = compared {
                    first_failure.get_or_insert(failure);
                }
            }
            reports.finish(stage.name)?;
            first_failure.map_or(Ok(()), Err)
        });
    }
    session::block_on(async {
        let clients = session::clients(aws, stage.region).await;
        let change_set = (!args.no_change_set).then(session::change_set_name);
        let options = DiffOptions {
            fail: args.fail,
            change_set,
            concurrency: usize::from(args.concurrency),
            output: args.output,
        };
        diff(
            &args.synth_dir,
            stage.name,
            &args.stacks,
            &options,
            &clients,
            out,
        )
        .await
    })
}

/// How `diff` compares and prints.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// A difference is exit code 1.
    pub fail: bool,
    /// A change set name: replacements of modified resources are asked of
    /// CloudFormation.
    pub change_set: Option<String>,
    /// Stacks compared at once (at least 1).
    pub concurrency: usize,
    pub output: crate::output::Format,
}

/// One stack compared: what the text and the JSON are printed from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackComparison {
    pub id: String,
    pub stack_name: String,
    /// "new stack", "<STATUS>, nothing deployed", or `None` (deployed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    pub differs: bool,
    pub resources: Vec<ResourceChange>,
    pub outputs: Vec<OutputChange>,
    pub security: Vec<SecurityChangeJson>,
    /// Exports a replacement would change while imported (deploy refuses).
    pub blocked_exports: Vec<String>,
    /// Termination protection a deploy turns on (`true`) or off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination_protection: Option<bool>,
    /// Why replacements are unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacements_unknown: Option<String>,
    #[serde(skip)]
    text: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceChange {
    pub logical_id: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    /// "added", "removed" or "modified".
    pub change: &'static str,
    /// "yes", "conditional", "no" or "unknown".
    pub replacement: &'static str,
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputChange {
    pub id: String,
    pub change: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityChangeJson {
    pub change: &'static str,
    pub logical_id: String,
    pub kind: &'static str,
    pub grant: serde_json::Value,
    pub broadening: bool,
}

#[derive(Debug, Serialize)]
struct DiffReport<'a> {
    stage: &'a str,
    differing: Vec<&'a str>,
    stacks: &'a [StackComparison],
}

fn change_word(change: Change) -> &'static str {
    match change {
        Change::Added => "added",
        Change::Removed => "removed",
        Change::Modified => "modified",
    }
}

/// Prints the differences (text or JSON); with `fail`, a difference is
/// exit code 1.
pub async fn diff(
    dir: &Path,
    stage: &str,
    stacks: &[String],
    options: &DiffOptions,
    clients: &Clients,
    out: &mut dyn Write,
) -> CommandResult {
    let manifest = read_manifest(dir, stage)?;
    crate::synth_output::check_region(&manifest, &clients.region)?;
    let ids = plan::select(&manifest, stacks, Closure::Exactly)?;
    crate::accounts::check_selection(&manifest, &ids)?;
    let local = plan::read_local(dir, &manifest, &ids).map_err(DeployError::into_failure)?;
    let cfn = Cfn::new(clients.cloudformation.clone(), Duration::from_secs(1));
    let remotes = plan::remotes(&cfn, &local)
        .await
        .map_err(DeployError::into_failure)?;
    let cfn = &cfn;
    let change_set = options.change_set.as_deref();
    // In manifest order, at most `concurrency` stacks at a time.
    let compared: Vec<StackComparison> = stream::iter(local.iter().zip(&remotes))
        .map(|(stack, remote)| compare(cfn, stack, remote, change_set))
        .buffered(options.concurrency.max(1))
        .collect()
        .await;
    let differing: Vec<&str> = compared
        .iter()
        .filter(|c| c.differs)
        .map(|c| c.id.as_str())
        .collect();
    match options.output {
        crate::output::Format::Json => crate::output::json(
            out,
            &DiffReport {
                stage,
                differing: differing.clone(),
                stacks: &compared,
            },
        )
        .map_err(unwritable)?,
        crate::output::Format::Text => {
            for stack in &compared {
                out.write_all(stack.text.as_bytes()).map_err(unwritable)?;
            }
        }
    }
    if options.fail && !differing.is_empty() {
        return Err(Failure::failed(anyhow::anyhow!(
            "{} of {} stacks differ from what is deployed: {}",
            differing.len(),
            local.len(),
            differing.join(", ")
        )));
    }
    Ok(())
}

/// One stack against its deployed template (and, for replacements, a
/// change set that is never executed).
async fn compare(
    cfn: &Cfn,
    stack: &LocalStack,
    remote: &plan::Remote,
    change_set: Option<&str>,
) -> StackComparison {
    let mut differences = diff_templates(remote.template.as_ref(), &stack.template);
    let mut note = None;
    if let Some(name) = change_set
        && remote.template.is_some()
        && differences.replacements_unknown()
    {
        match replacements(cfn, stack, name).await {
            Ok(found) => differences.mark_replacements(&found),
            Err(reason) => note = Some(reason),
        }
    }
    let status = match &remote.state {
        None => Some("new stack".to_string()),
        Some(state) if remote.template.is_none() => {
            Some(format!("{}, nothing deployed", state.status))
        }
        Some(_) => None,
    };
    let protection = remote
        .state
        .as_ref()
        .filter(|s| s.termination_protection != stack.entry.termination_protection)
        .map(|_| stack.entry.termination_protection);
    let blocked: Vec<String> = replacement::exports_replaced(&differences, &stack.template)
        .iter()
        .map(ToString::to_string)
        .collect();
    let differs = !differences.is_empty() || protection.is_some();

    let mut text = format!(
        "Stack {} ({}){}\n",
        stack.entry.id,
        stack.entry.stack_name,
        status
            .as_ref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default()
    );
    if !differs {
        text.push_str("  no differences\n");
    } else {
        text.push_str(&differences.to_string());
        if let Some(note) = &note {
            text.push_str(&format!("  (replacements unknown: {note})\n"));
        }
        for blocked in &blocked {
            text.push_str(&format!("  ! {blocked}\n"));
        }
        if let Some(on) = protection {
            text.push_str(&format!(
                "  ~ termination protection {}\n",
                if on { "on" } else { "off" }
            ));
        }
    }
    StackComparison {
        id: stack.entry.id.clone(),
        stack_name: stack.entry.stack_name.clone(),
        status,
        differs,
        resources: differences
            .resources
            .iter()
            .map(|r| ResourceChange {
                logical_id: r.logical_id.clone(),
                resource_type: r.resource_type.clone(),
                change: change_word(r.change),
                replacement: match r.replacement {
                    Replacement::Yes => "yes",
                    Replacement::Conditional => "conditional",
                    Replacement::No => "no",
                    Replacement::Unknown => "unknown",
                },
                paths: r.paths.clone(),
            })
            .collect(),
        outputs: differences
            .outputs
            .iter()
            .map(|(id, change)| OutputChange {
                id: id.clone(),
                change: change_word(*change),
            })
            .collect(),
        security: differences
            .security
            .iter()
            .map(|s| SecurityChangeJson {
                change: change_word(s.change),
                logical_id: s.logical_id.clone(),
                kind: s.kind,
                grant: serde_json::from_str(&s.grant)
                    .unwrap_or_else(|_| serde_json::Value::String(s.grant.clone())),
                broadening: s.broadening,
            })
            .collect(),
        blocked_exports: blocked,
        termination_protection: protection,
        replacements_unknown: note,
        text,
    }
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
