//! The whole December 2010 sample (20 files, 42,481 rows) through parse,
//! warehouse row and DynamoDB items: every row is stored or rejected with a
//! reason, and what is stored is consistent across the three forms.

use std::collections::BTreeMap;
use std::path::PathBuf;

use record::dynamodb::{AttributeValue, attr};
use record::{
    CsvTransactions, Money, SourcePosition, Transaction, WAREHOUSE_COLUMNS, WarehouseRow,
};

const SAMPLE_ROWS: usize = 42_481;

fn sample_files() -> Vec<PathBuf> {
    record::sample::files()
}

#[derive(Debug, Default)]
struct Counts {
    rows: usize,
    stored: usize,
    rejected: BTreeMap<String, usize>,
    invoice_items: usize,
    customer_items: usize,
    without_customer: usize,
    cancellations: usize,
    non_products: usize,
    without_description: usize,
    zero_price: usize,
}

#[test]
fn every_row_of_the_sample_is_stored_or_rejected_with_a_reason() {
    let files = sample_files();
    assert_eq!(files.len(), 20, "the sample has one file per trading day");
    let mut counts = Counts::default();
    let mut line_ids = std::collections::HashSet::new();
    for path in &files {
        let key = path.file_name().unwrap().to_string_lossy().into_owned();
        let reader = CsvTransactions::new(std::fs::File::open(path).unwrap()).unwrap();
        for row in reader {
            let row = row.expect("the sample files are readable");
            counts.rows += 1;
            let transaction = match row.result {
                Ok(transaction) => transaction,
                Err(error) => {
                    assert!(!error.to_string().is_empty());
                    *counts.rejected.entry(error.kind()).or_default() += 1;
                    continue;
                }
            };
            // The stream carries the normalised JSON: it reads back unchanged.
            assert_eq!(
                Transaction::from_json(&transaction.to_json()).as_ref(),
                Ok(&transaction)
            );
            let position = SourcePosition::File {
                key: &key,
                line: row.line,
            };
            let line_id = position.line_id();
            assert!(
                line_ids.insert(line_id.clone()),
                "line ids are unique across the sample"
            );

            // Warehouse row: every column key, exact money, parses back.
            let row = WarehouseRow::new(&transaction, &line_id);
            let json_line = row.to_json_line();
            let mut serde_line = serde_json::to_vec(&row).unwrap();
            serde_line.push(b'\n');
            assert_eq!(
                json_line, serde_line,
                "the hand-written line equals serde's"
            );
            let object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&json_line).unwrap();
            // Sorted: serde_json's `preserve_order` may be on in the workspace.
            let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
            keys.sort_unstable();
            let mut columns: Vec<&str> = WAREHOUSE_COLUMNS.iter().map(|c| c.name).collect();
            columns.sort_unstable();
            assert_eq!(keys, columns);
            let back: WarehouseRow<'_> = serde_json::from_slice(&json_line).unwrap();
            assert_eq!(back, WarehouseRow::new(&transaction, &line_id));

            // DynamoDB items: the invoice item always, the customer item iff a customer.
            let items = transaction.dynamo_items(&position);
            counts.invoice_items += 1;
            assert_eq!(
                items.invoice.get(attr::LINE_ID),
                Some(&AttributeValue::S(line_id.to_string()))
            );
            assert_eq!(
                Transaction::from_invoice_item(&items.invoice).as_ref(),
                Ok(&transaction)
            );
            match (&transaction.customer_id, &items.customer) {
                (Some(customer), Some(item)) => {
                    counts.customer_items += 1;
                    assert_eq!(
                        item.get(attr::CUSTOMER_ID),
                        Some(&AttributeValue::S(customer.clone()))
                    );
                    assert_eq!(
                        item.get(attr::PURCHASE_ID),
                        Some(&AttributeValue::S(format!(
                            "{}#{}",
                            transaction.invoice_no, line_id
                        )))
                    );
                }
                (None, None) => counts.without_customer += 1,
                (customer, item) => panic!("customer {customer:?} but customer item {item:?}"),
            }

            counts.stored += 1;
            counts.cancellations += usize::from(transaction.is_cancellation());
            counts.non_products += usize::from(!transaction.is_product());
            counts.without_description += usize::from(transaction.description.is_none());
            counts.zero_price += usize::from(transaction.unit_price == Money::ZERO);
        }
    }
    let rejected: usize = counts.rejected.values().sum();
    eprintln!("{counts:#?}");
    assert_eq!(counts.rows, SAMPLE_ROWS);
    assert_eq!(counts.stored + rejected, SAMPLE_ROWS, "no row is lost");
    assert_eq!(counts.invoice_items, counts.stored);
    assert_eq!(
        counts.customer_items + counts.without_customer,
        counts.stored
    );
    // Figures of the sample counted independently (Python csv module).
    assert_eq!(counts.without_customer, 15_631);
    assert_eq!(counts.cancellations, 728);
    assert_eq!(counts.zero_price, 273);
    assert_eq!(counts.without_description, 125);
}
