//! `AWS::KinesisFirehose::*`: the delivery stream from Kinesis into Redshift.

use serde::Serialize;
use serde_with::skip_serializing_none;

use super::tags::Tag;
use super::{Value, resource};

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-kinesisfirehose-deliverystream.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeliveryStream {
    pub delivery_stream_name: Option<Value<String>>,
    pub delivery_stream_type: Option<Value<String>>,
    pub kinesis_stream_source_configuration: Option<KinesisStreamSourceConfiguration>,
    pub redshift_destination_configuration: Option<RedshiftDestinationConfiguration>,
    pub tags: Option<Vec<Tag>>,
}
resource!(DeliveryStream = "AWS::KinesisFirehose::DeliveryStream", ref name, {
    arn => "Arn",
});

#[derive(Debug, Clone, Serialize)]
pub struct KinesisStreamSourceConfiguration {
    #[serde(rename = "KinesisStreamARN")]
    pub kinesis_stream_arn: Value<String>,
    #[serde(rename = "RoleARN")]
    pub role_arn: Value<String>,
}

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-kinesisfirehose-deliverystream-redshiftdestinationconfiguration.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RedshiftDestinationConfiguration {
    #[serde(rename = "ClusterJDBCURL")]
    pub cluster_jdbc_url: Value<String>,
    pub copy_command: CopyCommand,
    #[serde(rename = "RoleARN")]
    pub role_arn: Value<String>,
    pub s3_configuration: S3DestinationConfiguration,
    pub s3_backup_mode: Option<Value<String>>,
    pub s3_backup_configuration: Option<S3DestinationConfiguration>,
    pub processing_configuration: Option<ProcessingConfiguration>,
    pub cloud_watch_logging_options: Option<CloudWatchLoggingOptions>,
    pub retry_options: Option<RedshiftRetryOptions>,
    pub secrets_manager_configuration: Option<SecretsManagerConfiguration>,
    pub username: Option<Value<String>>,
    pub password: Option<Value<String>>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CopyCommand {
    pub data_table_name: Value<String>,
    pub data_table_columns: Option<Value<String>>,
    pub copy_options: Option<Value<String>>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct S3DestinationConfiguration {
    #[serde(rename = "BucketARN")]
    pub bucket_arn: Value<String>,
    #[serde(rename = "RoleARN")]
    pub role_arn: Value<String>,
    pub prefix: Option<Value<String>>,
    pub error_output_prefix: Option<Value<String>>,
    pub buffering_hints: Option<BufferingHints>,
    pub compression_format: Option<Value<String>>,
    pub cloud_watch_logging_options: Option<CloudWatchLoggingOptions>,
    pub encryption_configuration: Option<EncryptionConfiguration>,
}

/// How Firehose encrypts the objects it writes to S3.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptionConfiguration {
    #[serde(rename = "KMSEncryptionConfig")]
    pub kms_encryption_config: KmsEncryptionConfig,
}

#[derive(Debug, Clone, Serialize)]
pub struct KmsEncryptionConfig {
    #[serde(rename = "AWSKMSKeyARN")]
    pub aws_kms_key_arn: Value<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BufferingHints {
    pub interval_in_seconds: Option<Value<i64>>,
    #[serde(rename = "SizeInMBs")]
    pub size_in_mbs: Option<Value<i64>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessingConfiguration {
    pub enabled: Value<bool>,
    pub processors: Vec<Processor>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Processor {
    #[serde(rename = "Type")]
    pub processor_type: Value<String>,
    pub parameters: Vec<ProcessorParameter>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessorParameter {
    pub parameter_name: Value<String>,
    pub parameter_value: Value<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CloudWatchLoggingOptions {
    pub enabled: Value<bool>,
    pub log_group_name: Option<Value<String>>,
    pub log_stream_name: Option<Value<String>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RedshiftRetryOptions {
    pub duration_in_seconds: Value<i64>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Serialize)]
pub struct SecretsManagerConfiguration {
    #[serde(rename = "Enabled")]
    pub enabled: Value<bool>,
    #[serde(rename = "SecretARN")]
    pub secret_arn: Option<Value<String>>,
    #[serde(rename = "RoleARN")]
    pub role_arn: Option<Value<String>>,
}
