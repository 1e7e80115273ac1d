//! `provisioner replay` and `reimport`: what is saved as failed in S3, and
//! the batches in the writers' on-failure queues read back from the stream
//! (a local emulator, moto) re-driven through the writers (Lambda mocked:
//! moto cannot run a function's code) and the warehouse (the Data API
//! mocked, on the real statements); and both commands through the binary
//! when they must refuse.

use crate::support;

use std::process::Output;
use std::time::Duration;

use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_redshiftdata::operation::batch_execute_statement::BatchExecuteStatementOutput;
use aws_sdk_redshiftdata::operation::describe_statement::DescribeStatementOutput;
use aws_sdk_redshiftdata::types::StatusString;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use provisioner::reconcile::Store;
use provisioner::repair::on_failure::{self, FailureQueue};
use provisioner::repair::replay::{self, Outcome, Writers};
use provisioner::repair::warehouse::{self, Source};
use support::{Moto, deploy_args, provisioner_without_credentials, strs, synth_dev_stage};

const LAKE: &str = "retail-dev-lake";
const STAGING: &str = "retail-dev-staging";

fn writers() -> Writers {
    Writers {
        lake_writer: "retail-dev-LakeWriter".into(),
        dynamodb_writer: "retail-dev-DynamodbWriter".into(),
    }
}

async fn bucket(s3: &aws_sdk_s3::Client, name: &str) {
    s3.create_bucket()
        .bucket(name)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap();
}

async fn keys(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

/// A failed object as `writer` saves it (`record::failed`): two records of
/// shard 1 from sequence number `first`.
fn failed_object(writer: &str, first: u64) -> (String, Vec<u8>) {
    let (a, b) = (first.to_string(), (first + 1).to_string());
    let data = br#"{"InvoiceNo":"536365","StockCode":"85123A","Description":"WHITE HANGING HEART T-LIGHT HOLDER","Quantity":"6","InvoiceDate":"12/1/2010 8:26","UnitPrice":"2.55","CustomerID":"17850","Country":"United Kingdom"}"#;
    let records = [
        record::failed::FailedRecord {
            shard_id: "shardId-000000000001",
            sequence_number: &a,
            partition_key: "536365",
            approximate_arrival_timestamp: "2010-12-01T08:26:00+00:00".into(),
            data,
        },
        record::failed::FailedRecord {
            shard_id: "shardId-000000000001",
            sequence_number: &b,
            partition_key: "536365",
            approximate_arrival_timestamp: "2010-12-01T08:26:01+00:00".into(),
            data,
        },
    ];
    let object = record::failed::failed_object(writer, "S3 was unavailable", &records).unwrap();
    (object.key, object.body)
}

/// A writer function answering with `answer`, counting its invocations;
/// it checks it receives the saved records at their stream positions.
fn writer(function: &'static str, first: u64, answer: &'static str) -> Rule {
    mock!(aws_sdk_lambda::Client::invoke)
        .match_requests(move |r| {
            let Some(payload) = r.payload() else {
                return false;
            };
            let event: serde_json::Value = serde_json::from_slice(payload.as_ref()).unwrap();
            r.function_name() == Some(function)
                && event["Records"][0]["eventID"]
                    == format!("shardId-000000000001:{first}").as_str()
                && event["Records"][1]["kinesis"]["sequenceNumber"]
                    == (first + 1).to_string().as_str()
        })
        .then_output(move || {
            InvokeOutput::builder()
                .status_code(200)
                .payload(Blob::new(answer))
                .build()
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_records_are_replayed_through_their_writer_once_and_what_fails_again_stays() {
    let moto = Moto::start();
    let s3 = moto.s3();
    bucket(&s3, LAKE).await;
    let (lake_key, body) = failed_object("lake-writer", 100);
    put(&s3, LAKE, &lake_key, body).await;
    let (table_key, body) = failed_object("dynamodb-writer", 200);
    put(&s3, LAKE, &table_key, body).await;
    let lake_writer = writer("retail-dev-LakeWriter", 100, r#"{"batchItemFailures":[]}"#);
    let table_writer = writer(
        "retail-dev-DynamodbWriter",
        200,
        r#"{"batchItemFailures":[{"itemIdentifier":"201"}]}"#,
    );
    let lambda = mock_client!(
        aws_sdk_lambda,
        RuleMode::MatchAny,
        [&lake_writer, &table_writer]
    );

    let first = replay::replay_failed_records(&s3, &lambda, LAKE, &writers())
        .await
        .unwrap();
    let by_key = |key: &str| first.iter().find(|r| r.key == key).unwrap().clone();
    let lake = by_key(&lake_key);
    assert_eq!((lake.store, lake.items), (Store::Lake, 2));
    assert_eq!(
        lake.outcome,
        Outcome::Replayed {
            moved_to: format!("replayed/{lake_key}")
        }
    );
    let table = by_key(&table_key);
    assert_eq!(table.store, Store::Dynamodb);
    assert!(
        matches!(&table.outcome, Outcome::StillFailing { reason }
            if reason.contains("failed 1 of 2 records again (first: 201)")),
        "{table:?}"
    );
    let mut left = keys(&s3, LAKE).await;
    left.sort();
    assert_eq!(left, [table_key.clone(), format!("replayed/{lake_key}")]);

    // A second replay does not touch what was replayed.
    let second = replay::replay_failed_records(&s3, &lambda, LAKE, &writers())
        .await
        .unwrap();
    assert_eq!(lake_writer.num_calls(), 1);
    assert_eq!(table_writer.num_calls(), 2);
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].key, table_key);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_writer_that_crashes_leaves_its_records_saved_with_the_error() {
    let moto = Moto::start();
    let s3 = moto.s3();
    bucket(&s3, LAKE).await;
    let (key, body) = failed_object("lake-writer", 300);
    put(&s3, LAKE, &key, body).await;
    let crashed = mock!(aws_sdk_lambda::Client::invoke).then_output(|| {
        InvokeOutput::builder()
            .status_code(200)
            .function_error("Unhandled")
            .payload(Blob::new(
                r#"{"errorMessage":"Task timed out after 120.00 seconds"}"#,
            ))
            .build()
    });
    let lambda = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&crashed]);
    let replayed = replay::replay_failed_records(&s3, &lambda, LAKE, &writers())
        .await
        .unwrap();
    assert!(
        matches!(&replayed[0].outcome, Outcome::StillFailing { reason }
            if reason.contains("retail-dev-LakeWriter failed: Unhandled")
                && reason.contains("Task timed out")),
        "{replayed:?}"
    );
    assert_eq!(keys(&s3, LAKE).await, [key]);
}

fn config() -> batch_import::config::DataApi {
    batch_import::config::DataApi {
        staging_bucket: "retail-dev-imports".into(),
        cluster_identifier: "retail-dev-cluster".into(),
        database: "retail".into(),
        secret_arn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:wh".into(),
        copy_role_arn: "arn:aws:iam::123456789012:role/retail-dev-copy".into(),
        warehouse_table: "public.transactions".parse().unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_firehose_manifest_is_copied_and_merged_then_moved_and_other_errors_are_reported() {
    let moto = Moto::start();
    let s3 = moto.s3();
    bucket(&s3, STAGING).await;
    let manifest_key = "errors/copy/manifests/2026/12/06/retail-dev-delivery-1";
    let manifest = format!(
        r#"{{"entries":[{{"url":"s3://{STAGING}/copy/2026/12/06/10/retail-dev-delivery-1","mandatory":true}}]}}"#
    );
    put(&s3, STAGING, manifest_key, manifest.into_bytes()).await;
    let transform_failed = "errors/copy/processing-failed/2026/12/06/retail-dev-delivery-2";
    let record = r#"{"attemptsMade":4,"errorCode":"Lambda.FunctionError","rawData":"e30="}"#;
    put(&s3, STAGING, transform_failed, record.as_bytes().to_vec()).await;

    let expected = warehouse::load_statements(
        &config(),
        &Source::Manifest {
            bucket: STAGING.into(),
            key: manifest_key.into(),
        },
    )
    .unwrap();
    let submit = mock!(aws_sdk_redshiftdata::Client::batch_execute_statement)
        .match_requests(move |r| r.sqls() == expected.as_slice())
        .then_output(|| BatchExecuteStatementOutput::builder().id("load-1").build());
    let describe = mock!(aws_sdk_redshiftdata::Client::describe_statement).then_output(|| {
        DescribeStatementOutput::builder()
            .id("load-1")
            .status(StatusString::Finished)
            .build()
            .unwrap()
    });
    let data_api = mock_client!(
        aws_sdk_redshiftdata,
        RuleMode::MatchAny,
        [&submit, &describe]
    );
    let wait = redshift_statements::Wait {
        poll_interval: Duration::from_millis(1),
        max_wait: Some(Duration::from_secs(5)),
        deadline: None,
    };
    let config = config();
    let replayed = replay::replay_firehose_errors(&s3, &data_api, STAGING, Ok(&config), &wait)
        .await
        .unwrap();
    assert_eq!(submit.num_calls(), 1);
    let manifest = replayed.iter().find(|r| r.key == manifest_key).unwrap();
    assert_eq!((manifest.store, manifest.items), (Store::Redshift, 1));
    assert!(manifest.outcome.is_replayed(), "{manifest:?}");
    let other = replayed.iter().find(|r| r.key == transform_failed).unwrap();
    assert!(
        matches!(&other.outcome, Outcome::NotReplayable { reason }
            if reason.starts_with("not a COPY manifest")),
        "{other:?}"
    );
    let mut left = keys(&s3, STAGING).await;
    left.sort();
    assert_eq!(
        left,
        [
            transform_failed.to_owned(),
            format!("replayed/{manifest_key}")
        ]
    );

    // Again: the manifest is not loaded twice.
    replay::replay_firehose_errors(&s3, &data_api, STAGING, Ok(&config), &wait)
        .await
        .unwrap();
    assert_eq!(submit.num_calls(), 1);
}

fn said(run: &Output) -> String {
    String::from_utf8_lossy(&run.stdout).into_owned() + &String::from_utf8_lossy(&run.stderr)
}

#[test]
fn reimport_refuses_days_that_are_not_dates_or_out_of_order_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = provisioner_without_credentials(
        dir.path(),
        &["reimport", "--from", "2010-13-01", "--to", "2010-12-09"],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", said(&bad));
    assert!(said(&bad).contains("--from"), "{}", said(&bad));
    let reversed = provisioner_without_credentials(
        dir.path(),
        &["reimport", "--from", "2010-12-09", "--to", "2010-12-01"],
    );
    assert_eq!(reversed.status.code(), Some(2), "{}", said(&reversed));
    assert!(
        said(&reversed).contains("--from 2010-12-09 is after --to 2010-12-01"),
        "{}",
        said(&reversed)
    );
    let missing =
        provisioner_without_credentials(dir.path(), &["reimport", "--from", "2010-12-01"]);
    assert_eq!(missing.status.code(), Some(2), "{}", said(&missing));
    assert!(said(&missing).contains("--to"), "{}", said(&missing));
}

#[test]
fn both_commands_refuse_an_unknown_stage_and_missing_credentials_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["replay", "--stage", "qa"][..],
        &[
            "reimport",
            "--stage",
            "qa",
            "--from",
            "2010-12-01",
            "--to",
            "2010-12-01",
        ],
    ] {
        let run = provisioner_without_credentials(dir.path(), args);
        assert_eq!(run.status.code(), Some(2), "{}", said(&run));
        assert!(said(&run).contains("qa"), "{}", said(&run));
    }
    for args in [
        &["replay", "--region", "eu-west-1"][..],
        &[
            "reimport",
            "--region",
            "eu-west-1",
            "--from",
            "2010-12-01",
            "--to",
            "2010-12-01",
        ],
    ] {
        let run = provisioner_without_credentials(dir.path(), args);
        assert_eq!(run.status.code(), Some(2), "{}", said(&run));
        assert!(said(&run).contains("credentials"), "{}", said(&run));
    }
}

#[test]
fn on_a_stage_that_is_not_deployed_both_commands_say_deploy_first_and_exit_2() {
    let moto = Moto::start();
    for args in [
        &["replay"][..],
        &["reimport", "--from", "2010-12-01", "--to", "2010-12-02"],
    ] {
        let run = moto.run(&[args, &["--region", support::REGION]].concat());
        assert_eq!(run.code(), 2, "{}{}", run.stdout(), run.stderr());
        assert!(
            run.stderr()
                .contains("stack retail-dev-storage is not deployed"),
            "{}",
            run.stderr()
        );
        assert!(
            run.stderr().contains("provisioner deploy --stage dev"),
            "{}",
            run.stderr()
        );
    }
}

const STREAM: &str = "retail-dev-stream";

/// An on-failure message as Lambda sends it for a batch of `shard` from
/// `start` to `end` (the shape of Lambda's documentation).
fn on_failure_message(shard: &str, start: &str, end: &str, batch_size: u64) -> String {
    serde_json::json!({
        "requestContext": {
            "requestId": "c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5",
            "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:retail-dev-LakeWriter",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 6
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "2026-12-06T10:00:00.000Z",
        "KinesisBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": start,
            "endSequenceNumber": end,
            "approximateArrivalOfFirstRecord": "2026-12-06T09:59:58.000Z",
            "approximateArrivalOfLastRecord": "2026-12-06T09:59:59.000Z",
            "batchSize": batch_size,
            "streamArn": format!("arn:aws:kinesis:eu-west-1:123456789012:stream/{STREAM}")
        }
    })
    .to_string()
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str, messages: &[String]) -> String {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    for body in messages {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    url
}

/// The bodies of the messages `url` holds, in any order (received, then
/// made visible again).
async fn bodies(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let received = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let mut bodies: Vec<String> = received
        .messages()
        .iter()
        .filter_map(|m| m.body().map(str::to_owned))
        .collect();
    bodies.sort();
    bodies
}

fn transaction(invoice: u32) -> String {
    format!(
        r#"{{"InvoiceNo":"{invoice}","StockCode":"85123A","Description":"WHITE HANGING HEART T-LIGHT HOLDER","Quantity":"6","InvoiceDate":"12/1/2010 8:26","UnitPrice":"2.55","CustomerID":"17850","Country":"United Kingdom"}}"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_given_up_on_are_read_back_from_the_stream_and_replayed_through_their_writer() {
    let moto = Moto::start();
    let (kinesis, sqs) = (moto.kinesis(), moto.sqs());
    kinesis
        .create_stream()
        .stream_name(STREAM)
        .shard_count(1)
        .send()
        .await
        .unwrap();
    let shard = "shardId-000000000000";
    let mut sequence_numbers = Vec::new();
    for invoice in 536365..536369 {
        let put = kinesis
            .put_record()
            .stream_name(STREAM)
            .partition_key(invoice.to_string())
            .data(aws_sdk_kinesis::primitives::Blob::new(transaction(invoice)))
            .send()
            .await
            .unwrap();
        assert_eq!(put.shard_id(), shard);
        sequence_numbers.push(put.sequence_number().to_owned());
    }
    let (second, third) = (&sequence_numbers[1], &sequence_numbers[2]);
    let stored = on_failure_message(shard, second, third, 2);
    // A batch before the oldest record the stream holds: past retention.
    let expired = on_failure_message(shard, "0", "0", 1);
    let not_a_batch = "written by hand".to_owned();
    let lake_queue = queue(
        &sqs,
        "LakeWriterFailures",
        &[stored, expired.clone(), not_a_batch.clone()],
    )
    .await;
    let whole = on_failure_message(shard, &sequence_numbers[0], &sequence_numbers[3], 4);
    let table_queue = queue(&sqs, "DynamodbWriterFailures", std::slice::from_ref(&whole)).await;

    // The lake writer stores the batch it is given, if it is the second and
    // third records, at their stream positions, with their data, as Lambda
    // delivers them from this stream.
    let (expected_second, expected_third) = (second.clone(), third.clone());
    let lake_writer = mock!(aws_sdk_lambda::Client::invoke)
        .match_requests(move |r| {
            let event: serde_json::Value =
                serde_json::from_slice(r.payload().unwrap().as_ref()).unwrap();
            let records = event["Records"].as_array().unwrap();
            let data = records[0]["kinesis"]["data"].as_str().unwrap();
            r.function_name() == Some("retail-dev-LakeWriter")
                && records.len() == 2
                && records[0]["eventID"] == format!("{shard}:{expected_second}").as_str()
                && records[1]["kinesis"]["sequenceNumber"] == expected_third.as_str()
                && records[0]["eventSourceARN"]
                    == format!("arn:aws:kinesis:eu-west-1:123456789012:stream/{STREAM}").as_str()
                && aws_smithy_types::base64::decode(data).unwrap() == transaction(536366).as_bytes()
        })
        .then_output(|| {
            InvokeOutput::builder()
                .status_code(200)
                .payload(Blob::new(r#"{"batchItemFailures":[]}"#))
                .build()
        });
    // The table writer fails one of the four records again.
    let (first, fourth) = (sequence_numbers[0].clone(), sequence_numbers[3].clone());
    let table_writer = mock!(aws_sdk_lambda::Client::invoke)
        .match_requests(move |r| {
            let event: serde_json::Value =
                serde_json::from_slice(r.payload().unwrap().as_ref()).unwrap();
            r.function_name() == Some("retail-dev-DynamodbWriter")
                && event["Records"].as_array().unwrap().len() == 4
                && event["Records"][0]["kinesis"]["sequenceNumber"] == first.as_str()
                && event["Records"][3]["kinesis"]["sequenceNumber"] == fourth.as_str()
        })
        .then_output(move || {
            InvokeOutput::builder()
                .status_code(200)
                .payload(Blob::new(
                    r#"{"batchItemFailures":[{"itemIdentifier":"3"}]}"#,
                ))
                .build()
        });
    let lambda = mock_client!(
        aws_sdk_lambda,
        RuleMode::MatchAny,
        [&lake_writer, &table_writer]
    );
    let queues = [
        FailureQueue {
            writer: "lake-writer",
            url: lake_queue.clone(),
            function: "retail-dev-LakeWriter".into(),
            store: Store::Lake,
        },
        FailureQueue {
            writer: "dynamodb-writer",
            url: table_queue.clone(),
            function: "retail-dev-DynamodbWriter".into(),
            store: Store::Dynamodb,
        },
    ];

    let (replayed, error) =
        on_failure::replay_on_failure_messages(&sqs, &kinesis, &lambda, STREAM, &queues).await;
    assert!(error.is_none(), "{error:?}");
    let outcome = |key: &str| {
        let found = replayed.iter().find(|r| r.key == key);
        found
            .unwrap_or_else(|| panic!("{key} in {replayed:#?}"))
            .clone()
    };
    let done = outcome(&format!("{shard}/{second}-{third}"));
    assert_eq!(
        (done.source.as_str(), done.store, done.items),
        ("on-failure/lake-writer", Store::Lake, 2)
    );
    assert_eq!(
        done.outcome,
        Outcome::Deleted {
            queue: lake_queue.clone()
        }
    );
    let lost = outcome(&format!("{shard}/0-0"));
    assert!(
        matches!(&lost.outcome, Outcome::Lost { reason }
            if reason.starts_with(&format!("stream {STREAM} no longer holds record 0 of {shard}"))
                && reason.contains("unless lake-writer saved them under failed/lake-writer/")),
        "{lost:?}"
    );
    let hand_written = outcome("(not a Kinesis batch)");
    assert!(
        matches!(&hand_written.outcome, Outcome::NotReplayable { reason }
            if reason.starts_with("not a Lambda invocation record")),
        "{hand_written:?}"
    );
    let again = outcome(&format!(
        "{shard}/{first}-{fourth}",
        first = sequence_numbers[0],
        fourth = sequence_numbers[3]
    ));
    assert_eq!((again.store, again.items), (Store::Dynamodb, 4));
    assert!(
        matches!(&again.outcome, Outcome::StillFailing { reason }
            if reason.contains("failed 1 of 4 records again (first: 3)")),
        "{again:?}"
    );
    assert_eq!(replayed.len(), 4);
    assert_eq!((lake_writer.num_calls(), table_writer.num_calls()), (1, 1));

    // Only the stored batch's message is gone; the others are visible again
    // at once, for the alarm and the next replay.
    let mut kept = vec![expired, not_a_batch];
    kept.sort();
    assert_eq!(bodies(&sqs, &lake_queue).await, kept);
    assert_eq!(bodies(&sqs, &table_queue).await, [whole]);

    // Replaying again does not store the stored batch again.
    let (second_run, error) =
        on_failure::replay_on_failure_messages(&sqs, &kinesis, &lambda, STREAM, &queues).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(second_run.len(), 3);
    assert_eq!((lake_writer.num_calls(), table_writer.num_calls()), (1, 2));
}

/// The output `key` of the deployed stack `name`.
async fn stack_output(cfn: &aws_sdk_cloudformation::Client, name: &str, key: &str) -> String {
    let stacks = cfn.describe_stacks().stack_name(name).send().await.unwrap();
    let stack = &stacks.stacks()[0];
    let output = stack.outputs().iter().find(|o| o.output_key() == Some(key));
    output
        .and_then(|o| o.output_value())
        .unwrap_or_else(|| panic!("{name} has no output {key}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_of_a_deployed_stage_reads_the_failure_queues_and_stream_its_outputs_name() {
    let moto = Moto::start();
    let synth = tempfile::tempdir().unwrap();
    let dir = synth.path().join("synth");
    synth_dev_stage(&dir);
    moto.run(&["bootstrap", "--stage", "dev", "--method", "direct"])
        .ok();
    moto.run(&strs(&deploy_args(&dir))).ok();
    let cfn = moto.cloudformation();
    let queue_url = stack_output(&cfn, "retail-dev-streaming", "LakeWriterFailuresQueueUrl").await;
    let stream = stack_output(&cfn, "retail-dev-streaming", "StreamName").await;
    // A batch of the stage's stream that the stream does not hold (any
    // more): replay reads the queue and the stream the outputs name, keeps
    // the message and says the records are lost.
    let message = on_failure_message("shardId-000000000000", "7", "8", 2)
        .replace(&format!("stream/{STREAM}"), &format!("stream/{stream}"));
    moto.sqs()
        .send_message()
        .queue_url(&queue_url)
        .message_body(&message)
        .send()
        .await
        .unwrap();

    let run = moto.run(&["replay", "--stage", "dev", "--output", "json"]);
    assert_eq!(run.code(), 1, "{}\n{}", run.stdout(), run.stderr());
    let report: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(report["replayed"], 0);
    assert_eq!(report["lost"], 1);
    let batch = &report["objects"][0];
    assert_eq!(batch["source"], "on-failure/lake-writer");
    assert_eq!(batch["store"], "lake");
    assert_eq!(batch["key"], "shardId-000000000000/7-8");
    assert_eq!(batch["outcome"], "lost");
    assert!(
        batch["reason"].as_str().unwrap().starts_with(&format!(
            "stream {stream} holds no record 7 in shardId-000000000000"
        )),
        "{batch}"
    );
    assert!(
        run.stderr()
            .contains("(1 lost: the stream no longer holds them)"),
        "{}",
        run.stderr()
    );
    assert_eq!(bodies(&moto.sqs(), &queue_url).await, [message]);
}
