//! What the events of one stack operation say: whether it has finished
//! (believed only from this operation's own stack event, since
//! `DescribeStacks` is eventually consistent right after `ExecuteChangeSet`
//! and `DeleteStack`: aws/aws-cdk#1802, #1848), the first failure worth
//! naming, and what an update left behind.
//!
//! An event is this operation's when it carries the operation's client
//! request token. Events without any token (emulators record none) are
//! taken as this operation's: the baseline already excludes older ones.

use std::collections::BTreeMap;

use super::cfn::StackEvent;
use super::error::FailedResource;
use super::status::{self, Phase};

const STACK_TYPE: &str = "AWS::CloudFormation::Stack";

/// The events of one operation seen so far.
#[derive(Debug, Clone)]
pub struct Watch {
    stack_name: String,
    token: Option<String>,
    /// Whether any event of this operation has been seen.
    started: bool,
    /// The status of this operation's latest stack event, when it is final.
    concluded: Option<String>,
    first_failure: Option<FailedResource>,
    /// A failure CloudFormation caused itself by cancelling a resource
    /// after another failed: named only when nothing else failed.
    first_cancelled: Option<FailedResource>,
    /// Why the stack itself failed or rolled back (e.g. an export in use),
    /// for failures no resource event explains.
    stack_reason: Option<String>,
    /// What failed hooks said, by logical id: the resource's own event only
    /// says "The following hook(s) failed".
    hook_reasons: BTreeMap<String, String>,
    /// Resources whose deletion failed (a replaced bucket that is not
    /// empty): after a successful update they are left behind.
    delete_failures: Vec<FailedResource>,
}

impl Watch {
    /// Watches the operation on `stack_name` started with `token` (`None`:
    /// not started by us, any event counts).
    pub fn new(stack_name: &str, token: Option<&str>) -> Self {
        Self {
            stack_name: stack_name.to_string(),
            token: token.map(str::to_string),
            started: false,
            concluded: None,
            first_failure: None,
            first_cancelled: None,
            stack_reason: None,
            hook_reasons: BTreeMap::new(),
            delete_failures: Vec::new(),
        }
    }

    fn is_own(&self, event: &StackEvent) -> bool {
        match (&self.token, &event.client_request_token) {
            (Some(ours), Some(theirs)) => ours == theirs,
            _ => true,
        }
    }

    /// Takes in one event (oldest first).
    pub fn see(&mut self, event: &StackEvent) {
        if !self.is_own(event) {
            return;
        }
        self.started = true;
        let failed = status::resource_failed(&event.status);
        let reason = event.reason.clone().unwrap_or_default();
        if event.resource_type == STACK_TYPE && event.logical_id == self.stack_name {
            self.concluded = match status::phase(&event.status) {
                Phase::Busy | Phase::Review => None,
                _ => Some(event.status.clone()),
            };
            let rolling_back = event.status.ends_with("ROLLBACK_IN_PROGRESS");
            if (failed || rolling_back) && !reason.is_empty() && self.stack_reason.is_none() {
                self.stack_reason = Some(reason);
            }
            return;
        }
        if let Some(hook_reason) = event
            .hook_status_reason
            .as_deref()
            .filter(|_| hook_failed(event.hook_status.as_deref()))
        {
            let hook = event.hook_type.as_deref().unwrap_or("hook");
            self.hook_reasons
                .entry(event.logical_id.clone())
                .or_insert_with(|| format!("{hook}: {hook_reason}"));
        }
        if !failed {
            return;
        }
        let failure = FailedResource {
            logical_id: event.logical_id.clone(),
            resource_type: event.resource_type.clone(),
            status: event.status.clone(),
            reason,
        };
        if event.status == "DELETE_FAILED" {
            self.delete_failures.push(failure.clone());
        }
        // CloudFormation's words for a resource it stopped because another
        // failed; it gives no code for it (CDK matches the same text:
        // toolkit-lib `isCancellationEvent`).
        let slot = if failure.reason.contains("cancelled") {
            &mut self.first_cancelled
        } else {
            &mut self.first_failure
        };
        slot.get_or_insert(failure);
    }

    /// Whether an event of this operation has been seen: before that, a
    /// stack that "does not exist" may be a read from before it did.
    pub fn started(&self) -> bool {
        self.started
    }

    /// The final status this operation's own stack event reported.
    pub fn concluded(&self) -> Option<&str> {
        self.concluded.as_deref()
    }

    /// The failure to name: the first resource that failed for a reason of
    /// its own (with what its hook said), else the first cancelled one.
    pub fn first_failure(&self) -> Option<FailedResource> {
        let mut failure = self
            .first_failure
            .clone()
            .or_else(|| self.first_cancelled.clone())?;
        if let Some(hook) = self.hook_reasons.get(&failure.logical_id) {
            failure.reason = if failure.reason.is_empty() {
                hook.clone()
            } else {
                format!("{} ({hook})", failure.reason)
            };
        }
        Some(failure)
    }

    pub fn stack_reason(&self) -> Option<&str> {
        self.stack_reason.as_deref()
    }

    /// Resources whose deletion failed during this operation.
    pub fn delete_failures(&self) -> &[FailedResource] {
        &self.delete_failures
    }
}

/// Hook statuses that report a failed hook.
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackEvent.html>
fn hook_failed(status: Option<&str>) -> bool {
    matches!(status, Some("HOOK_COMPLETE_FAILED" | "HOOK_FAILED"))
}
