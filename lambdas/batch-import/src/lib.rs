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
//! allows: ListBucket on `incoming/` and `processed/`, GetObject in
//! `incoming/` and `processed/`, PutObject in `staging/`, `rejected/`,
//! `processed/`, DeleteObject in `incoming/` and `staging/`,
//! BatchWriteItem (puts and deletes), BatchExecuteStatement and
//! DescribeStatement.

pub mod config;
pub mod merge;
pub mod plan;
pub mod warehouse;

use std::time::Duration;

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::{AggregatedBytes, ByteStream};
use dynamodb_writer::RetryPolicy;
use lambda_runtime::tracing;
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

/// The AWS clients the import uses.
#[derive(Debug, Clone)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub redshift_data: aws_sdk_redshiftdata::Client,
}

/// Retries, waits and the time left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub retry: RetryPolicy,
    pub poll: PollPolicy,
    /// When the invocation must have returned (the Lambda deadline less a
    /// margin). Files not started when too little time is left are
    /// deferred to the next run; `None`: no limit.
    pub deadline: Option<Instant>,
    /// A file is started only with at least this much time left.
    pub time_per_file: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            retry: RetryPolicy::default(),
            poll: PollPolicy::default(),
            deadline: None,
            time_per_file: Duration::from_secs(60),
        }
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
    /// Not started: too little time left. The next run imports it.
    Deferred,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The result of a run: one line per file, in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub files: Vec<FileSummary>,
}

impl ImportReport {
    /// The report when every file was imported or deferred; otherwise an
    /// error naming the failed files (so the invocation counts as failed
    /// and alarms on the function's errors fire).
    pub fn check(self) -> Result<Self, ImportError> {
        let failed: Vec<String> = self
            .files
            .iter()
            .filter(|f| f.status == FileStatus::Failed)
            .map(|f| format!("{}: {}", f.file, f.error.as_deref().unwrap_or("")))
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
    #[error("{count} file(s) left in {INCOMING} for the next run: {files}")]
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
    #[error("not a transactions CSV: {0}")]
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
    #[error("loading into Redshift: {0}")]
    Warehouse(#[from] WarehouseError),
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
    let keys = list_incoming(&clients.s3, &config.bucket).await?;
    let mut report = ImportReport::default();
    for key in keys {
        let name = key[INCOMING.len()..].to_owned();
        let enough_time = options
            .deadline
            .is_none_or(|deadline| Instant::now() + options.time_per_file <= deadline);
        if !enough_time {
            tracing::warn!(
                file = name,
                "too little time left; deferring to the next run"
            );
            report.files.push(FileSummary {
                file: name,
                rows: 0,
                stored: 0,
                rejected: 0,
                removed: 0,
                status: FileStatus::Deferred,
                error: None,
            });
            continue;
        }
        let mut summary = FileSummary {
            file: name.clone(),
            rows: 0,
            stored: 0,
            rejected: 0,
            removed: 0,
            status: FileStatus::Imported,
            error: None,
        };
        if let Err(error) = import_file(clients, config, options, &name, &mut summary).await {
            let message = chain(&error);
            tracing::error!(file = name, error = message, "file left in incoming/");
            summary.status = FileStatus::Failed;
            summary.error = Some(message);
        } else {
            tracing::info!(
                file = name,
                rows = summary.rows,
                stored = summary.stored,
                rejected = summary.rejected,
                removed = summary.removed,
                "file imported"
            );
        }
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

/// The `.csv` keys under `incoming/`, in key order.
async fn list_incoming(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Vec<String>, ImportError> {
    let mut keys = Vec::new();
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
                keys.push(key.to_owned());
            } else if !name.is_empty() && !name.ends_with('/') {
                tracing::warn!(key, "not a .csv file; left in incoming/");
            }
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    keys.sort();
    Ok(keys)
}

async fn import_file(
    clients: &Clients,
    config: &Config,
    options: &Options,
    name: &str,
    summary: &mut FileSummary,
) -> Result<(), FileError> {
    let s3 = &clients.s3;
    let bucket = &config.bucket;
    let source_key = format!("{INCOMING}{name}");
    let staged_key = format!("{STAGING}{name}.jsonl");
    let stale_key = format!("{STAGING}{name}.stale.jsonl");
    if !warehouse::is_sql_literal_safe(&staged_key) {
        return Err(FileError::UnsafeName);
    }
    let s3_error = |action: &'static str, key: &str| {
        let key = key.to_owned();
        move |error: &dyn std::error::Error| FileError::S3 {
            action,
            bucket: bucket.clone(),
            key,
            detail: chain(error),
        }
    };

    let bytes = read(s3, bucket, &source_key).await?.into_bytes();
    let plan = plan_file(name, &bytes, &config.tables)?;
    // The earlier version's dates too: its rows may lie outside this
    // version's range and still match a staged or stale line_id.
    let (stale, earlier_dates) = match read_earlier(s3, bucket, name).await? {
        Some((key, earlier)) => {
            let earlier =
                plan_file(name, &earlier.into_bytes(), &config.tables).map_err(|error| {
                    FileError::EarlierNotCsv {
                        bucket: bucket.clone(),
                        key,
                        error,
                    }
                })?;
            (plan::stale(&earlier, &plan, &config.tables), earlier.dates)
        }
        None => (Stale::default(), None),
    };
    summary.rows = plan.rows;
    summary.stored = plan.stored;
    summary.rejected = plan.rejected;
    summary.removed = stale.line_ids.len();

    if plan.rejected > 0 {
        let key = format!("{REJECTED}{name}");
        put(s3, bucket, &key, plan.rejected_csv, "text/csv")
            .await
            .map_err(|e| s3_error("writing rejected rows to", &key)(&e))?;
    }
    if plan.stored > 0 {
        put(s3, bucket, &staged_key, plan.staged, "application/x-ndjson")
            .await
            .map_err(|e| s3_error("staging accepted rows at", &staged_key)(&e))?;
    }
    if !stale.line_ids.is_empty() {
        let body = warehouse::stale_json_lines(&stale.line_ids);
        put(s3, bucket, &stale_key, body, "application/x-ndjson")
            .await
            .map_err(|e| s3_error("staging the rows to remove at", &stale_key)(&e))?;
    }

    // The new rows first, then the removal of the stale ones: a failure in
    // between leaves both versions' rows, never fewer than the file has, and
    // the next run (the file still in incoming/) redoes both.
    let outcome = dynamodb_writer::write_all(&clients.dynamodb, plan.puts, &options.retry).await;
    if let Some(&first) = outcome.failed_records.first() {
        return Err(FileError::DynamoDb {
            rows: outcome.failed_records.len(),
            first_line: plan.lines.get(first).copied().unwrap_or_default(),
            calls: outcome.calls,
        });
    }
    let outcome =
        dynamodb_writer::delete_all(&clients.dynamodb, stale.deletes, &options.retry).await;
    if let Some(&first_line) = outcome.failed_records.first() {
        return Err(FileError::DynamoDbDelete {
            rows: outcome.failed_records.len(),
            first_line: first_line as u64,
            file: name.to_owned(),
            calls: outcome.calls,
        });
    }
    // One batch, one transaction: the table holds either the earlier
    // version's rows or this version's, never a mix.
    let mut sqls = Vec::new();
    let dates_of_both = match (plan.dates.clone(), &earlier_dates) {
        (Some(now), Some(earlier)) => Some(now.union(earlier)),
        (now, earlier) => now.or_else(|| earlier.clone()),
    };
    if let (true, Some(dates)) = (plan.stored > 0, &dates_of_both) {
        sqls.extend(warehouse::load_statements(config, &staged_key, dates));
    }
    if let (false, Some(dates)) = (stale.line_ids.is_empty(), &earlier_dates) {
        sqls.extend(warehouse::remove_statements(config, &stale_key, dates));
    }
    if !sqls.is_empty() {
        sqls.insert(0, warehouse::lock_statement(config));
        warehouse::run_batch(
            &clients.redshift_data,
            config,
            &statement_name(name),
            sqls,
            &options.poll,
            options.deadline,
        )
        .await?;
    }

    // Replaces the earlier version in processed/: the next drop of the same
    // name is compared with this one.
    let processed_key = format!("{PROCESSED}{name}");
    s3.copy_object()
        .bucket(bucket)
        .key(&processed_key)
        .copy_source(copy_source(bucket, &source_key))
        .send()
        .await
        .map_err(|e| s3_error("moving to processed/: copying to", &processed_key)(&e))?;
    s3.delete_object()
        .bucket(bucket)
        .key(&source_key)
        .send()
        .await
        .map_err(|e| s3_error("moving to processed/: deleting", &source_key)(&e))?;
    // The import is complete; a leftover staged object is harmless (the next
    // import of the same name overwrites it), so only log.
    for (was_staged, key) in [
        (plan.stored > 0, &staged_key),
        (summary.removed > 0, &stale_key),
    ] {
        if !was_staged {
            continue;
        }
        if let Err(error) = s3.delete_object().bucket(bucket).key(key).send().await {
            tracing::warn!(
                key,
                error = %DisplayErrorContext(&error),
                "could not delete the staged object"
            );
        }
    }
    Ok(())
}

/// The whole object at `key` (a day file is a few hundred kilobytes).
async fn read(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<AggregatedBytes, FileError> {
    let error = |action: &'static str, error: &dyn std::error::Error| FileError::S3 {
        action,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        detail: chain(error),
    };
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| error("reading", &e))?;
    object
        .body
        .collect()
        .await
        .map_err(|e| error("reading the body of", &e))
}

/// The earlier import of `name`, kept at `processed/{name}`: its key and
/// content, or `None` for a first import.
///
/// Looked up by listing that one key (one `ListObjectsV2`, the whole cost
/// of a first import): a `GetObject` of a missing key answers 403, not
/// 404, to a role that may not list the whole bucket, so it cannot tell
/// "absent" from "forbidden".
async fn read_earlier(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    name: &str,
) -> Result<Option<(String, AggregatedBytes)>, FileError> {
    let key = format!("{PROCESSED}{name}");
    // The key itself sorts first among the keys it prefixes.
    let page = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&key)
        .max_keys(1)
        .send()
        .await
        .map_err(|e| FileError::S3 {
            action: "looking for the earlier import at",
            bucket: bucket.to_owned(),
            key: key.clone(),
            detail: chain(&e),
        })?;
    if page.contents().first().and_then(|o| o.key()) != Some(key.as_str()) {
        return Ok(None);
    }
    let bytes = read(s3, bucket, &key).await?;
    Ok(Some((key, bytes)))
}

async fn put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
) -> Result<(), aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::put_object::PutObjectError>> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body))
        .send()
        .await
        .map(|_| ())
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
