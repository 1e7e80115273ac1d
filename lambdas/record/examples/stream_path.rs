//! The bench's stream path (`json_record_to_warehouse_json`) as a plain
//! binary, for instruction counts that do not depend on a busy machine:
//!
//! ```text
//! cargo build --release -p record --example stream_path
//! valgrind --tool=callgrind target/release/examples/stream_path 1
//! ```
//!
//! The argument is the number of passes over the sample's JSON records
//! (default 1); the setup (reading the CSV, writing the JSON) is counted
//! once, so compare runs with the same number of passes, or the difference
//! between two pass counts.

use std::hint::black_box;
use std::path::PathBuf;

use record::{CsvTransactions, SourcePosition, Transaction, WarehouseRow};

const SEQUENCE_NUMBERS: [&str; 2] = [
    "49590338271490256608559692538361571095921575989136588898",
    "49590338271490256608559692538361571095921575989136588899",
];

fn main() {
    let passes: usize = match std::env::args().nth(1) {
        None => 1,
        Some(arg) => arg
            .parse()
            .unwrap_or_else(|_| panic!("passes must be a whole number, got {arg:?}")),
    };
    let records = sample_json_records();
    let mut out = Vec::with_capacity(64 * 1024 * 1024);
    for _ in 0..passes {
        out.clear();
        for (index, json) in records.iter().enumerate() {
            let transaction = Transaction::from_json(json).expect("the sample's records are valid");
            let line_id = SourcePosition::Kinesis {
                shard_id: "shardId-000000000000",
                sequence_number: SEQUENCE_NUMBERS[index % SEQUENCE_NUMBERS.len()],
            }
            .line_id();
            WarehouseRow::new(&transaction, &line_id).write_json_line(&mut out);
        }
        black_box(out.len());
    }
    eprintln!("{} records × {passes} passes", records.len());
}

/// The ingest function's JSON of every valid row of the sample.
fn sample_json_records() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/online-retail");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading the sample at {}: {e}", dir.display()))
        .map(|entry| entry.expect("listing the sample").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "csv"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|path| {
            CsvTransactions::new(std::fs::File::open(path).expect("opening a sample file"))
                .expect("a sample file has the header")
        })
        .filter_map(|row| row.expect("reading the sample").result.ok())
        .map(|transaction| transaction.to_json())
        .collect()
}
