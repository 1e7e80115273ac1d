//! Streaming: the Kinesis stream every transaction goes through, and what
//! reads it: the raw-lake and DynamoDB writers (event source mappings that
//! bisect failing batches, retry a bounded number of times, report the
//! failed records and keep what still fails in SQS), and Firehose, which
//! transforms each record and COPYs it into Redshift with `json 'auto'`.

use std::collections::BTreeMap;

use serde_json::json;

use crate::assets::AssetTable;
use crate::model::cloudwatch::{Alarm, Dimension};
use crate::model::iam::Role;
use crate::model::kinesis::{Stream, StreamEncryption};
use crate::model::kinesisfirehose::{
    BufferingHints, CloudWatchLoggingOptions, CopyCommand, DeliveryStream, EncryptionConfiguration,
    KinesisStreamSourceConfiguration, KmsEncryptionConfig, ProcessingConfiguration, Processor,
    ProcessorParameter, RedshiftDestinationConfiguration, RedshiftRetryOptions,
    S3DestinationConfiguration, SecretsManagerConfiguration,
};
use crate::model::lambda::{DestinationConfig, EventSourceMapping, OnFailure};
use crate::model::logs::LogStream;
use crate::model::sqs::Queue;
use crate::model::tags::tags;
use crate::model::{Expr, Handle, Options, Stack, opt};
use crate::policies::Policy;
use crate::stage::Stage;

use super::PlatformError;
use super::alarms::notify;
use super::function::{
    FunctionSpec, PlatformFunction, SYNCHRONOUS_DLQ_SKIP, add_function, add_log_group,
    checkov_skip, to_json,
};
use super::role::add_role;
use super::storage::{Storage, staging_prefixes};
use super::warehouse::{FIREHOSE_STAGING_TABLE, Warehouse};

/// What other stacks consume from streaming.
#[derive(Debug, Clone)]
pub struct Streaming {
    pub stream: Handle<Stream>,
}

/// COPY options for the lines the transform writes: one JSON object per
/// line whose lower-case keys are the column names, so `json 'auto'` maps
/// them (without it, or a jsonpaths file, COPY reads JSON as delimited
/// text and fails).
pub const COPY_OPTIONS: &str = "json 'auto' timeformat 'auto' truncatecolumns";

/// How a stream consumer reads: bounded retries, bisection of failing
/// batches, per-record failure reports. The record age limit is the
/// stream's retention ([`maximum_record_age_seconds`]).
#[derive(Debug, Clone, Copy)]
pub struct StreamReading {
    pub batch_size: i64,
    pub batching_window_seconds: i64,
    pub maximum_retry_attempts: i64,
}

/// The raw lake favours larger objects; the serving tables low latency.
pub const LAKE_READING: StreamReading = StreamReading {
    batch_size: 1000,
    batching_window_seconds: 30,
    maximum_retry_attempts: 5,
};
pub const TABLES_READING: StreamReading = StreamReading {
    batch_size: 500,
    batching_window_seconds: 1,
    maximum_retry_attempts: 5,
};

/// The largest `MaximumRecordAgeInSeconds` a mapping takes (7 days); -1
/// means no limit
/// (<https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html>).
pub const MAXIMUM_RECORD_AGE_LIMIT_SECONDS: i64 = 7 * 24 * 3600;

/// A consumer keeps retrying a record for as long as the stream keeps it:
/// a shorter age limit (it was 6 hours against 7 days of retention)
/// discarded records during a longer DynamoDB or S3 outage while the
/// stream still held them. The stream's retention in seconds, or no limit
/// when the retention is longer than a mapping's limit allows.
pub fn maximum_record_age_seconds(stage: &Stage) -> i64 {
    let retention = i64::from(stage.stream.retention_hours) * 3600;
    if retention <= MAXIMUM_RECORD_AGE_LIMIT_SECONDS {
        retention
    } else {
        -1
    }
}

/// Firehose waits at most 5 minutes for a processor invocation.
/// <https://docs.aws.amazon.com/firehose/latest/dev/data-transformation.html>
pub const FIREHOSE_PROCESSOR_LIMIT_SECONDS: i64 = 300;

pub fn streaming(
    stage: &Stage,
    assets: &AssetTable,
    storage: &Storage,
    warehouse: Option<&Warehouse>,
) -> Result<(Stack, Streaming), PlatformError> {
    let mut stack = Stack::new(
        "Streaming",
        if warehouse.is_some() {
            "Kinesis stream of transactions; writers to the raw lake and DynamoDB; Firehose into \
             Redshift"
        } else {
            "Kinesis stream of transactions; writers to the raw lake and DynamoDB"
        },
    )?;

    let stream = stack.add_with(
        "Stream",
        Stream {
            shard_count: opt(i64::from(stage.stream.shards)),
            retention_period_hours: opt(i64::from(stage.stream.retention_hours)),
            // The stage's key: producers and consumers need its grant
            // (policies/), Firehose included.
            stream_encryption: Some(StreamEncryption {
                encryption_type: "KMS".into(),
                key_id: storage.key.arn().into(),
            }),
            tags: tags([("Stage", stage.name)]),
            ..Default::default()
        },
        Options::new(),
    )?;

    let lake_failures = failure_queue(&mut stack, stage, "LakeWriterFailures")?;
    let lake_writer = add_function(
        &mut stack,
        stage,
        assets,
        &storage.key,
        FunctionSpec {
            asset: "lake-writer",
            id: "LakeWriter",
            description: "Writes stream batches to the raw lake as NDJSON by event date".into(),
            policy: Policy::LambdaLakeWriter,
            policy_context: BTreeMap::from([
                ("stream_arn", stream.arn()),
                ("lake_bucket_arn", storage.lake_bucket.arn()),
                ("failure_queue_arn", lake_failures.arn()),
                ("stream_kms_key_arn", storage.key.arn()),
                ("data_key_arn", storage.key.arn()),
            ]),
            environment: BTreeMap::from([("LAKE_BUCKET", storage.lake_bucket.name())]),
            memory_mb: 512,
            timeout_seconds: 120,
            reserved_concurrency: None,
            checkov_skips: vec![SYNCHRONOUS_DLQ_SKIP, NO_RESERVED_CONCURRENCY_SKIP],
        },
    )?;
    read_stream(
        &mut stack,
        stage,
        "LakeWriter",
        &stream,
        &lake_writer,
        &lake_failures,
        LAKE_READING,
    )?;

    failure_alarm(&mut stack, storage, "LakeWriterFailures", &lake_failures)?;
    let table_failures = failure_queue(&mut stack, stage, "DynamodbWriterFailures")?;
    failure_alarm(
        &mut stack,
        storage,
        "DynamodbWriterFailures",
        &table_failures,
    )?;
    let dynamodb_writer = add_function(
        &mut stack,
        stage,
        assets,
        &storage.key,
        FunctionSpec {
            asset: "dynamodb-writer",
            id: "DynamodbWriter",
            description: "Writes invoice lines and customer purchases to DynamoDB".into(),
            policy: Policy::LambdaDynamodbWriter,
            policy_context: BTreeMap::from([
                ("stream_arn", stream.arn()),
                ("invoices_table_arn", storage.invoices_table.arn()),
                ("customers_table_arn", storage.customers_table.arn()),
                ("failure_queue_arn", table_failures.arn()),
                ("lake_bucket_arn", storage.lake_bucket.arn()),
                ("stream_kms_key_arn", storage.key.arn()),
                ("data_key_arn", storage.key.arn()),
            ]),
            environment: BTreeMap::from([
                ("INVOICES_TABLE", storage.invoices_table.name()),
                ("CUSTOMERS_TABLE", storage.customers_table.name()),
                // Where the records it gives up on are saved (failed/).
                ("FAILED_BUCKET", storage.lake_bucket.name()),
            ]),
            memory_mb: 512,
            timeout_seconds: 120,
            reserved_concurrency: None,
            checkov_skips: vec![SYNCHRONOUS_DLQ_SKIP, NO_RESERVED_CONCURRENCY_SKIP],
        },
    )?;
    read_stream(
        &mut stack,
        stage,
        "DynamodbWriter",
        &stream,
        &dynamodb_writer,
        &table_failures,
        TABLES_READING,
    )?;

    stack.output(
        "StreamName",
        stream.name(),
        "Kinesis stream of transactions",
    )?;
    // `provisioner replay` invokes the writer that saved a failed record
    // (failed/{writer}/...) with it again.
    stack.output(
        "LakeWriterFunctionName",
        lake_writer.function.reference(),
        "The lake-writer function (provisioner replay re-drives its failed/ records)",
    )?;
    stack.output(
        "DynamodbWriterFunctionName",
        dynamodb_writer.function.reference(),
        "The dynamodb-writer function (provisioner replay re-drives its failed/ records)",
    )?;
    // `provisioner replay` reads the batches Lambda gave up on back from
    // the stream and deletes each message once its writer stored them.
    stack.output(
        "LakeWriterFailuresQueueUrl",
        lake_failures.url(),
        "Batches lake-writer's mapping gave up on (provisioner replay re-drives them)",
    )?;
    stack.output(
        "DynamodbWriterFailuresQueueUrl",
        table_failures.url(),
        "Batches dynamodb-writer's mapping gave up on (provisioner replay re-drives them)",
    )?;

    // Firehose into Redshift in the public topology only: a private
    // warehouse is loaded from the lake by its loader.
    let Some(warehouse) = warehouse else {
        return Ok((stack, Streaming { stream }));
    };

    let transform = add_function(
        &mut stack,
        stage,
        assets,
        &storage.key,
        FunctionSpec {
            asset: "firehose-transform",
            id: "Transform",
            description: "Firehose processor: one transaction in, one warehouse JSON line out"
                .into(),
            policy: Policy::LambdaFirehoseTransform,
            policy_context: BTreeMap::new(),
            environment: BTreeMap::new(),
            memory_mb: 512,
            // Well inside Firehose's 5-minute wait: a 1 MB buffer takes
            // milliseconds.
            timeout_seconds: 60,
            reserved_concurrency: None,
            checkov_skips: vec![SYNCHRONOUS_DLQ_SKIP, NO_RESERVED_CONCURRENCY_SKIP],
        },
    )?;

    let delivery = delivery_stream(&mut stack, stage, storage, warehouse, &stream, &transform)?;
    delivery_alarm(&mut stack, storage, &delivery)?;

    Ok((stack, Streaming { stream }))
}

/// Stream consumers scale with shards (one concurrent batch per shard), so
/// a reserved concurrency would only add a way to throttle them.
pub const NO_RESERVED_CONCURRENCY_SKIP: (&str, &str) = (
    "CKV_AWS_115",
    "Concurrency is bounded by the trigger: one batch per shard for stream consumers, Firehose's \
     own for the processor",
);

/// An encrypted queue keeping, for 14 days, the batches a consumer could
/// not process after every retry: nothing is dropped silently.
fn failure_queue(
    stack: &mut Stack,
    stage: &Stage,
    id: &str,
) -> Result<Handle<Queue>, PlatformError> {
    Ok(stack.add_with(
        id,
        Queue {
            // The maximum: time to find the cause and replay.
            message_retention_period: opt(14 * 24 * 3600),
            sqs_managed_sse_enabled: opt(true),
            tags: tags([("Stage", stage.name)]),
            ..Default::default()
        },
        Options::new()
            .data_policy(stage.data_policy())
            .metadata(checkov_skip(&[(
                "CKV_AWS_27",
                "Encrypted at rest with SQS managed keys (SqsManagedSseEnabled); the check only \
                 recognises a KMS key",
            )])),
    )?)
}

/// In alarm as soon as a batch is in a failure queue: its records are saved
/// under the lake's `failed/` and wait for a replay.
/// <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html>
fn failure_alarm(
    stack: &mut Stack,
    storage: &Storage,
    queue_id: &str,
    queue: &Handle<Queue>,
) -> Result<(), PlatformError> {
    stack.add(
        &format!("{queue_id}Alarm"),
        Alarm {
            alarm_description: opt(format!(
                "{queue_id} holds batches a stream writer gave up on; their records are under \
                 failed/ of the lake bucket"
            )),
            namespace: "AWS/SQS".into(),
            metric_name: "ApproximateNumberOfMessagesVisible".into(),
            dimensions: vec![Dimension {
                name: "QueueName".into(),
                value: queue.queue_name().into(),
            }],
            statistic: "Maximum".into(),
            period: 300.into(),
            evaluation_periods: 1.into(),
            threshold: 0.0.into(),
            comparison_operator: "GreaterThanThreshold".into(),
            treat_missing_data: opt("notBreaching"),
            alarm_actions: notify(&storage.alarm_topic),
            ok_actions: notify(&storage.alarm_topic),
        },
    )?;
    Ok(())
}

/// In alarm when a COPY into Redshift fails: `DeliveryToRedshift.Success`
/// is the share of successful COPYs, below 1 when one failed; Firehose
/// retries, then leaves the batch's manifest under `errors/`. No data
/// (nothing to deliver) is not an alarm.
/// <https://docs.aws.amazon.com/firehose/latest/dev/monitoring-with-cloudwatch-metrics.html>
fn delivery_alarm(
    stack: &mut Stack,
    storage: &Storage,
    delivery: &Handle<DeliveryStream>,
) -> Result<(), PlatformError> {
    stack.add(
        "WarehouseDeliveryAlarm",
        Alarm {
            alarm_description: opt(
                "A Firehose COPY into Redshift failed; after its retries the manifest is under \
                 errors/ of the staging bucket"
                    .to_owned(),
            ),
            namespace: "AWS/Firehose".into(),
            metric_name: "DeliveryToRedshift.Success".into(),
            dimensions: vec![Dimension {
                name: "DeliveryStreamName".into(),
                value: delivery.name().into(),
            }],
            statistic: "Minimum".into(),
            period: 300.into(),
            evaluation_periods: 1.into(),
            threshold: 1.0.into(),
            comparison_operator: "LessThanThreshold".into(),
            treat_missing_data: opt("notBreaching"),
            alarm_actions: notify(&storage.alarm_topic),
            ok_actions: notify(&storage.alarm_topic),
        },
    )?;
    Ok(())
}

fn read_stream(
    stack: &mut Stack,
    stage: &Stage,
    id: &str,
    stream: &Handle<Stream>,
    consumer: &PlatformFunction,
    failures: &Handle<Queue>,
    reading: StreamReading,
) -> Result<(), PlatformError> {
    stack.add_with(
        &format!("{id}StreamMapping"),
        EventSourceMapping {
            event_source_arn: stream.arn().into(),
            function_name: consumer.function.reference().into(),
            // From the oldest record kept: nothing put before the mapping
            // existed is skipped.
            starting_position: opt("TRIM_HORIZON"),
            batch_size: opt(reading.batch_size),
            maximum_batching_window_in_seconds: opt(reading.batching_window_seconds),
            bisect_batch_on_function_error: opt(true),
            maximum_retry_attempts: opt(reading.maximum_retry_attempts),
            maximum_record_age_in_seconds: opt(maximum_record_age_seconds(stage)),
            function_response_types: Some(vec!["ReportBatchItemFailures".into()]),
            destination_config: Some(DestinationConfig {
                on_failure: OnFailure {
                    destination: failures.arn().into(),
                },
            }),
            ..Default::default()
        },
        // The mapping validates the role's stream permissions on create.
        Options::new().depends_on(&consumer.role),
    )?;
    Ok(())
}

fn delivery_stream(
    stack: &mut Stack,
    stage: &Stage,
    storage: &Storage,
    warehouse: &Warehouse,
    stream: &Handle<Stream>,
    transform: &PlatformFunction,
) -> Result<Handle<DeliveryStream>, PlatformError> {
    let log_group = add_log_group(stack, stage, &storage.key, "DeliveryLogGroup")?;
    let log_stream = |stack: &mut Stack, id: &str, name: &str| {
        stack.add(
            id,
            LogStream {
                log_group_name: log_group.name().into(),
                log_stream_name: opt(name),
            },
        )
    };
    let redshift_log = log_stream(stack, "RedshiftDeliveryLogStream", "RedshiftDelivery")?;
    let s3_log = log_stream(stack, "S3DeliveryLogStream", "S3Delivery")?;
    let backup_log = log_stream(stack, "S3BackupLogStream", "S3Backup")?;
    let logging = |stream: &Handle<LogStream>| CloudWatchLoggingOptions {
        enabled: true.into(),
        log_group_name: opt(log_group.name()),
        log_stream_name: opt(stream.name()),
    };

    let role = add_role(
        stack,
        "DeliveryRole",
        Role {
            // Only Firehose acting for this account may assume it.
            assume_role_policy_document: json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "Service": "firehose.amazonaws.com" },
                    "Action": "sts:AssumeRole",
                    "Condition": { "StringEquals": { "sts:ExternalId": { "Ref": "AWS::AccountId" } } }
                }]
            }),
            description: opt("Firehose delivery from the stream into Redshift"),
            ..Default::default()
        },
        Policy::FirehoseDelivery,
        &json!({
            "stream_arn": to_json(&stream.arn()),
            "staging_bucket_arn": to_json(&storage.firehose_staging().arn()),
            "transform_function_arn": to_json(&transform.function.arn()),
            "log_group_name": to_json(&log_group.name()),
            "warehouse_secret_arn": to_json(&warehouse.loader_secret.arn()),
            "stream_kms_key_arn": to_json(&storage.key.arn()),
            "data_key_arn": to_json(&storage.key.arn()),
        }),
    )?;

    let staging = |prefix: &str, log: &Handle<LogStream>| S3DestinationConfiguration {
        bucket_arn: storage.firehose_staging().arn().into(),
        role_arn: role.arn().into(),
        prefix: opt(prefix),
        // Under errors/, which the Storage stack's FirehoseErrorsAlarm watches.
        error_output_prefix: opt(format!(
            "{}{prefix}!{{firehose:error-output-type}}/!{{timestamp:yyyy/MM/dd}}/",
            staging_prefixes::ERRORS
        )),
        buffering_hints: Some(BufferingHints {
            interval_in_seconds: opt(60),
            size_in_mbs: opt(5),
        }),
        // COPY reads the intermediate files as they are.
        compression_format: opt("UNCOMPRESSED"),
        cloud_watch_logging_options: Some(logging(log)),
        // Staged objects under the stage's key, as the bucket's default.
        encryption_configuration: Some(EncryptionConfiguration {
            kms_encryption_config: KmsEncryptionConfig {
                aws_kms_key_arn: storage.key.arn().into(),
            },
        }),
    };
    let columns: Vec<&str> = record::WAREHOUSE_COLUMNS.iter().map(|c| c.name).collect();
    let parameter = |name: &str, value: Expr| ProcessorParameter {
        parameter_name: name.into(),
        parameter_value: value.into(),
    };

    Ok(stack.add_with(
        "DeliveryStream",
        DeliveryStream {
            delivery_stream_type: opt("KinesisStreamAsSource"),
            kinesis_stream_source_configuration: Some(KinesisStreamSourceConfiguration {
                kinesis_stream_arn: stream.arn().into(),
                role_arn: role.arn().into(),
            }),
            redshift_destination_configuration: Some(RedshiftDestinationConfiguration {
                cluster_jdbc_url: warehouse.jdbc_url().into(),
                copy_command: CopyCommand {
                    data_table_name: FIREHOSE_STAGING_TABLE.into(),
                    data_table_columns: opt(columns.join(",")),
                    copy_options: opt(COPY_OPTIONS),
                },
                role_arn: role.arn().into(),
                s3_configuration: staging(staging_prefixes::COPY, &s3_log),
                // Every source record is also kept as received, to replay
                // what a failed COPY left in errors/.
                s3_backup_mode: opt("Enabled"),
                s3_backup_configuration: Some(staging(
                    staging_prefixes::SOURCE_BACKUP,
                    &backup_log,
                )),
                processing_configuration: Some(ProcessingConfiguration {
                    enabled: true.into(),
                    processors: vec![Processor {
                        processor_type: "Lambda".into(),
                        parameters: vec![
                            parameter("LambdaArn", transform.function.arn()),
                            // 1 MB in gives about 2.5 MB out, inside Lambda's
                            // 6 MB response (see firehose-transform).
                            parameter("BufferSizeInMBs", Expr::literal("1")),
                            parameter("BufferIntervalInSeconds", Expr::literal("60")),
                            parameter("NumberOfRetries", Expr::literal("3")),
                        ],
                    }],
                }),
                cloud_watch_logging_options: Some(logging(&redshift_log)),
                // An hour of COPY retries before records go to errors/.
                retry_options: Some(RedshiftRetryOptions {
                    duration_in_seconds: 3600.into(),
                }),
                secrets_manager_configuration: Some(SecretsManagerConfiguration {
                    enabled: true.into(),
                    // The loader: INSERT into the staging table only.
                    secret_arn: opt(warehouse.loader_secret.arn()),
                    role_arn: opt(role.arn()),
                }),
                username: None,
                password: None,
            }),
            tags: tags([("Stage", stage.name)]),
            ..Default::default()
        },
        Options::new(),
    )?)
}
