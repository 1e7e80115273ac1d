//! `AWS::Glue::*`: the catalog of the bulk-import files and the warehouse.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_with::skip_serializing_none;

use super::{Value, resource};

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-glue-database.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Database {
    pub catalog_id: Value<String>,
    pub database_input: DatabaseInput,
}
resource!(Database = "AWS::Glue::Database", ref name);

#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatabaseInput {
    pub name: Option<Value<String>>,
    pub description: Option<Value<String>>,
}

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-glue-connection.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Connection {
    pub catalog_id: Value<String>,
    pub connection_input: ConnectionInput,
}
resource!(Connection = "AWS::Glue::Connection", ref name);

#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConnectionInput {
    pub name: Option<Value<String>>,
    pub description: Option<Value<String>>,
    pub connection_type: Value<String>,
    pub connection_properties: BTreeMap<String, Value<String>>,
    pub physical_connection_requirements: Option<PhysicalConnectionRequirements>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PhysicalConnectionRequirements {
    pub availability_zone: Option<Value<String>>,
    pub security_group_id_list: Option<Vec<Value<String>>>,
    pub subnet_id: Option<Value<String>>,
}

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-glue-crawler.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Crawler {
    pub name: Option<Value<String>>,
    pub description: Option<Value<String>>,
    pub role: Value<String>,
    pub database_name: Option<Value<String>>,
    pub targets: Targets,
    pub schedule: Option<Schedule>,
    pub schema_change_policy: Option<SchemaChangePolicy>,
    pub recrawl_policy: Option<RecrawlPolicy>,
    pub crawler_security_configuration: Option<Value<String>>,
    pub table_prefix: Option<Value<String>>,
    pub configuration: Option<Value<String>>,
}
resource!(Crawler = "AWS::Glue::Crawler", ref name);

#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Targets {
    pub s3_targets: Option<Vec<S3Target>>,
    pub jdbc_targets: Option<Vec<JdbcTarget>>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct S3Target {
    pub path: Value<String>,
    pub exclusions: Option<Vec<Value<String>>>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct JdbcTarget {
    pub connection_name: Value<String>,
    pub path: Value<String>,
    pub exclusions: Option<Vec<Value<String>>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Schedule {
    pub schedule_expression: Value<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SchemaChangePolicy {
    pub update_behavior: Value<String>,
    pub delete_behavior: Value<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecrawlPolicy {
    pub recrawl_behavior: Value<String>,
}

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-glue-securityconfiguration.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecurityConfiguration {
    pub name: Value<String>,
    pub encryption_configuration: serde_json::Value,
}
resource!(
    SecurityConfiguration = "AWS::Glue::SecurityConfiguration",
    ref name
);
