//! Running SQL through the Redshift Data API and waiting for the outcome.
//!
//! `BatchExecuteStatement` runs its statements in one transaction, so a
//! failed view leaves the previous definitions in place; `DescribeStatement`
//! is polled until FINISHED, FAILED or ABORTED, never past a deadline.

use std::time::Duration;

use aws_sdk_redshiftdata::error::DisplayErrorContext;
use aws_sdk_redshiftdata::types::StatusString;
use lambda_runtime::tracing;
use tokio::time::Instant;

use crate::request::Properties;

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
    #[error("Data API statement {id} ended {status}: {error}")]
    Failed {
        id: String,
        status: String,
        error: String,
    },
    #[error(
        "Data API statement {id} was still {status} when the function had to answer \
         CloudFormation (waited {waited:?}); it may still complete; the statements are \
         idempotent, so retrying the deployment is safe"
    )]
    TimedOut {
        id: String,
        status: String,
        waited: Duration,
    },
    #[error("the Data API did not answer before the function had to answer CloudFormation")]
    NoAnswer,
}

/// Runs `sqls` as one transaction and waits for it until `deadline`.
pub async fn run(
    client: &aws_sdk_redshiftdata::Client,
    target: &Properties,
    statement_name: &str,
    sqls: Vec<String>,
    poll_interval: Duration,
    deadline: Instant,
) -> Result<(), StatementError> {
    // A call that hangs (network, throttling retries) must not outlive the
    // deadline either.
    tokio::time::timeout_at(
        deadline,
        run_until(
            client,
            target,
            statement_name,
            sqls,
            poll_interval,
            deadline,
        ),
    )
    .await
    .unwrap_or(Err(StatementError::NoAnswer))
}

async fn run_until(
    client: &aws_sdk_redshiftdata::Client,
    target: &Properties,
    statement_name: &str,
    sqls: Vec<String>,
    poll_interval: Duration,
    deadline: Instant,
) -> Result<(), StatementError> {
    let submitted = client
        .batch_execute_statement()
        .cluster_identifier(&target.cluster_identifier)
        .database(&target.database)
        .secret_arn(&target.secret_arn)
        .statement_name(statement_name)
        .set_sqls(Some(sqls))
        .send()
        .await
        .map_err(|error| StatementError::Submit {
            cluster: target.cluster_identifier.clone(),
            database: target.database.clone(),
            detail: DisplayErrorContext(&error).to_string(),
        })?;
    let id = submitted.id().unwrap_or_default().to_owned();
    let started = Instant::now();
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
            _ => tracing::debug!(id, status = ?status, "statements still running"),
        }
        if Instant::now() + poll_interval >= deadline {
            return Err(StatementError::TimedOut {
                id,
                status: status.map_or("UNKNOWN", StatusString::as_str).to_owned(),
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(poll_interval).await;
    }
}
