//! The December 2010 sample of the online-retail data set
//! (`shared/data/online-retail/`, one CSV file a day), for the functions'
//! tests: `record = { workspace = true, features = ["test-data"] }` as a
//! dev-dependency. Behind that feature because the path is the build
//! machine's: it means nothing inside a deployed function.

use std::path::PathBuf;

use crate::{CsvTransactions, Transaction};

/// The folder of the sample's day files.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/online-retail")
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
