//! `provisioner reconcile`'s readers against what each store answers: the
//! lake and DynamoDB in a local emulator (moto), the Redshift Data API as
//! mocks answering as real Redshift does; and the command end to end
//! against moto.

use crate::support;

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_redshiftdata::operation::describe_statement::DescribeStatementOutput;
use aws_sdk_redshiftdata::operation::execute_statement::ExecuteStatementOutput;
use aws_sdk_redshiftdata::operation::get_statement_result::GetStatementResultOutput;
use aws_sdk_redshiftdata::types::{ColumnMetadata, Field, StatusString};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use chrono::NaiveDate;
use provisioner::reconcile::redshift::{self, RedshiftError, Target, Wait};
use provisioner::reconcile::{DayRange, Sighting, dynamodb, lake};
use support::{Moto, REGION};

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2010, 12, d).unwrap()
}

fn range(from: u32, to: u32) -> DayRange {
    DayRange {
        from: Some(day(from)),
        to: Some(day(to)),
    }
}

/// A lake line as lake-writer writes it (`record::WarehouseRow`).
fn lake_line(invoice_date: &str, line_id: &str) -> String {
    format!(
        r#"{{"invoice_no":"536365","stock_code":"85123A","description":"WHITE HANGING HEART T-LIGHT HOLDER","quantity":6,"invoice_date":"{invoice_date}","unit_price":"2.55","customer_id":"17850","country":"United Kingdom","line_total":"15.3","is_cancellation":false,"line_id":"{line_id}"}}"#
    ) + "\n"
}

async fn sdk(moto: &Moto) -> aws_config::SdkConfig {
    provisioner::aws::config_loader()
        .region(aws_config::Region::new(REGION))
        .endpoint_url(&moto.url)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "t"))
        .load()
        .await
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: String) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into_bytes().into())
        .send()
        .await
        .unwrap();
}

async fn lake_with_a_resent_line(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.create_bucket()
        .bucket(bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let first = lake_line("2010-12-01 08:26:00", "c-1") + &lake_line("2010-12-01 09:00:00", "c-2");
    put(s3, bucket, "raw/date=2010-12-01/shardId-0-1.jsonl", first).await;
    // The client resent c-2: it landed again in another batch's object.
    let resent = lake_line("2010-12-01 09:00:00", "c-2");
    put(s3, bucket, "raw/date=2010-12-01/shardId-0-9.jsonl", resent).await;
    put(
        s3,
        bucket,
        "raw/date=2010-12-02/shardId-0-20.jsonl",
        lake_line("2010-12-02 10:00:00", "c-3"),
    )
    .await;
    put(
        s3,
        bucket,
        "raw/date=2010-12-05/shardId-0-30.jsonl",
        lake_line("2010-12-05 10:00:00", "c-4"),
    )
    .await;
    // Not a line of the lake's raw partitions.
    put(
        s3,
        bucket,
        "rejected/date=2010-12-01/shardId-0-2.jsonl",
        "{\"reason\":\"x\"}\n".into(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lake_reader_returns_every_line_of_the_days_asked_and_a_resent_line_twice() {
    let moto = Moto::start();
    let s3 = moto.s3();
    lake_with_a_resent_line(&s3, "lake").await;
    let mut lines = lake::read(&s3, "lake", range(1, 2)).await.unwrap();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            Sighting::new(day(1), "c-1"),
            Sighting::new(day(1), "c-2"),
            Sighting::new(day(1), "c-2"),
            Sighting::new(day(2), "c-3"),
        ]
    );
    let all = lake::read(&s3, "lake", DayRange::default()).await.unwrap();
    assert_eq!(all.len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_file_handed_to_the_lake_counts_as_its_newest_complete_version_on_its_days() {
    use record::lake_imports::{Part, key};
    let moto = Moto::start();
    let s3 = moto.s3();
    lake_with_a_resent_line(&s3, "lake").await;
    let (first, correction) = ("20101206T020000.000Z", "20101207T020000.000Z");
    let rows = |lines: &[(&str, &str)]| -> String {
        lines.iter().map(|(date, id)| lake_line(date, id)).collect()
    };
    // The first version had two lines; the correction keeps one, moved to
    // December 2nd, and adds one on the 5th.
    put(
        &s3,
        "lake",
        &key("day.csv", first, Part::Rows),
        rows(&[
            ("2010-12-01 10:00:00", "f-1"),
            ("2010-12-01 11:00:00", "f-2"),
        ]),
    )
    .await;
    put(&s3, "lake", &key("day.csv", first, Part::Done), "{}".into()).await;
    put(
        &s3,
        "lake",
        &key("day.csv", correction, Part::Rows),
        rows(&[
            ("2010-12-02 10:00:00", "f-1"),
            ("2010-12-05 10:00:00", "f-3"),
        ]),
    )
    .await;
    put(
        &s3,
        "lake",
        &key("day.csv", correction, Part::Done),
        "{}".into(),
    )
    .await;

    let mut lines = lake::read(&s3, "lake", range(1, 2)).await.unwrap();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            Sighting::new(day(1), "c-1"),
            Sighting::new(day(1), "c-2"),
            Sighting::new(day(1), "c-2"),
            Sighting::new(day(2), "c-3"),
            Sighting::new(day(2), "f-1"),
        ],
        "the correction's lines of the days asked, none of the first version's"
    );
}

async fn invoices_table(client: &aws_sdk_dynamodb::Client, table: &str) {
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let string = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(table)
        .key_schema(key("InvoiceNo", KeyType::Hash))
        .key_schema(key("LineId", KeyType::Range))
        .attribute_definitions(string("InvoiceNo"))
        .attribute_definitions(string("LineId"))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}

async fn put_item(client: &aws_sdk_dynamodb::Client, table: &str, line_id: &str, date: &str) {
    let s = |v: &str| AttributeValue::S(v.to_string());
    client
        .put_item()
        .table_name(table)
        .item("InvoiceNo", s("536365"))
        .item("LineId", s(line_id))
        .item("InvoiceDate", s(date))
        .item("StockCode", s("85123A"))
        .item("Quantity", AttributeValue::N("6".into()))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dynamodb_reader_scans_every_page_and_keeps_the_days_asked() {
    let moto = Moto::start();
    let client = aws_sdk_dynamodb::Client::new(&sdk(&moto).await);
    invoices_table(&client, "Invoices").await;
    // Items of ~1 KB so that moto's 1 MB scan pages split them.
    for i in 0..1200 {
        let date = if i % 2 == 0 {
            "2010-12-01 08:26:00"
        } else {
            "2010-12-03 08:26:00"
        };
        let s = |v: &str| AttributeValue::S(v.to_string());
        client
            .put_item()
            .table_name("Invoices")
            .item("InvoiceNo", s("536365"))
            .item("LineId", s(&format!("c-{i:04}")))
            .item("InvoiceDate", s(date))
            .item("Description", s(&"x".repeat(1000)))
            .send()
            .await
            .unwrap();
    }
    put_item(&client, "Invoices", "c-late", "2010-12-09 10:00:00").await;
    let first_page = client.scan().table_name("Invoices").send().await.unwrap();
    assert!(
        first_page.last_evaluated_key().is_some(),
        "the table takes more than one page"
    );
    let lines = dynamodb::read(&client, "Invoices", range(1, 3))
        .await
        .unwrap();
    assert_eq!(lines.len(), 1200);
    assert_eq!(lines.iter().filter(|l| l.day == day(1)).count(), 600);
    assert!(lines.iter().all(|l| l.line_id != "c-late"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_item_without_an_invoice_date_is_an_error_naming_it() {
    let moto = Moto::start();
    let client = aws_sdk_dynamodb::Client::new(&sdk(&moto).await);
    invoices_table(&client, "Invoices").await;
    put_item(&client, "Invoices", "c-1", "12/1/2010 8:26").await;
    let error = dynamodb::read(&client, "Invoices", DayRange::default())
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "table Invoices: item \"c-1\" has no InvoiceDate of the form YYYY-MM-DD HH:MM:SS"
    );
}

// The Data API, answering as Redshift does.

fn target() -> Target {
    Target {
        cluster_identifier: "retail-dev-cluster".into(),
        database: "retail".into(),
        secret_arn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:wh".into(),
    }
}

fn wait() -> Wait {
    Wait {
        poll_interval: Duration::from_millis(1),
        max_wait: Duration::from_secs(5),
    }
}

fn described(status: StatusString) -> DescribeStatementOutput {
    DescribeStatementOutput::builder()
        .id("stmt-1")
        .has_result_set(status == StatusString::Finished)
        .status(status)
        .build()
        .unwrap()
}

/// A page of the result of `SELECT trunc(invoice_date), line_id`: Redshift
/// names `trunc`'s column `trunc`, types it `date`, and gives dates as
/// strings.
fn page(rows: &[(&str, &str)], next: Option<&str>) -> GetStatementResultOutput {
    let column = |name: &str, kind: &str| {
        ColumnMetadata::builder()
            .name(name)
            .label(name)
            .type_name(kind)
            .build()
    };
    GetStatementResultOutput::builder()
        .set_records(Some(
            rows.iter()
                .map(|(d, id)| {
                    vec![
                        Field::StringValue((*d).to_string()),
                        Field::StringValue((*id).to_string()),
                    ]
                })
                .collect(),
        ))
        .column_metadata(column("trunc", "date"))
        .column_metadata(column("line_id", "varchar"))
        .total_num_rows(3)
        .set_next_token(next.map(str::to_string))
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_redshift_reader_polls_until_the_query_finishes_and_reads_every_page() {
    let execute = mock!(aws_sdk_redshiftdata::Client::execute_statement)
        .match_requests(|input| {
            input.cluster_identifier() == Some("retail-dev-cluster")
                && input.database() == Some("retail")
                && input.sql().is_some_and(|sql| sql.contains(":from"))
                && input.parameters().len() == 2
        })
        .then_output(|| ExecuteStatementOutput::builder().id("stmt-1").build());
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let describe =
        mock!(aws_sdk_redshiftdata::Client::describe_statement).then_compute_output(move |_| {
            let statuses = [
                StatusString::Submitted,
                StatusString::Started,
                StatusString::Finished,
            ];
            let call = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            described(statuses[call.min(2)].clone())
        });
    let first = mock!(aws_sdk_redshiftdata::Client::get_statement_result)
        .match_requests(|input| input.id() == Some("stmt-1") && input.next_token().is_none())
        .then_output(|| page(&[("2010-12-01", "c-1"), ("2010-12-01", "c-2")], Some("p2")));
    let second = mock!(aws_sdk_redshiftdata::Client::get_statement_result)
        .match_requests(|input| input.next_token() == Some("p2"))
        .then_output(|| page(&[("2010-12-02", "c-3")], None));
    let client = mock_client!(
        aws_sdk_redshiftdata,
        RuleMode::MatchAny,
        [&execute, &describe, &first, &second]
    );
    let lines = redshift::read(
        &client,
        &target(),
        "public.transactions",
        range(1, 2),
        wait(),
    )
    .await
    .unwrap();
    assert_eq!(
        lines,
        vec![
            Sighting::new(day(1), "c-1"),
            Sighting::new(day(1), "c-2"),
            Sighting::new(day(2), "c-3"),
        ]
    );
    assert_eq!(describe.num_calls(), 3);
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_failed_redshift_query_reports_redshifts_error() {
    let execute = mock!(aws_sdk_redshiftdata::Client::execute_statement)
        .then_output(|| ExecuteStatementOutput::builder().id("stmt-1").build());
    let describe = mock!(aws_sdk_redshiftdata::Client::describe_statement).then_output(|| {
        DescribeStatementOutput::builder()
            .id("stmt-1")
            .status(StatusString::Failed)
            .error("ERROR: relation \"public.transactions\" does not exist")
            .build()
            .unwrap()
    });
    let client = mock_client!(
        aws_sdk_redshiftdata,
        RuleMode::MatchAny,
        [&execute, &describe]
    );
    let error = redshift::read(
        &client,
        &target(),
        "public.transactions",
        DayRange::default(),
        wait(),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, RedshiftError::Failed { .. }));
    assert_eq!(
        error.to_string(),
        "Data API statement stmt-1 ended FAILED: ERROR: relation \"public.transactions\" does \
         not exist"
    );
}

#[tokio::test]
async fn a_redshift_query_still_running_when_the_wait_runs_out_times_out() {
    let execute = mock!(aws_sdk_redshiftdata::Client::execute_statement)
        .then_output(|| ExecuteStatementOutput::builder().id("stmt-1").build());
    let describe = mock!(aws_sdk_redshiftdata::Client::describe_statement)
        .then_output(|| described(StatusString::Started));
    let client = mock_client!(
        aws_sdk_redshiftdata,
        RuleMode::MatchAny,
        [&execute, &describe]
    );
    let short = Wait {
        poll_interval: Duration::from_millis(1),
        max_wait: Duration::from_millis(20),
    };
    let error = redshift::read(
        &client,
        &target(),
        "public.transactions",
        DayRange::default(),
        short,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&error, RedshiftError::TimedOut { status, .. } if status == "STARTED"),
        "{error}"
    );
}

// The command end to end.

/// A stand-in for the dev stage's Storage stack: its lake bucket and
/// Invoices table with the outputs reconcile reads.
async fn storage_stack(moto: &Moto) {
    let template = serde_json::json!({
        "Resources": {
            "LakeBucket": { "Type": "AWS::S3::Bucket", "Properties": { "BucketName": "retail-dev-lake" } },
            "InvoicesTable": { "Type": "AWS::DynamoDB::Table", "Properties": {
                "TableName": "retail-dev-invoices",
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [
                    { "AttributeName": "InvoiceNo", "AttributeType": "S" },
                    { "AttributeName": "LineId", "AttributeType": "S" }
                ],
                "KeySchema": [
                    { "AttributeName": "InvoiceNo", "KeyType": "HASH" },
                    { "AttributeName": "LineId", "KeyType": "RANGE" }
                ]
            } }
        },
        "Outputs": {
            "LakeBucketName": { "Value": { "Ref": "LakeBucket" } },
            "InvoicesTableName": { "Value": { "Ref": "InvoicesTable" } }
        }
    });
    moto.cloudformation()
        .create_stack()
        .stack_name("retail-dev-storage")
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn reconcile_before_a_deploy_exits_2_and_says_deploy_first() {
    let moto = Moto::start();
    let ran = moto.run(&["reconcile", "--stage", "dev", "--skip-redshift"]);
    assert_eq!(ran.code(), 2, "{}", ran.stderr());
    assert!(
        ran.stderr()
            .contains("stack retail-dev-storage is not deployed"),
        "{}",
        ran.stderr()
    );
    assert!(ran.stderr().contains("deploy first"), "{}", ran.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn reconcile_names_a_line_missing_from_dynamodb_and_a_resend_in_the_lake_and_exits_1() {
    let moto = Moto::start();
    storage_stack(&moto).await;
    let sdk = sdk(&moto).await;
    let s3 = moto.s3();
    let first = lake_line("2010-12-01 08:26:00", "c-1") + &lake_line("2010-12-01 09:00:00", "c-2");
    put(
        &s3,
        "retail-dev-lake",
        "raw/date=2010-12-01/shardId-0-1.jsonl",
        first,
    )
    .await;
    let resent = lake_line("2010-12-01 09:00:00", "c-2");
    put(
        &s3,
        "retail-dev-lake",
        "raw/date=2010-12-01/shardId-0-9.jsonl",
        resent,
    )
    .await;
    let table = aws_sdk_dynamodb::Client::new(&sdk);
    put_item(&table, "retail-dev-invoices", "c-1", "2010-12-01 08:26:00").await;

    // No Warehouse stack: Redshift is not checked, the others are compared.
    let ran = moto.run(&["reconcile", "--stage", "dev"]);
    assert_eq!(ran.code(), 1, "{}\n{}", ran.stdout(), ran.stderr());
    let expected = "\
day             lake  dynamodb  redshift  missing duplicated
2010-12-01         3         1         -        1          1
total              3         1         -        1          1
missing:
  2010-12-01 c-2 not in dynamodb
duplicated:
  2010-12-01 c-2 2 times in lake
not checked redshift: stack retail-dev-warehouse is not deployed
reconcile dev: lake, dynamodb differ over 1 days
";
    assert_eq!(ran.stdout(), expected);

    put_item(&table, "retail-dev-invoices", "c-2", "2010-12-01 09:00:00").await;
    s3.delete_object()
        .bucket("retail-dev-lake")
        .key("raw/date=2010-12-01/shardId-0-9.jsonl")
        .send()
        .await
        .unwrap();
    let ran = moto.run(&[
        "reconcile",
        "--stage",
        "dev",
        "--skip-redshift",
        "--from",
        "2010-12-01",
        "--to",
        "2010-12-01",
        "--output",
        "json",
    ]);
    assert_eq!(ran.code(), 0, "{}\n{}", ran.stdout(), ran.stderr());
    let json: serde_json::Value = serde_json::from_str(&ran.stdout()).unwrap();
    assert_eq!(json["agrees"], true);
    assert_eq!(json["days"][0]["counts"]["dynamodb"], 2);
    assert_eq!(json["notChecked"][0]["reason"], "--skip-redshift");
}

#[test]
fn a_range_ending_before_it_starts_is_a_usage_error_before_any_aws_call() {
    let ran = std::process::Command::new(env!("CARGO_BIN_EXE_provisioner"))
        .args(["reconcile", "--from", "2010-12-09", "--to", "2010-12-01"])
        // Nothing listens here: an AWS call would fail differently.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(ran.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(
        stderr.contains("--from 2010-12-09 is after --to 2010-12-01"),
        "{stderr}"
    );
}

#[test]
fn a_day_that_is_not_a_calendar_date_is_a_usage_error() {
    let ran = std::process::Command::new(env!("CARGO_BIN_EXE_provisioner"))
        .args(["reconcile", "--from", "2010-13-01"])
        .output()
        .unwrap();
    assert_eq!(ran.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&ran.stderr).contains("--from"));
}
