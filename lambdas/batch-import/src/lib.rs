//! batch-import: CSV files in S3 → DynamoDB and Redshift, on a schedule.
//!
//! An EventBridge rule invokes the function (the event's content is not
//! used). It lists the `.csv` objects under `incoming/` of the bulk-import
//! bucket and imports each file on its own: rows are parsed by the `record`
//! crate; accepted rows go to the Invoices and Customers tables
//! (`BatchWriteItem` with retries, reused from `dynamodb-writer`) and, as
//! warehouse JSON lines staged under `staging/`, into Redshift through the
//! Data API ([`warehouse`]); rejected rows are written to `rejected/{file}`
//! with the field and the reason; then the source is moved to
//! `processed/{file}` (copy + delete) and the staged objects removed.
//!
//! Memory does not grow with the file: it is streamed from S3 in chunks of
//! rows, twice (DynamoDB first, then staging and the load, [`file`]), and
//! its outputs are written as multipart uploads ([`upload`]). A file larger
//! than one invocation can write is resumed by the next run from its
//! checkpoint ([`checkpoint`]); one that fails three runs in a row is moved
//! to `quarantine/` with its reason ([`quarantine`]), so the files after it
//! are not held up.
//!
//! A corrected file dropped again under the same name replaces its earlier
//! import, whole: the stores hold the file as dropped now. The earlier
//! version is the one kept at `processed/{file}`; the rows it had that the
//! new one has not (fewer lines, a line now rejected) are deleted from
//! Redshift in the load's transaction, and their items, with those of lines
//! whose InvoiceNo or CustomerID changed (another key), from both tables
//! after the new items are written ([`plan::stale`]). A first import pays
//! one `ListObjectsV2` to learn there is no earlier version.
//!
//! Each run also merges what Firehose delivered into its staging table into
//! the warehouse table, replacing by `line_id` ([`merge`]): the schedule
//! that exists already, and the Data API rights the import has.
//!
//! A warehouse in another account (`LAKE_BUCKET` set, [`config::Warehouse`])
//! is not loaded from here: that account reads only the lake's `raw/`. Each
//! import is handed to the lake instead, as a version of its own under
//! `raw/imports/{file}/{stamp}/` (`record::lake_imports`): the accepted
//! rows, every row of the version it replaces, and `done.json` last; the
//! other account's warehouse-loader applies the versions in order. There
//! is no Firehose to merge, and no Data API call.
//!
//! A file is never half-imported silently. If any step fails the file
//! stays in `incoming/`, the summary says why, and the invocation fails.
//! The next run imports it again without duplicates: DynamoDB keys and
//! Redshift `line_id`s derive from the file's name and line numbers
//! ([`plan`]), the warehouse load replaces rows by `line_id` in one
//! transaction ([`warehouse`]), and the earlier version stays in
//! `processed/` until the move, so the stale rows are found again.
//!
//! Environment ([`Config`]): `BULK_IMPORT_BUCKET`, `INVOICES_TABLE`,
//! `CUSTOMERS_TABLE`, `CLUSTER_IDENTIFIER`, `DATABASE`,
//! `WAREHOUSE_SECRET_ARN`, `COPY_ROLE_ARN`, and `WAREHOUSE_TABLE`
//! (default `public.transactions`, the table warehouse-schema creates).
//! The calls are exactly those `policies/lambda-batch-import.json.hbs`
//! allows: ListBucket on `incoming/`, `processed/` and `checkpoints/`,
//! GetObject in those three, PutObject (multipart uploads included) in
//! `staging/`, `rejected/`, `processed/`, `checkpoints/`, `quarantine/`,
//! AbortMultipartUpload in `staging/` and `rejected/`, DeleteObject in
//! `incoming/`, `staging/` and `checkpoints/`, BatchWriteItem (puts and
//! deletes), BatchExecuteStatement and DescribeStatement; with `LAKE_BUCKET`,
//! PutObject and AbortMultipartUpload in the lake's `raw/imports/` instead
//! of the Data API.

pub mod checkpoint;
pub mod config;
pub mod file;
pub mod merge;
pub mod plan;
pub mod quarantine;
pub mod source;
pub mod timeouts;
pub mod upload;
pub mod warehouse;

use std::time::Duration;

use aws_sdk_s3::error::DisplayErrorContext;
use dynamodb_writer::RetryPolicy;
use serde::Serialize;
use tokio::time::Instant;

pub use config::{Config, ConfigError, TableName};
pub use merge::{merge_firehose_deliveries, merge_statements};
pub use plan::{FilePlan, REJECTED_HEADER, Stale, plan_file};
pub use warehouse::{PollPolicy, WarehouseError};

pub const INCOMING: &str = "incoming/";
pub const STAGING: &str = "staging/";
pub const REJECTED: &str = "rejected/";
pub const PROCESSED: &str = "processed/";
pub use checkpoint::CHECKPOINTS;
pub use quarantine::QUARANTINE;

/// The AWS clients the import uses.
#[derive(Debug, Clone)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub redshift_data: aws_sdk_redshiftdata::Client,
}

/// Retries, waits, the time left and the sizes that bound memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub retry: RetryPolicy,
    pub poll: PollPolicy,
    /// When the invocation must have returned (the Lambda deadline less a
    /// margin). Files not started when too little time is left are
    /// deferred to the next run; `None`: no limit.
    pub deadline: Option<Instant>,
    /// A file's staging and load (its second pass) is started only with at
    /// least this much time left.
    pub time_per_file: Duration,
    /// A chunk of DynamoDB writes is started only with at least this much
    /// time left; otherwise the file resumes at its checkpoint next run.
    pub time_per_chunk: Duration,
    /// Rows read, planned and written together: with
    /// [`source::CHUNKS_IN_FLIGHT`], what bounds the rows in memory.
    pub chunk_rows: usize,
    /// Bytes buffered per multipart upload part (S3 wants at least
    /// [`upload::MIN_PART_BYTES`] for every part but the last).
    pub part_bytes: usize,
    /// A larger file is quarantined unread: its staging pass would not fit
    /// in one invocation.
    pub max_file_bytes: u64,
    /// Runs in a row a file may fail (or die on) before it is moved to
    /// `quarantine/`, so the files after it go on.
    pub max_failed_runs: u32,
}

impl Default for Options {
    /// Chunks of 5,000 rows (10,000 items, 400 `BatchWriteItem` calls,
    /// a few seconds); 8 MiB parts; files up to 2 GiB (about 20 times the
    /// retailer's whole data set); quarantine after the third failed run.
    fn default() -> Self {
        Options {
            retry: RetryPolicy::default(),
            poll: PollPolicy::default(),
            deadline: None,
            time_per_file: Duration::from_secs(60),
            time_per_chunk: Duration::from_secs(30),
            chunk_rows: 5_000,
            part_bytes: 8 * 1024 * 1024,
            max_file_bytes: 2 * 1024 * 1024 * 1024,
            max_failed_runs: 3,
        }
    }
}

impl Options {
    /// Whether `needed` still fits before the deadline.
    fn has_time_for(&self, needed: Duration) -> bool {
        self.deadline
            .is_none_or(|deadline| Instant::now() + needed <= deadline)
    }
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// Stored, rejected rows written, source moved to `processed/`.
    Imported,
    /// Left in `incoming/`; `error` says why. The next run retries it.
    Failed,
    /// Not started or not finished: too little time left. The next run
    /// imports it, resuming at its checkpoint.
    Deferred,
    /// Failed [`Options::max_failed_runs`] runs in a row (or is too large):
    /// moved to `quarantine/{file}`, its reason beside it in
    /// `quarantine/{file}.reason.txt`, so the files after it go on.
    Quarantined,
}

/// The summary line of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileSummary {
    /// The file's name under `incoming/` (`2010-12-01.csv`).
    pub file: String,
    /// Data rows read (the header excluded).
    pub rows: usize,
    /// Rows written to DynamoDB and Redshift.
    pub stored: usize,
    /// Rows written to `rejected/{file}` with their reasons.
    pub rejected: usize,
    /// Rows of the earlier import of the file (a version dropped before,
    /// kept in `processed/`) that this version no longer has, removed from
    /// both stores.
    pub removed: usize,
    pub status: FileStatus,
    /// A deferred file's progress: its rows up to this line are in DynamoDB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dynamodb_through_line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl FileSummary {
    fn new(file: &str, status: FileStatus) -> Self {
        FileSummary {
            file: file.to_owned(),
            rows: 0,
            stored: 0,
            rejected: 0,
            removed: 0,
            status,
            dynamodb_through_line: None,
            error: None,
        }
    }
}

/// The result of a run: one line per file, in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub files: Vec<FileSummary>,
}

impl ImportReport {
    /// The report when every file was imported or deferred; otherwise an
    /// error naming the failed and quarantined files (so the invocation
    /// counts as failed and alarms on the function's errors fire).
    pub fn check(self) -> Result<Self, ImportError> {
        let failed: Vec<String> = self
            .files
            .iter()
            .filter(|f| matches!(f.status, FileStatus::Failed | FileStatus::Quarantined))
            .map(|f| {
                let status = match f.status {
                    FileStatus::Quarantined => "moved to quarantine/",
                    _ => "left in incoming/",
                };
                format!("{} {status}: {}", f.file, f.error.as_deref().unwrap_or(""))
            })
            .collect();
        if failed.is_empty() {
            Ok(self)
        } else {
            Err(ImportError::FilesFailed {
                count: failed.len(),
                files: failed.join("; "),
                report: self,
            })
        }
    }
}

/// A run that could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("listing s3://{bucket}/{INCOMING}: {detail}")]
    List { bucket: String, detail: String },
    #[error("{count} file(s) not imported: {files}")]
    FilesFailed {
        count: usize,
        files: String,
        report: ImportReport,
    },
}

/// Why one file was not imported.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(
        "the file name contains a quote, backslash or control character, which cannot be written \
         safely in Redshift's COPY; rename the file"
    )]
    UnsafeName,
    #[error("{action} s3://{bucket}/{key}: {detail}")]
    S3 {
        action: &'static str,
        bucket: String,
        key: String,
        detail: String,
    },
    /// The cause follows in the chain (`{:#}` or [`chain`]).
    #[error("not a transactions CSV")]
    NotCsv(#[from] record::CsvError),
    #[error(
        "the earlier import of this file, s3://{bucket}/{key}, is not a transactions CSV, so the \
         rows it stored cannot be told ({error}); if the import did not write it, move it out of \
         {PROCESSED}"
    )]
    EarlierNotCsv {
        bucket: String,
        key: String,
        error: record::CsvError,
    },
    #[error(
        "{rows} accepted row(s) could not be written to DynamoDB (the first at line {first_line}) \
         after {calls} BatchWriteItem call(s)"
    )]
    DynamoDb {
        rows: usize,
        first_line: u64,
        calls: usize,
    },
    #[error(
        "the items of {rows} earlier row(s) that this version no longer has (or keys otherwise) \
         could not be deleted from DynamoDB (the first at line {first_line} of \
         {PROCESSED}{file}) after {calls} BatchWriteItem call(s)"
    )]
    DynamoDbDelete {
        rows: usize,
        first_line: u64,
        file: String,
        calls: usize,
    },
    #[error("loading into Redshift")]
    Warehouse(#[from] WarehouseError),
    #[error("{0}; the next run reads the file again")]
    Reader(String),
}

/// Imports every CSV file under `incoming/`.
///
/// `Err` only when the files cannot be listed; a file that fails is in the
/// report with [`FileStatus::Failed`] (see [`ImportReport::check`]).
pub async fn handle(
    clients: &Clients,
    config: &Config,
    options: &Options,
) -> Result<ImportReport, ImportError> {
    let files = list_incoming(&clients.s3, &config.bucket).await?;
    let mut report = ImportReport::default();
    for listed in files {
        let summary = if options.has_time_for(options.time_per_file) {
            file::import(clients, config, options, &listed).await
        } else {
            tracing::warn!(
                file = listed.name,
                "too little time left; deferring to the next run"
            );
            FileSummary::new(&listed.name, FileStatus::Deferred)
        };
        report.files.push(summary);
    }
    Ok(report)
}

/// The error and its sources, `a: b: c`, as `{:#}` prints an anyhow chain.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A file under `incoming/` as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The key without `incoming/`.
    pub name: String,
    pub size: u64,
    /// The version listed; every read of the file asks for it.
    pub etag: String,
}

/// The `.csv` files under `incoming/`, in key order.
async fn list_incoming(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Vec<Listed>, ImportError> {
    let mut files = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(INCOMING)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|error| ImportError::List {
                bucket: bucket.to_owned(),
                detail: DisplayErrorContext(&error).to_string(),
            })?;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            let Some(name) = key.strip_prefix(INCOMING) else {
                continue;
            };
            if name.to_ascii_lowercase().ends_with(".csv") {
                files.push(Listed {
                    name: name.to_owned(),
                    size: object.size().unwrap_or_default().max(0) as u64,
                    etag: object.e_tag().unwrap_or_default().to_owned(),
                });
            } else if !name.is_empty() && !name.ends_with('/') {
                tracing::warn!(key, "not a .csv file; left in incoming/");
            }
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// Whether the object `key` exists, asked by listing it (one
/// `ListObjectsV2`): without ListBucket on the whole bucket, a `GetObject`
/// of a missing key answers 403, not 404, so it cannot tell "absent" from
/// "forbidden".
async fn exists(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<bool, FileError> {
    // The key itself sorts first among the keys it prefixes.
    let page = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(key)
        .max_keys(1)
        .send()
        .await
        .map_err(|e| FileError::S3 {
            action: "looking for",
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            detail: chain(&e),
        })?;
    Ok(page.contents().first().and_then(|o| o.key()) == Some(key))
}

/// `x-amz-copy-source`: the bucket and the URL-encoded key
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html>).
pub fn copy_source(bucket: &str, key: &str) -> String {
    let mut out = format!("{bucket}/");
    for byte in key.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(char::from(byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A Data API statement name, readable in the console's query history.
fn statement_name(name: &str) -> String {
    // StatementName is at most 500 characters.
    let mut statement = format!("batch-import {name}");
    if statement.len() > 500 {
        let mut end = 500;
        while !statement.is_char_boundary(end) {
            end -= 1;
        }
        statement.truncate(end);
    }
    statement
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_encodes_the_key() {
        assert_eq!(
            copy_source("b", "incoming/Dec 2010/01+02.csv"),
            "b/incoming/Dec%202010/01%2B02.csv"
        );
    }
}
