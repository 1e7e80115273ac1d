//! The per-stack state machine: look the stack up, clear what blocks it
//! (a failed first create), create and wait for a change set (or call
//! create/update directly), treat an empty change set as no-op, execute,
//! stream events, wait, fix termination protection.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::cfn::{Cfn, ChangeSetResult, StackState, TemplateSource};
use super::error::{DeployError, Result};
use super::progress::Progress;
use super::replacement::{ReplacementGate, data_stores_replaced, protected_stack_policy};
use super::status::Phase;

/// How stacks are created and updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Method {
    /// Change sets, executed by ARN: CloudFormation's reviewed path.
    #[default]
    ChangeSet,
    /// `CreateStack` / `UpdateStack`, for endpoints whose change sets are
    /// incomplete (emulators).
    Direct,
}

/// What a deploy did to a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    /// CloudFormation found nothing to change.
    NoChanges,
}

/// A stack to deploy.
#[derive(Debug, Clone)]
pub struct StackRequest {
    pub name: String,
    pub template: TemplateSource,
    pub termination_protection: bool,
    /// Resources in the template, for progress.
    pub resources: Option<usize>,
    /// Each export of the template with the logical ids its value is made
    /// of (`exports::exported_resources`): an update that replaces one of
    /// them while the export is imported is refused before it runs.
    pub exported: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Debug)]
pub struct Engine<'a> {
    pub cfn: &'a Cfn,
    pub progress: &'a dyn Progress,
    pub method: Method,
    /// Name of the change sets this run creates (unique per run; change
    /// sets are then addressed by ARN). It also makes this run's
    /// idempotency tokens (see `token`).
    pub change_set_name: String,
    /// Asked before executing a change set that replaces a data store;
    /// `None`: never asked (`--require-approval never`).
    pub replacement_gate: Option<&'a dyn ReplacementGate>,
    /// `--no-rollback`: CloudFormation's `DisableRollback`.
    pub disable_rollback: bool,
}

impl Engine<'_> {
    /// Brings the stack to the requested template; returns what it did and
    /// the stack's final state (with outputs).
    pub async fn deploy(&self, request: &StackRequest) -> Result<(Outcome, StackState)> {
        let result = self.deploy_stack(request).await;
        if result.is_err() {
            self.progress.stack_finished(&request.name, "failed");
        }
        result
    }

    async fn deploy_stack(&self, request: &StackRequest) -> Result<(Outcome, StackState)> {
        let name = request.name.as_str();
        let started = Instant::now();
        let mut replaced_failed_create = false;
        let current = match self.cfn.describe(name).await? {
            None => None,
            Some(state) => match state.phase() {
                Phase::Busy => {
                    return Err(DeployError::Busy {
                        stack: name.to_string(),
                        status: state.status,
                    });
                }
                Phase::UpdateRollbackFailed => {
                    return Err(DeployError::UpdateRollbackFailed {
                        stack: name.to_string(),
                        status: state.status,
                    });
                }
                Phase::DeleteFailed => {
                    return Err(DeployError::Unrecoverable {
                        stack: name.to_string(),
                        status: state.status,
                        reason: state.status_reason,
                    });
                }
                Phase::FailedCreate => {
                    self.progress.stack_started(
                        name,
                        &format!(
                            "deleting (its first create failed: {}) before creating it again",
                            state.status
                        ),
                        None,
                    );
                    self.delete(&state).await?;
                    replaced_failed_create = true;
                    None
                }
                Phase::Review if self.method == Method::Direct => {
                    // An unexecuted change set's stack holds no resource,
                    // but blocks `CreateStack` with its name.
                    self.delete(&state).await?;
                    None
                }
                Phase::Review | Phase::Stable | Phase::UpdateFailed => Some(state),
                Phase::Deleted => None,
            },
        };
        let create = current
            .as_ref()
            .is_none_or(|state| state.phase() == Phase::Review);
        self.progress.stack_started(
            name,
            if create { "creating" } else { "updating" },
            request.resources,
        );
        let deployed = match self.method {
            Method::ChangeSet => self.through_change_set(request, create).await,
            Method::Direct => self.directly(request, current.as_ref()).await,
        };
        let (outcome, mut state) = deployed.map_err(|e| match e {
            // Deleting the failed first create already changed the account:
            // a later configuration error is no "nothing was changed".
            DeployError::Aws(cause)
                if replaced_failed_create
                    && cause.exit_code() == crate::failure::ExitCode::Usage =>
            {
                DeployError::AfterChange {
                    stack: name.to_string(),
                    done: "deleted (its first create had failed)",
                    hint: cause.hint().map(str::to_string),
                    cause: cause.to_string(),
                }
            }
            other => other,
        })?;
        // The stack has changed: a failure from here on is not "nothing
        // was changed".
        let after_change = |cause: DeployError| DeployError::AfterChange {
            stack: name.to_string(),
            done: "deployed",
            hint: cause.hint(),
            cause: cause.to_string(),
        };
        if state.termination_protection != request.termination_protection {
            self.cfn
                .set_termination_protection(name, request.termination_protection)
                .await
                .map_err(after_change)?;
            state.termination_protection = request.termination_protection;
        }
        if request.termination_protection && outcome != Outcome::NoChanges {
            self.cfn
                .set_stack_policy(name, &protected_stack_policy())
                .await
                .map_err(after_change)?;
        }
        let elapsed = started.elapsed().as_secs_f64();
        self.progress.stack_finished(
            name,
            &match outcome {
                Outcome::Created => format!("created in {elapsed:.1}s"),
                Outcome::Updated => format!("updated in {elapsed:.1}s"),
                Outcome::NoChanges => "no changes".to_string(),
            },
        );
        if self.method == Method::ChangeSet
            && outcome != Outcome::NoChanges
            && !request.exported.is_empty()
            && state.outputs.is_empty()
        {
            // CloudFormation always sets them: an emulator's change sets
            // (moto's) do not, and the stacks importing from this one
            // would fail far from the cause.
            self.progress.note(&format!(
                "{name}: its change set left it without outputs or exports (an emulator \
                 such as moto): stacks importing from it will fail; on such an endpoint \
                 deploy with --method direct"
            ));
        }
        Ok((outcome, state))
    }

    async fn through_change_set(
        &self,
        request: &StackRequest,
        create: bool,
    ) -> Result<(Outcome, StackState)> {
        let name = request.name.as_str();
        let change_set = self
            .cfn
            .create_change_set(
                name,
                &self.change_set_name,
                create,
                &request.template,
                &self.token("create", name),
            )
            .await?;
        match self.cfn.wait_change_set(name, &change_set.arn).await? {
            ChangeSetResult::Ready => {}
            ChangeSetResult::Empty { reason } if !create => {
                self.cfn.delete_change_set(name, &change_set.arn).await?;
                self.progress
                    .note(&format!("{name}: no changes (CloudFormation: {reason})"));
                let state = self
                    .cfn
                    .describe(name)
                    .await?
                    .ok_or_else(|| vanished(name))?;
                return Ok((Outcome::NoChanges, state));
            }
            ChangeSetResult::Empty { reason } => {
                return Err(DeployError::ChangeSetFailed {
                    stack: name.to_string(),
                    reason,
                    details: Vec::new(),
                });
            }
            ChangeSetResult::Failed { reason, details } => {
                return Err(DeployError::ChangeSetFailed {
                    stack: name.to_string(),
                    reason,
                    details,
                });
            }
        }
        if !create
            && (self.replacement_gate.is_some() || !request.exported.is_empty())
            && let Err(refused) = self.check_replacements(request, &change_set.arn).await
        {
            self.cfn.delete_change_set(name, &change_set.arn).await?;
            return Err(refused);
        }
        let baseline = self.cfn.newest_event(&change_set.stack_id).await?;
        let token = self.token("exec", name);
        self.cfn
            .execute_change_set(name, &change_set.arn, &token, self.disable_rollback)
            .await?;
        let operation = if create { "create" } else { "update" };
        let state = self
            .cfn
            .wait_stack(
                name,
                &change_set.stack_id,
                operation,
                baseline,
                Some(&token),
                self.progress,
            )
            .await?
            .ok_or_else(|| vanished(name))?;
        Ok((
            if create {
                Outcome::Created
            } else {
                Outcome::Updated
            },
            state,
        ))
    }

    async fn directly(
        &self,
        request: &StackRequest,
        current: Option<&StackState>,
    ) -> Result<(Outcome, StackState)> {
        let name = request.name.as_str();
        let (outcome, stack_id, baseline, token) = match current {
            None => {
                let token = self.token("create", name);
                let id = self
                    .cfn
                    .create_stack(
                        name,
                        &request.template,
                        request.termination_protection,
                        &token,
                    )
                    .await?;
                (Outcome::Created, id, None, token)
            }
            Some(state) => {
                let baseline = self.cfn.newest_event(&state.id).await?;
                let token = self.token("update", name);
                self.cfn
                    .update_stack(name, &request.template, &token)
                    .await?;
                (Outcome::Updated, state.id.clone(), baseline, token)
            }
        };
        let operation = match outcome {
            Outcome::Created => "create",
            _ => "update",
        };
        let state = self
            .cfn
            .wait_stack(
                name,
                &stack_id,
                operation,
                baseline,
                Some(&token),
                self.progress,
            )
            .await?
            .ok_or_else(|| vanished(name))?;
        Ok((outcome, state))
    }

    /// Deletes a stack and waits until it is gone, streaming its events.
    /// A stack already being deleted is only waited for.
    pub async fn delete(&self, state: &StackState) -> Result<()> {
        let baseline = self.cfn.newest_event(&state.id).await?;
        let token = if state.phase() == Phase::Busy {
            None
        } else {
            let token = self.token("delete", &state.name);
            // By id: the name may already belong to another stack.
            self.cfn.delete_stack(&state.id, &token).await?;
            Some(token)
        };
        self.cfn
            .wait_stack(
                &state.name,
                &state.id,
                "delete",
                baseline,
                token.as_deref(),
                self.progress,
            )
            .await?;
        Ok(())
    }

    /// What the change set replaces, before it runs: an exported value
    /// that others import cannot change (CloudFormation would fail the
    /// update: "Export ... cannot be updated as it is in use by ..."), and
    /// data stores need the gate's approval.
    async fn check_replacements(&self, request: &StackRequest, arn: &str) -> Result<()> {
        let name = request.name.as_str();
        let changes = self.cfn.replaced_resources(name, arn).await?;
        for (export, resources) in &request.exported {
            let replaced = changes
                .iter()
                .any(|c| c.replacement == "True" && resources.contains(&c.logical_id));
            if !replaced {
                continue;
            }
            // Best effort: CloudFormation itself refuses the update safely.
            let importers = match self.cfn.importers(export).await {
                Ok(importers) => importers,
                Err(e) => {
                    self.progress.note(&format!(
                        "{name}: could not check who imports {export} ({e})"
                    ));
                    continue;
                }
            };
            if !importers.is_empty() {
                return Err(DeployError::ExportInUse {
                    producer: name.to_string(),
                    export: export.clone(),
                    removed: false,
                    importers,
                });
            }
        }
        if let Some(gate) = self.replacement_gate {
            let replaced = data_stores_replaced(&changes);
            if !replaced.is_empty() {
                gate.approve(name, &replaced)?;
            }
        }
        Ok(())
    }

    /// This run's idempotency token for `action` on `stack`.
    pub fn token(&self, action: &str, stack: &str) -> String {
        super::token::for_operation(action, stack, &self.change_set_name)
    }

    /// Deletes the stack named `name` if it exists. A missing stack is
    /// already destroyed; a stack being deleted is waited for.
    pub async fn destroy(&self, name: &str) -> Result<DestroyOutcome> {
        let Some(state) = self.cfn.describe(name).await? else {
            return Ok(DestroyOutcome::AlreadyGone);
        };
        if state.termination_protection {
            return Err(DeployError::TerminationProtected {
                stack: name.to_string(),
            });
        }
        if state.phase() == Phase::Busy && state.status != "DELETE_IN_PROGRESS" {
            return Err(DeployError::Busy {
                stack: name.to_string(),
                status: state.status,
            });
        }
        self.progress.stack_started(name, "deleting", None);
        let started = Instant::now();
        if let Err(e) = self.delete(&state).await {
            self.progress.stack_finished(name, "failed");
            return Err(e);
        }
        self.progress.stack_finished(
            name,
            &format!("deleted in {:.1}s", started.elapsed().as_secs_f64()),
        );
        Ok(DestroyOutcome::Deleted)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestroyOutcome {
    Deleted,
    AlreadyGone,
}

fn vanished(stack: &str) -> DeployError {
    DeployError::OperationFailed {
        stack: stack.to_string(),
        operation: "deploy",
        status: "DELETE_COMPLETE".to_string(),
        first_failure: None,
        reason: Some("the stack was deleted by someone else during the deploy".to_string()),
    }
}
