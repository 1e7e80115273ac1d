//! redshift-statements: running SQL through the Redshift Data API and
//! waiting for its outcome, shared by the functions that write to the
//! warehouse (batch-import's loads, warehouse-schema's DDL).
//!
//! A library, not a function: it has no `src/main.rs`, so the provisioner
//! never builds it as a Lambda asset. It knows the Data API only; each
//! caller turns [`StatementError`] into its own error, whose text says what
//! the failure means for that function (a file left in `incoming/`, a
//! deployment to retry).
//!
//! It also holds the merge of the staging table into the table the views
//! read ([`merge`]), the one statement list every path into the warehouse
//! (batch-import, `provisioner reimport`, the private warehouse's loader)
//! runs, so they cannot disagree on what "once" means.
//!
//! `BatchExecuteStatement` runs its statements in one transaction
//! (<https://docs.aws.amazon.com/redshift-data/latest/APIReference/API_BatchExecuteStatement.html>);
//! `DescribeStatement` is polled until FINISHED, FAILED or ABORTED, within
//! the limits of a [`Wait`].

pub mod login;
pub mod merge;

use std::time::Duration;

use aws_sdk_redshiftdata::error::DisplayErrorContext;
use aws_sdk_redshiftdata::types::StatusString;
use tokio::time::Instant;

/// The cluster, database and credentials the statements run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    pub cluster_identifier: &'a str,
    pub database: &'a str,
    /// The Secrets Manager secret holding the database user's credentials.
    pub secret_arn: &'a str,
}

/// How often and how long to wait for the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// Between two `DescribeStatement` calls.
    pub poll_interval: Duration,
    /// At most this long after the submission; `None`: only `deadline`.
    pub max_wait: Option<Duration>,
    /// Never polled at or past this instant; `None`: only `max_wait`.
    pub deadline: Option<Instant>,
}

impl Wait {
    /// When to stop polling a statement submitted at `started`.
    fn give_up(&self, started: Instant) -> Option<Instant> {
        let max_wait = self.max_wait.map(|wait| started + wait);
        match (max_wait, self.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Why the statements did not (or not provably) succeed.
#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    #[error(
        "submitting the statements to Redshift cluster {cluster} (database {database}): {detail}"
    )]
    Submit {
        cluster: String,
        database: String,
        detail: String,
    },
    #[error("asking the Data API about statement {id}: {detail}")]
    Describe { id: String, detail: String },
    /// FAILED or ABORTED; `error` is the statement's error, else the first
    /// failed sub-statement's (`{sub id}: {error}`).
    #[error("Data API statement {id} ended {status}: {error}")]
    Failed {
        id: String,
        status: String,
        error: String,
    },
    /// Still running when the [`Wait`] ran out; it may yet complete.
    #[error("Data API statement {id} was still {status} after {waited:?}")]
    TimedOut {
        id: String,
        status: String,
        waited: Duration,
    },
}

/// Runs `sqls` as one transaction (one `BatchExecuteStatement` named
/// `statement_name`) and polls until it ends or `wait` runs out.
pub async fn run_batch(
    client: &aws_sdk_redshiftdata::Client,
    target: &Target<'_>,
    statement_name: &str,
    sqls: Vec<String>,
    wait: &Wait,
) -> Result<(), StatementError> {
    let id = submit_batch(client, target, statement_name, sqls).await?;
    wait_for(client, &id, wait).await
}

/// Submits `sqls` as one transaction and returns the batch's id, without
/// waiting: for a caller that reads a sub-statement's result afterwards
/// (sub-statement `n`, from 1, is `{id}:{n}`).
pub async fn submit_batch(
    client: &aws_sdk_redshiftdata::Client,
    target: &Target<'_>,
    statement_name: &str,
    sqls: Vec<String>,
) -> Result<String, StatementError> {
    let submitted = client
        .batch_execute_statement()
        .cluster_identifier(target.cluster_identifier)
        .database(target.database)
        .secret_arn(target.secret_arn)
        .statement_name(statement_name)
        .set_sqls(Some(sqls))
        .send()
        .await
        .map_err(|error| StatementError::Submit {
            cluster: target.cluster_identifier.to_owned(),
            database: target.database.to_owned(),
            detail: DisplayErrorContext(&error).to_string(),
        })?;
    let id = submitted.id().unwrap_or_default().to_owned();
    tracing::debug!(id, statement_name, "submitted");
    Ok(id)
}

/// Polls statement `id`, submitted just now, until it is FINISHED (Ok),
/// FAILED or ABORTED, or `wait` runs out.
pub async fn wait_for(
    client: &aws_sdk_redshiftdata::Client,
    id: &str,
    wait: &Wait,
) -> Result<(), StatementError> {
    let id = id.to_owned();
    let started = Instant::now();
    let give_up = wait.give_up(started);
    loop {
        let described = client
            .describe_statement()
            .id(&id)
            .send()
            .await
            .map_err(|error| StatementError::Describe {
                id: id.clone(),
                detail: DisplayErrorContext(&error).to_string(),
            })?;
        let status = described.status();
        match status {
            Some(StatusString::Finished) => return Ok(()),
            Some(status @ (StatusString::Failed | StatusString::Aborted)) => {
                let failed_sub = described
                    .sub_statements()
                    .iter()
                    .find_map(|sub| sub.error().map(|e| (sub.id(), e)));
                let error = match (described.error(), failed_sub) {
                    (Some(error), _) => error.to_owned(),
                    (None, Some((sub, error))) => format!("{sub}: {error}"),
                    (None, None) => "no error message given".to_owned(),
                };
                return Err(StatementError::Failed {
                    id,
                    status: status.as_str().to_owned(),
                    error,
                });
            }
            _ => tracing::debug!(id, status = ?status, "still running"),
        }
        if give_up.is_some_and(|give_up| Instant::now() + wait.poll_interval >= give_up) {
            return Err(StatementError::TimedOut {
                id,
                status: status.map_or("UNKNOWN", StatusString::as_str).to_owned(),
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(wait.poll_interval).await;
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_redshiftdata::operation::batch_execute_statement::BatchExecuteStatementOutput;
    use aws_sdk_redshiftdata::operation::describe_statement::DescribeStatementOutput;
    use aws_sdk_redshiftdata::types::SubStatementData;
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

    use super::*;

    const TARGET: Target<'static> = Target {
        cluster_identifier: "retail-warehouse",
        database: "retail",
        secret_arn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:wh",
    };

    /// A Data API whose statement `batch-1` is described by `described`,
    /// one answer per call (the last one repeated).
    fn data_api(described: Vec<DescribeStatementOutput>) -> (aws_sdk_redshiftdata::Client, Rule) {
        let submit = mock!(aws_sdk_redshiftdata::Client::batch_execute_statement)
            .match_requests(|input| {
                input.cluster_identifier() == Some("retail-warehouse")
                    && input.database() == Some("retail")
                    && input.statement_name() == Some("test batch")
                    && input.sqls().len() == 2
            })
            .then_output(|| BatchExecuteStatementOutput::builder().id("batch-1").build());
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let describe = mock!(aws_sdk_redshiftdata::Client::describe_statement)
            .match_requests(|input| input.id() == Some("batch-1"))
            .then_compute_output(move |_| {
                let call = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                described[call.min(described.len() - 1)].clone()
            });
        let client = mock_client!(
            aws_sdk_redshiftdata,
            RuleMode::MatchAny,
            [&submit, &describe]
        );
        (client, describe)
    }

    fn status(status: StatusString) -> DescribeStatementOutput {
        DescribeStatementOutput::builder()
            .id("batch-1")
            .status(status)
            .build()
            .unwrap()
    }

    fn wait() -> Wait {
        Wait {
            poll_interval: Duration::from_millis(1),
            max_wait: Some(Duration::from_secs(5)),
            deadline: None,
        }
    }

    async fn run(client: &aws_sdk_redshiftdata::Client, wait: &Wait) -> Result<(), StatementError> {
        let sqls = vec!["SELECT 1".to_owned(), "SELECT 2".to_owned()];
        run_batch(client, &TARGET, "test batch", sqls, wait).await
    }

    #[tokio::test]
    async fn a_batch_is_polled_until_it_finishes() {
        let (client, describe) = data_api(vec![
            status(StatusString::Submitted),
            status(StatusString::Started),
            status(StatusString::Finished),
        ]);
        run(&client, &wait()).await.unwrap();
        assert_eq!(describe.num_calls(), 3);
    }

    #[tokio::test]
    async fn a_failed_batch_reports_the_failed_sub_statement_when_it_has_no_error_of_its_own() {
        let failed = DescribeStatementOutput::builder()
            .id("batch-1")
            .status(StatusString::Failed)
            .sub_statements(
                SubStatementData::builder()
                    .id("batch-1:2")
                    .error("ERROR: relation does not exist")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let (client, _) = data_api(vec![failed]);
        let error = run(&client, &wait()).await.unwrap_err().to_string();
        assert_eq!(
            error,
            "Data API statement batch-1 ended FAILED: batch-1:2: ERROR: relation does not exist"
        );
    }

    #[tokio::test]
    async fn an_aborted_batch_without_any_message_says_so() {
        let (client, _) = data_api(vec![status(StatusString::Aborted)]);
        let error = run(&client, &wait()).await.unwrap_err().to_string();
        assert_eq!(
            error,
            "Data API statement batch-1 ended ABORTED: no error message given"
        );
    }

    #[tokio::test]
    async fn a_batch_still_running_at_the_deadline_times_out_with_its_last_status() {
        let (client, _) = data_api(vec![status(StatusString::Started)]);
        let wait = Wait {
            poll_interval: Duration::from_millis(5),
            max_wait: None,
            deadline: Some(Instant::now() + Duration::from_millis(50)),
        };
        let error = run(&client, &wait).await.unwrap_err();
        assert!(
            matches!(&error, StatementError::TimedOut { id, status, .. }
                if id == "batch-1" && status == "STARTED"),
            "{error}"
        );
    }

    #[test]
    fn the_wait_ends_at_the_earlier_of_max_wait_and_deadline() {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(10);
        let mut wait = Wait {
            poll_interval: Duration::from_secs(1),
            max_wait: Some(Duration::from_secs(300)),
            deadline: Some(deadline),
        };
        assert_eq!(wait.give_up(started), Some(deadline));
        wait.max_wait = Some(Duration::from_secs(3));
        assert_eq!(
            wait.give_up(started),
            Some(started + Duration::from_secs(3))
        );
        wait.deadline = None;
        assert_eq!(
            wait.give_up(started),
            Some(started + Duration::from_secs(3))
        );
        wait.max_wait = None;
        assert_eq!(wait.give_up(started), None);
    }
}
