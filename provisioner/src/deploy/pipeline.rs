//! One deploy, step by step: read the synth output, make sure the toolkit
//! is there, plan each stack against what is deployed, ask for approval,
//! upload the assets, deploy in dependency order, report.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use stacks::manifest::Manifest;
use stacks::model::limits::MAX_INLINE_TEMPLATE_BYTES;

use super::approval::{Prompt, RequireApproval, approve};
use super::cfn::{Cfn, TemplateSource};
use super::diff::diff;
use super::engine::{Engine, Method, StackRequest};
use super::error::DeployError;
use super::exports;
use super::hotswap::{self, Hotswap, Plan};
use super::plan::{self, Closure, LocalStack, Needs, Planned};
use super::progress::Progress;
use super::replacement::{PromptGate, ReplacementGate};
use super::report::{StackResult, report};
use super::schedule::{self, Node, Run};
use super::toolkit;
use super::upload::{Bucket, Object};
use crate::aws::Clients;
use crate::failure::{CommandResult, Failure};
use crate::synth_output::{check_region, read_manifest};

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
    /// `--output json`: standard output holds only the JSON report; what
    /// is printed along the way (approval, hotswap notes) goes to
    /// standard error.
    pub output: crate::output::Format,
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
        hotswap::check_stage(crate::stage::named(stage)?, hotswap.force)?;
    }
    let manifest = read_manifest(dir, stage)?;
    check_region(&manifest, &clients.region)?;
    let closure = if options.exclusively {
        Closure::Exactly
    } else {
        Closure::Dependencies
    };
    let ids = plan::select(&manifest, &options.stacks, closure)?;
    crate::accounts::check_selection(&manifest, &ids)?;
    let local = plan::read_local(dir, &manifest, &ids).map_err(DeployError::into_failure)?;
    let assets = asset_objects(&manifest, dir, &local)?;

    let cfn = Cfn::new(clients.cloudformation.clone(), options.poll);
    let engine = Engine {
        cfn: &cfn,
        progress,
        method: options.method,
        change_set_name: options.change_set_name.clone(),
        replacement_gate: None,
        disable_rollback: options.disable_rollback,
    };
    let toolkit = ensure_toolkit(&engine, clients, stage, progress).await?;
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
    let json = options.output == crate::output::Format::Json;
    let mut to_stderr = std::io::stderr();
    approve(
        &stacks,
        options.require_approval,
        crate::output::verbosity() == crate::output::Verbosity::Verbose,
        if json { &mut to_stderr } else { &mut *out },
        progress,
        prompt,
    )?;
    upload(assets, &stacks, &bucket, progress).await?;
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
    let result = report(results, started, stage, options, &mut *out);
    let notes = match options.hotswap {
        Some(_) => hotswap_notes(
            &stacks,
            &hotswapped,
            if json { &mut to_stderr } else { out },
        ),
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
    hotswap::write_notes(out, &fallbacks, &hotswapped).map_err(crate::output::unwritable)
}

/// The toolkit, created on the first deploy in an account and region, and
/// refused when its version is not this build's.
async fn ensure_toolkit(
    engine: &Engine<'_>,
    clients: &Clients,
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
            let account = toolkit::Account {
                sts: &clients.sts,
                s3: &clients.s3,
                region: &clients.region,
            };
            toolkit::bootstrap(engine, Some(&account))
                .await
                .map_err(hint)?
                .1
        }
    };
    toolkit::check(&toolkit).map_err(hint)?;
    Ok(toolkit)
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

/// The Lambda zips of the selected stacks, each read and checked against
/// the manifest's SHA-256 before anything is changed. Every selected stack's
/// assets, not only those of stacks that will deploy: a damaged object in
/// the bucket is then replaced by any deploy of its stack.
fn asset_objects(
    manifest: &Manifest,
    dir: &Path,
    stacks: &[LocalStack],
) -> Result<Vec<Object>, Failure> {
    let mut objects: BTreeMap<&str, Object> = BTreeMap::new();
    for stack in stacks {
        for name in &stack.entry.assets {
            let asset = manifest
                .assets
                .iter()
                .find(|a| &a.name == name)
                .ok_or_else(|| {
                    Failure::usage(anyhow::anyhow!(
                        "stack {} uses asset {name}, which the manifest does not list",
                        stack.entry.id
                    ))
                    .hint("synthesise again: the synth output folder is inconsistent")
                })?;
            if !objects.contains_key(asset.s3_key.as_str()) {
                let object = Object::asset(&asset.s3_key, &dir.join(&asset.file), &asset.sha256)
                    .map_err(|e| e.into_failure_in(&manifest.stage))?;
                objects.insert(&asset.s3_key, object);
            }
        }
    }
    Ok(objects.into_values().collect())
}

/// Uploads the assets, and the large templates of the stacks that will
/// deploy, that the bucket does not hold intact.
async fn upload(
    mut objects: Vec<Object>,
    stacks: &[Planned],
    bucket: &Bucket,
    progress: &dyn Progress,
) -> CommandResult {
    for stack in stacks.iter().filter(|s| s.needs == Needs::Deploy) {
        if stack.local.body.len() > MAX_INLINE_TEMPLATE_BYTES {
            let body = stack.local.body.clone().into_bytes();
            objects.push(Object::new(template_key(&stack.local), body));
        }
    }
    if objects.is_empty() {
        return Ok(());
    }
    let uploaded = bucket
        .upload_missing(&objects)
        .await
        .map_err(DeployError::into_failure)?;
    for key in &uploaded.replaced {
        progress.note(&format!(
            "s3://{}/{key} held other bytes than its asset (damaged or overwritten): replaced",
            bucket.name
        ));
    }
    progress.note(&format!(
        "assets: {} uploaded, {} replaced, {} already in s3://{}",
        uploaded.sent.len(),
        uploaded.replaced.len(),
        uploaded.intact,
        bucket.name
    ));
    Ok(())
}
