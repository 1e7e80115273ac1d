//! dynamodb-writer: Kinesis → DynamoDB.
//!
//! Every valid transaction record is put into the Invoices table (hash
//! `InvoiceNo`, range `LineId`) and, when it has a customer, into the
//! Customers table (hash `CustomerId`, range `PurchaseId` =
//! `{InvoiceNo}#{LineId}`). `LineId` derives from the client's idempotency
//! key, else the shard and sequence number ([`record::KeyedTransaction`]),
//! so a retried or resent record overwrites its own items: writes are
//! idempotent, and Lambda's at-least-once retries never duplicate a line.
//!
//! Failures, with `ReportBatchItemFailures` on the event source mapping:
//! - Items DynamoDB leaves unprocessed are retried with bounded exponential
//!   backoff ([`RetryPolicy`]); records still unwritten are reported by
//!   sequence number, so Lambda retries from there, a bounded number of
//!   times, then sends the batch to the SQS on-failure destination. Before
//!   reporting them it saves the records themselves, with the reason, under
//!   `failed/dynamodb-writer/` of the lake bucket ([`FailedStore`],
//!   [`record::failed`]): the queue's message holds only their position,
//!   and the stream forgets them when its retention ends.
//! - Malformed records are skipped with their reason (logged with the
//!   sequence number and counted), not reported. A record that cannot be
//!   parsed will never parse on a retry: reporting it would hold the whole
//!   shard through every retry and bisection and still end in the
//!   on-failure queue, which receives only batch metadata, not the record.
//!   The record itself is kept by the lake writer under `rejected/` in the
//!   lake bucket, with the same reason.

pub mod failed;
pub mod items;
pub mod write;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;

pub use failed::{FailedStore, FailedStoreError};
pub use items::{Planned, Skipped, plan};
pub use record::dynamodb::{Tables, TablesError};
pub use write::{MAX_ITEMS_PER_BATCH_WRITE, RetryPolicy, WriteOutcome, delete_all, write_all};

/// The stack that deploys this function and sets its environment
/// (`INVOICES_TABLE`, `CUSTOMERS_TABLE`: [`Tables`]).
pub const STACK: &str = "Streaming";

/// This writer's name in the keys of saved failures.
pub const WRITER: &str = "dynamodb-writer";

/// Writes a batch; saves the records it could not write, then answers them
/// to retry.
pub async fn handle(
    client: &aws_sdk_dynamodb::Client,
    failed: &FailedStore,
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
    let not_written: Vec<_> = outcome
        .failed_records
        .iter()
        .map(|&index| &event.records[index])
        .collect();
    failed
        .save(
            WRITER,
            &format!(
                "not written to DynamoDB: items still unprocessed or a BatchWriteItem call failed \
                 after {} attempts",
                policy.max_attempts
            ),
            &not_written,
        )
        .await;
    let mut response = KinesisEventResponse::default();
    response.set_failures(
        outcome
            .failed_records
            .iter()
            .map(|&index| event.records[index].kinesis.sequence_number.clone()),
    );
    response
}
