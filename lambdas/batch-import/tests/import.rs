//! The batch import, called directly against an in-memory S3 bucket, with
//! DynamoDB and the Redshift Data API mocked by aws-smithy-mocks; files are
//! the real day files of the December 2010 sample.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_redshiftdata::operation::batch_execute_statement::BatchExecuteStatementOutput;
use aws_sdk_redshiftdata::operation::describe_statement::DescribeStatementOutput;
use aws_sdk_redshiftdata::types::StatusString;
use aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadOutput;
use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput;
use aws_sdk_s3::operation::copy_object::CopyObjectOutput;
use aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadOutput;
use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::operation::upload_part::UploadPartOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::Object;
use aws_sdk_s3::types::error::NoSuchKey;
use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
use batch_import::checkpoint::Checkpoint;
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

fn data_api() -> batch_import::config::DataApi {
    config().data_api().unwrap().clone()
}

/// No real waiting; chunks and parts small enough that a day file is read
/// in several chunks and staged in several parts.
fn options() -> Options {
    Options {
        chunk_rows: 700,
        part_bytes: 64 * 1024,
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

/// Every read, in order: `list {prefix}`, `get {key}`.
type Reads = Arc<Mutex<Vec<String>>>;

/// An S3 client over an in-memory bucket: list, get, put, copy, delete.
fn fake_s3(
    objects: &Objects,
    puts: &Puts,
    reads: &Reads,
    uploads: &Uploads,
    completed: &Completed,
) -> (aws_sdk_s3::Client, Vec<Rule>) {
    let (o, r) = (Arc::clone(objects), Arc::clone(reads));
    let list = mock!(aws_sdk_s3::Client::list_objects_v2).then_compute_output(move |request| {
        assert_eq!(request.bucket(), Some(BUCKET));
        let prefix = request.prefix().unwrap_or_default().to_owned();
        assert!(
            prefix == "incoming/"
                || prefix.starts_with("processed/")
                || prefix.starts_with("checkpoints/"),
            "the policy allows listing incoming/, processed/ and checkpoints/ only: {prefix}"
        );
        r.lock().unwrap().push(format!("list {prefix}"));
        let max_keys = request.max_keys().map_or(1000, |n| n as usize);
        let contents = o
            .lock()
            .unwrap()
            .iter()
            .filter(|(key, _)| key.starts_with(&prefix))
            .take(max_keys)
            .map(|(key, body)| {
                Object::builder()
                    .key(key)
                    .size(body.len() as i64)
                    .e_tag(etag(body))
                    .build()
            })
            .collect();
        ListObjectsV2Output::builder()
            .set_contents(Some(contents))
            .build()
    });
    let (o, r) = (Arc::clone(objects), Arc::clone(reads));
    let get = mock!(aws_sdk_s3::Client::get_object).then_compute_response(move |request| {
        let key = request.key().unwrap();
        assert!(
            ["incoming/", "processed/", "checkpoints/"]
                .iter()
                .any(|prefix| key.starts_with(prefix)),
            "GetObject only in incoming/, processed/ and checkpoints/: {key}"
        );
        r.lock().unwrap().push(format!("get {key}"));
        match o.lock().unwrap().get(key) {
            Some(bytes) => {
                if let Some(wanted) = request.if_match() {
                    assert_eq!(wanted, etag(bytes), "{key} is read as listed");
                }
                MockResponse::Output(
                    GetObjectOutput::builder()
                        .body(ByteStream::from(bytes.clone()))
                        .build(),
                )
            }
            None => MockResponse::Error(GetObjectError::NoSuchKey(NoSuchKey::builder().build())),
        }
    });
    let (o, p) = (Arc::clone(objects), Arc::clone(puts));
    let put = mock!(aws_sdk_s3::Client::put_object).then_compute_output(move |request| {
        let key = request.key().unwrap().to_owned();
        assert!(
            may_write(request.bucket().unwrap(), &key),
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
        assert!(
            key.starts_with("processed/") || key.starts_with("quarantine/"),
            "copies go to processed/ or quarantine/: {key}"
        );
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
            ["incoming/", "staging/", "checkpoints/"]
                .iter()
                .any(|prefix| key.starts_with(prefix)),
            "DeleteObject outside the policy: {key}"
        );
        o.lock().unwrap().remove(key);
        DeleteObjectOutput::builder().build()
    });
    let mut rules = vec![list, get, put, copy, delete];
    rules.extend(multipart(objects, puts, uploads, completed));
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &rules);
    (client, rules)
}

/// Where the policy lets the function write (multipart uploads included).
const PUT_PREFIXES: [&str; 5] = [
    "staging/",
    "rejected/",
    "processed/",
    "checkpoints/",
    "quarantine/",
];

/// The lake a two-account stage hands the warehouse's lines to.
const LAKE: &str = "retail-lake";

/// Whether the policy lets the function write `key` in `bucket`: the
/// bulk-import bucket's [`PUT_PREFIXES`], and the lake's `raw/imports/`.
fn may_write(bucket: &str, key: &str) -> bool {
    match bucket {
        BUCKET => PUT_PREFIXES.iter().any(|prefix| key.starts_with(prefix)),
        LAKE => key.starts_with(record::lake_imports::IMPORTS_PREFIX),
        _ => false,
    }
}

/// A stand-in for S3's ETag: the same for the same bytes.
fn etag(body: &[u8]) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

/// Multipart uploads in progress: upload id → (key, parts by number).
type Uploads = Arc<Mutex<BTreeMap<String, (String, BTreeMap<i32, Vec<u8>>)>>>;

/// Create, upload part, complete (the parts concatenated in the order the
/// request lists them, logged as a put) and abort.
/// Objects written by multipart upload: (key, parts).
type Completed = Arc<Mutex<Vec<(String, usize)>>>;

fn multipart(
    objects: &Objects,
    puts: &Puts,
    uploads: &Uploads,
    completed: &Completed,
) -> Vec<Rule> {
    let u = Arc::clone(uploads);
    let create =
        mock!(aws_sdk_s3::Client::create_multipart_upload).then_compute_output(move |request| {
            let key = request.key().unwrap().to_owned();
            assert!(
                may_write(request.bucket().unwrap(), &key),
                "multipart upload outside the policy: {key}"
            );
            let mut uploads = u.lock().unwrap();
            let id = format!("upload-{}", uploads.len() + 1);
            uploads.insert(id.clone(), (key, BTreeMap::new()));
            CreateMultipartUploadOutput::builder().upload_id(id).build()
        });
    let u = Arc::clone(uploads);
    let part = mock!(aws_sdk_s3::Client::upload_part).then_compute_output(move |request| {
        let number = request.part_number().unwrap();
        let body = request.body().bytes().unwrap().to_vec();
        let mut uploads = u.lock().unwrap();
        let (key, parts) = uploads.get_mut(request.upload_id().unwrap()).unwrap();
        assert_eq!(request.key(), Some(key.as_str()));
        let etag = etag(&body);
        parts.insert(number, body);
        UploadPartOutput::builder().e_tag(etag).build()
    });
    let (u, o, p, c) = (
        Arc::clone(uploads),
        Arc::clone(objects),
        Arc::clone(puts),
        Arc::clone(completed),
    );
    let complete =
        mock!(aws_sdk_s3::Client::complete_multipart_upload).then_compute_output(move |request| {
            let (key, parts) = u
                .lock()
                .unwrap()
                .remove(request.upload_id().unwrap())
                .unwrap();
            let key_parts = (key.clone(), parts.len());
            let mut body = Vec::new();
            for part in request.multipart_upload().unwrap().parts() {
                let bytes = &parts[&part.part_number().unwrap()];
                assert_eq!(part.e_tag(), Some(etag(bytes).as_str()));
                body.extend_from_slice(bytes);
            }
            p.lock().unwrap().push((key.clone(), body.clone()));
            o.lock().unwrap().insert(key, body);
            c.lock().unwrap().push((key_parts.0, key_parts.1));
            CompleteMultipartUploadOutput::builder().build()
        });
    let u = Arc::clone(uploads);
    let abort =
        mock!(aws_sdk_s3::Client::abort_multipart_upload).then_compute_output(move |request| {
            u.lock().unwrap().remove(request.upload_id().unwrap());
            AbortMultipartUploadOutput::builder().build()
        });
    vec![create, part, complete, abort]
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

/// Every item put, per table (a log: an item put twice is there twice).
type Items = Arc<Mutex<BTreeMap<String, Vec<HashMap<String, AttributeValue>>>>>;

/// The (hash, range) key of an item.
type Key = (String, String);

/// What the tables hold after every put and delete: table → key → item.
type Stored = Arc<Mutex<BTreeMap<String, BTreeMap<Key, HashMap<String, AttributeValue>>>>>;

/// The (hash, range) key of an item or a key of the Invoices or Customers table.
fn key_of(table: &str, attributes: &HashMap<String, AttributeValue>) -> Key {
    let (hash, range) = match table {
        "Invoices" => ("InvoiceNo", "LineId"),
        "Customers" => ("CustomerId", "PurchaseId"),
        other => panic!("no table {other}"),
    };
    let text = |name: &str| attributes[name].as_s().unwrap().clone();
    (text(hash), text(range))
}

/// A DynamoDB whose BatchWriteItem applies puts and deletes to [`Stored`];
/// while `refuse_deletes` is set, it leaves every delete unprocessed (a
/// throttled table), and once `put_budget` puts are spent, every put.
fn recording_dynamodb(
    refuse_deletes: &Arc<AtomicBool>,
    put_budget: &Arc<AtomicUsize>,
) -> (aws_sdk_dynamodb::Client, Items, Stored, Rule) {
    let items: Items = Arc::default();
    let stored: Stored = Arc::default();
    let (log, tables, refuse, budget) = (
        Arc::clone(&items),
        Arc::clone(&stored),
        Arc::clone(refuse_deletes),
        Arc::clone(put_budget),
    );
    let rule =
        mock!(aws_sdk_dynamodb::Client::batch_write_item).then_compute_output(move |input| {
            let refuse = refuse.load(Ordering::SeqCst);
            let mut unprocessed = BatchWriteItemOutput::builder();
            let (mut log, mut tables) = (log.lock().unwrap(), tables.lock().unwrap());
            for (table, requests) in input.request_items().unwrap() {
                let content = tables.entry(table.clone()).or_default();
                let mut refused = Vec::new();
                for request in requests {
                    let spent = budget
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
                    if request.put_request().is_some() && spent.is_err() {
                        refused.push(request.clone());
                    } else if let Some(put) = request.put_request() {
                        log.entry(table.clone())
                            .or_default()
                            .push(put.item().clone());
                        content.insert(key_of(table, put.item()), put.item().clone());
                    } else if refuse {
                        refused.push(request.clone());
                    } else {
                        let key = request.delete_request().unwrap().key();
                        content.remove(&key_of(table, key));
                    }
                }
                if !refused.is_empty() {
                    unprocessed = unprocessed.unprocessed_items(table, refused);
                }
            }
            unprocessed.build()
        });
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
    (client, items, stored, rule)
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
    reads: Reads,
    /// Multipart uploads neither completed nor aborted.
    uploads: Uploads,
    completed: Completed,
    items: Items,
    stored: Stored,
    refuse_deletes: Arc<AtomicBool>,
    put_budget: Arc<AtomicUsize>,
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
        let reads = Reads::default();
        let uploads = Uploads::default();
        let completed = Completed::default();
        let (s3, s3_rules) = fake_s3(&objects, &puts, &reads, &uploads, &completed);
        let refuse_deletes = Arc::new(AtomicBool::new(false));
        let put_budget = Arc::new(AtomicUsize::new(usize::MAX));
        let (dynamodb, items, stored, dynamodb_rule) =
            recording_dynamodb(&refuse_deletes, &put_budget);
        let (redshift_data, batches, redshift_rules) = redshift_data(status, error);
        World {
            clients: Clients {
                s3,
                dynamodb,
                redshift_data,
            },
            objects,
            puts,
            reads,
            uploads,
            completed,
            items,
            stored,
            refuse_deletes,
            put_budget,
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

    fn items(&self, table: &str) -> Vec<HashMap<String, AttributeValue>> {
        self.items
            .lock()
            .unwrap()
            .get(table)
            .cloned()
            .unwrap_or_default()
    }

    /// The keys the table holds now.
    fn stored_keys(&self, table: &str) -> Vec<Key> {
        self.stored
            .lock()
            .unwrap()
            .get(table)
            .map(|content| content.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Drops `body` at `incoming/{name}`, as a user does.
    fn drop_file(&self, name: &str, body: &[u8]) {
        self.objects
            .lock()
            .unwrap()
            .insert(format!("incoming/{name}"), body.to_vec());
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
            removed: 0,
            status: FileStatus::Imported,
            dynamodb_through_line: None,
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
    // A first import: no checkpoint; the file is streamed twice (items,
    // then staging); a listing of its processed/ key before each pass finds
    // no earlier version, so nothing else is read and nothing is removed.
    assert_eq!(
        *world.reads.lock().unwrap(),
        [
            "list incoming/",
            "list checkpoints/2010-12-01.csv.json",
            "list processed/2010-12-01.csv",
            "get incoming/2010-12-01.csv",
            "get incoming/2010-12-01.csv",
            "list processed/2010-12-01.csv"
        ]
    );
    assert!(
        world.uploads.lock().unwrap().is_empty(),
        "no upload left open"
    );
    let completed = world.completed.lock().unwrap();
    assert_eq!(completed.len(), 1, "{completed:?}");
    let (key, parts) = &completed[0];
    assert_eq!(key, "staging/2010-12-01.csv.jsonl");
    assert!(*parts > 1, "staged in 64 KiB parts: {parts}");
    assert_eq!(world.stored_keys("Invoices").len(), rows);
    // One load, as one transaction, from the staged object.
    let batches = world.batches.lock().unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].len(), 6, "{:#?}", batches[0]);
    assert_eq!(
        batches[0][0], "LOCK public.transactions",
        "locked before anything reads it: a concurrent Firehose COPY waits instead of \
         failing one of the two with serializable isolation error 1023"
    );
    assert!(
        batches[0][3].ends_with(
            "AND public.transactions.invoice_date \
             BETWEEN '2010-12-01 08:26:00' AND '2010-12-01 17:35:00'"
        ),
        "the DELETE is bounded by the file's dates: {}",
        batches[0][3]
    );
    assert!(
        !batches[0]
            .iter()
            .any(|sql| sql.contains("batch_import_stale"))
    );
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
    let key = |item: &HashMap<String, AttributeValue>| {
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

/// The header and the first `lines` data lines of the 2010-12-01 sample
/// (invoice 536365, customer 17850), with `edit` applied to the data lines.
fn first_lines(lines: usize, edit: impl Fn(usize, String) -> String) -> Vec<u8> {
    let text = String::from_utf8(sample("2010-12-01.csv")).unwrap();
    let mut out: Vec<String> = vec![text.lines().next().unwrap().to_owned()];
    out.extend(
        text.lines()
            .skip(1)
            .take(lines)
            .enumerate()
            .map(|(i, line)| edit(i, line.to_owned())),
    );
    (out.join("\n") + "\n").into_bytes()
}

fn line_id(file: &str, line: u64) -> String {
    SourcePosition::File { key: file, line }
        .line_id()
        .into_string()
}

/// The keys the tables must hold for `file` as it is: one Invoices item
/// per line, one Customers item per line with a customer.
fn expected_keys(file: &str, body: &[u8]) -> (Vec<Key>, Vec<Key>) {
    let (mut invoices, mut customers) = (Vec::new(), Vec::new());
    for row in CsvTransactions::new(body).unwrap() {
        let row = row.unwrap();
        let transaction = row.result.unwrap();
        let id = line_id(file, row.line);
        invoices.push((transaction.invoice_no.clone(), id.clone()));
        if let Some(customer) = &transaction.customer_id {
            customers.push((customer.clone(), format!("{}#{id}", transaction.invoice_no)));
        }
    }
    invoices.sort();
    customers.sort();
    (invoices, customers)
}

/// Five lines of customer 17850; the correction keeps three, the second
/// now of customer 12346.
fn five_then_three() -> (Vec<u8>, Vec<u8>) {
    let five = first_lines(5, |_, line| line);
    let three = first_lines(3, |i, line| {
        if i == 1 {
            line.replace(",17850.0,", ",12346.0,")
        } else {
            line
        }
    });
    (five, three)
}

#[tokio::test]
async fn a_corrected_row_that_moved_in_time_is_still_replaced_by_the_bounded_delete() {
    // Line 2's date is corrected to the next day: the row it replaces (same
    // line_id) lies outside the new version's dates, inside the earlier's.
    let earlier = first_lines(3, |_, line| line);
    let corrected = first_lines(3, |i, line| {
        if i == 1 {
            line.replace("2010-12-01 08:26:00", "2010-12-02 09:00:00")
        } else {
            line
        }
    });
    assert_ne!(earlier, corrected);
    let world = World::new(
        &[("incoming/day.csv", earlier)],
        StatusString::Finished,
        None,
    );
    handle(&world.clients, &config(), &options()).await.unwrap();
    world.drop_file("incoming/day.csv", &corrected);

    handle(&world.clients, &config(), &options()).await.unwrap();

    let batches = world.batches.lock().unwrap();
    let delete = batches[1]
        .iter()
        .find(|sql| sql.starts_with("DELETE FROM public.transactions USING batch_import_stage"))
        .unwrap();
    assert!(
        delete.ends_with("BETWEEN '2010-12-01 08:26:00' AND '2010-12-02 09:00:00'"),
        "{delete}"
    );
}

#[tokio::test]
async fn a_corrected_file_with_fewer_lines_replaces_its_earlier_import_in_both_stores() {
    let (five, three) = five_then_three();
    let world = World::new(
        &[("incoming/day.csv", five.clone())],
        StatusString::Finished,
        None,
    );
    handle(&world.clients, &config(), &options())
        .await
        .unwrap()
        .check()
        .unwrap();
    assert_eq!(world.stored_keys("Invoices").len(), 5);
    assert_eq!(world.stored_keys("Customers").len(), 5);

    world.drop_file("day.csv", &three);
    let report = handle(&world.clients, &config(), &options())
        .await
        .unwrap()
        .check()
        .unwrap();

    assert_eq!(
        report.files,
        [FileSummary {
            file: "day.csv".to_owned(),
            rows: 3,
            stored: 3,
            rejected: 0,
            removed: 2,
            status: FileStatus::Imported,
            dynamodb_through_line: None,
            error: None,
        }]
    );
    // Exactly the three lines as dropped now: lines 5 and 6 are gone, and
    // line 3 is under its new customer only.
    let (invoices, customers) = expected_keys("day.csv", &three);
    assert_eq!(world.stored_keys("Invoices"), invoices);
    assert_eq!(world.stored_keys("Customers"), customers);
    assert!(customers.contains(&(
        "12346".to_owned(),
        format!("536365#{}", line_id("day.csv", 3))
    )));
    // The earlier version was read from processed/, then replaced there.
    assert!(
        world
            .reads
            .lock()
            .unwrap()
            .contains(&"get processed/day.csv".to_owned())
    );
    assert_eq!(world.keys(), ["processed/day.csv"]);
    assert_eq!(world.object("processed/day.csv").unwrap(), three);
    // Redshift: one batch (one transaction) loads the three rows, replacing
    // line 3's by line_id, and deletes the rows of lines 5 and 6.
    let stale = String::from_utf8(world.put_body("staging/day.csv.stale.jsonl")).unwrap();
    assert_eq!(
        stale,
        format!(
            "{{\"line_id\":\"{}\"}}\n{{\"line_id\":\"{}\"}}\n",
            line_id("day.csv", 5),
            line_id("day.csv", 6)
        )
    );
    let staged = String::from_utf8(world.put_body("staging/day.csv.jsonl")).unwrap();
    let line_3 = staged
        .lines()
        .find(|row| row.contains(&line_id("day.csv", 3)))
        .unwrap();
    assert!(line_3.contains("\"customer_id\":\"12346\""), "{line_3}");
    let batches = world.batches.lock().unwrap();
    assert_eq!(batches.len(), 2);
    let table = "public.transactions";
    let dates =
        format!("{table}.invoice_date BETWEEN '2010-12-01 08:26:00' AND '2010-12-01 08:26:00'");
    assert_eq!(batches[1][0], "LOCK public.transactions");
    assert_eq!(
        batches[1][3..],
        [
            format!(
                "DELETE FROM {table} USING batch_import_stage \
                 WHERE {table}.line_id = batch_import_stage.line_id AND {dates}"
            ),
            format!("INSERT INTO {table} SELECT * FROM batch_import_stage"),
            "DROP TABLE batch_import_stage".to_owned(),
            "CREATE TEMP TABLE batch_import_stale (line_id VARCHAR(18) NOT NULL)".to_owned(),
            "COPY batch_import_stale FROM 's3://bulk-imports/staging/day.csv.stale.jsonl' \
             IAM_ROLE 'arn:aws:iam::123456789012:role/warehouse-copy' FORMAT AS JSON 'auto' \
             COMPUPDATE OFF STATUPDATE OFF"
                .to_owned(),
            format!(
                "DELETE FROM {table} USING batch_import_stale \
                 WHERE {table}.line_id = batch_import_stale.line_id AND {dates}"
            ),
            "DROP TABLE batch_import_stale".to_owned(),
        ]
    );
}

/// A stage whose warehouse is in another account: `LAKE_BUCKET`, no
/// cluster, secret or COPY role.
fn lake_config() -> Config {
    Config::from_vars(|name| {
        let value = match name {
            "BULK_IMPORT_BUCKET" => BUCKET,
            "INVOICES_TABLE" => "Invoices",
            "CUSTOMERS_TABLE" => "Customers",
            "LAKE_BUCKET" => LAKE,
            _ => return None,
        };
        Some(value.to_owned())
    })
    .unwrap()
}

/// The lake's import versions of `file`: stamp → the parts written.
fn lake_versions(world: &World, file: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut versions: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for key in world.keys() {
        if let Some(part) = record::lake_imports::parse(&key) {
            assert_eq!(part.file, file, "{key}");
            let body = String::from_utf8(world.object(&key).unwrap()).unwrap();
            versions
                .entry(part.stamp.to_owned())
                .or_default()
                .insert(part.part.file_name().to_owned(), body);
        }
    }
    versions
}

#[tokio::test]
async fn for_a_warehouse_in_another_account_each_import_is_a_new_lake_version_replacing_the_last() {
    let (five, three) = five_then_three();
    let world = World::new(
        &[("incoming/day.csv", five.clone())],
        StatusString::Finished,
        None,
    );
    handle(&world.clients, &lake_config(), &options())
        .await
        .unwrap()
        .check()
        .unwrap();
    world.drop_file("day.csv", &three);
    let report = handle(&world.clients, &lake_config(), &options())
        .await
        .unwrap()
        .check()
        .unwrap();

    assert_eq!((report.files[0].stored, report.files[0].removed), (3, 2));
    assert!(
        world.batches.lock().unwrap().is_empty(),
        "no Data API call: the other account's loader COPYs the lake"
    );
    // DynamoDB, in this account, holds the file as dropped now.
    let (invoices, customers) = expected_keys("day.csv", &three);
    assert_eq!(world.stored_keys("Invoices"), invoices);
    assert_eq!(world.stored_keys("Customers"), customers);
    // Two versions, in import order; nothing staged in the bulk bucket.
    let versions = lake_versions(&world, "day.csv");
    let [(first_stamp, first), (second_stamp, second)]: [(String, _); 2] =
        versions.into_iter().collect::<Vec<_>>().try_into().unwrap();
    assert!(first_stamp < second_stamp);
    let ids = |jsonl: &str| -> Vec<String> {
        jsonl
            .lines()
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(line).unwrap()["line_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let lines = |range: std::ops::RangeInclusive<u64>| -> Vec<String> {
        range.map(|line| line_id("day.csv", line)).collect()
    };
    // The first: its five rows, nothing replaced, then done.
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        ["done.json", "rows.jsonl"]
    );
    assert_eq!(ids(&first["rows.jsonl"]), lines(2..=6));
    // The second: its three rows, and every row of the version it replaces
    // (so lines 5 and 6 leave the warehouse, and line 3's old row wherever
    // its date was).
    assert_eq!(ids(&second["rows.jsonl"]), lines(2..=4));
    assert_eq!(second["replaced.jsonl"], first["rows.jsonl"]);
    let done: serde_json::Value = serde_json::from_str(&second["done.json"]).unwrap();
    assert_eq!(done["file"], "day.csv");
    assert_eq!(done["rows"], 3);
    assert_eq!(done["replaced"], true);
    // done.json is written after the parts it completes.
    let puts = world.puts.lock().unwrap();
    let position = |suffix: &str| {
        puts.iter()
            .position(|(key, _)| key.contains(&second_stamp) && key.ends_with(suffix))
            .unwrap()
    };
    assert!(position("done.json") > position("rows.jsonl"));
    assert!(position("done.json") > position("replaced.jsonl"));
    assert!(!world.keys().iter().any(|key| key.starts_with("staging/")));
    assert!(world.keys().contains(&"processed/day.csv".to_owned()));
}

#[test]
fn a_lake_stage_needs_no_cluster_secret_or_copy_role() {
    assert_eq!(
        lake_config().warehouse,
        batch_import::config::Warehouse::Lake {
            bucket: LAKE.to_owned()
        }
    );
    assert_eq!(lake_config().data_api(), None);
}

#[tokio::test]
async fn a_failure_deleting_stale_items_leaves_the_file_in_incoming_and_the_next_run_converges() {
    let (five, three) = five_then_three();
    let world = World::new(
        &[("incoming/day.csv", five.clone())],
        StatusString::Finished,
        None,
    );
    handle(&world.clients, &config(), &options()).await.unwrap();
    world.drop_file("day.csv", &three);
    world.refuse_deletes.store(true, Ordering::SeqCst);

    let report = handle(&world.clients, &config(), &options()).await.unwrap();

    let summary = &report.files[0];
    assert_eq!(summary.status, FileStatus::Failed);
    let error = summary.error.as_deref().unwrap();
    // Deleted chunk by chunk, in step with the new version: the first chunk
    // (lines 2-4) holds the one item whose key changed (line 3's customer).
    assert!(
        error.contains(
            "the items of 1 earlier row(s) that this version no longer has (or keys otherwise) \
             could not be deleted from DynamoDB (the first at line 3 of processed/day.csv) \
             after 2 BatchWriteItem call(s)"
        ),
        "{error}"
    );
    // Nothing half-done is final: the correction waits in incoming/, the
    // earlier version is still the one in processed/ (the staged objects
    // are overwritten by the next run), the new rows are written and the
    // warehouse was not touched yet.
    assert_eq!(
        world.keys(),
        [
            "checkpoints/day.csv.json",
            "incoming/day.csv",
            "processed/day.csv",
        ]
    );
    assert!(
        world.uploads.lock().unwrap().is_empty(),
        "the staging was aborted"
    );
    assert_eq!(world.object("incoming/day.csv").unwrap(), three);
    assert_eq!(world.object("processed/day.csv").unwrap(), five);
    assert_eq!(world.stored_keys("Invoices").len(), 5);
    assert_eq!(
        world.stored_keys("Customers").len(),
        6,
        "old and new line 3"
    );
    assert_eq!(world.batches.lock().unwrap().len(), 1);

    world.refuse_deletes.store(false, Ordering::SeqCst);
    let report = handle(&world.clients, &config(), &options())
        .await
        .unwrap()
        .check()
        .unwrap();

    assert_eq!(report.files[0].removed, 2);
    let (invoices, customers) = expected_keys("day.csv", &three);
    assert_eq!(world.stored_keys("Invoices"), invoices);
    assert_eq!(world.stored_keys("Customers"), customers);
    assert_eq!(world.keys(), ["processed/day.csv"]);
    assert_eq!(world.object("processed/day.csv").unwrap(), three);
    let batches = world.batches.lock().unwrap();
    assert_eq!(batches.len(), 2);
    assert!(
        batches[1]
            .iter()
            .any(|sql| sql.starts_with("DELETE FROM public.transactions USING batch_import_stale"))
    );
}

#[tokio::test]
async fn a_correction_with_no_valid_row_left_removes_every_row_of_the_earlier_import() {
    let five = first_lines(5, |_, line| line);
    // Every price made negative: each row is rejected.
    let rejected = first_lines(5, |_, line| {
        line.replacen(",2010-12-01 08:26:00,", ",2010-12-01 08:26:00,-", 1)
    });
    let world = World::new(&[("incoming/day.csv", five)], StatusString::Finished, None);
    handle(&world.clients, &config(), &options()).await.unwrap();
    world.drop_file("day.csv", &rejected);

    let report = handle(&world.clients, &config(), &options())
        .await
        .unwrap()
        .check()
        .unwrap();

    let summary = &report.files[0];
    assert_eq!(
        (summary.stored, summary.rejected, summary.removed),
        (0, 5, 5)
    );
    assert!(world.stored_keys("Invoices").is_empty());
    assert!(world.stored_keys("Customers").is_empty());
    let batches = world.batches.lock().unwrap();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[1].len(), 5, "removal only: {:#?}", batches[1]);
    assert_eq!(batches[1][0], "LOCK public.transactions");
    assert!(batches[1][2].starts_with("COPY batch_import_stale"));
    assert_eq!(world.keys(), ["processed/day.csv", "rejected/day.csv"]);
}

#[tokio::test]
async fn an_earlier_import_that_is_not_a_transactions_csv_keeps_the_file_in_incoming() {
    let world = World::new(
        &[
            ("incoming/day.csv", first_lines(2, |_, line| line)),
            ("processed/day.csv", b"order,amount\n1,2\n".to_vec()),
        ],
        StatusString::Finished,
        None,
    );
    let report = handle(&world.clients, &config(), &options()).await.unwrap();
    let error = report.files[0].error.as_deref().unwrap();
    assert!(
        error.starts_with(
            "the earlier import of this file, s3://bulk-imports/processed/day.csv, is not a \
             transactions CSV"
        ) && error.contains("move it out of processed/"),
        "{error}"
    );
    assert_eq!(
        world.keys(),
        [
            "checkpoints/day.csv.json",
            "incoming/day.csv",
            "processed/day.csv"
        ]
    );
    assert_eq!(world.dynamodb_rule.num_calls(), 0);
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
        files.starts_with("2010-12-05.csv left in incoming/: loading into Redshift: the load"),
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
            removed: 0,
            status: FileStatus::Imported,
            dynamodb_through_line: None,
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
    assert_eq!(
        world.keys(),
        ["checkpoints/orders.csv.json", "incoming/orders.csv"]
    );
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
        removed: 0,
        status: FileStatus::Imported,
        dynamodb_through_line: None,
        error: None,
    };
    assert_eq!(
        serde_json::to_value(&summary).unwrap(),
        serde_json::json!({
            "file": "2010-12-01.csv", "rows": 3108, "stored": 3100, "rejected": 8,
            "removed": 0, "status": "imported"
        })
    );
}

#[test]
fn configuration_names_the_missing_variable() {
    let error = Config::from_vars(|name| (name == "BULK_IMPORT_BUCKET").then(|| "b".to_owned()))
        .unwrap_err();
    assert!(error.to_string().contains("INVOICES_TABLE"), "{error}");
    let tables_only = |name: &str| {
        ["BULK_IMPORT_BUCKET", "INVOICES_TABLE", "CUSTOMERS_TABLE"]
            .contains(&name)
            .then(|| "b".to_owned())
    };
    let error = Config::from_vars(tables_only).unwrap_err();
    assert!(error.to_string().contains("COPY_ROLE_ARN"), "{error}");
    assert_eq!(
        data_api().warehouse_table.to_string(),
        Config::DEFAULT_WAREHOUSE_TABLE
    );
}

#[tokio::test]
async fn firehose_deliveries_are_merged_in_one_batch_and_a_failed_merge_is_an_error() {
    let world = World::new(&[], StatusString::Finished, None);

    batch_import::merge_firehose_deliveries(
        &world.clients.redshift_data,
        &data_api(),
        &options().poll,
        None,
    )
    .await
    .unwrap();

    {
        let batches = world.batches.lock().unwrap();
        assert_eq!(batches.len(), 1, "one batch: one transaction");
        assert_eq!(batches[0], batch_import::merge_statements(&data_api()));
    }

    let failing = World::new(&[], StatusString::Failed, Some("ERROR: 1023"));
    let error = batch_import::merge_firehose_deliveries(
        &failing.clients.redshift_data,
        &data_api(),
        &options().poll,
        None,
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("1023"), "{error}");
}

/// The checkpoint the bucket holds for `name`.
fn checkpoint_of(world: &World, name: &str) -> Checkpoint {
    let bytes = world
        .object(&format!("checkpoints/{name}.json"))
        .unwrap_or_else(|| panic!("no checkpoint for {name}: {:?}", world.keys()));
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_file_interrupted_half_way_resumes_at_its_checkpoint_without_writing_a_line_twice() {
    let world = World::new(
        &[("incoming/2010-12-01.csv", sample("2010-12-01.csv"))],
        StatusString::Finished,
        None,
    );
    // The table throttles for good part-way through the third chunk.
    world.put_budget.store(2_000, Ordering::SeqCst);

    let report = handle(&world.clients, &config(), &options()).await.unwrap();

    assert_eq!(report.files[0].status, FileStatus::Failed);
    let checkpoint = checkpoint_of(&world, "2010-12-01.csv");
    let through = checkpoint.dynamodb_through_line;
    assert!(
        through > 700,
        "two chunks of 700 rows are done: {checkpoint:?}"
    );
    assert_eq!(checkpoint.failed_runs, 0, "the run progressed");
    assert!(world.keys().contains(&"incoming/2010-12-01.csv".to_owned()));
    let written_first = world.items("Invoices").len();

    world.put_budget.store(usize::MAX, Ordering::SeqCst);
    handle(&world.clients, &config(), &options())
        .await
        .unwrap()
        .check()
        .unwrap();

    // Every line up to the checkpoint was put once, by the first run only.
    let invoices = world.items("Invoices");
    let done: Vec<String> = (2..=through)
        .map(|line| line_id("2010-12-01.csv", line))
        .collect();
    let put_twice_before_checkpoint = invoices[written_first..]
        .iter()
        .filter(|item| done.contains(item["LineId"].as_s().unwrap()))
        .count();
    assert_eq!(put_twice_before_checkpoint, 0);
    let (invoice_keys, _) = expected_keys("2010-12-01.csv", &sample("2010-12-01.csv"));
    assert_eq!(world.stored_keys("Invoices"), invoice_keys);
    assert_eq!(
        world.keys(),
        ["processed/2010-12-01.csv"],
        "checkpoint removed"
    );
}

#[tokio::test]
async fn a_file_that_fails_three_runs_is_quarantined_with_its_reason_and_later_files_go_on() {
    let world = World::new(
        &[
            ("incoming/2010-11-30.csv", b"order,amount\n1,2\n".to_vec()),
            ("incoming/2010-12-01.csv", sample("2010-12-01.csv")),
        ],
        StatusString::Finished,
        None,
    );
    for run in 1..=2 {
        let report = handle(&world.clients, &config(), &options()).await.unwrap();
        assert_eq!(report.files[0].status, FileStatus::Failed, "run {run}");
        assert_eq!(checkpoint_of(&world, "2010-11-30.csv").failed_runs, run);
    }
    world.drop_file("2010-12-02.csv", &sample("2010-12-02.csv"));

    let report = handle(&world.clients, &config(), &options()).await.unwrap();

    assert_eq!(report.files[0].status, FileStatus::Quarantined);
    assert_eq!(report.files[1].status, FileStatus::Imported);
    let reason = String::from_utf8(
        world
            .object("quarantine/2010-11-30.csv.reason.txt")
            .unwrap(),
    )
    .unwrap();
    assert!(
        reason.contains("failed 3 runs in a row, the last because not a transactions CSV")
            && reason.contains("lacks column(s)")
            && reason.contains("drop it under incoming/2010-11-30.csv again"),
        "{reason}"
    );
    assert_eq!(
        world.keys(),
        [
            "processed/2010-12-01.csv",
            "processed/2010-12-02.csv",
            "quarantine/2010-11-30.csv",
            "quarantine/2010-11-30.csv.reason.txt"
        ]
    );
    let Err(ImportError::FilesFailed { files, .. }) = report.check() else {
        panic!("a quarantined file fails the run, so its alarm fires");
    };
    assert!(
        files.starts_with("2010-11-30.csv moved to quarantine/"),
        "{files}"
    );
}

#[tokio::test]
async fn runs_that_died_on_a_file_count_and_a_checkpoint_of_another_version_does_not() {
    let died = |etag: String| Checkpoint {
        etag,
        dynamodb_through_line: 0,
        dynamodb_done: false,
        failed_runs: 3,
        last_error: Some(batch_import::checkpoint::DIED.to_owned()),
    };
    let (this, other) = (sample("2010-12-01.csv"), sample("2010-12-02.csv"));
    let world = World::new(
        &[
            ("incoming/a.csv", this.clone()),
            ("incoming/b.csv", other.clone()),
            (
                "checkpoints/a.csv.json",
                serde_json::to_vec(&died(etag(&this))).unwrap(),
            ),
            (
                "checkpoints/b.csv.json",
                serde_json::to_vec(&died(etag(b"an earlier drop of b.csv"))).unwrap(),
            ),
        ],
        StatusString::Finished,
        None,
    );

    let report = handle(&world.clients, &config(), &options()).await.unwrap();

    assert_eq!(report.files[0].status, FileStatus::Quarantined);
    assert!(
        report.files[0]
            .error
            .as_deref()
            .unwrap()
            .contains("out of memory"),
        "{:?}",
        report.files[0]
    );
    assert!(world.dynamodb_rule.num_calls() > 0, "b.csv was imported");
    assert_eq!(report.files[1].status, FileStatus::Imported);
}

#[tokio::test]
async fn a_file_over_the_size_limit_is_quarantined_unread() {
    let world = World::new(
        &[("incoming/2010-12-01.csv", sample("2010-12-01.csv"))],
        StatusString::Finished,
        None,
    );
    let options = Options {
        max_file_bytes: 1_000,
        ..options()
    };
    let report = handle(&world.clients, &config(), &options).await.unwrap();
    assert_eq!(report.files[0].status, FileStatus::Quarantined);
    let error = report.files[0].error.as_deref().unwrap();
    assert!(
        error.contains("more than the 1000 one run can stage and load"),
        "{error}"
    );
    assert!(
        !world
            .reads
            .lock()
            .unwrap()
            .iter()
            .any(|read| read.starts_with("get incoming/")),
        "not read"
    );
    assert_eq!(world.dynamodb_rule.num_calls(), 0);
}

#[tokio::test]
async fn a_file_with_no_time_for_a_chunk_is_deferred_and_counted_against_it() {
    let world = World::new(
        &[("incoming/2010-12-07.csv", sample("2010-12-07.csv"))],
        StatusString::Finished,
        None,
    );
    let options = Options {
        deadline: Some(tokio::time::Instant::now() + Duration::from_secs(60)),
        time_per_file: Duration::ZERO,
        time_per_chunk: Duration::from_secs(3_600),
        ..options()
    };
    let report = handle(&world.clients, &config(), &options)
        .await
        .unwrap()
        .check()
        .unwrap();
    assert_eq!(report.files[0].status, FileStatus::Deferred);
    assert_eq!(report.files[0].dynamodb_through_line, Some(0));
    let checkpoint = checkpoint_of(&world, "2010-12-07.csv");
    assert_eq!(checkpoint.failed_runs, 1, "no progress: counted");
    assert!(
        checkpoint.last_error.unwrap().contains("time ran out"),
        "the reason a later quarantine gives"
    );
    assert_eq!(world.dynamodb_rule.num_calls(), 0);
}
