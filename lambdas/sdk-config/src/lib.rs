//! sdk-config: the AWS SDK configuration every function loads, from
//! Lambda's environment alone, on one TLS stack.
//!
//! Lambda gives a function everything the SDK needs in its environment:
//! the execution role's credentials (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) and `AWS_REGION`; the
//! local run adds `AWS_ENDPOINT_URL`. `aws-config`'s default chain (profile
//! files, SSO, STS web identity and assume-role, the container and instance
//! metadata endpoints) finds the same answers first, but links all of it
//! into every function: 2.0 MB of a 7.8 MB binary, 0.7 MB of its zip
//! (measured on a Kinesis client, issue 15). Nothing else of the chain is
//! ever used in Lambda, so this crate builds the configuration from those
//! variables, with what `aws-config`'s defaults add for them: the latest
//! behaviour version, standard retries and its 3.1 s connect timeout.
//!
//! The HTTPS client ([`https_client`]) is the SDK's own on rustls with ring
//! instead of its default aws-lc-rs, whose `aws-lc-sys` is a large C library
//! (0.74 MB of batch-import's binary, ~230 s of the cold build of all
//! functions). `provisioner` gives its own configuration the same client,
//! so no SDK crate of the workspace is built with `default-https-client`,
//! and `provisioner`'s tests check that nothing in the workspace builds
//! aws-lc-rs (and so no function links both providers).
//!
//! A library, not a function: it has no `src/main.rs`, so the provisioner
//! never builds it as a Lambda asset.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_async::rt::sleep::default_async_sleep;
use aws_smithy_async::time::SystemTimeSource;
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_types::SdkConfig;
use aws_types::region::Region;
use aws_types::sdk_config::{RetryConfig, TimeoutConfig};

/// `aws-config`'s default connect timeout (for the latest behaviour
/// version); a function's own timeouts are added to it.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// Builds a function's [`SdkConfig`]; see the crate's documentation.
#[derive(Debug, Clone, Default)]
pub struct Loader {
    timeout_config: Option<TimeoutConfig>,
}

/// The loader every function starts from.
pub fn loader() -> Loader {
    Loader::default()
}

impl Loader {
    /// The function's operation and attempt timeouts; the connect timeout
    /// stays the SDK's default unless it names one.
    pub fn timeout_config(mut self, timeout_config: TimeoutConfig) -> Self {
        self.timeout_config = Some(timeout_config);
        self
    }

    /// The configuration, from the process environment.
    pub fn load(self) -> SdkConfig {
        self.load_from(|name| std::env::var(name).ok())
    }

    fn load_from(self, var: impl Fn(&str) -> Option<String>) -> SdkConfig {
        let defaults = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build();
        let mut timeouts = self.timeout_config.unwrap_or_else(|| defaults.clone());
        timeouts.take_defaults_from(&defaults);
        let region = set(&var, "AWS_REGION")
            .or_else(|| set(&var, "AWS_DEFAULT_REGION"))
            .map(Region::new);
        let mut builder = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(region)
            .credentials_provider(SharedCredentialsProvider::new(LambdaEnvironment))
            .http_client(https_client())
            .time_source(SystemTimeSource::new())
            .retry_config(RetryConfig::standard())
            .timeout_config(timeouts);
        if let Some(sleep) = default_async_sleep() {
            builder = builder.sleep_impl(sleep);
        }
        if let Some(url) = set(&var, "AWS_ENDPOINT_URL") {
            builder = builder.endpoint_url(url);
        }
        builder.build()
    }
}

/// The SDK's HTTPS client on rustls with ring: the one TLS stack of the
/// functions and of `provisioner` alike (its connection pool is per client,
/// so build it once per configuration).
pub fn https_client() -> SharedHttpClient {
    Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// A variable that is set and not empty.
fn set(var: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    var(name).filter(|value| !value.is_empty())
}

/// The execution role's credentials Lambda puts in the environment, read
/// when the SDK asks (its identity cache keeps them).
#[derive(Debug)]
struct LambdaEnvironment;

impl ProvideCredentials for LambdaEnvironment {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::ready(credentials_from(|name| {
            std::env::var(name).ok()
        }))
    }
}

fn credentials_from(var: impl Fn(&str) -> Option<String>) -> provider::Result {
    let required = |name: &str| {
        set(&var, name).ok_or_else(|| {
            CredentialsError::not_loaded(format!(
                "{name} is not set: Lambda sets it to the execution role's credentials \
                 (outside Lambda, export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
            ))
        })
    };
    Ok(Credentials::new(
        required("AWS_ACCESS_KEY_ID")?,
        required("AWS_SECRET_ACCESS_KEY")?,
        set(&var, "AWS_SESSION_TOKEN"),
        None,
        "lambda-environment",
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn the_region_and_endpoint_come_from_lambdas_environment() {
        let config = loader().load_from(vars(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        ]));
        assert_eq!(config.region(), Some(&Region::new("eu-west-1")));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:4566"));
        assert!(
            config.http_client().is_some(),
            "a function's SDK configuration has no HTTP client: without the SDK's \
             default-https-client feature every call would fail"
        );
        assert!(config.behavior_version().is_some());
        assert!(config.sleep_impl().is_some(), "retries and timeouts sleep");
        assert_eq!(config.retry_config(), Some(&RetryConfig::standard()));
    }

    #[test]
    fn without_an_endpoint_the_sdk_resolves_aws_and_an_empty_region_is_none() {
        let config = loader().load_from(vars(&[("AWS_REGION", "")]));
        assert_eq!(config.region(), None);
        assert_eq!(config.endpoint_url(), None);
    }

    #[test]
    fn a_functions_timeouts_keep_the_sdks_connect_timeout() {
        let operation = Duration::from_secs(20);
        let config = loader()
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(operation)
                    .build(),
            )
            .load_from(vars(&[]));
        let timeouts = config.timeout_config().unwrap();
        assert_eq!(timeouts.operation_timeout(), Some(operation));
        assert_eq!(timeouts.connect_timeout(), Some(CONNECT_TIMEOUT));
        let plain = loader().load_from(vars(&[]));
        assert_eq!(
            plain.timeout_config().unwrap().connect_timeout(),
            Some(CONNECT_TIMEOUT)
        );
    }

    #[test]
    fn credentials_are_the_execution_roles_from_the_environment() {
        let credentials = credentials_from(vars(&[
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ]))
        .unwrap();
        assert_eq!(credentials.access_key_id(), "AKIA");
        assert_eq!(credentials.secret_access_key(), "secret");
        assert_eq!(credentials.session_token(), Some("token"));
        let without_token = credentials_from(vars(&[
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", ""),
        ]))
        .unwrap();
        assert_eq!(without_token.session_token(), None);
    }

    #[test]
    fn missing_credentials_name_the_variable() {
        let error = credentials_from(vars(&[("AWS_ACCESS_KEY_ID", "AKIA")])).unwrap_err();
        let text = format!(
            "{}",
            aws_smithy_types::error::display::DisplayErrorContext(&error)
        );
        assert!(text.contains("AWS_SECRET_ACCESS_KEY is not set"), "{text}");
    }
}
