//! `AWS::S3::*`: the raw lake, the Firehose staging area, the bulk import.

use serde::Serialize;
use serde_with::skip_serializing_none;

use super::tags::Tag;
use super::{Expr, Value, opt, resource};

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-s3-bucket.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Bucket {
    pub bucket_name: Option<Value<String>>,
    pub bucket_encryption: Option<BucketEncryption>,
    pub public_access_block_configuration: Option<PublicAccessBlockConfiguration>,
    pub ownership_controls: Option<OwnershipControls>,
    pub versioning_configuration: Option<VersioningConfiguration>,
    pub lifecycle_configuration: Option<LifecycleConfiguration>,
    pub logging_configuration: Option<LoggingConfiguration>,
    pub metrics_configurations: Option<Vec<MetricsConfiguration>>,
    pub tags: Option<Vec<Tag>>,
}
resource!(Bucket = "AWS::S3::Bucket", ref name, {
    arn => "Arn",
    domain_name => "DomainName",
});

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketEncryption {
    pub server_side_encryption_configuration: Vec<ServerSideEncryptionRule>,
}

impl BucketEncryption {
    /// SSE-S3 (AES-256, keys managed by S3): no key policy to get wrong and
    /// no KMS request charges on a bucket written a million times an hour.
    pub fn s3_managed() -> Self {
        Self {
            server_side_encryption_configuration: vec![ServerSideEncryptionRule {
                server_side_encryption_by_default: ServerSideEncryptionByDefault {
                    sse_algorithm: "AES256".into(),
                    kms_master_key_id: None,
                },
                bucket_key_enabled: None,
            }],
        }
    }

    /// SSE-KMS with `key_arn`, through a bucket key: far fewer KMS requests
    /// (and their cost) on buckets written all day; the encryption context
    /// is then the bucket's ARN, not the object's.
    /// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html>
    pub fn with_key(key_arn: Expr) -> Self {
        Self {
            server_side_encryption_configuration: vec![ServerSideEncryptionRule {
                server_side_encryption_by_default: ServerSideEncryptionByDefault {
                    sse_algorithm: "aws:kms".into(),
                    kms_master_key_id: opt(key_arn),
                },
                bucket_key_enabled: opt(true),
            }],
        }
    }
}

#[skip_serializing_none]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServerSideEncryptionRule {
    pub server_side_encryption_by_default: ServerSideEncryptionByDefault,
    pub bucket_key_enabled: Option<Value<bool>>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Serialize)]
pub struct ServerSideEncryptionByDefault {
    #[serde(rename = "SSEAlgorithm")]
    pub sse_algorithm: Value<String>,
    #[serde(rename = "KMSMasterKeyID")]
    pub kms_master_key_id: Option<Value<String>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublicAccessBlockConfiguration {
    pub block_public_acls: bool,
    pub block_public_policy: bool,
    pub ignore_public_acls: bool,
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlockConfiguration {
    pub fn all_blocked() -> Self {
        Self {
            block_public_acls: true,
            block_public_policy: true,
            ignore_public_acls: true,
            restrict_public_buckets: true,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OwnershipControls {
    pub rules: Vec<OwnershipControlsRule>,
}

impl OwnershipControls {
    /// ACLs disabled: the bucket owner owns every object.
    pub fn bucket_owner_enforced() -> Self {
        Self {
            rules: vec![OwnershipControlsRule {
                object_ownership: "BucketOwnerEnforced".into(),
            }],
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OwnershipControlsRule {
    pub object_ownership: Value<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersioningConfiguration {
    pub status: Value<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleConfiguration {
    pub rules: Vec<LifecycleRule>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleRule {
    pub id: Option<String>,
    pub status: Value<String>,
    pub prefix: Option<Value<String>>,
    pub expiration_in_days: Option<Value<i64>>,
    pub noncurrent_version_expiration: Option<NoncurrentVersionExpiration>,
    pub abort_incomplete_multipart_upload: Option<AbortIncompleteMultipartUpload>,
    pub transitions: Option<Vec<Transition>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NoncurrentVersionExpiration {
    pub noncurrent_days: Value<i64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AbortIncompleteMultipartUpload {
    pub days_after_initiation: Value<i64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Transition {
    pub storage_class: Value<String>,
    pub transition_in_days: Value<i64>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingConfiguration {
    pub destination_bucket_name: Option<Value<String>>,
    pub log_file_prefix: Option<Value<String>>,
}

/// A filter of the bucket's CloudWatch request metrics (`AWS/S3`, dimension
/// `FilterId` = `id`): the requests for the objects under `prefix`.
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-s3-bucket-metricsconfiguration.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricsConfiguration {
    pub id: Value<String>,
    pub prefix: Option<Value<String>>,
}

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-s3-bucketpolicy.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketPolicy {
    pub bucket: Value<String>,
    pub policy_document: serde_json::Value,
}
resource!(BucketPolicy = "AWS::S3::BucketPolicy", ref id);
