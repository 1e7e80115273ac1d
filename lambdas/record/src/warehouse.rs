//! The row the Redshift table `transactions` loads with
//! `COPY ... FORMAT AS JSON 'auto'`: one JSON object per line whose
//! lowercase keys are the column names ([`WAREHOUSE_COLUMNS`], the contract
//! with the warehouse-schema DDL). Money is a quoted decimal, so it loads
//! into `DECIMAL` exactly ([`WarehouseRow::write_json_line`]).

use std::borrow::Cow;
use std::fmt;

use chrono::NaiveDateTime;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::invoice_date::{
    format_invoice_date, parse_invoice_date, timestamp_bytes, write_invoice_date,
};
use crate::json_plain;
use crate::limits;
use crate::line_id::LineId;
use crate::money::Money;
use crate::transaction::Transaction;

/// A column of the `transactions` table as [`WarehouseRow`] fills it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarehouseColumn {
    /// The JSON key and column name (`json 'auto'` matches them).
    pub name: &'static str,
    /// The Redshift type that holds every value validation lets through.
    pub redshift_type: &'static str,
    pub nullable: bool,
}

const fn column(
    name: &'static str,
    redshift_type: &'static str,
    nullable: bool,
) -> WarehouseColumn {
    WarehouseColumn {
        name,
        redshift_type,
        nullable,
    }
}

/// The columns of `transactions`, in the order [`WarehouseRow`] writes its
/// keys. The warehouse-schema function's DDL must match this list; the
/// sizes are the validation limits in `record::limits`.
pub const WAREHOUSE_COLUMNS: [WarehouseColumn; 11] = [
    column("invoice_no", "VARCHAR(16)", false),
    column("stock_code", "VARCHAR(32)", false),
    column("description", "VARCHAR(256)", true),
    column("quantity", "INTEGER", false),
    column("invoice_date", "TIMESTAMP", false),
    column("unit_price", "DECIMAL(12,3)", false),
    column("customer_id", "VARCHAR(16)", true),
    column("country", "VARCHAR(64)", false),
    column("is_cancellation", "BOOLEAN", false),
    column("line_total", "DECIMAL(18,3)", false),
    column("line_id", "VARCHAR(18)", false),
];

// The sizes above are the validation limits; keep them in one place.
const _: () = {
    assert!(limits::INVOICE_NO_BYTES == 16);
    assert!(limits::STOCK_CODE_BYTES == 32);
    assert!(limits::DESCRIPTION_BYTES == 256);
    assert!(limits::CUSTOMER_ID_BYTES == 16);
    assert!(limits::COUNTRY_BYTES == 64);
    assert!(limits::LINE_ID_BYTES == 18);
};

/// One `transactions` row. Borrows from the [`Transaction`] it describes;
/// serialising it writes the JSON Firehose delivers to Redshift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarehouseRow<'a> {
    #[serde(borrow)]
    pub invoice_no: Cow<'a, str>,
    #[serde(borrow)]
    pub stock_code: Cow<'a, str>,
    #[serde(borrow)]
    pub description: Option<Cow<'a, str>>,
    pub quantity: i32,
    pub invoice_date: WarehouseTimestamp,
    #[serde(serialize_with = "quoted_money")]
    pub unit_price: Money,
    #[serde(borrow)]
    pub customer_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub country: Cow<'a, str>,
    pub is_cancellation: bool,
    #[serde(serialize_with = "quoted_money")]
    pub line_total: Money,
    #[serde(borrow)]
    pub line_id: Cow<'a, str>,
}

impl<'a> WarehouseRow<'a> {
    pub fn new(transaction: &'a Transaction, line_id: &'a LineId) -> Self {
        WarehouseRow {
            invoice_no: Cow::Borrowed(&transaction.invoice_no),
            stock_code: Cow::Borrowed(&transaction.stock_code),
            description: transaction.description.as_deref().map(Cow::Borrowed),
            quantity: transaction.quantity,
            invoice_date: WarehouseTimestamp(transaction.invoice_date),
            unit_price: transaction.unit_price,
            customer_id: transaction.customer_id.as_deref().map(Cow::Borrowed),
            country: Cow::Borrowed(&transaction.country),
            is_cancellation: transaction.is_cancellation(),
            line_total: transaction.line_total(),
            line_id: Cow::Borrowed(line_id.as_str()),
        }
    }

    /// Appends the row as one JSON object and a newline, the framing COPY
    /// expects between objects (Firehose concatenates records as given).
    ///
    /// Written by hand rather than through serde: this is the Firehose hot
    /// path, and money goes out as its exact decimal text without the
    /// allocation serde_json needs. The bytes equal the `Serialize` output
    /// (tested over the whole sample).
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"invoice_no\":");
        write_json_str(out, &self.invoice_no);
        out.extend_from_slice(b",\"stock_code\":");
        write_json_str(out, &self.stock_code);
        out.extend_from_slice(b",\"description\":");
        write_json_opt_str(out, self.description.as_deref());
        out.extend_from_slice(b",\"quantity\":");
        write_integer(out, i64::from(self.quantity));
        out.extend_from_slice(b",\"invoice_date\":\"");
        write_timestamp(out, &self.invoice_date.0);
        out.extend_from_slice(b"\",\"unit_price\":");
        write_money(out, self.unit_price);
        out.extend_from_slice(b",\"customer_id\":");
        write_json_opt_str(out, self.customer_id.as_deref());
        out.extend_from_slice(b",\"country\":");
        write_json_str(out, &self.country);
        out.extend_from_slice(if self.is_cancellation {
            b",\"is_cancellation\":true"
        } else {
            b",\"is_cancellation\":false"
        });
        out.extend_from_slice(b",\"line_total\":");
        write_money(out, self.line_total);
        out.extend_from_slice(b",\"line_id\":");
        write_json_str(out, &self.line_id);
        out.extend_from_slice(b"}\n");
    }

    /// The row as a JSON object followed by a newline.
    pub fn to_json_line(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write_json_line(&mut out);
        out
    }
}

/// An invoice timestamp written as `YYYY-MM-DD HH:MM:SS`, the format
/// Redshift's COPY reads into `TIMESTAMP` by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarehouseTimestamp(pub NaiveDateTime);

impl fmt::Display for WarehouseTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_invoice_date(f, &self.0)
    }
}

impl Serialize for WarehouseTimestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WarehouseTimestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<str>::deserialize(deserializer)?;
        parse_invoice_date(&text)
            .map(WarehouseTimestamp)
            .map_err(|reason| serde::de::Error::custom(format!("invoice_date {text:?} {reason}")))
    }
}

/// Money as a quoted decimal, `"2.55"`. Redshift's COPY may lose the last
/// digits of a bare JSON number loaded into a `DECIMAL` column; its docs
/// recommend quoting the number, which COPY then reads as decimal text
/// (<https://docs.aws.amazon.com/redshift/latest/dg/copy-usage_notes-copy-from-json.html>,
/// "Loading numbers from JSON format data"). The lake's readers (Glue,
/// Athena) take the same quoted decimal.
fn write_money(out: &mut Vec<u8>, money: Money) {
    out.push(b'"');
    out.extend_from_slice(money.format_into(&mut [0; Money::TEXT_LEN]).as_bytes());
    out.push(b'"');
}

fn quoted_money<S: Serializer>(money: &Money, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(money)
}

/// A JSON string; text needing no escape (almost all of it) is copied.
fn write_json_str(out: &mut Vec<u8>, text: &str) {
    if json_plain::plain_len(text.as_bytes()) == text.len() {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, text).expect("writing a string to a Vec cannot fail");
    }
}

fn write_json_opt_str(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => write_json_str(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

fn write_integer(out: &mut Vec<u8>, value: i64) {
    let mut buf = [0u8; 20];
    let mut end = buf.len();
    let mut magnitude = value.unsigned_abs();
    loop {
        end -= 1;
        buf[end] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if value < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[end..]);
}

fn write_timestamp(out: &mut Vec<u8>, at: &NaiveDateTime) {
    match timestamp_bytes(at) {
        Some(bytes) => out.extend_from_slice(&bytes),
        None => out.extend_from_slice(format_invoice_date(at).as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_json_escapes_like_serde() {
        for text in [
            "plain",
            "RECORD FRAME 7\" SINGLE",
            "back\\slash",
            "tab\there",
            "£40.00",
            "",
        ] {
            let mut out = Vec::new();
            write_json_str(&mut out, text);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(text).unwrap()
            );
        }
    }

    #[test]
    fn money_reaches_the_warehouse_as_quoted_decimal_text() {
        let transaction = crate::Transaction::from_json(
            r#"{"InvoiceNo":"536365","StockCode":"85123A","Quantity":3,"InvoiceDate":"2010-12-01 08:26:00","UnitPrice":"38970.005","Country":"United Kingdom"}"#,
        )
        .unwrap();
        let line_id = crate::SourcePosition::Client {
            idempotency_key: "k",
        }
        .line_id();
        let line =
            String::from_utf8(WarehouseRow::new(&transaction, &line_id).to_json_line()).unwrap();
        assert!(line.contains(r#""unit_price":"38970.005""#), "{line}");
        assert!(line.contains(r#""line_total":"116910.015""#), "{line}");
    }

    #[test]
    fn hand_written_integers_match_display() {
        for value in [0, 6, -22, 80995, i64::from(i32::MIN), i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            write_integer(&mut out, value);
            assert_eq!(String::from_utf8(out).unwrap(), value.to_string());
        }
    }
}
