//! The ingest function, called directly with API Gateway requests built
//! from the real rows of the December 2010 sample; Kinesis mocked with
//! aws-smithy-mocks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::Method;
use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::error::ErrorMetadata;
use aws_sdk_kinesis::operation::put_records::{PutRecordsError, PutRecordsOutput};
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, PutRecordsResultEntry};
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use ingest::{Config, MAX_BODY_BYTES, MAX_ITEMS, RetryPolicy, handle};
use record::{JSON_EXAMPLE, Transaction};
use serde_json::{Value, json};

fn array_of(transactions: &[Transaction]) -> String {
    let items: Vec<String> = transactions.iter().map(Transaction::to_json).collect();
    format!("[{}]", items.join(","))
}

fn post(body: impl Into<String>) -> ApiGatewayProxyRequest {
    let mut request = ApiGatewayProxyRequest::default();
    request.http_method = Method::POST;
    request.resource = Some("/transactions".to_owned());
    request.path = Some("/transactions".to_owned());
    request.body = Some(body.into());
    request
}

fn config() -> Config {
    Config {
        stream_name: "prod-transactions".to_owned(),
    }
}

/// No real waiting in tests.
fn no_wait(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    }
}

type Calls = Arc<Mutex<Vec<Vec<PutRecordsRequestEntry>>>>;
type Answer = MockResponse<PutRecordsOutput, PutRecordsError>;

/// A client whose PutRecords answers with `answer(call number, records)`
/// and records every call's records. The SDK's own retries are off, so
/// the calls seen are the function's.
fn recording_kinesis(
    answer: impl Fn(usize, &[PutRecordsRequestEntry]) -> Answer + Send + Sync + 'static,
) -> (aws_sdk_kinesis::Client, Calls) {
    let calls: Calls = Arc::default();
    let recorder = Arc::clone(&calls);
    let rule = mock!(aws_sdk_kinesis::Client::put_records).then_compute_response(move |input| {
        assert_eq!(input.stream_name(), Some("prod-transactions"));
        let records = input.records().to_vec();
        let mut calls = recorder.lock().unwrap();
        calls.push(records.clone());
        answer(calls.len(), &records)
    });
    let client = mock_client!(aws_sdk_kinesis, RuleMode::MatchAny, [&rule], |config| {
        config.retry_config(RetryConfig::disabled())
    });
    (client, calls)
}

/// Answers each record with `fate(call, position)`: `None` stores it,
/// `Some(code)` rejects it with that error code.
fn answering(
    fate: impl Fn(usize, usize) -> Option<&'static str> + Send + Sync + 'static,
) -> impl Fn(usize, &[PutRecordsRequestEntry]) -> Answer + Send + Sync + 'static {
    move |call, records| {
        let mut failed = 0;
        let results = (0..records.len())
            .map(|position| match fate(call, position) {
                None => PutRecordsResultEntry::builder()
                    .shard_id("shardId-000000000000")
                    .sequence_number(format!("4959{call:04}{position:06}"))
                    .build(),
                Some(code) => {
                    failed += 1;
                    PutRecordsResultEntry::builder()
                        .error_code(code)
                        .error_message("Rate exceeded for shard shardId-000000000000")
                        .build()
                }
            })
            .collect();
        MockResponse::Output(
            PutRecordsOutput::builder()
                .set_records(Some(results))
                .failed_record_count(failed)
                .build()
                .unwrap(),
        )
    }
}

fn all_stored(call: usize, records: &[PutRecordsRequestEntry]) -> Answer {
    answering(|_, _| None)(call, records)
}

fn body_of(response: &ApiGatewayProxyResponse) -> Value {
    match &response.body {
        Some(Body::Text(text)) => serde_json::from_str(text).unwrap(),
        other => panic!("expected a JSON text body, got {other:?}"),
    }
}

fn counts(body: &Value) -> [u64; 4] {
    ["received", "accepted", "rejected", "failed"].map(|name| body[name].as_u64().unwrap())
}

fn message(response: &ApiGatewayProxyResponse) -> String {
    body_of(response)["message"].as_str().unwrap().to_owned()
}

const THROTTLED: &str = "ProvisionedThroughputExceededException";

#[tokio::test]
async fn real_rows_are_put_as_normalised_json_with_the_invoice_number_as_partition_key() {
    let transactions = record::sample::transactions("2010-12-01.csv")[..MAX_ITEMS].to_vec();
    let (client, calls) = recording_kinesis(all_stored);

    let response = handle(
        &client,
        &config(),
        &no_wait(3),
        post(array_of(&transactions)),
    )
    .await;

    assert_eq!(response.status_code, 200, "{}", message(&response));
    assert_eq!(
        response.headers["content-type"], "application/json",
        "API Gateway passes the header through"
    );
    let body = body_of(&response);
    assert_eq!(counts(&body), [500, 500, 0, 0]);
    assert_eq!(body["errors"], json!([]));
    assert_eq!(body["records"].as_array().unwrap().len(), 500);
    assert_eq!(body["records"][7]["index"], 7);
    assert_eq!(body["records"][7]["shardId"], "shardId-000000000000");
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 1, "500 items are one PutRecords call");
    for (entry, transaction) in calls[0].iter().zip(&transactions) {
        assert_eq!(entry.partition_key(), transaction.invoice_no);
        assert_eq!(entry.data().as_ref(), transaction.to_json().as_bytes());
        // What the stream's readers will parse.
        let read_back = Transaction::from_json(std::str::from_utf8(entry.data().as_ref()).unwrap());
        assert_eq!(read_back.as_ref(), Ok(transaction));
    }
}

#[tokio::test]
async fn a_single_object_in_the_retailers_csv_naming_is_accepted() {
    let (client, calls) = recording_kinesis(all_stored);

    let response = handle(&client, &config(), &no_wait(3), post(JSON_EXAMPLE)).await;

    assert_eq!(response.status_code, 200, "{}", message(&response));
    assert_eq!(counts(&body_of(&response)), [1, 1, 0, 0]);
    let calls = calls.lock().unwrap();
    assert_eq!(calls[0][0].partition_key(), "536365");
    assert!(
        std::str::from_utf8(calls[0][0].data().as_ref())
            .unwrap()
            .starts_with(r#"{"invoice_no":"536365","#),
        "put in the normalised naming"
    );
}

#[tokio::test]
async fn a_batch_with_one_malformed_item_accepts_the_rest_and_reports_the_index() {
    let transactions = record::sample::transactions("2010-12-02.csv")[..4].to_vec();
    let mut items: Vec<String> = transactions.iter().map(Transaction::to_json).collect();
    items[2] = items[2].replace(
        &format!("\"unit_price\":{}", transactions[2].unit_price),
        "\"unit_price\":-1.5",
    );
    assert!(items[2].contains("-1.5"));
    let (client, calls) = recording_kinesis(all_stored);

    let response = handle(
        &client,
        &config(),
        &no_wait(3),
        post(format!("[{}]", items.join(","))),
    )
    .await;

    assert_eq!(response.status_code, 207);
    let body = body_of(&response);
    assert_eq!(counts(&body), [4, 3, 1, 0]);
    assert_eq!(body["errors"][0]["index"], 2);
    assert_eq!(body["errors"][0]["status"], "rejected");
    assert_eq!(body["errors"][0]["field"], "UnitPrice");
    assert!(
        body["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("negative"),
        "{body}"
    );
    assert!(message(&response).contains("1 rejected"), "{body}");
    assert_eq!(
        calls.lock().unwrap()[0].len(),
        3,
        "the malformed item is not sent"
    );
    let indexes: Vec<u64> = body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    assert_eq!(
        indexes,
        [0, 1, 3],
        "accepted items keep their request index"
    );
}

#[tokio::test]
async fn items_that_are_not_transactions_are_rejected_with_their_field() {
    let real = record::sample::transactions("2010-12-03.csv")[0].to_json();
    let body = format!(
        r#"[{real}, 42, {{"InvoiceNo":"536365"}}, {{"CustomerId":"17850"}}, {{"InvoiceNo":"C536379","StockCode":"D","Quantity":1,"InvoiceDate":"2010-12-01 09:41:00","UnitPrice":27.5,"Country":"United Kingdom"}}]"#
    );
    let (client, _calls) = recording_kinesis(all_stored);

    let response = handle(&client, &config(), &no_wait(3), post(body)).await;

    assert_eq!(response.status_code, 207);
    let body = body_of(&response);
    assert_eq!(counts(&body), [5, 1, 4, 0]);
    let errors: Vec<(u64, Value)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), e["field"].clone()))
        .collect();
    assert_eq!(
        errors,
        [
            (1, Value::Null),
            (2, json!("StockCode")),
            (3, Value::Null),
            (4, json!("Quantity")),
        ]
    );
}

#[tokio::test]
async fn when_every_item_is_invalid_the_answer_is_422_and_nothing_is_sent() {
    let (client, calls) = recording_kinesis(all_stored);

    let response = handle(
        &client,
        &config(),
        &no_wait(3),
        post(r#"[{"InvoiceNo":"536365"}, {"InvoiceNo":"x"}]"#),
    )
    .await;

    assert_eq!(response.status_code, 422);
    let body = body_of(&response);
    assert_eq!(counts(&body), [2, 0, 2, 0]);
    assert_eq!(body["errors"][1]["field"], "InvoiceNo");
    assert!(calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn malformed_json_is_a_400_saying_where_and_nothing_is_sent() {
    let (client, calls) = recording_kinesis(all_stored);

    let response = handle(
        &client,
        &config(),
        &no_wait(3),
        post("[{\"InvoiceNo\":\"536365\",}]"),
    )
    .await;

    assert_eq!(response.status_code, 400);
    let text = message(&response);
    assert!(
        text.starts_with("the request body is not valid JSON"),
        "{text}"
    );
    assert!(text.contains("line 1 column"), "{text}");
    assert!(calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_empty_body_an_empty_array_and_a_scalar_are_400s_that_say_what_to_send() {
    let (client, calls) = recording_kinesis(all_stored);
    for (body, expected) in [
        ("", "the request body is empty"),
        ("  \n", "the request body is empty"),
        ("[]", "the request body is an empty array"),
        ("\"536365\"", "the request body is a JSON string"),
        ("null", "the request body is a JSON null"),
    ] {
        let response = handle(&client, &config(), &no_wait(3), post(body)).await;
        assert_eq!(response.status_code, 400, "{body:?}");
        let text = message(&response);
        assert!(text.starts_with(expected), "{body:?}: {text}");
    }
    let mut no_body = post("");
    no_body.body = None;
    let response = handle(&client, &config(), &no_wait(3), no_body).await;
    assert_eq!(response.status_code, 400);
    assert!(
        message(&response).contains(JSON_EXAMPLE),
        "shows an example"
    );
    assert!(calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn more_than_500_items_is_a_400_and_nothing_is_sent() {
    let transactions = record::sample::transactions("2010-12-05.csv")[..MAX_ITEMS + 1].to_vec();
    let (client, calls) = recording_kinesis(all_stored);

    let response = handle(
        &client,
        &config(),
        &no_wait(3),
        post(array_of(&transactions)),
    )
    .await;

    assert_eq!(response.status_code, 400);
    assert_eq!(
        message(&response),
        "the request body has 501 items, over the limit of 500 per request: \
         split it into batches of at most 500"
    );
    assert!(calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_oversized_body_is_a_400_and_nothing_is_sent() {
    let (client, calls) = recording_kinesis(all_stored);
    let huge = format!("[{}]", " ".repeat(MAX_BODY_BYTES));

    let response = handle(&client, &config(), &no_wait(3), post(huge.clone())).await;

    assert_eq!(response.status_code, 400);
    assert!(
        message(&response).contains("over the 5242880 byte limit"),
        "{}",
        message(&response)
    );
    let mut encoded = post(aws_smithy_types::base64::encode(huge.as_bytes()));
    encoded.is_base64_encoded = true;
    let response = handle(&client, &config(), &no_wait(3), encoded).await;
    assert_eq!(response.status_code, 400);
    assert!(calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_item_with_an_oversized_field_is_rejected_not_sent() {
    let mut huge = record::sample::transactions("2010-12-06.csv")[0].clone();
    huge.description = Some("X".repeat(1024 * 1024 + 1));
    let (client, calls) = recording_kinesis(all_stored);

    let response = handle(&client, &config(), &no_wait(3), post(huge.to_json())).await;

    assert_eq!(response.status_code, 422);
    let body = body_of(&response);
    assert_eq!(body["errors"][0]["field"], "Description");
    assert!(
        body["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("longer than 256 bytes")
    );
    assert!(calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_base64_encoded_body_is_decoded() {
    let transactions = record::sample::transactions("2010-12-07.csv")[..10].to_vec();
    let mut request = post(aws_smithy_types::base64::encode(
        array_of(&transactions).as_bytes(),
    ));
    request.is_base64_encoded = true;
    let (client, calls) = recording_kinesis(all_stored);

    let response = handle(&client, &config(), &no_wait(3), request).await;

    assert_eq!(response.status_code, 200, "{}", message(&response));
    assert_eq!(calls.lock().unwrap()[0].len(), 10);

    let mut bad = post("not base64 at all!");
    bad.is_base64_encoded = true;
    let response = handle(&client, &config(), &no_wait(3), bad).await;
    assert_eq!(response.status_code, 400);
    assert!(message(&response).contains("not valid base64"));
}

#[tokio::test]
async fn throttled_entries_are_retried_alone_then_accepted() {
    let transactions = record::sample::transactions("2010-12-08.csv")[..20].to_vec();
    // First call: every third record throttled; then all stored.
    let (client, calls) = recording_kinesis(answering(|call, position| {
        (call == 1 && position % 3 == 0).then_some(THROTTLED)
    }));

    let response = handle(
        &client,
        &config(),
        &no_wait(3),
        post(array_of(&transactions)),
    )
    .await;

    assert_eq!(response.status_code, 200, "{}", message(&response));
    assert_eq!(counts(&body_of(&response)), [20, 20, 0, 0]);
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 2);
    let retried: Vec<&[u8]> = calls[1].iter().map(|e| e.data().as_ref()).collect();
    let throttled: Vec<&[u8]> = calls[0]
        .iter()
        .step_by(3)
        .map(|e| e.data().as_ref())
        .collect();
    assert_eq!(
        retried, throttled,
        "only the throttled records are sent again"
    );
    let indexes: Vec<u64> = body_of(&response)["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, (0..20).collect::<Vec<u64>>());
}

#[tokio::test]
async fn entries_throttled_forever_are_reported_failed_after_the_bounded_retries() {
    let transactions = record::sample::transactions("2010-12-09.csv")[..10].to_vec();
    let stuck_invoice = transactions[4].invoice_no.clone();
    // Every call throttles the records of one invoice (a hot shard).
    let stuck = stuck_invoice.clone();
    let (client, calls) = recording_kinesis(move |call, records| {
        let hot: Vec<usize> = records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.partition_key() == stuck)
            .map(|(i, _)| i)
            .collect();
        answering(move |_, position| hot.contains(&position).then_some(THROTTLED))(call, records)
    });

    let response = handle(
        &client,
        &config(),
        &no_wait(4),
        post(array_of(&transactions)),
    )
    .await;

    assert_eq!(
        calls.lock().unwrap().len(),
        4,
        "max_attempts calls, no more"
    );
    assert_eq!(response.status_code, 207);
    let body = body_of(&response);
    let hot: Vec<u64> = transactions
        .iter()
        .enumerate()
        .filter(|(_, t)| t.invoice_no == stuck_invoice)
        .map(|(i, _)| i as u64)
        .collect();
    let [received, accepted, rejected, failed] = counts(&body);
    assert_eq!(
        (received, accepted, rejected, failed),
        (10, 10 - hot.len() as u64, 0, hot.len() as u64)
    );
    let failed_indexes: Vec<u64> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["status"], "failed");
            assert_eq!(e["code"], THROTTLED);
            e["index"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(failed_indexes, hot);
    assert!(
        message(&response).contains("send them again unchanged"),
        "{body}"
    );
}

#[tokio::test]
async fn a_stream_that_throttles_everything_is_a_503() {
    let transactions = record::sample::transactions("2010-12-10.csv")[..5].to_vec();
    let (client, calls) = recording_kinesis(answering(|_, _| Some(THROTTLED)));

    let response = handle(
        &client,
        &config(),
        &no_wait(3),
        post(array_of(&transactions)),
    )
    .await;

    assert_eq!(response.status_code, 503);
    assert_eq!(response.headers["retry-after"], "1");
    assert_eq!(counts(&body_of(&response)), [5, 0, 0, 5]);
    assert_eq!(calls.lock().unwrap().len(), 3);
}

const NOT_FOUND: &str = "Stream prod-transactions under account 123456789012 not found.";

#[tokio::test]
async fn a_kinesis_outage_is_a_503_with_every_item_listed_as_failed() {
    let transactions = record::sample::transactions("2010-12-12.csv")[..6].to_vec();
    let (client, calls) = recording_kinesis(|_, _| {
        MockResponse::Error(PutRecordsError::ResourceNotFoundException(
            aws_sdk_kinesis::types::error::ResourceNotFoundException::builder()
                .message(NOT_FOUND)
                .meta(
                    ErrorMetadata::builder()
                        .code("ResourceNotFoundException")
                        .message(NOT_FOUND)
                        .build(),
                )
                .build(),
        ))
    });

    let response = handle(
        &client,
        &config(),
        &no_wait(3),
        post(array_of(&transactions)),
    )
    .await;

    assert_eq!(response.status_code, 503);
    let body = body_of(&response);
    assert_eq!(counts(&body), [6, 0, 0, 6]);
    for (index, error) in body["errors"].as_array().unwrap().iter().enumerate() {
        assert_eq!(error["index"], index);
        assert_eq!(error["status"], "failed");
        assert_eq!(error["code"], "ResourceNotFoundException");
    }
    assert!(
        message(&response).starts_with("the transaction stream is unavailable"),
        "{body}"
    );
    assert_eq!(
        calls.lock().unwrap().len(),
        1,
        "a failed call is not retried by the function"
    );
}

#[tokio::test]
async fn only_post_is_allowed() {
    let (client, calls) = recording_kinesis(all_stored);
    let mut request = post(JSON_EXAMPLE);
    request.http_method = Method::GET;

    let response = handle(&client, &config(), &no_wait(3), request).await;

    assert_eq!(response.status_code, 405);
    assert_eq!(response.headers["allow"], "POST");
    assert!(calls.lock().unwrap().is_empty());
}

#[test]
fn an_api_gateway_event_deserialises_into_the_request() {
    let event = json!({
        "resource": "/transactions",
        "path": "/transactions",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {"resourcePath": "/transactions", "httpMethod": "POST", "stage": "prod"},
        "body": JSON_EXAMPLE,
        "isBase64Encoded": false
    });
    let request: ApiGatewayProxyRequest = serde_json::from_value(event).unwrap();
    assert_eq!(request.http_method, Method::POST);
    assert_eq!(request.body.as_deref(), Some(JSON_EXAMPLE));
}

#[test]
fn the_stream_name_comes_from_the_environment_the_stack_sets() {
    let config =
        Config::from_vars(|name| (name == "STREAM_NAME").then(|| "prod-transactions".to_owned()))
            .unwrap();
    assert_eq!(config.stream_name, "prod-transactions");
    let error = Config::from_vars(|_| Some(String::new())).unwrap_err();
    assert_eq!(
        error.to_string(),
        "environment variable STREAM_NAME is not set; the Api stack sets it to the name of the transactions Kinesis stream"
    );
}

/// The sample's first rows as API items keyed by file name and line, as
/// `provisioner send` sends them.
fn keyed_items(transactions: &[Transaction]) -> String {
    let items: Vec<String> = transactions
        .iter()
        .enumerate()
        .map(|(i, t)| {
            record::KeyedTransaction {
                transaction: t.clone(),
                idempotency_key: Some(format!("2010-12-01.csv:{}", i + 2)),
            }
            .to_json()
        })
        .collect();
    format!("[{}]", items.join(","))
}

fn line_ids(response: &ApiGatewayProxyResponse) -> Vec<String> {
    body_of(response)["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["lineId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_resent_item_keeps_its_line_id_though_it_lands_elsewhere_on_the_stream() {
    let transactions = record::sample::transactions("2010-12-01.csv")[..3].to_vec();
    let body = keyed_items(&transactions);
    // Every call stores at new sequence numbers (`4959{call}{position}`):
    // the second call is the client's resend after an ambiguous failure.
    let (client, calls) = recording_kinesis(all_stored);

    let first = handle(&client, &config(), &no_wait(1), post(body.clone())).await;
    let resent = handle(&client, &config(), &no_wait(1), post(body)).await;

    assert_eq!(first.status_code, 200, "{}", message(&first));
    assert_eq!(line_ids(&first), line_ids(&resent));
    assert!(line_ids(&first).iter().all(|id| id.starts_with("i-")));
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 2, "both sends reached the stream");
    // The stream carries the key, so every writer derives the same id.
    let data = std::str::from_utf8(calls[0][0].data().as_ref()).unwrap();
    let keyed = record::KeyedTransaction::from_json(data).unwrap();
    assert_eq!(keyed.idempotency_key.as_deref(), Some("2010-12-01.csv:2"));
    let landed = record::SourcePosition::Kinesis {
        shard_id: "shardId-000000000000",
        sequence_number: "anywhere",
    };
    assert_eq!(keyed.line_id(landed).as_str(), line_ids(&first)[0]);
}

#[tokio::test]
async fn identical_items_with_different_keys_are_different_lines() {
    let row = record::sample::transactions("2010-12-01.csv")[0].clone();
    let (client, _) = recording_kinesis(all_stored);

    let response = handle(
        &client,
        &config(),
        &no_wait(1),
        post(keyed_items(&[row.clone(), row])),
    )
    .await;

    let ids = line_ids(&response);
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test]
async fn an_item_without_a_key_is_identified_by_where_it_landed_as_before() {
    let transactions = record::sample::transactions("2010-12-01.csv")[..1].to_vec();
    let (client, _) = recording_kinesis(all_stored);

    let response = handle(
        &client,
        &config(),
        &no_wait(1),
        post(array_of(&transactions)),
    )
    .await;

    let landed = record::SourcePosition::Kinesis {
        shard_id: "shardId-000000000000",
        sequence_number: "49590001000000",
    };
    assert_eq!(line_ids(&response), [landed.line_id().into_string()]);
}

#[tokio::test]
async fn an_overlong_key_rejects_its_item_naming_the_field() {
    let row = record::sample::transactions("2010-12-01.csv")[0].to_json();
    let long = "k".repeat(record::limits::IDEMPOTENCY_KEY_BYTES + 1);
    let item = format!("{},\"IdempotencyKey\":\"{long}\"}}", &row[..row.len() - 1]);
    let (client, calls) = recording_kinesis(all_stored);

    let response = handle(&client, &config(), &no_wait(1), post(item)).await;

    assert_eq!(response.status_code, 422, "{}", message(&response));
    assert_eq!(body_of(&response)["errors"][0]["field"], "IdempotencyKey");
    assert!(calls.lock().unwrap().is_empty());
}
