//! `AWS::Logs::*`: log groups owned by the stacks, so retention is set and
//! nothing outlives a dev stage.

use serde::Serialize;
use serde_with::skip_serializing_none;

use super::tags::Tag;
use super::{Value, resource};

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-logs-loggroup.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogGroup {
    pub log_group_name: Option<Value<String>>,
    pub retention_in_days: Option<Value<i64>>,
    pub kms_key_id: Option<Value<String>>,
    pub tags: Option<Vec<Tag>>,
}
resource!(LogGroup = "AWS::Logs::LogGroup", ref name, {
    arn => "Arn",
});

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-logs-logstream.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogStream {
    pub log_group_name: Value<String>,
    pub log_stream_name: Option<Value<String>>,
}
resource!(LogStream = "AWS::Logs::LogStream", ref name);
