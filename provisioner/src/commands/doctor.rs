//! `provisioner doctor`: the deploy's preflight alone. What a real account
//! would refuse (credentials, region, Lambda concurrency quota, toolkit
//! version, API Gateway's logging role), one line per check with the fix;
//! nothing is changed. Exit 1 when a check fails.

use std::io::Write;
use std::path::PathBuf;

use crate::aws::AwsOptions;
use crate::failure::{CommandResult, ExitCode, Failure};
use crate::preflight;

/// `provisioner doctor` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct DoctorArgs {
    /// Stage to check the account for.
    #[arg(long, default_value = "dev", env = "PROVISIONER_STAGE")]
    pub stage: String,
    /// Folder written by `provisioner synth` (the reservations to check);
    /// without it that check is skipped with the reason.
    #[arg(
        short = 'o',
        long = "output-dir",
        visible_aliases = ["synth-dir", "out"],
        value_name = "DIR",
        default_value = crate::synth_output::DEFAULT_SYNTH_DIR
    )]
    pub synth_dir: PathBuf,
}

pub fn run(args: DoctorArgs, aws: &AwsOptions, out: &mut dyn Write) -> CommandResult {
    let stage = crate::stage::named(&args.stage)?;
    let stacks = preflight::stage_stacks(&args.synth_dir, stage.name);
    let checks = crate::commands::session::block_on(async {
        Ok(preflight::checks(stage, stacks.as_deref(), aws).await)
    })?;
    preflight::write(stage.name, &checks, out)
        .map_err(|e| Failure::usage(anyhow::Error::new(e).context("writing the report")))?;
    // doctor changes nothing, so a failed check is a finding (1), not a
    // refused command.
    preflight::verdict(stage.name, &checks).map_err(|mut failure| {
        failure.code = ExitCode::Failed;
        failure
    })
}
