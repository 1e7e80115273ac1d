//! Planning the S3 objects of one Kinesis batch (pure: no I/O).
//!
//! Valid records become warehouse JSON lines (the `transactions` schema, so
//! Glue and Athena read the lake with the same columns as Redshift) under
//! `raw/date=YYYY-MM-DD/`, partitioned by the invoice date: the date of the
//! sale, which analysts filter on, not the time it reached the stream.
//! Invalid records become lines of `rejected/date=YYYY-MM-DD/` (arrival
//! date: they have no trustworthy invoice date) carrying the reason and the
//! original data, so nothing is dropped silently.
//!
//! Object keys: `{prefix}/date={date}/{shardId}-{sequence number of the
//! object's first record}.jsonl`, the first record *of that date* in the
//! batch, not the batch's first record. Lambda retries a failed batch from
//! the same checkpoint or, with `BisectBatchOnFunctionError`, in halves
//! (<https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html>). Keyed
//! by the batch's first record, a date present only in the second half was
//! written twice, under the whole batch's key and under the half's. Keyed
//! by its own first record, an object is rewritten under the same key by
//! every retry that holds that record, and that record is always the
//! date's first one there (a retry starts at or after the batch's start,
//! so no record of the date can precede it): a whole-batch retry rewrites
//! it with the same or more lines (more arrived meanwhile), the half that
//! holds it rewrites it with that half's lines, and the other half's lines
//! of the date go under their own first record. Never the last sequence
//! number (a retry may carry more records) and never a line id (a client's
//! resend lands the same line id in another batch, whose object would
//! overwrite one holding other lines).
//!
//! A line resent by its client after an ambiguous failure lands twice on
//! the stream, so the lake may hold it twice under two keys, with one
//! `line_id`: readers of the lake de-duplicate by `line_id`.

use std::collections::BTreeMap;

use aws_lambda_events::event::kinesis::KinesisEventRecord;
use chrono::NaiveDate;
use record::{KeyedTransaction, SourcePosition, WarehouseRow};
use serde::Serialize;

/// One object to put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeObject {
    pub key: String,
    /// Newline-delimited JSON.
    pub body: Vec<u8>,
    /// Sequence numbers of the records in this object, in batch order.
    pub sequence_numbers: Vec<String>,
}

/// The objects of a batch and what went where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LakeBatch {
    pub objects: Vec<LakeObject>,
    pub stored: usize,
    pub rejected: usize,
}

/// A line of a `rejected/` object.
#[derive(Debug, Serialize)]
struct RejectedLine<'a> {
    /// What is wrong, e.g. `UnitPrice "-1" is negative: ...`.
    reason: String,
    /// A stable label to count by (`UnitPrice: negative`).
    kind: String,
    shard_id: &'a str,
    sequence_number: &'a str,
    partition_key: &'a str,
    approximate_arrival_timestamp: String,
    /// The record's data as text, or base64 when it is not UTF-8.
    data: String,
    data_encoding: &'static str,
}

const RAW_PREFIX: &str = "raw";
const REJECTED_PREFIX: &str = "rejected";
/// Used when an event id carries no shard (Lambda always sends one).
const UNKNOWN_SHARD: &str = "shard-unknown";

/// The shard of a record, from its `eventID` (`{shardId}:{sequenceNumber}`).
fn shard_of(record: &KinesisEventRecord) -> &str {
    let event_id = record.event_id.as_deref().unwrap_or_default();
    match SourcePosition::from_kinesis_event_id(event_id, "") {
        Some(SourcePosition::Kinesis { shard_id, .. }) => shard_id,
        _ => UNKNOWN_SHARD,
    }
}

/// Why a record is rejected.
#[derive(Debug, thiserror::Error)]
enum Rejection {
    #[error("record data is not UTF-8 text")]
    NotUtf8,
    #[error(transparent)]
    Record(#[from] record::RecordError),
}

impl Rejection {
    fn kind(&self) -> String {
        match self {
            Rejection::NotUtf8 => "data: not utf-8".to_owned(),
            Rejection::Record(error) => error.kind(),
        }
    }
}

/// Plans the objects for a batch (records of one shard, in order).
pub fn plan(records: &[KinesisEventRecord]) -> LakeBatch {
    if records.is_empty() {
        return LakeBatch::default();
    }
    // BTreeMap: objects in date order, a deterministic plan.
    let mut raw: BTreeMap<NaiveDate, LakeObject> = BTreeMap::new();
    let mut rejected: BTreeMap<NaiveDate, LakeObject> = BTreeMap::new();
    let mut batch = LakeBatch::default();
    for record in records {
        let sequence_number = record.kinesis.sequence_number.as_str();
        let shard_id = shard_of(record);
        match parse(record) {
            Ok(keyed) => {
                let line_id = keyed.line_id(SourcePosition::Kinesis {
                    shard_id,
                    sequence_number,
                });
                let transaction = keyed.transaction;
                let date = transaction.invoice_date.date();
                let object = raw
                    .entry(date)
                    .or_insert_with(|| empty_object(RAW_PREFIX, date, shard_id, sequence_number));
                WarehouseRow::new(&transaction, &line_id).write_json_line(&mut object.body);
                object.sequence_numbers.push(sequence_number.to_owned());
                batch.stored += 1;
            }
            Err(rejection) => {
                let arrival = record.kinesis.approximate_arrival_timestamp.0;
                let date = arrival.date_naive();
                let object = rejected.entry(date).or_insert_with(|| {
                    empty_object(REJECTED_PREFIX, date, shard_id, sequence_number)
                });
                let (data, data_encoding) = match std::str::from_utf8(&record.kinesis.data) {
                    Ok(text) => (text.to_owned(), "utf-8"),
                    Err(_) => (record::base64_encode(&record.kinesis.data), "base64"),
                };
                let line = RejectedLine {
                    reason: rejection.to_string(),
                    kind: rejection.kind(),
                    shard_id,
                    sequence_number,
                    partition_key: &record.kinesis.partition_key,
                    approximate_arrival_timestamp: arrival.to_rfc3339(),
                    data,
                    data_encoding,
                };
                serde_json::to_writer(&mut object.body, &line)
                    .expect("a rejected line always serialises");
                object.body.push(b'\n');
                object.sequence_numbers.push(sequence_number.to_owned());
                batch.rejected += 1;
            }
        }
    }
    batch.objects = raw.into_values().chain(rejected.into_values()).collect();
    batch
}

fn parse(record: &KinesisEventRecord) -> Result<KeyedTransaction, Rejection> {
    let text = std::str::from_utf8(&record.kinesis.data).map_err(|_| Rejection::NotUtf8)?;
    Ok(KeyedTransaction::from_json(text.trim())?)
}

/// The object of `date` whose first record is `sequence_number`.
fn empty_object(
    prefix: &str,
    date: NaiveDate,
    shard_id: &str,
    sequence_number: &str,
) -> LakeObject {
    LakeObject {
        key: format!(
            "{prefix}/date={}/{shard_id}-{sequence_number}.jsonl",
            date.format("%Y-%m-%d")
        ),
        body: Vec::new(),
        sequence_numbers: Vec::new(),
    }
}
