//! Storage: the buckets (raw lake, Firehose staging, bulk import) and the
//! serving tables (Invoices, Customers).
//!
//! The stage's KMS key ([`super::encryption`]) and alarm topic
//! ([`super::alarms`]) live here too: every other stack depends on this one.
//!
//! Every bucket is private, encrypted with the stage's key (S3 Bucket Keys
//! on, so KMS is asked once per bucket key rather than per object),
//! owner-enforced and refuses requests without TLS. The tables' keys are strings: invoice numbers such as
//! `C536379` (a cancellation) are not numbers, and every line is stored in
//! Invoices whether or not it has a customer (`record::dynamodb`).

use serde_json::json;

use crate::model::cloudwatch::{Alarm, Dimension};
use crate::model::dynamodb::{
    AttributeDefinition, AttributeType, KeySchema, KeyType, PointInTimeRecoverySpecification,
    SseSpecification, Table,
};
use crate::model::kms::Key;
use crate::model::s3::{
    AbortIncompleteMultipartUpload, Bucket, BucketEncryption, BucketPolicy, LifecycleConfiguration,
    LifecycleRule, MetricsConfiguration, NoncurrentVersionExpiration, OwnershipControls,
    PublicAccessBlockConfiguration, VersioningConfiguration,
};
use crate::model::sns::Topic;
use crate::model::tags::tags;
use crate::model::{Expr, Handle, Options, Stack, opt};
use crate::stage::Stage;

use super::PlatformError;
use super::access_logs::{access_log_bucket, add_log_delivery_policy, logging_to};
use super::alarms::add_alarm_topic;
use super::encryption::add_stage_key;
use super::function::checkov_skip;

/// A stage without access logs (dev) says why on each bucket.
const NO_ACCESS_LOGS_SKIP: (&str, &str) = (
    "CKV_AWS_18",
    "This stage keeps no server access logs: S3 delivers them hours late, so a log bucket \
     would refill after destroy empties it and fail the stage's deletion; prod logs every \
     bucket to its access log bucket",
);

/// What other stacks consume from storage.
#[derive(Debug, Clone)]
pub struct Storage {
    /// The stage's customer managed key: everything at rest is encrypted
    /// with it.
    pub key: Handle<Key>,
    /// The SNS topic every alarm of the stage notifies.
    pub alarm_topic: Handle<Topic>,
    pub lake_bucket: Handle<Bucket>,
    /// Firehose's staging bucket: only where Firehose loads the warehouse
    /// (the public topology).
    pub staging_bucket: Option<Handle<Bucket>>,
    pub bulk_import_bucket: Handle<Bucket>,
    pub invoices_table: Handle<Table>,
    pub customers_table: Handle<Table>,
}

impl Storage {
    /// The Firehose staging bucket, for the delivery stream: built only
    /// where Firehose loads the warehouse (public).
    pub fn firehose_staging(&self) -> &Handle<Bucket> {
        self.staging_bucket
            .as_ref()
            .expect("Firehose loads only a public warehouse")
    }
}

/// Prefixes of the bulk-import bucket (the batch-import function's contract).
pub mod bulk_import_prefixes {
    /// Where users drop CSV files.
    pub const INCOMING: &str = "incoming/";
    /// Imported files, catalogued by the Glue crawler.
    pub const PROCESSED: &str = "processed/";
}

/// Prefixes of the Firehose staging bucket (the delivery stream's layout).
pub mod staging_prefixes {
    /// Intermediate files Firehose COPYs into Redshift; done with once loaded.
    pub const COPY: &str = "copy/";
    /// Every source record as received, to replay a failed COPY.
    pub const SOURCE_BACKUP: &str = "source-backup/";
    /// What is loaded expires, by prefix: Firehose never deletes either.
    pub const LOADED: [&str; 2] = [COPY, SOURCE_BACKUP];
    /// Where Firehose writes what it gave up on: the COPY manifests of
    /// batches Redshift refused for the whole retry duration, and records
    /// the transform failed (the delivery stream's `ErrorOutputPrefix`).
    pub const ERRORS: &str = "errors/";
}

/// The request-metrics filter of the staging bucket's `errors/` prefix
/// (the `FilterId` dimension of its `AWS/S3` metrics).
pub const ERRORS_METRICS_FILTER: &str = "FirehoseErrors";

pub fn storage(stage: &Stage) -> Result<(Stack, Storage), PlatformError> {
    let mut stack = Stack::new(
        "Storage",
        "Buckets of the raw lake, Firehose staging and bulk import; DynamoDB tables serving \
         invoices and customers",
    )?;

    // Named where the warehouse account reads it (it computes the name);
    // that account's COPY role decrypts the lake's raw/ through S3.
    let shared = super::cross_account::CrossAccountNames::of(stage)?;
    let key_grants: Vec<_> = shared
        .iter()
        .map(|names| names.lake_key_grant(stage.region))
        .collect();
    let key = add_stage_key(&mut stack, stage, &key_grants)?;
    let alarm_topic = add_alarm_topic(&mut stack, stage, &key)?;

    let access_logs = stage
        .server_access_logs
        .then(|| access_log_bucket(&mut stack, stage))
        .transpose()?;
    let logs = access_logs.as_ref();
    let lake_bucket = bucket(
        &mut stack,
        stage,
        &key,
        logs,
        BucketSpec {
            id: "LakeBucket",
            purpose: "raw-lake",
            shared: shared.as_ref(),
            ..BucketSpec::default()
        },
    )?;
    let staging_bucket = (!stage.private_warehouse())
        .then(|| {
            let staging_bucket = bucket(
                &mut stack,
                stage,
                &key,
                logs,
                BucketSpec {
                    id: "StagingBucket",
                    purpose: "firehose-staging",
                    expiring: &staging_prefixes::LOADED,
                    metrics: Some(MetricsConfiguration {
                        id: ERRORS_METRICS_FILTER.into(),
                        prefix: opt(staging_prefixes::ERRORS),
                    }),
                    ..BucketSpec::default()
                },
            )?;
            firehose_errors_alarm(&mut stack, &staging_bucket, &alarm_topic)?;
            Ok::<_, PlatformError>(staging_bucket)
        })
        .transpose()?;
    // Its staging/ files are deleted by batch-import once loaded, and the
    // rest (incoming/, processed/, rejected/) is the users' own.
    let bulk_import_bucket = bucket(
        &mut stack,
        stage,
        &key,
        logs,
        BucketSpec {
            id: "BulkImportBucket",
            purpose: "bulk-import",
            ..BucketSpec::default()
        },
    )?;
    if let Some(log_bucket) = &access_logs {
        let logged: Vec<(&Handle<Bucket>, &str)> = [
            Some((&lake_bucket, "raw-lake/")),
            staging_bucket.as_ref().map(|b| (b, "firehose-staging/")),
            Some((&bulk_import_bucket, "bulk-import/")),
        ]
        .into_iter()
        .flatten()
        .collect();
        add_log_delivery_policy(&mut stack, log_bucket, &logged)?;
    }

    let invoices_table = table(
        &mut stack,
        stage,
        &key,
        "InvoicesTable",
        record::dynamodb::invoices_table::HASH_KEY,
        record::dynamodb::invoices_table::RANGE_KEY,
    )?;
    let customers_table = table(
        &mut stack,
        stage,
        &key,
        "CustomersTable",
        record::dynamodb::customers_table::HASH_KEY,
        record::dynamodb::customers_table::RANGE_KEY,
    )?;

    stack.output("LakeBucketName", lake_bucket.name(), "Raw lake bucket")?;
    stack.output(
        "BulkImportBucketName",
        bulk_import_bucket.name(),
        "Drop CSV files under incoming/ of this bucket for the scheduled bulk import",
    )?;
    if let Some(staging_bucket) = &staging_bucket {
        stack.output(
            "StagingBucketName",
            staging_bucket.name(),
            "Firehose staging bucket (provisioner replay reloads the manifests under errors/)",
        )?;
    }
    stack.output("InvoicesTableName", invoices_table.name(), "Invoices table")?;
    stack.output(
        "CustomersTableName",
        customers_table.name(),
        "Customers table",
    )?;

    Ok((
        stack,
        Storage {
            key,
            alarm_topic,
            lake_bucket,
            staging_bucket,
            bulk_import_bucket,
            invoices_table,
            customers_table,
        },
    ))
}

/// In alarm as soon as Firehose writes under `errors/` of the staging
/// bucket: a batch Redshift refused for the whole retry duration (its COPY
/// manifest, which `provisioner replay` loads and merges) or records the
/// transform failed. `WarehouseDeliveryAlarm` goes off at the first failed
/// COPY; this one when Firehose has given up. S3 counts the PUTs under the
/// prefix in the request-metrics filter [`ERRORS_METRICS_FILTER`], one
/// datapoint a minute while there are requests; no requests (the normal
/// case) is no data, which is not an alarm.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/metrics-dimensions.html>
fn firehose_errors_alarm(
    stack: &mut Stack,
    staging: &Handle<Bucket>,
    topic: &Handle<Topic>,
) -> Result<(), PlatformError> {
    stack.add(
        "FirehoseErrorsAlarm",
        Alarm {
            alarm_description: opt(
                "Firehose wrote under errors/ of the staging bucket: a batch it could not COPY \
                 into Redshift (run provisioner replay) or records the transform failed"
                    .to_owned(),
            ),
            namespace: "AWS/S3".into(),
            metric_name: "PutRequests".into(),
            dimensions: vec![
                Dimension {
                    name: "BucketName".into(),
                    value: staging.name().into(),
                },
                Dimension {
                    name: "FilterId".into(),
                    value: ERRORS_METRICS_FILTER.into(),
                },
            ],
            statistic: "Sum".into(),
            period: 300.into(),
            evaluation_periods: 1.into(),
            threshold: 0.0.into(),
            comparison_operator: "GreaterThanThreshold".into(),
            treat_missing_data: opt("notBreaching"),
            alarm_actions: super::alarms::notify(topic),
            ok_actions: super::alarms::notify(topic),
        },
    )?;
    Ok(())
}

/// What differs between the stage's buckets.
#[derive(Default)]
struct BucketSpec<'a> {
    id: &'a str,
    /// Its `Purpose` tag and access-log prefix.
    purpose: &'a str,
    /// Prefixes whose objects expire once loaded.
    expiring: &'a [&'a str],
    /// A request-metrics filter (CloudWatch counts its requests).
    metrics: Option<MetricsConfiguration>,
    /// A bucket shared with a warehouse account has the name that account
    /// computes, and its policy grants that account what
    /// `shared.lake_grants` lists.
    shared: Option<&'a super::cross_account::CrossAccountNames>,
}

/// A private, encrypted, versioned bucket that refuses plain HTTP, with its
/// access logs under `<purpose>/` of `access_logs` where the stage keeps
/// them. Prod retains it (and its data) when the stack goes; dev deletes it
/// (deploy's destroy empties it first). Objects under the `expiring`
/// prefixes expire after the stage's `loaded_data_retention_days`.
fn bucket(
    stack: &mut Stack,
    stage: &Stage,
    key: &Handle<Key>,
    access_logs: Option<&Handle<Bucket>>,
    spec: BucketSpec<'_>,
) -> Result<Handle<Bucket>, PlatformError> {
    let BucketSpec {
        id,
        purpose,
        expiring,
        metrics,
        shared,
    } = spec;
    let options = Options::new().data_policy(stage.data_policy());
    let options = match access_logs {
        Some(_) => options,
        None => options.metadata(checkov_skip(&[NO_ACCESS_LOGS_SKIP])),
    };
    let mut rules = vec![LifecycleRule {
        id: Some("ExpireOldVersionsAndUploads".into()),
        status: "Enabled".into(),
        noncurrent_version_expiration: Some(NoncurrentVersionExpiration {
            noncurrent_days: i64::from(stage.log_retention_days.max(7)).into(),
        }),
        // Uploads killed half-way leave parts billed until aborted.
        abort_incomplete_multipart_upload: Some(AbortIncompleteMultipartUpload {
            days_after_initiation: 1.into(),
        }),
        ..Default::default()
    }];
    // The current version becomes noncurrent, which the rule above expires.
    rules.extend(expiring.iter().map(|prefix| LifecycleRule {
        id: Some(format!("ExpireLoaded-{}", prefix.trim_end_matches('/'))),
        status: "Enabled".into(),
        prefix: opt(*prefix),
        expiration_in_days: opt(i64::from(stage.loaded_data_retention_days)),
        ..Default::default()
    }));
    let bucket = stack.add_with(
        id,
        Bucket {
            bucket_name: shared.map(|names| names.lake_bucket.as_str().into()),
            bucket_encryption: Some(BucketEncryption::with_key(key.arn())),
            public_access_block_configuration: Some(PublicAccessBlockConfiguration::all_blocked()),
            ownership_controls: Some(OwnershipControls::bucket_owner_enforced()),
            versioning_configuration: Some(VersioningConfiguration {
                status: "Enabled".into(),
            }),
            lifecycle_configuration: Some(LifecycleConfiguration { rules }),
            logging_configuration: access_logs.map(|logs| logging_to(logs, &format!("{purpose}/"))),
            metrics_configurations: metrics.map(|filter| vec![filter]),
            tags: tags([("Stage", stage.name), ("Purpose", purpose)]),
        },
        options,
    )?;
    let mut policy_document = deny_insecure_transport(&bucket);
    if let Some(names) = shared {
        let statements = policy_document["Statement"]
            .as_array_mut()
            .expect("the policy has statements");
        statements.extend(names.lake_grants(&bucket.arn()));
    }
    stack.add(
        &format!("{id}Policy"),
        BucketPolicy {
            bucket: bucket.name().into(),
            policy_document,
        },
    )?;
    Ok(bucket)
}

/// Denies every request made without TLS, to the bucket and its objects.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html>
pub fn deny_insecure_transport(bucket: &Handle<Bucket>) -> serde_json::Value {
    let arn = serde_json::to_value(bucket.arn()).expect("expressions are plain JSON");
    let objects = serde_json::to_value(Expr::sub_with("${Bucket}/*", [("Bucket", bucket.arn())]))
        .expect("expressions are plain JSON");
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": { "AWS": "*" },
            "Action": "s3:*",
            "Resource": [arn, objects],
            "Condition": { "Bool": { "aws:SecureTransport": "false" } }
        }]
    })
}

/// An on-demand table keyed by two strings, encrypted with the stage's key,
/// with point-in-time recovery where the stage keeps backups.
fn table(
    stack: &mut Stack,
    stage: &Stage,
    key: &Handle<Key>,
    id: &str,
    hash_key: &str,
    range_key: &str,
) -> Result<Handle<Table>, PlatformError> {
    Ok(stack.add_with(
        id,
        Table {
            // Invoice numbers (`C536379`) and customer ids are strings.
            attribute_definitions: vec![
                AttributeDefinition {
                    attribute_name: hash_key.to_string(),
                    attribute_type: AttributeType::S,
                },
                AttributeDefinition {
                    attribute_name: range_key.to_string(),
                    attribute_type: AttributeType::S,
                },
            ],
            key_schema: vec![
                KeySchema {
                    attribute_name: hash_key.to_string(),
                    key_type: KeyType::Hash,
                },
                KeySchema {
                    attribute_name: range_key.to_string(),
                    key_type: KeyType::Range,
                },
            ],
            // About 280 writes a second, in bursts: on demand follows them.
            billing_mode: opt("PAY_PER_REQUEST"),
            point_in_time_recovery_specification: Some(PointInTimeRecoverySpecification {
                point_in_time_recovery_enabled: stage.backups.into(),
            }),
            sse_specification: Some(SseSpecification {
                sse_enabled: true.into(),
                sse_type: opt("KMS"),
                kms_master_key_id: opt(key.arn()),
            }),
            deletion_protection_enabled: opt(stage.retain_data),
            tags: tags([("Stage", stage.name)]),
            ..Default::default()
        },
        table_options(stage),
    )?)
}

fn table_options(stage: &Stage) -> Options {
    let options = Options::new().data_policy(stage.data_policy());
    if stage.backups {
        return options;
    }
    options.metadata(checkov_skip(&[(
        "CKV_AWS_28",
        "A stage without backups (dev): its data is disposable and the stage is destroyed \
         cleanly; stages with backups enable point-in-time recovery",
    )]))
}
