//! The December 2010 sample of the online-retail data set
//! (`data/online-retail/` of the repository, one CSV file a day), for tests,
//! benchmarks and examples: `record = { workspace = true, features =
//! ["test-data"] }` as a dev-dependency. Behind that feature because the
//! path is the checkout's: it means nothing inside a deployed function.
//! This is the one place that knows where the sample is.

use std::path::PathBuf;

use crate::{CsvTransactions, Transaction};

/// The folder of the sample's day files, inside the repository (this crate
/// is `lambdas/record/`, two levels below the workspace root).
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/online-retail")
}

/// Every CSV day file of the sample, in name (date) order.
///
/// # Panics
/// When the folder cannot be listed.
pub fn files() -> Vec<PathBuf> {
    let dir = dir();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("listing the sample {}: {error}", dir.display()))
        .map(|entry| entry.expect("listing the sample").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "csv"))
        .collect();
    files.sort();
    files
}

/// The path of one day file of the sample (`2010-12-01.csv`).
pub fn path(file: &str) -> PathBuf {
    dir().join(file)
}

/// Every transaction of one day file, in file order.
///
/// # Panics
/// When the file cannot be read or a row is not a valid transaction (the
/// day files this is used with are clean; rows with quirks are accepted).
pub fn transactions(file: &str) -> Vec<Transaction> {
    let path = path(file);
    let file = std::fs::File::open(&path)
        .unwrap_or_else(|error| panic!("reading the sample {}: {error}", path.display()));
    CsvTransactions::new(file)
        .unwrap()
        .map(|row| row.unwrap().result.unwrap())
        .collect()
}
