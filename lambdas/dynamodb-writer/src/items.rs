//! From Kinesis records to DynamoDB put requests (pure: no I/O).

use std::collections::HashMap;

use aws_lambda_events::event::kinesis::KinesisEventRecord;
use aws_sdk_dynamodb::types::AttributeValue;
use record::dynamodb::{self, DynamoItems, Tables, customers_table, invoices_table};
use record::{KeyedTransaction, SourcePosition};

/// One item to put, and the record it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingPut {
    /// Index of the record in the batch.
    pub record: usize,
    pub table: String,
    pub item: HashMap<String, AttributeValue>,
    /// The table's key attributes (hash, range): what identifies the item
    /// when DynamoDB hands it back unprocessed.
    pub key: [&'static str; 2],
}

/// One item to delete, by its key, and what it stands for (an index the
/// caller chose, reported back when the delete fails).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingDelete {
    pub record: usize,
    pub table: String,
    pub key: HashMap<String, AttributeValue>,
}

/// A record that is not a valid transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub sequence_number: String,
    /// Stable label to count by (`UnitPrice: negative`).
    pub kind: String,
    pub reason: String,
}

/// The puts of a batch and the records skipped as malformed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Planned {
    pub puts: Vec<PendingPut>,
    pub skipped: Vec<Skipped>,
}

/// Maps each record to its Invoices item and, with a customer, its
/// Customers item; keys derive from the client's idempotency key, else the
/// shard and sequence number, so a retried or resent record overwrites its
/// own items.
pub fn plan(records: &[KinesisEventRecord], tables: &Tables) -> Planned {
    let mut planned = Planned::default();
    for (index, record) in records.iter().enumerate() {
        let sequence_number = record.kinesis.sequence_number.as_str();
        let skip = |kind: String, reason: String| Skipped {
            sequence_number: sequence_number.to_owned(),
            kind,
            reason,
        };
        let Ok(text) = std::str::from_utf8(&record.kinesis.data) else {
            planned.skipped.push(skip(
                "data: not utf-8".to_owned(),
                "record data is not UTF-8 text".to_owned(),
            ));
            continue;
        };
        let keyed = match KeyedTransaction::from_json(text.trim()) {
            Ok(keyed) => keyed,
            Err(error) => {
                planned.skipped.push(skip(error.kind(), error.to_string()));
                continue;
            }
        };
        let position = record
            .event_id
            .as_deref()
            .and_then(|id| SourcePosition::from_kinesis_event_id(id, sequence_number))
            .unwrap_or(SourcePosition::Kinesis {
                shard_id: "shard-unknown",
                sequence_number,
            });
        push_puts(
            &mut planned.puts,
            index,
            tables,
            keyed.transaction.dynamo_items(&keyed.source(position)),
        );
    }
    planned
}

/// Adds the puts that store one record's items: its line in Invoices and,
/// when it has a customer, its copy in Customers.
pub fn push_puts(puts: &mut Vec<PendingPut>, record: usize, tables: &Tables, items: DynamoItems) {
    puts.push(PendingPut {
        record,
        table: tables.invoices.clone(),
        item: to_sdk(items.invoice),
        key: [invoices_table::HASH_KEY, invoices_table::RANGE_KEY],
    });
    if let Some(customer) = items.customer {
        puts.push(PendingPut {
            record,
            table: tables.customers.clone(),
            item: to_sdk(customer),
            key: [customers_table::HASH_KEY, customers_table::RANGE_KEY],
        });
    }
}

/// The plain item as the SDK's attribute map (moves the strings, no copy).
pub fn to_sdk(item: dynamodb::Item) -> HashMap<String, AttributeValue> {
    item.into_iter()
        .map(|(name, value)| {
            let value = match value {
                dynamodb::AttributeValue::S(s) => AttributeValue::S(s),
                dynamodb::AttributeValue::N(n) => AttributeValue::N(n),
                dynamodb::AttributeValue::Bool(b) => AttributeValue::Bool(b),
            };
            (name.to_owned(), value)
        })
        .collect()
}
