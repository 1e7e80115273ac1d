//! `AWS::KMS::*`: the stage's customer managed key, which encrypts its data
//! at rest (buckets, tables, stream, secrets, cluster, log groups, alarm
//! topic).

use serde::Serialize;
use serde_with::skip_serializing_none;

use super::tags::Tag;
use super::{Value, resource};

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-kms-key.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Key {
    pub description: Option<Value<String>>,
    pub enable_key_rotation: Option<Value<bool>>,
    pub key_policy: serde_json::Value,
    pub key_usage: Option<Value<String>>,
    /// Days between `ScheduleKeyDeletion` (a deleted stack) and the key's
    /// deletion, 7 to 30.
    pub pending_window_in_days: Option<Value<i64>>,
    pub tags: Option<Vec<Tag>>,
}
// `Ref` returns the key id.
resource!(Key = "AWS::KMS::Key", ref key_id, {
    arn => "Arn",
});

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-kms-alias.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Alias {
    pub alias_name: Value<String>,
    pub target_key_id: Value<String>,
}
resource!(Alias = "AWS::KMS::Alias", ref name);
