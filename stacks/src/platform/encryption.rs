//! The stage's customer managed KMS key and its key policy.
//!
//! One key per stage encrypts what the stage keeps at rest: the data
//! buckets, the tables, the stream (and so what Firehose reads from it), the
//! objects Firehose stages, the warehouse secret and cluster, every log
//! group and the alarm topic. AWS rotates its key material every year.
//!
//! The key policy gives the account (its IAM administrators) the right to
//! administer the key, but not to use it directly: data is encrypted and
//! decrypted only *through* the stage's services (`kms:ViaService`), by a
//! principal whose IAM policy also grants the KMS action on this key. So a
//! role reads the stream only if its policy in `policies/` allows
//! `kms:Decrypt` on this key via Kinesis, and nothing outside the account
//! can use it at all. Two services act as themselves and are named in the
//! key policy: CloudWatch Logs (for the stage's log groups, by the log
//! group's ARN in the encryption context) and CloudWatch (publishing alarms
//! to the encrypted topic, which the AWS managed SNS key does not allow).
//! <https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html>
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html>
//! <https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services>

use serde_json::{Value, json};

use crate::model::kms::{Alias, Key};
use crate::model::{Expr, Handle, Options, Stack, opt};
use crate::stage::Stage;

use super::PlatformError;
use super::function::to_json;

/// The services that encrypt the stage's data with its key on behalf of a
/// caller (`kms:ViaService` is `<service>.<region>.amazonaws.com`).
pub const SERVICES_USING_THE_KEY: [&str; 6] = [
    "dynamodb",
    "kinesis",
    "redshift",
    "s3",
    "secretsmanager",
    "sns",
];

/// What the account's administrators may do with the key: manage it, never
/// encrypt or decrypt with it directly.
const ADMINISTRATION_ACTIONS: [&str; 15] = [
    "kms:CancelKeyDeletion",
    "kms:Create*",
    "kms:Delete*",
    "kms:Describe*",
    "kms:Disable*",
    "kms:Enable*",
    "kms:Get*",
    "kms:List*",
    "kms:Put*",
    "kms:Revoke*",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:Update*",
];

/// The cryptographic actions a service performs with the caller's
/// permissions; each role's policy narrows them to what it needs.
const USE_ACTIONS: [&str; 5] = [
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
];

/// Adds the stage's key (rotated yearly; kept with prod's data, scheduled
/// for deletion with a dev stage after the shortest window) and its alias
/// `alias/<prefix>-data`. `grants`: statements the key policy adds for
/// principals of another account (the warehouse account's COPY role).
/// A stage in two accounts has a key in each: the alias names both.
pub fn add_stage_key(
    stack: &mut Stack,
    stage: &Stage,
    grants: &[Value],
) -> Result<Handle<Key>, PlatformError> {
    let key = stack.add_with(
        "DataKey",
        Key {
            description: opt(format!(
                "Encrypts the {} stage's data at rest: buckets, tables, stream, secrets, \
                 cluster, log groups, alarm topic",
                stage.prefix()
            )),
            enable_key_rotation: opt(true),
            key_policy: key_policy(stage, grants),
            key_usage: opt("ENCRYPT_DECRYPT"),
            pending_window_in_days: opt(if stage.retain_data { 30 } else { 7 }),
            // Untagged: moto 5.2's CloudFormation reads a key's tags as
            // the KMS API's TagKey/TagValue and fails on CloudFormation's
            // Key/Value (the alias names the stage).
            tags: None,
        },
        Options::new().data_policy(stage.data_policy()),
    )?;
    stack.add(
        "DataKeyAlias",
        Alias {
            alias_name: key_alias(&stage.prefix()).into(),
            target_key_id: key.key_id().into(),
        },
    )?;
    Ok(key)
}

/// The alias of the key of the stage whose prefix is `prefix`
/// (`alias/retail-prod-data`): how commands and fix hints name the key.
pub fn key_alias(prefix: &str) -> String {
    format!("alias/{prefix}-data")
}

/// The key policy of [`add_stage_key`].
pub fn key_policy(stage: &Stage, grants: &[Value]) -> Value {
    let account_root = to_json(&Expr::sub(
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:root",
    ));
    let via_services: Vec<Value> = SERVICES_USING_THE_KEY
        .iter()
        .map(|service| {
            to_json(&Expr::sub(format!(
                "{service}.${{AWS::Region}}.amazonaws.com"
            )))
        })
        .collect();
    let account = to_json(&Expr::account_id());
    // Log groups the stage's stacks create: unnamed ones are named after
    // their stack (`<prefix>-<stack>-...`), API Gateway's execution log
    // group after the API's id.
    let log_groups: Vec<Value> = [
        format!("{}-*", stage.prefix()),
        "API-Gateway-Execution-Logs_*".to_string(),
    ]
    .iter()
    .map(|pattern| {
        to_json(&Expr::sub(format!(
            "arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:{pattern}"
        )))
    })
    .collect();
    let mut policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AdministerFromTheAccount",
                "Effect": "Allow",
                "Principal": { "AWS": account_root },
                "Action": ADMINISTRATION_ACTIONS,
                "Resource": "*"
            },
            {
                "Sid": "UseThroughTheStageServices",
                "Effect": "Allow",
                "Principal": { "AWS": account_root },
                "Action": USE_ACTIONS,
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": account,
                        "kms:ViaService": via_services
                    }
                }
            },
            {
                "Sid": "GrantToTheStageServices",
                "Effect": "Allow",
                "Principal": { "AWS": account_root },
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {
                    "Bool": { "kms:GrantIsForAWSResource": "true" },
                    "StringEquals": {
                        "kms:CallerAccount": account,
                        "kms:ViaService": via_services
                    }
                }
            },
            {
                "Sid": "EncryptTheStageLogGroups",
                "Effect": "Allow",
                "Principal": { "Service": to_json(&Expr::sub("logs.${AWS::Region}.amazonaws.com")) },
                "Action": [
                    "kms:Decrypt*",
                    "kms:Describe*",
                    "kms:Encrypt*",
                    "kms:GenerateDataKey*",
                    "kms:ReEncrypt*"
                ],
                "Resource": "*",
                "Condition": {
                    "ArnLike": { "kms:EncryptionContext:aws:logs:arn": log_groups }
                }
            },
            {
                "Sid": "PublishAlarmsToTheEncryptedTopic",
                "Effect": "Allow",
                "Principal": { "Service": "cloudwatch.amazonaws.com" },
                // No condition: the documented statement has none, and
                // CloudWatch reaches the key only through a topic whose
                // policy admits this account's alarms.
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*"
            }
        ]
    });
    policy["Statement"]
        .as_array_mut()
        .expect("the key policy has statements")
        .extend(grants.iter().cloned());
    policy
}
