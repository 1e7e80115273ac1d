//! The batch import, called directly against an in-memory S3 bucket, with
//! DynamoDB and the Redshift Data API mocked by aws-smithy-mocks; files are
//! the real day files of the December 2010 sample.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_redshiftdata::operation::batch_execute_statement::BatchExecuteStatementOutput;
use aws_sdk_redshiftdata::operation::describe_statement::DescribeStatementOutput;
use aws_sdk_redshiftdata::types::StatusString;
use aws_sdk_s3::operation::copy_object::CopyObjectOutput;
use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::Object;
use aws_sdk_s3::types::error::NoSuchKey;
use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
use batch_import::{
    Clients, Config, FileStatus, FileSummary, ImportError, Options, PollPolicy, handle,
};
use dynamodb_writer::RetryPolicy;
use record::{CsvTransactions, SourcePosition};

const BUCKET: &str = "bulk-imports";

fn sample(file: &str) -> Vec<u8> {
    std::fs::read(record::sample::path(file)).unwrap()
}

fn config() -> Config {
    Config::from_vars(|name| {
        let value = match name {
            "BULK_IMPORT_BUCKET" => BUCKET,
            "INVOICES_TABLE" => "Invoices",
            "CUSTOMERS_TABLE" => "Customers",
            "CLUSTER_IDENTIFIER" => "retail-warehouse",
            "DATABASE" => "retail",
            "WAREHOUSE_SECRET_ARN" => "arn:aws:secretsmanager:eu-west-1:123456789012:secret:wh",
            "COPY_ROLE_ARN" => "arn:aws:iam::123456789012:role/warehouse-copy",
            _ => return None,
        };
        Some(value.to_owned())
    })
    .unwrap()
}

/// No real waiting.
fn options() -> Options {
    Options {
        retry: RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            concurrent_calls: 2,
        },
        poll: PollPolicy {
            interval: Duration::from_millis(1),
            max_wait: Duration::from_millis(50),
        },
        ..Options::default()
    }
}

/// The bucket's objects, key → bytes.
type Objects = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;

/// Every PutObject (key, body), including objects deleted afterwards.
type Puts = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// An S3 client over an in-memory bucket: list, get, put, copy, delete.
fn fake_s3(objects: &Objects, puts: &Puts) -> (aws_sdk_s3::Client, Vec<Rule>) {
    let o = Arc::clone(objects);
    let list = mock!(aws_sdk_s3::Client::list_objects_v2).then_compute_output(move |request| {
        assert_eq!(request.bucket(), Some(BUCKET));
        let prefix = request.prefix().unwrap_or_default().to_owned();
        assert_eq!(
            prefix, "incoming/",
            "the policy allows listing incoming/ only"
        );
        let contents = o
            .lock()
            .unwrap()
            .keys()
            .filter(|key| key.starts_with(&prefix))
            .map(|key| Object::builder().key(key).build())
            .collect();
        ListObjectsV2Output::builder()
            .set_contents(Some(contents))
            .build()
    });
    let o = Arc::clone(objects);
    let get = mock!(aws_sdk_s3::Client::get_object).then_compute_response(move |request| {
        let key = request.key().unwrap();
        assert!(key.starts_with("incoming/"), "GetObject only in incoming/");
        match o.lock().unwrap().get(key) {
            Some(bytes) => MockResponse::Output(
                GetObjectOutput::builder()
                    .body(ByteStream::from(bytes.clone()))
                    .build(),
            ),
            None => MockResponse::Error(GetObjectError::NoSuchKey(NoSuchKey::builder().build())),
        }
    });
    let (o, p) = (Arc::clone(objects), Arc::clone(puts));
    let put = mock!(aws_sdk_s3::Client::put_object).then_compute_output(move |request| {
        let key = request.key().unwrap().to_owned();
        assert!(
            ["staging/", "rejected/", "processed/"]
                .iter()
                .any(|prefix| key.starts_with(prefix)),
            "PutObject outside the policy: {key}"
        );
        let body = request.body().bytes().unwrap().to_vec();
        p.lock().unwrap().push((key.clone(), body.clone()));
        o.lock().unwrap().insert(key, body);
        PutObjectOutput::builder().build()
    });
    let o = Arc::clone(objects);
    let copy = mock!(aws_sdk_s3::Client::copy_object).then_compute_output(move |request| {
        let key = request.key().unwrap().to_owned();
        assert!(key.starts_with("processed/"), "copies go to processed/");
        let source = request.copy_source().unwrap();
        let source_key = percent_decode(source.strip_prefix(&format!("{BUCKET}/")).unwrap());
        let mut objects = o.lock().unwrap();
        let body = objects[&source_key].clone();
        objects.insert(key, body);
        CopyObjectOutput::builder().build()
    });
    let o = Arc::clone(objects);
    let delete = mock!(aws_sdk_s3::Client::delete_object).then_compute_output(move |request| {
        let key = request.key().unwrap();
        assert!(
            key.starts_with("incoming/") || key.starts_with("staging/"),
            "DeleteObject outside the policy: {key}"
        );
        o.lock().unwrap().remove(key);
        DeleteObjectOutput::builder().build()
    });
    let rules = vec![list, get, put, copy, delete];
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &rules);
    (client, rules)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// Every item written, per table.
type Items = Arc<Mutex<BTreeMap<String, Vec<std::collections::HashMap<String, AttributeValue>>>>>;

fn recording_dynamodb() -> (aws_sdk_dynamodb::Client, Items, Rule) {
    let items: Items = Arc::default();
    let recorder = Arc::clone(&items);
    let rule =
        mock!(aws_sdk_dynamodb::Client::batch_write_item).then_compute_output(move |input| {
            let mut items = recorder.lock().unwrap();
            for (table, requests) in input.request_items().unwrap() {
                items.entry(table.clone()).or_default().extend(
                    requests
                        .iter()
                        .map(|r| r.put_request().unwrap().item().clone()),
                );
            }
            BatchWriteItemOutput::builder().build()
        });
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
    (client, items, rule)
}

/// Every batch of SQL submitted.
type Batches = Arc<Mutex<Vec<Vec<String>>>>;

/// A Data API whose statements end with `status` (and `error`).
fn redshift_data(
    status: StatusString,
    error: Option<&'static str>,
) -> (aws_sdk_redshiftdata::Client, Batches, Vec<Rule>) {
    let batches: Batches = Arc::default();
    let recorder = Arc::clone(&batches);
    let submit = mock!(aws_sdk_redshiftdata::Client::batch_execute_statement).then_compute_output(
        move |input| {
            assert_eq!(input.cluster_identifier(), Some("retail-warehouse"));
            assert_eq!(input.database(), Some("retail"));
            assert!(input.secret_arn().unwrap().ends_with(":secret:wh"));
            recorder.lock().unwrap().push(input.sqls().to_vec());
            BatchExecuteStatementOutput::builder()
                .id("statement-1")
                .build()
        },
    );
    let describe =
        mock!(aws_sdk_redshiftdata::Client::describe_statement).then_compute_output(move |_| {
            DescribeStatementOutput::builder()
                .id("statement-1")
                .status(status.clone())
                .set_error(error.map(str::to_owned))
                .build()
                .unwrap()
        });
    let rules = vec![submit, describe];
    let client = mock_client!(aws_sdk_redshiftdata, RuleMode::MatchAny, &rules);
    (client, batches, rules)
}

struct World {
    clients: Clients,
    objects: Objects,
    puts: Puts,
    items: Items,
    batches: Batches,
    s3_rules: Vec<Rule>,
    dynamodb_rule: Rule,
    redshift_rules: Vec<Rule>,
}

impl World {
    fn new(files: &[(&str, Vec<u8>)], status: StatusString, error: Option<&'static str>) -> Self {
        let objects: Objects = Arc::new(Mutex::new(
            files
                .iter()
                .map(|(key, body)| (key.to_string(), body.clone()))
                .collect(),
        ));
        let puts = Puts::default();
        let (s3, s3_rules) = fake_s3(&objects, &puts);
        let (dynamodb, items, dynamodb_rule) = recording_dynamodb();
        let (redshift_data, batches, redshift_rules) = redshift_data(status, error);
        World {
            clients: Clients {
                s3,
                dynamodb,
                redshift_data,
            },
            objects,
            puts,
            items,
            batches,
            s3_rules,
            dynamodb_rule,
            redshift_rules,
        }
    }

    fn keys(&self) -> Vec<String> {
        self.objects.lock().unwrap().keys().cloned().collect()
    }

    fn object(&self, key: &str) -> Option<Vec<u8>> {
        self.objects.lock().unwrap().get(key).cloned()
    }

    fn put_body(&self, key: &str) -> Vec<u8> {
        let puts = self.puts.lock().unwrap();
        puts.iter().rev().find(|(k, _)| k == key).unwrap().1.clone()
    }

    fn items(&self, table: &str) -> Vec<std::collections::HashMap<String, AttributeValue>> {
        self.items
            .lock()
            .unwrap()
            .get(table)
            .cloned()
            .unwrap_or_default()
    }
}

fn data_rows(bytes: &[u8]) -> (usize, usize) {
    let transactions: Vec<_> = CsvTransactions::new(bytes)
        .unwrap()
        .map(|row| row.unwrap().result.unwrap())
        .collect();
    let with_customer = transactions
        .iter()
        .filter(|t| t.customer_id.is_some())
        .count();
    (transactions.len(), with_customer)
}

#[tokio::test]
async fn a_day_file_is_imported_with_every_row_stored_once() {
    let bytes = sample("2010-12-01.csv");
    let (rows, with_customer) = data_rows(&bytes);
    let world = World::new(
        &[("incoming/2010-12-01.csv", bytes.clone())],
        StatusString::Finished,
        None,
    );

    let report = handle(&world.clients, &config(), &options())
        .await
        .unwrap()
        .check()
        .unwrap();

    assert_eq!(
        report.files,
        [FileSummary {
            file: "2010-12-01.csv".to_owned(),
            rows,
            stored: rows,
            rejected: 0,
            status: FileStatus::Imported,
            error: None,
        }]
    );
    // Moved, staged object removed, nothing rejected.
    assert_eq!(world.keys(), ["processed/2010-12-01.csv"]);
    assert_eq!(world.object("processed/2010-12-01.csv").unwrap(), bytes);
    // DynamoDB: every line in Invoices, lines with a customer in Customers,
    // keyed by the file position.
    let invoices = world.items("Invoices");
    assert_eq!(invoices.len(), rows);
    assert_eq!(world.items("Customers").len(), with_customer);
    let first_line_id = SourcePosition::File {
        key: "2010-12-01.csv",
        line: 2,
    }
    .line_id();
    assert!(invoices.iter().any(
        |item| item["LineId"].as_s().unwrap() == first_line_id.as_str()
            && item["Source"].as_s().unwrap() == "file:2010-12-01.csv:2"
    ));
    // The staged object: one warehouse JSON line per row.
    let staged = world.put_body("staging/2010-12-01.csv.jsonl");
    let lines: Vec<serde_json::Value> = staged
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).unwrap())
        .collect();
    assert_eq!(lines.len(), rows);
    let mut keys: Vec<&str> = lines[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut columns: Vec<&str> = record::WAREHOUSE_COLUMNS.iter().map(|c| c.name).collect();
    columns.sort_unstable();
    assert_eq!(keys, columns);
    // One load, as one transaction, from the staged object.
    let batches = world.batches.lock().unwrap();
    assert_eq!(batches.len(), 1);
    assert!(batches[0].iter().any(|sql| sql.contains(
        "FROM 's3://bulk-imports/staging/2010-12-01.csv.jsonl' \
         IAM_ROLE 'arn:aws:iam::123456789012:role/warehouse-copy' FORMAT AS JSON 'auto'"
    )));
}

#[tokio::test]
async fn importing_a_file_again_writes_the_same_keys_and_replaces_its_warehouse_rows() {
    let bytes = sample("2010-12-02.csv");
    let world = World::new(
        &[("incoming/2010-12-02.csv", bytes.clone())],
        StatusString::Finished,
        None,
    );
    handle(&world.clients, &config(), &options()).await.unwrap();
    let first_run = world.items("Invoices");
    // The same file dropped again (or a run retried after a late failure).
    world
        .objects
        .lock()
        .unwrap()
        .insert("incoming/2010-12-02.csv".to_owned(), bytes);
    handle(&world.clients, &config(), &options()).await.unwrap();
    let both_runs = world.items("Invoices");
    let key = |item: &std::collections::HashMap<String, AttributeValue>| {
        (
            item["InvoiceNo"].as_s().unwrap().clone(),
            item["LineId"].as_s().unwrap().clone(),
        )
    };
    let mut first: Vec<_> = first_run.iter().map(key).collect();
    let mut second: Vec<_> = both_runs[first_run.len()..].iter().map(key).collect();
    first.sort();
    second.sort();
    assert_eq!(first, second, "the same items are overwritten");
    let batches = world.batches.lock().unwrap();
    assert_eq!(batches[0], batches[1]);
    assert!(
        batches[0]
            .iter()
            .any(|sql| sql.starts_with("DELETE FROM public.transactions USING batch_import_stage")),
        "rows of the file already loaded are replaced, not duplicated: {:#?}",
        batches[0]
    );
}

#[tokio::test]
async fn broken_rows_are_rejected_with_their_field_and_reason() {
    let text = String::from_utf8(sample("2010-12-03.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().take(21).map(str::to_owned).collect();
    // Line 3: a negative price; line 5: an unknown date format; line 8: no country.
    lines[2] = lines[2].replacen(",0.42,", ",-0.42,", 1);
    let fields: Vec<&str> = lines[4].split(',').collect();
    lines[4] = lines[4].replace(fields[4], "01.12.2010 9:31");
    lines[7] = lines[7].rsplit_once(',').unwrap().0.to_owned() + ",";
    let body = lines.join("\n") + "\n";
    let world = World::new(
        &[("incoming/broken.csv", body.into_bytes())],
        StatusString::Finished,
        None,
    );

    let report = handle(&world.clients, &config(), &options()).await.unwrap();

    let summary = &report.files[0];
    assert_eq!(
        (
            summary.rows,
            summary.stored,
            summary.rejected,
            summary.status
        ),
        (20, 17, 3, FileStatus::Imported)
    );
    assert_eq!(world.items("Invoices").len(), 17);
    let rejected = world.object("rejected/broken.csv").unwrap();
    let mut reader = csv::Reader::from_reader(rejected.as_slice());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "Line",
            "Field",
            "Reason",
            "InvoiceNo",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "UnitPrice",
            "CustomerID",
            "Country"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let summary: Vec<(&str, &str)> = rows.iter().map(|r| (&r[0], &r[1])).collect();
    assert_eq!(
        summary,
        [("3", "UnitPrice"), ("5", "InvoiceDate"), ("8", "Country")]
    );
    assert!(rows[0][2].contains("is negative"), "{}", &rows[0][2]);
    assert!(rows[1][2].contains("not a date in a known format"));
    assert!(rows[2][2].contains("missing"));
    assert_eq!(&rows[0][8], "-0.42", "the original columns follow");
    assert_eq!(
        world.keys(),
        ["processed/broken.csv", "rejected/broken.csv"]
    );
}

#[tokio::test]
async fn a_failed_warehouse_load_leaves_the_file_in_incoming_and_fails_the_run() {
    let bytes = sample("2010-12-05.csv");
    let world = World::new(
        &[("incoming/2010-12-05.csv", bytes)],
        StatusString::Failed,
        Some("ERROR: permission denied for relation transactions"),
    );

    let report = handle(&world.clients, &config(), &options()).await.unwrap();

    let summary = &report.files[0];
    assert_eq!(summary.status, FileStatus::Failed);
    let error = summary.error.as_deref().unwrap();
    assert!(
        error.contains("ended FAILED: ERROR: permission denied for relation transactions"),
        "{error}"
    );
    let keys = world.keys();
    assert!(keys.contains(&"incoming/2010-12-05.csv".to_owned()));
    assert!(
        !keys.iter().any(|k| k.starts_with("processed/")),
        "{keys:?}"
    );
    let Err(ImportError::FilesFailed { count, files, .. }) = report.check() else {
        panic!("a failed file fails the run");
    };
    assert_eq!(count, 1);
    assert!(
        files.starts_with("2010-12-05.csv: loading into Redshift"),
        "{files}"
    );
}

#[tokio::test]
async fn a_load_that_does_not_finish_in_time_leaves_the_file_in_incoming() {
    let world = World::new(
        &[("incoming/2010-12-06.csv", sample("2010-12-06.csv"))],
        StatusString::Started,
        None,
    );
    let report = handle(&world.clients, &config(), &options()).await.unwrap();
    assert_eq!(report.files[0].status, FileStatus::Failed);
    assert!(
        report.files[0]
            .error
            .as_deref()
            .unwrap()
            .contains("did not finish within")
    );
    assert!(world.keys().contains(&"incoming/2010-12-06.csv".to_owned()));
}

#[tokio::test]
async fn an_empty_incoming_prefix_does_nothing() {
    let world = World::new(
        &[("processed/2010-12-01.csv", sample("2010-12-01.csv"))],
        StatusString::Finished,
        None,
    );
    let report = handle(&world.clients, &config(), &options())
        .await
        .unwrap()
        .check()
        .unwrap();
    assert!(report.files.is_empty());
    assert_eq!(world.s3_rules[0].num_calls(), 1, "one ListObjectsV2");
    let other_s3_calls: usize = world.s3_rules[1..].iter().map(Rule::num_calls).sum();
    assert_eq!(other_s3_calls, 0);
    assert_eq!(world.dynamodb_rule.num_calls(), 0);
    assert_eq!(world.redshift_rules[0].num_calls(), 0);
    assert_eq!(world.keys(), ["processed/2010-12-01.csv"]);
}

#[tokio::test]
async fn a_header_only_file_is_moved_without_loading_anything() {
    let header = format!("{}\n", record::CSV_HEADER);
    let world = World::new(
        &[("incoming/2010-12-25.csv", header.clone().into_bytes())],
        StatusString::Finished,
        None,
    );
    let report = handle(&world.clients, &config(), &options())
        .await
        .unwrap()
        .check()
        .unwrap();
    assert_eq!(
        report.files,
        [FileSummary {
            file: "2010-12-25.csv".to_owned(),
            rows: 0,
            stored: 0,
            rejected: 0,
            status: FileStatus::Imported,
            error: None,
        }]
    );
    assert_eq!(world.dynamodb_rule.num_calls(), 0);
    assert_eq!(world.redshift_rules[0].num_calls(), 0);
    assert_eq!(world.keys(), ["processed/2010-12-25.csv"]);
}

#[tokio::test]
async fn a_file_that_is_not_a_transactions_csv_stays_in_incoming() {
    let world = World::new(
        &[("incoming/orders.csv", b"order,amount\n1,2\n".to_vec())],
        StatusString::Finished,
        None,
    );
    let report = handle(&world.clients, &config(), &options()).await.unwrap();
    assert_eq!(report.files[0].status, FileStatus::Failed);
    assert!(
        report.files[0]
            .error
            .as_deref()
            .unwrap()
            .contains("lacks column(s)")
    );
    assert_eq!(world.keys(), ["incoming/orders.csv"]);
}

#[tokio::test]
async fn files_are_deferred_when_too_little_time_is_left() {
    let world = World::new(
        &[("incoming/2010-12-07.csv", sample("2010-12-07.csv"))],
        StatusString::Finished,
        None,
    );
    let options = Options {
        deadline: Some(tokio::time::Instant::now() + Duration::from_secs(5)),
        time_per_file: Duration::from_secs(60),
        ..options()
    };
    let report = handle(&world.clients, &config(), &options)
        .await
        .unwrap()
        .check()
        .unwrap();
    assert_eq!(report.files[0].status, FileStatus::Deferred);
    assert_eq!(world.keys(), ["incoming/2010-12-07.csv"]);
}

#[test]
fn the_summary_serialises_for_the_invocation_result() {
    let summary = FileSummary {
        file: "2010-12-01.csv".to_owned(),
        rows: 3108,
        stored: 3100,
        rejected: 8,
        status: FileStatus::Imported,
        error: None,
    };
    assert_eq!(
        serde_json::to_value(&summary).unwrap(),
        serde_json::json!({
            "file": "2010-12-01.csv", "rows": 3108, "stored": 3100, "rejected": 8,
            "status": "imported"
        })
    );
}

#[test]
fn configuration_names_the_missing_variable() {
    let error = Config::from_vars(|name| (name == "BULK_IMPORT_BUCKET").then(|| "b".to_owned()))
        .unwrap_err();
    assert!(error.to_string().contains("COPY_ROLE_ARN"), "{error}");
    assert_eq!(
        config().warehouse_table.to_string(),
        Config::DEFAULT_WAREHOUSE_TABLE
    );
}
