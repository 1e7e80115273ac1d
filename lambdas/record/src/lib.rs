//! The retailer's transaction record, shared by every function.
//!
//! Every path into the platform (the API's JSON, the Kinesis stream, batch
//! CSV files) goes through [`Transaction`]: one validation, one
//! normalisation, one typed [`RecordError`] naming the field and the
//! reason. From a transaction the writers derive what they store: the
//! [`WarehouseRow`] Redshift loads, the DynamoDB items
//! ([`Transaction::dynamo_items`]), keyed by a deterministic [`LineId`] of the
//! row's source position so retried writes are idempotent.
//!
//! The real data's quirks handled here: cancellations (`C536379`, negative
//! quantities), missing customers (kept, customer `None`), customer ids
//! written as floats (`17850.0` → `17850`), two date formats
//! (`2010-12-01 08:26:00`, `12/1/2010 8:26`), quoted descriptions with
//! doubled quotes and trailing spaces, empty descriptions on stock
//! adjustments, non-product stock codes (`POST`, `D`, `M`, `DOT`,
//! `BANK CHARGES`), unit price 0. Money is exact ([`Money`]).
//! No AWS SDK here: the functions convert the plain items themselves.
//!
//! Contracts between the functions:
//! - a Kinesis record's data is one transaction as normalised JSON
//!   ([`Transaction::to_json`]); readers accept either naming
//!   ([`Transaction::from_json`]);
//! - Redshift's `transactions` table has the columns [`WAREHOUSE_COLUMNS`]
//!   and loads [`WarehouseRow`] lines with `json 'auto'`;
//! - DynamoDB tables and attribute names are in [`dynamodb`];
//! - every stored line is keyed by its [`LineId`]: from the client's
//!   idempotency key when it gave one ([`KeyedTransaction`]), else from its
//!   source position.

mod base64;
mod csv_file;
pub mod dynamodb;
mod error;
pub mod failed;
mod invoice_date;
mod json_fields;
mod json_plain;
mod json_scalar;
mod keyed;
pub mod lake_imports;
pub mod limits;
mod line_id;
mod money;
#[cfg(any(test, feature = "test-data"))]
pub mod sample;
mod transaction;
mod warehouse;

pub use base64::base64_encode;
pub use csv_file::{CSV_HEADER, CsvError, CsvRow, CsvTransactions};
pub use error::{Field, Reason, RecordError};
pub use invoice_date::{format_invoice_date, parse_invoice_date};
pub use keyed::KeyedTransaction;
pub use line_id::{LineId, SourcePosition};
pub use money::{Money, MoneyParseError};
pub use transaction::{JSON_EXAMPLE, RawFields, Transaction};
pub use warehouse::{WAREHOUSE_COLUMNS, WarehouseColumn, WarehouseRow, WarehouseTimestamp};
