//! Why a row is not a valid transaction: the field and the reason, typed so
//! callers can count rejections by cause and tests can match on them.

use std::fmt;

use thiserror::Error;

/// A column of the retailer's row, displayed with its original CSV header
/// name so a rejection points at the column the user sees in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    InvoiceNo,
    StockCode,
    Description,
    Quantity,
    InvoiceDate,
    UnitPrice,
    CustomerId,
    Country,
    /// The client's optional idempotency key of an API item (not a CSV
    /// column, so not in [`Field::ALL`]): the line's identity across resends.
    IdempotencyKey,
}

impl Field {
    /// The columns in the order of the retailer's CSV header.
    pub const ALL: [Field; 8] = [
        Field::InvoiceNo,
        Field::StockCode,
        Field::Description,
        Field::Quantity,
        Field::InvoiceDate,
        Field::UnitPrice,
        Field::CustomerId,
        Field::Country,
    ];

    /// The fields a transaction's JSON object may carry: the columns and
    /// the idempotency key, in the order of [`Field::ALL`] then the key.
    pub const JSON: [Field; 9] = [
        Field::InvoiceNo,
        Field::StockCode,
        Field::Description,
        Field::Quantity,
        Field::InvoiceDate,
        Field::UnitPrice,
        Field::CustomerId,
        Field::Country,
        Field::IdempotencyKey,
    ];

    /// The original CSV header name (`InvoiceNo`, `CustomerID`, ...).
    pub const fn header(self) -> &'static str {
        match self {
            Field::InvoiceNo => "InvoiceNo",
            Field::StockCode => "StockCode",
            Field::Description => "Description",
            Field::Quantity => "Quantity",
            Field::InvoiceDate => "InvoiceDate",
            Field::UnitPrice => "UnitPrice",
            Field::CustomerId => "CustomerID",
            Field::Country => "Country",
            Field::IdempotencyKey => "IdempotencyKey",
        }
    }

    /// The normalised (snake case) name used by the JSON API.
    pub const fn normalised(self) -> &'static str {
        match self {
            Field::InvoiceNo => "invoice_no",
            Field::StockCode => "stock_code",
            Field::Description => "description",
            Field::Quantity => "quantity",
            Field::InvoiceDate => "invoice_date",
            Field::UnitPrice => "unit_price",
            Field::CustomerId => "customer_id",
            Field::Country => "country",
            Field::IdempotencyKey => "idempotency_key",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.header())
    }
}

/// Why a present value was refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The bytes are not UTF-8 text.
    NotUtf8,
    /// A JSON value that is neither a string nor a number.
    NotAScalar,
    /// Longer than the warehouse column holds (bytes, as Redshift counts).
    TooLong { max_bytes: usize },
    /// Not the shape `[A-Z]?digits` of the retailer's invoice numbers.
    NotAnInvoiceNumber,
    /// Not a whole number (quantities, customer ids).
    NotAnInteger,
    /// Not a plain decimal number such as `2.55`.
    NotADecimal,
    /// More fractional digits than the exact money scale keeps.
    TooManyDecimals { max: u32 },
    /// Outside the range the warehouse column holds.
    OutOfRange,
    /// A negative unit price outside an adjustment (`A`) invoice: refunds
    /// are negative quantities on `C` invoices.
    NegativePrice,
    /// A cancellation invoice (`C` prefix) with a positive quantity.
    PositiveQuantityOnCancellation,
    /// Neither `2010-12-01 08:26:00` nor `12/1/2010 8:26`.
    UnknownDateFormat,
    /// The right shape but no such day or time (`2010-02-30`, `25:00`).
    NoSuchDateTime,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NotUtf8 => f.write_str("is not UTF-8 text"),
            Reason::NotAScalar => f.write_str("must be a JSON string or number"),
            Reason::TooLong { max_bytes } => {
                write!(f, "is longer than {max_bytes} bytes (the warehouse column size)")
            }
            Reason::NotAnInvoiceNumber => f.write_str(
                "is not an invoice number: expected digits, optionally after one capital letter \
                 (`536365`, `C536379` for a cancellation)",
            ),
            Reason::NotAnInteger => f.write_str("is not a whole number"),
            Reason::NotADecimal => {
                f.write_str("is not a decimal number: write it like `2.55`, without exponent or sign prefix `+`")
            }
            Reason::TooManyDecimals { max } => {
                write!(f, "has more than {max} decimal places; money is kept exact and never rounded")
            }
            Reason::OutOfRange => f.write_str("is out of the range the warehouse columns hold"),
            Reason::NegativePrice => f.write_str(
                "is negative: a refund is a negative Quantity on a `C` (cancellation) invoice; \
                 only an adjustment invoice (`A` prefix, such as bad debt) has a negative price",
            ),
            Reason::PositiveQuantityOnCancellation => f.write_str(
                "is positive on a cancellation invoice (`C` prefix): cancelled lines carry negative quantities",
            ),
            Reason::UnknownDateFormat => f.write_str(
                "is not a date in a known format: expected `2010-12-01 08:26:00` or `12/1/2010 8:26`",
            ),
            Reason::NoSuchDateTime => f.write_str("is not a real calendar date and time"),
        }
    }
}

/// A row that is not a valid transaction.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    /// A required field is absent or empty.
    #[error("{field} is missing or empty")]
    Missing { field: Field },
    /// A field is present but unusable.
    #[error("{field} {value:?} {reason}")]
    Invalid {
        field: Field,
        /// The offending value, cut to a readable length.
        value: String,
        reason: Reason,
    },
    /// A CSV row with the wrong number of columns.
    #[error(
        "row has {found} columns, expected 8 \
         (InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country); \
         quote descriptions that contain commas"
    )]
    ColumnCount { found: usize },
    /// A JSON body that is not a transaction object.
    #[error("not a transaction object: {message}")]
    Json { message: String },
}

impl RecordError {
    /// The field at fault, when the error is about one field.
    pub fn field(&self) -> Option<Field> {
        match self {
            RecordError::Missing { field } | RecordError::Invalid { field, .. } => Some(*field),
            RecordError::ColumnCount { .. } | RecordError::Json { .. } => None,
        }
    }

    /// A short, stable label of the cause (`UnitPrice: negative`), for counting
    /// rejections by reason in logs and import reports.
    pub fn kind(&self) -> String {
        match self {
            RecordError::Missing { field } => format!("{field}: missing"),
            RecordError::Invalid { field, reason, .. } => {
                let reason = match reason {
                    Reason::NotUtf8 => "not utf-8",
                    Reason::NotAScalar => "not a scalar",
                    Reason::TooLong { .. } => "too long",
                    Reason::NotAnInvoiceNumber => "not an invoice number",
                    Reason::NotAnInteger => "not an integer",
                    Reason::NotADecimal => "not a decimal",
                    Reason::TooManyDecimals { .. } => "too many decimals",
                    Reason::OutOfRange => "out of range",
                    Reason::NegativePrice => "negative",
                    Reason::PositiveQuantityOnCancellation => "positive on cancellation",
                    Reason::UnknownDateFormat => "unknown date format",
                    Reason::NoSuchDateTime => "no such date",
                };
                format!("{field}: {reason}")
            }
            RecordError::ColumnCount { .. } => "row: wrong column count".to_owned(),
            RecordError::Json { .. } => "row: not a transaction object".to_owned(),
        }
    }

    pub(crate) fn invalid(field: Field, value: &str, reason: Reason) -> Self {
        const SHOWN: usize = 64;
        let value = if value.len() <= SHOWN {
            value.to_owned()
        } else {
            let mut end = SHOWN;
            while !value.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}…", &value[..end])
        };
        RecordError::Invalid {
            field,
            value,
            reason,
        }
    }
}
