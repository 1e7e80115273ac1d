//! AWS SDK configuration the AWS way: the standard credential provider chain
//! (environment, profiles, SSO, instance roles), `--profile`, `--region`,
//! and `--endpoint-url` / `AWS_ENDPOINT_URL` for a local emulator.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future};
use aws_runtime::env_config::file::EnvConfigFiles;
use aws_types::os_shim_internal::{Env, Fs};
pub use sdk_config::https_client;

/// Global AWS options of the command line.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AwsOptions {
    /// Named profile from ~/.aws/config (SSO profiles included).
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// Region; defaults to the stage's region. A stage synthesised for one
    /// region cannot be deployed to another (its templates name it), so
    /// AWS_REGION is read as the flag is: both are checked alike.
    #[arg(long, global = true, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Endpoint of every AWS service, e.g. a local emulator on
    /// http://127.0.0.1:5000.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Attempts per AWS call, the first included (1: no retries); default
    /// 7, with exponential backoff from 1 s up to 15 s between them.
    #[arg(long, global = true, env = "AWS_MAX_ATTEMPTS", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: Option<u32>,
}

/// The clients deploy, diff, destroy and bootstrap use, with the region
/// they talk to.
#[derive(Debug, Clone)]
pub struct Clients {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    /// Who the credentials are (the account in names such as the asset
    /// bucket's).
    pub sts: aws_sdk_sts::Client,
    pub region: String,
}

/// Attempts per call, the first included. Throttling (CloudFormation's
/// Describe* calls are rate limited per account) and transient errors are
/// retried with exponential backoff and jitter by the SDK's standard mode.
/// CDK's CloudFormation client: 7 attempts, backoff from 1 s capped at 15 s
/// (toolkit-lib `sdk.ts`, `ConfiguredRetryStrategy(7,
/// cappedExponentialBackoff(1000, 15_000))`). Wait loops ride out longer
/// throttling on top of this (`deploy::patience`).
pub const MAX_ATTEMPTS: u32 = 7;

/// Longest pause between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15);

/// Standard retries: exponential backoff with jitter on throttling and
/// transient errors, [`MAX_ATTEMPTS`] attempts in all.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_secs(1))
        .with_max_backoff(MAX_BACKOFF)
}

/// [`retry_config`] with `--max-attempts` (or `AWS_MAX_ATTEMPTS`, the
/// variable the AWS SDKs and tools read:
/// <https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html>)
/// when given.
fn retries(options: &AwsOptions) -> RetryConfig {
    retry_config().with_max_attempts(options.max_attempts.unwrap_or(MAX_ATTEMPTS))
}

/// `aws_config`'s loader with the latest behaviour and the one HTTPS client
/// ([`https_client`]): the SDK crates are built without a default client.
pub fn config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https_client())
}

/// The shared SDK configuration for `region`: credentials from the standard
/// chain (or `--profile`), retries with backoff (`--max-attempts`), and
/// `--endpoint-url`. Every command builds its service clients from it.
pub async fn sdk_config(options: &AwsOptions, region: &str) -> SdkConfig {
    let mut loader = config_loader()
        .region(Region::new(region.to_string()))
        .retry_config(retries(options));
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
        let (fs, env) = (Fs::real(), Env::real());
        if let Some(missing) = MissingProfile::check(profile, &fs, &env).await {
            loader = loader.credentials_provider(missing);
        }
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// Credentials for a `--profile` that no profile file defines: every call
/// fails, saying so. Without it the SDK falls through its chain to the
/// instance metadata service and fails there, naming neither the profile
/// nor the files it looked in.
#[derive(Debug)]
struct MissingProfile {
    message: String,
}

impl MissingProfile {
    async fn check(name: &str, fs: &Fs, env: &Env) -> Option<Self> {
        let files = EnvConfigFiles::default();
        // An unreadable or malformed file is the SDK's to report, as it does.
        let profiles = aws_config::profile::load(fs, env, &files, None)
            .await
            .ok()?;
        if profiles.get_profile(name).is_some() {
            return None;
        }
        let mut known: Vec<&str> = profiles.profiles().collect();
        known.sort_unstable();
        let known = match known.as_slice() {
            [] => "none is defined: create one with `aws configure --profile NAME` or `aws \
                   configure sso`"
                .to_string(),
            names => format!("defined: {}", names.join(", ")),
        };
        Some(Self {
            message: format!(
                "profile `{name}` is not in ~/.aws/config or ~/.aws/credentials ({known})"
            ),
        })
    }
}

impl ProvideCredentials for MissingProfile {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Err(CredentialsError::not_loaded(self.message.clone())))
    }
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
        sts: aws_sdk_sts::Client::new(&shared),
        region: region.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn missing(name: &str, config: &str) -> Option<String> {
        let fs = Fs::from_slice(&[("/home/u/.aws/config", config)]);
        let env = Env::from_slice(&[("HOME", "/home/u")]);
        MissingProfile::check(name, &fs, &env)
            .await
            .map(|m| m.message)
    }

    #[test]
    fn max_attempts_replaces_the_attempts_and_keeps_the_backoff() {
        let given = AwsOptions {
            max_attempts: Some(1),
            ..AwsOptions::default()
        };
        assert_eq!(retries(&given).max_attempts(), 1);
        assert_eq!(retries(&given).max_backoff(), MAX_BACKOFF);
        assert_eq!(retries(&AwsOptions::default()), retry_config());
    }

    #[tokio::test]
    async fn a_profile_that_no_file_defines_is_named_with_the_ones_that_exist() {
        let config = "[profile prod]\nregion = eu-west-1\n[profile dev]\n";
        assert_eq!(missing("prod", config).await, None);
        assert_eq!(
            missing("staging", config).await.unwrap(),
            "profile `staging` is not in ~/.aws/config or ~/.aws/credentials (defined: dev, prod)"
        );
        assert!(missing("x", "").await.unwrap().contains("aws configure"));
    }
}
