//! Kinesis Data Firehose data-transformation processor for the warehouse
//! delivery stream: each record (a transaction JSON from the Kinesis stream)
//! becomes one [`record::WarehouseRow`] JSON line that Redshift's
//! `COPY ... json 'auto'` loads.
//!
//! The contract Firehose imposes
//! (<https://docs.aws.amazon.com/firehose/latest/dev/data-transformation.html>):
//! exactly one output record per input record, with the same `recordId`;
//! `result` is `Ok`, `Dropped` or `ProcessingFailed`; `data` is base64.
//! Records that fail are written by Firehose to the `processing-failed/`
//! error prefix of the backup bucket with their data, so we return the
//! original bytes for them and log the reason (Firehose keeps no message).

use aws_lambda_events::event::firehose::{
    KinesisFirehoseEvent, KinesisFirehoseEventRecord, KinesisFirehoseResponse,
    KinesisFirehoseResponseRecord,
};
use lambda_runtime::{Error, LambdaEvent};
use record::{KeyedTransaction, RecordError, SourcePosition, WarehouseRow};

/// Firehose's `result` values.
pub const OK: &str = "Ok";
pub const PROCESSING_FAILED: &str = "ProcessingFailed";

/// Lambda's synchronous response payload limit, 6 MB
/// (<https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html>).
/// A larger response fails the whole invocation, so the transform keeps
/// under it (see [`transform`]).
pub const LAMBDA_RESPONSE_LIMIT_BYTES: usize = 6 * 1024 * 1024;

/// `{"records":[]}`: the response around its records.
const RESPONSE_ENVELOPE_BYTES: usize = r#"{"records":[]}"#.len();

/// The Lambda handler: wires the event to [`transform`] with the Lambda
/// response limit.
pub async fn handler(
    event: LambdaEvent<KinesisFirehoseEvent>,
) -> Result<KinesisFirehoseResponse, Error> {
    Ok(transform(event.payload, LAMBDA_RESPONSE_LIMIT_BYTES))
}

/// Transforms every record, keeping the serialised response within
/// `response_limit` bytes.
///
/// Why the limit can always be kept: Firehose buffers 0.2 to 3 MB (default
/// 1 MB, `BufferSizeInMBs`) before invoking us, and Lambda refuses requests
/// over 6 MB; a `ProcessingFailed` answer carries the original data in a
/// smaller envelope than the request's, so answering every record
/// `ProcessingFailed` always fits. A record is therefore answered `Ok` only
/// if its transformed size plus the failed-answer sizes of all later
/// records still fit; otherwise it is answered `ProcessingFailed` with its
/// original data, and Firehose routes it to the error prefix instead of
/// failing the whole batch.
///
/// Sizing: on the sample a record is about 200 bytes and its answer about
/// 500 (a 280-byte line in base64 plus envelope), so each MB of buffer
/// gives about 2.5 MB of response (measured: 5,127 records, 1 MB of data,
/// 2.5 MB answered): the default 1 MB buffer is safe, 2 MB is close to the
/// limit and 3 MB goes over it (the overflow then ends in the error
/// prefix). Keep `BufferSizeInMBs` at 1.
pub fn transform(event: KinesisFirehoseEvent, response_limit: usize) -> KinesisFirehoseResponse {
    let original_sizes: Vec<usize> = event
        .records
        .iter()
        .map(|r| response_record_size(r.record_id.as_deref(), PROCESSING_FAILED, r.data.0.len()))
        .collect();
    let mut still_to_answer: usize = original_sizes.iter().sum();
    let mut used = RESPONSE_ENVELOPE_BYTES;
    let mut response = KinesisFirehoseResponse::default();
    for (record, original_size) in event.records.into_iter().zip(original_sizes) {
        still_to_answer -= original_size;
        let answer = match transform_record(&record) {
            Ok(row) => {
                let size = response_record_size(record.record_id.as_deref(), OK, row.len());
                if used + size + still_to_answer <= response_limit {
                    answer(&record, OK, row)
                } else {
                    tracing::warn!(
                        record_id = record.record_id.as_deref().unwrap_or_default(),
                        response_limit,
                        "answering ProcessingFailed: the transformed batch would exceed the Lambda response limit; \
                         lower the processor BufferSizeInMBs"
                    );
                    failed(record)
                }
            }
            Err(error) => {
                tracing::warn!(
                    record_id = record.record_id.as_deref().unwrap_or_default(),
                    reason = %error,
                    "answering ProcessingFailed: record is not a valid transaction"
                );
                failed(record)
            }
        };
        used += response_record_size(
            answer.record_id.as_deref(),
            answer.result.as_deref().unwrap_or_default(),
            answer.data.0.len(),
        );
        response.records.push(answer);
    }
    response
}

/// Why a Firehose record could not be transformed.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error("record data is not UTF-8 text")]
    NotUtf8,
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// The warehouse JSON line (with its trailing newline) for one record.
///
/// The `line_id` comes from the client's idempotency key when the record
/// carries one, else from the Kinesis shard and sequence number when
/// Firehose reads the stream (either way Redshift, S3 and DynamoDB share
/// ids), else from the Firehose `recordId` (Direct PUT).
pub fn transform_record(record: &KinesisFirehoseEventRecord) -> Result<Vec<u8>, TransformError> {
    let text = std::str::from_utf8(&record.data.0).map_err(|_| TransformError::NotUtf8)?;
    let keyed = KeyedTransaction::from_json(text.trim())?;
    let kinesis = record.kinesis_firehose_record_metadata.as_ref();
    let position =
        match kinesis.and_then(|m| Some((m.shard_id.as_deref()?, m.sequence_number.as_deref()?))) {
            Some((shard_id, sequence_number)) => SourcePosition::Kinesis {
                shard_id,
                sequence_number,
            },
            None => SourcePosition::FirehoseRecord {
                record_id: record.record_id.as_deref().unwrap_or_default(),
            },
        };
    let line_id = keyed.line_id(position);
    Ok(WarehouseRow::new(&keyed.transaction, &line_id).to_json_line())
}

fn answer(
    record: &KinesisFirehoseEventRecord,
    result: &str,
    data: Vec<u8>,
) -> KinesisFirehoseResponseRecord {
    let mut answer = KinesisFirehoseResponseRecord::default();
    answer.record_id = record.record_id.clone();
    answer.result = Some(result.to_owned());
    *answer.data = data;
    answer
}

fn failed(record: KinesisFirehoseEventRecord) -> KinesisFirehoseResponseRecord {
    let mut answer = KinesisFirehoseResponseRecord::default();
    answer.record_id = record.record_id;
    answer.result = Some(PROCESSING_FAILED.to_owned());
    answer.data = record.data;
    answer
}

/// Exact serialised size of a response record, with the comma that
/// separates it from the next:
/// `{"recordId":"…","result":"Ok","data":"<base64>","metadata":{"partitionKeys":{}}},`
fn response_record_size(record_id: Option<&str>, result: &str, data_len: usize) -> usize {
    const FIXED: usize =
        r#"{"recordId":,"result":"","data":"","metadata":{"partitionKeys":{}}},"#.len();
    let record_id = match record_id {
        Some(id) if id.bytes().all(|b| b.is_ascii_alphanumeric()) => id.len() + 2,
        Some(id) => serde_json::to_string(id).map_or(usize::MAX / 4, |json| json.len()),
        None => "null".len(),
    };
    FIXED + record_id + result.len() + data_len.div_ceil(3) * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_record_size_is_the_serialised_size() {
        for (record_id, result, data) in [
            (
                Some("49546986683135544286507457936321625675700192471156785154"),
                OK,
                &b"{}\n"[..],
            ),
            (Some("id with \"quotes\""), PROCESSING_FAILED, b"abcd"),
            (None, PROCESSING_FAILED, b""),
        ] {
            let mut record = KinesisFirehoseResponseRecord::default();
            record.record_id = record_id.map(str::to_owned);
            record.result = Some(result.to_owned());
            *record.data = data.to_vec();
            let serialised = serde_json::to_vec(&record).unwrap().len() + 1;
            assert_eq!(
                response_record_size(record_id, result, data.len()),
                serialised
            );
        }
    }
}
