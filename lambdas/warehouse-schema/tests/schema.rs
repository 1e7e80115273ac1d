//! The custom resource, called directly with CloudFormation events; the
//! Data API mocked with aws-smithy-mocks, CloudFormation's pre-signed URL
//! played by a local HTTP listener that records the PUT.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_redshiftdata::operation::batch_execute_statement::BatchExecuteStatementOutput;
use aws_sdk_redshiftdata::operation::describe_statement::DescribeStatementOutput;
use aws_sdk_redshiftdata::types::StatusString;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;
use warehouse_schema::users::{self, Login, Users};
use warehouse_schema::{HandlerError, ResponseClient, Status, Timing, handle, schema};

/// What the listener received.
#[derive(Debug)]
struct Put {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Put {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A one-request HTTP server on 127.0.0.1: its URL (path and query as a
/// pre-signed S3 URL has) and the request it receives.
async fn response_listener() -> (String, tokio::task::JoinHandle<Put>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/cloudformation-custom-resource-response-euwest1/arn%3Aaws%3Acloudformation%7Cschema?X-Amz-Expires=7200&X-Amz-Signature=abc",
        listener.local_addr().unwrap()
    );
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        let header_end = loop {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed before the headers ended");
            bytes.extend_from_slice(&buf[..n]);
            if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
        };
        let head = String::from_utf8(bytes[..header_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap().to_owned();
        let headers: Vec<(String, String)> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.trim().to_owned(), value.trim().to_owned())
            })
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .unwrap();
        let mut body = bytes[header_end + 4..].to_vec();
        while body.len() < length {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0);
            body.extend_from_slice(&buf[..n]);
        }
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        Put {
            request_line,
            headers,
            body: serde_json::from_slice(&body).unwrap(),
        }
    });
    (url, server)
}

type Submitted = Arc<Mutex<Vec<(String, String, String, Vec<String>)>>>;

/// A Data API whose statements end with `status` (and `error`); records
/// (cluster, database, secret, sqls) of each batch.
fn data_api(
    status: StatusString,
    error: Option<&'static str>,
) -> (aws_sdk_redshiftdata::Client, Submitted, Rule) {
    let submitted: Submitted = Arc::default();
    let recorder = Arc::clone(&submitted);
    let submit = mock!(aws_sdk_redshiftdata::Client::batch_execute_statement).then_compute_output(
        move |input| {
            recorder.lock().unwrap().push((
                input.cluster_identifier().unwrap().to_owned(),
                input.database().unwrap().to_owned(),
                input.secret_arn().unwrap().to_owned(),
                input.sqls().to_vec(),
            ));
            BatchExecuteStatementOutput::builder().id("batch-1").build()
        },
    );
    let describe =
        mock!(aws_sdk_redshiftdata::Client::describe_statement).then_compute_output(move |_| {
            DescribeStatementOutput::builder()
                .id("batch-1")
                .status(status.clone())
                .set_error(error.map(str::to_owned))
                .build()
                .unwrap()
        });
    let client = mock_client!(
        aws_sdk_redshiftdata,
        RuleMode::MatchAny,
        [&submit, &describe]
    );
    (client, submitted, submit)
}

const SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:warehouse-AbCdEf";
const OWNER_SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:owner-AbCdEf";
const LOADER_SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:loader-AbCdEf";
const READER_SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:reader-AbCdEf";

/// The users' secrets as the stack generates them.
fn test_users() -> Users {
    let login = |username: &str, password: &str| Login {
        username: username.to_owned(),
        password: password.to_owned(),
    };
    Users {
        owner: login("retail_owner", "Owner-Pass-1234567890"),
        loader: login("retail_loader", "Loader-Pass-1234567890"),
        reader: login("retail_reader", "Reader-Pass-1234567890"),
    }
}

/// Secrets Manager answering each user's secret with its login.
fn secrets() -> aws_sdk_secretsmanager::Client {
    let users = test_users();
    let get =
        mock!(aws_sdk_secretsmanager::Client::get_secret_value).then_compute_output(move |input| {
            let login = match input.secret_id().unwrap() {
                OWNER_SECRET => &users.owner,
                LOADER_SECRET => &users.loader,
                READER_SECRET => &users.reader,
                other => panic!("unexpected secret {other}"),
            };
            GetSecretValueOutput::builder()
                .secret_string(
                    json!({ "username": login.username, "password": login.password }).to_string(),
                )
                .build()
        });
    mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&get])
}

/// Everything Create and Update run: the schema, then the users.
fn create_and_users() -> Vec<String> {
    let mut sqls = schema::create_statements();
    sqls.extend(users::statements(&test_users()));
    sqls
}

fn event(request_type: &str, url: &str) -> Value {
    let mut event = json!({
        "RequestType": request_type,
        "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:prod-warehouse-Schema",
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/prod-warehouse/1a2b",
        "RequestId": "5d478f0f-6c09-4d2b-9d5c-0f0c0e6e7f4a",
        "ResourceType": "Custom::WarehouseSchema",
        "LogicalResourceId": "Schema",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:prod-warehouse-Schema",
            "ClusterIdentifier": "retail-warehouse",
            "Database": "retail",
            "SecretArn": SECRET,
            "OwnerSecretArn": OWNER_SECRET,
            "LoaderSecretArn": LOADER_SECRET,
            "ReaderSecretArn": READER_SECRET
        }
    });
    if request_type != "Create" {
        event["PhysicalResourceId"] = json!("retail-warehouse/retail/public.transactions");
    }
    event
}

fn timing() -> Timing {
    Timing {
        deadline: Instant::now() + Duration::from_secs(20),
        response_reserve: Duration::from_secs(5),
        poll_interval: Duration::from_millis(1),
    }
}

fn http() -> ResponseClient {
    ResponseClient::new().unwrap()
}

#[tokio::test]
async fn create_runs_the_ddl_and_answers_success() {
    let (url, server) = response_listener().await;
    let (client, submitted, _) = data_api(StatusString::Finished, None);

    let response = handle(
        &client,
        &secrets(),
        &http(),
        &timing(),
        event("Create", &url),
    )
    .await
    .unwrap();

    let put = server.await.unwrap();
    assert!(
        put.request_line.starts_with(
            "PUT /cloudformation-custom-resource-response-euwest1/arn%3Aaws%3Acloudformation%7Cschema?X-Amz-Expires=7200&X-Amz-Signature=abc "
        ),
        "{}",
        put.request_line
    );
    assert_eq!(
        put.header("content-type"),
        Some(""),
        "the pre-signed URL is signed without a content type"
    );
    assert_eq!(
        put.body,
        json!({
            "Status": "SUCCESS",
            "PhysicalResourceId": "retail-warehouse/retail/public.transactions",
            "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/prod-warehouse/1a2b",
            "RequestId": "5d478f0f-6c09-4d2b-9d5c-0f0c0e6e7f4a",
            "LogicalResourceId": "Schema",
            "Data": {"Table": "public.transactions"}
        })
    );
    assert_eq!(response.status, Status::Success);
    let submitted = submitted.lock().unwrap();
    assert_eq!(submitted.len(), 1, "one batch: one transaction");
    let (cluster, database, secret, sqls) = &submitted[0];
    assert_eq!(
        (cluster.as_str(), database.as_str(), secret.as_str()),
        ("retail-warehouse", "retail", SECRET)
    );
    assert_eq!(sqls, &create_and_users());
    assert!(sqls[0].contains("CREATE TABLE IF NOT EXISTS public.transactions ("));
    assert!(sqls.iter().all(|sql| !sql.ends_with(';')));
}

#[test]
fn firehose_copies_into_a_staging_table_shaped_like_the_table() {
    // Firehose may COPY a line twice; the views never read where it COPYs.
    let sqls = schema::create_statements();
    assert!(sqls[0].contains("CREATE TABLE IF NOT EXISTS public.transactions ("));
    assert!(sqls[1].ends_with(
        "CREATE TABLE IF NOT EXISTS public.transactions_staging (LIKE public.transactions)"
    ));
    for (name, sql) in schema::VIEWS {
        assert!(
            !sql.contains(schema::STAGING_TABLE),
            "{name} reads the staging table"
        );
    }
}

#[tokio::test]
async fn a_view_whose_columns_change_is_dropped_and_created_in_one_transaction() {
    // Redshift refuses CREATE OR REPLACE VIEW when the columns change; a
    // drop and a create in the same batch (one transaction) take any change.
    let (url, server) = response_listener().await;
    let (client, submitted, _) = data_api(StatusString::Finished, None);
    let mut event = event("Update", &url);
    event["PhysicalResourceId"] = json!("id-from-the-first-create");
    event["OldResourceProperties"] = event["ResourceProperties"].clone();

    handle(&client, &secrets(), &http(), &timing(), event)
        .await
        .unwrap();

    assert_eq!(server.await.unwrap().body["Status"], "SUCCESS");
    let submitted = submitted.lock().unwrap();
    assert_eq!(submitted.len(), 1, "one batch: one transaction");
    let sqls = &submitted[0].3;
    assert!(
        sqls.iter()
            .filter(|sql| sql.contains(" VIEW "))
            .all(|sql| !sql.contains("OR REPLACE")),
        "{sqls:#?}"
    );
    let views = &sqls[2..2 + 2 * schema::VIEWS.len()];
    for (pair, (name, _)) in views.chunks(2).zip(schema::VIEWS) {
        assert_eq!(pair[0], format!("DROP VIEW IF EXISTS {name}"));
        assert!(
            pair[1].contains(&format!("CREATE VIEW {name} AS")),
            "{name} is created right after its drop: {}",
            pair[1]
        );
    }
}

#[tokio::test]
async fn update_reruns_the_ddl_and_keeps_the_physical_id() {
    let (url, server) = response_listener().await;
    let (client, submitted, _) = data_api(StatusString::Finished, None);
    let mut event = event("Update", &url);
    event["PhysicalResourceId"] = json!("id-from-the-first-create");
    event["OldResourceProperties"] = event["ResourceProperties"].clone();
    event["ResourceProperties"]["SchemaVersion"] = json!("sha256:0f3c");

    handle(&client, &secrets(), &http(), &timing(), event)
        .await
        .unwrap();

    let put = server.await.unwrap();
    assert_eq!(put.body["Status"], "SUCCESS");
    assert_eq!(put.body["PhysicalResourceId"], "id-from-the-first-create");
    assert_eq!(submitted.lock().unwrap()[0].3, create_and_users());
}

#[tokio::test]
async fn a_failed_statement_answers_failed_with_the_data_api_error() {
    let (url, server) = response_listener().await;
    let (client, _, _) = data_api(
        StatusString::Failed,
        Some("ERROR: permission denied for schema public"),
    );

    let response = handle(
        &client,
        &secrets(),
        &http(),
        &timing(),
        event("Create", &url),
    )
    .await
    .unwrap();

    let put = server.await.unwrap();
    assert_eq!(put.body["Status"], "FAILED");
    let reason = put.body["Reason"].as_str().unwrap();
    assert!(
        reason.contains("ended FAILED: ERROR: permission denied for schema public"),
        "{reason}"
    );
    assert_eq!(
        put.body["RequestId"],
        "5d478f0f-6c09-4d2b-9d5c-0f0c0e6e7f4a"
    );
    assert_eq!(response.status, Status::Failed);
}

#[tokio::test]
async fn a_malformed_event_is_answered_failed_without_touching_the_warehouse() {
    let (url, server) = response_listener().await;
    let (client, _, submit) = data_api(StatusString::Finished, None);
    let event = json!({
        "RequestType": "Create",
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/prod-warehouse/1a2b",
        "RequestId": "r-1",
        "LogicalResourceId": "Schema",
        "ResourceProperties": {"ClusterIdentifier": "retail-warehouse", "Database": 7}
    });

    handle(&client, &secrets(), &http(), &timing(), event)
        .await
        .unwrap();

    let put = server.await.unwrap();
    assert_eq!(put.body["Status"], "FAILED");
    let reason = put.body["Reason"].as_str().unwrap();
    assert!(reason.contains("malformed ResourceProperties"), "{reason}");
    assert_eq!(put.body["PhysicalResourceId"], "Schema");
    assert_eq!(submit.num_calls(), 0);
}

#[tokio::test]
async fn an_unknown_request_type_is_answered_failed() {
    let (url, server) = response_listener().await;
    let (client, _, submit) = data_api(StatusString::Finished, None);
    let mut event = event("Create", &url);
    event["RequestType"] = json!("Upgrade");
    handle(&client, &secrets(), &http(), &timing(), event)
        .await
        .unwrap();
    let put = server.await.unwrap();
    assert_eq!(put.body["Status"], "FAILED");
    assert!(put.body["Reason"].as_str().unwrap().contains("\"Upgrade\""));
    assert_eq!(submit.num_calls(), 0);
}

#[tokio::test]
async fn a_statement_still_running_at_the_deadline_is_answered_failed_in_time() {
    let (url, server) = response_listener().await;
    let (client, _, _) = data_api(StatusString::Started, None);
    let started = Instant::now();
    let timing = Timing {
        deadline: started + Duration::from_millis(1500),
        response_reserve: Duration::from_millis(1000),
        poll_interval: Duration::from_millis(20),
    };

    handle(&client, &secrets(), &http(), &timing, event("Create", &url))
        .await
        .unwrap();

    assert!(started.elapsed() < Duration::from_millis(1500));
    let put = server.await.unwrap();
    assert_eq!(put.body["Status"], "FAILED");
    let reason = put.body["Reason"].as_str().unwrap();
    assert!(reason.contains("was still STARTED"), "{reason}");
}

#[tokio::test]
async fn delete_drops_the_views_and_keeps_the_table() {
    let (url, server) = response_listener().await;
    let (client, submitted, _) = data_api(StatusString::Finished, None);

    handle(
        &client,
        &secrets(),
        &http(),
        &timing(),
        event("Delete", &url),
    )
    .await
    .unwrap();

    let put = server.await.unwrap();
    assert_eq!(put.body["Status"], "SUCCESS");
    assert_eq!(
        put.body["PhysicalResourceId"],
        "retail-warehouse/retail/public.transactions"
    );
    let sqls = &submitted.lock().unwrap()[0].3;
    assert_eq!(sqls.len(), schema::VIEWS.len());
    assert!(
        sqls.iter()
            .all(|sql| sql.starts_with("DROP VIEW IF EXISTS public."))
    );
    assert!(
        !sqls.iter().any(|sql| sql.contains("TABLE")),
        "the data is kept"
    );
}

#[tokio::test]
async fn a_delete_that_cannot_drop_the_views_still_succeeds() {
    let (url, server) = response_listener().await;
    let (client, _, _) = data_api(
        StatusString::Failed,
        Some("ERROR: cannot drop view sales_per_day because other objects depend on it"),
    );
    handle(
        &client,
        &secrets(),
        &http(),
        &timing(),
        event("Delete", &url),
    )
    .await
    .unwrap();
    let put = server.await.unwrap();
    assert_eq!(put.body["Status"], "SUCCESS");
    assert!(
        put.body["Reason"]
            .as_str()
            .unwrap()
            .contains("other objects depend on it")
    );
}

#[tokio::test]
async fn an_event_without_a_response_url_is_an_error() {
    let (client, _, submit) = data_api(StatusString::Finished, None);
    let result = handle(
        &client,
        &secrets(),
        &http(),
        &timing(),
        json!({"RequestType": "Create"}),
    )
    .await;
    assert!(matches!(result, Err(HandlerError::NoResponseUrl { .. })));
    assert_eq!(submit.num_calls(), 0);
}

#[tokio::test]
async fn an_unreachable_response_url_is_reported() {
    // Nothing listens on this port once the listener is dropped.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/response", listener.local_addr().unwrap());
    drop(listener);
    let (client, _, _) = data_api(StatusString::Finished, None);
    let mut http = http();
    http.attempts = 2;
    let result = handle(&client, &secrets(), &http, &timing(), event("Create", &url)).await;
    let Err(error @ HandlerError::Send { .. }) = result else {
        panic!("expected a send error, got {result:?}");
    };
    assert!(error.to_string().contains("after 2 attempt(s)"), "{error}");
}

#[test]
fn the_sql_files_create_every_view_the_analysts_need() {
    let names: Vec<&str> = schema::VIEWS.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "public.sales_per_hour",
            "public.sales_per_day",
            "public.sales_per_month",
            "public.best_selling_products_per_month",
            "public.biggest_invoices",
            "public.customer_insights",
        ]
    );
    for (name, sql) in schema::VIEWS {
        assert!(sql.contains(&format!("CREATE VIEW {name} AS")), "{name}");
        assert!(sql.contains("FROM public.transactions"), "{name}");
        assert!(sql.starts_with("--"), "{name} explains itself to analysts");
    }
}

/// The column list of `CREATE TABLE ... ( ... )`: (name, type, nullable).
fn table_columns(sql: &str) -> Vec<(String, String, bool)> {
    let body = &sql[sql.find("transactions (").unwrap() + "transactions (".len()..];
    let body = &body[..body.find("\n)").unwrap()];
    body.lines()
        .map(|line| line.trim().trim_end_matches(','))
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (name, rest) = line.split_once(' ').unwrap();
            let not_null = rest.ends_with(" NOT NULL");
            let redshift_type = rest.trim_end_matches(" NOT NULL").trim();
            (name.to_owned(), redshift_type.to_owned(), !not_null)
        })
        .collect()
}

#[test]
fn the_table_has_exactly_the_columns_the_loaders_write() {
    let expected: Vec<(String, String, bool)> = record::WAREHOUSE_COLUMNS
        .iter()
        .map(|c| (c.name.to_owned(), c.redshift_type.to_owned(), c.nullable))
        .collect();
    assert_eq!(table_columns(schema::TABLE_SQL), expected);
    // `json 'auto'` matches the lower-case keys a WarehouseRow writes.
    let transaction = record::Transaction::from_json(record::JSON_EXAMPLE).unwrap();
    let line_id = record::SourcePosition::File {
        key: "2010-12-01.csv",
        line: 2,
    }
    .line_id();
    let row: Value =
        serde_json::from_slice(&record::WarehouseRow::new(&transaction, &line_id).to_json_line())
            .unwrap();
    let mut keys: Vec<&str> = row
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut names: Vec<&str> = expected.iter().map(|(n, _, _)| n.as_str()).collect();
    keys.sort_unstable();
    names.sort_unstable();
    assert_eq!(keys, names);
}

#[test]
fn a_long_reason_is_cut_to_fit_the_response_limit() {
    let reason = warehouse_schema::response::truncate_reason("é".repeat(5000));
    assert!(reason.len() <= warehouse_schema::response::MAX_REASON_BYTES);
    assert!(reason.ends_with("(cut; full text in the log)"));
}

#[tokio::test]
async fn a_user_secret_without_a_password_is_answered_failed_before_any_sql() {
    let (url, server) = response_listener().await;
    let (client, _, submit) = data_api(StatusString::Finished, None);
    let get = mock!(aws_sdk_secretsmanager::Client::get_secret_value).then_compute_output(|_| {
        GetSecretValueOutput::builder()
            .secret_string(json!({ "username": "retail_owner" }).to_string())
            .build()
    });
    let secrets = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&get]);

    handle(&client, &secrets, &http(), &timing(), event("Create", &url))
        .await
        .unwrap();

    let put = server.await.unwrap();
    assert_eq!(put.body["Status"], "FAILED");
    let reason = put.body["Reason"].as_str().unwrap();
    assert!(
        reason.contains("the owner secret") && reason.contains("`password`"),
        "{reason}"
    );
    assert_eq!(submit.num_calls(), 0);
}
