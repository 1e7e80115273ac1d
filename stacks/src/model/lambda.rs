//! `AWS::Lambda::*`: the platform's functions and what triggers them.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_with::skip_serializing_none;

use super::tags::Tag;
use super::{Value, resource};

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-lambda-function.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Function {
    pub description: Option<Value<String>>,
    pub code: Code,
    pub handler: Option<Value<String>>,
    pub runtime: Option<Value<String>>,
    pub architectures: Option<Vec<Value<String>>>,
    pub role: Value<String>,
    pub memory_size: Option<Value<i64>>,
    pub timeout: Option<Value<i64>>,
    pub reserved_concurrent_executions: Option<Value<i64>>,
    pub environment: Option<Environment>,
    pub logging_config: Option<LoggingConfig>,
    pub dead_letter_config: Option<DeadLetterConfig>,
    pub tracing_config: Option<TracingConfig>,
    pub tags: Option<Vec<Tag>>,
}
resource!(Function = "AWS::Lambda::Function", ref name, {
    arn => "Arn",
});

/// Code in S3: the content-hashed asset key.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Code {
    pub s3_bucket: Value<String>,
    pub s3_key: Value<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    pub variables: BTreeMap<String, Value<String>>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingConfig {
    pub log_group: Option<Value<String>>,
    pub log_format: Option<Value<String>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterConfig {
    pub target_arn: Value<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TracingConfig {
    pub mode: Value<String>,
}

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-lambda-eventsourcemapping.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventSourceMapping {
    pub event_source_arn: Value<String>,
    pub function_name: Value<String>,
    pub starting_position: Option<Value<String>>,
    pub batch_size: Option<Value<i64>>,
    pub maximum_batching_window_in_seconds: Option<Value<i64>>,
    pub parallelization_factor: Option<Value<i64>>,
    pub bisect_batch_on_function_error: Option<Value<bool>>,
    pub maximum_retry_attempts: Option<Value<i64>>,
    pub maximum_record_age_in_seconds: Option<Value<i64>>,
    pub function_response_types: Option<Vec<Value<String>>>,
    pub destination_config: Option<DestinationConfig>,
    pub enabled: Option<Value<bool>>,
}
resource!(
    EventSourceMapping = "AWS::Lambda::EventSourceMapping",
    ref id
);

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationConfig {
    pub on_failure: OnFailure,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OnFailure {
    pub destination: Value<String>,
}

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-lambda-permission.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Permission {
    pub action: Value<String>,
    pub function_name: Value<String>,
    pub principal: Value<String>,
    pub source_arn: Option<Value<String>>,
    pub source_account: Option<Value<String>>,
}
resource!(Permission = "AWS::Lambda::Permission", ref id);
