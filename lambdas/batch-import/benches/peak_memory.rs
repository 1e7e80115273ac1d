//! Peak memory of importing the whole data set as one file.
//!
//! `cargo bench -p batch-import --bench peak_memory` writes a file of
//! 541,909 rows (the size of the retailer's full data set) under the target
//! folder, from the December 2010 sample's rows repeated with distinct
//! invoice numbers, then runs the real [`batch_import::handle`] on it with
//! the AWS calls answered in process (aws-smithy-mocks): S3 streams the
//! file from disk, DynamoDB accepts every item, the Data API finishes the
//! load. It prints the process's peak resident memory (`VmHWM`), the figure
//! to hold against the function's `MemorySize`, and fails above 256 MB.
//!
//! The figure includes the benchmark's own share (its mocks, the SDK's
//! request serialisation), so it is an upper bound of the function's.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput;
use aws_sdk_redshiftdata::operation::batch_execute_statement::BatchExecuteStatementOutput;
use aws_sdk_redshiftdata::operation::describe_statement::DescribeStatementOutput;
use aws_sdk_redshiftdata::types::StatusString;
use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput;
use aws_sdk_s3::operation::copy_object::CopyObjectOutput;
use aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadOutput;
use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::operation::upload_part::UploadPartOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::Object;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use batch_import::{Clients, Config, FileStatus, Options, handle};

/// The rows of the retailer's full data set (UCI "Online Retail").
const ROWS: usize = 541_909;
/// What the function may use at most for the claim to hold.
const LIMIT_MB: u64 = 256;
const BUCKET: &str = "bulk-imports";
const NAME: &str = "online-retail-full.csv";

#[tokio::main]
async fn main() {
    let path = generate(ROWS);
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "batch-import peak memory: {ROWS} rows, {:.1} MB CSV ({})",
        size as f64 / 1e6,
        path.display()
    );
    let before = peak_rss_kb();
    let started = Instant::now();
    let (clients, staged_bytes) = clients(&path, size).await;
    let report = handle(&clients, &config(), &Options::default())
        .await
        .expect("the file is listed");
    let elapsed = started.elapsed();
    let file = &report.files[0];
    assert_eq!(file.status, FileStatus::Imported, "{file:?}");
    assert_eq!(file.rows, ROWS, "every row read");
    let peak_kb = peak_rss_kb();
    let peak_mb = peak_kb.div_ceil(1024);
    println!(
        "  stored {} rows, rejected {}, staged {:.1} MB in parts, in {:.1} s",
        file.stored,
        file.rejected,
        *staged_bytes.lock().unwrap() as f64 / 1e6,
        elapsed.as_secs_f64()
    );
    println!(
        "  peak resident memory: {peak_mb} MB (VmHWM; {} MB before the import)",
        before.div_ceil(1024)
    );
    assert!(
        peak_mb < LIMIT_MB,
        "peak memory {peak_mb} MB is over {LIMIT_MB} MB"
    );
}

/// The process's peak resident set, in KiB (Linux `VmHWM`).
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// Writes (once) a CSV of `rows` data rows: the sample's rows in turn, each
/// round with its invoice numbers moved up by a million times the round,
/// so no invoice repeats across rounds (line ids differ by position anyway).
fn generate(rows: usize) -> PathBuf {
    // Cargo's own scratch folder for benches and tests, inside the target
    // folder wherever that is.
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = target.join("bench-data").join(format!("{rows}-rows.csv"));
    if path.exists() {
        return path;
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let sample: Vec<String> = record::sample::files()
        .iter()
        .flat_map(|file| {
            std::io::BufReader::new(std::fs::File::open(file).unwrap())
                .lines()
                .skip(1)
                .map(Result::unwrap)
                .collect::<Vec<_>>()
        })
        // A description with a line break spans two lines: keep whole rows.
        .filter(|line| line.matches('"').count() % 2 == 0)
        .collect();
    let partial = path.with_extension("partial");
    let mut out = BufWriter::new(std::fs::File::create(&partial).unwrap());
    writeln!(out, "{}", record::CSV_HEADER).unwrap();
    for (index, line) in sample.iter().cycle().take(rows).enumerate() {
        let round = index / sample.len();
        let (invoice, rest) = line.split_once(',').unwrap();
        let (letter, digits) = match invoice.as_bytes()[0] {
            b'A'..=b'Z' => invoice.split_at(1),
            _ => ("", invoice),
        };
        writeln!(out, "{letter}{round}{digits},{rest}").unwrap();
    }
    out.flush().unwrap();
    std::fs::rename(&partial, &path).unwrap();
    path
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

/// Clients answering in process: the file under `incoming/`, streamed from
/// disk by each `GetObject`; parts counted, not kept.
async fn clients(path: &Path, size: u64) -> (Clients, Arc<Mutex<u64>>) {
    // One body per read of the file (two passes); ByteStream is not Clone.
    let mut bodies = Vec::new();
    for _ in 0..2 {
        bodies.push(ByteStream::from_path(path).await.unwrap());
    }
    let bodies = Arc::new(Mutex::new(bodies));
    let list = mock!(aws_sdk_s3::Client::list_objects_v2).then_compute_output(move |request| {
        let contents = if request.prefix() == Some("incoming/") {
            vec![
                Object::builder()
                    .key(format!("incoming/{NAME}"))
                    .size(size as i64)
                    .e_tag("\"full\"")
                    .build(),
            ]
        } else {
            Vec::new()
        };
        ListObjectsV2Output::builder()
            .set_contents(Some(contents))
            .build()
    });
    let get = mock!(aws_sdk_s3::Client::get_object).then_compute_output(move |_| {
        let body = bodies.lock().unwrap().pop().expect("two reads of the file");
        GetObjectOutput::builder().body(body).build()
    });
    let staged = Arc::new(Mutex::new(0u64));
    let counted = Arc::clone(&staged);
    let part = mock!(aws_sdk_s3::Client::upload_part).then_compute_output(move |request| {
        *counted.lock().unwrap() += request.body().bytes().map_or(0, |b| b.len() as u64);
        UploadPartOutput::builder().e_tag("\"part\"").build()
    });
    let s3_rules = [
        list,
        get,
        part,
        mock!(aws_sdk_s3::Client::create_multipart_upload).then_output(|| {
            CreateMultipartUploadOutput::builder()
                .upload_id("u")
                .build()
        }),
        mock!(aws_sdk_s3::Client::complete_multipart_upload)
            .then_output(|| CompleteMultipartUploadOutput::builder().build()),
        mock!(aws_sdk_s3::Client::put_object).then_output(|| PutObjectOutput::builder().build()),
        mock!(aws_sdk_s3::Client::copy_object).then_output(|| CopyObjectOutput::builder().build()),
        mock!(aws_sdk_s3::Client::delete_object)
            .then_output(|| DeleteObjectOutput::builder().build()),
    ];
    let dynamodb_rule = mock!(aws_sdk_dynamodb::Client::batch_write_item)
        .then_output(|| BatchWriteItemOutput::builder().build());
    let redshift_rules = [
        mock!(aws_sdk_redshiftdata::Client::batch_execute_statement)
            .then_output(|| BatchExecuteStatementOutput::builder().id("load").build()),
        mock!(aws_sdk_redshiftdata::Client::describe_statement).then_output(|| {
            DescribeStatementOutput::builder()
                .id("load")
                .status(StatusString::Finished)
                .build()
                .unwrap()
        }),
    ];
    let clients = Clients {
        s3: mock_client!(aws_sdk_s3, RuleMode::MatchAny, &s3_rules),
        dynamodb: mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&dynamodb_rule]),
        redshift_data: mock_client!(aws_sdk_redshiftdata, RuleMode::MatchAny, &redshift_rules),
    };
    (clients, staged)
}
