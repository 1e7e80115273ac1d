//! The normalised transaction line and its validation from raw text fields.

use std::borrow::Cow;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize, Serializer};

use crate::error::{Field, Reason, RecordError};
use crate::invoice_date::{format_invoice_date, parse_invoice_date};
use crate::json_fields::{self, FieldTexts};
use crate::limits;
use crate::money::{Money, MoneyParseError};

/// One line of an invoice, validated and normalised:
/// trimmed text, `CustomerID` `17850.0` → `17850`, either date format to a
/// timestamp, exact money.
///
/// Serialises to the normalised JSON form (`invoice_no`, `stock_code`, ...);
/// see [`Transaction::from_json`] for what the API accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transaction {
    /// Always text: `536365`, or `C536379` for a cancellation.
    pub invoice_no: String,
    /// Case-sensitive (`M` and `m` both occur); includes non-product codes
    /// such as `POST`, `D`, `DOT`, `BANK CHARGES` (see [`Transaction::is_product`]).
    pub stock_code: String,
    /// `None` when the source leaves it empty (stock adjustments do).
    pub description: Option<String>,
    /// Negative on cancellations and stock adjustments.
    pub quantity: i32,
    #[serde(serialize_with = "serialize_invoice_date")]
    pub invoice_date: NaiveDateTime,
    /// Zero occurs (free samples, adjustments); negative only on an
    /// accounting adjustment ([`Transaction::is_adjustment`]).
    pub unit_price: Money,
    /// `None` for the quarter of rows sold without a known customer.
    pub customer_id: Option<String>,
    pub country: String,
}

/// The eight raw text fields of a row, as read from CSV or JSON. An empty
/// string means absent.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawFields<'a> {
    pub invoice_no: &'a str,
    pub stock_code: &'a str,
    pub description: &'a str,
    pub quantity: &'a str,
    pub invoice_date: &'a str,
    pub unit_price: &'a str,
    pub customer_id: &'a str,
    pub country: &'a str,
}

impl Transaction {
    /// Validates and normalises raw fields; the first invalid field (in
    /// column order) is reported.
    pub fn from_fields(raw: RawFields<'_>) -> Result<Transaction, RecordError> {
        let invoice_no = parse_invoice_no(raw.invoice_no)?;
        let stock_code = required_text(Field::StockCode, raw.stock_code, limits::STOCK_CODE_BYTES)?;
        let description = optional_text(
            Field::Description,
            raw.description,
            limits::DESCRIPTION_BYTES,
        )?;
        let quantity = parse_quantity(raw.quantity)?;
        let cancellation = is_cancellation_number(invoice_no);
        if cancellation && quantity > 0 {
            return Err(RecordError::invalid(
                Field::Quantity,
                trim(raw.quantity),
                Reason::PositiveQuantityOnCancellation,
            ));
        }
        let invoice_date = parse_date(raw.invoice_date)?;
        let unit_price = parse_unit_price(raw.unit_price, is_adjustment_number(invoice_no))?;
        check_line_total(unit_price, quantity, raw.unit_price)?;
        let customer_id = parse_customer_id(raw.customer_id)?;
        let country = required_text(Field::Country, raw.country, limits::COUNTRY_BYTES)?;
        Ok(Transaction {
            invoice_no: invoice_no.to_owned(),
            stock_code: stock_code.to_owned(),
            description: description.map(str::to_owned),
            quantity,
            invoice_date,
            unit_price,
            customer_id,
            country: country.to_owned(),
        })
    }

    /// A cancellation: the invoice number starts with `C`.
    pub fn is_cancellation(&self) -> bool {
        is_cancellation_number(&self.invoice_no)
    }

    /// An accounting adjustment: the invoice number starts with `A`. The
    /// retailer books bad debt this way (`A563186`, stock code `B`, "Adjust
    /// bad debt", a negative unit price). Stored like any line and flagged,
    /// as cancellations are: not a sale, but part of the net revenue (the
    /// warehouse views leave `A` invoices out of their sales columns).
    pub fn is_adjustment(&self) -> bool {
        is_adjustment_number(&self.invoice_no)
    }

    /// `quantity × unit_price`, exact. Cannot overflow: checked at parse time
    /// against the `DECIMAL(18,3)` warehouse column.
    pub fn line_total(&self) -> Money {
        self.unit_price
            .checked_mul(i64::from(self.quantity))
            .expect("line total was range-checked when the transaction was built")
    }

    /// Whether the stock code names a product (five digits and an optional
    /// letter suffix, `85123A`) rather than postage, fees, discounts or
    /// manual entries (`POST`, `D`, `M`, `DOT`, `BANK CHARGES`, `C2`,
    /// `AMAZONFEE`, `gift_0001_40`, ...).
    pub fn is_product(&self) -> bool {
        let code = self.stock_code.as_bytes();
        code.len() >= 5
            && code[..5].iter().all(u8::is_ascii_digit)
            && code[5..].iter().all(u8::is_ascii_alphabetic)
    }

    /// The invoice timestamp as `YYYY-MM-DD HH:MM:SS`.
    pub fn invoice_date_text(&self) -> String {
        format_invoice_date(&self.invoice_date)
    }
}

fn serialize_invoice_date<S: Serializer>(
    at: &NaiveDateTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_invoice_date(at))
}

/// `str::trim`, skipping its char-by-char decoding when both ends are
/// visible ASCII, as they nearly always are (this runs for every field).
fn trim(text: &str) -> &str {
    let bytes = text.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

fn is_cancellation_number(invoice_no: &str) -> bool {
    invoice_no.starts_with('C')
}

fn is_adjustment_number(invoice_no: &str) -> bool {
    invoice_no.starts_with('A')
}

fn required_text(field: Field, raw: &str, max_bytes: usize) -> Result<&str, RecordError> {
    optional_text(field, raw, max_bytes)?.ok_or(RecordError::Missing { field })
}

pub(crate) fn optional_text(
    field: Field,
    raw: &str,
    max_bytes: usize,
) -> Result<Option<&str>, RecordError> {
    let text = trim(raw);
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > max_bytes {
        return Err(RecordError::invalid(
            field,
            text,
            Reason::TooLong { max_bytes },
        ));
    }
    Ok(Some(text))
}

fn parse_invoice_no(raw: &str) -> Result<&str, RecordError> {
    let text = required_text(Field::InvoiceNo, raw, limits::INVOICE_NO_BYTES)?;
    let digits = match text.as_bytes()[0] {
        b'A'..=b'Z' => &text[1..],
        _ => text,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RecordError::invalid(
            Field::InvoiceNo,
            text,
            Reason::NotAnInvoiceNumber,
        ));
    }
    Ok(text)
}

fn parse_quantity(raw: &str) -> Result<i32, RecordError> {
    let text = trim(raw);
    if text.is_empty() {
        return Err(RecordError::Missing {
            field: Field::Quantity,
        });
    }
    let is_integer_text = {
        let digits = text.strip_prefix('-').unwrap_or(text);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    if !is_integer_text {
        return Err(RecordError::invalid(
            Field::Quantity,
            text,
            Reason::NotAnInteger,
        ));
    }
    text.parse::<i32>()
        .map_err(|_| RecordError::invalid(Field::Quantity, text, Reason::OutOfRange))
}

fn parse_date(raw: &str) -> Result<NaiveDateTime, RecordError> {
    let text = trim(raw);
    if text.is_empty() {
        return Err(RecordError::Missing {
            field: Field::InvoiceDate,
        });
    }
    parse_invoice_date(text)
        .map_err(|reason| RecordError::invalid(Field::InvoiceDate, text, reason))
}

/// A price; negative only on an adjustment invoice (bad debt written off).
fn parse_unit_price(raw: &str, adjustment: bool) -> Result<Money, RecordError> {
    let text = trim(raw);
    if text.is_empty() {
        return Err(RecordError::Missing {
            field: Field::UnitPrice,
        });
    }
    let price = Money::parse(text).map_err(|e| {
        let reason = match e {
            MoneyParseError::NotADecimal => Reason::NotADecimal,
            MoneyParseError::TooManyDecimals => Reason::TooManyDecimals { max: Money::SCALE },
            MoneyParseError::OutOfRange => Reason::OutOfRange,
        };
        RecordError::invalid(Field::UnitPrice, text, reason)
    })?;
    if price.is_negative() && !adjustment {
        return Err(RecordError::invalid(
            Field::UnitPrice,
            text,
            Reason::NegativePrice,
        ));
    }
    if price.thousandths().unsigned_abs() > limits::MAX_UNIT_PRICE.thousandths().unsigned_abs() {
        return Err(RecordError::invalid(
            Field::UnitPrice,
            text,
            Reason::OutOfRange,
        ));
    }
    Ok(price)
}

/// The line total must fit the warehouse's `DECIMAL(18,3)`; a row that
/// would not load is rejected here rather than failing the whole COPY.
fn check_line_total(price: Money, quantity: i32, raw_price: &str) -> Result<(), RecordError> {
    match price.checked_mul(i64::from(quantity)) {
        Some(total)
            if total.thousandths().unsigned_abs()
                <= Money::MAX_DECIMAL_18_3.thousandths() as u64 =>
        {
            Ok(())
        }
        _ => Err(RecordError::invalid(
            Field::UnitPrice,
            trim(raw_price),
            Reason::OutOfRange,
        )),
    }
}

/// Empty → `None`; `17850` and `17850.0` (the by-day files write floats) →
/// `Some("17850")`; anything else is an error rather than a silent
/// "no customer".
fn parse_customer_id(raw: &str) -> Result<Option<String>, RecordError> {
    let text = trim(raw);
    if text.is_empty() {
        return Ok(None);
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let is_whole_number = !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b == b'0');
    if !is_whole_number {
        return Err(RecordError::invalid(
            Field::CustomerId,
            text,
            Reason::NotAnInteger,
        ));
    }
    if whole.len() > limits::CUSTOMER_ID_BYTES {
        return Err(RecordError::invalid(
            Field::CustomerId,
            text,
            Reason::TooLong {
                max_bytes: limits::CUSTOMER_ID_BYTES,
            },
        ));
    }
    Ok(Some(whole.to_owned()))
}

/// The JSON shape the API accepts: original CSV header names or normalised
/// names, values as strings or numbers (read from their text, never `f64`).
/// Unknown fields are refused so `CustomerId` (wrong case) cannot silently
/// become "no customer".
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object of a transaction")]
struct JsonTransaction<'a> {
    #[serde(alias = "InvoiceNo", borrow)]
    invoice_no: Option<&'a serde_json::value::RawValue>,
    #[serde(alias = "StockCode", borrow)]
    stock_code: Option<&'a serde_json::value::RawValue>,
    #[serde(alias = "Description", default, borrow)]
    description: Option<&'a serde_json::value::RawValue>,
    #[serde(alias = "Quantity", borrow)]
    quantity: Option<&'a serde_json::value::RawValue>,
    #[serde(alias = "InvoiceDate", borrow)]
    invoice_date: Option<&'a serde_json::value::RawValue>,
    #[serde(alias = "UnitPrice", borrow)]
    unit_price: Option<&'a serde_json::value::RawValue>,
    #[serde(alias = "CustomerID", default, borrow)]
    customer_id: Option<&'a serde_json::value::RawValue>,
    #[serde(alias = "Country", borrow)]
    country: Option<&'a serde_json::value::RawValue>,
    #[serde(alias = "IdempotencyKey", default, borrow)]
    idempotency_key: Option<&'a serde_json::value::RawValue>,
}

/// An example transaction object, shown when a body is not an object.
pub const JSON_EXAMPLE: &str = r#"{"InvoiceNo":"536365","StockCode":"85123A","Description":"WHITE HANGING HEART T-LIGHT HOLDER","Quantity":6,"InvoiceDate":"2010-12-01 08:26:00","UnitPrice":2.55,"CustomerID":"17850","Country":"United Kingdom"}"#;

/// The field texts of any JSON the API may send, through serde: the
/// general path, whose errors name the problem and its position.
pub(crate) fn fields_via_serde(json: &str) -> Result<FieldTexts<'_>, RecordError> {
    // serde's derive also accepts an array of the fields in order; an
    // API body like `[1,2]` is a mistake, not a transaction.
    if !json.trim_start().starts_with('{') {
        return Err(RecordError::Json {
            message: format!("expected a JSON object such as {JSON_EXAMPLE}"),
        });
    }
    let parsed: JsonTransaction = serde_json::from_str(json).map_err(|e| RecordError::Json {
        message: e.to_string(),
    })?;
    let texts = [
        (Field::InvoiceNo, &parsed.invoice_no),
        (Field::StockCode, &parsed.stock_code),
        (Field::Description, &parsed.description),
        (Field::Quantity, &parsed.quantity),
        (Field::InvoiceDate, &parsed.invoice_date),
        (Field::UnitPrice, &parsed.unit_price),
        (Field::CustomerId, &parsed.customer_id),
        (Field::Country, &parsed.country),
        (Field::IdempotencyKey, &parsed.idempotency_key),
    ]
    .map(|(field, raw)| match raw {
        None => Ok(Cow::Borrowed("")),
        Some(raw) => crate::json_scalar::scalar_text(raw)
            .ok_or_else(|| RecordError::invalid(field, raw.get(), Reason::NotAScalar)),
    });
    let mut values: FieldTexts<'_> = Default::default();
    for (slot, text) in values.iter_mut().zip(texts) {
        *slot = text?;
    }
    Ok(values)
}

/// The field texts of a transaction's JSON object. The stream's records
/// take the one-pass reader; whatever it declines goes through serde, whose
/// errors say what and where.
pub(crate) fn json_texts(json: &str) -> Result<FieldTexts<'_>, RecordError> {
    match json_fields::read_flat_object(json) {
        Some(texts) => Ok(texts),
        None => fields_via_serde(json),
    }
}

impl Transaction {
    /// Parses one JSON object in either naming:
    /// `{"InvoiceNo":"536365","Quantity":6,"UnitPrice":2.55,...}` or
    /// `{"invoice_no":"536365","quantity":6,"unit_price":2.55,...}`.
    /// `null` or an absent field counts as empty. To split a JSON array into
    /// per-item results, deserialise it as `Vec<Box<RawValue>>` and call this
    /// on each `raw.get()`.
    ///
    /// An `idempotency_key` member is accepted and left out: the writers
    /// read it with [`crate::KeyedTransaction::from_json`].
    pub fn from_json(json: &str) -> Result<Transaction, RecordError> {
        Transaction::from_texts(&json_texts(json)?)
    }

    /// [`Transaction::from_fields`] of texts in [`Field::JSON`] order (the
    /// idempotency key is [`crate::KeyedTransaction`]'s to read).
    pub(crate) fn from_texts(texts: &FieldTexts<'_>) -> Result<Transaction, RecordError> {
        let [
            invoice_no,
            stock_code,
            description,
            quantity,
            invoice_date,
            unit_price,
            customer_id,
            country,
            _idempotency_key,
        ] = texts;
        Transaction::from_fields(RawFields {
            invoice_no,
            stock_code,
            description,
            quantity,
            invoice_date,
            unit_price,
            customer_id,
            country,
        })
    }

    /// The normalised JSON object (`invoice_no`, ..., money as exact numbers).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a transaction always serialises")
    }
}

impl<'de> Deserialize<'de> for Transaction {
    /// Same rules as [`Transaction::from_json`]; the error text is the
    /// [`RecordError`] message.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        Transaction::from_json(raw.get()).map_err(serde::de::Error::custom)
    }
}
