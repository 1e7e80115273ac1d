//! ingest: API Gateway → Kinesis, the platform's front door for
//! transactions (`POST /transactions`, REST API proxy integration).
//!
//! The body is one transaction object or a JSON array of up to 500
//! ([`MAX_ITEMS`], one `PutRecords` call), in either naming `record`
//! accepts, each with an optional `idempotency_key`: the line's identity
//! across resends (the same key is the same line in every store, so
//! resending after a timeout duplicates nothing; see
//! [`record::KeyedTransaction`]). Each item is validated on its own with
//! [`record::KeyedTransaction::from_json`]; valid ones go on the stream named by
//! the `STREAM_NAME` environment variable as [`record::KeyedTransaction::to_json`]
//! with the invoice number as partition key (the lines of an invoice stay
//! on one shard, in order). Records Kinesis rejects (throttling) are
//! retried with bounded exponential backoff ([`RetryPolicy`]); the response
//! says what became of every item, by index, so nothing is lost silently:
//! the status codes are in [`response`]. The stream's consumers
//! (lake-writer, dynamodb-writer, Firehose to Redshift) take it from there.

pub mod put;
pub mod request;
pub mod response;

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use record::{KeyedTransaction, SourcePosition};

pub use put::{Entry, PutOutcome, RetryPolicy, put_all};
pub use request::{MAX_BODY_BYTES, MAX_ITEMS, RequestError};
pub use response::{IngestReport, ItemError, ItemStatus, StoredRecord};

/// Configuration read from the environment the stack sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `STREAM_NAME`: the Kinesis stream's name.
    pub stream_name: String,
}

/// A missing or empty environment variable.
#[derive(Debug, thiserror::Error)]
#[error(
    "environment variable {name} is not set; the Api stack sets it to the name of the transactions Kinesis stream"
)]
pub struct ConfigError {
    pub name: &'static str,
}

impl Config {
    pub const STREAM_VAR: &'static str = "STREAM_NAME";

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `var` (the environment in Lambda).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let stream_name = var(Self::STREAM_VAR)
            .filter(|s| !s.is_empty())
            .ok_or(ConfigError {
                name: Self::STREAM_VAR,
            })?;
        Ok(Config { stream_name })
    }
}

/// Validates the request's transactions, puts the valid ones on the
/// stream, and answers what became of each.
pub async fn handle(
    client: &aws_sdk_kinesis::Client,
    config: &Config,
    policy: &RetryPolicy,
    request: ApiGatewayProxyRequest,
) -> ApiGatewayProxyResponse {
    let body = match request::body_text(&request) {
        Ok(body) => body,
        Err(error) => return refuse(&error),
    };
    let items = match request::split_items(&body) {
        Ok(items) => items,
        Err(error) => return refuse(&error),
    };
    let received = items.len();
    let mut errors = Vec::new();
    let mut entries = Vec::with_capacity(received);
    // The idempotency key of each item, by index: the accepted items'
    // line ids are known once Kinesis says where keyless ones landed.
    let mut keys: Vec<Option<String>> = vec![None; received];
    for (index, item) in items.iter().enumerate() {
        match KeyedTransaction::from_json(item.get()) {
            Ok(keyed) => {
                let entry = Entry {
                    index,
                    data: keyed.to_json().into_bytes(),
                    partition_key: keyed.transaction.invoice_no,
                };
                keys[index] = keyed.idempotency_key;
                // Unreachable for a valid transaction (its fields are bounded
                // by `record::limits`), but never sent to fail the whole call.
                if entry.size() > put::MAX_RECORD_BYTES {
                    errors.push(ItemError {
                        index,
                        status: ItemStatus::Rejected,
                        field: None,
                        reason: format!(
                            "the record is {} bytes, over Kinesis's {} byte limit per record",
                            entry.size(),
                            put::MAX_RECORD_BYTES
                        ),
                        code: None,
                    });
                } else {
                    entries.push(entry);
                }
            }
            Err(error) => errors.push(ItemError {
                index,
                status: ItemStatus::Rejected,
                field: error.field().map(|f| f.header()),
                reason: error.to_string(),
                code: None,
            }),
        }
    }
    let outcome = if entries.is_empty() {
        PutOutcome::default()
    } else {
        put_all(client, &config.stream_name, entries, policy).await
    };
    tracing::info!(
        received,
        rejected = errors.len(),
        stored = outcome.stored.len(),
        not_stored = outcome.not_stored.len(),
        calls = outcome.calls,
        kinesis_unavailable = outcome.unavailable,
        "transactions ingested"
    );
    errors.extend(outcome.not_stored.into_iter().map(|n| ItemError {
        index: n.index,
        status: ItemStatus::Failed,
        field: None,
        reason: if n.message.is_empty() {
            format!("the stream did not store the transaction ({})", n.code)
        } else {
            format!(
                "the stream did not store the transaction ({}: {})",
                n.code, n.message
            )
        },
        code: Some(n.code),
    }));
    let records = outcome
        .stored
        .into_iter()
        .map(|s| {
            let landed = SourcePosition::Kinesis {
                shard_id: &s.shard_id,
                sequence_number: &s.sequence_number,
            };
            let line_id = match &keys[s.index] {
                Some(idempotency_key) => SourcePosition::Client { idempotency_key }.line_id(),
                None => landed.line_id(),
            };
            StoredRecord {
                index: s.index,
                line_id: line_id.into_string(),
                shard_id: s.shard_id,
                sequence_number: s.sequence_number,
            }
        })
        .collect();
    IngestReport::new(received, errors, records, outcome.unavailable).into_response()
}

fn refuse(error: &RequestError) -> ApiGatewayProxyResponse {
    tracing::info!(%error, "request refused");
    let status = match error {
        RequestError::MethodNotAllowed { .. } => 405,
        _ => 400,
    };
    let mut response = response::message_response(status, &error.to_string());
    if status == 405 {
        response.headers.insert(
            aws_lambda_events::http::header::ALLOW,
            aws_lambda_events::http::HeaderValue::from_static("POST"),
        );
    }
    response
}
