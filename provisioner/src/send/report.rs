//! What a send run tells its user: the rejected file (every row not
//! accepted, with the reason) and the summary of counts.
//!
//! The rejected file is itself a transactions CSV (`record` finds columns
//! by name and ignores the others), so once its rows are fixed, or the API
//! is back, it can be sent again as it is.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use record::Field;

use super::batch::Row;

/// A row that was not accepted, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub row: Row,
    /// The field at fault, by its CSV header name, when there is one.
    pub field: Option<String>,
    pub reason: String,
}

/// The rejected rows' CSV, created before anything is sent (so an
/// existing file is refused up front, never overwritten) and written as
/// rows are settled (so a crash loses none already known).
#[derive(Debug)]
pub struct RejectedFile {
    path: PathBuf,
    writer: csv::Writer<BufWriter<File>>,
    rows: u64,
}

impl RejectedFile {
    /// Creates the file with its header, written at once. A file already
    /// there is refused unless it holds no row (empty, or the header
    /// alone: what a run interrupted before its first rejection leaves),
    /// which is replaced: it holds nothing to lose.
    pub fn create(path: &Path) -> io::Result<Self> {
        let header = Self::header();
        let file = match OpenOptions::new().write(true).create_new(true).open(path) {
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                let earlier = std::fs::read(path)?;
                if !earlier.is_empty() && earlier != header {
                    return Err(error);
                }
                OpenOptions::new().write(true).truncate(true).open(path)?
            }
            opened => opened?,
        };
        let mut writer = BufWriter::new(file);
        writer.write_all(&header)?;
        writer.flush()?;
        let writer = csv::WriterBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_writer(writer);
        Ok(Self {
            path: path.to_owned(),
            writer,
            rows: 0,
        })
    }

    /// The header line, as the csv writer writes it.
    fn header() -> Vec<u8> {
        let mut header = vec!["file", "line"];
        header.extend(Field::ALL.map(Field::header));
        header.extend(["field", "reason"]);
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(&header).expect("writing to memory");
        writer.into_inner().expect("writing to memory")
    }

    pub fn write(&mut self, rejection: &Rejection) -> io::Result<()> {
        let row = &rejection.row;
        let line = row.line.to_string();
        let mut record: Vec<&[u8]> = vec![row.file.as_bytes(), line.as_bytes()];
        record.extend(row.fields.iter().map(Vec::as_slice));
        record.push(rejection.field.as_deref().unwrap_or("").as_bytes());
        record.push(rejection.reason.as_bytes());
        record.extend(row.extra.iter().map(Vec::as_slice));
        self.writer.write_record(&record)?;
        // Each row on disk as soon as it is known: an interrupted run
        // leaves every rejection it settled, none cut in half.
        self.writer.flush()?;
        self.rows += 1;
        Ok(())
    }

    /// Flushes the file and returns its path, or removes it when no row was
    /// rejected (an empty file would only be in the way of the next run).
    pub fn finish(mut self) -> io::Result<Option<PathBuf>> {
        self.writer.flush()?;
        if self.rows == 0 {
            drop(self.writer);
            std::fs::remove_file(&self.path)?;
            return Ok(None);
        }
        Ok(Some(self.path))
    }
}

/// The counts of a run. Every row read ends in exactly one of `accepted`,
/// `rejected_locally`, `rejected_by_api` or `failed` (or is only
/// `valid` in a dry run).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub dry_run: bool,
    pub files: usize,
    pub rows_read: u64,
    /// Invalid rows, never sent.
    pub rejected_locally: u64,
    /// Valid rows, to send.
    pub valid: u64,
    /// Requests made, resends included, and how many were resends.
    pub requests: u64,
    pub resends: u64,
    pub accepted: u64,
    /// Rows the API rejected as invalid.
    pub rejected_by_api: u64,
    /// Rows not delivered after every attempt, or never sent because the
    /// run stopped.
    pub failed: u64,
    /// Of `failed`, the rows never sent.
    pub unsent: u64,
    #[serde(skip)]
    pub elapsed: Duration,
}

/// `send --output json`: the counts, the time and the rejected file.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryJson<'a> {
    #[serde(flatten)]
    pub summary: &'a Summary,
    pub seconds: f64,
    /// Where rows not accepted were written; `null`: none was.
    pub rejected_file: Option<&'a Path>,
}

impl Summary {
    /// Every row was accepted or written to the rejected file as invalid:
    /// nothing is left to resend once the invalid rows are fixed.
    pub fn all_delivered(&self) -> bool {
        self.failed == 0
    }

    pub fn print(&self, rejected_file: Option<&Path>, out: &mut dyn Write) -> io::Result<()> {
        let seconds = self.elapsed.as_secs_f64();
        let rate = |rows: u64| {
            if seconds > 0.0 {
                format!("{:.0} rows/s", rows as f64 / seconds)
            } else {
                "-".to_owned()
            }
        };
        writeln!(out, "files             {:>9}", self.files)?;
        writeln!(out, "rows read         {:>9}", self.rows_read)?;
        writeln!(out, "rejected locally  {:>9}", self.rejected_locally)?;
        if self.dry_run {
            writeln!(
                out,
                "valid             {:>9}  (dry run: nothing sent; {} in {seconds:.2}s)",
                self.valid,
                rate(self.rows_read)
            )?;
        } else {
            writeln!(
                out,
                "sent              {:>9}  in {} requests ({} resends)",
                self.valid - self.unsent,
                self.requests,
                self.resends
            )?;
            writeln!(out, "accepted          {:>9}", self.accepted)?;
            writeln!(out, "rejected by API   {:>9}", self.rejected_by_api)?;
            writeln!(
                out,
                "failed            {:>9}  (not delivered after retries)",
                self.failed
            )?;
            writeln!(
                out,
                "time              {seconds:>8.2}s  ({} accepted)",
                rate(self.accepted)
            )?;
        }
        if !self.dry_run {
            // Sending the same file twice is harmless; say so, since a
            // user who sees no warning will wonder.
            writeln!(
                out,
                "each row is keyed by its file's name and line (FILE:LINE): sent again, none is stored twice"
            )?;
        }
        match rejected_file {
            Some(path) => writeln!(
                out,
                "rejected rows written to {} ({} rows, with their reasons)",
                path.display(),
                self.rejected_locally + self.rejected_by_api + self.failed
            ),
            None => writeln!(out, "no rejected rows"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rejected_file_is_a_transactions_csv_with_file_line_field_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rejected.csv");
        let mut file = RejectedFile::create(&path).unwrap();
        file.write(&Rejection {
            row: Row {
                file: "day.csv".into(),
                line: 7,
                fields: [
                    "536365",
                    "85123A",
                    "RED, WHITE",
                    "6",
                    "12/1/2010 8:26",
                    "-1",
                    "",
                    "UK",
                ]
                .map(|f| f.as_bytes().to_vec()),
                extra: Vec::new(),
            },
            field: Some("UnitPrice".into()),
            reason: "UnitPrice \"-1\" is negative".into(),
        })
        .unwrap();
        assert_eq!(file.finish().unwrap(), Some(path.clone()));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "file,line,InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country,field,reason\n\
             day.csv,7,536365,85123A,\"RED, WHITE\",6,12/1/2010 8:26,-1,,UK,UnitPrice,\"UnitPrice \"\"-1\"\" is negative\"\n"
        );
        let again: Vec<_> = record::CsvTransactions::new(std::fs::File::open(&path).unwrap())
            .unwrap()
            .collect();
        assert_eq!(again.len(), 1, "record reads the rejected file back");
    }

    #[test]
    fn an_existing_rejected_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rejected.csv");
        std::fs::write(&path, "earlier run").unwrap();
        let error = RejectedFile::create(&path).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "earlier run");
    }

    #[test]
    fn no_rejected_row_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rejected.csv");
        assert_eq!(RejectedFile::create(&path).unwrap().finish().unwrap(), None);
        assert!(!path.exists());
    }
}
