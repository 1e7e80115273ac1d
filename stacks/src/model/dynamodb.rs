//! `AWS::DynamoDB::*`: the serving tables.

use serde::Serialize;
use serde_with::skip_serializing_none;

use super::tags::Tag;
use super::{Value, resource};

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-dynamodb-table.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Table {
    pub table_name: Option<Value<String>>,
    pub attribute_definitions: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeySchema>,
    pub billing_mode: Option<Value<String>>,
    pub point_in_time_recovery_specification: Option<PointInTimeRecoverySpecification>,
    #[serde(rename = "SSESpecification")]
    pub sse_specification: Option<SseSpecification>,
    pub deletion_protection_enabled: Option<Value<bool>>,
    pub tags: Option<Vec<Tag>>,
}
resource!(Table = "AWS::DynamoDB::Table", ref name, {
    arn => "Arn",
});

/// The type of a key attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AttributeType {
    /// String.
    S,
    /// Number.
    N,
    /// Binary.
    B,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    pub attribute_name: String,
    pub attribute_type: AttributeType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum KeyType {
    Hash,
    Range,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeySchema {
    pub attribute_name: String,
    pub key_type: KeyType,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PointInTimeRecoverySpecification {
    pub point_in_time_recovery_enabled: Value<bool>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Serialize)]
pub struct SseSpecification {
    #[serde(rename = "SSEEnabled")]
    pub sse_enabled: Value<bool>,
    #[serde(rename = "SSEType")]
    pub sse_type: Option<Value<String>>,
    #[serde(rename = "KMSMasterKeyId")]
    pub kms_master_key_id: Option<Value<String>>,
}
