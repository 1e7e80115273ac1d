//! `AWS::SQS::*`: where records that failed every retry are kept.

use serde::Serialize;
use serde_with::skip_serializing_none;

use super::tags::Tag;
use super::{Value, resource};

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-sqs-queue.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Queue {
    pub queue_name: Option<Value<String>>,
    pub message_retention_period: Option<Value<i64>>,
    pub sqs_managed_sse_enabled: Option<Value<bool>>,
    pub kms_master_key_id: Option<Value<String>>,
    pub visibility_timeout: Option<Value<i64>>,
    pub tags: Option<Vec<Tag>>,
}
resource!(Queue = "AWS::SQS::Queue", ref url, {
    arn => "Arn",
    queue_name => "QueueName",
});

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-sqs-queuepolicy.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueuePolicy {
    pub queues: Vec<Value<String>>,
    pub policy_document: serde_json::Value,
}
resource!(QueuePolicy = "AWS::SQS::QueuePolicy", ref id);
