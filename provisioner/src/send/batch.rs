//! From the retailer's CSV files to request bodies: every row read with its
//! file, line and original fields, validated by `record` (both date
//! formats), and the valid ones grouped into batches the ingest API takes.

use std::path::Path;
use std::sync::Arc;

use record::{CsvError, CsvTransactions, Field, KeyedTransaction, RecordError};

/// The ingest API's limits per request (lambdas/ingest/src/request.rs):
/// at most 500 items (one Kinesis `PutRecords` call) in a body under 5 MiB.
pub const MAX_ITEMS: usize = 500;
pub const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;

/// Where a row came from and what it said, for the rejected file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub file: Arc<str>,
    /// 1-based line the row starts on.
    pub line: u64,
    /// The row's fields in the order of `record::CSV_HEADER` (whatever
    /// the order in its file), byte for byte as written: a byte that is
    /// not UTF-8 goes back to the rejected file as it came.
    pub fields: [Vec<u8>; 8],
    /// Fields past the header's count, kept so that the rejected file
    /// holds the row whole (and it stays rejected for its column count
    /// until fixed).
    pub extra: Vec<Vec<u8>>,
}

/// A valid row and the JSON the API receives for it, with the row's
/// idempotency key ([`idempotency_key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub row: Row,
    pub json: String,
}

/// The idempotency key of a row: its file's name and its line,
/// `2010-12-01.csv:2`. The ingest API derives the line's id from it, so a
/// batch resent after a timeout, or a whole file sent twice, stores every
/// row once, while identical rows on different lines (the retailer's data
/// has them) stay two lines. The name without its folder, so the same file
/// sent from another checkout is the same rows.
pub fn idempotency_key(path: &Path, line: u64) -> String {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    format!("{name}:{line}")
}

/// A file's rows: the valid ones to send, the invalid ones with why.
#[derive(Debug, Default)]
pub struct Rows {
    pub valid: Vec<Item>,
    pub invalid: Vec<(Row, RecordError)>,
}

/// A file that cannot be read as the retailer's CSV at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("reading {file}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file} is not a transactions CSV")]
    NotTransactions {
        file: String,
        #[source]
        source: CsvError,
    },
}

/// Reads and validates every row of `path`. The whole file is read first,
/// so a file that is unreadable half-way fails before anything is sent.
pub fn read_file(path: &Path) -> Result<Rows, ReadError> {
    let file: Arc<str> = path.display().to_string().into();
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        file: file.to_string(),
        source,
    })?;
    let not_transactions = |source| ReadError::NotTransactions {
        file: file.to_string(),
        source,
    };
    let parsed = CsvTransactions::new(bytes.as_slice()).map_err(not_transactions)?;
    // A second reader with the same settings yields the same records, in
    // step with `parsed`: the original text of each row, which `record`
    // does not keep.
    let mut raw = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes.as_slice());
    let (columns, origin, header_len) = match raw.byte_headers() {
        Ok(headers) => (columns(headers), origin_columns(headers), headers.len()),
        Err(error) => return Err(not_transactions(CsvError::Read { line: 1, error })),
    };
    let mut rows = Rows::default();
    for (parsed, raw) in parsed.zip(raw.byte_records()) {
        let parsed = parsed.map_err(not_transactions)?;
        let raw = raw.map_err(|error| {
            let line = error.position().map_or(0, |p| p.line());
            not_transactions(CsvError::Read { line, error })
        })?;
        let row = Row {
            file: file.clone(),
            line: parsed.line,
            fields: columns.map(|column| {
                column
                    .and_then(|c| raw.get(c))
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default()
            }),
            extra: raw.iter().skip(header_len).map(<[u8]>::to_vec).collect(),
        };
        // A row of a rejected file keeps the key of where it was first
        // read: resending a row that failed ambiguously (it may have been
        // stored) must not store it twice.
        let key = origin
            .and_then(|(file, line)| {
                let file = String::from_utf8_lossy(raw.get(file)?).into_owned();
                let line: u64 = std::str::from_utf8(raw.get(line)?)
                    .ok()?
                    .trim()
                    .parse()
                    .ok()?;
                (!file.is_empty()).then(|| idempotency_key(Path::new(&file), line))
            })
            .unwrap_or_else(|| idempotency_key(path, row.line));
        match parsed.result {
            Ok(transaction) => {
                let keyed = KeyedTransaction {
                    transaction,
                    idempotency_key: Some(key),
                };
                rows.valid.push(Item {
                    row,
                    json: keyed.to_json(),
                })
            }
            Err(error) => rows.invalid.push((row, error)),
        }
    }
    Ok(rows)
}

/// The column of each field, in `Field::ALL` order, found by header name
/// as `record` finds them (original or normalised name, any case, BOM).
fn columns(headers: &csv::ByteRecord) -> [Option<usize>; 8] {
    let names: Vec<String> = headers
        .iter()
        .map(|name| {
            String::from_utf8_lossy(name)
                .trim_start_matches('\u{feff}')
                .trim()
                .to_owned()
        })
        .collect();
    Field::ALL.map(|field| {
        names.iter().position(|name| {
            name.eq_ignore_ascii_case(field.header())
                || name.eq_ignore_ascii_case(field.normalised())
        })
    })
}

/// The `file` and `line` columns of a rejected file (`report.rs` writes
/// them before the transaction's columns), when the file has both.
fn origin_columns(headers: &csv::ByteRecord) -> Option<(usize, usize)> {
    let position = |wanted: &str| {
        headers.iter().position(|name| {
            String::from_utf8_lossy(name)
                .trim()
                .eq_ignore_ascii_case(wanted)
        })
    };
    Some((position("file")?, position("line")?))
}

/// Groups items, in order, into batches of at most `max_items` whose JSON
/// array body stays within `max_bytes`.
pub fn batches(items: Vec<Item>, max_items: usize, max_bytes: usize) -> Vec<Vec<Item>> {
    let mut batches = Vec::new();
    let mut current: Vec<Item> = Vec::new();
    // `[` and `]`, then one comma between items.
    let mut bytes = 2;
    for item in items {
        let added = item.json.len() + usize::from(!current.is_empty());
        if !current.is_empty() && (current.len() == max_items || bytes + added > max_bytes) {
            batches.push(std::mem::take(&mut current));
            bytes = 2;
        }
        bytes += item.json.len() + usize::from(!current.is_empty());
        current.push(item);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// The request body: the items' JSON as one array.
pub fn body(items: &[Item]) -> String {
    let mut body = String::with_capacity(2 + items.iter().map(|i| i.json.len() + 1).sum::<usize>());
    body.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&item.json);
    }
    body.push(']');
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(json: &str) -> Item {
        Item {
            row: Row {
                file: "f.csv".into(),
                line: 2,
                fields: Default::default(),
                extra: Vec::new(),
            },
            json: json.to_owned(),
        }
    }

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn rows_keep_their_line_and_fields_in_header_order_whatever_the_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "day.csv",
            "Country,InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID\n\
             United Kingdom,536365,85123A,\"WHITE, HEART\",6,12/1/2010 8:26,2.55,17850.0\n\
             France,536366,22633,HAND WARMER,6,2010-12-01 08:28:00,abc,\n",
        );
        let rows = read_file(&path).unwrap();
        assert_eq!(rows.valid.len(), 1, "{:?}", rows.invalid);
        let valid = &rows.valid[0];
        assert_eq!(valid.row.line, 2);
        assert_eq!(
            valid.row.fields,
            [
                "536365",
                "85123A",
                "WHITE, HEART",
                "6",
                "12/1/2010 8:26",
                "2.55",
                "17850.0",
                "United Kingdom"
            ]
            .map(|f| f.as_bytes().to_vec())
        );
        assert!(
            valid
                .json
                .contains(r#""invoice_date":"2010-12-01 08:26:00""#)
        );
        assert!(valid.json.contains(r#""customer_id":"17850""#));
        assert!(valid.json.ends_with(r#","idempotency_key":"day.csv:2"}"#));
        let (row, error) = &rows.invalid[0];
        assert_eq!((row.line, row.fields[5].as_slice()), (3, b"abc".as_slice()));
        assert_eq!(error.field(), Some(Field::UnitPrice));
    }

    #[test]
    fn a_file_sent_twice_gives_the_same_keys_and_identical_rows_different_ones() {
        let dir = tempfile::tempdir().unwrap();
        let row = "536365,85123A,WHITE HEART,6,12/1/2010 8:26,2.55,17850.0,United Kingdom\n";
        let text = format!("{}\n{row}{row}", record::CSV_HEADER);
        let first = read_file(&write(dir.path(), "2010-12-01.csv", &text)).unwrap();
        let copy = dir.path().join("copy");
        std::fs::create_dir(&copy).unwrap();
        let again = read_file(&write(&copy, "2010-12-01.csv", &text)).unwrap();

        let keys = |rows: &Rows| -> Vec<Option<String>> {
            rows.valid
                .iter()
                .map(|item| {
                    KeyedTransaction::from_json(&item.json)
                        .unwrap()
                        .idempotency_key
                })
                .collect()
        };
        assert_eq!(
            keys(&first),
            [
                Some("2010-12-01.csv:2".to_owned()),
                Some("2010-12-01.csv:3".to_owned())
            ]
        );
        assert_eq!(
            keys(&first),
            keys(&again),
            "the same file from another folder"
        );
    }

    #[test]
    fn a_row_resent_from_the_rejected_file_keeps_the_key_of_its_first_file_and_line() {
        // A row the stream failed ambiguously may have been stored: sent
        // again from rejected.csv it must be the same line.
        let dir = tempfile::tempdir().unwrap();
        let rejected = format!(
            "file,line,{},field,reason\n\
             data/online-retail/2010-12-01.csv,17,536365,85123A,WHITE HEART,6,12/1/2010 8:26,2.55,17850.0,United Kingdom,,failed\n",
            record::CSV_HEADER.trim_end()
        );
        let rows = read_file(&write(dir.path(), "rejected.csv", &rejected)).unwrap();
        assert_eq!(rows.valid.len(), 1, "{:?}", rows.invalid);
        let key = KeyedTransaction::from_json(&rows.valid[0].json)
            .unwrap()
            .idempotency_key;
        assert_eq!(key.as_deref(), Some("2010-12-01.csv:17"));
        assert_eq!(rows.valid[0].row.line, 2, "reported where it is now");
    }

    #[test]
    fn a_file_without_the_retailers_header_is_refused_naming_the_missing_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "other.csv", "id,name\n1,x\n");
        let error = format!("{:#}", anyhow::Error::new(read_file(&path).unwrap_err()));
        assert!(
            error.contains("other.csv is not a transactions CSV: "),
            "{error}"
        );
        assert!(error.contains("InvoiceNo"), "{error}");
        assert_eq!(
            error.matches("the header lacks").count(),
            1,
            "said once: {error}"
        );
    }

    #[test]
    fn batches_hold_at_most_max_items_in_order() {
        let items: Vec<Item> = (0..7).map(|i| item(&format!("{{\"n\":{i}}}"))).collect();
        let sizes: Vec<usize> = batches(items, 3, MAX_BODY_BYTES)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [3, 3, 1]);
    }

    #[test]
    fn batches_split_before_the_body_would_pass_max_bytes() {
        // Each item is 10 bytes: "[a,b]" of two is 23 bytes.
        let items: Vec<Item> = (0..5).map(|_| item("0123456789")).collect();
        let split = batches(items, 500, 23);
        assert_eq!(split.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
        assert!(split.iter().all(|b| body(b).len() <= 23));
    }

    #[test]
    fn the_body_is_a_json_array_of_the_items() {
        assert_eq!(
            body(&[item("{\"a\":1}"), item("{\"b\":2}")]),
            "[{\"a\":1},{\"b\":2}]"
        );
    }
}
