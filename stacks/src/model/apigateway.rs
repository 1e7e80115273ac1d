//! `AWS::ApiGateway::*`: the REST API in front of ingest and query.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_with::skip_serializing_none;

use super::tags::Tag;
use super::{Value, resource};

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-apigateway-restapi.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestApi {
    pub name: Value<String>,
    pub description: Option<Value<String>>,
    pub endpoint_configuration: Option<EndpointConfiguration>,
    pub disable_execute_api_endpoint: Option<Value<bool>>,
    pub minimum_compression_size: Option<Value<i64>>,
    pub tags: Option<Vec<Tag>>,
}
resource!(RestApi = "AWS::ApiGateway::RestApi", ref id, {
    root_resource_id => "RootResourceId",
});

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointConfiguration {
    pub types: Vec<Value<String>>,
}

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-apigateway-resource.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    pub rest_api_id: Value<String>,
    pub parent_id: Value<String>,
    pub path_part: Value<String>,
}
resource!(Resource = "AWS::ApiGateway::Resource", ref id, {
    resource_id => "ResourceId",
});

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-apigateway-method.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Method {
    pub rest_api_id: Value<String>,
    pub resource_id: Value<String>,
    pub http_method: Value<String>,
    pub authorization_type: Value<String>,
    pub api_key_required: Option<Value<bool>>,
    pub request_validator_id: Option<Value<String>>,
    pub request_models: Option<BTreeMap<String, Value<String>>>,
    /// `method.request.path.invoiceNo` → required.
    pub request_parameters: Option<BTreeMap<String, Value<bool>>>,
    pub integration: Option<Integration>,
    pub operation_name: Option<Value<String>>,
}
resource!(Method = "AWS::ApiGateway::Method", ref id);

#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Integration {
    #[serde(rename = "Type")]
    pub integration_type: Value<String>,
    pub integration_http_method: Option<Value<String>>,
    pub uri: Option<Value<String>>,
    pub timeout_in_millis: Option<Value<i64>>,
}

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-apigateway-requestvalidator.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RequestValidator {
    pub rest_api_id: Value<String>,
    pub name: Option<Value<String>>,
    pub validate_request_body: Option<Value<bool>>,
    pub validate_request_parameters: Option<Value<bool>>,
}
resource!(
    RequestValidator = "AWS::ApiGateway::RequestValidator",
    ref id
);

/// A JSON schema (draft 4) a request body is validated against.
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-apigateway-model.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Model {
    pub rest_api_id: Value<String>,
    pub content_type: Option<Value<String>>,
    pub name: Option<Value<String>>,
    pub description: Option<Value<String>>,
    pub schema: serde_json::Value,
}
resource!(Model = "AWS::ApiGateway::Model", ref name);

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-apigateway-deployment.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Deployment {
    pub rest_api_id: Value<String>,
    pub description: Option<Value<String>>,
}
resource!(Deployment = "AWS::ApiGateway::Deployment", ref id, {
    deployment_id => "DeploymentId",
});

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-apigateway-stage.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Stage {
    pub rest_api_id: Value<String>,
    pub deployment_id: Value<String>,
    pub stage_name: Value<String>,
    pub description: Option<Value<String>>,
    pub method_settings: Option<Vec<MethodSetting>>,
    pub access_log_setting: Option<AccessLogSetting>,
    pub tracing_enabled: Option<Value<bool>>,
    pub cache_cluster_enabled: Option<Value<bool>>,
    pub tags: Option<Vec<Tag>>,
}
resource!(Stage = "AWS::ApiGateway::Stage", ref name);

#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MethodSetting {
    pub resource_path: Value<String>,
    pub http_method: Value<String>,
    pub throttling_rate_limit: Option<Value<f64>>,
    pub throttling_burst_limit: Option<Value<i64>>,
    pub logging_level: Option<Value<String>>,
    pub metrics_enabled: Option<Value<bool>>,
    pub data_trace_enabled: Option<Value<bool>>,
    pub caching_enabled: Option<Value<bool>>,
    pub cache_data_encrypted: Option<Value<bool>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessLogSetting {
    pub destination_arn: Value<String>,
    pub format: Value<String>,
}

/// The account-wide role API Gateway logs to CloudWatch with, required
/// before a stage can have access logs.
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-apigateway-account.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Account {
    pub cloud_watch_role_arn: Value<String>,
}
resource!(Account = "AWS::ApiGateway::Account", ref id);
