//! lake-writer: Kinesis → S3 data lake.
//!
//! Each batch of transaction records from the stream becomes
//! newline-delimited JSON objects in the lake bucket, partitioned by
//! invoice date (`raw/date=YYYY-MM-DD/`), invalid records going to
//! `rejected/date=YYYY-MM-DD/` with their reason ([`objects`] explains the
//! layout and why the keys make retries overwrite instead of duplicate).
//!
//! The event source mapping uses `ReportBatchItemFailures`: when an object
//! cannot be written, the handler saves the batch's records with the reason
//! under `failed/lake-writer/` of the same bucket ([`record::failed`]: the
//! on-failure queue gets only their position) and reports their sequence
//! numbers rather than failing the invocation.

pub mod objects;

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::event::streams::KinesisEventResponse;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use record::failed::{FailedRecord, failed_object};

pub use objects::{LakeBatch, LakeObject, plan};

/// Configuration read from the environment the stack sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `LAKE_BUCKET`: the lake bucket's name.
    pub bucket: String,
}

/// A missing or empty environment variable.
#[derive(Debug, thiserror::Error)]
#[error(
    "environment variable {name} is not set; the DataLake stack sets it to the lake bucket name"
)]
pub struct ConfigError {
    pub name: &'static str,
}

impl Config {
    pub const BUCKET_VAR: &'static str = "LAKE_BUCKET";

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `var` (the environment in Lambda).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let bucket = var(Self::BUCKET_VAR)
            .filter(|b| !b.is_empty())
            .ok_or(ConfigError {
                name: Self::BUCKET_VAR,
            })?;
        Ok(Config { bucket })
    }
}

/// Writes a batch to the lake.
///
/// If any object cannot be put, every record of the batch is reported as
/// failed, so Lambda retries from the batch's first sequence number: the
/// retry writes the same keys and overwrites what was already written.
/// Reporting only the records of the failed object would checkpoint in
/// the middle of the batch, and records after that point that were already
/// written would come back in a batch with another first sequence number,
/// under new keys: duplicates in the lake.
pub async fn handle(
    s3: &aws_sdk_s3::Client,
    config: &Config,
    event: KinesisEvent,
) -> KinesisEventResponse {
    let mut response = KinesisEventResponse::default();
    let batch = plan(&event.records);
    let (stored, rejected, objects) = (batch.stored, batch.rejected, batch.objects.len());
    for object in batch.objects {
        let key = object.key.clone();
        if let Err(error) = put(s3, &config.bucket, object).await {
            let reason = match (error.code(), error.message()) {
                (Some(code), message) => format!(
                    "writing lake object {key} failed: {code}: {}",
                    message.unwrap_or_default()
                ),
                (None, _) => format!(
                    "writing lake object {key} failed: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&error)
                ),
            };
            tracing::error!(
                bucket = config.bucket,
                key,
                reason,
                "writing lake object failed; saving and reporting the whole batch for retry"
            );
            save_failed(s3, &config.bucket, &reason, &event.records).await;
            response.set_failures(
                event
                    .records
                    .iter()
                    .map(|r| r.kinesis.sequence_number.clone()),
            );
            return response;
        }
    }
    tracing::info!(
        records = event.records.len(),
        stored,
        rejected,
        objects,
        "batch written to the lake"
    );
    response
}

/// This writer's name in the keys of saved failures.
pub const WRITER: &str = "lake-writer";

/// The Lambda timeout the Streaming stack gives this function
/// (`stacks/src/platform/streaming.rs`).
pub const FUNCTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Longest a `PutObject` may take, the SDK's own retries included: a
/// stalled put fails, the batch is saved under `failed/` and reported,
/// instead of the invocation dying at its timeout with nothing reported.
pub const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Longest one HTTP attempt may take (an object of a 1,000-record batch is
/// a few hundred kilobytes).
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(8);

/// The S3 client's timeouts ([`CALL_TIMEOUT`], [`ATTEMPT_TIMEOUT`]).
pub fn timeout_config() -> aws_sdk_s3::config::timeout::TimeoutConfig {
    aws_sdk_s3::config::timeout::TimeoutConfig::builder()
        .operation_timeout(CALL_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .build()
}

/// Saves `records` under `failed/lake-writer/` before they are reported. A
/// failure to save (S3 may be what failed) is logged: Lambda retries the
/// records and this saves them again.
async fn save_failed(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    reason: &str,
    records: &[KinesisEventRecord],
) {
    let failed: Vec<FailedRecord<'_>> = records
        .iter()
        .map(|record| {
            FailedRecord::from_stream(
                record.event_id.as_deref(),
                &record.kinesis.sequence_number,
                &record.kinesis.partition_key,
                record.kinesis.approximate_arrival_timestamp.0.to_rfc3339(),
                &record.kinesis.data,
            )
        })
        .collect();
    let Some(object) = failed_object(WRITER, reason, &failed) else {
        return;
    };
    let key = object.key.clone();
    let saved = put(
        s3,
        bucket,
        LakeObject {
            key: object.key,
            body: object.body,
            sequence_numbers: Vec::new(),
        },
    )
    .await;
    if let Err(error) = saved {
        tracing::error!(
            bucket,
            key,
            error = %aws_sdk_s3::error::DisplayErrorContext(&error),
            "could not save the failed records; Lambda retries them"
        );
    }
}

async fn put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    object: LakeObject,
) -> Result<(), aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::put_object::PutObjectError>> {
    s3.put_object()
        .bucket(bucket)
        .key(object.key)
        .content_type("application/x-ndjson")
        .body(ByteStream::from(object.body))
        .send()
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stalled_put_is_given_up_on_and_the_batch_saved_within_the_functions_timeout() {
        let config = timeout_config();
        assert_eq!(config.operation_timeout(), Some(CALL_TIMEOUT));
        assert_eq!(config.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        // The put that stalls, then the save under failed/: a put that
        // fails stops the batch, so nothing else waits on S3.
        assert!(CALL_TIMEOUT * 2 < FUNCTION_TIMEOUT / 2);
    }
}
