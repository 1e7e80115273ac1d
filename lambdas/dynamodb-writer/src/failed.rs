//! Saving the records the writer gives up on ([`record::failed`]) to the
//! lake bucket before reporting them.

use aws_lambda_events::event::kinesis::KinesisEventRecord;
use record::failed::{FailedRecord, failed_object};

/// Where failures are saved: `FAILED_BUCKET` (the lake bucket), prefix
/// `failed/`.
#[derive(Debug, Clone)]
pub struct FailedStore {
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
}

/// A missing or empty `FAILED_BUCKET`.
#[derive(Debug, thiserror::Error)]
#[error(
    "environment variable {name} is not set; the Streaming stack sets it to the lake bucket, \
     where records the writer gives up on are saved under failed/"
)]
pub struct FailedStoreError {
    pub name: &'static str,
}

impl FailedStore {
    pub const BUCKET_VAR: &'static str = "FAILED_BUCKET";

    /// The bucket read through `var` (the environment in Lambda).
    pub fn bucket_from_vars(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<String, FailedStoreError> {
        var(Self::BUCKET_VAR)
            .filter(|b| !b.is_empty())
            .ok_or(FailedStoreError {
                name: Self::BUCKET_VAR,
            })
    }

    /// Saves `records` with `reason`. A failure to save is logged, not
    /// returned: the records are reported to Lambda either way, and its
    /// retry saves them again.
    pub async fn save(&self, writer: &str, reason: &str, records: &[&KinesisEventRecord]) {
        let failed: Vec<FailedRecord<'_>> = records.iter().map(|r| failed_record(r)).collect();
        let Some(object) = failed_object(writer, reason, &failed) else {
            return;
        };
        let result = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(&object.key)
            .content_type("application/x-ndjson")
            .body(object.body.into())
            .send()
            .await;
        match result {
            Ok(_) => tracing::warn!(
                bucket = self.bucket,
                key = object.key,
                records = failed.len(),
                reason,
                "saved the records given up on for replay"
            ),
            Err(error) => tracing::error!(
                bucket = self.bucket,
                key = object.key,
                records = failed.len(),
                error = %aws_sdk_s3::error::DisplayErrorContext(&error),
                "could not save the records given up on; Lambda retries them"
            ),
        }
    }
}

/// A stream record as a failed record: its position, key and data.
pub fn failed_record(record: &KinesisEventRecord) -> FailedRecord<'_> {
    FailedRecord::from_stream(
        record.event_id.as_deref(),
        &record.kinesis.sequence_number,
        &record.kinesis.partition_key,
        record.kinesis.approximate_arrival_timestamp.0.to_rfc3339(),
        &record.kinesis.data,
    )
}
