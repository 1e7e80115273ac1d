//! The records a stream writer gives up on, saved with their data and the
//! reason before the writer reports them to Lambda.
//!
//! When a Kinesis event source mapping exhausts its retries, its on-failure
//! destination receives only the shard id and the sequence-number range,
//! not the records
//! (<https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html>),
//! and the stream drops them when its retention ends. So a writer saves
//! every record it reports as failed, as it came from the stream, under
//! `failed/{writer}/{shardId}-{first sequence number}.jsonl` of the lake
//! bucket: one JSON line per record with its position (from which a keyless
//! record's line id derives, so a replay stores it under the same id), the
//! writer's reason and the original data. A retry that fails again writes
//! the same key; a record that is written on a later retry leaves its saved
//! copy behind, and replaying it is harmless (every store replaces by line
//! id).

use serde::{Deserialize, Serialize};

/// The prefix of saved failures in the lake bucket.
pub const FAILED_PREFIX: &str = "failed";

/// One record a writer gives up on, as the stream delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRecord<'a> {
    pub shard_id: &'a str,
    pub sequence_number: &'a str,
    pub partition_key: &'a str,
    /// RFC 3339.
    pub approximate_arrival_timestamp: String,
    pub data: &'a [u8],
}

impl<'a> FailedRecord<'a> {
    /// A record of a Kinesis event: its shard is read from the event id
    /// (`shardId-…:sequence`), `shard-unknown` when the id does not say.
    pub fn from_stream(
        event_id: Option<&'a str>,
        sequence_number: &'a str,
        partition_key: &'a str,
        approximate_arrival_timestamp: String,
        data: &'a [u8],
    ) -> Self {
        let shard_id = match event_id
            .and_then(|id| crate::SourcePosition::from_kinesis_event_id(id, sequence_number))
        {
            Some(crate::SourcePosition::Kinesis { shard_id, .. }) => shard_id,
            _ => "shard-unknown",
        };
        FailedRecord {
            shard_id,
            sequence_number,
            partition_key,
            approximate_arrival_timestamp,
            data,
        }
    }
}

/// The object that saves a writer's failed records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedObject {
    pub key: String,
    /// Newline-delimited JSON, one [`FailedRecord`] a line.
    pub body: Vec<u8>,
}

#[derive(Serialize)]
struct FailedLine<'a> {
    writer: &'a str,
    reason: &'a str,
    shard_id: &'a str,
    sequence_number: &'a str,
    partition_key: &'a str,
    approximate_arrival_timestamp: &'a str,
    /// The record's data as text, or base64 when it is not UTF-8.
    data: String,
    data_encoding: &'static str,
}

/// One line of a failed object as read back (by `provisioner replay`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SavedRecord {
    pub writer: String,
    pub reason: String,
    pub shard_id: String,
    pub sequence_number: String,
    pub partition_key: String,
    /// RFC 3339.
    pub approximate_arrival_timestamp: String,
    /// The record's data, written as `data_encoding` says.
    pub data: String,
    pub data_encoding: DataEncoding,
}

/// How a saved record's data is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum DataEncoding {
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "base64")]
    Base64,
}

/// A line of a failed object that is not a saved record.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct SavedRecordError {
    pub line: usize,
    pub reason: String,
}

/// The records of a failed object's body; blank lines are skipped.
pub fn saved_records(body: &[u8]) -> Result<Vec<SavedRecord>, SavedRecordError> {
    body.split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .map(|(index, line)| {
            serde_json::from_slice(line).map_err(|e| SavedRecordError {
                line: index + 1,
                reason: e.to_string(),
            })
        })
        .collect()
}

/// The object saving `records` that `writer` (`dynamodb-writer`) gives up
/// on for `reason`; `None` when there are none.
pub fn failed_object(
    writer: &str,
    reason: &str,
    records: &[FailedRecord<'_>],
) -> Option<FailedObject> {
    let first = records.first()?;
    let mut body = Vec::new();
    for record in records {
        let (data, data_encoding) = match std::str::from_utf8(record.data) {
            Ok(text) => (text.to_owned(), "utf-8"),
            Err(_) => (crate::base64_encode(record.data), "base64"),
        };
        let line = FailedLine {
            writer,
            reason,
            shard_id: record.shard_id,
            sequence_number: record.sequence_number,
            partition_key: record.partition_key,
            approximate_arrival_timestamp: &record.approximate_arrival_timestamp,
            data,
            data_encoding,
        };
        serde_json::to_writer(&mut body, &line).expect("a failed line always serialises");
        body.push(b'\n');
    }
    Some(FailedObject {
        key: format!(
            "{FAILED_PREFIX}/{writer}/{}-{}.jsonl",
            first.shard_id, first.sequence_number
        ),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record<'a>(sequence_number: &'a str, data: &'a [u8]) -> FailedRecord<'a> {
        FailedRecord {
            shard_id: "shardId-000000000001",
            sequence_number,
            partition_key: "536365",
            approximate_arrival_timestamp: "2010-12-24T10:00:00+00:00".to_owned(),
            data,
        }
    }

    #[test]
    fn a_failed_record_is_saved_with_its_position_reason_and_data() {
        let object = failed_object(
            "dynamodb-writer",
            "throttled",
            &[
                record("4959001", b"{\"InvoiceNo\":\"536365\"}"),
                record("4959002", b"\xff"),
            ],
        )
        .unwrap();
        assert_eq!(
            object.key,
            "failed/dynamodb-writer/shardId-000000000001-4959001.jsonl"
        );
        let lines: Vec<serde_json::Value> = object
            .body
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["reason"], "throttled");
        assert_eq!(lines[0]["sequence_number"], "4959001");
        assert_eq!(lines[0]["data"], "{\"InvoiceNo\":\"536365\"}");
        assert_eq!(lines[1]["data_encoding"], "base64");
        assert_eq!(lines[1]["data"], "/w==");
        assert_eq!(failed_object("dynamodb-writer", "x", &[]), None);
    }

    #[test]
    fn a_saved_object_reads_back_as_the_records_it_saved() {
        let object = failed_object(
            "lake-writer",
            "s3 unavailable",
            &[
                record("4959001", b"{\"InvoiceNo\":\"536365\"}"),
                record("4959002", b"\xff"),
            ],
        )
        .unwrap();
        let saved = saved_records(&object.body).unwrap();
        assert_eq!(saved.len(), 2);
        assert_eq!(saved[0].writer, "lake-writer");
        assert_eq!(saved[0].reason, "s3 unavailable");
        assert_eq!(saved[0].shard_id, "shardId-000000000001");
        assert_eq!(saved[0].sequence_number, "4959001");
        assert_eq!(saved[0].partition_key, "536365");
        assert_eq!(
            saved[0].approximate_arrival_timestamp,
            "2010-12-24T10:00:00+00:00"
        );
        assert_eq!(
            (saved[0].data.as_str(), saved[0].data_encoding),
            ("{\"InvoiceNo\":\"536365\"}", DataEncoding::Utf8)
        );
        assert_eq!(
            (saved[1].data.as_str(), saved[1].data_encoding),
            ("/w==", DataEncoding::Base64)
        );
    }

    #[test]
    fn a_line_that_is_not_a_saved_record_is_named_by_its_number() {
        let error = saved_records(b"\n{\"writer\":\"lake-writer\"}\n").unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.reason.contains("missing field"), "{error}");
    }
}
