//! What one CSV file becomes (pure: no I/O): the DynamoDB puts, the staged
//! warehouse lines, the rejected rows with their reasons.
//!
//! Every accepted row is keyed by the [`LineId`](record::LineId) of its
//! position in the file (`SourcePosition::File` of the file's name under
//! `incoming/` and its line number), so importing the same file again
//! writes the same keys: the DynamoDB items overwrite themselves and the
//! warehouse load replaces the rows with the same `line_id`.

use std::collections::BTreeMap;

use dynamodb_writer::Tables;
use dynamodb_writer::items::{PendingPut, push_puts};
use record::{CsvError, CsvTransactions, RecordError, SourcePosition, WarehouseRow};

/// The header of a `rejected/` file: where, which field, why, then the
/// row's original columns, so the file can be fixed and dropped again.
pub const REJECTED_HEADER: [&str; 3] = ["Line", "Field", "Reason"];

/// One file, planned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilePlan {
    /// Data rows read (the header excluded).
    pub rows: usize,
    /// Rows that are valid transactions.
    pub stored: usize,
    /// Rows refused, each with its reason in [`FilePlan::rejected_csv`].
    pub rejected: usize,
    /// The file line of each accepted row, by index.
    pub lines: Vec<u64>,
    /// Items for the Invoices and Customers tables; `record` is the index
    /// of the accepted row in the file.
    pub puts: Vec<PendingPut>,
    /// The accepted rows as warehouse JSON lines ([`WarehouseRow`]), which
    /// Redshift's `COPY ... FORMAT AS JSON 'auto'` loads.
    pub staged: Vec<u8>,
    /// CSV of the rejected rows ([`REJECTED_HEADER`] + the original
    /// columns); empty when no row was rejected.
    pub rejected_csv: Vec<u8>,
}

/// Plans the import of `bytes`, the content of `incoming/{name}`.
///
/// Fails only when the file is not a transactions CSV at all (empty, a
/// header without the expected columns, unreadable bytes); bad rows are
/// rejected one by one.
pub fn plan_file(name: &str, bytes: &[u8], tables: &Tables) -> Result<FilePlan, CsvError> {
    let mut plan = FilePlan::default();
    let mut rejections: Vec<(u64, RecordError)> = Vec::new();
    for row in CsvTransactions::new(bytes)? {
        let row = row?;
        plan.rows += 1;
        let transaction = match row.result {
            Ok(transaction) => transaction,
            Err(error) => {
                rejections.push((row.line, error));
                continue;
            }
        };
        let position = SourcePosition::File {
            key: name,
            line: row.line,
        };
        let line_id = position.line_id();
        WarehouseRow::new(&transaction, &line_id).write_json_line(&mut plan.staged);
        plan.lines.push(row.line);
        push_puts(
            &mut plan.puts,
            plan.stored,
            tables,
            transaction.dynamo_items(&position),
        );
        plan.stored += 1;
    }
    plan.rejected = rejections.len();
    if !rejections.is_empty() {
        plan.rejected_csv = rejected_csv(bytes, &rejections);
    }
    Ok(plan)
}

/// The rejected rows with their reasons and original columns.
///
/// The original columns come from a second, plain CSV read of the same
/// bytes, matched by the line a row starts on (the record crate reports
/// the line, not the raw fields). Only files with rejections pay for it.
fn rejected_csv(bytes: &[u8], rejections: &[(u64, RecordError)]) -> Vec<u8> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let original_header: Vec<String> = reader
        .byte_headers()
        .map(|header| {
            header
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let name = String::from_utf8_lossy(name);
                    let name = if i == 0 {
                        name.trim_start_matches('\u{feff}').to_owned()
                    } else {
                        name.into_owned()
                    };
                    name.trim().to_owned()
                })
                .collect()
        })
        .unwrap_or_default();
    let wanted: BTreeMap<u64, &RecordError> = rejections.iter().map(|(l, e)| (*l, e)).collect();
    let mut originals: BTreeMap<u64, csv::ByteRecord> = BTreeMap::new();
    let mut record = csv::ByteRecord::new();
    // A read error ends the original columns only; the reasons are kept.
    while let Ok(true) = reader.read_byte_record(&mut record) {
        let line = record.position().map_or(0, |p| p.line());
        if wanted.contains_key(&line) {
            originals.insert(line, record.clone());
        }
    }
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    let header = REJECTED_HEADER
        .iter()
        .map(|name| name.to_string())
        .chain(original_header);
    writer
        .write_record(header)
        .expect("writing CSV to a Vec cannot fail");
    for (line, error) in rejections {
        let field = error.field().map(|f| f.header()).unwrap_or("");
        let mut out: Vec<Vec<u8>> = vec![
            line.to_string().into_bytes(),
            field.as_bytes().to_vec(),
            error.to_string().into_bytes(),
        ];
        if let Some(original) = originals.get(line) {
            out.extend(original.iter().map(<[u8]>::to_vec));
        }
        writer
            .write_record(&out)
            .expect("writing CSV to a Vec cannot fail");
    }
    writer
        .into_inner()
        .expect("flushing CSV to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> Tables {
        Tables {
            invoices: "Invoices".to_owned(),
            customers: "Customers".to_owned(),
        }
    }

    #[test]
    fn a_header_only_file_plans_nothing() {
        let plan = plan_file(
            "empty.csv",
            format!("{}\n", record::CSV_HEADER).as_bytes(),
            &tables(),
        )
        .unwrap();
        assert_eq!(plan, FilePlan::default());
    }

    #[test]
    fn an_empty_file_is_not_a_transactions_csv() {
        assert!(matches!(
            plan_file("nothing.csv", b"", &tables()),
            Err(CsvError::Empty { .. })
        ));
    }

    #[test]
    fn a_rejected_row_keeps_its_line_reason_and_original_columns() {
        let text = format!(
            "{}\n536365,85123A,\"HEART, WHITE\",6,2010-12-01 08:26:00,-2.55,17850.0,United Kingdom\n",
            record::CSV_HEADER
        );
        let plan = plan_file("bad.csv", text.as_bytes(), &tables()).unwrap();
        assert_eq!((plan.rows, plan.stored, plan.rejected), (1, 0, 1));
        let mut reader = csv::Reader::from_reader(plan.rejected_csv.as_slice());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(&header[..4], ["Line", "Field", "Reason", "InvoiceNo"]);
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(&row[0], "2");
        assert_eq!(&row[1], "UnitPrice");
        assert!(row[2].contains("negative"), "{}", &row[2]);
        assert_eq!(&row[5], "HEART, WHITE");
    }
}
