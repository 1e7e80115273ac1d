//! Replaying the on-failure messages of the stream mappings: what Lambda
//! sends to a writer's failure queue when it gives up on a batch (retries
//! exhausted, or the writer crashed or timed out without reporting).
//!
//! The message holds no records, only where they are in the stream
//! (`KinesisBatchInfo`: shard, first and last sequence numbers, stream
//! ARN, batch size; "all of the fields shown ... will always be present",
//! <https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html>).
//! A replay reads those records back from the stream (`GetShardIterator`
//! `AT_SEQUENCE_NUMBER`, then `GetRecords` up to the last), rebuilds the
//! Kinesis event Lambda delivered ([`super::failed::event_of_stream`]),
//! invokes the writer the queue belongs to, and deletes the message only
//! when the writer stored every record. The writers replace by line id, so
//! a batch whose records were also saved under `failed/` (a writer that
//! gave up cleanly saves them, then reports them) is stored once whichever
//! is replayed first.
//!
//! Records the stream no longer holds (its retention passed, or the shard
//! is gone) cannot be read back: the message is kept and reported as lost.
//! If the writer had saved them, they are under `failed/{writer}/` and
//! replayed from there.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use aws_sdk_kinesis::types::ShardIteratorType;
use serde::Deserialize;

use super::failed::{self, StreamRecord};
use super::replay::{Outcome, Replayed, writer_failure};
use crate::deploy::error::AwsError;
use crate::reconcile::Store;

/// A writer's on-failure queue, from the Streaming stack's outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureQueue {
    /// `lake-writer` or `dynamodb-writer`.
    pub writer: &'static str,
    pub url: String,
    /// The writer function its batches are replayed through.
    pub function: String,
    pub store: Store,
}

impl FailureQueue {
    /// How the queue's messages are named in the report.
    pub fn source(&self) -> String {
        format!("on-failure/{}", self.writer)
    }
}

/// What Lambda says of the batch it gave up on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchInfo {
    pub shard_id: String,
    pub start_sequence_number: String,
    pub end_sequence_number: String,
    pub batch_size: u64,
    pub stream_arn: String,
}

impl BatchInfo {
    /// How the batch is named in the report: `{shard}/{first}-{last}`.
    pub fn key(&self) -> String {
        format!(
            "{}/{}-{}",
            self.shard_id, self.start_sequence_number, self.end_sequence_number
        )
    }
}

/// The invocation record Lambda sends to an on-failure destination.
#[derive(Deserialize)]
struct InvocationRecord {
    #[serde(rename = "KinesisBatchInfo")]
    kinesis_batch_info: Option<BatchInfo>,
}

/// The batch an on-failure message names, or why it names none.
pub fn batch_of(body: &str) -> Result<BatchInfo, String> {
    let record: InvocationRecord =
        serde_json::from_str(body).map_err(|e| format!("not a Lambda invocation record ({e})"))?;
    let batch = record.kinesis_batch_info.ok_or_else(|| {
        "a Lambda invocation record without KinesisBatchInfo (not from a Kinesis mapping)"
            .to_owned()
    })?;
    for (field, value) in [
        ("startSequenceNumber", &batch.start_sequence_number),
        ("endSequenceNumber", &batch.end_sequence_number),
    ] {
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "KinesisBatchInfo.{field} {value:?} is not a sequence number (decimal digits)"
            ));
        }
    }
    if compare_sequence_numbers(&batch.start_sequence_number, &batch.end_sequence_number)
        == Ordering::Greater
    {
        return Err(format!(
            "KinesisBatchInfo starts at {} after it ends at {}",
            batch.start_sequence_number, batch.end_sequence_number
        ));
    }
    Ok(batch)
}

/// Orders two sequence numbers: decimal integers of up to 129 digits, too
/// long for any machine integer
/// (<https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetShardIterator.html>).
pub fn compare_sequence_numbers(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Why a batch's records could not be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The stream no longer holds (all of) them: nothing can bring them back.
    Lost(String),
    /// Reading failed (credentials, throttling, the network): try again.
    Failed(String),
}

/// What to do after a page of `GetRecords`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Read on with the next iterator.
    More,
    /// Every record of the batch is read.
    Done,
    Lost(String),
}

/// Gathers a batch's records from `GetRecords` pages, checking that the
/// stream still holds them all: the first record read must be the batch's
/// first (a later one means the stream dropped it: for an iterator at a
/// trimmed sequence number Kinesis reads from the oldest record it keeps),
/// and the batch's last must be reached.
#[derive(Debug)]
pub struct Batch<'a> {
    info: &'a BatchInfo,
    stream: &'a str,
    pub records: Vec<StreamRecord>,
}

impl<'a> Batch<'a> {
    pub fn new(info: &'a BatchInfo, stream: &'a str) -> Self {
        Batch {
            info,
            stream,
            records: Vec::new(),
        }
    }

    /// Takes one page: its records, whether the shard goes on
    /// (`NextShardIterator`), and `MillisBehindLatest`.
    pub fn take(
        &mut self,
        page: Vec<StreamRecord>,
        shard_goes_on: bool,
        millis_behind_latest: Option<i64>,
    ) -> Step {
        let info = self.info;
        for record in page {
            if self.records.is_empty() && record.sequence_number != info.start_sequence_number {
                return Step::Lost(format!(
                    "stream {} no longer holds record {} of {} (the oldest it holds from there \
                     is {}): its retention has passed",
                    self.stream, info.start_sequence_number, info.shard_id, record.sequence_number
                ));
            }
            match compare_sequence_numbers(&record.sequence_number, &info.end_sequence_number) {
                Ordering::Less => self.records.push(record),
                Ordering::Equal => {
                    self.records.push(record);
                    return Step::Done;
                }
                Ordering::Greater => {
                    return Step::Lost(format!(
                        "stream {} holds no record {} in {} (it went from {} to {})",
                        self.stream,
                        info.end_sequence_number,
                        info.shard_id,
                        self.records
                            .last()
                            .map_or(info.start_sequence_number.as_str(), |r| {
                                r.sequence_number.as_str()
                            }),
                        record.sequence_number
                    ));
                }
            }
        }
        let at_the_tip = millis_behind_latest == Some(0);
        if !shard_goes_on || at_the_tip {
            return Step::Lost(match self.records.last() {
                None => format!(
                    "stream {} holds no record {} in {}",
                    self.stream, info.start_sequence_number, info.shard_id
                ),
                Some(last) => format!(
                    "stream {} holds the batch in {} only up to {}, not to its last record {}",
                    self.stream, info.shard_id, last.sequence_number, info.end_sequence_number
                ),
            });
        }
        Step::More
    }
}

/// `GetRecords` calls for one batch at most: a batch is at most 10,000
/// records, and one call returns up to 10,000; empty pages (stretches of
/// the shard without records) are the rest.
const MAX_GET_RECORDS_CALLS: usize = 200;

/// The batch's records, read back from `stream` (its name).
pub async fn read_batch(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    info: &BatchInfo,
) -> Result<Vec<StreamRecord>, ReadError> {
    let context = format!(
        "reading {} from {} of stream {stream}",
        info.start_sequence_number, info.shard_id
    );
    let iterator = kinesis
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(&info.shard_id)
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .starting_sequence_number(&info.start_sequence_number)
        .send()
        .await;
    let mut iterator = match iterator {
        Ok(answer) => answer.shard_iterator,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Err(ReadError::Lost(format!(
                "stream {stream} no longer has shard {} (its retention passed after a reshard)",
                info.shard_id
            )));
        }
        Err(e) => {
            return Err(ReadError::Failed(
                AwsError::from_sdk(context, e).to_string(),
            ));
        }
    };
    let mut batch = Batch::new(info, stream);
    for _ in 0..MAX_GET_RECORDS_CALLS {
        let Some(current) = iterator.take() else {
            break;
        };
        let page = kinesis
            .get_records()
            .shard_iterator(current)
            .send()
            .await
            .map_err(|e| ReadError::Failed(AwsError::from_sdk(context.clone(), e).to_string()))?;
        let records = page
            .records()
            .iter()
            .map(|r| stream_record(&info.shard_id, r))
            .collect();
        iterator = page.next_shard_iterator().map(str::to_owned);
        match batch.take(records, iterator.is_some(), page.millis_behind_latest()) {
            Step::More => {}
            Step::Done => return Ok(batch.records),
            Step::Lost(reason) => return Err(ReadError::Lost(reason)),
        }
    }
    Err(ReadError::Failed(format!(
        "{context}: {} records read in {MAX_GET_RECORDS_CALLS} calls without reaching {}; \
         run replay again",
        batch.records.len(),
        info.end_sequence_number
    )))
}

fn stream_record(shard_id: &str, record: &aws_sdk_kinesis::types::Record) -> StreamRecord {
    let arrival = record
        .approximate_arrival_timestamp()
        .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
        .unwrap_or_default();
    StreamRecord {
        shard_id: shard_id.to_owned(),
        sequence_number: record.sequence_number().to_owned(),
        partition_key: record.partition_key().to_owned(),
        approximate_arrival: arrival,
        data: record.data().as_ref().to_vec(),
    }
}

/// Lambda takes at most 6 MB in a synchronous invocation's payload
/// (<https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html>);
/// Lambda's own batch fitted in it, and a rebuilt one is sent whole unless
/// its JSON is larger than this, then in parts (the writers take any run
/// of records).
pub const MAX_EVENT_BYTES: usize = 5 * 1024 * 1024;

/// `records` in runs whose event stays under `limit` bytes (a record's
/// data is base64 in the event, with a few hundred bytes around it).
pub fn parts(records: &[StreamRecord], limit: usize) -> Vec<&[StreamRecord]> {
    const AROUND: usize = 512;
    let mut parts = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (index, record) in records.iter().enumerate() {
        let bytes = record.data.len().div_ceil(3) * 4 + AROUND;
        if index > start && size + bytes > limit {
            parts.push(&records[start..index]);
            (start, size) = (index, 0);
        }
        size += bytes;
    }
    if start < records.len() {
        parts.push(&records[start..]);
    }
    parts
}

/// How long a received message stays hidden from other readers while its
/// batch is read back and the writer runs (a writer's timeout is 120 s).
pub const VISIBILITY_TIMEOUT_SECONDS: i32 = 300;

/// Every message of every queue, replayed through its writer. A message
/// whose batch is stored is deleted; any other stays, visible again. Err
/// (with what was done before) when a queue cannot be read or a stored
/// batch's message cannot be deleted.
pub async fn replay_on_failure_messages(
    sqs: &aws_sdk_sqs::Client,
    kinesis: &aws_sdk_kinesis::Client,
    lambda: &aws_sdk_lambda::Client,
    stream: &str,
    queues: &[FailureQueue],
) -> (Vec<Replayed>, Option<AwsError>) {
    let mut replayed = Vec::new();
    for queue in queues {
        if let Err(e) = replay_queue(sqs, kinesis, lambda, stream, queue, &mut replayed).await {
            return (replayed, Some(e));
        }
    }
    (replayed, None)
}

async fn replay_queue(
    sqs: &aws_sdk_sqs::Client,
    kinesis: &aws_sdk_kinesis::Client,
    lambda: &aws_sdk_lambda::Client,
    stream: &str,
    queue: &FailureQueue,
    replayed: &mut Vec<Replayed>,
) -> Result<(), AwsError> {
    let url = queue.url.as_str();
    let mut seen = BTreeSet::new();
    let mut kept = Vec::new();
    let result = async {
        loop {
            // One at a time: each is hidden only while it is replayed, and a
            // long poll of a second asks every SQS server, so an empty answer
            // means an empty queue.
            let received = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(1)
                .visibility_timeout(VISIBILITY_TIMEOUT_SECONDS)
                .wait_time_seconds(1)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(format!("receiving from {url}"), e))?;
            let Some(message) = received.messages.unwrap_or_default().into_iter().next() else {
                return Ok(());
            };
            let id = message.message_id().unwrap_or_default().to_owned();
            let receipt = message.receipt_handle().unwrap_or_default().to_owned();
            if !seen.insert(id) {
                // Seen in this run already (its visibility ran out): done.
                kept.push(receipt);
                return Ok(());
            }
            let body = message.body().unwrap_or_default();
            let (key, items, outcome) = replay_message(kinesis, lambda, stream, queue, body).await;
            let outcome = match outcome {
                Some(outcome) => {
                    kept.push(receipt);
                    outcome
                }
                None => {
                    sqs.delete_message()
                        .queue_url(url)
                        .receipt_handle(&receipt)
                        .send()
                        .await
                        .map_err(|e| {
                            AwsError::from_sdk(
                                format!(
                                    "deleting the message of {key} from {url} (its records are \
                                     stored: replaying it again is harmless)"
                                ),
                                e,
                            )
                        })?;
                    Outcome::Deleted {
                        queue: url.to_owned(),
                    }
                }
            };
            replayed.push(Replayed {
                source: queue.source(),
                store: queue.store,
                key,
                items,
                outcome,
            });
        }
    }
    .await;
    // What stays is visible again at once (the alarm and the next replay
    // see it), not after the visibility timeout. If this fails, it is
    // visible again when the timeout ends anyway.
    for receipt in kept {
        let _ = sqs
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await;
    }
    result
}

/// One message replayed: its batch's key, its records, and why it stays
/// (`None`: stored, the message can go).
async fn replay_message(
    kinesis: &aws_sdk_kinesis::Client,
    lambda: &aws_sdk_lambda::Client,
    stream: &str,
    queue: &FailureQueue,
    body: &str,
) -> (String, usize, Option<Outcome>) {
    let info = match batch_of(body) {
        Ok(info) => info,
        Err(reason) => {
            let reason = format!(
                "{reason}; the message stays in {}: read it, then delete it",
                queue.url
            );
            let key = "(not a Kinesis batch)".to_owned();
            return (key, 0, Some(Outcome::NotReplayable { reason }));
        }
    };
    let key = info.key();
    let items = usize::try_from(info.batch_size).unwrap_or(usize::MAX);
    if info
        .stream_arn
        .rsplit_once(":stream/")
        .map(|(_, name)| name)
        != Some(stream)
    {
        let reason = format!(
            "the batch is from stream {}, not this stage's {stream}",
            info.stream_arn
        );
        return (key, items, Some(Outcome::NotReplayable { reason }));
    }
    let records = match read_batch(kinesis, stream, &info).await {
        Ok(records) => records,
        Err(ReadError::Lost(reason)) => {
            let reason = format!(
                "{reason}; unless {} saved them under failed/{}/ (replayed from there), these \
                 records are lost; the message stays",
                queue.writer, queue.writer
            );
            return (key, items, Some(Outcome::Lost { reason }));
        }
        Err(ReadError::Failed(reason)) => {
            return (key, items, Some(Outcome::StillFailing { reason }));
        }
    };
    let items = records.len();
    for part in parts(&records, MAX_EVENT_BYTES) {
        let event = failed::event_of_stream(part, Some(&info.stream_arn));
        let answer = failed::invoke(lambda, &queue.function, &event).await;
        if let Some(outcome) = writer_failure(&queue.function, part.len(), answer) {
            return (key, items, Some(outcome));
        }
    }
    (key, items, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example record of Lambda's documentation (kinesis-on-failure-destination).
    const DOCUMENTED: &str = r#"{
        "requestContext": {
            "requestId": "c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5",
            "functionArn": "arn:aws:lambda:us-east-2:123456789012:function:myfunction",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 1
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled"
        },
        "version": "1.0",
        "timestamp": "2019-11-14T00:38:06.021Z",
        "KinesisBatchInfo": {
            "shardId": "shardId-000000000001",
            "startSequenceNumber": "49601189658422359378836298521827638475320189012309704722",
            "endSequenceNumber": "49601189658422359378836298522902373528957594348623495186",
            "approximateArrivalOfFirstRecord": "2019-11-14T00:38:04.835Z",
            "approximateArrivalOfLastRecord": "2019-11-14T00:38:05.580Z",
            "batchSize": 500,
            "streamArn": "arn:aws:kinesis:us-east-2:123456789012:stream/mystream"
        }
    }"#;

    fn info(start: &str, end: &str) -> BatchInfo {
        BatchInfo {
            shard_id: "shardId-000000000001".into(),
            start_sequence_number: start.into(),
            end_sequence_number: end.into(),
            batch_size: 3,
            stream_arn: "arn:aws:kinesis:eu-west-1:123456789012:stream/retail-dev-stream".into(),
        }
    }

    fn record(sequence_number: &str) -> StreamRecord {
        StreamRecord {
            shard_id: "shardId-000000000001".into(),
            sequence_number: sequence_number.into(),
            partition_key: "536365".into(),
            approximate_arrival: chrono::DateTime::from_timestamp(1_291_191_960, 0).unwrap(),
            data: br#"{"InvoiceNo":"536365"}"#.to_vec(),
        }
    }

    #[test]
    fn the_documented_on_failure_record_names_its_batch() {
        assert_eq!(
            batch_of(DOCUMENTED).unwrap(),
            BatchInfo {
                shard_id: "shardId-000000000001".into(),
                start_sequence_number: "49601189658422359378836298521827638475320189012309704722"
                    .into(),
                end_sequence_number: "49601189658422359378836298522902373528957594348623495186"
                    .into(),
                batch_size: 500,
                stream_arn: "arn:aws:kinesis:us-east-2:123456789012:stream/mystream".into(),
            }
        );
    }

    #[test]
    fn a_message_that_is_not_a_kinesis_batch_says_what_it_is() {
        assert!(
            batch_of("hello")
                .unwrap_err()
                .starts_with("not a Lambda invocation record")
        );
        assert!(
            batch_of(r#"{"requestContext":{},"version":"1.0"}"#)
                .unwrap_err()
                .contains("without KinesisBatchInfo")
        );
        let backwards = DOCUMENTED.replace(
            "\"endSequenceNumber\": \"49601189658422359378836298522902373528957594348623495186\"",
            "\"endSequenceNumber\": \"1\"",
        );
        assert!(
            batch_of(&backwards)
                .unwrap_err()
                .contains("after it ends at 1")
        );
        let letters = DOCUMENTED.replace(
            "\"startSequenceNumber\": \"49601189658422359378836298521827638475320189012309704722\"",
            "\"startSequenceNumber\": \"4960x\"",
        );
        assert_eq!(
            batch_of(&letters).unwrap_err(),
            "KinesisBatchInfo.startSequenceNumber \"4960x\" is not a sequence number (decimal \
             digits)"
        );
    }

    #[test]
    fn sequence_numbers_compare_as_numbers_longer_than_any_integer() {
        let a = "49601189658422359378836298521827638475320189012309704722";
        let b = "49601189658422359378836298522902373528957594348623495186";
        assert_eq!(compare_sequence_numbers(a, b), Ordering::Less);
        assert_eq!(compare_sequence_numbers(b, a), Ordering::Greater);
        assert_eq!(compare_sequence_numbers("9", "10"), Ordering::Less);
        assert_eq!(compare_sequence_numbers("010", "10"), Ordering::Equal);
    }

    #[test]
    fn a_batch_is_read_from_its_first_record_to_its_last_across_pages() {
        let info = info("12", "14");
        let mut batch = Batch::new(&info, "retail-dev-stream");
        assert_eq!(batch.take(vec![record("12")], true, Some(500)), Step::More);
        // An empty page (a stretch of the shard without records) reads on.
        assert_eq!(batch.take(vec![], true, Some(400)), Step::More);
        assert_eq!(
            batch.take(
                vec![record("13"), record("14"), record("15")],
                true,
                Some(0)
            ),
            Step::Done
        );
        let read: Vec<&str> = batch
            .records
            .iter()
            .map(|r| r.sequence_number.as_str())
            .collect();
        assert_eq!(read, ["12", "13", "14"]);
    }

    #[test]
    fn a_batch_whose_first_record_the_stream_dropped_is_lost() {
        let info = info("12", "14");
        let mut batch = Batch::new(&info, "retail-dev-stream");
        // Kinesis reads an iterator at a trimmed position from its oldest record.
        let Step::Lost(reason) = batch.take(vec![record("20")], true, Some(0)) else {
            panic!("not lost");
        };
        assert_eq!(
            reason,
            "stream retail-dev-stream no longer holds record 12 of shardId-000000000001 (the \
             oldest it holds from there is 20): its retention has passed"
        );
    }

    #[test]
    fn a_batch_whose_last_record_is_not_in_the_shard_is_lost() {
        let info = info("12", "14");
        let mut batch = Batch::new(&info, "retail-dev-stream");
        assert_eq!(
            batch.take(vec![record("12"), record("13")], true, Some(0)),
            Step::Lost(
                "stream retail-dev-stream holds the batch in shardId-000000000001 only up to 13, \
                 not to its last record 14"
                    .into()
            )
        );
        let mut empty = Batch::new(&info, "retail-dev-stream");
        assert_eq!(
            empty.take(vec![], false, None),
            Step::Lost(
                "stream retail-dev-stream holds no record 12 in shardId-000000000001".into()
            )
        );
    }

    #[test]
    fn the_rebuilt_event_is_what_lambda_delivers_from_the_stream() {
        let info = info("12", "13");
        let event = failed::event_of_stream(&[record("12"), record("13")], Some(&info.stream_arn));
        let json = serde_json::to_value(&event).unwrap();
        let first = &json["Records"][0];
        assert_eq!(first["eventID"], "shardId-000000000001:12");
        assert_eq!(first["eventSourceARN"], info.stream_arn.as_str());
        assert_eq!(first["awsRegion"], "eu-west-1");
        assert_eq!(first["eventName"], "aws:kinesis:record");
        assert_eq!(first["kinesis"]["sequenceNumber"], "12");
        assert_eq!(first["kinesis"]["partitionKey"], "536365");
        assert_eq!(
            first["kinesis"]["data"],
            aws_smithy_types::base64::encode(r#"{"InvoiceNo":"536365"}"#)
        );
        assert_eq!(json["Records"][1]["eventID"], "shardId-000000000001:13");
        // What the writers deserialise it as.
        let back: aws_lambda_events::event::kinesis::KinesisEvent =
            serde_json::from_value(json).unwrap();
        assert_eq!(back.records.len(), 2);
    }

    #[test]
    fn a_batch_over_the_invocation_payload_limit_is_sent_in_parts() {
        let mut big = record("1");
        big.data = vec![b'x'; 3 * 1024 * 1024];
        let records = [big.clone(), big.clone(), big, record("4")];
        let parts = parts(&records, MAX_EVENT_BYTES);
        let sizes: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        // 4 MiB of base64 each: one a part, the small one with the last.
        assert_eq!(sizes, [1, 1, 2]);
        let small = [record("1"), record("2")];
        assert_eq!(super::parts(&small, MAX_EVENT_BYTES).len(), 1);
        assert!(super::parts(&[], MAX_EVENT_BYTES).is_empty());
    }
}
