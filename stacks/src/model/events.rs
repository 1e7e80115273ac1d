//! `AWS::Events::*`: the schedule of the bulk import.

use serde::Serialize;
use serde_with::skip_serializing_none;

use super::{Value, resource};

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-events-rule.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Rule {
    pub description: Option<Value<String>>,
    pub schedule_expression: Option<Value<String>>,
    pub event_pattern: Option<serde_json::Value>,
    pub state: Option<Value<String>>,
    pub targets: Vec<Target>,
}
resource!(Rule = "AWS::Events::Rule", ref name, {
    arn => "Arn",
});

#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Target {
    pub arn: Value<String>,
    pub id: String,
    pub input: Option<Value<String>>,
    pub retry_policy: Option<RetryPolicy>,
    pub dead_letter_config: Option<DeadLetterConfig>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetryPolicy {
    pub maximum_event_age_in_seconds: Option<Value<i64>>,
    pub maximum_retry_attempts: Option<Value<i64>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterConfig {
    pub arn: Value<String>,
}
