//! `AWS::Kinesis::*`: the transaction stream.

use serde::Serialize;
use serde_with::skip_serializing_none;

use super::tags::Tag;
use super::{Value, resource};

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-kinesis-stream.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Stream {
    pub name: Option<Value<String>>,
    pub shard_count: Option<Value<i64>>,
    pub retention_period_hours: Option<Value<i64>>,
    pub stream_encryption: Option<StreamEncryption>,
    pub stream_mode_details: Option<StreamModeDetails>,
    pub tags: Option<Vec<Tag>>,
}
resource!(Stream = "AWS::Kinesis::Stream", ref name, {
    arn => "Arn",
});

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamEncryption {
    pub encryption_type: Value<String>,
    pub key_id: Value<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamModeDetails {
    pub stream_mode: Value<String>,
}
