//! lake-writer: Kinesis → S3 data lake.
//!
//! Each batch of transaction records from the stream becomes
//! newline-delimited JSON objects in the lake bucket, partitioned by
//! invoice date (`raw/date=YYYY-MM-DD/`), invalid records going to
//! `rejected/date=YYYY-MM-DD/` with their reason ([`objects`] explains the
//! layout and why the keys make retries overwrite instead of duplicate).
//!
//! The event source mapping uses `ReportBatchItemFailures`: when an object
//! cannot be written, the handler reports failed sequence numbers rather
//! than failing the invocation.

pub mod objects;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use aws_sdk_s3::primitives::ByteStream;
use lambda_runtime::tracing;

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
            tracing::error!(
                bucket = config.bucket,
                key,
                error = %aws_sdk_s3::error::DisplayErrorContext(&error),
                "writing lake object failed; reporting the whole batch for retry"
            );
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
