//! The warehouse's lines through the Redshift Data API: one
//! `ExecuteStatement` of the day and line id of every row of
//! `public.transactions` in the range, `DescribeStatement` polled until it
//! ends (as `lambdas/redshift-statements` does), then `GetStatementResult`
//! page by page (<https://docs.aws.amazon.com/redshift-data/latest/APIReference/API_GetStatementResult.html>).
//! The range goes in as parameters, never spliced into the SQL.
//!
//! Only the merged table is read: lines Firehose has COPYed into
//! `public.transactions_staging` reach it at batch-import's next scheduled
//! merge, so until then they are reported missing from Redshift (staging
//! may hold a line twice by design: Firehose delivers at least once).

use std::time::Duration;

use aws_sdk_redshiftdata::types::{Field, SqlParameter};
use chrono::NaiveDate;
use redshift_statements::StatementError;

use super::{DayRange, Sighting, day_of};
use crate::deploy::error::AwsError;

/// The cluster, database and credentials the query runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub cluster_identifier: String,
    pub database: String,
    /// The Secrets Manager secret of the database user (the Warehouse
    /// stack's `SecretArn` output).
    pub secret_arn: String,
}

/// How often and how long `DescribeStatement` is polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub poll_interval: Duration,
    pub max_wait: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RedshiftError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("Data API statement {id} ended {status}: {error}")]
    Failed {
        id: String,
        status: String,
        error: String,
    },
    #[error("Data API statement {id} was still {status} after {waited:?}")]
    TimedOut {
        id: String,
        status: String,
        waited: Duration,
    },
    /// The Data API could not be asked about the statement.
    #[error(transparent)]
    Statement(StatementError),
    #[error("Data API statement {id} row {row}: {reason}")]
    Row {
        id: String,
        row: usize,
        reason: String,
    },
}

/// The query and its parameters for `range`: the end day is included, so
/// rows are kept before the next day's midnight.
pub fn query(table: &str, range: DayRange) -> (String, Vec<SqlParameter>) {
    let mut conditions = Vec::new();
    let mut parameters = Vec::new();
    let parameter = |name: &str, day: NaiveDate| {
        SqlParameter::builder()
            .name(name)
            .value(day.to_string())
            .build()
            .expect("name and value are set")
    };
    if let Some(from) = range.from {
        conditions.push("invoice_date >= CAST(:from AS date)");
        parameters.push(parameter("from", from));
    }
    if let Some(to) = range.to {
        conditions.push("invoice_date < dateadd(day, 1, CAST(:to AS date))");
        parameters.push(parameter("to", to));
    }
    let mut sql = format!("SELECT trunc(invoice_date), line_id FROM {table}");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    (sql, parameters)
}

impl From<StatementError> for RedshiftError {
    fn from(error: StatementError) -> Self {
        match error {
            StatementError::Failed { id, status, error } => Self::Failed { id, status, error },
            StatementError::TimedOut { id, status, waited } => {
                Self::TimedOut { id, status, waited }
            }
            other => Self::Statement(other),
        }
    }
}

/// Every row of `table` in `range` as `(day, line id)`.
pub async fn read(
    client: &aws_sdk_redshiftdata::Client,
    target: &Target,
    table: &str,
    range: DayRange,
    wait: Wait,
) -> Result<Vec<Sighting>, RedshiftError> {
    let (sql, parameters) = query(table, range);
    let cluster = &target.cluster_identifier;
    let submitted = client
        .execute_statement()
        .cluster_identifier(cluster)
        .database(&target.database)
        .secret_arn(&target.secret_arn)
        .statement_name("provisioner reconcile")
        .sql(sql)
        .set_parameters((!parameters.is_empty()).then_some(parameters))
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk(
                format!("querying {table} on Redshift cluster {cluster} (Data API)"),
                e,
            )
        })?;
    let id = submitted.id().unwrap_or_default().to_string();
    let wait = redshift_statements::Wait {
        poll_interval: wait.poll_interval,
        max_wait: Some(wait.max_wait),
        deadline: None,
    };
    redshift_statements::wait_for(client, &id, &wait).await?;
    let mut lines = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .get_statement_result()
            .id(&id)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(format!("reading the result of Data API statement {id}"), e)
            })?;
        for record in page.records() {
            let row = |reason: &str| RedshiftError::Row {
                id: id.clone(),
                row: lines.len() + 1,
                reason: reason.to_string(),
            };
            let (Some(Field::StringValue(day)), Some(Field::StringValue(line_id))) =
                (record.first(), record.get(1))
            else {
                return Err(row("expected a date and a line id as strings"));
            };
            let day = day_of(day).ok_or_else(|| row(&format!("day {day:?} is not YYYY-MM-DD")))?;
            lines.push(Sighting::new(day, line_id.clone()));
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(lines);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_includes_the_whole_last_day_and_passes_days_as_parameters() {
        let range = DayRange {
            from: NaiveDate::from_ymd_opt(2010, 12, 1),
            to: NaiveDate::from_ymd_opt(2010, 12, 9),
        };
        let (sql, parameters) = query("public.transactions", range);
        assert_eq!(
            sql,
            "SELECT trunc(invoice_date), line_id FROM public.transactions WHERE invoice_date >= \
             CAST(:from AS date) AND invoice_date < dateadd(day, 1, CAST(:to AS date))"
        );
        let values: Vec<_> = parameters.iter().map(|p| (p.name(), p.value())).collect();
        assert_eq!(values, [("from", "2010-12-01"), ("to", "2010-12-09")]);
    }

    #[test]
    fn an_unbounded_range_queries_every_row() {
        let (sql, parameters) = query("public.transactions", DayRange::default());
        assert_eq!(
            sql,
            "SELECT trunc(invoice_date), line_id FROM public.transactions"
        );
        assert!(parameters.is_empty());
    }
}
