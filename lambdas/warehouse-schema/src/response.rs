//! Answering CloudFormation: an HTTP PUT of the JSON response to the
//! request's pre-signed S3 URL
//! (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html>).
//!
//! The client is hyper with rustls (ring) and the system's root
//! certificates, the stack the AWS SDK already builds: no OpenSSL, and it
//! cross-compiles with cargo-lambda like the SDK does. Plain `http://` is
//! accepted too, for tests against a local listener.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use tokio::time::Instant;

/// The body CloudFormation reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub status: Status,
    /// Why, on FAILED: shown in the stack's events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub physical_resource_id: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    /// Readable with `Fn::GetAtt`: `Table`.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub data: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Success,
    Failed,
}

/// A response body must stay under 4,096 bytes; the reason is cut well
/// below that (the full error is in the function's log).
pub const MAX_REASON_BYTES: usize = 2048;

pub fn truncate_reason(mut reason: String) -> String {
    if reason.len() > MAX_REASON_BYTES {
        let mut end = MAX_REASON_BYTES - 40;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push_str(" ... (cut; full text in the log)");
    }
    reason
}

/// The response could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("the ResponseURL {url:?} is not a URL: {detail}")]
    BadUrl { url: String, detail: String },
    #[error("PUT to the ResponseURL failed after {attempts} attempt(s): {last}")]
    Failed { attempts: u32, last: String },
    #[error("no time left to answer CloudFormation")]
    NoTimeLeft,
}

/// HTTP client for responses; build once per execution environment.
#[derive(Debug, Clone)]
pub struct ResponseClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// Per attempt.
    pub attempt_timeout: Duration,
    pub attempts: u32,
}

impl ResponseClient {
    /// Loads the system's root certificates (as the AWS SDK does).
    pub fn new() -> std::io::Result<Self> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(ResponseClient {
            client: Client::builder(TokioExecutor::new()).build(connector),
            attempt_timeout: Duration::from_secs(10),
            attempts: 3,
        })
    }

    /// PUTs `response` to `url`, retrying transport errors and 5xx answers,
    /// never past `deadline`.
    pub async fn send(
        &self,
        url: &str,
        response: &Response,
        deadline: Instant,
    ) -> Result<(), SendError> {
        let uri: hyper::Uri =
            url.parse()
                .map_err(|error: hyper::http::uri::InvalidUri| SendError::BadUrl {
                    url: url.to_owned(),
                    detail: error.to_string(),
                })?;
        let body = Bytes::from(serde_json::to_vec(response).expect("a response serialises"));
        let mut last = String::new();
        for attempt in 1..=self.attempts.max(1) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return if attempt == 1 {
                    Err(SendError::NoTimeLeft)
                } else {
                    Err(SendError::Failed {
                        attempts: attempt - 1,
                        last,
                    })
                };
            }
            let request = hyper::Request::put(uri.clone())
                // The URL is signed without a content type: send an empty one,
                // as AWS's cfn-response module does.
                .header(hyper::header::CONTENT_TYPE, "")
                .header(hyper::header::CONTENT_LENGTH, body.len())
                .body(Full::new(body.clone()))
                .expect("a PUT with valid headers builds");
            let timeout = self.attempt_timeout.min(left);
            match tokio::time::timeout(timeout, self.put(request)).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(Permanent(error))) => {
                    return Err(SendError::Failed {
                        attempts: attempt,
                        last: error,
                    });
                }
                Ok(Err(Retry(error))) => last = error,
                Err(_) => last = format!("no answer within {timeout:?}"),
            }
            tracing::warn!(attempt, error = last, "answering CloudFormation");
        }
        Err(SendError::Failed {
            attempts: self.attempts.max(1),
            last,
        })
    }

    async fn put(&self, request: hyper::Request<Full<Bytes>>) -> Result<(), PutError> {
        let answer = self
            .client
            .request(request)
            .await
            .map_err(|error| Retry(chain(&error)))?;
        let status = answer.status();
        let body = answer
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if status.is_success() {
            return Ok(());
        }
        let text = format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(512)])
        );
        if status.is_server_error() {
            Err(Retry(text))
        } else {
            // 403 (expired URL, signature mismatch): a retry cannot help.
            Err(Permanent(text))
        }
    }
}

enum PutError {
    Retry(String),
    Permanent(String),
}
use PutError::{Permanent, Retry};

pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
