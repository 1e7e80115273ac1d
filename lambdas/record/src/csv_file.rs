//! Reading a whole CSV file of transactions, row by row, with line numbers,
//! so an importer can count stored and rejected rows and say why.
//!
//! Columns are found by header name (original `InvoiceNo`, ... or
//! normalised `invoice_no`, ..., case-insensitive, any order, a UTF-8 BOM
//! tolerated). A bad row is an `Err` inside [`CsvRow`] and reading goes on;
//! only I/O failures end the file.

use std::io::Read;

use thiserror::Error;

use crate::error::{Field, Reason, RecordError};
use crate::transaction::{RawFields, Transaction};

/// A file that cannot be read as a transactions CSV at all.
#[derive(Debug, Error)]
pub enum CsvError {
    #[error("the file is empty: expected a header line {expected}")]
    Empty { expected: &'static str },
    #[error("the header lacks column(s) {missing:?}; found {found:?}; expected {expected}")]
    MissingColumns {
        missing: Vec<&'static str>,
        found: Vec<String>,
        expected: &'static str,
    },
    /// The csv error is in the message, not a `source`: it is the whole
    /// explanation, said once however the chain is printed.
    #[error("reading CSV near line {line}: {error}")]
    Read { line: u64, error: csv::Error },
}

/// The header the retailer's files carry.
pub const CSV_HEADER: &str =
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country";

/// One data row: its 1-based line number in the file (the line the row
/// starts on) and the transaction or why it was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRow {
    pub line: u64,
    pub result: Result<Transaction, RecordError>,
}

/// Iterator over the rows of a transactions CSV.
#[derive(Debug)]
pub struct CsvTransactions<R> {
    reader: csv::Reader<R>,
    /// Index in the record of each [`Field`], in [`Field::ALL`] order.
    columns: [usize; 8],
    record: csv::ByteRecord,
    headers: csv::ByteRecord,
    failed: bool,
}

impl<R: Read> CsvTransactions<R> {
    /// Reads and checks the header line.
    pub fn new(input: R) -> Result<Self, CsvError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            // Rows with a wrong column count are reported per row, not fatal.
            .flexible(true)
            .from_reader(input);
        let headers = reader
            .byte_headers()
            .map_err(|error| CsvError::Read { line: 1, error })?
            .clone();
        if headers.is_empty() {
            return Err(CsvError::Empty {
                expected: CSV_HEADER,
            });
        }
        let found: Vec<String> = headers
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let name = String::from_utf8_lossy(name);
                let name = if i == 0 {
                    name.trim_start_matches('\u{feff}')
                } else {
                    &name
                };
                name.trim().to_owned()
            })
            .collect();
        let mut columns = [0; 8];
        let mut missing = Vec::new();
        for (slot, field) in columns.iter_mut().zip(Field::ALL) {
            match found.iter().position(|name| {
                name.eq_ignore_ascii_case(field.header())
                    || name.eq_ignore_ascii_case(field.normalised())
            }) {
                Some(index) => *slot = index,
                None => missing.push(field.header()),
            }
        }
        if !missing.is_empty() {
            return Err(CsvError::MissingColumns {
                missing,
                found,
                expected: CSV_HEADER,
            });
        }
        Ok(CsvTransactions {
            reader,
            columns,
            record: csv::ByteRecord::new(),
            headers,
            failed: false,
        })
    }

    /// The header line's fields, as read.
    pub fn headers(&self) -> &csv::ByteRecord {
        &self.headers
    }

    /// The fields of the row [`Iterator::next`] returned last, as read: what
    /// an importer writes back beside a rejected row's reason, without
    /// reading the file a second time.
    pub fn raw_row(&self) -> &csv::ByteRecord {
        &self.record
    }

    fn parse_record(&self) -> Result<Transaction, RecordError> {
        if self.record.len() != self.headers.len() {
            return Err(RecordError::ColumnCount {
                found: self.record.len(),
            });
        }
        let mut texts = [""; 8];
        for ((text, &column), field) in texts.iter_mut().zip(&self.columns).zip(Field::ALL) {
            let bytes = &self.record[column];
            *text = std::str::from_utf8(bytes).map_err(|_| {
                RecordError::invalid(field, &String::from_utf8_lossy(bytes), Reason::NotUtf8)
            })?;
        }
        let [
            invoice_no,
            stock_code,
            description,
            quantity,
            invoice_date,
            unit_price,
            customer_id,
            country,
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
}

impl<R: Read> Iterator for CsvTransactions<R> {
    type Item = Result<CsvRow, CsvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => {
                let line = self.record.position().map_or(0, |p| p.line());
                Some(Ok(CsvRow {
                    line,
                    result: self.parse_record(),
                }))
            }
            Err(error) => {
                self.failed = true;
                let line = error.position().map_or(0, |p| p.line());
                Some(Err(CsvError::Read { line, error }))
            }
        }
    }
}
