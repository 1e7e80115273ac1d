//! `AWS::Redshift::*`: the warehouse Firehose loads into.

use serde::Serialize;
use serde_with::skip_serializing_none;

use super::tags::Tag;
use super::{Value, resource};

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-redshift-clustersubnetgroup.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClusterSubnetGroup {
    pub description: Value<String>,
    pub subnet_ids: Vec<Value<String>>,
    pub tags: Option<Vec<Tag>>,
}
resource!(ClusterSubnetGroup = "AWS::Redshift::ClusterSubnetGroup", ref name, {
    cluster_subnet_group_name => "ClusterSubnetGroupName",
});

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-redshift-clusterparametergroup.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClusterParameterGroup {
    pub description: Value<String>,
    pub parameter_group_family: Value<String>,
    pub parameters: Option<Vec<Parameter>>,
    pub tags: Option<Vec<Tag>>,
}
resource!(
    ClusterParameterGroup = "AWS::Redshift::ClusterParameterGroup",
    ref name
);

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parameter {
    pub parameter_name: String,
    pub parameter_value: Value<String>,
}

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-redshift-cluster.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Cluster {
    pub cluster_type: Value<String>,
    pub node_type: Value<String>,
    pub number_of_nodes: Option<Value<i64>>,
    #[serde(rename = "DBName")]
    pub db_name: Value<String>,
    pub master_username: Value<String>,
    pub master_user_password: Option<Value<String>>,
    pub cluster_subnet_group_name: Option<Value<String>>,
    pub cluster_parameter_group_name: Option<Value<String>>,
    #[serde(rename = "VpcSecurityGroupIds")]
    pub vpc_security_group_ids: Option<Vec<Value<String>>>,
    pub iam_roles: Option<Vec<Value<String>>>,
    pub publicly_accessible: Option<Value<bool>>,
    pub encrypted: Option<Value<bool>>,
    pub kms_key_id: Option<Value<String>>,
    pub port: Option<Value<i64>>,
    pub automated_snapshot_retention_period: Option<Value<i64>>,
    pub manual_snapshot_retention_period: Option<Value<i64>>,
    pub preferred_maintenance_window: Option<Value<String>>,
    pub maintenance_track_name: Option<Value<String>>,
    pub logging_properties: Option<LoggingProperties>,
    pub enhanced_vpc_routing: Option<Value<bool>>,
    pub allow_version_upgrade: Option<Value<bool>>,
    pub tags: Option<Vec<Tag>>,
}
resource!(Cluster = "AWS::Redshift::Cluster", ref id, {
    endpoint_address => "Endpoint.Address",
    endpoint_port => "Endpoint.Port",
});

#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingProperties {
    pub bucket_name: Option<Value<String>>,
    pub s3_key_prefix: Option<Value<String>>,
    pub log_destination_type: Option<Value<String>>,
    pub log_exports: Option<Vec<Value<String>>>,
}
