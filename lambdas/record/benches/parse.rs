//! Parse + transform throughput on the whole December 2010 sample
//! (20 files, 42,481 rows), single-threaded. Target: at least one million
//! records per second (issue 4). Criterion reports elements (rows) per
//! second for:
//! - `parse`: CSV bytes to validated [`Transaction`]s;
//! - `parse_warehouse_json`: plus the `WarehouseRow` JSON line Redshift
//!   loads (the Firehose transform's output);
//! - `parse_dynamo_items`: plus the Invoices and Customers items;
//! - `json_record_to_warehouse_json`: the stream path, a Kinesis record's
//!   JSON to the warehouse line (what firehose-transform does per record);
//! - `parse_warehouse_json_and_dynamo_items`: everything at once.
//!
//! Run on a quiet machine: `cargo bench -p record --bench parse`. On a
//! shared one, count instructions instead (`examples/bench_paths.rs`).
//!
//! Last measured (instructions per record under callgrind, repeatable;
//! records/s as CPU time of one core, `perf stat` task-clock of
//! `examples/bench_paths.rs`, best of five while other builds ran, so
//! lower than a quiet machine gives):
//!
//! | path                                    | instructions | records/s |
//! |-----------------------------------------|--------------|-----------|
//! | `parse`                                 |        4,533 |    2.19 M |
//! | `parse_warehouse_json`                  |        7,208 |    1.25 M |
//! | `parse_dynamo_items`                    |       13,525 |    0.68 M |
//! | `json_record_to_warehouse_json`         |        7,080 |    1.42 M |
//! | `parse_warehouse_json_and_dynamo_items` |       15,462 |    0.53 M |
//!
//! The stream path was 10,335 instructions per record (0.82 M/s the same
//! way) before it read JSON in one pass (`json_fields`) instead of through
//! serde's derive and `RawValue`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use record::{CsvTransactions, SourcePosition, Transaction, WarehouseRow};

mod sample;
use sample::{SEQUENCE_NUMBERS, json_records, sample_files};

fn count_rows(files: &[(String, Vec<u8>)]) -> u64 {
    files
        .iter()
        .map(|(_, bytes)| CsvTransactions::new(bytes.as_slice()).unwrap().count() as u64)
        .sum()
}

fn bench(c: &mut Criterion) {
    let files = sample_files();
    let rows = count_rows(&files);
    let mut group = c.benchmark_group("december_2010_sample");
    group.throughput(Throughput::Elements(rows));
    group.sample_size(20);

    group.bench_function("parse", |b| {
        b.iter(|| {
            let mut stored = 0u64;
            for (_, bytes) in &files {
                for row in CsvTransactions::new(bytes.as_slice()).unwrap() {
                    stored += u64::from(row.unwrap().result.is_ok());
                }
            }
            black_box(stored)
        })
    });

    group.bench_function("parse_warehouse_json", |b| {
        let mut json = Vec::with_capacity(64 * 1024 * 1024);
        b.iter(|| {
            json.clear();
            for (name, bytes) in &files {
                for row in CsvTransactions::new(bytes.as_slice()).unwrap() {
                    let row = row.unwrap();
                    let Ok(transaction) = row.result else {
                        continue;
                    };
                    let line_id = SourcePosition::File {
                        key: name,
                        line: row.line,
                    }
                    .line_id();
                    WarehouseRow::new(&transaction, &line_id).write_json_line(&mut json);
                }
            }
            black_box(json.len())
        })
    });

    group.bench_function("parse_dynamo_items", |b| {
        b.iter(|| {
            let mut items = 0usize;
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
                    let dynamo = transaction.dynamo_items(&position);
                    items += dynamo.invoice.len() + dynamo.customer.map_or(0, |c| c.len());
                }
            }
            black_box(items)
        })
    });

    // The stream path: the ingest function's JSON records, as the Firehose
    // transform and the writers receive them.
    let json_records = json_records(&files);
    group.bench_function("json_record_to_warehouse_json", |b| {
        let mut out = Vec::with_capacity(64 * 1024 * 1024);
        b.iter(|| {
            out.clear();
            for (index, json) in json_records.iter().enumerate() {
                let transaction = Transaction::from_json(json).unwrap();
                let line_id = SourcePosition::Kinesis {
                    shard_id: "shardId-000000000000",
                    sequence_number: SEQUENCE_NUMBERS[index % SEQUENCE_NUMBERS.len()],
                }
                .line_id();
                WarehouseRow::new(&transaction, &line_id).write_json_line(&mut out);
            }
            black_box(out.len())
        })
    });

    group.bench_function("parse_warehouse_json_and_dynamo_items", |b| {
        let mut json = Vec::with_capacity(64 * 1024 * 1024);
        b.iter(|| {
            json.clear();
            let mut items = 0usize;
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
                    let line_id = position.line_id();
                    WarehouseRow::new(&transaction, &line_id).write_json_line(&mut json);
                    let dynamo = transaction.dynamo_items(&position);
                    items += dynamo.invoice.len() + dynamo.customer.map_or(0, |c| c.len());
                }
            }
            black_box((json.len(), items))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
