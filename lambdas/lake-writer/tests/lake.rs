//! The lake writer, called directly with Kinesis events built from the real
//! rows of the December 2010 sample, S3 mocked with aws-smithy-mocks.

use std::sync::{Arc, Mutex};

use aws_lambda_events::encodings::SecondTimestamp;
use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use lake_writer::{Config, handle, plan};
use record::{SourcePosition, Transaction};

const SHARD: &str = "shardId-000000000003";
/// 2010-12-24T10:00:00Z, when the records "arrived".
const ARRIVAL: f64 = 1_293_184_800.0;

fn sequence_number(index: usize) -> String {
    format!("49590338271490256608559692538361571095921575989136{index:06}")
}

fn kinesis_record(index: usize, partition_key: &str, data: Vec<u8>) -> KinesisEventRecord {
    let mut record = KinesisEventRecord::default();
    record.event_id = Some(format!("{SHARD}:{}", sequence_number(index)));
    record.event_source = Some("aws:kinesis".to_owned());
    record.kinesis.sequence_number = sequence_number(index);
    record.kinesis.partition_key = partition_key.to_owned();
    *record.kinesis.data = data;
    record.kinesis.approximate_arrival_timestamp =
        serde_json::from_value::<SecondTimestamp>(serde_json::json!(ARRIVAL)).unwrap();
    record
}

fn event_of(records: Vec<KinesisEventRecord>) -> KinesisEvent {
    let mut event = KinesisEvent::default();
    event.records = records;
    event
}

fn event_from(transactions: &[Transaction]) -> KinesisEvent {
    event_of(
        transactions
            .iter()
            .enumerate()
            .map(|(i, t)| kinesis_record(i, &t.invoice_no, t.to_json().into_bytes()))
            .collect(),
    )
}

fn config() -> Config {
    Config {
        bucket: "lake-bucket".to_owned(),
    }
}

type Puts = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// An S3 client whose PutObject succeeds and records (bucket, key, body).
fn recording_s3() -> (aws_sdk_s3::Client, Puts) {
    let puts: Puts = Arc::default();
    let recorder = Arc::clone(&puts);
    let rule = mock!(aws_sdk_s3::Client::put_object).then_compute_output(move |request| {
        recorder.lock().unwrap().push((
            request.bucket().unwrap().to_owned(),
            request.key().unwrap().to_owned(),
            request.body().bytes().unwrap().to_vec(),
        ));
        PutObjectOutput::builder().build()
    });
    (mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]), puts)
}

fn lines(body: &[u8]) -> Vec<serde_json::Value> {
    body.split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).unwrap())
        .collect()
}

#[tokio::test]
async fn writes_ndjson_partitioned_by_invoice_date() {
    let first_day = record::sample::transactions("2010-12-01.csv");
    let second_day = record::sample::transactions("2010-12-02.csv");
    let transactions: Vec<Transaction> = first_day[first_day.len() - 300..]
        .iter()
        .chain(&second_day[..200])
        .cloned()
        .collect();
    let (s3, puts) = recording_s3();

    let response = handle(&s3, &config(), event_from(&transactions)).await;

    assert!(response.batch_item_failures.is_empty());
    let puts = puts.lock().unwrap();
    let keys: Vec<&str> = puts.iter().map(|(_, key, _)| key.as_str()).collect();
    // Each object is named after its own first record.
    assert_eq!(
        keys,
        [
            format!("raw/date=2010-12-01/{SHARD}-{}.jsonl", sequence_number(0)),
            format!("raw/date=2010-12-02/{SHARD}-{}.jsonl", sequence_number(300))
        ]
    );
    assert!(puts.iter().all(|(bucket, _, _)| bucket == "lake-bucket"));
    let first = lines(&puts[0].2);
    let second = lines(&puts[1].2);
    assert_eq!(
        (first.len(), second.len()),
        (300, 200),
        "every record stored once"
    );
    let line = &first[0];
    assert_eq!(line["invoice_no"], transactions[0].invoice_no.as_str());
    assert_eq!(
        line["line_id"],
        SourcePosition::Kinesis {
            shard_id: SHARD,
            sequence_number: &sequence_number(0)
        }
        .line_id()
        .as_str()
    );
    assert!(second.iter().all(|l| {
        l["invoice_date"]
            .as_str()
            .unwrap()
            .starts_with("2010-12-02")
    }));
}

#[tokio::test]
async fn invalid_records_go_to_rejected_with_their_reason_and_data() {
    let transactions = record::sample::transactions("2010-12-03.csv");
    let mut event = event_from(&transactions[..5]);
    let bad_json = br#"{"InvoiceNo":"537000","StockCode":"21414","Quantity":-22,"InvoiceDate":"2010-12-03 15:32:00","UnitPrice":-1,"Country":"United Kingdom"}"#;
    event
        .records
        .push(kinesis_record(5, "537000", bad_json.to_vec()));
    event
        .records
        .push(kinesis_record(6, "x", b"\xff\xfenot text".to_vec()));
    event.records.push(kinesis_record(7, "x", b"[]".to_vec()));
    let (s3, puts) = recording_s3();

    let response = handle(&s3, &config(), event).await;

    assert!(
        response.batch_item_failures.is_empty(),
        "rejects are written, not retried"
    );
    let puts = puts.lock().unwrap();
    let (_, key, body) = puts
        .iter()
        .find(|(_, key, _)| key.starts_with("rejected/"))
        .expect("a rejected object");
    assert_eq!(
        key,
        &format!(
            "rejected/date=2010-12-24/{SHARD}-{}.jsonl",
            sequence_number(5)
        ),
        "named after its first record"
    );
    let rejected = lines(body);
    assert_eq!(rejected.len(), 3);
    assert_eq!(rejected[0]["kind"], "UnitPrice: negative");
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("UnitPrice \"-1\" is negative")
    );
    assert_eq!(rejected[0]["data"], std::str::from_utf8(bad_json).unwrap());
    assert_eq!(rejected[0]["sequence_number"], sequence_number(5).as_str());
    assert_eq!(
        rejected[0]["approximate_arrival_timestamp"],
        "2010-12-24T10:00:00+00:00"
    );
    assert_eq!(rejected[1]["kind"], "data: not utf-8");
    assert_eq!(
        (&rejected[1]["data"], &rejected[1]["data_encoding"]),
        (&"//5ub3QgdGV4dA==".into(), &"base64".into())
    );
    assert_eq!(rejected[2]["kind"], "row: not a transaction object");
    let stored: usize = puts
        .iter()
        .filter(|(_, key, _)| key.starts_with("raw/"))
        .map(|(_, _, body)| lines(body).len())
        .sum();
    assert_eq!(stored, 5);
}

#[tokio::test]
async fn an_s3_failure_reports_every_record_of_the_batch_for_retry() {
    let transactions = record::sample::transactions("2010-12-05.csv");
    let event = event_from(&transactions[..50]);
    let expected: Vec<String> = event
        .records
        .iter()
        .map(|r| r.kinesis.sequence_number.clone())
        .collect();
    let rule = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|request| request.key().is_some_and(|key| key.starts_with("raw/")))
        .then_error(|| {
            PutObjectError::generic(
                aws_sdk_s3::error::ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("Access Denied")
                    .build(),
            )
        });
    let saved: Puts = Arc::default();
    let recorder = Arc::clone(&saved);
    let save = mock!(aws_sdk_s3::Client::put_object).then_compute_output(move |request| {
        recorder.lock().unwrap().push((
            request.bucket().unwrap().to_owned(),
            request.key().unwrap().to_owned(),
            request.body().bytes().unwrap().to_vec(),
        ));
        PutObjectOutput::builder().build()
    });
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule, &save]);

    let response = handle(&s3, &config(), event).await;

    let reported: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect();
    assert_eq!(reported, expected);
    assert_eq!(rule.num_calls(), 1, "stops at the first failed object");
    // Before reporting them, the records are saved with the reason: the
    // on-failure queue would get only their position.
    let saved = saved.lock().unwrap();
    assert_eq!(saved.len(), 1);
    assert_eq!(
        (saved[0].0.as_str(), saved[0].1.clone()),
        (
            "lake-bucket",
            format!("failed/lake-writer/{SHARD}-{}.jsonl", sequence_number(0))
        )
    );
    let saved_lines = lines(&saved[0].2);
    let saved_numbers: Vec<&str> = saved_lines
        .iter()
        .map(|l| l["sequence_number"].as_str().unwrap())
        .collect();
    assert_eq!(saved_numbers, expected);
    assert!(
        saved_lines[0]["reason"]
            .as_str()
            .unwrap()
            .contains("AccessDenied"),
        "{}",
        saved_lines[0]["reason"]
    );
    assert_eq!(
        Transaction::from_json(saved_lines[0]["data"].as_str().unwrap()).as_ref(),
        Ok(&transactions[0])
    );
}

#[tokio::test]
async fn a_failure_after_a_written_object_still_reports_the_batch_from_its_start() {
    let first_day = record::sample::transactions("2010-12-01.csv");
    let second_day = record::sample::transactions("2010-12-02.csv");
    let transactions: Vec<Transaction> = first_day[..10]
        .iter()
        .chain(&second_day[..10])
        .cloned()
        .collect();
    let event = event_from(&transactions);
    let first_sequence_number = event.records[0].kinesis.sequence_number.clone();
    let rule = mock!(aws_sdk_s3::Client::put_object)
        .sequence()
        .output(|| PutObjectOutput::builder().build())
        .error(|| {
            PutObjectError::generic(
                aws_sdk_s3::error::ErrorMetadata::builder()
                    // Not retried by the SDK (InternalError would be).
                    .code("AccessDenied")
                    .build(),
            )
        })
        // The save of the batch under failed/.
        .output(|| PutObjectOutput::builder().build())
        .build();
    let s3 = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&rule]);

    let response = handle(&s3, &config(), event).await;

    assert_eq!(response.batch_item_failures.len(), 20);
    assert_eq!(
        response.batch_item_failures[0].item_identifier.as_deref(),
        Some(first_sequence_number.as_str()),
        "Lambda resumes from the lowest reported sequence number"
    );
}

#[test]
fn a_retried_batch_writes_the_same_keys_and_bytes() {
    let transactions = record::sample::transactions("2010-12-06.csv");
    let event = event_from(&transactions[..400]);
    assert_eq!(plan(&event.records), plan(&event.records));
    // A retry from the same checkpoint carrying more records overwrites the
    // same keys with a superset.
    let larger = event_from(&transactions[..450]);
    let (before, after) = (plan(&event.records), plan(&larger.records));
    for (old, new) in before.objects.iter().zip(&after.objects) {
        assert_eq!(old.key, new.key);
        assert!(new.body.starts_with(&old.body));
    }
}

/// Keys and line ids of the objects a plan writes.
fn stored_lines(batches: &[lake_writer::LakeBatch]) -> Vec<(String, String)> {
    let mut stored: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for batch in batches {
        for object in &batch.objects {
            // A put overwrites what an earlier put wrote under the key.
            let ids = lines(&object.body)
                .iter()
                .map(|l| l["line_id"].as_str().unwrap().to_owned())
                .collect();
            stored.insert(object.key.clone(), ids);
        }
    }
    stored
        .into_iter()
        .flat_map(|(key, ids)| ids.into_iter().map(move |id| (key.clone(), id)))
        .collect()
}

#[test]
fn a_bisected_retry_stores_every_line_once_whatever_the_split() {
    // A batch over two days crashes after its objects were written; Lambda
    // bisects it and retries both halves. The second day is only in the
    // second half: keyed by the batch's first record, it was stored twice.
    let first_day = record::sample::transactions("2010-12-01.csv");
    let second_day = record::sample::transactions("2010-12-02.csv");
    let transactions: Vec<Transaction> = first_day[first_day.len() - 300..]
        .iter()
        .chain(&second_day[..200])
        .cloned()
        .collect();
    let whole = event_from(&transactions);
    for split in [150, 250, 300, 350] {
        let (first_half, second_half) = whole.records.split_at(split);
        let written = stored_lines(&[plan(&whole.records), plan(first_half), plan(second_half)]);
        let mut ids: Vec<&str> = written.iter().map(|(_, id)| id.as_str()).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len(), "split at {split}: a line stored twice");
        assert_eq!(ids.len(), 500, "split at {split}: a line lost");
    }
}

#[tokio::test]
async fn an_empty_batch_writes_nothing() {
    let (s3, puts) = recording_s3();
    let response = handle(&s3, &config(), event_of(Vec::new())).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(puts.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_oversized_record_is_rejected_and_a_full_size_batch_is_written() {
    // Lambda's largest Kinesis batch is 10,000 records.
    let transactions: Vec<Transaction> = [
        "2010-12-07.csv",
        "2010-12-08.csv",
        "2010-12-09.csv",
        "2010-12-10.csv",
    ]
    .iter()
    .flat_map(|f| record::sample::transactions(f))
    .take(10_000)
    .collect();
    let mut event = event_from(&transactions);
    let mut huge = transactions[0].clone();
    huge.description = Some("X".repeat(1024 * 1024));
    event.records.push(kinesis_record(
        10_000,
        &huge.invoice_no,
        huge.to_json().into_bytes(),
    ));
    let (s3, puts) = recording_s3();

    let response = handle(&s3, &config(), event).await;

    assert!(response.batch_item_failures.is_empty());
    let puts = puts.lock().unwrap();
    let stored: usize = puts
        .iter()
        .filter(|(_, k, _)| k.starts_with("raw/"))
        .map(|(_, _, b)| lines(b).len())
        .sum();
    assert_eq!(stored, 10_000);
    let rejected: Vec<_> = puts
        .iter()
        .filter(|(_, k, _)| k.starts_with("rejected/"))
        .flat_map(|(_, _, b)| lines(b))
        .collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["kind"], "Description: too long");
}

#[test]
fn the_bucket_comes_from_lake_bucket() {
    let config =
        Config::from_vars(|name| (name == "LAKE_BUCKET").then(|| "lake-bucket".to_owned()))
            .unwrap();
    assert_eq!(config, self::config());
    for unset in [None, Some(String::new())] {
        let error = Config::from_vars(|_| unset.clone()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable LAKE_BUCKET is not set; the DataLake stack sets it to the lake bucket name"
        );
    }
}
