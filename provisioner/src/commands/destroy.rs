//! `provisioner destroy`: deletes the stacks of a stage in reverse
//! dependency order, after confirmation. Buckets that CloudFormation would
//! delete are emptied first (it refuses non-empty ones); what the stage
//! retains is listed, since it outlives the stacks.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::aws::Clients;
use crate::deploy::approval::Prompt;
use crate::deploy::cfn::Cfn;
use crate::deploy::engine::{DestroyOutcome, Engine, Method};
use crate::deploy::error::{DeployError, Result};
use crate::deploy::plan::{self, Closure};
use crate::deploy::progress::Progress;
use crate::deploy::schedule::{self, Node, Run};
use crate::deploy::status::Phase;
use crate::deploy::upload::Bucket;
use crate::failure::{CommandResult, Failure};
use crate::output::unwritable;
use crate::synth_output::read_manifest;

/// `provisioner destroy` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct DestroyArgs {
    /// Stage whose stacks are deleted.
    #[arg(long, default_value = "dev", env = "PROVISIONER_STAGE")]
    pub stage: String,
    /// Stacks to delete, with the stacks importing from them; none: every
    /// stack of the stage.
    pub stacks: Vec<String>,
    /// Do not ask for confirmation (required without a terminal).
    #[arg(long)]
    pub force: bool,
    /// Folder written by `provisioner synth`.
    #[arg(
        short = 'o',
        long = "output-dir",
        visible_aliases = ["synth-dir", "out"],
        value_name = "DIR",
        default_value = crate::synth_output::DEFAULT_SYNTH_DIR
    )]
    pub synth_dir: PathBuf,
    /// Stacks deleted at the same time (when independent).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// `json`: one document, `{stage, result, seconds, stacks: [{id,
    /// result, reason}], retained: [...]}`.
    #[arg(long, value_enum, default_value = "text")]
    pub output: crate::output::Format,
    #[command(flatten)]
    pub accounts: crate::accounts::AccountArgs,
}

/// Runs `provisioner destroy` with the process's terminal.
pub fn run(args: DestroyArgs, aws: &crate::aws::AwsOptions, out: &mut dyn Write) -> CommandResult {
    use crate::commands::session;
    let stage = crate::stage::named(&args.stage)?;
    let options = DestroyOptions {
        stacks: args.stacks,
        force: args.force,
        concurrency: usize::from(args.concurrency),
        poll: session::poll_interval(aws),
        output: args.output,
    };
    let progress = session::progress();
    let mut prompt = crate::deploy::approval::TerminalPrompt;
    let manifest = read_manifest(&args.synth_dir, stage.name)?;
    let groups = crate::accounts::groups(&manifest, stage, &args.accounts.profile_for)?;
    if !groups.is_empty() {
        let selected = plan::select(&manifest, &options.stacks, Closure::Dependents)?;
        return session::block_on(async {
            // Every profile is checked to reach its account before
            // anything is deleted in either.
            let sessions = crate::accounts::sessions(aws, &groups, &selected).await?;
            for session in &sessions {
                crate::synth_output::check_region(&manifest, &session.clients.region)?;
            }
            // The warehouse account first: the reverse of deploy's order.
            // A failure stops there: the accounts after it keep their
            // stacks (the lake outlives the warehouse that reads it).
            let mut remaining: Vec<String> = sessions
                .iter()
                .map(|session| session.group.account.id.clone())
                .collect();
            let mut reports =
                crate::accounts::AccountReports::new(&mut *out, options.output, "not deleted");
            let mut failed: Option<(String, Failure)> = None;
            for crate::accounts::Session {
                group,
                ids,
                clients,
                ..
            } in sessions.into_iter().rev()
            {
                remaining.pop();
                if let Some((account, _)) = &failed {
                    reports.skipped(&group.account.id, &ids, account);
                    continue;
                }
                progress.note(&format!(
                    "account {} (profile {}): {}",
                    group.account.id,
                    group.profile,
                    ids.join(", ")
                ));
                let options = DestroyOptions {
                    stacks: ids,
                    ..options.clone()
                };
                let destroyed = destroy(
                    &args.synth_dir,
                    stage.name,
                    &options,
                    &clients,
                    reports.report(),
                    progress.as_ref(),
                    &mut prompt,
                )
                .await;
                reports.end(&group.account.id, &options.stacks)?;
                if let Err(failure) = destroyed {
                    if !remaining.is_empty() {
                        progress.note(&format!(
                            "stopped: nothing was deleted in account {} (run destroy again \
                             once account {} is clean)",
                            remaining.join(", "),
                            group.account.id
                        ));
                    }
                    failed = Some((group.account.id.clone(), failure));
                }
            }
            reports.finish(stage.name)?;
            failed.map_or(Ok(()), |(_, failure)| Err(failure))
        });
    }
    session::block_on(async {
        let clients = session::clients(aws, stage.region).await;
        destroy(
            &args.synth_dir,
            stage.name,
            &options,
            &clients,
            out,
            progress.as_ref(),
            &mut prompt,
        )
        .await
    })
}

#[derive(Debug, Clone)]
pub struct DestroyOptions {
    pub stacks: Vec<String>,
    /// Skip the confirmation.
    pub force: bool,
    pub concurrency: usize,
    pub poll: Duration,
    pub output: crate::output::Format,
}

/// One stack's line of the destroy report.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct StackLine {
    id: String,
    /// "deleted", "already gone", "failed" or "not deleted".
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct RetainedLine<'a> {
    stack: &'a str,
    logical_id: &'a str,
    #[serde(rename = "type")]
    resource_type: &'a str,
    physical_id: &'a str,
    as_snapshot: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
struct DestroyReport<'a> {
    stage: &'a str,
    result: &'static str,
    seconds: f64,
    stacks: Vec<StackLine>,
    retained: Vec<RetainedLine<'a>>,
}

/// A resource that outlives its stack (`DeletionPolicy: Retain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retained {
    pub logical_id: String,
    pub resource_type: String,
    pub physical_id: String,
    /// `DeletionPolicy: Snapshot`: the resource goes, its final snapshot
    /// stays (and is billed).
    pub as_snapshot: bool,
}

pub async fn destroy(
    dir: &Path,
    stage: &str,
    options: &DestroyOptions,
    clients: &Clients,
    out: &mut dyn Write,
    progress: &dyn Progress,
    prompt: &mut dyn Prompt,
) -> CommandResult {
    let started = Instant::now();
    let manifest = read_manifest(dir, stage)?;
    crate::synth_output::check_region(&manifest, &clients.region)?;
    let ids = plan::select(&manifest, &options.stacks, Closure::Dependents)?;
    crate::accounts::check_selection(&manifest, &ids)?;
    let names: Vec<&str> = manifest
        .stacks
        .iter()
        .filter(|s| ids.contains(&s.id))
        .map(|s| s.stack_name.as_str())
        .collect();
    if !options.force {
        let question = format!(
            "Delete {} of stage {stage} in {}: {}?",
            if names.len() == 1 {
                "1 stack".to_string()
            } else {
                format!("{} stacks", names.len())
            },
            clients.region,
            names.join(", ")
        );
        if !prompt.interactive() {
            return Err(Failure::usage(anyhow::anyhow!(
                "refusing to destroy without confirmation, and there is no terminal to ask on"
            ))
            .hint("pass --force to destroy without asking"));
        }
        let mut answer = Ok(false);
        progress.suspend(&mut || answer = prompt.confirm(&question));
        match answer {
            Ok(true) => {}
            Ok(false) => {
                return Err(Failure::failed(anyhow::anyhow!(
                    "destroy not confirmed; nothing was deleted"
                )));
            }
            Err(e) => {
                return Err(Failure::usage(
                    anyhow::Error::new(e).context("reading the answer"),
                ));
            }
        }
    }

    let cfn = Cfn::new(clients.cloudformation.clone(), options.poll);
    let engine = Engine {
        cfn: &cfn,
        progress,
        method: Method::ChangeSet,
        // Makes this run's delete tokens (see `deploy::token`).
        change_set_name: super::session::change_set_name(),
        replacement_gate: None,
        disable_rollback: false,
    };
    // Reverse order: a stack goes after every stack that imports from it.
    let nodes: Vec<Node> = manifest
        .stacks
        .iter()
        .rev()
        .filter(|s| ids.contains(&s.id))
        .map(|s| Node {
            id: s.id.clone(),
            after: manifest
                .stacks
                .iter()
                .filter(|other| other.dependencies.iter().any(|d| d.stack == s.id))
                .map(|other| other.id.clone())
                .collect(),
        })
        .collect();
    let stack_names: BTreeMap<&str, &str> = manifest
        .stacks
        .iter()
        .map(|s| (s.id.as_str(), s.stack_name.as_str()))
        .collect();
    let (engine, clients, stack_names) = (&engine, clients, &stack_names);
    let results = schedule::run(&nodes, options.concurrency, |id| async move {
        destroy_stack(engine, clients, stack_names[id.as_str()]).await
    })
    .await;
    let mut first_failure = None;
    let mut retained_all = Vec::new();
    let mut deleted_any = false;
    let mut lines = Vec::new();
    for (id, run) in results {
        let (result, reason) = match run {
            Run::Done((DestroyOutcome::Deleted, retained)) => {
                deleted_any = true;
                retained_all.extend(retained.into_iter().map(|r| (id.clone(), r)));
                ("deleted", None)
            }
            Run::Done((DestroyOutcome::AlreadyGone, _)) => ("already gone", None),
            Run::Failed(error) => {
                let text = cause(&error);
                // The same cause for several stacks (no credentials, no
                // network) is said once, with the first stack it stopped.
                let reason = match &first_failure {
                    Some((first_id, first_text, _)) if *first_text == text => {
                        format!("the same error as {first_id}")
                    }
                    _ => error.to_string(),
                };
                if first_failure.is_none() {
                    first_failure = Some((id.clone(), text, error));
                }
                ("failed", Some(reason))
            }
            Run::NotStarted {
                blocked_by: Some(b),
            } => ("not deleted", Some(format!("{b} could not be deleted"))),
            Run::NotStarted { blocked_by: None } => {
                ("not deleted", Some("stopped after a failure".to_string()))
            }
        };
        lines.push(StackLine { id, result, reason });
    }
    let result = if first_failure.is_none() {
        "done"
    } else {
        "failed"
    };
    let seconds = started.elapsed().as_secs_f64();
    match options.output {
        crate::output::Format::Json => {
            let retained = retained_all
                .iter()
                .map(|(stack, r)| RetainedLine {
                    stack,
                    logical_id: &r.logical_id,
                    resource_type: &r.resource_type,
                    physical_id: &r.physical_id,
                    as_snapshot: r.as_snapshot,
                })
                .collect();
            crate::output::json(
                out,
                &DestroyReport {
                    stage,
                    result,
                    seconds,
                    stacks: lines,
                    retained,
                },
            )
            .map_err(unwritable)?;
        }
        crate::output::Format::Text => {
            write_text(&lines, &retained_all, out).map_err(unwritable)?;
            writeln!(out, "destroy {result} in {seconds:.1}s").map_err(unwritable)?;
        }
    }
    match first_failure {
        None => Ok(()),
        Some((_, _, error)) => Err(crate::deploy::report::changed_anyway(
            error.into_failure(),
            deleted_any,
        )),
    }
}

fn write_text(
    lines: &[StackLine],
    retained: &[(String, Retained)],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    for line in lines {
        let text = match (line.result, &line.reason) {
            ("failed", Some(reason)) => format!("FAILED: {reason}"),
            (result, Some(reason)) => format!("{result}: {reason}"),
            (result, None) => result.to_string(),
        };
        writeln!(out, "{:<20} {text}", line.id)?;
    }
    if !retained.is_empty() {
        writeln!(
            out,
            "retained (they outlive the stacks; delete them by hand when no longer needed):"
        )?;
        for (stack, r) in retained {
            let how = if r.as_snapshot {
                " (its final snapshot)"
            } else {
                ""
            };
            writeln!(
                out,
                "  {stack}/{} {} {}{how}",
                r.logical_id, r.resource_type, r.physical_id
            )?;
        }
    }
    Ok(())
}

/// What went wrong, without the stack it happened to: an AWS call's
/// error names its stack in its action, the cause is the rest.
fn cause(error: &DeployError) -> String {
    match error {
        DeployError::Aws(aws) => format!("{:?} {:?} {}", aws.kind, aws.code, aws.message),
        other => other.to_string(),
    }
}

/// Empties the buckets the stack would delete, deletes it, and returns
/// what it retains.
async fn destroy_stack(
    engine: &Engine<'_>,
    clients: &Clients,
    stack: &str,
) -> Result<(DestroyOutcome, Vec<Retained>)> {
    let remote = plan::remote(engine.cfn, stack).await?;
    let Some(state) = &remote.state else {
        return Ok((DestroyOutcome::AlreadyGone, Vec::new()));
    };
    if state.termination_protection {
        return Err(DeployError::TerminationProtected {
            stack: stack.to_string(),
        });
    }
    if state.phase() == Phase::Busy && state.status != "DELETE_IN_PROGRESS" {
        return Err(DeployError::Busy {
            stack: stack.to_string(),
            status: state.status.clone(),
        });
    }
    let policies = deletion_policies(remote.template.as_ref());
    let mut retained = Vec::new();
    for (logical_id, resource_type, physical_id) in engine.cfn.resources(stack).await? {
        let policy = policies
            .get(&logical_id)
            .map(String::as_str)
            .unwrap_or("Delete");
        if matches!(policy, "Retain" | "RetainExceptOnCreate" | "Snapshot") {
            retained.push(Retained {
                logical_id,
                resource_type,
                physical_id,
                as_snapshot: policy == "Snapshot",
            });
        } else if resource_type == "AWS::S3::Bucket" {
            let bucket = Bucket {
                s3: clients.s3.clone(),
                name: physical_id,
                region: clients.region.clone(),
                owner: crate::deploy::toolkit::account_of(&state.id),
            };
            let emptied = bucket.empty().await?;
            if emptied > 0 {
                engine.progress.note(&format!(
                    "{stack}: emptied bucket {} ({emptied} object versions)",
                    bucket.name
                ));
            }
        }
    }
    let outcome = engine.destroy(stack).await?;
    Ok((outcome, retained))
}

/// `DeletionPolicy` by logical id, from the deployed template.
fn deletion_policies(template: Option<&serde_json::Value>) -> BTreeMap<String, String> {
    template
        .and_then(|t| t["Resources"].as_object())
        .map(|resources| {
            resources
                .iter()
                .filter_map(|(id, r)| Some((id.clone(), r["DeletionPolicy"].as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}
