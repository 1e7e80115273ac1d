//! The CloudFormation calls the engine makes, each with the action it
//! belongs to in its error, returning plain data. This is the engine's
//! interface to AWS; tests drive it with `aws-smithy-mocks`.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Capability, ChangeSetType, TemplateStage};

use super::error::{AwsError, AwsErrorKind, DeployError, FailedResource, Result};
use super::progress::Progress;
use super::status::{self, Phase};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackEvent {
    pub id: String,
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
    /// RFC 3339, UTC.
    pub timestamp: String,
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
    /// Failed without computing any change: for an update this is how
    /// CloudFormation says there is nothing to do.
    FailedEmpty {
        reason: String,
    },
    Failed {
        reason: String,
    },
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

    pub async fn create_change_set(
        &self,
        stack: &str,
        name: &str,
        create: bool,
        template: &TemplateSource,
    ) -> Result<ChangeSet> {
        let request = self
            .client
            .create_change_set()
            .stack_name(stack)
            .change_set_name(name)
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
    pub async fn wait_change_set(&self, stack: &str, arn: &str) -> Result<ChangeSetResult> {
        loop {
            let answer = self
                .client
                .describe_change_set()
                .change_set_name(arn)
                .send()
                .await
                .map_err(|e| {
                    AwsError::from_sdk(format!("waiting for the change set of {stack}"), e)
                })?;
            let status = answer.status().map(|s| s.as_str()).unwrap_or_default();
            let reason = answer.status_reason().unwrap_or_default().to_string();
            match status {
                "CREATE_COMPLETE" => return Ok(ChangeSetResult::Ready),
                "FAILED" if answer.changes().is_empty() => {
                    return Ok(ChangeSetResult::FailedEmpty { reason });
                }
                "FAILED" | "DELETE_COMPLETE" | "DELETE_FAILED" => {
                    return Ok(ChangeSetResult::Failed { reason });
                }
                _ => tokio::time::sleep(self.poll).await,
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
        let mut found = BTreeMap::new();
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
                    found.insert(id.to_string(), replacement.as_str().to_string());
                }
            }
            token = answer.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(found);
            }
        }
    }

    pub async fn execute_change_set(&self, stack: &str, arn: &str) -> Result<()> {
        self.client
            .execute_change_set()
            .change_set_name(arn)
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
    ) -> Result<String> {
        let request = self
            .client
            .create_stack()
            .stack_name(stack)
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
    pub async fn update_stack(&self, stack: &str, template: &TemplateSource) -> Result<()> {
        let request = self
            .client
            .update_stack()
            .stack_name(stack)
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

    pub async fn delete_stack(&self, stack: &str) -> Result<()> {
        self.client
            .delete_stack()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("deleting stack {stack}"), e))?;
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

    /// Waits for the operation started after event `baseline` to finish,
    /// streaming its events. `stack_id` addresses the stack even once it is
    /// deleted. Returns the final state, or `None` when the stack is gone.
    pub async fn wait_stack(
        &self,
        stack_name: &str,
        stack_id: &str,
        operation: &'static str,
        baseline: Option<String>,
        progress: &dyn Progress,
    ) -> Result<Option<StackState>> {
        let mut last_seen = baseline;
        let mut first_failure: Option<Box<FailedResource>> = None;
        loop {
            // A deleted stack is addressed by name here: `DescribeStacks` by
            // name answers "does not exist" once it is gone.
            let state = self.describe(stack_name).await?;
            let events = self.events_since(stack_id, last_seen.as_deref()).await?;
            for event in &events {
                if first_failure.is_none()
                    && status::resource_failed(&event.status)
                    && event.logical_id != stack_name
                {
                    first_failure = Some(Box::new(FailedResource {
                        logical_id: event.logical_id.clone(),
                        resource_type: event.resource_type.clone(),
                        status: event.status.clone(),
                        reason: event.reason.clone().unwrap_or_default(),
                    }));
                }
                progress.event(stack_name, event);
            }
            if let Some(newest) = events.last() {
                last_seen = Some(newest.id.clone());
            }
            let Some(state) = state else {
                if operation == "delete" {
                    return Ok(None);
                }
                return Err(DeployError::OperationFailed {
                    stack: stack_name.to_string(),
                    operation,
                    status: "DELETE_COMPLETE".to_string(),
                    first_failure,
                    reason: Some("the stack disappeared while it was deployed".to_string()),
                });
            };
            if state.phase() == Phase::Busy
                || (operation != "delete" && state.phase() == Phase::Review)
            {
                tokio::time::sleep(self.poll).await;
                continue;
            }
            if status::succeeded(&state.status) {
                return Ok(Some(state));
            }
            return Err(DeployError::OperationFailed {
                stack: stack_name.to_string(),
                operation,
                status: state.status.clone(),
                first_failure,
                reason: state.status_reason.clone(),
            });
        }
    }
}
