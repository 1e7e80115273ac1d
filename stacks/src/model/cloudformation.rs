//! `AWS::CloudFormation::CustomResource`: work done at deploy time by a
//! Lambda function (the warehouse schema).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Value, resource};

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-cloudformation-customresource.html>
///
/// Every property but `ServiceToken` is passed to the function as is; a
/// change of any of them makes CloudFormation send an `Update`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomResource {
    pub service_token: Value<String>,
    #[serde(flatten)]
    pub properties: BTreeMap<String, Value<String>>,
}
resource!(
    CustomResource = "AWS::CloudFormation::CustomResource",
    ref id
);
