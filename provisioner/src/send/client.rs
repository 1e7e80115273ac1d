//! One batch to the ingest API: SigV4-signed POSTs over hyper and rustls,
//! each answer sorted into accepted, rejected (the row's fault) and to
//! resend (the platform's), and resends with exponential backoff and
//! jitter, honouring `Retry-After`, a bounded number of times.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use super::batch::{Item, body};
use super::report::Rejection;
use crate::deploy::error::chain;

/// How resends are spaced and bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Requests per batch, the first included.
    pub max_attempts: u32,
    /// Backoff before the first resend; doubled after each.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Longest wait for one answer. API Gateway ends an integration at
    /// 29 s, so a request without an answer after 30 s is lost.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    /// Six requests waiting about 0.5, 1, 2, 4 and 8 s between them: 15 s
    /// of backoff rides out API Gateway throttling (a token bucket refilled
    /// every second) and a Kinesis shard's per-second limit.
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before resend number `resend` (1 = the first): the
    /// exponential backoff with "equal jitter" (half fixed, half random,
    /// so concurrent senders spread out), never shorter than the server's
    /// `Retry-After`.
    pub fn delay(&self, resend: u32, retry_after: Option<Duration>, random: f64) -> Duration {
        let factor = 1u32
            .checked_shl(resend.saturating_sub(1))
            .unwrap_or(u32::MAX);
        let backoff = self.base_delay.saturating_mul(factor).min(self.max_delay);
        let jittered = backoff / 2 + backoff.mul_f64(random.clamp(0.0, 1.0) / 2.0);
        jittered.max(retry_after.unwrap_or_default())
    }
}

/// A number in [0, 1) that differs between calls: jitter needs no more
/// (std's hasher keys are random per process and per call).
fn random_fraction() -> f64 {
    use std::hash::BuildHasher;
    let bits = std::collections::hash_map::RandomState::new().hash_one(std::time::Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Where and as whom to send.
#[derive(Debug, Clone)]
pub struct Target {
    /// `{ApiUrl}/transactions`.
    pub url: Uri,
    /// Signing region (the API's).
    pub region: String,
    pub credentials: SharedCredentialsProvider,
}

/// What became of a batch.
#[derive(Debug, Default)]
pub struct Delivery {
    pub accepted: u64,
    /// The API said these rows are invalid.
    pub rejected: Vec<Rejection>,
    /// Not delivered after every attempt, with the last reason.
    pub failed: Vec<Rejection>,
    pub requests: u64,
    /// An answer no resend can change (403, 404, ...): the run should stop.
    pub refused: Option<String>,
}

/// The ingest API's answer body (lambdas/ingest/src/response.rs).
#[derive(Debug, Deserialize)]
struct IngestReport {
    received: usize,
    #[serde(default)]
    errors: Vec<ItemError>,
}

#[derive(Debug, Deserialize)]
struct ItemError {
    index: usize,
    status: ItemStatus,
    #[serde(default)]
    field: Option<String>,
    reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
enum ItemStatus {
    Rejected,
    Failed,
}

/// One answer, sorted by what the client does next.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// Per item: `None` accepted, else the error.
    Items(
        Vec<Option<(ItemStatus, Option<String>, String)>>,
        Option<Duration>,
    ),
    /// Resend the whole batch (throttled, 5xx, no answer).
    Resend(String, Option<Duration>),
    /// Resending cannot help.
    Refused(String),
}

/// Signs and sends batches; one per run (it keeps connections and
/// credentials).
#[derive(Debug)]
pub struct IngestClient {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    target: Target,
    credentials: Mutex<Option<Credentials>>,
    policy: RetryPolicy,
}

impl IngestClient {
    /// Loads the system's root certificates, as the AWS SDK does, with
    /// ring's provider by name, the SDK client's own (`sdk_config`).
    pub fn new(target: Target, policy: RetryPolicy) -> std::io::Result<Self> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            http: Client::builder(TokioExecutor::new()).build(connector),
            target,
            credentials: Mutex::new(None),
            policy,
        })
    }

    /// Where the batches go.
    pub fn url(&self) -> &Uri {
        &self.target.url
    }

    /// Whether the API's host takes connections at all, asked once before
    /// the first batch: a refused connection or an unknown host then is a
    /// wrong `--api-url` (or an emulator not started), said at once rather
    /// than after every batch's resends.
    pub async fn reachable(&self) -> Result<(), String> {
        let url = &self.target.url;
        let host = url.host().unwrap_or_default();
        let port = url
            .port_u16()
            .unwrap_or(if url.scheme_str() == Some("http") {
                80
            } else {
                443
            });
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match tokio::time::timeout(
            self.policy.timeout,
            tokio::net::TcpStream::connect((host, port)),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(format!("cannot connect to {host}:{port}: {error}")),
            Err(_) => Err(format!(
                "cannot connect to {host}:{port}: no answer within {:?}",
                self.policy.timeout
            )),
        }
    }

    /// Sends `items`, resending what the platform failed to take until it
    /// is taken or the attempts are spent.
    pub async fn deliver(&self, items: Vec<Item>) -> Delivery {
        let mut delivery = Delivery::default();
        let mut pending = items;
        let mut attempt = 0;
        loop {
            attempt += 1;
            delivery.requests += 1;
            let (reason, retry_after) = match self.post(&pending).await {
                Answer::Items(fates, retry_after) => {
                    let mut resend = Vec::new();
                    let mut last = String::new();
                    for (item, fate) in pending.into_iter().zip(fates) {
                        match fate {
                            None => delivery.accepted += 1,
                            Some((ItemStatus::Rejected, field, reason)) => {
                                delivery.rejected.push(Rejection {
                                    row: item.row,
                                    field,
                                    reason,
                                });
                            }
                            Some((ItemStatus::Failed, _, reason)) => {
                                last = reason;
                                resend.push(item);
                            }
                        }
                    }
                    pending = resend;
                    (last, retry_after)
                }
                Answer::Resend(reason, retry_after) => (reason, retry_after),
                Answer::Refused(reason) => {
                    fail_all(&mut delivery.failed, pending, &reason);
                    delivery.refused = Some(reason);
                    return delivery;
                }
            };
            if pending.is_empty() {
                return delivery;
            }
            if attempt >= self.policy.max_attempts {
                let reason = format!("not delivered after {attempt} attempts: {reason}");
                fail_all(&mut delivery.failed, pending, &reason);
                return delivery;
            }
            let wait = self.policy.delay(attempt, retry_after, random_fraction());
            tokio::time::sleep(wait).await;
        }
    }

    async fn post(&self, items: &[Item]) -> Answer {
        let request = match self.signed_request(Bytes::from(body(items))).await {
            Ok(request) => request,
            Err(reason) => return Answer::Refused(reason),
        };
        let answer = match tokio::time::timeout(self.policy.timeout, self.http.request(request))
            .await
        {
            Err(_) => {
                return Answer::Resend(format!("no answer within {:?}", self.policy.timeout), None);
            }
            Ok(Err(error)) => return Answer::Resend(chain(&error), None),
            Ok(Ok(answer)) => answer,
        };
        let status = answer.status();
        let retry_after = answer
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = match answer.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(error) => return Answer::Resend(chain(&error), retry_after),
        };
        classify(status, retry_after, &body, items.len())
    }

    async fn signed_request(&self, body: Bytes) -> Result<hyper::Request<Full<Bytes>>, String> {
        let credentials = self.credentials().await?;
        let identity = credentials.into();
        let settings = SigningSettings::default();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.target.region)
            .name("execute-api")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| format!("signing the request: {e}"))?
            .into();
        let url = self.target.url.to_string();
        let host = self
            .target
            .url
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        let headers = [
            ("content-type", "application/json"),
            ("host", host.as_str()),
        ];
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.into_iter(),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| format!("signing the request: {e}"))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| format!("signing the request: {e}"))?
            .into_parts();
        let mut request = hyper::Request::post(self.target.url.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::HOST, host)
            .body(Full::new(body))
            .map_err(|e| format!("building the request: {e}"))?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }

    /// The credentials, fetched again when they expire within 5 minutes
    /// (assumed roles and SSO give temporary ones; a long run outlives them).
    async fn credentials(&self) -> Result<Credentials, String> {
        let fresh = |c: &Credentials| {
            c.expiry()
                .is_none_or(|at| at > SystemTime::now() + Duration::from_secs(300))
        };
        if let Some(cached) = self.lock().as_ref().filter(|c| fresh(c)) {
            return Ok(cached.clone());
        }
        let credentials = self
            .target
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| format!("loading AWS credentials to sign the request: {}", chain(&e)))?;
        *self.lock() = Some(credentials.clone());
        Ok(credentials)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Credentials>> {
        self.credentials.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn fail_all(failed: &mut Vec<Rejection>, items: Vec<Item>, reason: &str) {
    failed.extend(items.into_iter().map(|item| Rejection {
        row: item.row,
        field: None,
        reason: reason.to_owned(),
    }));
}

/// Sorts an answer to `sent` items (the status table is in
/// lambdas/ingest/src/response.rs).
fn classify(status: StatusCode, retry_after: Option<Duration>, body: &[u8], sent: usize) -> Answer {
    let text = || {
        let shown = &body[..body.len().min(512)];
        format!("HTTP {status}: {}", String::from_utf8_lossy(shown).trim())
    };
    let report = serde_json::from_slice::<IngestReport>(body).ok();
    match (status.as_u16(), report) {
        (200 | 207 | 422 | 503, Some(report)) => {
            if report.received != sent {
                return Answer::Refused(format!(
                    "the API answered about {} items but {sent} were sent: is the URL the \
                     ingest API's? ({})",
                    report.received,
                    text()
                ));
            }
            let mut fates = vec![None; sent];
            for error in report.errors {
                if let Some(fate) = fates.get_mut(error.index) {
                    *fate = Some((error.status, error.field, error.reason));
                }
            }
            Answer::Items(fates, retry_after)
        }
        // Accepted, whatever the body says.
        (200, None) => Answer::Items(vec![None; sent], None),
        // API Gateway's throttling, and the platform's faults: try again.
        (408 | 429, _) | (500..=599, _) => Answer::Resend(text(), retry_after),
        _ => Answer::Refused(text()),
    }
}

/// `Retry-After` in seconds (the API sends seconds; an HTTP date is rare
/// enough to fall back on the backoff).
fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn backoff_doubles_with_half_of_it_random_up_to_the_maximum() {
        let policy = RetryPolicy {
            max_attempts: 6,
            base_delay: ms(100),
            max_delay: ms(1000),
            timeout: ms(1),
        };
        assert_eq!(policy.delay(1, None, 0.0), ms(50));
        assert_eq!(policy.delay(1, None, 1.0), ms(100));
        assert_eq!(policy.delay(3, None, 0.5), ms(300));
        assert_eq!(policy.delay(9, None, 1.0), ms(1000));
    }

    #[test]
    fn retry_after_is_the_shortest_wait() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3)), 0.0),
            Duration::from_secs(3)
        );
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn random_fractions_are_in_the_unit_interval() {
        for _ in 0..100 {
            let r = random_fraction();
            assert!((0.0..1.0).contains(&r), "{r}");
        }
    }

    #[test]
    fn a_207_sorts_items_into_accepted_rejected_and_failed_by_index() {
        let body = br#"{"message":"m","received":3,"accepted":1,"rejected":1,"failed":1,
            "errors":[{"index":0,"status":"rejected","field":"UnitPrice","reason":"bad"},
                      {"index":2,"status":"failed","field":null,"reason":"throttled","code":"X"}],
            "records":[]}"#;
        assert_eq!(
            classify(StatusCode::MULTI_STATUS, None, body, 3),
            Answer::Items(
                vec![
                    Some((ItemStatus::Rejected, Some("UnitPrice".into()), "bad".into())),
                    None,
                    Some((ItemStatus::Failed, None, "throttled".into())),
                ],
                None
            )
        );
    }

    #[test]
    fn throttling_and_server_errors_resend_the_whole_batch() {
        for status in [429, 500, 502, 503, 504] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(
                matches!(
                    classify(
                        status,
                        Some(ms(1000)),
                        b"{\"message\":\"Too Many Requests\"}",
                        2
                    ),
                    Answer::Resend(_, Some(_))
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn a_forbidden_request_is_refused_with_the_apis_message() {
        let answer = classify(
            StatusCode::FORBIDDEN,
            None,
            b"{\"message\":\"Missing Authentication Token\"}",
            1,
        );
        assert_eq!(
            answer,
            Answer::Refused(
                "HTTP 403 Forbidden: {\"message\":\"Missing Authentication Token\"}".into()
            )
        );
    }

    #[test]
    fn a_report_about_another_number_of_items_is_refused() {
        let body = br#"{"received":1,"errors":[]}"#;
        assert!(matches!(
            classify(StatusCode::OK, None, body, 2),
            Answer::Refused(reason) if reason.contains("1 items but 2 were sent")
        ));
    }
}
