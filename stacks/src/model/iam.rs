//! `AWS::IAM::*`: roles with inline policies rendered from `policies/`.

use serde::Serialize;
use serde_with::skip_serializing_none;

use super::tags::Tag;
use super::{Value, resource};

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-iam-role.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Role {
    pub assume_role_policy_document: serde_json::Value,
    /// Set only where another account names the role (its ARN is computed
    /// there at synth); CloudFormation names every other role.
    pub role_name: Option<Value<String>>,
    pub description: Option<Value<String>>,
    pub policies: Option<Vec<InlinePolicy>>,
    pub managed_policy_arns: Option<Vec<Value<String>>>,
    pub max_session_duration: Option<Value<i64>>,
    pub tags: Option<Vec<Tag>>,
}
resource!(Role = "AWS::IAM::Role", ref name, {
    arn => "Arn",
    role_id => "RoleId",
});

impl Role {
    /// A role only `service` (e.g. `lambda.amazonaws.com`) can assume, for
    /// calls from this account.
    pub fn for_service(service: &str, description: impl Into<Value<String>>) -> Self {
        Self {
            assume_role_policy_document: trust_policy(service),
            description: Some(description.into()),
            ..Default::default()
        }
    }
}

/// The trust policy letting one AWS service assume a role.
pub fn trust_policy(service: &str) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": service },
            "Action": "sts:AssumeRole"
        }]
    })
}

/// A policy embedded in a role.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InlinePolicy {
    pub policy_name: String,
    pub policy_document: serde_json::Value,
}

/// A standalone inline policy, attached to roles by name.
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-iam-policy.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policy {
    pub policy_name: Value<String>,
    pub policy_document: serde_json::Value,
    pub roles: Vec<Value<String>>,
}
resource!(Policy = "AWS::IAM::Policy", ref id);
