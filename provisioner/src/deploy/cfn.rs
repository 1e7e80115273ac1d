//! The CloudFormation calls the engine makes, each with the action it
//! belongs to in its error, returning plain data. This is the engine's
//! interface to AWS; tests drive it with `aws-smithy-mocks`.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetType, EventFilter, ResourceToImport, TemplateStage,
};

use super::error::{AwsError, AwsErrorKind, DeployError, Result};
use super::patience::Patience;
use super::progress::Progress;
use super::replacement::Replaced;
use super::status::{self, Phase};
use super::watch::Watch;

/// Polls that may read a final status no event of the operation confirms
/// before the wait gives up: stale reads last seconds, not minutes.
const MAX_UNCONFIRMED_POLLS: u32 = 150;

/// A stack as `DescribeStacks` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackState {
    pub id: String,
    pub name: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub termination_protection: bool,
    pub outputs: BTreeMap<String, String>,
}

impl StackState {
    pub fn phase(&self) -> Phase {
        status::phase(&self.status)
    }
}

/// One stack event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StackEvent {
    pub id: String,
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
    /// RFC 3339, UTC.
    pub timestamp: String,
    /// The token of the operation that caused it (see `token`).
    pub client_request_token: Option<String>,
    /// Set on the events of a hook's invocation.
    pub hook_type: Option<String>,
    pub hook_status: Option<String>,
    pub hook_status_reason: Option<String>,
}

/// Where a template is sent from: inline, or an S3 URL for templates over
/// the 51,200-byte inline limit.
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html>
#[derive(Debug, Clone)]
pub enum TemplateSource {
    Body(String),
    Url(String),
}

/// A created change set.
#[derive(Debug, Clone)]
pub struct ChangeSet {
    pub arn: String,
    pub stack_id: String,
}

/// A change set once CloudFormation has computed it.
#[derive(Debug, Clone)]
pub enum ChangeSetResult {
    /// Computed, with changes: ready to execute.
    Ready,
    /// Failed because the template changes nothing: how CloudFormation
    /// says an update has nothing to do.
    Empty { reason: String },
    /// Failed for any other reason (early validation, a hook, a missing
    /// capability): a failed change set never has changes, whatever the
    /// reason, so only the reason tells "empty" from "failed".
    Failed {
        reason: String,
        /// What `DescribeEvents` says about it, one per problem (early
        /// validation: the resource, the check and its reason).
        details: Vec<ChangeSetProblem>,
    },
}

/// One reason a change set failed, as `DescribeEvents` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeSetProblem {
    pub logical_id: String,
    pub resource_type: String,
    /// The early validation that failed, e.g. `NAME_CONFLICT_VALIDATION`.
    pub check: Option<String>,
    /// The existing resource's name, for a name conflict.
    pub physical_id: Option<String>,
    pub reason: String,
    /// Where in the template, e.g. `/Resources/LakeBucket`.
    pub path: Option<String>,
}

impl std::fmt::Display for ChangeSetProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.logical_id, self.resource_type)?;
        if let Some(check) = &self.check {
            write!(f, " {check}")?;
        }
        write!(f, ": {}", self.reason)?;
        if let Some(path) = &self.path {
            write!(f, " (at {path})")?;
        }
        Ok(())
    }
}

/// The status reasons of a change set that failed because it is empty.
/// CloudFormation gives no code for it; CDK decides on the same texts
/// (toolkit-lib `changeSetHasNoChanges`). The second comes with a
/// Transform (aws/aws-cdk#10650).
const EMPTY_CHANGE_SET_REASONS: [&str; 2] = [
    "The submitted information didn't contain changes.",
    "No updates are to be performed.",
];

/// Whether a `FAILED` change set failed only because it is empty.
pub fn is_empty_change_set(reason: &str) -> bool {
    EMPTY_CHANGE_SET_REASONS
        .iter()
        .any(|prefix| reason.starts_with(prefix))
}

/// For calls whose answer only adds detail (`DescribeEvents`,
/// `ListImports`): two attempts, not the full retries, so an endpoint
/// without the API (moto answers HTTP 500) costs a second, not a minute.
fn best_effort() -> aws_sdk_cloudformation::config::Builder {
    aws_sdk_cloudformation::config::Builder::default().retry_config(
        crate::aws::retry_config()
            .with_max_attempts(2)
            .with_initial_backoff(Duration::from_millis(200)),
    )
}

/// IAM capabilities our templates need: roles with names, and policies.
fn capabilities() -> Vec<Capability> {
    vec![Capability::CapabilityIam, Capability::CapabilityNamedIam]
}

#[derive(Debug, Clone)]
pub struct Cfn {
    client: Client,
    /// Time between two polls of a running operation.
    poll: Duration,
}

impl Cfn {
    pub fn new(client: Client, poll: Duration) -> Self {
        Self { client, poll }
    }

    /// The stack, or `None` when it does not exist. `DescribeStacks` answers
    /// `ValidationError` for a missing stack; our stack names are valid, so
    /// that code means "absent".
    pub async fn describe(&self, stack: &str) -> Result<Option<StackState>> {
        let answer = match self.client.describe_stacks().stack_name(stack).send().await {
            Ok(answer) => answer,
            Err(e) => {
                let e = AwsError::from_sdk(format!("looking up stack {stack}"), e);
                return match e.kind {
                    AwsErrorKind::Validation => Ok(None),
                    _ => Err(e.into()),
                };
            }
        };
        let Some(found) = answer.stacks().first() else {
            return Ok(None);
        };
        let state = StackState {
            id: found.stack_id().unwrap_or(stack).to_string(),
            name: found.stack_name().unwrap_or(stack).to_string(),
            status: found
                .stack_status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            status_reason: found.stack_status_reason().map(str::to_string),
            termination_protection: found.enable_termination_protection().unwrap_or(false),
            outputs: found
                .outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
                .collect(),
        };
        Ok((state.phase() != Phase::Deleted).then_some(state))
    }

    /// The template CloudFormation holds for a stack, as submitted.
    pub async fn template(&self, stack: &str) -> Result<Option<String>> {
        let answer = self
            .client
            .get_template()
            .stack_name(stack)
            .template_stage(TemplateStage::Original)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(format!("reading the deployed template of {stack}"), e)
            })?;
        Ok(answer.template_body().map(str::to_string))
    }

    /// `client_token` makes a retried call that already succeeded answer
    /// as the first did (see `token`).
    pub async fn create_change_set(
        &self,
        stack: &str,
        name: &str,
        create: bool,
        template: &TemplateSource,
        client_token: &str,
    ) -> Result<ChangeSet> {
        let request = self
            .client
            .create_change_set()
            .stack_name(stack)
            .change_set_name(name)
            .client_token(client_token)
            .change_set_type(if create {
                ChangeSetType::Create
            } else {
                ChangeSetType::Update
            })
            .set_capabilities(Some(capabilities()));
        let request = match template {
            TemplateSource::Body(body) => request.template_body(body),
            TemplateSource::Url(url) => request.template_url(url),
        };
        let answer = request
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("creating change set for {stack}"), e))?;
        Ok(ChangeSet {
            arn: answer.id().unwrap_or(name).to_string(),
            stack_id: answer.stack_id().unwrap_or(stack).to_string(),
        })
    }

    /// Polls the change set (by ARN: names are only unique per stack) until
    /// CloudFormation has computed it.
    /// A change set that brings existing resources under the stack
    /// (`IMPORT`): `imports` are (type, logical id, identifier property,
    /// physical name), and the template must hold only them.
    /// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-import-new-stack.html>
    pub async fn create_import_change_set(
        &self,
        stack: &str,
        name: &str,
        template_body: &str,
        imports: &[(&str, &str, &str, &str)],
        client_token: &str,
    ) -> Result<ChangeSet> {
        let mut request = self
            .client
            .create_change_set()
            .stack_name(stack)
            .change_set_name(name)
            .client_token(client_token)
            .change_set_type(ChangeSetType::Import)
            .set_capabilities(Some(capabilities()))
            .template_body(template_body);
        for (resource_type, logical_id, key, physical) in imports {
            request = request.resources_to_import(
                ResourceToImport::builder()
                    .resource_type(*resource_type)
                    .logical_resource_id(*logical_id)
                    .resource_identifier(*key, *physical)
                    .build(),
            );
        }
        let answer = request.send().await.map_err(|e| {
            AwsError::from_sdk(format!("creating the import change set for {stack}"), e)
        })?;
        Ok(ChangeSet {
            arn: answer.id().unwrap_or(name).to_string(),
            stack_id: answer.stack_id().unwrap_or(stack).to_string(),
        })
    }

    /// Throttling and a lost connection skip a poll (see `patience`).
    pub async fn wait_change_set(&self, stack: &str, arn: &str) -> Result<ChangeSetResult> {
        let mut patience = Patience::default();
        loop {
            let answer = match self
                .client
                .describe_change_set()
                .change_set_name(arn)
                .send()
                .await
            {
                Ok(answer) => answer,
                Err(e) => {
                    let error =
                        AwsError::from_sdk(format!("waiting for the change set of {stack}"), e)
                            .into();
                    match patience.skip(&error, self.poll) {
                        Some(pause) => {
                            tokio::time::sleep(pause).await;
                            continue;
                        }
                        None => return Err(error),
                    }
                }
            };
            patience.answered();
            let status = answer.status().map(|s| s.as_str()).unwrap_or_default();
            let reason = answer.status_reason().unwrap_or_default().to_string();
            match status {
                "CREATE_COMPLETE" => return Ok(ChangeSetResult::Ready),
                "FAILED" if is_empty_change_set(&reason) => {
                    return Ok(ChangeSetResult::Empty { reason });
                }
                "FAILED" | "DELETE_COMPLETE" | "DELETE_FAILED" => {
                    let details = self.change_set_problems(stack, arn).await;
                    return Ok(ChangeSetResult::Failed { reason, details });
                }
                _ => tokio::time::sleep(self.poll).await,
            }
        }
    }

    /// Why a change set failed, resource by resource: early validation
    /// (`The following hook(s)/validation failed:
    /// [AWS::EarlyValidation::ResourceExistenceCheck]`) names its findings
    /// only in `DescribeEvents`. Reading them is best effort: an identity
    /// without `cloudformation:DescribeEvents`, or an emulator without the
    /// API, still gets the change set's own reason.
    /// <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeEvents.html>
    async fn change_set_problems(&self, stack: &str, arn: &str) -> Vec<ChangeSetProblem> {
        let mut problems = Vec::new();
        let mut token = None;
        loop {
            let answer = match self
                .client
                .describe_events()
                .change_set_name(arn)
                .filters(EventFilter::builder().failed_events(true).build())
                .set_next_token(token)
                .customize()
                .config_override(best_effort())
                .send()
                .await
            {
                Ok(answer) => answer,
                Err(e) => {
                    let e = AwsError::from_sdk(
                        format!("reading why the change set of {stack} failed"),
                        e,
                    );
                    problems.push(ChangeSetProblem {
                        logical_id: "(no details)".to_string(),
                        resource_type: "DescribeEvents".to_string(),
                        reason: e.to_string(),
                        ..ChangeSetProblem::default()
                    });
                    return problems;
                }
            };
            for event in answer.operation_events() {
                let Some(reason) = event
                    .validation_status_reason()
                    .or(event.resource_status_reason())
                else {
                    continue;
                };
                problems.push(ChangeSetProblem {
                    logical_id: event.logical_resource_id().unwrap_or("?").to_string(),
                    resource_type: event.resource_type().unwrap_or("?").to_string(),
                    check: event.validation_name().map(str::to_string),
                    physical_id: event
                        .physical_resource_id()
                        .filter(|id| !id.is_empty())
                        .map(str::to_string),
                    reason: reason.to_string(),
                    path: event.validation_path().map(str::to_string),
                });
            }
            token = answer.next_token().map(str::to_string);
            if token.is_none() {
                return problems;
            }
        }
    }

    /// Replacement (`True`, `False`, `Conditional`) of each resource the
    /// change set modifies, by logical id.
    pub async fn change_set_replacements(
        &self,
        stack: &str,
        arn: &str,
    ) -> Result<BTreeMap<String, String>> {
        Ok(self
            .replaced_resources(stack, arn)
            .await?
            .into_iter()
            .map(|r| (r.logical_id, r.replacement))
            .collect())
    }

    /// Each resource the change set modifies, with its type and
    /// replacement.
    pub async fn replaced_resources(&self, stack: &str, arn: &str) -> Result<Vec<Replaced>> {
        let mut found = Vec::new();
        let mut token = None;
        loop {
            let answer = self
                .client
                .describe_change_set()
                .change_set_name(arn)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(format!("reading the change set of {stack}"), e))?;
            for change in answer.changes() {
                if let Some(resource) = change.resource_change()
                    && let (Some(id), Some(replacement)) =
                        (resource.logical_resource_id(), resource.replacement())
                {
                    found.push(Replaced {
                        logical_id: id.to_string(),
                        resource_type: resource.resource_type().unwrap_or_default().to_string(),
                        replacement: replacement.as_str().to_string(),
                    });
                }
            }
            token = answer.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(found);
            }
        }
    }

    /// `token` tags every event of the update (see `token`);
    /// `disable_rollback` keeps what was created or updated when a resource
    /// fails, so it can be fixed and deployed again.
    pub async fn execute_change_set(
        &self,
        stack: &str,
        arn: &str,
        token: &str,
        disable_rollback: bool,
    ) -> Result<()> {
        self.client
            .execute_change_set()
            .change_set_name(arn)
            .client_request_token(token)
            .disable_rollback(disable_rollback)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("executing the change set of {stack}"), e))?;
        Ok(())
    }

    pub async fn delete_change_set(&self, stack: &str, arn: &str) -> Result<()> {
        self.client
            .delete_change_set()
            .change_set_name(arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("deleting change set {arn} of {stack}"), e))?;
        Ok(())
    }

    /// `CreateStack` (the direct method); returns the stack id.
    pub async fn create_stack(
        &self,
        stack: &str,
        template: &TemplateSource,
        termination_protection: bool,
        token: &str,
    ) -> Result<String> {
        let request = self
            .client
            .create_stack()
            .stack_name(stack)
            .client_request_token(token)
            .set_capabilities(Some(capabilities()))
            .enable_termination_protection(termination_protection);
        let request = match template {
            TemplateSource::Body(body) => request.template_body(body),
            TemplateSource::Url(url) => request.template_url(url),
        };
        let answer = request
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("creating stack {stack}"), e))?;
        Ok(answer.stack_id().unwrap_or(stack).to_string())
    }

    /// `UpdateStack` (the direct method).
    pub async fn update_stack(
        &self,
        stack: &str,
        template: &TemplateSource,
        token: &str,
    ) -> Result<()> {
        let request = self
            .client
            .update_stack()
            .stack_name(stack)
            .client_request_token(token)
            .set_capabilities(Some(capabilities()));
        let request = match template {
            TemplateSource::Body(body) => request.template_body(body),
            TemplateSource::Url(url) => request.template_url(url),
        };
        request
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("updating stack {stack}"), e))?;
        Ok(())
    }

    pub async fn delete_stack(&self, stack: &str, token: &str) -> Result<()> {
        self.client
            .delete_stack()
            .stack_name(stack)
            .client_request_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("deleting stack {stack}"), e))?;
        Ok(())
    }

    /// Replaces the stack's policy.
    pub async fn set_stack_policy(&self, stack: &str, body: &str) -> Result<()> {
        self.client
            .set_stack_policy()
            .stack_name(stack)
            .stack_policy_body(body)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("setting the stack policy of {stack}"), e))?;
        Ok(())
    }

    pub async fn set_termination_protection(&self, stack: &str, enable: bool) -> Result<()> {
        self.client
            .update_termination_protection()
            .stack_name(stack)
            .enable_termination_protection(enable)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    format!(
                        "turning termination protection {} for {stack}",
                        if enable { "on" } else { "off" }
                    ),
                    e,
                )
            })?;
        Ok(())
    }

    /// Every resource of the stack: (logical id, type, physical id).
    pub async fn resources(&self, stack: &str) -> Result<Vec<(String, String, String)>> {
        let mut found = Vec::new();
        let mut token = None;
        loop {
            let answer = self
                .client
                .list_stack_resources()
                .stack_name(stack)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(format!("listing the resources of {stack}"), e))?;
            for r in answer.stack_resource_summaries() {
                if let Some(physical) = r.physical_resource_id() {
                    found.push((
                        r.logical_resource_id().unwrap_or_default().to_string(),
                        r.resource_type().unwrap_or_default().to_string(),
                        physical.to_string(),
                    ));
                }
            }
            token = answer.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(found);
            }
        }
    }

    /// The stacks that import `export`. CloudFormation answers
    /// `ValidationError` for an export no stack imports (and for one that
    /// does not exist): no importers either way.
    pub async fn importers(&self, export: &str) -> Result<Vec<String>> {
        let mut found = Vec::new();
        let mut token = None;
        loop {
            let answer = match self
                .client
                .list_imports()
                .export_name(export)
                .set_next_token(token)
                .customize()
                .config_override(best_effort())
                .send()
                .await
            {
                Ok(answer) => answer,
                Err(e) => {
                    let e = AwsError::from_sdk(format!("listing the importers of {export}"), e);
                    return match e.kind {
                        AwsErrorKind::Validation => Ok(found),
                        _ => Err(e.into()),
                    };
                }
            };
            found.extend(answer.imports().iter().cloned());
            token = answer.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(found);
            }
        }
    }

    /// The id of the newest event of the stack: events after it belong to
    /// the operation about to start.
    pub async fn newest_event(&self, stack: &str) -> Result<Option<String>> {
        let answer = self
            .client
            .describe_stack_events()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("reading the events of {stack}"), e))?;
        Ok(answer
            .stack_events()
            .first()
            .and_then(|e| e.event_id())
            .map(str::to_string))
    }

    /// Events newer than `after`, oldest first. Pages back (newest first)
    /// until `after` is seen.
    async fn events_since(&self, stack: &str, after: Option<&str>) -> Result<Vec<StackEvent>> {
        let mut newest_first = Vec::new();
        let mut token = None;
        'pages: loop {
            let answer = self
                .client
                .describe_stack_events()
                .stack_name(stack)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(format!("reading the events of {stack}"), e))?;
            for e in answer.stack_events() {
                let id = e.event_id().unwrap_or_default();
                if Some(id) == after {
                    break 'pages;
                }
                newest_first.push(StackEvent {
                    id: id.to_string(),
                    logical_id: e.logical_resource_id().unwrap_or_default().to_string(),
                    resource_type: e.resource_type().unwrap_or_default().to_string(),
                    status: e
                        .resource_status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    reason: e.resource_status_reason().map(str::to_string),
                    timestamp: e
                        .timestamp()
                        .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
                        .unwrap_or_default(),
                    client_request_token: e.client_request_token().map(str::to_string),
                    hook_type: e.hook_type().map(str::to_string),
                    hook_status: e.hook_status().map(|s| s.as_str().to_string()),
                    hook_status_reason: e.hook_status_reason().map(str::to_string),
                });
            }
            token = answer.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        newest_first.reverse();
        Ok(newest_first)
    }

    /// Waits for the operation started after event `baseline` with
    /// `token` (`None`: an operation someone else started) to finish,
    /// streaming its events. Returns the final state, or `None` when the
    /// stack is gone.
    ///
    /// `DescribeStacks` may answer from before the operation for a while
    /// (aws/aws-cdk#1802, #1848), so a final status counts only once this
    /// operation's own stack event reports it; for a delete only "gone" or
    /// `DELETE_COMPLETE` is success. Throttling and a lost connection skip
    /// polls (see `patience`); any error that ends the wait says the
    /// operation continues in CloudFormation.
    pub async fn wait_stack(
        &self,
        stack_name: &str,
        stack_id: &str,
        operation: &'static str,
        baseline: Option<String>,
        token: Option<&str>,
        progress: &dyn Progress,
    ) -> Result<Option<StackState>> {
        let lost = |cause: DeployError| DeployError::LostTrack {
            stack: stack_name.to_string(),
            operation,
            hint: cause.hint(),
            cause: cause.to_string(),
        };
        let mut watch = Watch::new(stack_name, token);
        let mut last_seen = baseline;
        let mut patience = Patience::default();
        let mut unconfirmed_polls = 0;
        loop {
            // By name, which answers "does not exist" once the stack is
            // deleted (by id, moto re-creates a deleted stack's resources
            // while rendering its outputs); a new stack of the same name is
            // told apart by its id.
            let described = self
                .describe(stack_name)
                .await
                .map(|state| state.filter(|s| s.id == stack_id || !stack_id.starts_with("arn:")));
            let polled = match described {
                Ok(state) => match self.events_since(stack_id, last_seen.as_deref()).await {
                    Ok(events) => Ok((state, events)),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            let (state, events) = match polled {
                Ok(polled) => polled,
                Err(e) => match patience.skip(&e, self.poll) {
                    Some(pause) => {
                        tokio::time::sleep(pause).await;
                        continue;
                    }
                    None => return Err(lost(e)),
                },
            };
            patience.answered();
            for event in &events {
                watch.see(event);
                progress.event(stack_name, event);
            }
            if let Some(newest) = events.last() {
                last_seen = Some(newest.id.clone());
            }
            let failed = |status: &str, reason: Option<String>| DeployError::OperationFailed {
                stack: stack_name.to_string(),
                operation,
                status: status.to_string(),
                first_failure: watch.first_failure().map(Box::new),
                reason: reason.or_else(|| watch.stack_reason().map(str::to_string)),
            };
            let concluded = watch.concluded();
            if operation == "delete" {
                match &state {
                    None => return Ok(None),
                    Some(_) if concluded == Some("DELETE_COMPLETE") => return Ok(None),
                    Some(state)
                        if state.phase() == Phase::DeleteFailed
                            && concluded == Some(state.status.as_str()) =>
                    {
                        return Err(failed(&state.status, state.status_reason.clone()));
                    }
                    Some(_) => {}
                }
            } else if let Some(state) = state.as_ref() {
                let running = matches!(state.phase(), Phase::Busy | Phase::Review);
                if !running && concluded == Some(state.status.as_str()) {
                    if status::succeeded(&state.status) {
                        self.report_left_behind(stack_name, &watch, progress);
                        return Ok(Some(state.clone()));
                    }
                    return Err(failed(&state.status, state.status_reason.clone()));
                }
            } else if watch.started() {
                return Err(failed(
                    "DELETE_COMPLETE",
                    Some("the stack disappeared while it was deployed".to_string()),
                ));
            }
            // Still running, or a final status (or absence) no event of this
            // operation confirms yet: a stale read.
            if state.as_ref().is_none_or(|s| s.phase() != Phase::Busy) {
                unconfirmed_polls += 1;
                if unconfirmed_polls > MAX_UNCONFIRMED_POLLS {
                    let status = state
                        .map(|s| s.status)
                        .unwrap_or_else(|| "that the stack does not exist".to_string());
                    return Err(DeployError::LostTrack {
                        stack: stack_name.to_string(),
                        operation,
                        cause: format!(
                            "CloudFormation keeps reporting {status}, but no event of this \
                             {operation} confirms it"
                        ),
                        hint: None,
                    });
                }
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// After a successful update: what CloudFormation could not delete
    /// (a replaced bucket that is not empty) is left behind, and said so
    /// (as CDK warns), since the stack no longer knows it.
    fn report_left_behind(&self, stack_name: &str, watch: &Watch, progress: &dyn Progress) {
        for orphan in watch.delete_failures() {
            progress.note(&format!(
                "{stack_name}: left behind {} ({}), which could not be deleted: {}; delete it \
                 by hand (the stack no longer manages it)",
                orphan.logical_id, orphan.resource_type, orphan.reason
            ));
        }
    }
}
