//! Re-driving what a stream writer saved under `failed/{writer}/` of the
//! lake bucket (`record::failed`) through the same writer, as the Kinesis
//! event it would have received from the stream.
//!
//! Why the writer and not this command writing to the stores itself: the
//! writer is the one place that turns a record into its lake object or its
//! DynamoDB items, with its own role and configuration, so the replayed
//! lines get exactly the keys and line ids a first delivery gives them
//! (the event ids carry the saved shard and sequence number, from which a
//! keyless record's line id derives), and the writer's own answer
//! (`batchItemFailures`) says what it still could not store. A writer
//! that fails again saves those records under `failed/` again, with the
//! new reason.

use aws_lambda_events::encodings::SecondTimestamp;
use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord, KinesisRecord};
use aws_lambda_events::event::streams::KinesisEventResponse;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use record::failed::{DataEncoding, SavedRecord};

use crate::deploy::error::AwsError;

/// A saved record that cannot be turned back into a stream record.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("record {sequence_number}: arrival time {value:?} is not RFC 3339: {reason}")]
    ArrivalTime {
        sequence_number: String,
        value: String,
        reason: String,
    },
    #[error("record {sequence_number}: its data is not valid base64: {reason}")]
    Data {
        sequence_number: String,
        reason: String,
    },
}

/// A stream record as a writer receives it: where the stream stored it,
/// and its data. Rebuilt from a saved record (`failed/`) or read back
/// from the stream (an on-failure message, [`super::on_failure`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    pub shard_id: String,
    pub sequence_number: String,
    pub partition_key: String,
    pub approximate_arrival: chrono::DateTime<chrono::Utc>,
    pub data: Vec<u8>,
}

impl StreamRecord {
    /// A record as a writer saved it under `failed/`.
    pub fn from_saved(saved: &SavedRecord) -> Result<Self, RebuildError> {
        let arrival = chrono::DateTime::parse_from_rfc3339(&saved.approximate_arrival_timestamp)
            .map_err(|e| RebuildError::ArrivalTime {
                sequence_number: saved.sequence_number.clone(),
                value: saved.approximate_arrival_timestamp.clone(),
                reason: e.to_string(),
            })?;
        let data = match saved.data_encoding {
            DataEncoding::Utf8 => saved.data.as_bytes().to_vec(),
            DataEncoding::Base64 => {
                aws_smithy_types::base64::decode(&saved.data).map_err(|e| RebuildError::Data {
                    sequence_number: saved.sequence_number.clone(),
                    reason: e.to_string(),
                })?
            }
        };
        Ok(StreamRecord {
            shard_id: saved.shard_id.clone(),
            sequence_number: saved.sequence_number.clone(),
            partition_key: saved.partition_key.clone(),
            approximate_arrival: arrival.to_utc(),
            data,
        })
    }
}

/// The Kinesis event (as Lambda delivers it from a stream) holding the
/// saved `records`.
pub fn event_of(records: &[SavedRecord]) -> Result<KinesisEvent, RebuildError> {
    let records = records
        .iter()
        .map(StreamRecord::from_saved)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(event_of_stream(&records, None))
}

/// The Kinesis event (as Lambda delivers it from a stream) holding
/// `records`, with the stream's ARN and region where they are known (an
/// on-failure message names the stream; a saved record does not).
pub fn event_of_stream(records: &[StreamRecord], stream_arn: Option<&str>) -> KinesisEvent {
    // arn:aws:kinesis:{region}:{account}:stream/{name}
    let region = stream_arn
        .and_then(|arn| arn.split(':').nth(3))
        .map(str::to_owned);
    let mut event = KinesisEvent::default();
    for stored in records {
        let mut kinesis = KinesisRecord::default();
        kinesis.approximate_arrival_timestamp = SecondTimestamp(stored.approximate_arrival);
        kinesis.data.0 = stored.data.clone();
        kinesis.partition_key = stored.partition_key.clone();
        kinesis.sequence_number = stored.sequence_number.clone();
        kinesis.kinesis_schema_version = Some("1.0".to_owned());
        let mut record = KinesisEventRecord::default();
        // `{shardId}:{sequenceNumber}`: where the writers read the shard.
        record.event_id = Some(format!("{}:{}", stored.shard_id, stored.sequence_number));
        record.event_name = Some("aws:kinesis:record".to_owned());
        record.event_source = Some("aws:kinesis".to_owned());
        record.event_version = Some("1.0".to_owned());
        record.event_source_arn = stream_arn.map(str::to_owned);
        record.aws_region = region.clone();
        record.kinesis = kinesis;
        event.records.push(record);
    }
    event
}

/// What the writer did with the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Every record is stored (or rejected by the writer with its reason,
    /// under the lake's `rejected/`: bad data does not get better).
    Stored,
    /// The writer reported these sequence numbers as failed again.
    SomeFailed(Vec<String>),
    /// The invocation itself failed (a crash, a timeout): nothing is known
    /// to be stored.
    FunctionError(String),
}

/// Invokes `function` with `event` and waits for its answer.
pub async fn invoke(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    event: &KinesisEvent,
) -> Result<Answer, AwsError> {
    let payload = serde_json::to_vec(event).expect("a Kinesis event always serialises");
    let answer = lambda
        .invoke()
        .function_name(function)
        .invocation_type(InvocationType::RequestResponse)
        .payload(Blob::new(payload))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("invoking {function}"), e))?;
    let body = answer.payload().map(Blob::as_ref).unwrap_or_default();
    Ok(answer_of(answer.function_error(), body))
}

/// Reads a writer's answer: a function error, or its `batchItemFailures`.
pub fn answer_of(function_error: Option<&str>, payload: &[u8]) -> Answer {
    if let Some(kind) = function_error {
        return Answer::FunctionError(format!(
            "{kind}: {}",
            String::from_utf8_lossy(payload).trim()
        ));
    }
    match serde_json::from_slice::<KinesisEventResponse>(payload) {
        Ok(response) if response.batch_item_failures.is_empty() => Answer::Stored,
        Ok(response) => Answer::SomeFailed(
            response
                .batch_item_failures
                .into_iter()
                .map(|failure| failure.item_identifier.unwrap_or_default())
                .collect(),
        ),
        Err(e) => Answer::FunctionError(format!(
            "the answer is not a Kinesis batch response ({e}): {}",
            String::from_utf8_lossy(payload).trim()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(sequence_number: &str, data: &str, encoding: DataEncoding) -> SavedRecord {
        SavedRecord {
            writer: "lake-writer".into(),
            reason: "s3 unavailable".into(),
            shard_id: "shardId-000000000001".into(),
            sequence_number: sequence_number.into(),
            partition_key: "536365".into(),
            approximate_arrival_timestamp: "2010-12-24T10:00:00+00:00".into(),
            data: data.into(),
            data_encoding: encoding,
        }
    }

    #[test]
    fn the_event_carries_each_record_at_its_saved_stream_position_with_its_data() {
        let event = event_of(&[
            saved("4959001", r#"{"InvoiceNo":"536365"}"#, DataEncoding::Utf8),
            saved("4959002", "/w==", DataEncoding::Base64),
        ])
        .unwrap();
        // What the writers deserialise: Lambda's Kinesis event as JSON.
        let json = serde_json::to_value(&event).unwrap();
        let first = &json["Records"][0];
        assert_eq!(first["eventID"], "shardId-000000000001:4959001");
        assert_eq!(first["eventSource"], "aws:kinesis");
        assert_eq!(first["kinesis"]["sequenceNumber"], "4959001");
        assert_eq!(first["kinesis"]["partitionKey"], "536365");
        assert_eq!(
            first["kinesis"]["data"],
            aws_smithy_types::base64::encode(r#"{"InvoiceNo":"536365"}"#)
        );
        // aws_lambda_events writes seconds as a string; it reads both forms.
        assert_eq!(
            first["kinesis"]["approximateArrivalTimestamp"],
            "1293184800"
        );
        let back: KinesisEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back.records[1].kinesis.data.0, vec![0xff]);
    }

    #[test]
    fn a_record_whose_saved_data_is_not_base64_is_named() {
        let error = event_of(&[saved("4959003", "not base64!", DataEncoding::Base64)]).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("record 4959003: its data is not valid base64")
        );
    }

    #[test]
    fn a_writer_answer_without_failures_means_stored() {
        assert_eq!(
            answer_of(None, br#"{"batchItemFailures":[]}"#),
            Answer::Stored
        );
    }

    #[test]
    fn a_writer_answer_with_failures_names_their_sequence_numbers() {
        let answer = answer_of(
            None,
            br#"{"batchItemFailures":[{"itemIdentifier":"4959002"}]}"#,
        );
        assert_eq!(answer, Answer::SomeFailed(vec!["4959002".into()]));
    }

    #[test]
    fn a_function_error_or_an_unexpected_answer_is_a_failure_with_its_text() {
        assert_eq!(
            answer_of(Some("Unhandled"), br#"{"errorMessage":"Task timed out"}"#),
            Answer::FunctionError(r#"Unhandled: {"errorMessage":"Task timed out"}"#.into())
        );
        assert!(matches!(
            answer_of(None, b"null"),
            Answer::FunctionError(text) if text.contains("not a Kinesis batch response")
        ));
    }
}
