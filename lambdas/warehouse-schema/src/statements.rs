//! Running the schema's SQL through the Redshift Data API
//! ([`redshift_statements`]) before CloudFormation must be answered.
//!
//! `BatchExecuteStatement` runs its statements in one transaction, so a
//! failed view leaves the previous definitions in place; `DescribeStatement`
//! is polled until FINISHED, FAILED or ABORTED, never past a deadline.

use std::time::Duration;

use redshift_statements::{Target, Wait};
use tokio::time::Instant;

use crate::request::Properties;

/// Why the statements did not (or not provably) succeed: the Data API's
/// own errors as they are, and the ways a deadline ends the wait, told as
/// what they mean for a deployment.
#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    #[error(transparent)]
    DataApi(redshift_statements::StatementError),
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
    let target = Target {
        cluster_identifier: &target.cluster_identifier,
        database: &target.database,
        secret_arn: &target.secret_arn,
    };
    let wait = Wait {
        poll_interval,
        max_wait: None,
        deadline: Some(deadline),
    };
    // A call that hangs (network, throttling retries) must not outlive the
    // deadline either.
    let run = redshift_statements::run_batch(client, &target, statement_name, sqls, &wait);
    match tokio::time::timeout_at(deadline, run).await {
        Ok(outcome) => outcome.map_err(StatementError::from),
        Err(_) => Err(StatementError::NoAnswer),
    }
}

impl From<redshift_statements::StatementError> for StatementError {
    fn from(error: redshift_statements::StatementError) -> Self {
        match error {
            redshift_statements::StatementError::TimedOut { id, status, waited } => {
                StatementError::TimedOut { id, status, waited }
            }
            other => StatementError::DataApi(other),
        }
    }
}
