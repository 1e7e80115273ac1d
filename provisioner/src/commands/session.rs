//! What the AWS commands (bootstrap, deploy, diff, destroy) set up alike:
//! the async runtime, the clients for the stage's region, how progress is
//! shown, and the run's change set name.

use std::future::Future;
use std::io::IsTerminal;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::aws::{AwsOptions, Clients};
use crate::deploy::cfn::Cfn;
use crate::deploy::progress::{LiveProgress, PlainProgress, Progress};
use crate::failure::Failure;

/// Runs an AWS command on a fresh multi-threaded runtime.
pub fn block_on<T>(command: impl Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(anyhow::Error::new(e).context("starting the async runtime")))?
        .block_on(command)
}

/// Clients for `--region`, or else the stage's region.
pub async fn clients(aws: &AwsOptions, stage_region: &str) -> Clients {
    let region = aws.region.as_deref().unwrap_or(stage_region);
    crate::aws::clients(aws, region).await
}

/// A live view when standard error is a terminal, plain lines otherwise.
/// Nothing under `--quiet`.
pub fn progress() -> Box<dyn Progress> {
    if crate::output::verbosity() == crate::output::Verbosity::Quiet {
        Box::new(PlainProgress::new(std::io::sink()))
    } else if std::io::stderr().is_terminal() {
        Box::new(LiveProgress::new())
    } else {
        Box::new(PlainProgress::new(std::io::stderr()))
    }
}

/// Time between polls of a running stack operation. CloudFormation's
/// Describe* calls are throttled per account; every 2 s per stack stays far
/// below that. An emulator answers at once, so poll it quickly.
pub fn poll_interval(aws: &AwsOptions) -> Duration {
    if aws.endpoint_url.is_some() {
        Duration::from_millis(100)
    } else {
        Duration::from_secs(2)
    }
}

/// A change set name unique to this run (names must be unique per stack
/// among its unexecuted change sets; 128 characters, a letter first).
pub fn change_set_name() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("provisioner-{millis}-{}", std::process::id())
}

/// The SDK configuration for `--region` (else the stage's region) and a
/// CloudFormation reader on it: how the commands on a deployed stage's
/// data (reconcile, replay, reimport) find its stacks and their outputs.
pub async fn stage_clients(aws: &AwsOptions, stage_region: &str) -> (aws_config::SdkConfig, Cfn) {
    let region = aws.region.as_deref().unwrap_or(stage_region);
    let shared = crate::aws::sdk_config(aws, region).await;
    let cfn = Cfn::new(
        aws_sdk_cloudformation::Client::new(&shared),
        Duration::from_secs(1),
    );
    (shared, cfn)
}
