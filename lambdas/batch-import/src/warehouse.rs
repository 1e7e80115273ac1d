//! Loading a staged file into Redshift through the Data API, so that a
//! retry never duplicates rows.
//!
//! The load is one `BatchExecuteStatement`, which Redshift runs as a single
//! transaction
//! (<https://docs.aws.amazon.com/redshift-data/latest/APIReference/API_BatchExecuteStatement.html>):
//! COPY the staged JSON lines into a temporary table shaped like the target
//! (`LIKE`), delete the target rows whose `line_id` is in it, insert it,
//! drop it. Either all of it commits or none of it does, and a re-run of
//! the same file replaces its rows (same `line_id`s) instead of adding
//! them again. `DELETE`, not `TRUNCATE`: `TRUNCATE` commits on its own.
//!
//! A corrected file dropped again may no longer have some rows of its
//! earlier import: their `line_id`s are staged too and
//! [`remove_statements`] deletes them in the same batch, so the table holds
//! the file as it is now, never a mix of the two versions.
//!
//! The batch starts by locking the table ([`lock_statement`]): Firehose
//! COPYs into the same table, and two transactions that read and write it
//! concurrently fail one of them with Redshift's serializable isolation
//! error 1023; an explicit `LOCK` at the start makes the second wait
//! instead (<https://docs.aws.amazon.com/redshift/latest/dg/c_serial_isolation.html>).
//! Each `DELETE` is bounded by the invoice dates of the rows it can match
//! ([`InvoiceDates`]), so Redshift prunes by the `invoice_date` sort key
//! instead of scanning the whole table.

use std::time::Duration;

use record::LineId;
use redshift_statements::{StatementError, Target, Wait};
use tokio::time::Instant;

use crate::config::DataApi;

/// The temporary table of one load; it lives for the Data API session of
/// the batch only.
pub const STAGE_TABLE: &str = "batch_import_stage";

/// The temporary table of the `line_id`s to remove.
pub const STALE_TABLE: &str = "batch_import_stale";

/// The first and last invoice timestamp of a file's rows, as
/// `YYYY-MM-DD HH:MM:SS` text: that fixed-width form sorts as time does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceDates {
    pub first: String,
    pub last: String,
}

impl InvoiceDates {
    /// The range of one timestamp (`YYYY-MM-DD HH:MM:SS`).
    pub fn at(date: &str) -> InvoiceDates {
        InvoiceDates {
            first: date.to_owned(),
            last: date.to_owned(),
        }
    }

    /// The range of `dates`, `None` when empty.
    pub fn of<'a>(dates: impl IntoIterator<Item = &'a str>) -> Option<InvoiceDates> {
        dates.into_iter().fold(None, |range, date| {
            Some(match range {
                None => InvoiceDates::at(date),
                Some(range) => range.union(&InvoiceDates::at(date)),
            })
        })
    }

    /// The range covering both.
    pub fn union(self, other: &InvoiceDates) -> InvoiceDates {
        InvoiceDates {
            first: self.first.min(other.first.clone()),
            last: self.last.max(other.last.clone()),
        }
    }

    /// `{table}.invoice_date BETWEEN '...' AND '...'` (the texts are
    /// formatted timestamps, safe inside a literal).
    fn condition(&self, table: &impl std::fmt::Display) -> String {
        format!(
            "{table}.invoice_date BETWEEN '{}' AND '{}'",
            self.first, self.last
        )
    }
}

/// The first statement of every load batch: `LOCK` the table before
/// reading or writing it, so a concurrent Firehose COPY waits for this
/// transaction (or this one for it) instead of failing either with
/// error 1023 (see the module documentation).
pub fn lock_statement(api: &DataApi) -> String {
    format!("LOCK {}", api.warehouse_table)
}

/// How often and how long to wait for a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollPolicy {
    /// Between two `DescribeStatement` calls.
    pub interval: Duration,
    /// At most this long per load (further bounded by the Lambda deadline).
    pub max_wait: Duration,
}

impl Default for PollPolicy {
    /// A day file (a few thousand rows) loads in seconds; five minutes
    /// leaves room for a busy cluster within a 15-minute Lambda.
    fn default() -> Self {
        PollPolicy {
            interval: Duration::from_secs(1),
            max_wait: Duration::from_secs(300),
        }
    }
}

/// The load failed or its outcome is unknown; the file stays in `incoming/`.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("submitting the load to Redshift cluster {cluster} (database {database}): {detail}")]
    Submit {
        cluster: String,
        database: String,
        detail: String,
    },
    #[error("asking the Data API how statement {id} is doing: {detail}")]
    Describe { id: String, detail: String },
    #[error("the load (Data API statement {id}) ended {status}: {error}")]
    Failed {
        id: String,
        status: String,
        error: String,
    },
    #[error(
        "the load (Data API statement {id}) did not finish within {waited:?}; the file stays in \
         incoming/ and the next run loads it again (replacing, not duplicating, its rows)"
    )]
    TimedOut { id: String, waited: Duration },
}

/// COPY of the JSON lines at `s3://{bucket}/{key}` into `table`, with the
/// COPY role (`key` must be safe inside a SQL string literal).
fn copy_into(api: &DataApi, table: &str, key: &str) -> String {
    format!(
        "COPY {table} FROM 's3://{bucket}/{key}' IAM_ROLE '{role}' \
         FORMAT AS JSON 'auto' COMPUPDATE OFF STATUPDATE OFF",
        bucket = api.staging_bucket,
        role = api.copy_role_arn,
    )
}

/// The statements that load `s3://{bucket}/{staged_key}` into the table,
/// after [`lock_statement`].
///
/// `dates` must cover every row the staged ids can match in the table: the
/// staged rows' dates and those of the file's earlier version (a corrected
/// row may have moved in time but keeps its `line_id`).
/// `staged_key` must be safe inside a SQL string literal (checked by the
/// caller: no quote, backslash or control character).
pub fn load_statements(api: &DataApi, staged_key: &str, dates: &InvoiceDates) -> Vec<String> {
    let table = &api.warehouse_table;
    vec![
        format!("CREATE TEMP TABLE {STAGE_TABLE} (LIKE {table})"),
        copy_into(api, STAGE_TABLE, staged_key),
        format!(
            "DELETE FROM {table} USING {STAGE_TABLE} WHERE {table}.line_id = {STAGE_TABLE}.line_id \
             AND {}",
            dates.condition(table)
        ),
        format!("INSERT INTO {table} SELECT * FROM {STAGE_TABLE}"),
        format!("DROP TABLE {STAGE_TABLE}"),
    ]
}

/// The statements that delete the rows whose `line_id`s are staged at
/// `s3://{bucket}/{stale_key}` (JSON lines `{"line_id": ...}`, written by
/// [`stale_json_lines`]); run in the same batch as [`load_statements`].
///
/// The ids are staged and copied, not written into the SQL: a file can lose
/// thousands of rows, more than a Data API statement can hold. `dates` are
/// those of the earlier version, where the stale rows came from.
/// `stale_key` must be safe inside a SQL string literal.
pub fn remove_statements(api: &DataApi, stale_key: &str, dates: &InvoiceDates) -> Vec<String> {
    let table = &api.warehouse_table;
    vec![
        format!(
            "CREATE TEMP TABLE {STALE_TABLE} (line_id VARCHAR({}) NOT NULL)",
            record::limits::LINE_ID_BYTES
        ),
        copy_into(api, STALE_TABLE, stale_key),
        format!(
            "DELETE FROM {table} USING {STALE_TABLE} WHERE {table}.line_id = {STALE_TABLE}.line_id \
             AND {}",
            dates.condition(table)
        ),
        format!("DROP TABLE {STALE_TABLE}"),
    ]
}

/// The staged form of the `line_id`s [`remove_statements`] deletes.
pub fn stale_json_lines(line_ids: &[LineId]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line_ids.len() * 32);
    for id in line_ids {
        serde_json::to_writer(&mut out, &serde_json::json!({ "line_id": id }))
            .expect("writing JSON to a Vec cannot fail");
        out.push(b'\n');
    }
    out
}

/// Whether `text` can go between single quotes in SQL as it is.
pub fn is_sql_literal_safe(text: &str) -> bool {
    !text
        .chars()
        .any(|c| c == '\'' || c == '\\' || c.is_control())
}

/// Runs `sqls` as one transaction and waits until it ends, at most
/// `poll.max_wait` and never past `deadline`.
pub async fn run_batch(
    client: &aws_sdk_redshiftdata::Client,
    api: &DataApi,
    statement_name: &str,
    sqls: Vec<String>,
    poll: &PollPolicy,
    deadline: Option<Instant>,
) -> Result<(), WarehouseError> {
    let target = Target {
        cluster_identifier: &api.cluster_identifier,
        database: &api.database,
        secret_arn: &api.secret_arn,
    };
    let wait = Wait {
        poll_interval: poll.interval,
        max_wait: Some(poll.max_wait),
        deadline,
    };
    redshift_statements::run_batch(client, &target, statement_name, sqls, &wait).await?;
    Ok(())
}

/// The shared Data API errors, told as what they mean for a load.
impl From<StatementError> for WarehouseError {
    fn from(error: StatementError) -> Self {
        match error {
            StatementError::Submit {
                cluster,
                database,
                detail,
            } => WarehouseError::Submit {
                cluster,
                database,
                detail,
            },
            StatementError::Describe { id, detail } => WarehouseError::Describe { id, detail },
            StatementError::Failed { id, status, error } => {
                WarehouseError::Failed { id, status, error }
            }
            StatementError::TimedOut { id, waited, .. } => WarehouseError::TimedOut { id, waited },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_backslashes_and_control_characters_are_not_literal_safe() {
        assert!(is_sql_literal_safe("staging/2010-12-01 copy (2).csv.jsonl"));
        for bad in ["o'brien.csv", "a\\b.csv", "line\nbreak.csv"] {
            assert!(!is_sql_literal_safe(bad), "{bad:?}");
        }
    }

    fn test_config() -> DataApi {
        crate::Config::from_vars(|name| {
            Some(
                match name {
                    "BULK_IMPORT_BUCKET" => "imports",
                    "COPY_ROLE_ARN" => "arn:aws:iam::123456789012:role/copy",
                    _ => "x",
                }
                .to_owned(),
            )
            .filter(|_| !["WAREHOUSE_TABLE", "LAKE_BUCKET"].contains(&name))
        })
        .unwrap()
        .data_api()
        .unwrap()
        .clone()
    }

    fn december_first() -> InvoiceDates {
        InvoiceDates::of(["2010-12-01 17:00:00", "2010-12-01 08:26:00"]).unwrap()
    }

    #[test]
    fn a_files_dates_are_its_first_and_last_timestamps() {
        assert_eq!(
            december_first(),
            InvoiceDates {
                first: "2010-12-01 08:26:00".to_owned(),
                last: "2010-12-01 17:00:00".to_owned()
            }
        );
        assert_eq!(InvoiceDates::of([]), None);
        let earlier = InvoiceDates::of(["2010-11-30 23:59:00"]).unwrap();
        assert_eq!(
            december_first().union(&earlier).first,
            "2010-11-30 23:59:00"
        );
    }

    #[test]
    fn deletes_are_bounded_by_the_files_dates_so_the_sort_key_prunes() {
        // Unbounded, `DELETE ... USING` scans the whole table for every file.
        let config = test_config();
        let dates = december_first();
        let bound = "public.transactions.invoice_date \
                     BETWEEN '2010-12-01 08:26:00' AND '2010-12-01 17:00:00'";
        for sqls in [
            load_statements(&config, "staging/a.jsonl", &dates),
            remove_statements(&config, "staging/a.stale.jsonl", &dates),
        ] {
            let delete = sqls.iter().find(|sql| sql.starts_with("DELETE")).unwrap();
            assert!(delete.ends_with(&format!("AND {bound}")), "{delete}");
        }
    }

    #[test]
    fn the_batch_locks_the_table_before_reading_it() {
        assert_eq!(lock_statement(&test_config()), "LOCK public.transactions");
    }

    #[test]
    fn the_load_replaces_rows_by_line_id_in_one_batch() {
        let config = test_config();
        let sqls = load_statements(&config, "staging/2010-12-01.csv.jsonl", &december_first());
        assert_eq!(sqls.len(), 5);
        assert!(sqls[1].starts_with(
            "COPY batch_import_stage FROM 's3://imports/staging/2010-12-01.csv.jsonl' \
             IAM_ROLE 'arn:aws:iam::123456789012:role/copy' FORMAT AS JSON 'auto'"
        ));
        assert!(sqls[2].starts_with("DELETE FROM public.transactions USING batch_import_stage"));
        assert_eq!(
            sqls[3],
            "INSERT INTO public.transactions SELECT * FROM batch_import_stage"
        );
    }
}
