//! sdk-config: how every function loads its AWS SDK configuration, so that
//! each one links a single TLS stack with a single crypto provider.
//!
//! The SDK's `default-https-client` feature builds its HTTPS client on
//! rustls with aws-lc-rs, whose `aws-lc-sys` is a large C library: 0.74 MB
//! of batch-import's binary, and its C build was ~230 s of the 640 s cold
//! build of all functions. The functions' SDK crates are built without that feature, and
//! this crate gives them the same client (hyper 1, rustls 0.23, the
//! system's root certificates) on ring instead; `warehouse-schema`'s own
//! HTTPS client uses ring too. `provisioner`'s tests check that no
//! function's dependency tree holds aws-lc-rs (and so never both).
//!
//! A library, not a function: it has no `src/main.rs`, so the provisioner
//! never builds it as a Lambda asset.

use aws_config::{BehaviorVersion, ConfigLoader};
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// `aws_config::defaults` with the latest behaviour version and the SDK's
/// HTTPS client on rustls with ring: the loader every function starts from
/// (credentials and region still come from Lambda's environment).
pub fn loader() -> ConfigLoader {
    let https = Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(https)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_loaded_configuration_carries_the_ring_https_client() {
        let config = loader()
            .region(aws_config::Region::new("eu-west-1"))
            .no_credentials()
            .load()
            .await;
        assert!(
            config.http_client().is_some(),
            "a function's SDK configuration has no HTTP client: without the SDK's \
             default-https-client feature every call would fail"
        );
    }
}
