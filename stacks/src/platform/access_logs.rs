//! S3 server access logs of the data buckets: one log bucket per stage,
//! each source bucket logging under its own prefix, delivered by the S3
//! logging service (a bucket policy, since ACLs are off with
//! BucketOwnerEnforced).
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html>

use serde_json::json;

use crate::model::s3::{
    AbortIncompleteMultipartUpload, Bucket, BucketEncryption, BucketPolicy, LifecycleConfiguration,
    LifecycleRule, LoggingConfiguration, NoncurrentVersionExpiration, OwnershipControls,
    PublicAccessBlockConfiguration, VersioningConfiguration,
};
use crate::model::tags::tags;
use crate::model::{Expr, Handle, Options, Stack, opt};
use crate::stage::Stage;

use super::PlatformError;
use super::function::{checkov_skip, to_json};
use super::storage::deny_insecure_transport;

/// The log bucket: SSE-S3 (the only encryption S3 log delivery writes
/// into), private, logs expired after the stage's log retention.
pub fn access_log_bucket(
    stack: &mut Stack,
    stage: &Stage,
) -> Result<Handle<Bucket>, PlatformError> {
    Ok(stack.add_with(
        "AccessLogBucket",
        Bucket {
            bucket_encryption: Some(BucketEncryption::s3_managed()),
            public_access_block_configuration: Some(PublicAccessBlockConfiguration::all_blocked()),
            ownership_controls: Some(OwnershipControls::bucket_owner_enforced()),
            versioning_configuration: Some(VersioningConfiguration {
                status: "Enabled".into(),
            }),
            lifecycle_configuration: Some(LifecycleConfiguration {
                rules: vec![LifecycleRule {
                    id: Some("ExpireLogs".into()),
                    status: "Enabled".into(),
                    expiration_in_days: opt(i64::from(stage.log_retention_days)),
                    noncurrent_version_expiration: Some(NoncurrentVersionExpiration {
                        noncurrent_days: 1.into(),
                    }),
                    abort_incomplete_multipart_upload: Some(AbortIncompleteMultipartUpload {
                        days_after_initiation: 1.into(),
                    }),
                    ..Default::default()
                }],
            }),
            tags: tags([("Stage", stage.name), ("Purpose", "access-logs")]),
            ..Default::default()
        },
        Options::new()
            .data_policy(stage.data_policy())
            .metadata(checkov_skip(&[(
                "CKV_AWS_18",
                "The access log bucket itself: logging it into itself would log every log \
                 delivery, and into another bucket would need a bucket for that one too",
            )])),
    )?)
}

/// Where a source bucket's access logs go: the log bucket, under `prefix`.
pub fn logging_to(log_bucket: &Handle<Bucket>, prefix: &str) -> LoggingConfiguration {
    LoggingConfiguration {
        destination_bucket_name: opt(log_bucket.name()),
        log_file_prefix: opt(prefix.to_string()),
    }
}

/// The log bucket's policy: TLS only, and the S3 logging service may put
/// objects under each source's prefix, for that source bucket of this
/// account only (confused-deputy conditions).
pub fn add_log_delivery_policy(
    stack: &mut Stack,
    log_bucket: &Handle<Bucket>,
    sources: &[(&Handle<Bucket>, &str)],
) -> Result<(), PlatformError> {
    let mut policy = deny_insecure_transport(log_bucket);
    let statements = policy["Statement"]
        .as_array_mut()
        .expect("a statement list");
    for (index, (source, prefix)) in sources.iter().enumerate() {
        statements.push(json!({
            "Sid": format!("S3ServerAccessLogs{index}"),
            "Effect": "Allow",
            "Principal": { "Service": "logging.s3.amazonaws.com" },
            "Action": "s3:PutObject",
            "Resource": to_json(&Expr::sub_with(
                format!("${{Bucket}}/{prefix}*"),
                [("Bucket", log_bucket.arn())],
            )),
            "Condition": {
                "ArnLike": { "aws:SourceArn": to_json(&source.arn()) },
                "StringEquals": { "aws:SourceAccount": { "Ref": "AWS::AccountId" } }
            }
        }));
    }
    stack.add(
        "AccessLogBucketPolicy",
        BucketPolicy {
            bucket: log_bucket.name().into(),
            policy_document: policy,
        },
    )?;
    Ok(())
}
