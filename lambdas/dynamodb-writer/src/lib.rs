//! dynamodb-writer: Kinesis → DynamoDB.
//!
//! Every valid transaction record is put into the Invoices table (hash
//! `InvoiceNo`, range `LineId`) and, when it has a customer, into the
//! Customers table (hash `CustomerId`, range `PurchaseId` =
//! `{InvoiceNo}#{LineId}`). `LineId` derives from the shard and sequence
//! number, so a retried record overwrites its own items: writes are
//! idempotent, and Lambda's at-least-once retries never duplicate a line.
//!
//! Failures, with `ReportBatchItemFailures` on the event source mapping:
//! - Items DynamoDB leaves unprocessed are retried with bounded exponential
//!   backoff ([`RetryPolicy`]); records still unwritten are reported by
//!   sequence number, so Lambda retries from there, a bounded number of
//!   times, then sends the batch to the SQS on-failure destination.
//! - Malformed records are skipped with their reason (logged with the
//!   sequence number and counted), not reported. A record that cannot be
//!   parsed will never parse on a retry: reporting it would hold the whole
//!   shard through every retry and bisection and still end in the
//!   on-failure queue, which receives only batch metadata, not the record.
//!   The record itself is kept by the lake writer under `rejected/` in the
//!   lake bucket, with the same reason.

pub mod items;
pub mod write;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use lambda_runtime::tracing;

pub use items::{Planned, Skipped, Tables, plan};
pub use write::{MAX_ITEMS_PER_BATCH_WRITE, RetryPolicy, WriteOutcome, write_all};

/// A missing or empty environment variable.
#[derive(Debug, thiserror::Error)]
#[error(
    "environment variable {name} is not set; the Serving stack sets it to the {table} table name"
)]
pub struct ConfigError {
    pub name: &'static str,
    pub table: &'static str,
}

impl Tables {
    pub const INVOICES_VAR: &'static str = "INVOICES_TABLE";
    pub const CUSTOMERS_VAR: &'static str = "CUSTOMERS_TABLE";

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the table names through `var` (the environment in Lambda).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let read = |name: &'static str, table: &'static str| {
            var(name)
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError { name, table })
        };
        Ok(Tables {
            invoices: read(Self::INVOICES_VAR, "Invoices")?,
            customers: read(Self::CUSTOMERS_VAR, "Customers")?,
        })
    }
}

/// Writes a batch; answers the records to retry.
pub async fn handle(
    client: &aws_sdk_dynamodb::Client,
    tables: &Tables,
    policy: &RetryPolicy,
    event: KinesisEvent,
) -> KinesisEventResponse {
    let planned = plan(&event.records, tables);
    for skipped in &planned.skipped {
        tracing::warn!(
            sequence_number = skipped.sequence_number,
            kind = skipped.kind,
            reason = skipped.reason,
            "skipping malformed record (kept by the lake writer under rejected/)"
        );
    }
    let items = planned.puts.len();
    let outcome = write_all(client, planned.puts, policy).await;
    tracing::info!(
        records = event.records.len(),
        skipped = planned.skipped.len(),
        items,
        items_written = outcome.items_written,
        failed_records = outcome.failed_records.len(),
        calls = outcome.calls,
        "batch written to DynamoDB"
    );
    let mut response = KinesisEventResponse::default();
    response.set_failures(
        outcome
            .failed_records
            .iter()
            .map(|&index| event.records[index].kinesis.sequence_number.clone()),
    );
    response
}
