//! `AWS::SNS::*`: the topic the stage's alarms notify.

use serde::Serialize;
use serde_with::skip_serializing_none;

use super::tags::Tag;
use super::{Value, resource};

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-sns-topic.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Topic {
    pub display_name: Option<Value<String>>,
    pub kms_master_key_id: Option<Value<String>>,
    pub tags: Option<Vec<Tag>>,
}
// `Ref` returns the topic's ARN.
resource!(Topic = "AWS::SNS::Topic", ref arn, {
    topic_name => "TopicName",
});

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-sns-subscription.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Subscription {
    pub topic_arn: Value<String>,
    pub protocol: Value<String>,
    pub endpoint: Value<String>,
}
resource!(Subscription = "AWS::SNS::Subscription", ref arn);
