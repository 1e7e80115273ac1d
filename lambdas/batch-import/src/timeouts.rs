//! How long each SDK call may take, its retries included, so that a stalled
//! call fails with its reason (the file stays in `incoming/`, the summary
//! says why) instead of running into the function's timeout, where the
//! invocation dies without a word.
//!
//! The SDK's standard retry mode makes up to 3 attempts; an attempt
//! timeout lets it retry a stalled attempt, the operation timeout bounds
//! them all. Neither covers reading a streamed body once `GetObject` has
//! answered (the source file): the SDK has no timeout on streams
//! (<https://github.com/awslabs/aws-sdk-rust/issues/1176>), so a read that
//! stalls there still runs into the function's timeout, which the
//! quarantine counts as a run that died.

use std::time::Duration;

/// The Lambda timeout the Batch stack gives this function
/// (`stacks::platform::batch::BATCH_IMPORT_TIMEOUT_SECONDS`).
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(900);

/// One attempt of an S3 call: the largest body sent is one 8 MiB part
/// (`Options::part_bytes`), which fits at 0.3 MB/s; every other call is a
/// small object or a listing.
pub const S3_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// An S3 call, its retries included.
pub const S3_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// `CopyObject` (moving a file to `processed/` or `quarantine/`) copies a
/// file of up to 2 GiB inside S3 in one call, and S3 answers only when the
/// copy is done: it gets a longer bound of its own ([`s3_copy_override`]).
pub const S3_COPY_TIMEOUT: Duration = Duration::from_secs(300);

/// A Data API call (`BatchExecuteStatement`, `DescribeStatement`) only
/// submits or asks: the statements run on the cluster, and their waits are
/// bounded by the invocation's deadline (`PollPolicy`).
pub const DATA_API_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(4);
pub const DATA_API_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The S3 client's timeouts.
pub fn s3() -> aws_sdk_s3::config::timeout::TimeoutConfig {
    aws_sdk_s3::config::timeout::TimeoutConfig::builder()
        .operation_timeout(S3_CALL_TIMEOUT)
        .operation_attempt_timeout(S3_ATTEMPT_TIMEOUT)
        .build()
}

/// The timeouts of one `CopyObject` call (`.customize().config_override`).
pub fn s3_copy_override() -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::default().timeout_config(
        aws_sdk_s3::config::timeout::TimeoutConfig::builder()
            .operation_timeout(S3_COPY_TIMEOUT)
            .operation_attempt_timeout(S3_COPY_TIMEOUT)
            .build(),
    )
}

/// The DynamoDB client's timeouts: dynamodb-writer's, whose
/// `BatchWriteItem` loop batch-import runs.
pub fn dynamodb() -> aws_sdk_dynamodb::config::timeout::TimeoutConfig {
    dynamodb_writer::write::timeout_config()
}

/// The Data API client's timeouts.
pub fn data_api() -> aws_sdk_redshiftdata::config::timeout::TimeoutConfig {
    aws_sdk_redshiftdata::config::timeout::TimeoutConfig::builder()
        .operation_timeout(DATA_API_CALL_TIMEOUT)
        .operation_attempt_timeout(DATA_API_ATTEMPT_TIMEOUT)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_gives_up_on_a_stalled_call_well_before_the_function_times_out() {
        assert_eq!(s3().operation_timeout(), Some(S3_CALL_TIMEOUT));
        assert_eq!(s3().operation_attempt_timeout(), Some(S3_ATTEMPT_TIMEOUT));
        let copy = s3_copy_override().build();
        let copy = copy.timeout_config().unwrap();
        assert_eq!(copy.operation_timeout(), Some(S3_COPY_TIMEOUT));
        assert_eq!(copy.operation_attempt_timeout(), Some(S3_COPY_TIMEOUT));
        assert_eq!(data_api().operation_timeout(), Some(DATA_API_CALL_TIMEOUT));
        assert_eq!(
            data_api().operation_attempt_timeout(),
            Some(DATA_API_ATTEMPT_TIMEOUT)
        );
        assert_eq!(
            dynamodb().operation_timeout(),
            Some(dynamodb_writer::write::CALL_TIMEOUT)
        );
        // The longest single call takes at most a third of a run.
        let longest = [
            S3_CALL_TIMEOUT,
            S3_COPY_TIMEOUT,
            DATA_API_CALL_TIMEOUT,
            dynamodb_writer::write::CALL_TIMEOUT,
        ]
        .into_iter()
        .max()
        .unwrap();
        assert_eq!(longest, Duration::from_secs(300));
        assert!(longest * 3 <= FUNCTION_TIMEOUT);
    }

    #[test]
    fn an_attempt_may_be_retried_within_its_call() {
        // Two attempts fit in a call: a stalled attempt is retried.
        assert!(S3_ATTEMPT_TIMEOUT * 2 <= S3_CALL_TIMEOUT);
        assert!(DATA_API_ATTEMPT_TIMEOUT * 2 <= DATA_API_CALL_TIMEOUT);
    }
}
