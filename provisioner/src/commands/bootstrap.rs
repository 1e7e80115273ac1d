//! `provisioner bootstrap`: creates or upgrades the toolkit stack (the asset
//! bucket) in the account and region of a stage.

use std::io::Write;
use std::time::Duration;

use stacks::assets::TOOLKIT_STACK_NAME;

use crate::aws::Clients;
use crate::deploy::cfn::Cfn;
use crate::deploy::engine::{Engine, Method, Outcome};
use crate::deploy::progress::Progress;
use crate::deploy::toolkit;
use crate::failure::CommandResult;

/// `provisioner bootstrap` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct BootstrapArgs {
    /// The stage whose account and region get the toolkit (`--region`
    /// overrides the region).
    #[arg(long, default_value = "dev", env = "PROVISIONER_STAGE")]
    pub stage: String,
    /// How the toolkit stack is created and updated.
    #[arg(long, value_enum, default_value = "change-set")]
    pub method: Method,
}

pub fn run(
    args: BootstrapArgs,
    aws: &crate::aws::AwsOptions,
    out: &mut dyn Write,
) -> CommandResult {
    use crate::commands::session;
    let stage = crate::stage::named(&args.stage)?;
    let progress = session::progress();
    session::block_on(async {
        let clients = session::clients(aws, stage.region).await;
        bootstrap(
            stage.name,
            &clients,
            args.method,
            &session::change_set_name(),
            session::poll_interval(aws),
            out,
            progress.as_ref(),
        )
        .await
    })
}

pub async fn bootstrap(
    stage: &str,
    clients: &Clients,
    method: Method,
    change_set_name: &str,
    poll: Duration,
    out: &mut dyn Write,
    progress: &dyn Progress,
) -> CommandResult {
    let cfn = Cfn::new(clients.cloudformation.clone(), poll);
    let engine = Engine {
        cfn: &cfn,
        progress,
        method,
        change_set_name: change_set_name.to_string(),
        replacement_gate: None,
        disable_rollback: false,
    };
    let account = toolkit::Account {
        sts: &clients.sts,
        s3: &clients.s3,
        region: &clients.region,
    };
    let (outcome, toolkit) = toolkit::bootstrap(&engine, Some(&account))
        .await
        .map_err(|e| e.into_failure_in(stage))?;
    let done = match outcome {
        Outcome::Created => "created",
        Outcome::Updated => "updated",
        Outcome::NoChanges => "up to date",
    };
    writeln!(
        out,
        "{TOOLKIT_STACK_NAME} {done} in {}: asset bucket {} (version {})",
        clients.region, toolkit.bucket, toolkit.version
    )
    .map_err(crate::output::unwritable)
}
