//! warehouse-schema: the CloudFormation custom resource that creates the
//! warehouse's schema at deploy time.
//!
//! The Warehouse stack declares a `Custom::` resource served by this
//! function. On Create and Update it runs, through the Redshift Data API
//! (one `BatchExecuteStatement`, one transaction, polled with
//! `DescribeStatement`), `CREATE TABLE IF NOT EXISTS public.transactions`
//! with the columns of `record::WAREHOUSE_COLUMNS` (what Firehose and
//! batch-import load), `public.transactions_staging` beside it (where
//! Firehose COPYs; batch-import merges it into the table by `line_id`) and,
//! for each of the analysts' views, `DROP VIEW IF
//! EXISTS` then `CREATE VIEW` ([`schema::VIEWS`]; the SQL is in `sql/*.sql`;
//! [`schema::create_statements`] says why not `CREATE OR REPLACE`), then
//! the database users of least privilege (owner, loader, reader) with the
//! passwords of their secrets and exactly their grants ([`users`]). On Delete it drops the
//! views and keeps the table and its data ([`schema::delete_statements`]
//! says why), and answers SUCCESS even when the drop fails, so a stack
//! deletion or rollback never sticks on a view.
//!
//! It always answers CloudFormation, by a PUT to the request's
//! `ResponseURL` ([`response`]): on success, on failed SQL (the Reason is
//! the Data API's error), on a malformed event, and before the Lambda
//! deadline when the Data API hangs, so a stack never waits an hour.
//!
//! Configuration is the resource's properties ([`request::Properties`]),
//! not environment variables, so that changing any of them re-runs the
//! DDL: `ClusterIdentifier`, `Database`, `SecretArn` (the master user's),
//! `OwnerSecretArn`, `LoaderSecretArn`, `ReaderSecretArn`, and an optional
//! `SchemaVersion` to force a re-run when only the SQL changed. The
//! physical resource id, `{ClusterIdentifier}/{Database}/public.transactions`,
//! is set on Create and kept on every Update (never a replacement). The
//! calls are those `policies/lambda-warehouse-schema.json.hbs` allows:
//! BatchExecuteStatement and DescribeStatement, and GetSecretValue of the
//! three users' secrets.

pub mod logins;
pub mod request;
pub mod response;
pub mod schema;
pub mod statements;
pub mod users;

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use request::{Properties, Request, RequestType};
pub use response::{Response, ResponseClient, SendError, Status};
use statements::StatementError;

/// The Lambda timeout the Warehouse stack gives this function
/// (`stacks/src/platform/warehouse.rs`).
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(300);

/// Longest a Data API call may take, the SDK's retries included. A call
/// only submits the statements or asks about them (the DDL runs on the
/// cluster), so it answers in well under a second; without a bound a
/// stalled call ran past [`Timing::deadline`] into the function's timeout,
/// and CloudFormation waited an hour for an answer that never came. With
/// it, a call started just before the work deadline still ends inside the
/// reserve kept to answer ([`Timing::response_reserve`]).
pub const DATA_API_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest one attempt may take, so the SDK can retry a stalled attempt
/// within [`DATA_API_CALL_TIMEOUT`].
pub const DATA_API_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(4);

/// The Data API client's timeouts.
pub fn timeout_config() -> aws_sdk_redshiftdata::config::timeout::TimeoutConfig {
    aws_sdk_redshiftdata::config::timeout::TimeoutConfig::builder()
        .operation_timeout(DATA_API_CALL_TIMEOUT)
        .operation_attempt_timeout(DATA_API_ATTEMPT_TIMEOUT)
        .build()
}

/// When to stop waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// When CloudFormation must have been answered: the Lambda deadline
    /// less a margin.
    pub deadline: Instant,
    /// Kept at the end for the answer itself (its retries included).
    pub response_reserve: Duration,
    /// Between two `DescribeStatement` calls.
    pub poll_interval: Duration,
}

impl Timing {
    /// The timing of an invocation with `left` before the Lambda deadline.
    pub fn for_invocation(left: Duration) -> Timing {
        Timing {
            // Lambda freezes the function at the deadline; stop short of it.
            deadline: Instant::now() + left.saturating_sub(Duration::from_secs(2)),
            response_reserve: Duration::from_secs(25),
            poll_interval: Duration::from_secs(2),
        }
    }
}

/// Why the invocation could not answer CloudFormation.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(
        "the event has no ResponseURL, so CloudFormation cannot be answered; is it a custom \
         resource request? (RequestType {request_type:?}, LogicalResourceId {logical_id:?})"
    )]
    NoResponseUrl {
        request_type: Option<String>,
        logical_id: Option<String>,
    },
    #[error("answering CloudFormation ({status:?}): {source}")]
    Send {
        status: Status,
        #[source]
        source: SendError,
    },
}

/// Handles one custom resource event and answers CloudFormation; returns
/// the response sent.
///
/// `Err` only when the answer could not be delivered (Lambda then retries
/// the event, and the statements are idempotent).
pub async fn handle(
    redshift_data: &aws_sdk_redshiftdata::Client,
    secrets: &aws_sdk_secretsmanager::Client,
    http: &ResponseClient,
    timing: &Timing,
    event: serde_json::Value,
) -> Result<Response, HandlerError> {
    let request = Request::from_event(&event);
    let Some(url) = request.response_url.clone() else {
        let error = HandlerError::NoResponseUrl {
            request_type: request.request_type,
            logical_id: request.logical_resource_id,
        };
        tracing::error!(error = %error, "cannot answer");
        return Err(error);
    };
    let work_deadline = timing
        .deadline
        .checked_sub(timing.response_reserve)
        .unwrap_or(timing.deadline)
        .max(Instant::now());
    let (status, reason, physical_id) = match act(
        redshift_data,
        secrets,
        &request,
        timing.poll_interval,
        work_deadline,
    )
    .await
    {
        Ok(Done {
            physical_id,
            warning,
        }) => (Status::Success, warning, physical_id),
        Err(Failure {
            physical_id,
            reason,
        }) => (Status::Failed, Some(reason), physical_id),
    };
    if let Some(reason) = &reason {
        tracing::warn!(?status, reason, "answering with a reason");
    }
    let response = Response {
        status,
        reason: reason.map(response::truncate_reason),
        physical_resource_id: physical_id,
        stack_id: request.stack_id.unwrap_or_default(),
        request_id: request.request_id.unwrap_or_default(),
        logical_resource_id: request.logical_resource_id.unwrap_or_default(),
        data: BTreeMap::from([("Table".to_owned(), schema::TABLE.to_owned())]),
    };
    http.send(&url, &response, timing.deadline)
        .await
        .map_err(|source| HandlerError::Send { status, source })?;
    tracing::info!(?status, "answered CloudFormation");
    Ok(response)
}

struct Done {
    physical_id: String,
    /// Said in the Reason of a SUCCESS (a Delete whose drop failed).
    warning: Option<String>,
}

struct Failure {
    physical_id: String,
    reason: String,
}

/// Does what the request asks; never panics on a malformed event.
async fn act(
    client: &aws_sdk_redshiftdata::Client,
    secrets: &aws_sdk_secretsmanager::Client,
    request: &Request,
    poll_interval: Duration,
    deadline: Instant,
) -> Result<Done, Failure> {
    let request_type = RequestType::parse(request.request_type.as_deref());
    let properties = Properties::from_value(&request.resource_properties);
    // Create sets the id; Update and Delete keep the one CloudFormation has.
    let physical_id = match (&request.physical_resource_id, &properties) {
        (Some(id), _) if request_type != Some(RequestType::Create) => id.clone(),
        (_, Ok(p)) => format!("{}/{}/{}", p.cluster_identifier, p.database, schema::TABLE),
        (_, Err(_)) => request
            .logical_resource_id
            .clone()
            .unwrap_or_else(|| "warehouse-schema".to_owned()),
    };
    let fail = |reason: String| Failure {
        physical_id: physical_id.clone(),
        reason,
    };
    let Some(request_type) = request_type else {
        return Err(fail(format!(
            "malformed custom resource request: RequestType {:?} is not Create, Update or Delete",
            request.request_type
        )));
    };
    let properties = match properties {
        Ok(properties) => properties,
        // A Delete of a resource whose Create failed on its properties:
        // there is nothing to remove.
        Err(error) if request_type == RequestType::Delete => {
            return Ok(Done {
                physical_id,
                warning: Some(format!(
                    "nothing dropped: the properties are unusable ({error})"
                )),
            });
        }
        Err(error) => {
            return Err(fail(format!(
                "malformed ResourceProperties: {error}; expected ClusterIdentifier, Database, \
                 SecretArn, OwnerSecretArn, LoaderSecretArn and ReaderSecretArn (strings)"
            )));
        }
    };
    let (sqls, name) = match request_type {
        RequestType::Create | RequestType::Update => {
            let users = logins::read(secrets, &properties, deadline)
                .await
                .map_err(|e| fail(response::chain(&e)))?;
            let mut sqls = schema::create_statements();
            sqls.extend(users::statements(&users));
            (sqls, "warehouse-schema create")
        }
        RequestType::Delete => (schema::delete_statements(), "warehouse-schema delete"),
    };
    let outcome = statements::run(client, &properties, name, sqls, poll_interval, deadline).await;
    match (outcome, request_type) {
        (Ok(()), _) => Ok(Done {
            physical_id,
            warning: None,
        }),
        (Err(error), RequestType::Delete) => {
            let reason = format!(
                "views not dropped (the table is kept either way): {}",
                chain(&error)
            );
            tracing::error!(reason, "delete answered SUCCESS anyway");
            Ok(Done {
                physical_id,
                warning: Some(reason),
            })
        }
        (Err(error), _) => Err(fail(chain(&error))),
    }
}

fn chain(error: &StatementError) -> String {
    response::chain(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stalled_data_api_call_ends_in_time_to_answer_cloudformation() {
        let config = timeout_config();
        assert_eq!(config.operation_timeout(), Some(DATA_API_CALL_TIMEOUT));
        assert_eq!(
            config.operation_attempt_timeout(),
            Some(DATA_API_ATTEMPT_TIMEOUT)
        );
        // A stalled attempt is retried within the call.
        assert!(DATA_API_ATTEMPT_TIMEOUT * 2 <= DATA_API_CALL_TIMEOUT);
        // A call started at the work deadline leaves most of the reserve
        // for the answer to CloudFormation.
        let timing = Timing::for_invocation(FUNCTION_TIMEOUT);
        assert_eq!(timing.response_reserve, Duration::from_secs(25));
        assert!(DATA_API_CALL_TIMEOUT * 2 <= timing.response_reserve);
    }
}
