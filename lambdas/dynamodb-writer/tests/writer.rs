//! The DynamoDB writer, called directly with Kinesis events built from the
//! real rows of the December 2010 sample; DynamoDB mocked with
//! aws-smithy-mocks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_sdk_dynamodb::operation::batch_write_item::{BatchWriteItemError, BatchWriteItemOutput};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use dynamodb_writer::items::PendingDelete;
use dynamodb_writer::{FailedStore, RetryPolicy, Tables, delete_all, handle};
use record::{SourcePosition, Transaction};

const SHARD: &str = "shardId-000000000001";

fn sequence_number(index: usize) -> String {
    format!("49590338271490256608559692538361571095921575989136{index:06}")
}

fn kinesis_record(index: usize, data: Vec<u8>) -> KinesisEventRecord {
    let mut record = KinesisEventRecord::default();
    record.event_id = Some(format!("{SHARD}:{}", sequence_number(index)));
    record.kinesis.sequence_number = sequence_number(index);
    *record.kinesis.data = data;
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
            .map(|(i, t)| kinesis_record(i, t.to_json().into_bytes()))
            .collect(),
    )
}

fn tables() -> Tables {
    Tables {
        invoices: "Invoices".to_owned(),
        customers: "Customers".to_owned(),
    }
}

/// No real waiting in tests; one call at a time where a test depends on
/// the order of calls.
fn no_wait(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
        concurrent_calls: 1,
    }
}

fn concurrent(concurrent_calls: usize) -> RetryPolicy {
    RetryPolicy {
        concurrent_calls,
        ..no_wait(3)
    }
}

type Saved = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// The lake bucket's failed/ prefix on an S3 client whose PutObject
/// succeeds and records (bucket, key, body).
fn failed_store() -> (FailedStore, Saved) {
    let saved: Saved = Arc::default();
    let recorder = Arc::clone(&saved);
    let rule = mock!(aws_sdk_s3::Client::put_object).then_compute_output(move |request| {
        recorder.lock().unwrap().push((
            request.bucket().unwrap().to_owned(),
            request.key().unwrap().to_owned(),
            request.body().bytes().unwrap().to_vec(),
        ));
        aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build()
    });
    let store = FailedStore {
        s3: mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]),
        bucket: "lake-bucket".to_owned(),
    };
    (store, saved)
}

type Calls = Arc<Mutex<Vec<HashMap<String, Vec<WriteRequest>>>>>;

/// A client whose BatchWriteItem answers with `answer(call number, request)`
/// and records every request.
fn recording_dynamodb(
    answer: impl Fn(
        usize,
        &HashMap<String, Vec<WriteRequest>>,
    ) -> MockResponse<BatchWriteItemOutput, BatchWriteItemError>
    + Send
    + Sync
    + 'static,
) -> (aws_sdk_dynamodb::Client, Calls) {
    let calls: Calls = Arc::default();
    let recorder = Arc::clone(&calls);
    let rule =
        mock!(aws_sdk_dynamodb::Client::batch_write_item).then_compute_response(move |input| {
            let request = input.request_items().unwrap().clone();
            let mut calls = recorder.lock().unwrap();
            calls.push(request.clone());
            answer(calls.len(), &request)
        });
    (
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]),
        calls,
    )
}

fn all_written(
    _: usize,
    _: &HashMap<String, Vec<WriteRequest>>,
) -> MockResponse<BatchWriteItemOutput, BatchWriteItemError> {
    MockResponse::Output(BatchWriteItemOutput::builder().build())
}

fn items_of<'a>(
    calls: &'a [HashMap<String, Vec<WriteRequest>>],
    table: &str,
) -> Vec<&'a HashMap<String, AttributeValue>> {
    calls
        .iter()
        .filter_map(|call| call.get(table))
        .flatten()
        .map(|request| request.put_request().unwrap().item())
        .collect()
}

fn s<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> &'a str {
    item[name].as_s().unwrap()
}

fn first_sequence_number(call: &HashMap<String, Vec<WriteRequest>>) -> String {
    call.values()
        .flatten()
        .map(|r| {
            r.put_request().unwrap().item()["Source"]
                .as_s()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .to_owned()
        })
        .min()
        .unwrap()
}

fn failures(response: &aws_lambda_events::event::streams::KinesisEventResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect()
}

#[tokio::test]
async fn writes_every_line_to_invoices_and_lines_with_a_customer_to_customers() {
    let transactions = record::sample::transactions("2010-12-01.csv");
    let with_customer = transactions
        .iter()
        .filter(|t| t.customer_id.is_some())
        .count();
    assert!(
        with_customer > 0 && with_customer < transactions.len(),
        "the slice has both kinds"
    );
    let (client, calls) = recording_dynamodb(all_written);

    let response = handle(
        &client,
        &failed_store().0,
        &tables(),
        &concurrent(4),
        event_from(&transactions),
    )
    .await;

    assert!(response.batch_item_failures.is_empty());
    let mut calls = calls.lock().unwrap().clone();
    // Calls run concurrently: put them back in record order to compare.
    calls.sort_by_key(first_sequence_number);
    let total = transactions.len() + with_customer;
    assert_eq!(calls.len(), total.div_ceil(25));
    assert!(
        calls
            .iter()
            .all(|call| call.values().map(Vec::len).sum::<usize>() <= 25)
    );
    let invoices = items_of(&calls, "Invoices");
    let customers = items_of(&calls, "Customers");
    assert_eq!(
        (invoices.len(), customers.len()),
        (transactions.len(), with_customer)
    );
    for (index, (item, transaction)) in invoices.iter().zip(&transactions).enumerate() {
        assert_eq!(s(item, "InvoiceNo"), transaction.invoice_no);
        let line_id = SourcePosition::Kinesis {
            shard_id: SHARD,
            sequence_number: &sequence_number(index),
        }
        .line_id();
        assert_eq!(s(item, "LineId"), line_id.as_str());
        assert_eq!(
            item["UnitPrice"].as_n().unwrap(),
            &transaction.unit_price.to_string()
        );
    }
    for item in customers {
        assert_eq!(
            s(item, "PurchaseId"),
            format!("{}#{}", s(item, "InvoiceNo"), s(item, "LineId"))
        );
        assert!(
            !s(item, "CustomerId").contains('.'),
            "17850.0 is stored as 17850"
        );
    }
}

#[tokio::test]
async fn the_same_batch_twice_writes_the_same_keys() {
    let transactions = record::sample::transactions("2010-12-02.csv")[..60].to_vec();
    let (client, calls) = recording_dynamodb(all_written);
    handle(
        &client,
        &failed_store().0,
        &tables(),
        &no_wait(3),
        event_from(&transactions),
    )
    .await;
    handle(
        &client,
        &failed_store().0,
        &tables(),
        &no_wait(3),
        event_from(&transactions),
    )
    .await;
    let calls = calls.lock().unwrap();
    let (first, second) = calls.split_at(calls.len() / 2);
    assert_eq!(first, second, "a retried record overwrites its own items");
}

#[tokio::test]
async fn unprocessed_items_are_retried_until_written() {
    let transactions = record::sample::transactions("2010-12-03.csv")[..20].to_vec();
    // First call: DynamoDB leaves the last 5 requests of each table unprocessed.
    let (client, calls) = recording_dynamodb(|call, request| {
        if call > 1 {
            return MockResponse::Output(BatchWriteItemOutput::builder().build());
        }
        let unprocessed = request
            .iter()
            .map(|(table, requests)| {
                (
                    table.clone(),
                    requests[requests.len().saturating_sub(5)..].to_vec(),
                )
            })
            .collect();
        MockResponse::Output(
            BatchWriteItemOutput::builder()
                .set_unprocessed_items(Some(unprocessed))
                .build(),
        )
    });

    let response = handle(
        &client,
        &failed_store().0,
        &tables(),
        &no_wait(3),
        event_from(&transactions),
    )
    .await;

    assert!(response.batch_item_failures.is_empty());
    let calls = calls.lock().unwrap();
    let retried: usize = calls[1].values().map(Vec::len).sum();
    let left_over: usize = calls[0].values().map(|r| r.len().min(5)).sum();
    assert_eq!(
        retried, left_over,
        "only the unprocessed items are sent again"
    );
}

#[tokio::test]
async fn items_left_unprocessed_after_the_bounded_retries_fail_their_records() {
    let transactions = record::sample::transactions("2010-12-05.csv")[..40].to_vec();
    let event = event_from(&transactions);
    // Every call leaves the Invoices item of record 3 unprocessed.
    let line_id_3 = SourcePosition::Kinesis {
        shard_id: SHARD,
        sequence_number: &sequence_number(3),
    }
    .line_id()
    .to_string();
    let stuck = line_id_3.clone();
    let (client, calls) = recording_dynamodb(move |_, request| {
        let unprocessed: Vec<WriteRequest> = request["Invoices"]
            .iter()
            .filter(|r| r.put_request().unwrap().item()["LineId"].as_s().unwrap() == &stuck)
            .cloned()
            .collect();
        let mut output = BatchWriteItemOutput::builder();
        if !unprocessed.is_empty() {
            output = output.unprocessed_items("Invoices", unprocessed);
        }
        MockResponse::Output(output.build())
    });

    let response = handle(&client, &failed_store().0, &tables(), &no_wait(4), event).await;

    let calls = calls.lock().unwrap();
    assert_eq!(
        calls.len(),
        4,
        "the first group is tried max_attempts times, then writing stops"
    );
    let reported = failures(&response);
    assert_eq!(
        reported[0],
        sequence_number(3),
        "the stuck record is the lowest reported"
    );
    assert!(
        !reported.contains(&sequence_number(2)),
        "records fully written are not reported"
    );
    assert_eq!(
        reported.last(),
        Some(&sequence_number(39)),
        "records not yet attempted are reported"
    );
}

#[tokio::test]
async fn a_throttled_table_fails_the_records_not_written() {
    let transactions = record::sample::transactions("2010-12-06.csv")[..30].to_vec();
    let (client, calls) = recording_dynamodb(|call, _| {
        if call == 1 {
            MockResponse::Output(BatchWriteItemOutput::builder().build())
        } else {
            MockResponse::Error(BatchWriteItemError::ProvisionedThroughputExceededException(
                aws_sdk_dynamodb::types::error::ProvisionedThroughputExceededException::builder()
                    .message(
                        "The level of configured provisioned throughput for the table was exceeded",
                    )
                    .build(),
            ))
        }
    });

    let response = handle(
        &client,
        &failed_store().0,
        &tables(),
        &no_wait(3),
        event_from(&transactions),
    )
    .await;

    let calls = calls.lock().unwrap();
    let first_group_records: std::collections::BTreeSet<String> = calls[0]
        .values()
        .flatten()
        .map(|r| {
            r.put_request().unwrap().item()["Source"]
                .as_s()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    let reported = failures(&response);
    assert!(!reported.is_empty());
    for sequence_number in &reported {
        // A record whose items all went out in the first, successful call is
        // not reported; one split across the calls is.
        let fully_written = first_group_records.contains(sequence_number)
            && calls[1..]
                .iter()
                .flat_map(|c| c.values().flatten())
                .all(|r| {
                    !r.put_request().unwrap().item()["Source"]
                        .as_s()
                        .unwrap()
                        .ends_with(sequence_number.as_str())
                });
        assert!(!fully_written, "{sequence_number} was written but reported");
    }
    assert_eq!(reported.last(), Some(&sequence_number(29)));
}

#[tokio::test]
async fn malformed_records_are_skipped_with_a_reason_not_reported() {
    let transactions = record::sample::transactions("2010-12-07.csv")[..3].to_vec();
    let mut event = event_from(&transactions);
    event.records.push(kinesis_record(3, b"not json".to_vec()));
    event.records.push(kinesis_record(4, b"\xff\xfe".to_vec()));
    event.records.push(kinesis_record(
        5,
        br#"{"InvoiceNo":"C537572","StockCode":"BANK CHARGES","Quantity":1,"InvoiceDate":"2010-12-07 12:00:00","UnitPrice":95.38,"Country":"United Kingdom"}"#.to_vec(),
    ));
    let planned = dynamodb_writer::plan(&event.records, &tables());
    let kinds: Vec<&str> = planned.skipped.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "row: not a transaction object",
            "data: not utf-8",
            "Quantity: positive on cancellation"
        ]
    );
    let (client, calls) = recording_dynamodb(all_written);

    let response = handle(&client, &failed_store().0, &tables(), &no_wait(3), event).await;

    assert!(
        response.batch_item_failures.is_empty(),
        "a malformed record must not block the shard"
    );
    let invoices = items_of(&calls.lock().unwrap(), "Invoices").len();
    assert_eq!(invoices, 3);
}

#[tokio::test]
async fn an_empty_batch_makes_no_call() {
    let (client, calls) = recording_dynamodb(all_written);
    let response = handle(
        &client,
        &failed_store().0,
        &tables(),
        &no_wait(3),
        event_of(Vec::new()),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    assert!(calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_oversized_record_is_skipped_and_a_full_size_batch_is_written() {
    // 10,000 records, Lambda's largest Kinesis batch.
    let transactions: Vec<Transaction> = [
        "2010-12-08.csv",
        "2010-12-09.csv",
        "2010-12-10.csv",
        "2010-12-12.csv",
        "2010-12-13.csv",
    ]
    .iter()
    .flat_map(|f| record::sample::transactions(f))
    .take(10_000)
    .collect();
    assert_eq!(transactions.len(), 10_000);
    let mut event = event_from(&transactions);
    let mut huge = transactions[0].clone();
    huge.description = Some("X".repeat(512 * 1024));
    event
        .records
        .push(kinesis_record(10_000, huge.to_json().into_bytes()));
    let (client, calls) = recording_dynamodb(all_written);

    let response = handle(&client, &failed_store().0, &tables(), &concurrent(8), event).await;

    assert!(response.batch_item_failures.is_empty());
    let calls = calls.lock().unwrap();
    assert_eq!(items_of(&calls, "Invoices").len(), 10_000);
    assert!(
        calls
            .iter()
            .all(|call| call.values().map(Vec::len).sum::<usize>() <= 25)
    );
}

#[test]
fn table_names_come_from_the_environment_the_stack_sets() {
    let vars = |name: &str| match name {
        "INVOICES_TABLE" => Some("prod-Invoices".to_owned()),
        "CUSTOMERS_TABLE" => Some("prod-Customers".to_owned()),
        _ => None,
    };
    let tables = Tables::from_vars(dynamodb_writer::STACK, vars).unwrap();
    assert_eq!(
        (tables.invoices.as_str(), tables.customers.as_str()),
        ("prod-Invoices", "prod-Customers")
    );
    let error = Tables::from_vars(dynamodb_writer::STACK, |name| {
        (name == "INVOICES_TABLE").then(|| "x".to_owned())
    })
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "environment variable CUSTOMERS_TABLE is not set; the Streaming stack sets it to the Customers table name"
    );
}

#[tokio::test]
async fn with_calls_in_flight_a_failure_reports_every_record_not_written() {
    let transactions = record::sample::transactions("2010-12-13.csv")[..300].to_vec();
    // The third call fails; the others succeed.
    let (client, calls) = recording_dynamodb(|call, _| {
        if call == 3 {
            MockResponse::Error(BatchWriteItemError::InternalServerError(
                aws_sdk_dynamodb::types::error::InternalServerError::builder()
                    .message("boom")
                    .build(),
            ))
        } else {
            MockResponse::Output(BatchWriteItemOutput::builder().build())
        }
    });

    let response = handle(
        &client,
        &failed_store().0,
        &tables(),
        &concurrent(3),
        event_from(&transactions),
    )
    .await;

    let calls = calls.lock().unwrap();
    let written: std::collections::BTreeSet<String> = calls
        .iter()
        .enumerate()
        .filter(|(index, _)| *index != 2)
        .flat_map(|(_, call)| call.values().flatten())
        .map(|r| {
            r.put_request().unwrap().item()["Source"]
                .as_s()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    let reported: std::collections::BTreeSet<String> = failures(&response).into_iter().collect();
    let all: std::collections::BTreeSet<String> = (0..300).map(sequence_number).collect();
    assert!(!reported.is_empty());
    for sequence_number in &all {
        // Every record is written or reported (a record split across a good
        // and the failed call is both).
        assert!(
            written.contains(sequence_number) || reported.contains(sequence_number),
            "{sequence_number} lost"
        );
    }
    assert!(
        calls.len() < 300usize.div_ceil(25),
        "no new call after the failure"
    );
}

#[tokio::test]
async fn deletes_are_sent_by_key_in_groups_and_one_left_unprocessed_fails_its_record() {
    let key = |line: usize| {
        HashMap::from([
            (
                "InvoiceNo".to_owned(),
                AttributeValue::S("536365".to_owned()),
            ),
            (
                "LineId".to_owned(),
                AttributeValue::S(format!("f-{line:016x}")),
            ),
        ])
    };
    // Records are what the caller numbers them: here file lines 2..=31.
    let deletes: Vec<PendingDelete> = (2..32)
        .map(|line| PendingDelete {
            record: line,
            table: "Invoices".to_owned(),
            key: key(line),
        })
        .collect();
    let stuck = key(7);
    let (client, calls) = recording_dynamodb(move |_, request| {
        let unprocessed: Vec<WriteRequest> = request["Invoices"]
            .iter()
            .filter(|r| r.delete_request().unwrap().key() == &stuck)
            .cloned()
            .collect();
        let mut output = BatchWriteItemOutput::builder();
        if !unprocessed.is_empty() {
            output = output.unprocessed_items("Invoices", unprocessed);
        }
        MockResponse::Output(output.build())
    });

    let outcome = delete_all(&client, deletes, &no_wait(3)).await;

    let calls = calls.lock().unwrap();
    assert_eq!(calls[0]["Invoices"].len(), 25, "25 deletes per call");
    assert_eq!(calls.len(), 3, "the first group, tried max_attempts times");
    assert!(calls[1..].iter().all(|call| call["Invoices"].len() == 1));
    // The stuck key's record, and those of the group never started.
    let failed: Vec<usize> = outcome.failed_records.into_iter().collect();
    assert_eq!(failed, [7, 27, 28, 29, 30, 31]);
    assert_eq!(outcome.items_written, 24);
}

/// The Invoices request of record `index` as DynamoDB would hand it back
/// unprocessed, passed through `edit`.
fn unprocessed_invoice(
    request: &HashMap<String, Vec<WriteRequest>>,
    index: usize,
    edit: impl Fn(HashMap<String, AttributeValue>) -> HashMap<String, AttributeValue>,
) -> Option<WriteRequest> {
    let line_id = SourcePosition::Kinesis {
        shard_id: SHARD,
        sequence_number: &sequence_number(index),
    }
    .line_id()
    .to_string();
    let sent = request["Invoices"]
        .iter()
        .find(|r| r.put_request().unwrap().item()["LineId"].as_s().unwrap() == &line_id)?;
    let item = edit(sent.put_request().unwrap().item().clone());
    Some(
        WriteRequest::builder()
            .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
            .build(),
    )
}

#[tokio::test]
async fn an_unprocessed_item_handed_back_in_another_form_is_traced_by_its_key() {
    // Record 3's item comes back with a number written differently, record
    // 7's as sent. Traced by whole-item equality, record 3 matched nothing
    // and was skipped: only record 7 was reported, and Lambda checkpointed
    // past record 3 unwritten.
    let transactions = record::sample::transactions("2010-12-05.csv")[..20].to_vec();
    let event = event_from(&transactions);
    let (client, _) = recording_dynamodb(move |_, request| {
        let reformatted = unprocessed_invoice(request, 3, |mut item| {
            let price = item["UnitPrice"].as_n().unwrap().clone();
            item.insert(
                "UnitPrice".to_owned(),
                AttributeValue::N(format!("{price}0")),
            );
            item
        });
        let as_sent = unprocessed_invoice(request, 7, |item| item);
        let unprocessed: Vec<WriteRequest> = reformatted.into_iter().chain(as_sent).collect();
        let mut output = BatchWriteItemOutput::builder();
        if !unprocessed.is_empty() {
            output = output.unprocessed_items("Invoices", unprocessed);
        }
        MockResponse::Output(output.build())
    });

    let response = handle(&client, &failed_store().0, &tables(), &no_wait(2), event).await;

    let reported = failures(&response);
    assert_eq!(reported[0], sequence_number(3), "{reported:?}");
    assert!(reported.contains(&sequence_number(7)));
    assert!(
        !reported.contains(&sequence_number(4)),
        "record 4 was written"
    );
}

#[tokio::test]
async fn an_unprocessed_item_that_matches_nothing_sent_fails_the_whole_group() {
    let transactions = record::sample::transactions("2010-12-05.csv")[..20].to_vec();
    let event = event_from(&transactions);
    let (client, _) = recording_dynamodb(move |_, request| {
        let foreign = unprocessed_invoice(request, 3, |mut item| {
            item.insert(
                "LineId".to_owned(),
                AttributeValue::S("k-ffffffffffffffff".to_owned()),
            );
            item
        });
        let as_sent = unprocessed_invoice(request, 7, |item| item);
        let unprocessed: Vec<WriteRequest> = foreign.into_iter().chain(as_sent).collect();
        let mut output = BatchWriteItemOutput::builder();
        if !unprocessed.is_empty() {
            output = output.unprocessed_items("Invoices", unprocessed);
        }
        MockResponse::Output(output.build())
    });

    let response = handle(&client, &failed_store().0, &tables(), &no_wait(1), event).await;

    assert_eq!(
        failures(&response)[0],
        sequence_number(0),
        "the group's records from its first are reported"
    );
}

#[tokio::test]
async fn records_given_up_on_are_saved_with_their_data_and_reason_before_they_are_reported() {
    // The on-failure queue receives only shard and sequence numbers, and
    // the stream forgets the records when its retention ends: the writer
    // keeps the records themselves.
    let transactions = record::sample::transactions("2010-12-05.csv")[..40].to_vec();
    let event = event_from(&transactions);
    let (client, _) = recording_dynamodb(|_, _| {
        MockResponse::Error(BatchWriteItemError::InternalServerError(
            aws_sdk_dynamodb::types::error::InternalServerError::builder()
                .message("DynamoDB is down")
                .build(),
        ))
    });
    let (store, saved) = failed_store();

    let response = handle(&client, &store, &tables(), &no_wait(1), event).await;

    let reported = failures(&response);
    assert_eq!(reported.len(), 40, "every record is reported");
    let saved = saved.lock().unwrap();
    assert_eq!(saved.len(), 1);
    let (bucket, key, body) = &saved[0];
    assert_eq!(bucket, "lake-bucket");
    assert_eq!(
        key,
        &format!(
            "failed/dynamodb-writer/{SHARD}-{}.jsonl",
            sequence_number(0)
        )
    );
    let lines: Vec<serde_json::Value> = body
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let sequence_numbers: Vec<&str> = lines
        .iter()
        .map(|l| l["sequence_number"].as_str().unwrap())
        .collect();
    assert_eq!(
        sequence_numbers, reported,
        "the records reported are the records saved"
    );
    assert!(
        lines[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not written to DynamoDB")
    );
    assert_eq!(
        Transaction::from_json(lines[0]["data"].as_str().unwrap()).as_ref(),
        Ok(&transactions[0]),
        "the original data, replayable"
    );
}

#[tokio::test]
async fn a_batch_written_in_full_saves_nothing() {
    let transactions = record::sample::transactions("2010-12-05.csv")[..10].to_vec();
    let (client, _) = recording_dynamodb(all_written);
    let (store, saved) = failed_store();

    handle(
        &client,
        &store,
        &tables(),
        &no_wait(1),
        event_from(&transactions),
    )
    .await;

    assert!(saved.lock().unwrap().is_empty());
}
