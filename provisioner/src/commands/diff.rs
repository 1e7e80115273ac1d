//! `provisioner diff`: what a deploy would change, stack by stack, against
//! the deployed templates.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::aws::Clients;
use crate::commands::synth_output::read_manifest;
use crate::deploy::cfn::Cfn;
use crate::deploy::diff::diff as diff_templates;
use crate::deploy::error::DeployError;
use crate::deploy::plan::{self, Closure};
use crate::failure::{CommandResult, Failure};

/// `provisioner diff` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct DiffArgs {
    #[arg(long, default_value = "dev", env = "PROVISIONER_STAGE")]
    pub stage: String,
    /// Stacks to compare; none: every stack.
    pub stacks: Vec<String>,
    /// Exit with code 1 when a stack differs.
    #[arg(long)]
    pub fail: bool,
    /// Folder written by `provisioner synth`.
    #[arg(long, default_value = crate::cli::DEFAULT_SYNTH_DIR)]
    pub synth_dir: PathBuf,
}

pub fn run(args: DiffArgs, aws: &crate::aws::AwsOptions, out: &mut dyn Write) -> CommandResult {
    use crate::commands::session;
    let stage = crate::cli::stage_named(&args.stage)?;
    session::block_on(async {
        let clients = session::clients(aws, stage.region).await;
        diff(
            &args.synth_dir,
            stage.name,
            &args.stacks,
            args.fail,
            &clients,
            out,
        )
        .await
    })
}

/// Prints the differences; with `fail`, a difference is exit code 1.
pub async fn diff(
    dir: &Path,
    stage: &str,
    stacks: &[String],
    fail: bool,
    clients: &Clients,
    out: &mut dyn Write,
) -> CommandResult {
    let manifest = read_manifest(dir, stage)?;
    super::deploy::check_region(&manifest, &clients.region)?;
    let ids = plan::select(&manifest, stacks, Closure::Exactly)?;
    let local = plan::read_local(dir, &manifest, &ids).map_err(DeployError::into_failure)?;
    let cfn = Cfn::new(clients.cloudformation.clone(), Duration::from_secs(1));
    let remotes = futures_util::future::try_join_all(
        local
            .iter()
            .map(|s| plan::remote(&cfn, &s.entry.stack_name)),
    )
    .await
    .map_err(DeployError::into_failure)?;
    let write_error =
        |e: std::io::Error| Failure::usage(anyhow::Error::new(e).context("writing output"));
    let mut differing = Vec::new();
    for (stack, remote) in local.iter().zip(&remotes) {
        let differences = diff_templates(remote.template.as_ref(), &stack.template);
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
        .map_err(write_error)?;
        let protection_changes = remote
            .state
            .as_ref()
            .is_some_and(|s| s.termination_protection != stack.entry.termination_protection);
        if differences.is_empty() && !protection_changes {
            writeln!(out, "  no differences").map_err(write_error)?;
            continue;
        }
        differing.push(stack.entry.id.clone());
        write!(out, "{differences}").map_err(write_error)?;
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
            .map_err(write_error)?;
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
