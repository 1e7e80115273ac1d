//! `provisioner send --stage NAME FILE...`: the command line of
//! [`crate::send`]: arguments, the API's URL (`--api-url`, or the Api
//! stack's `ApiUrl` output) and the credentials that sign the requests.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_credential_types::provider::ProvideCredentials;

use crate::aws::AwsOptions;
use crate::commands::session;
use crate::deploy::cfn::Cfn;
use crate::failure::{CommandResult, Failure};
use crate::send::client::{RetryPolicy, Target};
use crate::send::progress::{LiveRows, PlainRows, RowProgress};
use crate::send::{self, SendOptions, batch};
use crate::synth_output::read_manifest;

/// The stack holding the API, by its manifest id, and its URL output.
const API_STACK: &str = "Api";
const API_URL_OUTPUT: &str = "ApiUrl";

/// `provisioner send` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    /// Stage whose API receives the rows.
    #[arg(long, default_value = "dev", env = "PROVISIONER_STAGE")]
    pub stage: String,
    /// The retailer's CSV files (header InvoiceNo,StockCode,...; dates as
    /// `2010-12-01 08:26:00` or `12/1/2010 8:26`).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The API's invoke URL (the Api stack's ApiUrl output); by default
    /// read from the deployed stack.
    #[arg(long)]
    pub api_url: Option<String>,
    /// Folder written by `provisioner synth` (names the Api stack).
    #[arg(
        short = 'o',
        long = "output-dir",
        visible_aliases = ["synth-dir", "out"],
        value_name = "DIR",
        default_value = crate::synth_output::DEFAULT_SYNTH_DIR
    )]
    pub synth_dir: PathBuf,
    /// Rows per request (the API takes at most 500).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=500))]
    pub batch_size: u16,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Requests per batch before its rows count as failed (resends after
    /// throttling, 5xx, or items the stream did not store).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_attempts: u32,
    /// Where rows not accepted are written, with their reasons; never
    /// overwritten.
    #[arg(long, default_value = "rejected.csv")]
    pub rejected_file: PathBuf,
    /// Validate the files and write the rejected file, sending nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// `json`: the summary as one document (the counts, `seconds`,
    /// `rejectedFile`).
    #[arg(long, value_enum, default_value = "text")]
    pub output: crate::output::Format,
}

impl SendArgs {
    pub fn options(&self) -> SendOptions {
        SendOptions {
            batch_size: usize::from(self.batch_size),
            concurrency: usize::from(self.concurrency),
            retry: RetryPolicy {
                max_attempts: self.max_attempts,
                ..RetryPolicy::default()
            },
            rejected_file: self.rejected_file.clone(),
            output: self.output,
        }
    }
}

/// Runs `provisioner send` with the process's terminal.
pub fn run(args: SendArgs, aws: &AwsOptions, out: &mut dyn Write) -> CommandResult {
    let stage = crate::stage::named(&args.stage)?;
    let started = Instant::now();
    let input = send::read_input(&args.files).map_err(|e| {
        let hint = match &e {
            batch::ReadError::Io { .. } => "check the file names".to_owned(),
            batch::ReadError::NotTransactions { .. } => {
                format!(
                    "send the retailer's CSV files, whose header is {}",
                    record::CSV_HEADER
                )
            }
        };
        Failure::usage(e).hint(format!("{hint}; nothing was sent"))
    })?;
    let quiet = crate::output::verbosity() == crate::output::Verbosity::Quiet;
    let progress: Box<dyn RowProgress> = if quiet {
        Box::new(PlainRows::new(std::io::sink(), Duration::from_secs(5)))
    } else if std::io::stderr().is_terminal() {
        Box::new(LiveRows::new())
    } else {
        Box::new(PlainRows::new(std::io::stderr(), Duration::from_secs(5)))
    };
    session::block_on(async {
        let target = if args.dry_run {
            None
        } else {
            let region = aws.region.as_deref().unwrap_or(stage.region);
            Some(target(&args, aws, stage.name, region).await?)
        };
        send::send(
            input,
            target,
            &args.options(),
            started,
            out,
            progress.as_ref(),
        )
        .await
    })
}

/// The URL to POST to and the credentials to sign with.
async fn target(
    args: &SendArgs,
    aws: &AwsOptions,
    stage: &str,
    region: &str,
) -> Result<Target, Failure> {
    let config = crate::aws::sdk_config(aws, region).await;
    let api_url = match &args.api_url {
        Some(url) => url.clone(),
        None => {
            let cloudformation = aws_sdk_cloudformation::Client::new(&config);
            deployed_api_url(&args.synth_dir, stage, region, cloudformation).await?
        }
    };
    let no_credentials = "configure credentials (aws configure, AWS_PROFILE or --profile); \
                          nothing was sent";
    let credentials = config.credentials_provider().ok_or_else(|| {
        Failure::usage(anyhow::anyhow!(
            "no AWS credentials to sign the requests with"
        ))
        .hint(no_credentials)
    })?;
    // Known before the first request: without this, every batch would be
    // "refused" and its rows copied to the rejected file for a fault not
    // theirs.
    credentials.provide_credentials().await.map_err(|e| {
        Failure::usage(
            anyhow::Error::new(e).context("no AWS credentials to sign the requests with"),
        )
        .hint(no_credentials)
    })?;
    Ok(Target {
        url: transactions_url(&api_url)?,
        region: region.to_owned(),
        credentials,
    })
}

/// The Api stack's `ApiUrl` output, its stack named by the synth manifest.
async fn deployed_api_url(
    synth_dir: &std::path::Path,
    stage: &str,
    region: &str,
    cloudformation: aws_sdk_cloudformation::Client,
) -> Result<String, Failure> {
    let manifest = read_manifest(synth_dir, stage)?;
    let stack = manifest
        .stacks
        .iter()
        .find(|s| s.id == API_STACK)
        .ok_or_else(|| {
            Failure::usage(anyhow::anyhow!(
                "the synth output in {} has no {API_STACK} stack",
                synth_dir.display()
            ))
            .hint(format!(
                "run `provisioner synth --stage {stage}`, or pass --api-url"
            ))
        })?;
    let deploy_hint =
        format!("deploy the stage first (`provisioner deploy --stage {stage}`), or pass --api-url");
    let state = Cfn::new(cloudformation, Duration::ZERO)
        .describe(&stack.stack_name)
        .await
        .map_err(|e| e.into_failure_in(stage))?
        .ok_or_else(|| {
            Failure::usage(anyhow::anyhow!(
                "stack {} does not exist in {region}",
                stack.stack_name
            ))
            .hint(deploy_hint.clone())
        })?;
    state.outputs.get(API_URL_OUTPUT).cloned().ok_or_else(|| {
        Failure::usage(anyhow::anyhow!(
            "stack {} ({}) has no {API_URL_OUTPUT} output",
            stack.stack_name,
            state.status
        ))
        .hint(deploy_hint)
    })
}

/// `{api_url}/transactions`, for an http(s) URL.
fn transactions_url(api_url: &str) -> Result<hyper::Uri, Failure> {
    let url = format!("{}/transactions", api_url.trim_end_matches('/'));
    let bad = |detail: String| {
        Failure::usage(anyhow::anyhow!("the API URL {api_url:?} is not usable: {detail}"))
            .hint("pass the Api stack's ApiUrl output, like https://abc123.execute-api.eu-west-1.amazonaws.com/v1")
    };
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| bad(e.to_string()))?;
    match uri.scheme_str() {
        Some("https" | "http") if uri.host().is_some() => Ok(uri),
        _ => Err(bad("expected an http:// or https:// URL".to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transactions_path_is_appended_to_the_api_url() {
        assert_eq!(
            transactions_url("https://abc.execute-api.eu-west-1.amazonaws.com/v1/")
                .unwrap()
                .to_string(),
            "https://abc.execute-api.eu-west-1.amazonaws.com/v1/transactions"
        );
    }

    #[test]
    fn an_api_url_without_a_scheme_is_a_usage_error() {
        let failure = transactions_url("abc.execute-api.eu-west-1.amazonaws.com/v1").unwrap_err();
        assert_eq!(failure.code, crate::failure::ExitCode::Usage);
        assert!(failure.to_string().contains("not usable"), "{failure}");
    }
}
