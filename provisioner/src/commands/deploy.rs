//! `provisioner deploy`: parses the arguments and runs the deploy pipeline
//! (`deploy::pipeline`) with the process's terminal.

use std::io::Write;
use std::path::PathBuf;

use crate::deploy::approval::RequireApproval;
use crate::deploy::engine::Method;
use crate::deploy::hotswap::{Hotswap, Lambda};
use crate::deploy::outputs::check_outputs_path;
use crate::deploy::pipeline::{DeployOptions, deploy};
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
    #[arg(
        short = 'o',
        long = "output-dir",
        visible_aliases = ["synth-dir", "out"],
        value_name = "DIR",
        default_value = crate::synth_output::DEFAULT_SYNTH_DIR
    )]
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
    /// Hotswap even on a protected stage (prod), accepting that its
    /// functions run code their stacks do not name until the next deploy.
    #[arg(long, requires = "hotswap")]
    pub hotswap_prod: bool,
    /// Refused, saying what to use: this flag once meant `--hotswap-prod`,
    /// and CDK's meaning (redeploy unchanged stacks) has no use here.
    #[arg(long, hide = true)]
    pub force: bool,
    /// The result as one JSON document on standard output
    /// (`{stage, result, seconds, stacks: [{id, stackName, result, error}]}`).
    #[arg(long, value_enum, default_value = "text")]
    pub output: crate::output::Format,
    /// Keep what a failed update created or changed instead of rolling it
    /// back (CloudFormation's DisableRollback): fix the cause and deploy
    /// again. A first create that fails is still deleted on the next run.
    #[arg(long)]
    pub no_rollback: bool,
    #[command(flatten)]
    pub accounts: crate::accounts::AccountArgs,
}

/// Runs `provisioner deploy` with the process's terminal.
pub fn run(args: DeployArgs, aws: &crate::aws::AwsOptions, out: &mut dyn Write) -> CommandResult {
    use crate::commands::session;
    if args.force {
        return Err(crate::failure::Failure::usage(anyhow::anyhow!(
            "deploy has no --force: a hotswap on a protected stage is --hotswap-prod"
        ))
        .hint(
            "nothing was changed; use `--hotswap --hotswap-prod` to hotswap prod, or drop \
             --force: an unchanged stack is skipped because deploying it would change nothing \
             (`provisioner diff` shows what differs)",
        ));
    }
    let stage = crate::stage::named(&args.stage)?;
    if args.hotswap {
        crate::deploy::hotswap::check_stage(stage, args.hotswap_prod)?;
    }
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
        output: args.output,
    };
    let progress = session::progress();
    let mut prompt = crate::deploy::approval::TerminalPrompt;
    let manifest = crate::synth_output::read_manifest(&args.synth_dir, stage.name)?;
    let groups = crate::accounts::groups(&manifest, stage, &args.accounts.profile_for)?;
    if !groups.is_empty() {
        let closure = if args.exclusively {
            crate::deploy::plan::Closure::Exactly
        } else {
            crate::deploy::plan::Closure::Dependencies
        };
        let selected = crate::deploy::plan::select(&manifest, &options.stacks, closure)?;
        return session::block_on(async {
            // Every profile is checked to reach its account before
            // anything changes in either.
            let sessions = crate::accounts::sessions(aws, &groups, &selected).await?;
            for session in &sessions {
                crate::synth_output::check_region(&manifest, &session.clients.region)?;
            }
            // Each account's deploy writes its own outputs; one file holds
            // them all at the end, also after a failure (as for one account).
            let parts = tempfile::tempdir().map_err(|e| {
                Failure::usage(anyhow::Error::new(e).context("creating a temporary folder"))
            })?;
            let mut part_files = Vec::new();
            // Under --output json the checks' lines go to standard error, as
            // for one account, and one document is printed at the end.
            let mut reports =
                crate::accounts::AccountReports::new(&mut *out, args.output, "not deployed");
            // The data account first (`accounts::groups` says why).
            let mut deployed: CommandResult = Ok(());
            let mut failed_in: Option<String> = None;
            for crate::accounts::Session {
                group,
                ids,
                aws: account_aws,
                clients,
            } in sessions
            {
                if let Some(failed) = &failed_in {
                    reports.skipped(&group.account.id, &ids, failed);
                    continue;
                }
                progress.note(&format!(
                    "account {} (profile {}): {}",
                    group.account.id,
                    group.profile,
                    ids.join(", ")
                ));
                crate::preflight::before_deploy(
                    stage,
                    &args.synth_dir,
                    &account_aws,
                    reports.notes(),
                    progress.as_ref(),
                )
                .await?;
                let part = parts.path().join(format!("{}.json", group.account.id));
                let hotswap = match args.hotswap {
                    true => Some(Hotswap {
                        lambda: Lambda::connect(&account_aws, &clients.region, options.poll).await,
                        force: args.hotswap_prod,
                    }),
                    false => None,
                };
                let options = DeployOptions {
                    stacks: ids,
                    exclusively: true,
                    outputs_file: options.outputs_file.as_ref().map(|_| part.clone()),
                    hotswap,
                    ..options.clone()
                };
                part_files.push(part);
                deployed = deploy(
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
                if deployed.is_err() {
                    failed_in = Some(group.account.id.clone());
                }
            }
            if let Some(path) = &options.outputs_file {
                crate::deploy::outputs::merge_outputs(&part_files, path).map_err(Failure::usage)?;
            }
            reports.finish(stage.name)?;
            deployed
        });
    }
    session::block_on(async {
        // Usage errors first (hotswap on prod, no synth output, another
        // region), then what the account would refuse half-way: both before
        // anything changes.
        let clients = session::clients(aws, stage.region).await;
        let manifest = crate::synth_output::read_manifest(&args.synth_dir, stage.name)?;
        crate::synth_output::check_region(&manifest, &clients.region)?;
        // Standard output holds only the JSON report under --output json.
        let mut to_stderr = std::io::stderr();
        let checks_out: &mut dyn Write = match args.output {
            crate::output::Format::Json => &mut to_stderr,
            crate::output::Format::Text => &mut *out,
        };
        crate::preflight::before_deploy(stage, &args.synth_dir, aws, checks_out, progress.as_ref())
            .await?;
        if args.hotswap {
            options.hotswap = Some(Hotswap {
                lambda: Lambda::connect(aws, &clients.region, options.poll).await,
                force: args.hotswap_prod,
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
