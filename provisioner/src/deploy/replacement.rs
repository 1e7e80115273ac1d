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

/// What replacing a data store of `resource_type` does to the data, in the
/// words a data engineer needs before saying yes.
pub fn consequence(resource_type: &str) -> &'static str {
    match resource_type {
        // A new delivery stream reads its Kinesis source from the latest
        // position: what arrives while the old one is deleted and the new
        // one starts is never delivered.
        // <https://docs.aws.amazon.com/firehose/latest/dev/writing-with-kinesis-streams.html>
        "AWS::KinesisFirehose::DeliveryStream" => {
            "records arriving during the swap never reach Redshift (the new stream starts at \
             the Kinesis stream's latest position); replay them from the lake or source-backup/"
        }
        "AWS::Redshift::Cluster" => {
            "the new cluster is empty and has a new endpoint; restore it from a snapshot"
        }
        "AWS::DynamoDB::Table" => "the new table is empty; restore it from a backup",
        "AWS::Kinesis::Stream" => "records not yet read by every consumer are lost",
        "AWS::S3::Bucket" => "the new bucket is empty",
        "AWS::SecretsManager::Secret" => "the new secret has a new value and ARN",
        _ => "its data is not carried over",
    }
}

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
            "{} ({}) replacement {}: {}",
            self.logical_id,
            self.resource_type,
            self.replacement,
            consequence(&self.resource_type)
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

/// An export whose value comes from a resource the change replaces:
/// CloudFormation refuses the update while another stack imports it
/// ("Cannot update export ... as it is in use by ...").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedExport {
    pub export: String,
    pub logical_id: String,
}

/// The exports of `template` that a replacement in `differences` changes.
pub fn exports_replaced(
    differences: &super::diff::StackDiff,
    template: &serde_json::Value,
) -> Vec<BlockedExport> {
    use super::diff::Replacement;
    let replaced: Vec<&str> = differences
        .resources
        .iter()
        .filter(|r| matches!(r.replacement, Replacement::Yes | Replacement::Conditional))
        .map(|r| r.logical_id.as_str())
        .collect();
    super::exports::exported_resources(template)
        .into_iter()
        .flat_map(|(export, ids)| {
            ids.into_iter()
                .filter(|id| replaced.contains(&id.as_str()))
                .map(move |logical_id| BlockedExport {
                    export: export.clone(),
                    logical_id,
                })
        })
        .collect()
}

impl std::fmt::Display for BlockedExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "export {} takes its value from {}, which is replaced: CloudFormation refuses \
             this while a stack imports it; deploy the importers without the import first \
             (or with the value written in), then this stack, then the importers again",
            self.export, self.logical_id
        )
    }
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
        let question = format!("{stack}: {changes}. Deploy?");
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

    #[test]
    fn diff_names_an_export_a_replacement_would_change() {
        let old = serde_json::json!({"Resources": {
            "Cluster": {"Type": "AWS::Redshift::Cluster", "Properties": {"NodeType": "ra3.large"}}
        }});
        let new = serde_json::json!({
            "Resources": {
                "Cluster": {"Type": "AWS::Redshift::Cluster", "Properties": {"NodeType": "ra3.xlplus"}}
            },
            "Outputs": {
                "ClusterEndpoint": {
                    "Value": {"Fn::GetAtt": ["Cluster", "Endpoint.Address"]},
                    "Export": {"Name": "retail-prod-warehouse:ClusterEndpoint"}
                },
                "Other": {"Value": "fixed", "Export": {"Name": "retail-prod-warehouse:Other"}}
            }
        });
        let mut differences = super::super::diff::diff(Some(&old), &new);
        assert!(
            exports_replaced(&differences, &new).is_empty(),
            "not replaced"
        );
        differences.mark_replacements(&std::collections::BTreeMap::from([(
            "Cluster".to_string(),
            "True".to_string(),
        )]));
        let blocked = exports_replaced(&differences, &new);
        assert_eq!(
            blocked,
            [BlockedExport {
                export: "retail-prod-warehouse:ClusterEndpoint".into(),
                logical_id: "Cluster".into()
            }]
        );
        assert!(
            blocked[0]
                .to_string()
                .contains("CloudFormation refuses this")
        );
    }

    /// Firehose reading from Kinesis starts a new delivery stream at the
    /// latest position: replacing it loses what arrives during the swap.
    #[test]
    fn replacing_the_delivery_stream_says_what_arrives_during_the_swap_is_lost() {
        let replaced = change(
            "DeliveryStream",
            "AWS::KinesisFirehose::DeliveryStream",
            "True",
        );
        assert_eq!(
            data_stores_replaced(std::slice::from_ref(&replaced)).len(),
            1
        );
        let text = replaced.to_string();
        assert!(text.starts_with("DeliveryStream (AWS::KinesisFirehose::DeliveryStream) replacement True: records arriving during the swap never reach Redshift"), "{text}");
    }
}
