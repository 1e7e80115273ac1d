//! The sample both measurements run on: `benches/parse.rs` (criterion,
//! wall clock) and `examples/bench_paths.rs` (instruction counts).

use record::CsvTransactions;

/// Kinesis-like sequence numbers (56 digits).
pub const SEQUENCE_NUMBERS: [&str; 2] = [
    "49590338271490256608559692538361571095921575989136588898",
    "49590338271490256608559692538361571095921575989136588899",
];

/// Every CSV file of the December 2010 sample, by name, in name order.
pub fn sample_files() -> Vec<(String, Vec<u8>)> {
    record::sample::files()
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).expect("reading a sample file"))
        })
        .collect()
}

/// The ingest function's JSON of every valid row, as the stream carries it.
pub fn json_records(files: &[(String, Vec<u8>)]) -> Vec<String> {
    files
        .iter()
        .flat_map(|(_, bytes)| CsvTransactions::new(bytes.as_slice()).unwrap())
        .filter_map(|row| row.unwrap().result.ok())
        .map(|transaction| transaction.to_json())
        .collect()
}
