//! What one CSV file becomes (pure: no I/O): the DynamoDB puts, the staged
//! warehouse lines, the rejected rows with their reasons.
//!
//! Every accepted row is keyed by the [`LineId`](record::LineId) of its
//! position in the file (`SourcePosition::File` of the file's name under
//! `incoming/` and its line number), so importing the same file again
//! writes the same keys: the DynamoDB items overwrite themselves and the
//! warehouse load replaces the rows with the same `line_id`.
//!
//! A corrected file dropped again under the same name may have fewer rows,
//! or rows keyed differently (another InvoiceNo or CustomerID): [`stale`]
//! compares it with the plan of the earlier import (kept in `processed/`)
//! and names what the stores hold for the file that it no longer has.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;
use dynamodb_writer::Tables;
use dynamodb_writer::items::{PendingDelete, PendingPut, push_puts};
use record::dynamodb::{customers_table, invoices_table};

use crate::source::{ParsedRow, Rejected};
use crate::warehouse::InvoiceDates;
use record::{CsvError, LineId, SourcePosition, WarehouseRow};

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
    /// The `line_id` of each accepted row, by index.
    pub line_ids: Vec<LineId>,
    /// Items for the Invoices and Customers tables; `record` is the index
    /// of the accepted row in the file.
    pub puts: Vec<PendingPut>,
    /// The accepted rows as warehouse JSON lines ([`WarehouseRow`]), which
    /// Redshift's `COPY ... FORMAT AS JSON 'auto'` loads.
    pub staged: Vec<u8>,
    /// CSV of the rejected rows (line, field, reason, the original
    /// columns); empty when no row was rejected.
    pub rejected_csv: Vec<u8>,
    /// The first and last invoice date of the accepted rows: the bound of
    /// the warehouse's `DELETE`s.
    pub dates: Option<InvoiceDates>,
}

/// Plans the import of `rows`, a chunk of `incoming/{name}` (or the
/// whole file: plans of consecutive chunks add up to the file's).
///
/// `rejected_csv` holds the rejected rows without a header
/// ([`rejected_header`] starts the file).
pub fn plan_rows(name: &str, rows: &[ParsedRow], tables: &Tables) -> FilePlan {
    let mut plan = FilePlan::default();
    let mut rejected = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    for row in rows {
        plan.rows += 1;
        let transaction = match &row.result {
            Ok(transaction) => transaction,
            Err(refused) => {
                plan.rejected += 1;
                write_rejected(&mut rejected, row.line, refused);
                continue;
            }
        };
        let position = SourcePosition::File {
            key: name,
            line: row.line,
        };
        let line_id = position.line_id();
        let date = InvoiceDates::at(&transaction.invoice_date_text());
        plan.dates = Some(match plan.dates.take() {
            Some(dates) => dates.union(&date),
            None => date,
        });
        WarehouseRow::new(transaction, &line_id).write_json_line(&mut plan.staged);
        plan.lines.push(row.line);
        plan.line_ids.push(line_id);
        push_puts(
            &mut plan.puts,
            plan.stored,
            tables,
            transaction.dynamo_items(&position),
        );
        plan.stored += 1;
    }
    plan.rejected_csv = rejected
        .into_inner()
        .expect("flushing CSV to a Vec cannot fail");
    plan
}

/// Plans a whole file held in memory, its rejected rows after their header
/// (small files and tests; the import reads files in chunks).
///
/// Fails only when the file is not a transactions CSV at all (empty, a
/// header without the expected columns, unreadable bytes); bad rows are
/// rejected one by one.
pub fn plan_file(name: &str, bytes: &[u8], tables: &Tables) -> Result<FilePlan, CsvError> {
    let (header, rows) = crate::source::rows_of(bytes)?;
    let mut plan = plan_rows(name, &rows, tables);
    if plan.rejected > 0 {
        let mut csv = rejected_header(&header);
        csv.append(&mut plan.rejected_csv);
        plan.rejected_csv = csv;
    }
    Ok(plan)
}

/// What the stores hold from an earlier import of a file that its new
/// version does not write again.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stale {
    /// Rows of the earlier version with no accepted row at the same line
    /// now (the file is shorter, or the line is now rejected), in line
    /// order: the warehouse rows to delete.
    pub line_ids: Vec<LineId>,
    /// The items of those rows, and of rows whose InvoiceNo or CustomerID
    /// changed (the new items have another key, so a put does not replace
    /// the old ones); `record` is the row's line in the earlier version.
    pub deletes: Vec<PendingDelete>,
}

impl Stale {
    pub fn is_empty(&self) -> bool {
        self.line_ids.is_empty() && self.deletes.is_empty()
    }
}

/// What `earlier` (the plan of the file's earlier version) stored that
/// `now` does not. Rows the earlier version rejected never reached the
/// stores, so they are not in `earlier` and nothing is deleted for them.
pub fn stale(earlier: &FilePlan, now: &FilePlan, tables: &Tables) -> Stale {
    let kept_lines: BTreeSet<&LineId> = now.line_ids.iter().collect();
    let kept_items: BTreeSet<ItemKey> = now
        .puts
        .iter()
        .filter_map(|put| item_key(put, tables))
        .collect();
    let line_ids = earlier
        .line_ids
        .iter()
        .filter(|id| !kept_lines.contains(id))
        .cloned()
        .collect();
    let deletes = earlier
        .puts
        .iter()
        .filter_map(|put| {
            let (table, key) = item_key(put, tables)?;
            (!kept_items.contains(&(table, key))).then(|| PendingDelete {
                record: earlier.lines[put.record] as usize,
                table: table.to_owned(),
                key: key
                    .iter()
                    .map(|(name, value)| (name.to_string(), AttributeValue::S(value.to_string())))
                    .collect(),
            })
        })
        .collect();
    Stale { line_ids, deletes }
}

/// A table and the (hash, range) key of an item in it.
type ItemKey<'a> = (&'a str, [(&'static str, &'a str); 2]);

/// Where `put` writes: its table and its item's key.
fn item_key<'a>(put: &'a PendingPut, tables: &Tables) -> Option<ItemKey<'a>> {
    let (hash, range) = if put.table == tables.invoices {
        (invoices_table::HASH_KEY, invoices_table::RANGE_KEY)
    } else if put.table == tables.customers {
        (customers_table::HASH_KEY, customers_table::RANGE_KEY)
    } else {
        return None;
    };
    let text = |name: &'static str| Some((name, put.item.get(name)?.as_s().ok()?.as_str()));
    Some((put.table.as_str(), [text(hash)?, text(range)?]))
}

/// The first line of a `rejected/` file: [`REJECTED_HEADER`], then the
/// source's own header.
pub fn rejected_header(source_header: &[String]) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    writer
        .write_record(
            REJECTED_HEADER
                .iter()
                .copied()
                .chain(source_header.iter().map(String::as_str)),
        )
        .expect("writing CSV to a Vec cannot fail");
    writer
        .into_inner()
        .expect("flushing CSV to a Vec cannot fail")
}

/// A rejected row: its line, field and reason, then its columns as read.
fn write_rejected(writer: &mut csv::Writer<Vec<u8>>, line: u64, refused: &Rejected) {
    let field = refused.error.field().map(|f| f.header()).unwrap_or("");
    let reason = refused.error.to_string();
    let line = line.to_string();
    let out = [line.as_bytes(), field.as_bytes(), reason.as_bytes()]
        .into_iter()
        .chain(refused.fields.iter().map(Vec::as_slice));
    writer
        .write_record(out)
        .expect("writing CSV to a Vec cannot fail");
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

    /// Plans `rows` (data lines) as the file `day.csv`.
    fn plan_rows(rows: &[&str]) -> FilePlan {
        let text = format!("{}\n{}\n", record::CSV_HEADER, rows.join("\n"));
        plan_file("day.csv", text.as_bytes(), &tables()).unwrap()
    }

    fn line_id(line: u64) -> LineId {
        SourcePosition::File {
            key: "day.csv",
            line,
        }
        .line_id()
    }

    /// The deleted keys, as `table hash range`.
    fn deleted(stale: &Stale) -> Vec<String> {
        let mut keys: Vec<String> = stale
            .deletes
            .iter()
            .map(|delete| {
                let (hash, range) = if delete.table == "Invoices" {
                    ("InvoiceNo", "LineId")
                } else {
                    ("CustomerId", "PurchaseId")
                };
                let text = |name| delete.key[name].as_s().unwrap().as_str();
                format!("{} {} {}", delete.table, text(hash), text(range))
            })
            .collect();
        keys.sort();
        keys
    }

    const A: &str = "536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom";
    const B: &str = "536366,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,17850.0,United Kingdom";
    const C: &str = "536367,84879,BIRD ORNAMENT,32,2010-12-01 08:34:00,1.69,13047.0,United Kingdom";

    #[test]
    fn the_same_file_again_has_nothing_stale() {
        let plan = plan_rows(&[A, B, C]);
        assert!(stale(&plan, &plan, &tables()).is_empty());
    }

    #[test]
    fn a_line_now_rejected_is_stale_and_a_line_rejected_before_is_not() {
        let negative = |row: &str| row.replace(",1.85,", ",-1.85,");
        // Before: line 3 (B) rejected, so never stored. Now: line 3 fixed,
        // line 4 (C) rejected.
        let earlier = plan_rows(&[A, &negative(B), C]);
        let now = plan_rows(&[A, B, &C.replace(",1.69,", ",-1.69,")]);
        let stale = stale(&earlier, &now, &tables());
        assert_eq!(stale.line_ids, [line_id(4)]);
        let id = line_id(4);
        assert_eq!(
            deleted(&stale),
            [
                format!("Customers 13047 536367#{id}"),
                format!("Invoices 536367 {id}"),
            ]
        );
        assert!(stale.deletes.iter().all(|delete| delete.record == 4));
    }

    #[test]
    fn a_changed_invoice_or_customer_makes_the_old_items_stale_not_the_row() {
        let earlier = plan_rows(&[A, B]);
        // Line 2: another invoice; line 3: no customer any more.
        let now = plan_rows(&[&A.replace("536365", "536399"), &B.replace("17850.0", "")]);
        let stale = stale(&earlier, &now, &tables());
        assert!(
            stale.line_ids.is_empty(),
            "both rows are replaced by line_id"
        );
        let (two, three) = (line_id(2), line_id(3));
        assert_eq!(
            deleted(&stale),
            [
                format!("Customers 17850 536365#{two}"),
                format!("Customers 17850 536366#{three}"),
                format!("Invoices 536365 {two}"),
            ]
        );
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
