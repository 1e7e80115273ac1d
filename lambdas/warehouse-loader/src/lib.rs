//! warehouse-loader: the lake's `raw/` partitions → Redshift, on a
//! schedule, for a private warehouse (one Firehose cannot reach).
//!
//! An EventBridge rule invokes the function every
//! `stacks::platform::loader::LOAD_SCHEDULE`; an invocation with
//! `{"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}` loads those days again
//! whatever was loaded before (a re-import). A run:
//!
//! 1. reads the loads table (`{schema}.lake_loads`, created if missing):
//!    per day, the instant through which its objects are loaded and the
//!    newest object seen ([`sql::state_statements`]);
//! 2. lists the lake's day partitions (`raw/date=D/`, one `ListObjectsV2`
//!    with a delimiter), and the objects of the days that may have new
//!    ones: never loaded, or with an object written in the last
//!    [`QUIET_SECONDS`] (a range run lists its days);
//! 3. cuts the pending objects into loads as they are listed
//!    ([`plan::Planner`]: multiples of the cluster's slices, spanning days);
//! 4. runs each load: its COPY manifest written to the load bucket, then
//!    one transaction that COPYs it into the staging table, merges by
//!    `line_id` (the public path's merge, so both paths are exactly once)
//!    and records the days it completes ([`sql::load_statements`]);
//! 5. in a scheduled run, lists `raw/imports/` (the bulk imports the data
//!    account hands over) and applies each complete version not loaded yet,
//!    oldest first, one transaction each ([`imports`]).
//!
//! A failed load changes nothing and ends the run with an error; the next
//! run plans the same objects again. A run near its deadline stops between
//! loads and says so; what it loaded is recorded.
//!
//! Its listing is bounded by the days that are still changing: a day whose
//! newest object is older than [`QUIET_SECONDS`] is not listed by a
//! scheduled run. An object written to such a day later (a client sending
//! a sale of long ago) is loaded by a run given that day, and until then
//! `provisioner reconcile` shows the difference.
//!
//! Environment ([`Config`]): `LAKE_BUCKET`, `LOAD_BUCKET`,
//! `CLUSTER_IDENTIFIER`, `DATABASE`, `WAREHOUSE_SECRET_ARN`,
//! `COPY_ROLE_ARN`, `SLICES`, and `WAREHOUSE_TABLE` (default
//! `public.transactions`). The calls are exactly those
//! `policies/lambda-warehouse-loader.json.hbs` allows: ListBucket on the
//! lake's `raw/`, PutObject under `manifests/` of the load bucket,
//! BatchExecuteStatement, DescribeStatement and GetStatementResult. The
//! lake's objects are read by the cluster's COPY role, never by the
//! function.

pub mod config;
pub mod imports;
pub mod plan;
pub mod sql;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_redshiftdata::error::DisplayErrorContext as DataApiError;
use aws_sdk_redshiftdata::types::Field;
use aws_sdk_s3::error::DisplayErrorContext as S3Error;
use chrono::NaiveDate;
use redshift_statements::{StatementError, Target, Wait};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

pub use config::{Config, ConfigError};
use plan::{DayState, LakeObject, Limits, Load, Mode, Planner, Seen};

/// A day whose newest object is older than this (seconds) is no longer
/// listed by scheduled runs: a week, the stream's longest retention, past
/// which the lake writer has no retry of a record left to write.
pub const QUIET_SECONDS: i64 = 7 * 24 * 3600;

/// The AWS clients of a run.
#[derive(Debug, Clone)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub redshift_data: aws_sdk_redshiftdata::Client,
}

/// What a run is asked to do: the invocation's event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Request {
    /// `{"from": "2010-12-01", "to": "2010-12-31"}`: those days again.
    Days { from: NaiveDate, to: NaiveDate },
    /// Anything else (the schedule's event): what is not loaded yet.
    Scheduled {},
}

impl Request {
    /// The request in an invocation's event; an event that names days but
    /// not both, or not as dates, is an error rather than a scheduled run.
    pub fn from_event(event: &serde_json::Value) -> Result<Request, LoaderError> {
        let names_days = event.get("from").is_some() || event.get("to").is_some();
        if !names_days {
            return Ok(Request::Scheduled {});
        }
        match serde_json::from_value::<Request>(event.clone()) {
            Ok(request @ Request::Days { from, to }) if from <= to => Ok(request),
            _ => Err(LoaderError::Request {
                event: event.to_string(),
            }),
        }
    }

    fn mode(self) -> Mode {
        match self {
            Request::Days { from, to } => Mode::Days { from, to },
            Request::Scheduled {} => Mode::Scheduled,
        }
    }
}

/// How a run is timed.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The run's start, seconds since the epoch (the cutoff is
    /// [`plan::SETTLE_SECONDS`] before it).
    pub now: i64,
    /// No load is started at or after this instant.
    pub deadline: Option<Instant>,
    /// Between two `DescribeStatement` calls.
    pub poll_interval: Duration,
    /// At most this long per load (further bounded by `deadline`).
    pub max_wait: Duration,
}

impl Options {
    /// How long to wait for one statement.
    fn wait(&self) -> Wait {
        Wait {
            poll_interval: self.poll_interval,
            max_wait: Some(self.max_wait),
            deadline: self.deadline,
        }
    }

    pub fn at(now: i64) -> Options {
        Options {
            now,
            deadline: None,
            poll_interval: Duration::from_secs(1),
            max_wait: Duration::from_secs(600),
        }
    }
}

/// One load of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadReport {
    pub manifest: String,
    pub objects: usize,
    pub first_day: Option<NaiveDate>,
    pub last_day: Option<NaiveDate>,
    /// Days recorded as loaded through the cutoff.
    pub completed_days: usize,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub cutoff: i64,
    pub days_listed: usize,
    pub objects_listed: u64,
    pub pending: u64,
    pub too_recent: u64,
    pub unrecognised_keys: u64,
    pub loads: Vec<LoadReport>,
    /// The bulk imports handed to the lake (scheduled runs only).
    pub imports: Option<ImportsReport>,
    /// Why the run stopped before its last load, if it did.
    pub stopped: Option<String>,
}

/// The bulk imports of a run ([`imports`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportsReport {
    pub keys_listed: u64,
    /// Versions without `done.json`: still being written, or abandoned.
    pub incomplete: u64,
    pub unrecognised_keys: u64,
    /// `{file}@{stamp}` of each version loaded, in order.
    pub loaded: Vec<String>,
    /// Complete versions left for the next run (the deadline came).
    pub left: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum LoaderError {
    #[error(
        "the event {event} names days to load but not as {{\"from\": \"YYYY-MM-DD\", \"to\": \
         \"YYYY-MM-DD\"}} with from <= to"
    )]
    Request { event: String },
    #[error("reading {table}: {source}")]
    State {
        table: String,
        source: StatementError,
    },
    #[error("reading {table}'s answer (statement {id}): {detail}")]
    StateResult {
        table: String,
        id: String,
        detail: String,
    },
    #[error("{table} answered a row that is not ({expected}): {row}")]
    StateRow {
        table: String,
        expected: &'static str,
        row: String,
    },
    #[error("listing s3://{bucket}/{prefix}: {detail}")]
    List {
        bucket: String,
        prefix: String,
        detail: String,
    },
    #[error("writing the manifest s3://{bucket}/{key}: {detail}")]
    Manifest {
        bucket: String,
        key: String,
        detail: String,
    },
    #[error(
        "loading the import version {version} failed, nothing of it is recorded and the next run \
         loads it again; {loaded} versions before it are recorded: {source}"
    )]
    LoadVersion {
        /// `{file}@{stamp}`.
        version: String,
        loaded: usize,
        source: StatementError,
    },
    #[error(
        "load {manifest} ({objects} objects) failed, nothing of it is recorded and the next run \
         loads its objects again; {loaded} loads before it are recorded: {source}"
    )]
    Load {
        manifest: String,
        objects: usize,
        loaded: usize,
        source: StatementError,
    },
}

/// One run (see the crate documentation).
pub async fn handle(
    clients: &Clients,
    config: &Config,
    request: Request,
    options: &Options,
) -> Result<Summary, LoaderError> {
    let cutoff = options.now - plan::SETTLE_SECONDS;
    let state = read_state(&clients.redshift_data, config, options).await?;
    let days = match request {
        Request::Days { from, to } => from
            .iter_days()
            .take_while(|day| *day <= to)
            .collect::<Vec<_>>(),
        Request::Scheduled {} => list_days(&clients.s3, &config.lake_bucket)
            .await?
            .into_iter()
            .filter(|day| {
                state
                    .get(day)
                    .is_none_or(|s| s.newest_object >= options.now - QUIET_SECONDS)
            })
            .collect(),
    };
    let limits = Limits::for_slices(config.slices);
    let mut planner = Planner::new(&state, request.mode(), cutoff, limits);
    let mut run = Run {
        clients,
        config,
        options,
        cutoff,
        reports: Vec::new(),
        stopped: None,
    };
    for day in &days {
        let prefix = format!("{}{day}/", plan::RAW_PREFIX);
        let mut token = None;
        loop {
            let page = clients
                .s3
                .list_objects_v2()
                .bucket(&config.lake_bucket)
                .prefix(&prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|error| LoaderError::List {
                    bucket: config.lake_bucket.clone(),
                    prefix: prefix.clone(),
                    detail: S3Error(&error).to_string(),
                })?;
            for object in page.contents() {
                let listed = LakeObject {
                    key: object.key().unwrap_or_default().to_owned(),
                    last_modified: object.last_modified().map_or(i64::MAX, |t| t.secs()),
                };
                if let Some(load) = planner.push(listed) {
                    run.execute(load).await?;
                }
            }
            token = page.next_continuation_token().map(str::to_owned);
            if token.is_none() || run.stopped.is_some() {
                break;
            }
        }
        if run.stopped.is_some() {
            break;
        }
    }
    let (rest, seen) = planner.finish();
    for load in rest {
        run.execute(load).await?;
    }
    let imports = match request {
        Request::Scheduled {} if run.stopped.is_none() => Some(run.load_imports().await?),
        _ => None,
    };
    Ok(run.summary(days.len(), seen, imports))
}

/// The loads of a run, executed in order.
struct Run<'a> {
    clients: &'a Clients,
    config: &'a Config,
    options: &'a Options,
    cutoff: i64,
    reports: Vec<LoadReport>,
    stopped: Option<String>,
}

impl Run<'_> {
    async fn execute(&mut self, load: Load) -> Result<(), LoaderError> {
        if self.stopped.is_some() {
            return Ok(());
        }
        if self.past_deadline() {
            self.stopped = Some(format!(
                "the invocation's deadline came after {} loads; the next run goes on",
                self.reports.len()
            ));
            return Ok(());
        }
        let key = sql::manifest_key(self.cutoff, self.reports.len() + 1);
        self.clients
            .s3
            .put_object()
            .bucket(&self.config.load_bucket)
            .key(&key)
            .content_type("application/json")
            .body(sql::manifest(self.config, &load).into_bytes().into())
            .send()
            .await
            .map_err(|error| LoaderError::Manifest {
                bucket: self.config.load_bucket.clone(),
                key: key.clone(),
                detail: S3Error(&error).to_string(),
            })?;
        let sqls = sql::load_statements(self.config, &key, &load, self.cutoff);
        self.run_batch("warehouse-loader-load", sqls)
            .await
            .map_err(|source| LoaderError::Load {
                manifest: key.clone(),
                objects: load.keys.len(),
                loaded: self.reports.len(),
                source,
            })?;
        self.reports.push(LoadReport {
            manifest: key,
            objects: load.keys.len(),
            first_day: load.days().first().copied(),
            last_day: load.days().last().copied(),
            completed_days: load.completed.len(),
        });
        Ok(())
    }

    /// Every complete import version not loaded yet, oldest first, one
    /// transaction each ([`imports::version_statements`]).
    async fn load_imports(&mut self) -> Result<ImportsReport, LoaderError> {
        let (listing, keys_listed) =
            list_imports(&self.clients.s3, &self.config.lake_bucket).await?;
        let mut report = ImportsReport {
            keys_listed,
            unrecognised_keys: listing.unrecognised,
            ..ImportsReport::default()
        };
        if keys_listed == 0 {
            // No import was ever handed over: no table to read.
            return Ok(report);
        }
        let loaded =
            read_imports_state(&self.clients.redshift_data, self.config, self.options).await?;
        let pending = listing.pending(&loaded);
        report.incomplete = pending.incomplete;
        let total = pending.versions.len();
        for version in pending.versions {
            if self.past_deadline() {
                report.left = total - report.loaded.len();
                self.stopped = Some(format!(
                    "the invocation's deadline came after {} import versions; the next run goes on",
                    report.loaded.len()
                ));
                break;
            }
            let sqls = imports::version_statements(self.config, &version);
            self.run_batch("warehouse-loader-import", sqls)
                .await
                .map_err(|source| LoaderError::LoadVersion {
                    version: version.to_string(),
                    loaded: report.loaded.len(),
                    source,
                })?;
            report.loaded.push(version.to_string());
        }
        Ok(report)
    }

    fn past_deadline(&self) -> bool {
        self.options
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// Runs `sqls` as one transaction and waits for it.
    async fn run_batch(&self, name: &str, sqls: Vec<String>) -> Result<(), StatementError> {
        let (target, wait) = (target(self.config), self.options.wait());
        redshift_statements::run_batch(&self.clients.redshift_data, &target, name, sqls, &wait)
            .await
    }

    fn summary(self, days_listed: usize, seen: Seen, imports: Option<ImportsReport>) -> Summary {
        Summary {
            cutoff: self.cutoff,
            days_listed,
            objects_listed: seen.objects,
            pending: seen.pending,
            too_recent: seen.too_recent,
            unrecognised_keys: seen.unrecognised,
            loads: self.reports,
            imports,
            stopped: self.stopped,
        }
    }
}

fn target(config: &Config) -> Target<'_> {
    Target {
        cluster_identifier: &config.cluster_identifier,
        database: &config.database,
        secret_arn: &config.secret_arn,
    }
}

/// The loads table, by day (see [`sql::state_statements`]).
pub async fn read_state(
    client: &aws_sdk_redshiftdata::Client,
    config: &Config,
    options: &Options,
) -> Result<BTreeMap<NaiveDate, DayState>, LoaderError> {
    let query = Query {
        name: "warehouse-loader-state",
        table: config.loads_table(),
        sqls: sql::state_statements(config),
        sub_statement: sql::STATE_SUB_STATEMENT,
    };
    let rows = query.run(client, config, options).await?;
    let mut state = BTreeMap::new();
    for row in rows {
        let parsed = match row.as_slice() {
            [
                Field::StringValue(day),
                Field::LongValue(loaded_through),
                Field::LongValue(newest_object),
            ] => sql::parse_day(day).map(|day| {
                let day_state = DayState {
                    loaded_through: *loaded_through,
                    newest_object: *newest_object,
                };
                (day, day_state)
            }),
            _ => None,
        };
        let (day, day_state) = parsed.ok_or_else(|| LoaderError::StateRow {
            table: config.loads_table(),
            expected: "day, loaded through, newest",
            row: format!("{row:?}"),
        })?;
        state.insert(day, day_state);
    }
    Ok(state)
}

/// The imports table: per file, the stamp of the last version loaded (see
/// [`imports::state_statements`]).
pub async fn read_imports_state(
    client: &aws_sdk_redshiftdata::Client,
    config: &Config,
    options: &Options,
) -> Result<BTreeMap<String, String>, LoaderError> {
    let query = Query {
        name: "warehouse-loader-imports-state",
        table: config.imports_table(),
        sqls: imports::state_statements(config),
        sub_statement: imports::STATE_SUB_STATEMENT,
    };
    let rows = query.run(client, config, options).await?;
    rows.into_iter()
        .map(|row| match row.as_slice() {
            [Field::StringValue(file), Field::StringValue(stamp)] => {
                Ok((file.clone(), stamp.clone()))
            }
            _ => Err(LoaderError::StateRow {
                table: config.imports_table(),
                expected: "file name, stamp",
                row: format!("{row:?}"),
            }),
        })
        .collect()
}

/// A batch whose last statement's answer is read.
struct Query {
    name: &'static str,
    /// The table read, for errors.
    table: String,
    sqls: Vec<String>,
    /// Which statement of the batch answers (from 1).
    sub_statement: usize,
}

impl Query {
    /// Runs the batch, waits for it and reads every row of the answer.
    async fn run(
        self,
        client: &aws_sdk_redshiftdata::Client,
        config: &Config,
        options: &Options,
    ) -> Result<Vec<Vec<Field>>, LoaderError> {
        let failed = |source| LoaderError::State {
            table: self.table.clone(),
            source,
        };
        let id = redshift_statements::submit_batch(client, &target(config), self.name, self.sqls)
            .await
            .map_err(failed)?;
        redshift_statements::wait_for(client, &id, &options.wait())
            .await
            .map_err(failed)?;
        let result_id = format!("{id}:{}", self.sub_statement);
        let mut rows = Vec::new();
        let mut token = None;
        loop {
            let page = client
                .get_statement_result()
                .id(&result_id)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|error| LoaderError::StateResult {
                    table: self.table.clone(),
                    id: result_id.clone(),
                    detail: DataApiError(&error).to_string(),
                })?;
            rows.extend(page.records().iter().cloned());
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(rows);
            }
        }
    }
}

/// The keys under `raw/imports/`, grouped into versions, and how many.
pub async fn list_imports(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<(imports::Listing, u64), LoaderError> {
    let mut listing = imports::Listing::default();
    let mut listed = 0;
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(record::lake_imports::IMPORTS_PREFIX)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|error| LoaderError::List {
                bucket: bucket.to_owned(),
                prefix: record::lake_imports::IMPORTS_PREFIX.to_owned(),
                detail: S3Error(&error).to_string(),
            })?;
        for object in page.contents() {
            listed += 1;
            listing.push(object.key().unwrap_or_default());
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return Ok((listing, listed));
        }
    }
}

/// The days the lake has partitions for: `raw/date=D/` prefixes.
pub async fn list_days(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Vec<NaiveDate>, LoaderError> {
    let mut days = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(plan::RAW_PREFIX)
            .delimiter("/")
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|error| LoaderError::List {
                bucket: bucket.to_owned(),
                prefix: plan::RAW_PREFIX.to_owned(),
                detail: S3Error(&error).to_string(),
            })?;
        days.extend(page.common_prefixes().iter().filter_map(|prefix| {
            let text = prefix.prefix()?.strip_prefix(plan::RAW_PREFIX)?;
            sql::parse_day(text.strip_suffix('/')?)
        }));
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            days.sort();
            return Ok(days);
        }
    }
}
