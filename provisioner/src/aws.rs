//! AWS SDK configuration the AWS way: the standard credential provider chain
//! (environment, profiles, SSO, instance roles), `--profile`, `--region`,
//! and `--endpoint-url` / `AWS_ENDPOINT_URL` for a local emulator.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Global AWS options of the command line.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AwsOptions {
    /// Named profile from ~/.aws/config (SSO profiles included).
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// Region; defaults to the stage's region. A stage synthesised for one
    /// region cannot be deployed to another (its templates name it).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Endpoint of every AWS service, e.g. a local emulator on
    /// http://127.0.0.1:5000.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
}

/// The clients deploy, diff, destroy and bootstrap use, with the region
/// they talk to.
#[derive(Debug, Clone)]
pub struct Clients {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub region: String,
}

/// Attempts per call, the first included. Throttling (CloudFormation's
/// Describe* calls are rate limited per account) and transient errors are
/// retried with exponential backoff and jitter by the SDK's standard mode.
const MAX_ATTEMPTS: u32 = 6;

/// The shared SDK configuration for `region`: credentials from the standard
/// chain (or `--profile`), retries with backoff, and `--endpoint-url`.
/// Every command builds its service clients from it.
pub async fn sdk_config(options: &AwsOptions, region: &str) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(200)),
        );
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// An S3 client for `shared`; emulators serve buckets under the endpoint's
/// path, not as subdomains of it.
pub fn s3_client(shared: &SdkConfig, options: &AwsOptions) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(shared)
        .force_path_style(options.endpoint_url.is_some())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Loads the shared configuration for `region` and builds the clients.
pub async fn clients(options: &AwsOptions, region: &str) -> Clients {
    let shared = sdk_config(options, region).await;
    Clients {
        cloudformation: aws_sdk_cloudformation::Client::new(&shared),
        s3: s3_client(&shared, options),
        region: region.to_string(),
    }
}
