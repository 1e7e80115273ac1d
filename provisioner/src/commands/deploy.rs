//! `provisioner deploy`: the synthesised stacks of a stage, in dependency
//! order, independent stacks in parallel, unchanged stacks skipped.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use stacks::manifest::Manifest;
use stacks::model::limits::MAX_INLINE_TEMPLATE_BYTES;

use crate::aws::Clients;
use crate::commands::synth_output::read_manifest;
use crate::deploy::approval::{Prompt, RequireApproval};
use crate::deploy::cfn::{Cfn, TemplateSource};
use crate::deploy::diff::{StackDiff, diff};
use crate::deploy::engine::{Engine, Method, Outcome, StackRequest};
use crate::deploy::error::DeployError;
use crate::deploy::exports;
use crate::deploy::hotswap::{self, Hotswap, Lambda, Plan, Swapped};
use crate::deploy::plan::{self, Closure, LocalStack, Needs, Remote};
use crate::deploy::progress::Progress;
use crate::deploy::replacement::{PromptGate, ReplacementGate};
use crate::deploy::schedule::{self, Node, Run};
use crate::deploy::toolkit;
use crate::deploy::upload::{Bucket, Object, Source};
use crate::failure::{CommandResult, Failure};

/// `provisioner deploy` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct DeployArgs {
    /// Stage whose synth output is deployed.
    #[arg(long, default_value = "dev", env = "PROVISIONER_STAGE")]
    pub stage: String,
    /// Stacks to deploy (short id or stack name), with the stacks they
    /// import from; none: every stack.
    pub stacks: Vec<String>,
    /// Deploy only the named stacks, not the stacks they import from.
    #[arg(long)]
    pub exclusively: bool,
    /// Folder written by `provisioner synth`.
    #[arg(long, default_value = crate::cli::DEFAULT_SYNTH_DIR)]
    pub synth_dir: PathBuf,
    /// Stacks deployed at the same time (when independent).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// How stacks are created and updated.
    #[arg(long, value_enum, default_value = "change-set")]
    pub method: Method,
    /// When to stop and ask before deploying (without a terminal: refuse).
    #[arg(long, value_enum, default_value = "broadening")]
    pub require_approval: RequireApproval,
    /// Write every stack's outputs here as JSON: {"<stack>": {"<output>": "<value>"}}.
    #[arg(long)]
    pub outputs_file: Option<PathBuf>,
    /// Send code-only changes of functions straight to Lambda
    /// (UpdateFunctionCode), leaving their stacks drifted; other changes
    /// deploy as usual.
    #[arg(long)]
    pub hotswap: bool,
    /// Hotswap even on a protected stage (prod).
    #[arg(long, requires = "hotswap")]
    pub force: bool,
    /// Keep what a failed update created or changed instead of rolling it
    /// back (CloudFormation's DisableRollback): fix the cause and deploy
    /// again. A first create that fails is still deleted on the next run.
    #[arg(long)]
    pub no_rollback: bool,
}

/// Runs `provisioner deploy` with the process's terminal.
pub fn run(args: DeployArgs, aws: &crate::aws::AwsOptions, out: &mut dyn Write) -> CommandResult {
    use crate::commands::session;
    let stage = crate::cli::stage_named(&args.stage)?;
    if let Some(path) = &args.outputs_file {
        check_outputs_path(path)?;
    }
    let mut options = DeployOptions {
        stacks: args.stacks,
        exclusively: args.exclusively,
        concurrency: usize::from(args.concurrency),
        method: args.method,
        require_approval: args.require_approval,
        outputs_file: args.outputs_file,
        change_set_name: session::change_set_name(),
        poll: session::poll_interval(aws),
        hotswap: None,
        disable_rollback: args.no_rollback,
    };
    let progress = session::progress();
    let mut prompt = crate::deploy::approval::TerminalPrompt;
    session::block_on(async {
        // What the account would refuse half-way, refused before anything
        // changes.
        crate::preflight::before_deploy(stage, &args.synth_dir, aws, out, progress.as_ref())
            .await?;
        let clients = session::clients(aws, stage.region).await;
        if args.hotswap {
            options.hotswap = Some(Hotswap {
                lambda: Lambda::connect(aws, &clients.region, options.poll).await,
                force: args.force,
            });
        }
        deploy(
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
pub struct DeployOptions {
    /// Stacks named on the command line; empty: all.
    pub stacks: Vec<String>,
    /// Deploy only the named stacks, not the stacks they import from.
    pub exclusively: bool,
    pub concurrency: usize,
    pub method: Method,
    pub require_approval: RequireApproval,
    pub outputs_file: Option<PathBuf>,
    /// Unique per run; change sets are then addressed by ARN.
    pub change_set_name: String,
    pub poll: Duration,
    /// `--hotswap`: code-only changes go straight to Lambda.
    pub hotswap: Option<Hotswap>,
    /// `--no-rollback`.
    pub disable_rollback: bool,
}

/// What happened to one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackResult {
    /// Template and settings already deployed: not even a change set.
    Unchanged,
    /// Same template; termination protection turned on (or off).
    Protection(bool),
    Deployed(Outcome),
    /// `--hotswap`: these functions' code updated through Lambda.
    Hotswapped(Vec<Swapped>),
}

impl std::fmt::Display for StackResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StackResult::Unchanged => "unchanged",
            StackResult::Protection(true) => "termination protection turned on",
            StackResult::Protection(false) => "termination protection turned off",
            StackResult::Deployed(Outcome::Created) => "created",
            StackResult::Deployed(Outcome::Updated) => "updated",
            StackResult::Deployed(Outcome::NoChanges) => "no changes",
            StackResult::Hotswapped(swapped) => {
                return write!(f, "hotswapped {}", hotswap::summary(swapped));
            }
        })
    }
}

/// Deploys the stacks of the manifest in `dir` with `clients`; prints the
/// summary to `out`, progress to `progress`, and asks `prompt`.
pub async fn deploy(
    dir: &Path,
    stage: &str,
    options: &DeployOptions,
    clients: &Clients,
    out: &mut dyn Write,
    progress: &dyn Progress,
    prompt: &mut dyn Prompt,
) -> CommandResult {
    let started = Instant::now();
    if let Some(hotswap) = &options.hotswap {
        hotswap::check_stage(crate::cli::stage_named(stage)?, hotswap.force)?;
    }
    let manifest = read_manifest(dir, stage)?;
    check_region(&manifest, &clients.region)?;
    let closure = if options.exclusively {
        Closure::Exactly
    } else {
        Closure::Dependencies
    };
    let ids = plan::select(&manifest, &options.stacks, closure)?;
    let local = plan::read_local(dir, &manifest, &ids).map_err(DeployError::into_failure)?;

    let cfn = Cfn::new(clients.cloudformation.clone(), options.poll);
    let engine = Engine {
        cfn: &cfn,
        progress,
        method: options.method,
        change_set_name: options.change_set_name.clone(),
        replacement_gate: None,
        disable_rollback: options.disable_rollback,
    };
    let toolkit = ensure_toolkit(&engine, stage, progress).await?;
    let bucket = Bucket {
        s3: clients.s3.clone(),
        name: toolkit.bucket,
        region: clients.region.clone(),
        owner: toolkit.account,
    };

    let remotes = plan::remotes(&cfn, &local)
        .await
        .map_err(DeployError::into_failure)?;
    let stacks: Vec<Planned> = local
        .into_iter()
        .zip(remotes)
        .map(|(local, remote)| {
            let needs = plan::needs(&local, &remote);
            let diff = diff(remote.template.as_ref(), &local.template);
            let hotswap = (options.hotswap.is_some() && needs == Needs::Deploy)
                .then(|| hotswap::classify(&remote, &local.template, &diff, &manifest.assets));
            Planned {
                local,
                remote,
                needs,
                diff,
                hotswap,
            }
        })
        .collect();

    let after = export_order(&cfn, &stacks, progress)
        .await
        .map_err(DeployError::into_failure)?;
    approve(&stacks, options.require_approval, out, progress, prompt)?;
    upload(&manifest, dir, &stacks, &bucket, progress).await?;
    // The change sets say what a template diff cannot: which data stores
    // would be replaced. Asked per stack, just before executing.
    let gate = PromptGate::new(prompt, progress);
    let engine = Engine {
        replacement_gate: (options.require_approval != RequireApproval::Never)
            .then_some(&gate as &dyn ReplacementGate),
        ..engine
    };

    let nodes: Vec<Node> = stacks
        .iter()
        .map(|s| Node {
            id: s.local.entry.id.clone(),
            after: after[&s.local.entry.id].clone(),
        })
        .collect();
    let by_id: BTreeMap<&str, &Planned> = stacks
        .iter()
        .map(|s| (s.local.entry.id.as_str(), s))
        .collect();
    let engine = &engine;
    let bucket = &bucket;
    let by_id = &by_id;
    let results = schedule::run(&nodes, options.concurrency, |id| async move {
        let planned = by_id[id.as_str()];
        let name = &planned.local.entry.stack_name;
        let outputs = || {
            planned
                .remote
                .state
                .as_ref()
                .map(|s| s.outputs.clone())
                .unwrap_or_default()
        };
        match planned.needs {
            Needs::Deploy => {}
            Needs::Nothing => {
                progress.stack_finished(name, "unchanged");
                return Ok((StackResult::Unchanged, outputs()));
            }
            Needs::Protection(enable) => {
                engine.cfn.set_termination_protection(name, enable).await?;
                let result = StackResult::Protection(enable);
                progress.stack_finished(name, &result.to_string());
                return Ok((result, outputs()));
            }
        }
        if let (Some(hotswap), Some(Plan::Hotswap(changes))) = (&options.hotswap, &planned.hotswap)
        {
            progress.stack_started(name, "hotswapping", None);
            let swapped =
                hotswap::run(engine.cfn, &hotswap.lambda, name, &bucket.name, changes).await?;
            let result = StackResult::Hotswapped(swapped);
            progress.stack_finished(name, &result.to_string());
            return Ok((result, outputs()));
        }
        let request = StackRequest {
            name: planned.local.entry.stack_name.clone(),
            template: template_source(&planned.local, bucket),
            termination_protection: planned.local.entry.termination_protection,
            resources: Some(planned.local.entry.resource_count),
            exported: exports::exported_resources(&planned.local.template),
        };
        let (outcome, state) = engine.deploy(&request).await?;
        Ok::<_, DeployError>((StackResult::Deployed(outcome), state.outputs))
    })
    .await;

    let hotswapped: Vec<String> = results
        .iter()
        .filter(|(_, run)| matches!(run, Run::Done((StackResult::Hotswapped(_), _))))
        .map(|(id, _)| id.clone())
        .collect();
    let result = report(results, started, options, out);
    let notes = match options.hotswap {
        Some(_) => hotswap_notes(&stacks, &hotswapped, out),
        None => Ok(()),
    };
    result.and(notes)
}

/// Each stack's "after" list: its dependencies, with consumers that drop
/// an import the producer removes or changes moved first (see
/// `deploy::exports`). Refuses an export change that would fail. The check
/// is best effort: where `ListImports` cannot answer (no permission, an
/// emulator without it), CloudFormation still refuses the change, safely.
async fn export_order(
    cfn: &Cfn,
    stacks: &[Planned],
    progress: &dyn Progress,
) -> Result<BTreeMap<String, Vec<String>>, DeployError> {
    let dependencies: BTreeMap<String, Vec<String>> = stacks
        .iter()
        .map(|s| {
            let after = s.local.entry.dependencies.iter();
            (
                s.local.entry.id.clone(),
                after.map(|d| d.stack.clone()).collect(),
            )
        })
        .collect();
    let checked: Vec<exports::Stack<'_>> = stacks
        .iter()
        .map(|s| exports::Stack {
            id: &s.local.entry.id,
            stack_name: &s.local.entry.stack_name,
            deployed: s
                .remote
                .template
                .as_ref()
                .filter(|_| s.needs == Needs::Deploy),
            new: &s.local.template,
        })
        .collect();
    let mut importers = BTreeMap::new();
    for stack in &checked {
        if let Some(deployed) = stack.deployed {
            for export in exports::touched(deployed, stack.new).into_keys() {
                match cfn.importers(&export).await {
                    Ok(users) => {
                        importers.insert(export, users);
                    }
                    Err(e) => progress.note(&format!(
                        "{}: could not check who imports {export} ({e}); deploying in \
                         dependency order",
                        stack.stack_name
                    )),
                }
            }
        }
    }
    let consumer_first = exports::plan(&checked, &importers)?;
    Ok(exports::reorder(&dependencies, &consumer_first))
}

struct Planned {
    local: LocalStack,
    remote: Remote,
    needs: Needs,
    diff: StackDiff,
    /// With `--hotswap`, for a stack that needs deploying.
    hotswap: Option<Plan>,
}

/// The stacks that fell back from `--hotswap`, and the drift warning for
/// those `hotswapped`.
fn hotswap_notes(stacks: &[Planned], hotswapped: &[String], out: &mut dyn Write) -> CommandResult {
    let fallbacks: Vec<(&str, &str)> = stacks
        .iter()
        .filter_map(|s| match &s.hotswap {
            Some(Plan::Fallback(reason)) => Some((s.local.entry.id.as_str(), reason.as_str())),
            _ => None,
        })
        .collect();
    let hotswapped: Vec<&str> = hotswapped.iter().map(String::as_str).collect();
    hotswap::write_notes(out, &fallbacks, &hotswapped)
        .map_err(|e| Failure::usage(anyhow::Error::new(e).context("writing output")))
}

pub(crate) fn check_region(manifest: &Manifest, region: &str) -> CommandResult {
    if manifest.region == region {
        return Ok(());
    }
    Err(Failure::usage(anyhow::anyhow!(
        "stage {} is synthesised for region {}, not {region}",
        manifest.stage,
        manifest.region
    ))
    .hint("drop --region (templates name their region, e.g. in Firehose CIDRs), or change the stage's region in stacks/src/stage.rs"))
}

/// The toolkit, created on the first deploy in an account and region, and
/// refused when its version is not this build's.
async fn ensure_toolkit(
    engine: &Engine<'_>,
    stage: &str,
    progress: &dyn Progress,
) -> Result<toolkit::Toolkit, Failure> {
    let hint = |e: DeployError| e.into_failure_in(stage);
    let found = toolkit::find(engine.cfn).await.map_err(hint)?;
    let toolkit = match found {
        Some(toolkit) => toolkit,
        None => {
            progress.note(&format!(
                "bootstrapping: {} does not exist yet in this account and region",
                stacks::assets::TOOLKIT_STACK_NAME
            ));
            toolkit::bootstrap(engine).await.map_err(hint)?.1
        }
    };
    toolkit::check(&toolkit).map_err(hint)?;
    Ok(toolkit)
}

/// Shows the changes that need approval and asks, per `policy`.
fn approve(
    stacks: &[Planned],
    policy: RequireApproval,
    out: &mut dyn Write,
    progress: &dyn Progress,
    prompt: &mut dyn Prompt,
) -> CommandResult {
    let needing: Vec<&Planned> = stacks
        .iter()
        .filter(|s| s.needs == Needs::Deploy)
        .filter(|s| match policy {
            RequireApproval::Never => false,
            RequireApproval::Broadening => s.diff.broadening().next().is_some(),
            RequireApproval::AnyChange => true,
        })
        .collect();
    if needing.is_empty() {
        return Ok(());
    }
    let what = match policy {
        RequireApproval::AnyChange => "changes",
        _ => "changes that broaden access",
    };
    let names: Vec<&str> = needing
        .iter()
        .map(|s| s.local.entry.stack_name.as_str())
        .collect();
    let write_error =
        |e: std::io::Error| Failure::usage(anyhow::Error::new(e).context("writing output"));
    for stack in &needing {
        writeln!(
            out,
            "{} ({}):",
            stack.local.entry.id, stack.local.entry.stack_name
        )
        .map_err(write_error)?;
        match policy {
            RequireApproval::AnyChange => write!(out, "{}", stack.diff).map_err(write_error)?,
            _ => {
                for change in stack.diff.broadening() {
                    writeln!(
                        out,
                        "  + {} {}: {}",
                        change.logical_id, change.kind, change.grant
                    )
                    .map_err(write_error)?;
                }
            }
        }
    }
    out.flush().map_err(write_error)?;
    let changes = format!("{what} in {}", names.join(", "));
    if !prompt.interactive() {
        return Err(DeployError::ApprovalNeedsTerminal {
            stack: names.join(", "),
            changes: what.to_string(),
        }
        .into_failure());
    }
    let mut answer = Ok(false);
    progress.suspend(&mut || answer = prompt.confirm(&format!("Deploy {changes}?")));
    match answer {
        Ok(true) => Ok(()),
        Ok(false) => Err(DeployError::NotApproved {
            stack: names.join(", "),
            changes: what.to_string(),
        }
        .into_failure()),
        Err(e) => Err(Failure::usage(
            anyhow::Error::new(e).context("reading the answer"),
        )),
    }
}

/// Key of a template sent through the asset bucket.
fn template_key(local: &LocalStack) -> String {
    format!("templates/{}.json", local.entry.template_sha256)
}

fn template_source(local: &LocalStack, bucket: &Bucket) -> TemplateSource {
    if local.body.len() > MAX_INLINE_TEMPLATE_BYTES {
        TemplateSource::Url(bucket.url(&template_key(local)))
    } else {
        TemplateSource::Body(local.body.clone())
    }
}

/// Uploads the assets and large templates of the stacks that will deploy
/// and are not in the bucket yet.
async fn upload(
    manifest: &Manifest,
    dir: &Path,
    stacks: &[Planned],
    bucket: &Bucket,
    progress: &dyn Progress,
) -> CommandResult {
    let mut objects: BTreeMap<String, Object> = BTreeMap::new();
    for stack in stacks.iter().filter(|s| s.needs == Needs::Deploy) {
        for name in &stack.local.entry.assets {
            let asset = manifest
                .assets
                .iter()
                .find(|a| &a.name == name)
                .ok_or_else(|| {
                    Failure::usage(anyhow::anyhow!(
                        "stack {} uses asset {name}, which the manifest does not list",
                        stack.local.entry.id
                    ))
                    .hint("synthesise again: the synth output folder is inconsistent")
                })?;
            objects.insert(
                asset.s3_key.clone(),
                Object {
                    key: asset.s3_key.clone(),
                    source: Source::File(dir.join(&asset.file)),
                },
            );
        }
        if stack.local.body.len() > MAX_INLINE_TEMPLATE_BYTES {
            let key = template_key(&stack.local);
            objects.insert(
                key.clone(),
                Object {
                    key,
                    source: Source::Bytes(stack.local.body.clone().into_bytes()),
                },
            );
        }
    }
    if objects.is_empty() {
        return Ok(());
    }
    let objects: Vec<Object> = objects.into_values().collect();
    let uploaded = bucket
        .upload_missing(&objects)
        .await
        .map_err(DeployError::into_failure)?;
    progress.note(&format!(
        "assets: {} uploaded, {} already in s3://{}",
        uploaded.len(),
        objects.len() - uploaded.len(),
        bucket.name
    ));
    Ok(())
}

type StackRun = Run<(StackResult, BTreeMap<String, String>), DeployError>;

/// Prints one line per stack, writes the outputs file, and turns the first
/// failure into the command's.
fn report(
    results: Vec<(String, StackRun)>,
    started: Instant,
    options: &DeployOptions,
    out: &mut dyn Write,
) -> CommandResult {
    let write_error =
        |e: std::io::Error| Failure::usage(anyhow::Error::new(e).context("writing output"));
    let mut outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut first_failure = None;
    let mut failed = 0;
    let mut changed = false;
    for (id, run) in results {
        let line = match run {
            Run::Done((result, stack_outputs)) => {
                outputs.insert(id.clone(), stack_outputs);
                changed |= !matches!(
                    result,
                    StackResult::Unchanged | StackResult::Deployed(Outcome::NoChanges)
                );
                result.to_string()
            }
            Run::Failed(error) => {
                failed += 1;
                let line = format!("FAILED: {error}");
                first_failure.get_or_insert(error);
                line
            }
            Run::NotStarted {
                blocked_by: Some(dependency),
            } => format!("not deployed: {dependency} failed"),
            Run::NotStarted { blocked_by: None } => {
                "not deployed: stopped after a failure".to_string()
            }
        };
        writeln!(out, "{id:<20} {line}").map_err(write_error)?;
    }
    writeln!(
        out,
        "deploy {} in {:.1}s",
        if failed == 0 { "done" } else { "failed" },
        started.elapsed().as_secs_f64()
    )
    .map_err(write_error)?;
    if let Some(path) = &options.outputs_file {
        write_outputs(path, &outputs).map_err(Failure::usage)?;
    }
    match first_failure {
        None => Ok(()),
        Some(error) => Err(changed_anyway(error.into_failure(), changed)),
    }
}

/// Exit code 2 promises that nothing was changed: once another stack of
/// the run has been, a credentials or connection failure is exit 1.
pub(crate) fn changed_anyway(mut failure: Failure, changed: bool) -> Failure {
    if changed && failure.code == crate::failure::ExitCode::Usage {
        failure.code = crate::failure::ExitCode::Failed;
    }
    failure
}

/// Whether `--outputs-file` can be written, asked before anything is
/// deployed: a path found unwritable only after the deploy fails a run
/// that changed the stage.
fn check_outputs_path(path: &Path) -> CommandResult {
    let refuse = |detail: String| {
        Failure::usage(anyhow::anyhow!(
            "--outputs-file {} cannot be written: {detail}",
            path.display()
        ))
        .hint("name a file in a writable folder, like --outputs-file outputs.json; nothing was deployed")
    };
    if path.is_dir() {
        return Err(refuse("it is a folder".to_owned()));
    }
    // The nearest folder that exists: write_outputs creates the rest.
    let mut folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    while !folder.exists() {
        match folder.parent() {
            Some(p) if !p.as_os_str().is_empty() => folder = p.to_path_buf(),
            _ => folder = PathBuf::from("."),
        }
    }
    if !folder.is_dir() {
        return Err(refuse(format!("{} is not a folder", folder.display())));
    }
    tempfile::NamedTempFile::new_in(&folder)
        .map(drop)
        .map_err(|e| refuse(format!("cannot create a file in {}: {e}", folder.display())))
}

/// `{ "<stack id>": { "<output>": "<value>" } }`, pretty, atomically.
fn write_outputs(
    path: &Path,
    outputs: &BTreeMap<String, BTreeMap<String, String>>,
) -> anyhow::Result<()> {
    let mut json = serde_json::to_string_pretty(outputs)?;
    json.push('\n');
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let mut file = tempfile::NamedTempFile::new_in(&parent)
        .with_context(|| format!("writing outputs to {}", path.display()))?;
    file.write_all(json.as_bytes())
        .with_context(|| format!("writing outputs to {}", path.display()))?;
    file.persist(path)
        .with_context(|| format!("writing outputs to {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use stacks::manifest::StackEntry;

    use super::*;
    use crate::deploy::approval::ScriptedPrompt;
    use crate::deploy::progress::PlainProgress;
    use crate::failure::ExitCode;

    fn planned(old: Option<serde_json::Value>, new: serde_json::Value) -> Planned {
        let entry = StackEntry {
            id: "Ingest".into(),
            stack_name: "retail-dev-ingest".into(),
            template_file: "Ingest.template.json".into(),
            template_sha256: String::new(),
            template_bytes: 0,
            resource_count: 1,
            termination_protection: false,
            dependencies: vec![],
            exports: vec![],
            assets: vec![],
        };
        let diff = diff(old.as_ref(), &new);
        Planned {
            local: LocalStack {
                entry,
                body: new.to_string(),
                template: new,
            },
            remote: Remote::default(),
            needs: Needs::Deploy,
            diff,
            hotswap: None,
        }
    }

    fn queue(name: &str) -> serde_json::Value {
        json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": name}}}})
    }

    fn permission() -> serde_json::Value {
        json!({"Resources": {"Invoke": {"Type": "AWS::Lambda::Permission", "Properties": {
            "Action": "lambda:InvokeFunction", "Principal": "apigateway.amazonaws.com",
            "FunctionName": "ingest"}}}})
    }

    fn ask(
        stacks: &[Planned],
        policy: RequireApproval,
        prompt: &mut ScriptedPrompt,
    ) -> (CommandResult, String) {
        let mut out = Vec::new();
        let progress = PlainProgress::new(Vec::new());
        let result = approve(stacks, policy, &mut out, &progress, prompt);
        (result, String::from_utf8(out).unwrap())
    }

    #[test]
    fn a_new_lambda_permission_is_shown_and_deployed_once_approved() {
        let mut prompt = ScriptedPrompt {
            answers: vec![true],
            ..Default::default()
        };
        let (result, shown) = ask(
            &[planned(None, permission())],
            RequireApproval::Broadening,
            &mut prompt,
        );
        assert!(result.is_ok());
        assert!(shown.contains("+ Invoke Lambda permission:"), "{shown}");
        assert_eq!(
            prompt.asked,
            ["Deploy changes that broaden access in retail-dev-ingest?"]
        );
    }

    #[test]
    fn a_declined_broadening_change_fails_the_deploy() {
        let mut prompt = ScriptedPrompt {
            answers: vec![false],
            ..Default::default()
        };
        let (result, _) = ask(
            &[planned(None, permission())],
            RequireApproval::Broadening,
            &mut prompt,
        );
        let failure = result.unwrap_err();
        assert_eq!(failure.code, ExitCode::Failed);
        assert!(failure.to_string().contains("not approved"));
    }

    #[test]
    fn a_change_that_broadens_nothing_is_not_asked_about() {
        let mut prompt = ScriptedPrompt::default();
        let (result, shown) = ask(
            &[planned(Some(queue("a")), queue("b"))],
            RequireApproval::Broadening,
            &mut prompt,
        );
        assert!(result.is_ok());
        assert!(shown.is_empty());
        assert!(prompt.asked.is_empty());
    }

    #[test]
    fn any_change_asks_about_every_change_with_its_diff() {
        let mut prompt = ScriptedPrompt {
            answers: vec![true],
            ..Default::default()
        };
        let (result, shown) = ask(
            &[planned(Some(queue("a")), queue("b"))],
            RequireApproval::AnyChange,
            &mut prompt,
        );
        assert!(result.is_ok());
        assert!(shown.contains("~ AWS::SQS::Queue Q"), "{shown}");
        assert_eq!(prompt.asked.len(), 1);
    }

    #[test]
    fn never_deploys_broadening_changes_without_asking() {
        let mut prompt = ScriptedPrompt::default();
        let (result, _) = ask(
            &[planned(None, permission())],
            RequireApproval::Never,
            &mut prompt,
        );
        assert!(result.is_ok());
        assert!(prompt.asked.is_empty());
    }

    #[test]
    fn without_a_terminal_a_broadening_change_is_refused_as_usage() {
        let mut prompt = ScriptedPrompt::default();
        let (result, _) = ask(
            &[planned(None, permission())],
            RequireApproval::Broadening,
            &mut prompt,
        );
        let failure = result.unwrap_err();
        assert_eq!(failure.code, ExitCode::Usage);
        assert!(failure.hint.unwrap().contains("--require-approval never"));
        assert!(prompt.asked.is_empty());
    }
}
