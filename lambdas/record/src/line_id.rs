//! `LineId`: a deterministic id of where a row came from.
//!
//! Writers key every stored line by it (`LineId` range key in DynamoDB,
//! `line_id` in Redshift), so a retried write of the same source row
//! overwrites itself (idempotent), while two identical rows from different
//! positions (the retailer's data has such duplicates) are both kept.
//!
//! Format: a source tag, `-`, and 16 lowercase hex digits of the 64-bit
//! FNV-1a hash of the position: `k-` for a Kinesis record (shard id and
//! sequence number, so the same row has the same id in DynamoDB, S3 and,
//! through Firehose's Kinesis metadata, in Redshift), `f-` for a line of a
//! batch file (object key and 1-based line number), `d-` for a record put
//! straight into Firehose (its `recordId`), `i-` for an API item with the
//! client's idempotency key (the key: stable across resends, see
//! [`crate::KeyedTransaction`]). Hashing keeps the key short and
//! bounded (an S3 key can be 1,024 bytes, the DynamoDB sort key limit);
//! the readable position is stored beside it ([`SourcePosition`]'s
//! `Display`). 64 bits make a collision within one invoice's lines (the
//! scope of the key) vanishingly unlikely. FNV-1a is fixed by its
//! specification, so ids never change across builds or Rust versions.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a row was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourcePosition<'a> {
    /// A Kinesis Data Streams record.
    Kinesis {
        shard_id: &'a str,
        sequence_number: &'a str,
    },
    /// A line of a batch CSV file (1-based, as editors count).
    File { key: &'a str, line: u64 },
    /// A record put directly into Firehose, identified by its `recordId`.
    FirehoseRecord { record_id: &'a str },
    /// An API item with the client's idempotency key: the same key is the
    /// same line, however often it is sent.
    Client { idempotency_key: &'a str },
}

impl<'a> SourcePosition<'a> {
    /// The position of a record of a Lambda Kinesis event, whose `eventID`
    /// is `{shardId}:{sequenceNumber}`
    /// (<https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html>).
    /// `None` when the event id has no shard part.
    pub fn from_kinesis_event_id(event_id: &'a str, sequence_number: &'a str) -> Option<Self> {
        let (shard_id, _) = event_id.split_once(':')?;
        (!shard_id.is_empty()).then_some(SourcePosition::Kinesis {
            shard_id,
            sequence_number,
        })
    }

    /// The deterministic id of this position.
    pub fn line_id(&self) -> LineId {
        let mut hash = Fnv1a::new();
        let tag = match self {
            SourcePosition::Kinesis {
                shard_id,
                sequence_number,
            } => {
                hash.write(shard_id.as_bytes());
                hash.write(&[0]);
                hash.write(sequence_number.as_bytes());
                'k'
            }
            SourcePosition::File { key, line } => {
                hash.write(key.as_bytes());
                hash.write(&[0]);
                hash.write(&line.to_be_bytes());
                'f'
            }
            SourcePosition::FirehoseRecord { record_id } => {
                hash.write(record_id.as_bytes());
                'd'
            }
            SourcePosition::Client { idempotency_key } => {
                hash.write(idempotency_key.as_bytes());
                'i'
            }
        };
        let mut id = String::with_capacity(crate::limits::LINE_ID_BYTES);
        id.push(tag);
        id.push('-');
        let hash = hash.finish();
        for shift in (0..16).rev() {
            let nibble = ((hash >> (shift * 4)) & 0xf) as u32;
            id.push(char::from_digit(nibble, 16).expect("a nibble is a hex digit"));
        }
        LineId(id)
    }
}

impl fmt::Display for SourcePosition<'_> {
    /// Human-readable provenance: `kinesis:shardId-000000000000:4959...`,
    /// `file:2010-12-01.csv:2`, `firehose:4959...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourcePosition::Kinesis {
                shard_id,
                sequence_number,
            } => write!(f, "kinesis:{shard_id}:{sequence_number}"),
            SourcePosition::File { key, line } => write!(f, "file:{key}:{line}"),
            SourcePosition::FirehoseRecord { record_id } => write!(f, "firehose:{record_id}"),
            SourcePosition::Client { idempotency_key } => write!(f, "key:{idempotency_key}"),
        }
    }
}

/// The id of a stored line (`k-0123456789abcdef`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LineId(String);

impl LineId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for LineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 64-bit FNV-1a (<http://www.isthe.com/chongo/tech/comp/fnv/>).
struct Fnv1a(u64);

impl Fnv1a {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Self {
        Fnv1a(Self::OFFSET_BASIS)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        for (input, expected) in [
            ("", 0xcbf29ce484222325_u64),
            ("a", 0xaf63dc4c8601ec8c),
            ("foobar", 0x85944171f73967e8),
        ] {
            let mut hash = Fnv1a::new();
            hash.write(input.as_bytes());
            assert_eq!(hash.finish(), expected, "{input:?}");
        }
    }

    #[test]
    fn the_same_position_always_gives_the_same_id() {
        let position = SourcePosition::Kinesis {
            shard_id: "shardId-000000000000",
            sequence_number: "49590338271490256608559692538361571095921575989136588898",
        };
        assert_eq!(position.line_id(), position.line_id());
        assert_eq!(
            position.line_id().as_str().len(),
            crate::limits::LINE_ID_BYTES
        );
        assert!(position.line_id().as_str().starts_with("k-"));
        let mut hash = Fnv1a::new();
        hash.write(
            b"shardId-000000000000\x0049590338271490256608559692538361571095921575989136588898",
        );
        assert_eq!(
            position.line_id().as_str(),
            format!("k-{:016x}", hash.finish())
        );
    }

    #[test]
    fn different_positions_give_different_ids() {
        let a = SourcePosition::File {
            key: "2010-12-01.csv",
            line: 2,
        }
        .line_id();
        let b = SourcePosition::File {
            key: "2010-12-01.csv",
            line: 3,
        }
        .line_id();
        let c = SourcePosition::File {
            key: "2010-12-02.csv",
            line: 2,
        }
        .line_id();
        assert_ne!(a, b);
        assert_ne!(a, c);
        // The separator keeps ("ab","c") and ("a","bc") apart.
        let d = SourcePosition::Kinesis {
            shard_id: "ab",
            sequence_number: "c",
        }
        .line_id();
        let e = SourcePosition::Kinesis {
            shard_id: "a",
            sequence_number: "bc",
        }
        .line_id();
        assert_ne!(d, e);
    }

    #[test]
    fn reads_the_shard_from_a_kinesis_event_id() {
        let sequence_number = "49590338271490256608559692538361571095921575989136588898";
        let event_id = format!("shardId-000000000006:{sequence_number}");
        assert_eq!(
            SourcePosition::from_kinesis_event_id(&event_id, sequence_number),
            Some(SourcePosition::Kinesis {
                shard_id: "shardId-000000000006",
                sequence_number
            })
        );
        assert_eq!(
            SourcePosition::from_kinesis_event_id("no-shard", sequence_number),
            None
        );
    }

    #[test]
    fn provenance_is_readable() {
        assert_eq!(
            SourcePosition::File {
                key: "imports/2010-12-01.csv",
                line: 17
            }
            .to_string(),
            "file:imports/2010-12-01.csv:17"
        );
    }
}
