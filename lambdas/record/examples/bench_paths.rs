//! The paths of `benches/parse.rs` as a plain binary, for instruction
//! counts that do not depend on how busy the machine is (a shared machine
//! makes criterion's wall-clock numbers swing by half):
//!
//! ```text
//! CARGO_PROFILE_RELEASE_STRIP=false cargo build --release -p record --example bench_paths
//! valgrind --tool=callgrind target/release/examples/bench_paths json_record_to_warehouse_json 3
//! ```
//!
//! Arguments: the bench's name of the path and the number of passes over
//! the sample (default 1). Reading the sample is counted once, so the cost
//! of one pass is the difference between two pass counts.

use std::hint::black_box;

use record::{CsvTransactions, SourcePosition, Transaction, WarehouseRow};

#[path = "../benches/sample/mod.rs"]
mod sample;
use sample::{SEQUENCE_NUMBERS, json_records, sample_files};

const PATHS: [&str; 5] = [
    "parse",
    "parse_warehouse_json",
    "parse_dynamo_items",
    "json_record_to_warehouse_json",
    "parse_warehouse_json_and_dynamo_items",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_default();
    if !PATHS.contains(&path.as_str()) {
        eprintln!(
            "usage: bench_paths <path> [passes]; paths: {}",
            PATHS.join(", ")
        );
        std::process::exit(2);
    }
    let passes: usize = args.next().map_or(1, |arg| {
        arg.parse()
            .unwrap_or_else(|_| panic!("passes must be a whole number, got {arg:?}"))
    });
    let files = sample_files();
    let json_records = json_records(&files);
    let mut out = Vec::with_capacity(64 * 1024 * 1024);
    for _ in 0..passes {
        out.clear();
        let mut items = 0;
        if path == "json_record_to_warehouse_json" {
            for (index, json) in json_records.iter().enumerate() {
                let transaction = Transaction::from_json(json).expect("a valid record");
                let line_id = SourcePosition::Kinesis {
                    shard_id: "shardId-000000000000",
                    sequence_number: SEQUENCE_NUMBERS[index % SEQUENCE_NUMBERS.len()],
                }
                .line_id();
                WarehouseRow::new(&transaction, &line_id).write_json_line(&mut out);
            }
        } else {
            for (name, bytes) in &files {
                for row in CsvTransactions::new(bytes.as_slice()).unwrap() {
                    let row = row.unwrap();
                    let Ok(transaction) = row.result else {
                        continue;
                    };
                    let position = SourcePosition::File {
                        key: name,
                        line: row.line,
                    };
                    if path.contains("warehouse_json") {
                        WarehouseRow::new(&transaction, &position.line_id())
                            .write_json_line(&mut out);
                    }
                    if path.contains("dynamo_items") {
                        let dynamo = transaction.dynamo_items(&position);
                        items += dynamo.invoice.len() + dynamo.customer.map_or(0, |c| c.len());
                    }
                    items += 1;
                }
            }
        }
        black_box((out.len(), items));
    }
    eprintln!("{path}: {} records × {passes} passes", json_records.len());
}
