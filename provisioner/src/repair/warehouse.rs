//! Loading S3 objects into the warehouse again, exactly once per line: one
//! transaction (one `BatchExecuteStatement`) that locks, COPYs the objects
//! into the staging table Firehose loads, and merges it into the table the
//! views read by `line_id`. The merge is batch-import's own
//! ([`batch_import::merge_statements`]): the same statements, not a copy,
//! so a reload and a scheduled merge cannot disagree on what "once" means.
//!
//! A reload that fails changes nothing (the transaction rolls back), and
//! one that runs twice replaces the rows it loaded the first time.

use batch_import::config::DataApi as Config;
use chrono::NaiveDate;
use redshift_statements::{StatementError, Target, Wait};

/// What a COPY reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Every object under `s3://{bucket}/{prefix}` (a lake day partition).
    Prefix { bucket: String, prefix: String },
    /// The objects a COPY manifest lists (one Firehose left under `errors/`).
    Manifest { bucket: String, key: String },
}

impl Source {
    fn url(&self) -> String {
        match self {
            Source::Prefix { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
            Source::Manifest { bucket, key } => format!("s3://{bucket}/{key}"),
        }
    }
}

/// A value that cannot be written inside a SQL string literal.
#[derive(Debug, thiserror::Error)]
#[error(
    "{what} {value:?} contains a quote, backslash or control character; it cannot be named in a COPY"
)]
pub struct UnsafeLiteral {
    pub what: &'static str,
    pub value: String,
}

/// The COPY of `source` into the staging table, with Firehose's own column
/// list and options (`stacks::platform::streaming::COPY_OPTIONS`): lake
/// lines and Firehose's files are the same warehouse JSON rows.
pub fn copy_statement(config: &Config, source: &Source) -> Result<String, UnsafeLiteral> {
    copy_into(
        config,
        &config.warehouse_table.staging().to_string(),
        source,
    )
}

/// The COPY of `source` into `table` (staging's columns and options).
fn copy_into(config: &Config, table: &str, source: &Source) -> Result<String, UnsafeLiteral> {
    let url = source.url();
    for (what, value) in [("S3 location", &url), ("COPY role", &config.copy_role_arn)] {
        if !batch_import::warehouse::is_sql_literal_safe(value) {
            return Err(UnsafeLiteral {
                what,
                value: value.clone(),
            });
        }
    }
    let columns: Vec<&str> = record::WAREHOUSE_COLUMNS.iter().map(|c| c.name).collect();
    let manifest = match source {
        Source::Manifest { .. } => " MANIFEST",
        Source::Prefix { .. } => "",
    };
    Ok(format!(
        "COPY {table} ({columns}) FROM '{url}' IAM_ROLE '{role}'{manifest} {options}",
        columns = columns.join(", "),
        role = config.copy_role_arn,
        options = stacks::platform::streaming::COPY_OPTIONS,
    ))
}

/// The transaction that loads `source`: batch-import's merge with the COPY
/// right after its `LOCK`, so nothing is staged or merged meanwhile.
pub fn load_statements(config: &Config, source: &Source) -> Result<Vec<String>, UnsafeLiteral> {
    let mut sqls = batch_import::merge_statements(config);
    debug_assert!(sqls[0].starts_with("LOCK "), "the merge starts by locking");
    sqls.insert(1, copy_statement(config, source)?);
    Ok(sqls)
}

/// The temporary table a bounded load COPYs into before keeping its days.
pub const RELOAD_TABLE: &str = "reload_within_days";

/// The transaction that loads the rows of `source` whose invoice day is in
/// `from..=to` (a bulk file's rows span any days): COPY into a temporary
/// table, only those rows into staging, then batch-import's merge. Staging
/// itself is never filtered: it may hold rows Firehose staged meanwhile.
pub fn load_within_statements(
    config: &Config,
    source: &Source,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<String>, UnsafeLiteral> {
    let staging = config.warehouse_table.staging();
    let past = to.succ_opt().unwrap_or(to);
    let mut sqls = batch_import::merge_statements(config);
    debug_assert!(sqls[0].starts_with("LOCK "), "the merge starts by locking");
    sqls.splice(
        1..1,
        [
            format!("CREATE TEMP TABLE {RELOAD_TABLE} (LIKE {staging})"),
            copy_into(config, RELOAD_TABLE, source)?,
            // Dates are formatted here, safe inside a literal.
            format!(
                "INSERT INTO {staging} SELECT * FROM {RELOAD_TABLE} WHERE invoice_date >= \
                 '{from}' AND invoice_date < '{past}'"
            ),
            format!("DROP TABLE {RELOAD_TABLE}"),
        ],
    );
    Ok(sqls)
}

/// Why a load did not happen.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Unsafe(#[from] UnsafeLiteral),
    #[error(transparent)]
    Statement(#[from] StatementError),
}

/// Loads `source` and waits for the transaction's outcome.
pub async fn load(
    client: &aws_sdk_redshiftdata::Client,
    config: &Config,
    statement_name: &str,
    source: &Source,
    wait: &Wait,
) -> Result<(), LoadError> {
    run(
        client,
        config,
        statement_name,
        load_statements(config, source)?,
        wait,
    )
    .await
}

/// Loads the rows of `source` on the days `from..=to`
/// ([`load_within_statements`]) and waits for the outcome.
pub async fn load_within(
    client: &aws_sdk_redshiftdata::Client,
    config: &Config,
    statement_name: &str,
    source: &Source,
    (from, to): (NaiveDate, NaiveDate),
    wait: &Wait,
) -> Result<(), LoadError> {
    let sqls = load_within_statements(config, source, from, to)?;
    run(client, config, statement_name, sqls, wait).await
}

async fn run(
    client: &aws_sdk_redshiftdata::Client,
    config: &Config,
    statement_name: &str,
    sqls: Vec<String>,
    wait: &Wait,
) -> Result<(), LoadError> {
    let target = Target {
        cluster_identifier: &config.cluster_identifier,
        database: &config.database,
        secret_arn: &config.secret_arn,
    };
    redshift_statements::run_batch(client, &target, statement_name, sqls, wait).await?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn config() -> Config {
        Config {
            staging_bucket: "retail-dev-imports".into(),
            cluster_identifier: "retail-dev-cluster".into(),
            database: "retail".into(),
            secret_arn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:wh".into(),
            copy_role_arn: "arn:aws:iam::123456789012:role/retail-dev-copy".into(),
            warehouse_table: "public.transactions".parse().unwrap(),
        }
    }

    fn day() -> Source {
        Source::Prefix {
            bucket: "retail-dev-lake".into(),
            prefix: "raw/date=2010-12-01/".into(),
        }
    }

    #[test]
    fn a_day_partition_is_copied_into_staging_under_the_lock_then_merged_by_line_id() {
        let sqls = load_statements(&config(), &day()).unwrap();
        let merge = batch_import::merge_statements(&config());
        assert_eq!(
            sqls[0],
            "LOCK public.transactions, public.transactions_staging"
        );
        assert!(
            sqls[1].starts_with("COPY public.transactions_staging (invoice_no, "),
            "{}",
            sqls[1]
        );
        assert!(sqls[1].ends_with(
            "FROM 's3://retail-dev-lake/raw/date=2010-12-01/' \
             IAM_ROLE 'arn:aws:iam::123456789012:role/retail-dev-copy' \
             json 'auto' timeformat 'auto' truncatecolumns"
        ));
        assert_eq!(
            sqls[2..],
            merge[1..],
            "the rest is batch-import's merge, unchanged"
        );
    }

    #[test]
    fn a_firehose_manifest_is_copied_as_a_manifest() {
        let source = Source::Manifest {
            bucket: "retail-dev-staging".into(),
            key: "errors/manifests/2026/12/06/retail-dev-delivery-1".into(),
        };
        let copy = copy_statement(&config(), &source).unwrap();
        assert!(copy.contains(
            "FROM 's3://retail-dev-staging/errors/manifests/2026/12/06/retail-dev-delivery-1' \
             IAM_ROLE 'arn:aws:iam::123456789012:role/retail-dev-copy' MANIFEST json 'auto'"
        ));
    }

    #[test]
    fn a_location_that_would_break_out_of_its_literal_is_refused() {
        let source = Source::Manifest {
            bucket: "b".into(),
            key: "errors/it's".into(),
        };
        let error = load_statements(&config(), &source).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("S3 location \"s3://b/errors/it's\"")
        );
    }
}
