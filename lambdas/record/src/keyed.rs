//! A transaction with the client's optional idempotency key: the form a
//! line takes from the API to the stream's writers.
//!
//! Every delivery path is at least once (a client resends after a timeout
//! even when Kinesis stored its records), so a line's identity must come
//! from its source, not from where it landed. A client that sets
//! `idempotency_key` on an item (`provisioner send` uses the file name and
//! line number) gets the same [`LineId`] however often it sends the item,
//! and every store replaces by that id. Without a key the id stays what it
//! was: the Kinesis shard and sequence number the writers see.
//!
//! The key travels on the stream inside the record's JSON, so the three
//! consumers (lake-writer, dynamodb-writer, Firehose's transform) derive
//! the same id from it without talking to each other.

use crate::error::{Field, RecordError};
use crate::json_fields::FieldTexts;
use crate::limits;
use crate::line_id::{LineId, SourcePosition};
use crate::transaction::{Transaction, json_texts, optional_text};

/// A transaction and the idempotency key its client gave it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedTransaction {
    pub transaction: Transaction,
    /// Trimmed, non-empty, at most [`limits::IDEMPOTENCY_KEY_BYTES`] bytes.
    pub idempotency_key: Option<String>,
}

impl KeyedTransaction {
    /// Parses one JSON object as [`Transaction::from_json`] does, keeping
    /// its `idempotency_key` (or `IdempotencyKey`) member: a string or a
    /// number; absent, `null` or empty means no key.
    pub fn from_json(json: &str) -> Result<KeyedTransaction, RecordError> {
        let texts = json_texts(json)?;
        KeyedTransaction::from_texts(&texts)
    }

    fn from_texts(texts: &FieldTexts<'_>) -> Result<KeyedTransaction, RecordError> {
        let transaction = Transaction::from_texts(texts)?;
        let key = optional_text(
            Field::IdempotencyKey,
            &texts[8],
            limits::IDEMPOTENCY_KEY_BYTES,
        )?;
        Ok(KeyedTransaction {
            transaction,
            idempotency_key: key.map(str::to_owned),
        })
    }

    /// The normalised JSON ([`Transaction::to_json`]) with the key as its
    /// last member, `"idempotency_key":"..."`, when there is one.
    pub fn to_json(&self) -> String {
        let mut json = self.transaction.to_json();
        if let Some(key) = &self.idempotency_key {
            json.pop(); // the closing brace of the flat object
            json.push_str(",\"idempotency_key\":");
            json.push_str(&serde_json::to_string(key).expect("a string always serialises"));
            json.push('}');
        }
        json
    }

    /// The line's id: from the idempotency key when the client gave one
    /// (stable across resends), else from `landed`, where the record was
    /// stored (a Kinesis shard and sequence number).
    pub fn line_id(&self, landed: SourcePosition<'_>) -> LineId {
        self.source(landed).line_id()
    }

    /// The position that identifies the line: the client's key when it gave
    /// one, else `landed`. Writers key and label what they store by it
    /// (`Transaction::dynamo_items`).
    pub fn source<'a>(&'a self, landed: SourcePosition<'a>) -> SourcePosition<'a> {
        match &self.idempotency_key {
            Some(key) => SourcePosition::Client {
                idempotency_key: key,
            },
            None => landed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ITEM: &str = r#"{"InvoiceNo":"536365","StockCode":"85123A","Description":"WHITE HANGING HEART T-LIGHT HOLDER","Quantity":6,"InvoiceDate":"2010-12-01 08:26:00","UnitPrice":2.55,"CustomerID":"17850","Country":"United Kingdom""#;

    fn keyed(key_member: &str) -> Result<KeyedTransaction, RecordError> {
        KeyedTransaction::from_json(&format!("{ITEM}{key_member}}}"))
    }

    fn landed(sequence_number: &str) -> SourcePosition<'_> {
        SourcePosition::Kinesis {
            shard_id: "shardId-000000000000",
            sequence_number,
        }
    }

    #[test]
    fn a_resent_item_with_a_key_keeps_its_line_id_wherever_it_lands() {
        let item = keyed(r#","IdempotencyKey":"2010-12-01.csv:2""#).unwrap();
        assert_eq!(item.idempotency_key.as_deref(), Some("2010-12-01.csv:2"));
        let first = item.line_id(landed("4959"));
        let resent = item.line_id(landed("4960"));
        assert_eq!(first, resent);
        assert!(first.as_str().starts_with("i-"), "{first}");
    }

    #[test]
    fn identical_lines_with_different_keys_stay_distinct() {
        let line_2 = keyed(r#","idempotency_key":"2010-12-01.csv:2""#).unwrap();
        let line_3 = keyed(r#","idempotency_key":"2010-12-01.csv:3""#).unwrap();
        assert_eq!(line_2.transaction, line_3.transaction);
        assert_ne!(line_2.line_id(landed("1")), line_3.line_id(landed("1")));
    }

    #[test]
    fn without_a_key_the_line_id_is_where_the_record_landed() {
        for member in [
            "",
            r#","idempotency_key":null"#,
            r#","idempotency_key":" ""#,
        ] {
            let item = keyed(member).unwrap();
            assert_eq!(item.idempotency_key, None, "{member}");
            assert_eq!(item.line_id(landed("4959")), landed("4959").line_id());
        }
    }

    #[test]
    fn the_key_survives_the_stream_in_both_parsers() {
        // The fast reader takes the plain form; an escaped key goes through
        // serde's path. Both must give the key back.
        for key in ["2010-12-01.csv:2", "dir\\\"quoted\".csv:7"] {
            let item = KeyedTransaction {
                transaction: keyed("").unwrap().transaction,
                idempotency_key: Some(key.to_owned()),
            };
            let json = item.to_json();
            assert!(json.ends_with('}'), "{json}");
            assert_eq!(KeyedTransaction::from_json(&json).unwrap(), item, "{json}");
            assert_eq!(
                Transaction::from_json(&json).unwrap(),
                item.transaction,
                "a plain transaction reader ignores the key"
            );
        }
        let unkeyed = keyed("").unwrap();
        assert_eq!(unkeyed.to_json(), unkeyed.transaction.to_json());
    }

    #[test]
    fn a_number_is_a_key_and_an_overlong_or_structured_key_is_refused() {
        assert_eq!(
            keyed(r#","idempotency_key":17"#)
                .unwrap()
                .idempotency_key
                .as_deref(),
            Some("17")
        );
        let long = "k".repeat(limits::IDEMPOTENCY_KEY_BYTES + 1);
        let error = keyed(&format!(r#","idempotency_key":"{long}""#)).unwrap_err();
        assert_eq!(error.field(), Some(Field::IdempotencyKey));
        let error = keyed(r#","idempotency_key":{"file":"a"}"#).unwrap_err();
        assert_eq!(error.field(), Some(Field::IdempotencyKey));
    }
}
