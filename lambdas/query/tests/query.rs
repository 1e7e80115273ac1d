//! The query function, called directly with API Gateway requests; DynamoDB
//! mocked with aws-smithy-mocks as tables holding exactly the items
//! dynamodb-writer stores for the real rows of the December 2010 sample,
//! served in pages like a real `Query`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::Method;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::ErrorMetadata;
use aws_sdk_dynamodb::operation::query::{QueryError, QueryInput, QueryOutput};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use query::{Tables, handle};
use record::dynamodb::{self, attr};
use record::{Money, SourcePosition, Transaction};
use serde_json::{Value, json};

type SdkItem = HashMap<String, AttributeValue>;

const FILE: &str = "2010-12-01.csv";

fn to_sdk(item: dynamodb::Item) -> SdkItem {
    item.into_iter()
        .map(|(name, value)| {
            let value = match value {
                dynamodb::AttributeValue::S(s) => AttributeValue::S(s),
                dynamodb::AttributeValue::N(n) => AttributeValue::N(n),
                dynamodb::AttributeValue::Bool(b) => AttributeValue::Bool(b),
            };
            (name.to_owned(), value)
        })
        .collect()
}

/// The two tables as dynamodb-writer fills them from a day's rows, put on
/// the stream in file order.
struct Tables2 {
    invoices: Vec<SdkItem>,
    customers: Vec<SdkItem>,
}

fn stored(transactions: &[Transaction]) -> Tables2 {
    let mut tables = Tables2 {
        invoices: Vec::new(),
        customers: Vec::new(),
    };
    for (index, transaction) in transactions.iter().enumerate() {
        let sequence_number = format!("4959033827149025660855969253836157109592157598{index:010}");
        let items = transaction.dynamo_items(&SourcePosition::Kinesis {
            shard_id: "shardId-000000000000",
            sequence_number: &sequence_number,
        });
        tables.invoices.push(to_sdk(items.invoice));
        tables.customers.extend(items.customer.map(to_sdk));
    }
    tables
}

fn s<'a>(item: &'a SdkItem, name: &str) -> &'a str {
    item[name].as_s().unwrap()
}

type Calls = Arc<Mutex<Vec<QueryInput>>>;

/// A client whose `Query` serves `tables` like DynamoDB: the items of the
/// hash key, in range key order, `page_size` items a page with
/// `LastEvaluatedKey` while more remain.
fn dynamodb_serving(tables: Tables2, page_size: usize) -> (aws_sdk_dynamodb::Client, Calls) {
    answering(serve(tables, page_size))
}

fn serve(
    tables: Tables2,
    page_size: usize,
) -> impl Fn(&QueryInput) -> MockResponse<QueryOutput, QueryError> + Send + Sync + 'static {
    move |input| {
        let (items, hash, range) = match input.table_name().unwrap() {
            "Invoices" => (&tables.invoices, attr::INVOICE_NO, attr::LINE_ID),
            "Customers" => (&tables.customers, attr::CUSTOMER_ID, attr::PURCHASE_ID),
            other => panic!("no table {other}"),
        };
        assert_eq!(input.key_condition_expression(), Some("#key = :value"));
        assert_eq!(input.expression_attribute_names().unwrap()["#key"], hash);
        let value = input.expression_attribute_values().unwrap()[":value"]
            .as_s()
            .unwrap();
        let mut matching: Vec<&SdkItem> = items
            .iter()
            .filter(|item| item.get(hash).and_then(|v| v.as_s().ok()) == Some(value))
            .collect();
        matching.sort_by(|a, b| s(a, range).cmp(s(b, range)));
        let start = match input.exclusive_start_key() {
            Some(key) => {
                assert_eq!(s(key, hash), value);
                matching
                    .iter()
                    .position(|item| s(item, range) == s(key, range))
                    .unwrap()
                    + 1
            }
            None => 0,
        };
        let page: Vec<SdkItem> = matching[start..]
            .iter()
            .take(page_size)
            .map(|&item| item.clone())
            .collect();
        let mut output = QueryOutput::builder().count(page.len() as i32);
        if start + page.len() < matching.len() {
            let last = page.last().unwrap();
            output = output
                .last_evaluated_key(hash, last[hash].clone())
                .last_evaluated_key(range, last[range].clone());
        }
        MockResponse::Output(output.set_items(Some(page)).build())
    }
}

fn answering(
    answer: impl Fn(&QueryInput) -> MockResponse<QueryOutput, QueryError> + Send + Sync + 'static,
) -> (aws_sdk_dynamodb::Client, Calls) {
    let calls: Calls = Arc::default();
    let recorder = Arc::clone(&calls);
    let rule = mock!(aws_sdk_dynamodb::Client::query).then_compute_response(move |input| {
        recorder.lock().unwrap().push(input.clone());
        answer(input)
    });
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule], |config| {
        config.retry_config(RetryConfig::disabled())
    });
    (client, calls)
}

fn tables() -> Tables {
    Tables {
        invoices: "Invoices".to_owned(),
        customers: "Customers".to_owned(),
    }
}

fn get(resource: &str, path: &str, parameters: &[(&str, &str)]) -> ApiGatewayProxyRequest {
    let mut request = ApiGatewayProxyRequest::default();
    request.http_method = Method::GET;
    request.resource = Some(resource.to_owned());
    request.path = Some(path.to_owned());
    request.path_parameters = parameters
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    request
}

fn get_invoice(invoice_no: &str) -> ApiGatewayProxyRequest {
    get(
        "/invoices/{invoiceNo}",
        &format!("/invoices/{invoice_no}"),
        &[("invoiceNo", invoice_no)],
    )
}

fn get_customer(customer_id: &str) -> ApiGatewayProxyRequest {
    get(
        "/customers/{customerId}/invoices",
        &format!("/customers/{customer_id}/invoices"),
        &[("customerId", customer_id)],
    )
}

fn body_of(response: &ApiGatewayProxyResponse) -> Value {
    match &response.body {
        Some(Body::Text(text)) => serde_json::from_str(text).unwrap(),
        other => panic!("expected a JSON text body, got {other:?}"),
    }
}

fn message(response: &ApiGatewayProxyResponse) -> String {
    body_of(response)["message"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// A line as (stock code, quantity, unit price text), to compare as
/// multisets.
fn line_key(stock_code: &str, quantity: i64, unit_price: &str) -> (String, i64, String) {
    (stock_code.to_owned(), quantity, unit_price.to_owned())
}

fn total_of<'a>(transactions: impl Iterator<Item = &'a Transaction>) -> String {
    Money::from_thousandths(transactions.map(|t| t.line_total().thousandths()).sum()).to_string()
}

#[tokio::test]
async fn every_line_of_a_real_invoice_is_returned_across_pages() {
    let transactions = record::sample::transactions(FILE);
    let expected: Vec<&Transaction> = transactions
        .iter()
        .filter(|t| t.invoice_no == "536592")
        .collect();
    assert_eq!(expected.len(), 592, "the largest invoice of the day");
    let (client, calls) = dynamodb_serving(stored(&transactions), 100);

    let response = handle(&client, &tables(), get_invoice("536592")).await;

    assert_eq!(response.status_code, 200, "{}", message(&response));
    assert_eq!(response.headers["content-type"], "application/json");
    let body = body_of(&response);
    assert_eq!(body["invoiceNo"], "536592");
    assert_eq!(body["lineCount"], 592);
    assert_eq!(body["isCancellation"], false);
    assert_eq!(body["invoiceDate"], "2010-12-01 17:06:00");
    let mut returned: Vec<_> = body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            line_key(
                line["stockCode"].as_str().unwrap(),
                line["quantity"].as_i64().unwrap(),
                &line["unitPrice"].to_string(),
            )
        })
        .collect();
    let mut wanted: Vec<_> = expected
        .iter()
        .map(|t| {
            line_key(
                &t.stock_code,
                i64::from(t.quantity),
                &t.unit_price.to_string(),
            )
        })
        .collect();
    returned.sort();
    wanted.sort();
    assert_eq!(returned, wanted);
    assert_eq!(body["total"].to_string(), total_of(expected.into_iter()));
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 6, "592 lines in pages of 100");
    assert!(calls[0].exclusive_start_key().is_none());
    assert!(calls[1..].iter().all(|c| c.exclusive_start_key().is_some()));
}

#[tokio::test]
async fn an_invoice_of_one_page_answers_with_its_customer_and_exact_total() {
    let transactions = record::sample::transactions(FILE);
    let (client, calls) = dynamodb_serving(stored(&transactions), 1000);

    let response = handle(&client, &tables(), get_invoice("536365")).await;

    assert_eq!(response.status_code, 200);
    let body = body_of(&response);
    assert_eq!(body["customerId"], "17850", "17850.0 in the file");
    assert_eq!(body["country"], "United Kingdom");
    assert_eq!(body["lineCount"], 7);
    // 15.3 + 20.34 + 22 + 20.34 + 20.34 + 15.3 + 25.5, exactly.
    assert_eq!(body["total"].to_string(), "139.12");
    let heart = body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["stockCode"] == "85123A")
        .unwrap();
    assert_eq!(heart["description"], "WHITE HANGING HEART T-LIGHT HOLDER");
    assert_eq!(heart["unitPrice"].to_string(), "2.55");
    assert_eq!(heart["lineTotal"].to_string(), "15.3");
    assert!(heart["lineId"].as_str().unwrap().starts_with("k-"));
    assert_eq!(calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_cancellation_is_found_by_its_c_number_with_a_negative_total() {
    let transactions = record::sample::transactions(FILE);
    let (client, _calls) = dynamodb_serving(stored(&transactions), 10);

    let response = handle(&client, &tables(), get_invoice("C536379")).await;

    assert_eq!(response.status_code, 200);
    let body = body_of(&response);
    assert_eq!(body["isCancellation"], true);
    assert_eq!(body["total"].to_string(), "-27.5");
    assert_eq!(body["lines"][0]["stockCode"], "D");
}

#[tokio::test]
async fn a_customers_purchases_are_grouped_into_invoices_across_pages() {
    let transactions = record::sample::transactions(FILE);
    let of_customer: Vec<&Transaction> = transactions
        .iter()
        .filter(|t| t.customer_id.as_deref() == Some("17850"))
        .collect();
    let mut invoice_numbers: Vec<&str> =
        of_customer.iter().map(|t| t.invoice_no.as_str()).collect();
    invoice_numbers.sort_unstable();
    invoice_numbers.dedup();
    assert!(invoice_numbers.len() > 5);
    let (client, calls) = dynamodb_serving(stored(&transactions), 7);

    let response = handle(&client, &tables(), get_customer("17850")).await;

    assert_eq!(response.status_code, 200, "{}", message(&response));
    let body = body_of(&response);
    assert_eq!(body["customerId"], "17850");
    assert_eq!(body["lineCount"], of_customer.len());
    assert_eq!(body["invoiceCount"], invoice_numbers.len());
    assert_eq!(
        body["total"].to_string(),
        total_of(of_customer.iter().copied())
    );
    let invoices = body["invoices"].as_array().unwrap();
    let dates: Vec<&str> = invoices
        .iter()
        .map(|i| i["invoiceDate"].as_str().unwrap())
        .collect();
    assert!(dates.is_sorted(), "invoices by date: {dates:?}");
    for invoice in invoices {
        let number = invoice["invoiceNo"].as_str().unwrap();
        let lines = of_customer
            .iter()
            .filter(|t| t.invoice_no == number)
            .count();
        assert_eq!(invoice["lineCount"], lines, "{number}");
        assert_eq!(invoice["customerId"], "17850");
    }
    assert_eq!(
        calls.lock().unwrap().len(),
        of_customer.len().div_ceil(7),
        "every page read"
    );
}

#[tokio::test]
async fn a_customer_id_written_as_a_float_finds_the_same_customer() {
    let transactions = record::sample::transactions(FILE);
    let (client, calls) = dynamodb_serving(stored(&transactions), 1000);

    let response = handle(&client, &tables(), get_customer("17850.0")).await;

    assert_eq!(response.status_code, 200);
    assert_eq!(body_of(&response)["customerId"], "17850");
    let calls = calls.lock().unwrap();
    assert_eq!(
        calls[0].expression_attribute_values().unwrap()[":value"],
        AttributeValue::S("17850".to_owned())
    );
}

#[tokio::test]
async fn an_invoice_or_customer_with_nothing_stored_is_a_404() {
    let transactions = record::sample::transactions(FILE);
    let (client, _calls) = dynamodb_serving(stored(&transactions), 100);

    let response = handle(&client, &tables(), get_invoice("999999")).await;
    assert_eq!(response.status_code, 404);
    assert_eq!(message(&response), "no invoice 999999 is stored");

    let response = handle(&client, &tables(), get_customer("99999")).await;
    assert_eq!(response.status_code, 404);
    assert_eq!(
        message(&response),
        "no purchase of customer 99999 is stored"
    );
}

#[tokio::test]
async fn malformed_ids_are_a_400_and_make_no_call() {
    let (client, calls) = dynamodb_serving(stored(&[]), 100);
    for invoice_no in ["abc", "c536379", "5363 65", "12345678901234567"] {
        let response = handle(&client, &tables(), get_invoice(invoice_no)).await;
        assert_eq!(response.status_code, 400, "{invoice_no}");
        let text = message(&response);
        assert!(text.contains("is not an invoice number"), "{text}");
        assert!(
            text.contains("GET /invoices/536365"),
            "says how to fix: {text}"
        );
    }
    for customer_id in ["abc", "-17850", "17850.5"] {
        let response = handle(&client, &tables(), get_customer(customer_id)).await;
        assert_eq!(response.status_code, 400, "{customer_id}");
        assert!(message(&response).contains("is not a customer id"));
    }
    assert!(calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn unknown_routes_are_404_and_other_methods_405() {
    let (client, calls) = dynamodb_serving(stored(&[]), 100);

    let response = handle(&client, &tables(), get("/invoices", "/invoices", &[])).await;
    assert_eq!(response.status_code, 404);
    assert_eq!(
        message(&response),
        "no such resource /invoices: the API serves GET /invoices/{invoiceNo} and \
         GET /customers/{customerId}/invoices"
    );

    let mut delete = get_invoice("536365");
    delete.http_method = Method::DELETE;
    let response = handle(&client, &tables(), delete).await;
    assert_eq!(response.status_code, 405);
    assert_eq!(response.headers["allow"], "GET");
    assert!(calls.lock().unwrap().is_empty());
}

const THROTTLED: &str = "The level of configured provisioned throughput for the table was exceeded";

#[tokio::test]
async fn a_dynamodb_failure_is_a_500_with_a_message() {
    let (client, _calls) = answering(|_| {
        MockResponse::Error(QueryError::ProvisionedThroughputExceededException(
            aws_sdk_dynamodb::types::error::ProvisionedThroughputExceededException::builder()
                .message(THROTTLED)
                .meta(
                    ErrorMetadata::builder()
                        .code("ProvisionedThroughputExceededException")
                        .message(THROTTLED)
                        .build(),
                )
                .build(),
        ))
    });

    let response = handle(&client, &tables(), get_invoice("536365")).await;

    assert_eq!(response.status_code, 500);
    assert_eq!(
        message(&response),
        "reading the Invoices table failed (ProvisionedThroughputExceededException); \
         try again in a moment"
    );
}

#[tokio::test]
async fn a_failure_on_a_later_page_is_a_500_not_a_partial_invoice() {
    let transactions = record::sample::transactions(FILE);
    let serving = serve(stored(&transactions), 100);
    let pages = std::sync::atomic::AtomicUsize::new(0);
    let (client, calls) = answering(move |input| {
        if pages.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 2 {
            return MockResponse::Error(QueryError::InternalServerError(
                aws_sdk_dynamodb::types::error::InternalServerError::builder()
                    .message("boom")
                    .meta(ErrorMetadata::builder().code("InternalServerError").build())
                    .build(),
            ));
        }
        serving(input)
    });

    let response = handle(&client, &tables(), get_invoice("536592")).await;

    assert_eq!(response.status_code, 500);
    assert!(message(&response).contains("InternalServerError"));
    assert_eq!(calls.lock().unwrap().len(), 3, "no page after the failure");
}

#[tokio::test]
async fn a_stored_line_that_is_not_valid_is_listed_not_hidden() {
    let transactions = record::sample::transactions(FILE);
    let mut tables2 = stored(&transactions);
    let edited = tables2
        .invoices
        .iter_mut()
        .find(|item| s(item, attr::INVOICE_NO) == "536365")
        .unwrap();
    edited.insert(
        attr::UNIT_PRICE.to_owned(),
        AttributeValue::N("-2.55".to_owned()),
    );
    let edited_line = s(edited, attr::LINE_ID).to_owned();
    let (client, _calls) = dynamodb_serving(tables2, 100);

    let response = handle(&client, &tables(), get_invoice("536365")).await;

    assert_eq!(response.status_code, 200);
    let body = body_of(&response);
    assert_eq!(body["lineCount"], 6);
    assert_eq!(body["unreadableLines"][0]["lineId"], edited_line);
    assert!(
        body["unreadableLines"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("UnitPrice")
    );
}

#[test]
fn an_api_gateway_event_gives_the_route_by_resource_and_path_parameters() {
    let event = json!({
        "resource": "/customers/{customerId}/invoices",
        "path": "/customers/17850/invoices",
        "httpMethod": "GET",
        "headers": null,
        "multiValueHeaders": null,
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": {"customerId": "17850"},
        "stageVariables": null,
        "requestContext": {"resourcePath": "/customers/{customerId}/invoices", "httpMethod": "GET", "stage": "prod"},
        "body": null,
        "isBase64Encoded": false
    });
    let request: ApiGatewayProxyRequest = serde_json::from_value(event).unwrap();
    assert_eq!(
        query::Route::from_request(&request),
        Ok(query::Route::CustomerInvoices {
            customer_id: "17850".to_owned()
        })
    );
}

#[test]
fn table_names_come_from_the_environment_the_stack_sets() {
    let vars = |name: &str| match name {
        "INVOICES_TABLE" => Some("prod-Invoices".to_owned()),
        "CUSTOMERS_TABLE" => Some("prod-Customers".to_owned()),
        _ => None,
    };
    assert_eq!(
        Tables::from_vars(query::STACK, vars).unwrap(),
        Tables {
            invoices: "prod-Invoices".to_owned(),
            customers: "prod-Customers".to_owned()
        }
    );
    let error = Tables::from_vars(query::STACK, |name| {
        (name == "CUSTOMERS_TABLE").then(|| "x".to_owned())
    })
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "environment variable INVOICES_TABLE is not set; the Api stack sets it to the Invoices table name"
    );
}
