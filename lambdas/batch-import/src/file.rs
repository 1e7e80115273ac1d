//! Importing one file in two streamed passes, resumable across runs.
//!
//! 1. **DynamoDB**: the file is read chunk by chunk and each chunk's items
//!    written; the line reached is checkpointed after every chunk
//!    ([`checkpoint`]), so a file larger than one invocation can handle
//!    goes on where the previous run stopped.
//! 2. **Staging and load**: the file is read again beside its earlier
//!    version (`processed/{file}`, in step by line number: a row's keys
//!    derive from its line, so a line is compared with the same line only).
//!    Accepted rows are written to `staging/{file}.jsonl`, rejected ones to
//!    `rejected/{file}`, the `line_id`s the new version no longer has to
//!    `staging/{file}.stale.jsonl`, all as multipart uploads
//!    ([`upload`]); the stale items are deleted from DynamoDB; then one
//!    Redshift transaction loads the staged rows and removes the stale ones
//!    ([`warehouse`]), and the file moves to `processed/`. For a warehouse
//!    in another account the rows, and every row of the earlier version,
//!    go to a new version under the lake's `raw/imports/` instead, completed
//!    by its `done.json`; that account's loader applies it.
//!
//! Pass 2 needs one invocation (it is quick: no per-row calls); when it
//! cannot finish in time its uploads are aborted and the next run does it
//! again. Neither pass holds more than a few chunks of rows and one part
//! per upload, whatever the file's size.

use std::collections::VecDeque;

use crate::checkpoint::{self, Checkpoint};
use crate::config::{DataApi, Warehouse};
use crate::plan::{self, FilePlan, plan_rows, rejected_header};
use crate::quarantine::quarantine;
use crate::source::{self, ObjectRef, ParsedRow, RowStream};
use crate::upload::PartUpload;
use crate::warehouse::{self, InvoiceDates};
use crate::{
    Clients, Config, FileError, FileStatus, FileSummary, INCOMING, Listed, Options, PROCESSED,
    REJECTED, STAGING, chain, copy_source, exists, statement_name,
};
use record::lake_imports::{self, Part};

/// How a run left a file.
enum Outcome {
    Imported,
    /// Out of time; the checkpoint says where the next run goes on.
    Deferred,
}

/// Imports `listed` (or defers or quarantines it) and says what became of it.
pub(crate) async fn import(
    clients: &Clients,
    config: &Config,
    options: &Options,
    listed: &Listed,
) -> FileSummary {
    let name = listed.name.as_str();
    let mut summary = FileSummary::new(name, FileStatus::Imported);
    match attempt(clients, config, options, listed, &mut summary).await {
        Ok(status) => summary.status = status,
        Err(error) => {
            let message = chain(&error);
            tracing::error!(file = name, error = message, "file left in incoming/");
            summary.status = FileStatus::Failed;
            summary.error = Some(message);
        }
    }
    tracing::info!(
        file = name,
        status = ?summary.status,
        rows = summary.rows,
        stored = summary.stored,
        rejected = summary.rejected,
        removed = summary.removed,
        error = summary.error.as_deref().unwrap_or(""),
        "file done"
    );
    summary
}

/// Quarantines the file when it cannot succeed, otherwise imports it and
/// keeps its checkpoint: `Err` only when the checkpoint or the quarantine
/// itself cannot be written (the file stays in `incoming/`).
async fn attempt(
    clients: &Clients,
    config: &Config,
    options: &Options,
    listed: &Listed,
    summary: &mut FileSummary,
) -> Result<FileStatus, FileError> {
    let (s3, bucket, name) = (&clients.s3, &config.bucket, listed.name.as_str());
    let set_aside = |reason: String, summary: &mut FileSummary| {
        tracing::error!(file = name, reason, "moving the file to quarantine/");
        summary.error = Some(reason);
        FileStatus::Quarantined
    };
    if listed.size > options.max_file_bytes {
        let reason = format!(
            "it is {} bytes, more than the {} one run can stage and load",
            listed.size, options.max_file_bytes
        );
        quarantine(s3, bucket, name, &reason).await?;
        return Ok(set_aside(reason, summary));
    }
    let mut checkpoint = checkpoint::load(s3, bucket, name)
        .await?
        .filter(|c| c.etag == listed.etag)
        .unwrap_or_else(|| Checkpoint::new(&listed.etag));
    if checkpoint.failed_runs >= options.max_failed_runs {
        let reason = failed_runs_reason(&checkpoint);
        quarantine(s3, bucket, name, &reason).await?;
        return Ok(set_aside(reason, summary));
    }
    checkpoint.start_attempt();
    checkpoint::save(s3, bucket, name, &checkpoint).await?;

    match import_file(clients, config, options, listed, &mut checkpoint, summary).await {
        Ok(Outcome::Imported) => {
            checkpoint::remove(s3, bucket, name).await;
            Ok(FileStatus::Imported)
        }
        Ok(Outcome::Deferred) => {
            if checkpoint.failed_runs > 0 {
                checkpoint.last_error = Some(
                    "the invocation's time ran out before the file was staged and loaded"
                        .to_owned(),
                );
            }
            checkpoint::save(s3, bucket, name, &checkpoint).await?;
            summary.dynamodb_through_line = Some(checkpoint.dynamodb_through_line);
            tracing::warn!(
                file = name,
                through_line = checkpoint.dynamodb_through_line,
                "too little time left; the next run resumes the file"
            );
            Ok(FileStatus::Deferred)
        }
        Err(error) => {
            let message = chain(&error);
            checkpoint.last_error = Some(message.clone());
            if checkpoint.failed_runs >= options.max_failed_runs {
                let reason = failed_runs_reason(&checkpoint);
                quarantine(s3, bucket, name, &reason).await?;
                return Ok(set_aside(reason, summary));
            }
            checkpoint::save(s3, bucket, name, &checkpoint).await?;
            Err(error)
        }
    }
}

fn failed_runs_reason(checkpoint: &Checkpoint) -> String {
    format!(
        "its import failed {} runs in a row, the last because {}",
        checkpoint.failed_runs,
        checkpoint.last_error.as_deref().unwrap_or(checkpoint::DIED)
    )
}

async fn import_file(
    clients: &Clients,
    config: &Config,
    options: &Options,
    listed: &Listed,
    checkpoint: &mut Checkpoint,
    summary: &mut FileSummary,
) -> Result<Outcome, FileError> {
    let name = listed.name.as_str();
    let source_key = format!("{INCOMING}{name}");
    if !warehouse::is_sql_literal_safe(&format!("{STAGING}{name}.stale.jsonl")) {
        return Err(FileError::UnsafeName);
    }
    let source = ObjectRef {
        bucket: &config.bucket,
        key: &source_key,
        etag: Some(&listed.etag)
            .filter(|etag| !etag.is_empty())
            .map(|e| e.as_str()),
        max_bytes: listed.size,
    };
    if !checkpoint.dynamodb_done {
        // An earlier version that cannot be compared stops the file before
        // anything is written (pass 2 would fail on it).
        drop(Earlier::open(clients, config, options, name).await?);
        if let Outcome::Deferred = write_items(clients, config, options, source, checkpoint).await?
        {
            return Ok(Outcome::Deferred);
        }
        checkpoint.dynamodb_done = true;
        checkpoint::save(&clients.s3, &config.bucket, name, checkpoint).await?;
        // The second pass needs the rest of this invocation.
        if !options.has_time_for(options.time_per_file) {
            return Ok(Outcome::Deferred);
        }
    }
    if let Outcome::Deferred =
        stage_and_load(clients, config, options, source, name, summary).await?
    {
        return Ok(Outcome::Deferred);
    }
    move_to_processed(&clients.s3, &config.bucket, name, &source_key).await?;
    Ok(Outcome::Imported)
}

/// Pass 1: the file's items, chunk by chunk, from the checkpoint on.
async fn write_items(
    clients: &Clients,
    config: &Config,
    options: &Options,
    source: ObjectRef<'_>,
    checkpoint: &mut Checkpoint,
) -> Result<Outcome, FileError> {
    let name = &source.key[INCOMING.len()..];
    let mut rows = source::open(&clients.s3, source, options.chunk_rows).await??;
    while let Some(chunk) = rows.next_chunk().await? {
        let Some(last_line) = chunk.last().map(|row| row.line) else {
            continue;
        };
        if last_line <= checkpoint.dynamodb_through_line {
            continue; // written by an earlier run
        }
        if !options.has_time_for(options.time_per_chunk) {
            return Ok(Outcome::Deferred);
        }
        let fresh: Vec<ParsedRow> = chunk
            .into_iter()
            .filter(|row| row.line > checkpoint.dynamodb_through_line)
            .collect();
        let plan = plan_rows(name, &fresh, &config.tables);
        let outcome =
            dynamodb_writer::write_all(&clients.dynamodb, plan.puts, &options.retry).await;
        if let Some(&first) = outcome.failed_records.first() {
            return Err(FileError::DynamoDb {
                rows: outcome.failed_records.len(),
                first_line: plan.lines.get(first).copied().unwrap_or_default(),
                calls: outcome.calls,
            });
        }
        checkpoint.progressed(last_line);
        checkpoint::save(&clients.s3, &config.bucket, name, checkpoint).await?;
    }
    Ok(Outcome::Imported)
}

/// The three objects pass 2 writes.
struct Uploads<'a> {
    /// The accepted rows.
    staged: PartUpload<'a>,
    /// What the earlier version stored that must go: the `line_id`s the
    /// new version no longer has (the Data API load bounds its deletes by
    /// the earlier version's dates itself), or, for the lake, every row it
    /// had (the other account's loader deletes them by `line_id` within
    /// their own dates, then inserts the new version).
    removed: PartUpload<'a>,
    rejected: PartUpload<'a>,
}

impl Uploads<'_> {
    async fn abort(self) {
        self.staged.abort().await;
        self.removed.abort().await;
        self.rejected.abort().await;
    }
}

/// Where pass 2 writes the warehouse's lines.
enum Handoff<'a> {
    /// `staging/` of the bulk-import bucket, loaded through the Data API.
    DataApi(&'a DataApi),
    /// A new version under `raw/imports/` of the lake, stamped `stamp`.
    Lake { bucket: &'a str, stamp: String },
}

/// Pass 2: staged rows, rejected rows, removed rows and stale items, then
/// the load (or the lake version).
async fn stage_and_load(
    clients: &Clients,
    config: &Config,
    options: &Options,
    source: ObjectRef<'_>,
    name: &str,
    summary: &mut FileSummary,
) -> Result<Outcome, FileError> {
    let s3 = &clients.s3;
    let handoff = match &config.warehouse {
        Warehouse::DataApi(api) => Handoff::DataApi(api),
        Warehouse::Lake { bucket } => Handoff::Lake {
            bucket,
            stamp: lake_imports::stamp(unix_millis_now()),
        },
    };
    let upload = |bucket, key: String, content_type| {
        PartUpload::new(s3, bucket, key, content_type, options.part_bytes)
    };
    let (lines_bucket, staged_key, removed_key) = match &handoff {
        Handoff::DataApi(_) => (
            config.bucket.as_str(),
            format!("{STAGING}{name}.jsonl"),
            format!("{STAGING}{name}.stale.jsonl"),
        ),
        Handoff::Lake { bucket, stamp } => (
            *bucket,
            lake_imports::key(name, stamp, Part::Rows),
            lake_imports::key(name, stamp, Part::Replaced),
        ),
    };
    let mut uploads = Uploads {
        staged: upload(lines_bucket, staged_key, "application/x-ndjson"),
        removed: upload(lines_bucket, removed_key, "application/x-ndjson"),
        rejected: upload(&config.bucket, format!("{REJECTED}{name}"), "text/csv"),
    };
    let mut totals = Totals::default();
    let written = stage(
        clients,
        config,
        options,
        source,
        name,
        &mut uploads,
        &mut totals,
    )
    .await;
    match written {
        Ok(Outcome::Imported) => {}
        other => {
            uploads.abort().await;
            return other;
        }
    }
    summary.rows = totals.rows;
    summary.stored = totals.stored;
    summary.rejected = totals.rejected;
    summary.removed = totals.removed;
    let staged_key = uploads.staged.key().to_owned();
    let removed_key = uploads.removed.key().to_owned();
    let staged = uploads.staged.finish().await?;
    let removed = uploads.removed.finish().await?;
    uploads.rejected.finish().await?;
    match handoff {
        Handoff::DataApi(api) => {
            let written = Staged {
                staged: staged.then_some(staged_key.as_str()),
                stale: removed.then_some(removed_key.as_str()),
            };
            load(clients, config, options, api, name, &totals, written).await?;
        }
        Handoff::Lake { bucket, stamp } => {
            let done = serde_json::json!({
                "file": name,
                "source_etag": source.etag,
                "rows": totals.stored,
                "rejected": totals.rejected,
                "replaced": removed,
            });
            let key = lake_imports::key(name, &stamp, Part::Done);
            let mut marker = upload(bucket, key, "application/json");
            marker.write(done.to_string().as_bytes()).await?;
            marker.finish().await?;
        }
    }
    Ok(Outcome::Imported)
}

/// The staged objects of a Data API load, those written.
struct Staged<'a> {
    staged: Option<&'a str>,
    stale: Option<&'a str>,
}

/// The Data API load of what pass 2 staged, then the staged objects
/// removed.
async fn load(
    clients: &Clients,
    config: &Config,
    options: &Options,
    api: &DataApi,
    name: &str,
    totals: &Totals,
    written: Staged<'_>,
) -> Result<(), FileError> {
    // One batch, one transaction: the table holds either the earlier
    // version's rows or this version's, never a mix. The earlier version's
    // dates too: its rows may lie outside this version's range and still
    // match a staged or stale line_id.
    let mut sqls = Vec::new();
    let dates_of_both = union(totals.dates.clone(), &totals.earlier_dates);
    if let (Some(key), Some(dates)) = (written.staged, &dates_of_both) {
        sqls.extend(warehouse::load_statements(api, key, dates));
    }
    if let (Some(key), Some(dates)) = (written.stale, &totals.earlier_dates) {
        sqls.extend(warehouse::remove_statements(api, key, dates));
    }
    if !sqls.is_empty() {
        sqls.insert(0, warehouse::lock_statement(api));
        warehouse::run_batch(
            &clients.redshift_data,
            api,
            &statement_name(name),
            sqls,
            &options.poll,
            options.deadline,
        )
        .await?;
    }
    // The import is complete; a leftover staged object is harmless (the next
    // import of the same name overwrites it), so only log.
    for key in [written.staged, written.stale].into_iter().flatten() {
        let deleted = clients
            .s3
            .delete_object()
            .bucket(&config.bucket)
            .key(key)
            .send()
            .await;
        if let Err(error) = deleted {
            tracing::warn!(
                key,
                error = chain(&error),
                "could not delete the staged object"
            );
        }
    }
    Ok(())
}

fn unix_millis_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// What pass 2 counted over the whole file.
#[derive(Debug, Default)]
struct Totals {
    rows: usize,
    stored: usize,
    rejected: usize,
    removed: usize,
    dates: Option<InvoiceDates>,
    earlier_dates: Option<InvoiceDates>,
}

impl Totals {
    fn add(&mut self, now: &FilePlan, earlier: &FilePlan, removed: usize) {
        self.rows += now.rows;
        self.stored += now.stored;
        self.rejected += now.rejected;
        self.removed += removed;
        self.dates = union(self.dates.take(), &now.dates);
        self.earlier_dates = union(self.earlier_dates.take(), &earlier.dates);
    }
}

fn union(a: Option<InvoiceDates>, b: &Option<InvoiceDates>) -> Option<InvoiceDates> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.union(b)),
        (a, b) => a.or_else(|| b.clone()),
    }
}

async fn stage(
    clients: &Clients,
    config: &Config,
    options: &Options,
    source: ObjectRef<'_>,
    name: &str,
    uploads: &mut Uploads<'_>,
    totals: &mut Totals,
) -> Result<Outcome, FileError> {
    let tables = &config.tables;
    let mut now = source::open(&clients.s3, source, options.chunk_rows).await??;
    let mut earlier = Earlier::open(clients, config, options, name).await?;
    let header = now.header.clone();
    loop {
        if !options.has_time_for(options.time_per_chunk) {
            return Ok(Outcome::Deferred);
        }
        // The new version's next chunk beside the earlier version's rows up
        // to the same line; once the new version ends, the earlier one's
        // remaining rows, all stale.
        let (chunk, earlier_rows) = match now.next_chunk().await? {
            Some(chunk) => {
                let through = chunk.last().map_or(0, |row| row.line);
                let earlier_rows = earlier.rows_through(through).await?;
                (chunk, earlier_rows)
            }
            None => match earlier.rest().await? {
                Some(rows) => (Vec::new(), rows),
                None => break,
            },
        };
        let plan = plan_rows(name, &chunk, tables);
        let earlier_plan = plan_rows(name, &earlier_rows, tables);
        let stale = plan::stale(&earlier_plan, &plan, tables);
        totals.add(&plan, &earlier_plan, stale.line_ids.len());
        if plan.rejected > 0 {
            if uploads.rejected.is_empty() {
                uploads.rejected.write(&rejected_header(&header)).await?;
            }
            uploads.rejected.write(&plan.rejected_csv).await?;
        }
        uploads.staged.write(&plan.staged).await?;
        match config.warehouse {
            Warehouse::DataApi(_) => {
                let ids = warehouse::stale_json_lines(&stale.line_ids);
                uploads.removed.write(&ids).await?
            }
            Warehouse::Lake { .. } => uploads.removed.write(&earlier_plan.staged).await?,
        }
        // After pass 1 wrote every new item: a failure leaves both versions'
        // items, never fewer than the file has.
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
    }
    Ok(Outcome::Imported)
}

/// The earlier import of the file (`processed/{file}`), read in step with
/// the new version.
struct Earlier {
    bucket: String,
    key: String,
    rows: Option<RowStream>,
    /// Rows read past the line asked for, kept for the next request.
    ahead: VecDeque<ParsedRow>,
}

impl Earlier {
    async fn open(
        clients: &Clients,
        config: &Config,
        options: &Options,
        name: &str,
    ) -> Result<Earlier, FileError> {
        let key = format!("{PROCESSED}{name}");
        let mut earlier = Earlier {
            bucket: config.bucket.clone(),
            key,
            rows: None,
            ahead: VecDeque::new(),
        };
        if !exists(&clients.s3, &config.bucket, &earlier.key).await? {
            return Ok(earlier);
        }
        let object = ObjectRef {
            bucket: &config.bucket,
            key: &earlier.key,
            etag: None,
            max_bytes: u64::MAX,
        };
        let rows = source::open(&clients.s3, object, options.chunk_rows)
            .await?
            .map_err(|error| earlier.not_csv(error))?;
        earlier.rows = Some(rows);
        Ok(earlier)
    }

    fn not_csv(&self, error: record::CsvError) -> FileError {
        FileError::EarlierNotCsv {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            error,
        }
    }

    async fn next_chunk(&mut self) -> Result<Option<Vec<ParsedRow>>, FileError> {
        let Some(rows) = &mut self.rows else {
            return Ok(None);
        };
        match rows.next_chunk().await {
            Ok(chunk) => Ok(chunk),
            Err(FileError::NotCsv(error)) => Err(self.not_csv(error)),
            Err(other) => Err(other),
        }
    }

    /// Its rows up to `line`.
    async fn rows_through(&mut self, line: u64) -> Result<Vec<ParsedRow>, FileError> {
        let mut out = Vec::new();
        loop {
            while self.ahead.front().is_some_and(|row| row.line <= line) {
                out.extend(self.ahead.pop_front());
            }
            if !self.ahead.is_empty() {
                return Ok(out);
            }
            match self.next_chunk().await? {
                Some(chunk) => self.ahead.extend(chunk),
                None => return Ok(out),
            }
        }
    }

    /// Its next rows, however far; `None` at its end.
    async fn rest(&mut self) -> Result<Option<Vec<ParsedRow>>, FileError> {
        if !self.ahead.is_empty() {
            return Ok(Some(self.ahead.drain(..).collect()));
        }
        self.next_chunk().await
    }
}

/// Replaces the earlier version in processed/ (the next drop of the same
/// name is compared with this one), then removes the source.
async fn move_to_processed(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    name: &str,
    source_key: &str,
) -> Result<(), FileError> {
    let processed_key = format!("{PROCESSED}{name}");
    let error = |action: &'static str, key: &str, e: &dyn std::error::Error| FileError::S3 {
        action,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        detail: chain(e),
    };
    s3.copy_object()
        .bucket(bucket)
        .key(&processed_key)
        .copy_source(copy_source(bucket, source_key))
        .customize()
        .config_override(crate::timeouts::s3_copy_override())
        .send()
        .await
        .map_err(|e| error("moving to processed/: copying to", &processed_key, &e))?;
    s3.delete_object()
        .bucket(bucket)
        .key(source_key)
        .send()
        .await
        .map_err(|e| error("moving to processed/: deleting", source_key, &e))?;
    Ok(())
}
