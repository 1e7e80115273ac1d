//! Replacing a data store deletes its data: CloudFormation creates the new
//! resource and deletes the old one in cleanup. `diff` shows a change set's
//! `Replacement`; deploy reads it again just before executing and asks
//! (per `--require-approval`) when a table, bucket, stream, delivery
//! stream, secret or cluster would be replaced. `Conditional` counts: it
//! means CloudFormation decides during the update.
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ResourceChange.html>

use std::sync::Mutex;

use super::approval::Prompt;
use super::error::{DeployError, Result};
use super::progress::Progress;

/// Resource types whose replacement loses data.
pub const DATA_STORES: [&str; 8] = [
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::Kinesis::Stream",
    "AWS::KinesisFirehose::DeliveryStream",
    "AWS::SecretsManager::Secret",
    "AWS::Redshift::Cluster",
    "AWS::RDS::DBCluster",
    "AWS::RDS::DBInstance",
];

/// The stack policy of a protected (prod) stack: any update may run except
/// one that replaces a data store, which CloudFormation then refuses even
/// when approved here. Replacing one in prod takes a deliberate
/// `aws cloudformation set-stack-policy` first.
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/protect-stack-resources.html>
pub fn protected_stack_policy() -> String {
    serde_json::json!({
        "Statement": [
            {"Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Action": "Update:Replace",
                "Principal": "*",
                "Resource": "*",
                "Condition": {"StringEquals": {"ResourceType": DATA_STORES}}
            }
        ]
    })
    .to_string()
}

/// A resource a change set modifies, with its `Replacement`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaced {
    pub logical_id: String,
    pub resource_type: String,
    /// `True`, `False` or `Conditional`.
    pub replacement: String,
}

impl std::fmt::Display for Replaced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}) replacement {}",
            self.logical_id, self.resource_type, self.replacement
        )
    }
}

/// The data stores among `changes` that are or may be replaced.
pub fn data_stores_replaced(changes: &[Replaced]) -> Vec<Replaced> {
    changes
        .iter()
        .filter(|c| DATA_STORES.contains(&c.resource_type.as_str()))
        .filter(|c| matches!(c.replacement.as_str(), "True" | "Conditional"))
        .cloned()
        .collect()
}

/// Decides whether a change set that replaces data stores may run.
pub trait ReplacementGate: std::fmt::Debug {
    fn approve(&self, stack: &str, replaced: &[Replaced]) -> Result<()>;
}

/// Asks the user; without a terminal, refuses.
pub struct PromptGate<'a> {
    prompt: Mutex<&'a mut dyn Prompt>,
    progress: &'a dyn Progress,
}

impl std::fmt::Debug for PromptGate<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PromptGate")
    }
}

impl<'a> PromptGate<'a> {
    pub fn new(prompt: &'a mut dyn Prompt, progress: &'a dyn Progress) -> Self {
        Self {
            prompt: Mutex::new(prompt),
            progress,
        }
    }
}

impl ReplacementGate for PromptGate<'_> {
    fn approve(&self, stack: &str, replaced: &[Replaced]) -> Result<()> {
        let changes = format!(
            "replacing {}",
            replaced
                .iter()
                .map(Replaced::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut prompt = self.prompt.lock().unwrap_or_else(|e| e.into_inner());
        if !prompt.interactive() {
            return Err(DeployError::ApprovalNeedsTerminal {
                stack: stack.to_string(),
                changes,
            });
        }
        let question = format!("{stack}: {changes} deletes their data. Deploy?");
        let mut answer = Ok(false);
        self.progress
            .suspend(&mut || answer = prompt.confirm(&question));
        match answer {
            Ok(true) => Ok(()),
            _ => Err(DeployError::NotApproved {
                stack: stack.to_string(),
                changes,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(id: &str, kind: &str, replacement: &str) -> Replaced {
        Replaced {
            logical_id: id.into(),
            resource_type: kind.into(),
            replacement: replacement.into(),
        }
    }

    #[test]
    fn a_data_store_that_is_or_may_be_replaced_needs_approval_other_resources_do_not() {
        let changes = [
            change("Cluster", "AWS::Redshift::Cluster", "True"),
            change("Table", "AWS::DynamoDB::Table", "Conditional"),
            change("Lake", "AWS::S3::Bucket", "False"),
            change("Role", "AWS::IAM::Role", "True"),
        ];
        let ids: Vec<String> = data_stores_replaced(&changes)
            .into_iter()
            .map(|c| c.logical_id)
            .collect();
        assert_eq!(ids, ["Cluster", "Table"]);
    }
}
