//! Cold start of every Lambda function, on this machine: from spawning the
//! function's release binary (the `bootstrap` of the zip `synth` uploads)
//! to the moment it has handled its first event, i.e. when it POSTs
//! `/2018-06-01/runtime/invocation/<id>/response` (or `/error`) to the
//! Lambda Runtime API
//! (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>).
//! The bench serves that API itself, on 127.0.0.1, and also reports the
//! init part (spawn to the first `GET .../invocation/next`), the
//! counterpart of the "Init Duration" Lambda logs.
//!
//! `cargo bench -p provisioner --bench cold_start`; `COLD_START_RUNS`
//! (default 20) runs per function, `COLD_START_ONLY=ingest,query` to pick
//! functions. The zips come from `build_assets`, as `synth` builds them
//! (cargo-lambda, the cache in `target/lambda-assets`; ~10 minutes cold).
//! Prints the median and p90 (nearest rank) per function with the size of
//! the binary and of its zip; exits non-zero when a function did not
//! answer its first event as expected.
//!
//! What this is not: Lambda's own cold start adds the creation of the
//! execution environment (the Firecracker sandbox) and the download and
//! unpacking of the zip, which only AWS can measure (the REPORT line's
//! Init Duration covers the init part alone; end-to-end needs a deployed
//! function). The CPU differs too: Lambda gives CPU in proportion to
//! memory, one vCPU at 1,769 MB
//! (<https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html>),
//! so at 256 MB the CPU-bound part of these times can be several times
//! longer there; here each run has the machine's cores (shared with
//! whatever else runs). The binary is in the page cache (just extracted).
//!
//! The first events are ones each function answers without AWS, so the
//! numbers are start-up plus a cheap first event, not network latency:
//! firehose-transform a whole day of the sample (every valid row of
//! `2010-12-01.csv`, one default 1 MB Firehose buffer); ingest an invalid
//! transaction (422, nothing sent to Kinesis); query a malformed customer
//! id (400); lake-writer and dynamodb-writer an empty Kinesis batch;
//! warehouse-schema a Create without properties, answered FAILED by a PUT
//! to a ResponseURL on this server; batch-import a scheduled run, whose
//! `ListObjectsV2` of `incoming/` is answered empty by this server (it
//! cannot run without S3), configured as for a warehouse in another
//! account (`LAKE_BUCKET`: no Data API merge first); warehouse-loader a
//! request naming its days the wrong way round and secret-rotation an
//! unknown step, both refused before any AWS call. `AWS_ENDPOINT_URL` points every function's SDK
//! at this server with dummy credentials, so no call leaves the machine and
//! any unexpected one fails the check. Runs go round-robin over the
//! functions so background load spreads evenly.
//!
//! Measured on the 2-core machine, idle (load 0.1-0.3), 20 runs, two
//! rounds: cold start median 13-14 ms for the SDK functions (ingest,
//! query, lake-writer, dynamodb-writer; p90 <= 15.4 ms), 17-18 ms
//! batch-import (its first S3 call included), 20-21 ms warehouse-schema
//! (the native root certificates it loads), 48-51 ms firehose-transform,
//! of which init is 3 ms and the rest is transforming 3,108 records. Under
//! a parallel CI build the same runs were ~25% faster (10-11 ms), which
//! says idle-CPU clock states move these numbers as much as our code does.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use provisioner::assets::{BuildOptions, build_assets};
use record::CsvTransactions;
use serde_json::{Value, json};

const DEFAULT_RUNS: usize = 20;
/// A run that has not answered by then is a failure (a healthy one takes
/// milliseconds; the SDK's retries against a dead endpoint take seconds).
const RUN_TIMEOUT: Duration = Duration::from_secs(30);
const RUNTIME: &str = "/2018-06-01/runtime";
/// Where warehouse-schema's ResponseURL points on this server.
const CFN_RESPONSE: &str = "/cloudformation-response/";
const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "123456789012";

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("cold_start: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<bool> {
    let runs = match std::env::var("COLD_START_RUNS") {
        Ok(text) => text
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .with_context(|| format!("COLD_START_RUNS={text:?}: expected a positive number"))?,
        Err(_) => DEFAULT_RUNS,
    };
    let only: Option<Vec<String>> = std::env::var("COLD_START_ONLY")
        .ok()
        .map(|list| list.split(',').map(|s| s.trim().to_owned()).collect());

    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the provisioner crate is inside the workspace")?;
    let out = tempfile::tempdir().context("creating a temporary folder")?;
    let mut options = BuildOptions::for_workspace(root);
    options.only = only;
    let built = build_assets(&options, out.path(), &mut io::stderr()).context(
        "building the Lambda assets (cargo-lambda is installed by scripts/install-tools.sh)",
    )?;

    let server = Server::start().context("starting the Runtime API server")?;
    let sample = firehose_event(&record::sample::path("2010-12-01.csv"))?;
    let mut functions = Vec::new();
    for entry in &built.entries {
        let dir = out.path().join("bin").join(&entry.name);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let bootstrap = dir.join("bootstrap");
        let binary_size = extract_bootstrap(&out.path().join(&entry.file), &bootstrap)
            .with_context(|| format!("extracting bootstrap of {}", entry.name))?;
        let scenario = scenario(&entry.name, server.port, &sample).with_context(|| {
            format!(
                "no first event for function {}: add one to scenario() in provisioner/benches/cold_start.rs",
                entry.name
            )
        })?;
        functions.push(Measured {
            name: entry.name.clone(),
            bootstrap,
            log: dir.join("output.log"),
            binary_size,
            zip_size: entry.size,
            scenario,
            samples: Vec::with_capacity(runs),
            answer: None,
            failure: None,
        });
    }

    println!(
        "cold start: spawn of bootstrap → first response POST to a local Runtime API; \
         {runs} runs per function, round-robin; {} cores, load average at start {}",
        thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    let mut request_number = 0_u64;
    for _ in 0..runs {
        for function in functions.iter_mut().filter(|f| f.failure.is_none()) {
            request_number += 1;
            match measure(&server, function, request_number) {
                Ok((sample, answer)) => {
                    function.samples.push(sample);
                    function.answer.get_or_insert(answer);
                }
                Err(error) => function.failure = Some(format!("{error:#}")),
            }
        }
    }
    print_table(&functions);
    Ok(functions.iter().all(|f| f.failure.is_none()))
}

/// One function under measurement and what it gave so far.
struct Measured {
    name: String,
    bootstrap: PathBuf,
    /// The binary's stdout and stderr, of the latest run.
    log: PathBuf,
    binary_size: u64,
    zip_size: u64,
    scenario: Scenario,
    samples: Vec<Sample>,
    /// What the first run answered, in a few words.
    answer: Option<String>,
    /// Why the runs stopped, when they did.
    failure: Option<String>,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Spawn to the first `GET .../invocation/next`.
    init: Duration,
    /// Spawn to the POST of the first event's answer.
    cold: Duration,
}

/// A function's environment, first event and the check of its answer.
struct Scenario {
    env: Vec<(&'static str, String)>,
    event: Arc<Vec<u8>>,
    /// Checks the answer and the other requests the function made; returns
    /// what it answered, in a few words.
    check: Check,
}

/// The check of an answer, given the other requests and the event.
type Check = fn(&Answer, &[Request], &Value) -> Result<String, String>;

/// The first events, each one a function handles without AWS (see the
/// file's header for why each was chosen).
fn scenario(function: &str, port: u16, sample: &Value) -> Option<Scenario> {
    let tables = || {
        vec![
            ("INVOICES_TABLE", "bench-Invoices".to_owned()),
            ("CUSTOMERS_TABLE", "bench-Customers".to_owned()),
        ]
    };
    let (env, event, check): (_, Value, Check) = match function {
        "ingest" => (
            vec![("STREAM_NAME", "bench-transactions".to_owned())],
            api_request(
                "POST",
                "/transactions",
                json!(null),
                Some(r#"{"InvoiceNo":"536365","Quantity":"six"}"#),
            ),
            |answer, _, _| status_code(answer, 422),
        ),
        "query" => (
            tables(),
            api_request(
                "GET",
                "/customers/{customerId}/invoices",
                json!({"customerId": "not-a-number"}),
                None,
            ),
            |answer, _, _| status_code(answer, 400),
        ),
        "lake-writer" | "dynamodb-writer" => (
            if function == "lake-writer" {
                vec![("LAKE_BUCKET", "bench-lake".to_owned())]
            } else {
                // Where a batch it gives up on is saved.
                let mut env = tables();
                env.push(("FAILED_BUCKET", "bench-lake".to_owned()));
                env
            },
            json!({"Records": []}),
            |answer, _, _| {
                let body = answer.json()?;
                match body.get("batchItemFailures").and_then(Value::as_array) {
                    Some(failures) if failures.is_empty() => Ok("no batch item failures".into()),
                    _ => Err(format!("expected no batchItemFailures, got {body}")),
                }
            },
        ),
        "firehose-transform" => (Vec::new(), sample.clone(), |answer, _, event| {
            let body = answer.json()?;
            let sent = event["records"].as_array().map_or(0, Vec::len);
            let records = body["records"].as_array().cloned().unwrap_or_default();
            let ok = records.iter().filter(|r| r["result"] == "Ok").count();
            if records.len() == sent && ok == sent {
                Ok(format!("{ok} of {sent} records Ok"))
            } else {
                Err(format!("{ok} of {} records Ok, {sent} sent", records.len()))
            }
        }),
        // The configuration of a stage whose warehouse is in another account
        // (`LAKE_BUCKET`): the same binary, and a first run that needs no
        // Data API (a warehouse in the same account merges Firehose's
        // deliveries first, a statement this server does not run).
        "batch-import" => (
            [
                ("BULK_IMPORT_BUCKET", "bench-bulk-import".to_owned()),
                ("LAKE_BUCKET", "bench-lake".to_owned()),
            ]
            .into_iter()
            .chain(tables())
            .collect(),
            json!({
                "version": "0",
                "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": ACCOUNT,
                "time": "2010-12-02T00:00:00Z",
                "region": REGION,
                "resources": [format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/bench-import")],
                "detail": {}
            }),
            |answer, others, _| {
                let body = answer.json()?;
                let lists = others.iter().filter(|r| is_s3_list(r)).count();
                if body == json!({"files": []}) && lists == 1 && others.len() == 1 {
                    Ok("no file to import (one ListObjectsV2, answered empty here)".into())
                } else {
                    Err(format!(
                        "expected {{\"files\":[]}} after one ListObjectsV2, got {body} after {}",
                        describe(others)
                    ))
                }
            },
        ),
        // A request naming days the wrong way round: refused before any
        // AWS call.
        "warehouse-loader" => (
            [
                ("LAKE_BUCKET", "bench-lake"),
                ("LOAD_BUCKET", "bench-loads"),
                ("CLUSTER_IDENTIFIER", "bench-warehouse"),
                ("DATABASE", "analytics"),
                (
                    "COPY_ROLE_ARN",
                    "arn:aws:iam::123456789012:role/bench-lake-copy",
                ),
                ("SLICES", "4"),
            ]
            .into_iter()
            .map(|(name, value)| (name, value.to_owned()))
            .chain([(
                "WAREHOUSE_SECRET_ARN",
                format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:bench-AbCdEf"),
            )])
            .collect(),
            json!({"from": "2010-12-02", "to": "2010-12-01"}),
            |answer, others, _| refused(answer, others, "names days to load"),
        ),
        // A step Secrets Manager never sends: refused before any AWS call.
        "secret-rotation" => (
            vec![
                ("CLUSTER_IDENTIFIER", "bench-warehouse".to_owned()),
                ("DATABASE", "analytics".to_owned()),
                (
                    "MASTER_SECRET_ARN",
                    format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:bench-master"),
                ),
            ],
            json!({
                "SecretId": format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:bench-reader"),
                "ClientRequestToken": "00000000-0000-4000-8000-000000000002",
                "Step": "benchSecret"
            }),
            |answer, others, _| refused(answer, others, "unknown rotation step"),
        ),
        "warehouse-schema" => (
            Vec::new(),
            json!({
                "RequestType": "Create",
                "ResponseURL": format!("http://127.0.0.1:{port}{CFN_RESPONSE}bench"),
                "StackId": format!("arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/bench-Warehouse/6c5b3a70-0000-4000-8000-000000000000"),
                "RequestId": "d7b9a1c2-0000-4000-8000-000000000000",
                "ResourceType": "Custom::WarehouseSchema",
                "LogicalResourceId": "WarehouseSchema",
                "ResourceProperties": {
                    "ServiceToken": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:bench-warehouse-schema")
                }
            }),
            |answer, others, _| {
                answer.json()?;
                let put = others
                    .iter()
                    .find(|r| r.method == "PUT" && r.target.starts_with(CFN_RESPONSE));
                let status = put
                    .and_then(|r| serde_json::from_slice::<Value>(&r.body).ok())
                    .and_then(|body| body["Status"].as_str().map(str::to_owned));
                if status.as_deref() == Some("FAILED") && others.len() == 1 {
                    Ok("FAILED (no properties) PUT to the ResponseURL".into())
                } else {
                    Err(format!(
                        "expected one PUT of Status FAILED, got {}",
                        describe(others)
                    ))
                }
            },
        ),
        _ => return None,
    };
    Some(Scenario {
        env,
        event: Arc::new(event.to_string().into_bytes()),
        check,
    })
}

/// An API Gateway REST proxy event, as the Api stack's methods send it.
fn api_request(method: &str, resource: &str, path_parameters: Value, body: Option<&str>) -> Value {
    let path = path_parameters.as_object().into_iter().flatten().fold(
        resource.to_owned(),
        |path, (name, value)| {
            path.replace(&format!("{{{name}}}"), value.as_str().unwrap_or_default())
        },
    );
    json!({
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": path_parameters,
        "stageVariables": null,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "stage": "bench"},
        "body": body,
        "isBase64Encoded": false
    })
}

/// The Firehose event of every valid row of a sample file, each record a
/// transaction as the Kinesis stream carries it ([`record::Transaction::to_json`]).
fn firehose_event(csv: &Path) -> anyhow::Result<Value> {
    let file = File::open(csv).with_context(|| format!("opening {}", csv.display()))?;
    let rows = CsvTransactions::new(file).with_context(|| format!("reading {}", csv.display()))?;
    let mut records = Vec::new();
    for row in rows {
        let row = row.with_context(|| format!("reading {}", csv.display()))?;
        // Rejected rows never reach the stream, so never reach Firehose.
        let Ok(transaction) = row.result else {
            continue;
        };
        let n = records.len();
        records.push(json!({
            "recordId": format!("4954698668313554428650745793632162567570019247{n:010}"),
            "approximateArrivalTimestamp": 1_291_193_160_000_i64,
            "data": base64(transaction.to_json().as_bytes()),
            "kinesisRecordMetadata": {
                "sequenceNumber": format!("4954511524349098501828006771497314458218006259{n:010}"),
                "subsequenceNumber": 0,
                "partitionKey": transaction.invoice_no,
                "shardId": "shardId-000000000000",
                "approximateArrivalTimestamp": 1_291_193_160_000_i64
            }
        }));
    }
    if records.is_empty() {
        bail!("{} has no valid row", csv.display());
    }
    Ok(json!({
        "invocationId": "4a5e3b2c-0000-4000-8000-000000000000",
        "deliveryStreamArn": format!("arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/bench-warehouse"),
        "sourceKinesisStreamArn": format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/bench-transactions"),
        "region": REGION,
        "records": records
    }))
}

/// Standard base64 with padding (Firehose's `data`).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Writes the zip's `bootstrap` to `dest`, executable; returns its size.
fn extract_bootstrap(zip: &Path, dest: &Path) -> anyhow::Result<u64> {
    let file = File::open(zip).with_context(|| format!("opening {}", zip.display()))?;
    let mut archive =
        zip::ZipArchive::new(file).with_context(|| format!("reading {}", zip.display()))?;
    let mut entry = archive
        .by_name("bootstrap")
        .with_context(|| format!("{} has no bootstrap", zip.display()))?;
    let mut out = File::create(dest).with_context(|| format!("creating {}", dest.display()))?;
    let size =
        io::copy(&mut entry, &mut out).with_context(|| format!("writing {}", dest.display()))?;
    // Closed before it is executed (an open writer makes exec fail with ETXTBSY).
    drop(out);
    fs::set_permissions(dest, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", dest.display()))?;
    Ok(size)
}

/// One cold start: spawn, serve the first event, wait for its answer, kill.
fn measure(
    server: &Server,
    function: &mut Measured,
    number: u64,
) -> anyhow::Result<(Sample, String)> {
    let (seen, events) = mpsc::channel();
    let request_id = format!("00000000-0000-4000-8000-{number:012}");
    *server
        .current
        .lock()
        .expect("no server thread panics holding it") = Some(Arc::new(Invocation {
        request_id: request_id.clone(),
        function_arn: format!(
            "arn:aws:lambda:{REGION}:{ACCOUNT}:function:bench-{}",
            function.name
        ),
        event: Arc::clone(&function.scenario.event),
        delivered: AtomicBool::new(false),
        seen,
    }));
    let log = File::create(&function.log)
        .with_context(|| format!("creating {}", function.log.display()))?;
    let mut command = Command::new(&function.bootstrap);
    command
        // What Lambda sets (<https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime>),
        // and nothing of this machine's (no ~/.aws, no CA overrides).
        .env_clear()
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("127.0.0.1:{}", server.port),
        )
        .env(
            "AWS_LAMBDA_FUNCTION_NAME",
            format!("bench-{}", function.name),
        )
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/bench-{}", function.name),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2010/12/01/[$LATEST]bench")
        .env("AWS_REGION", REGION)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_SESSION_TOKEN", "testing")
        // Every SDK call comes here: none leaves the machine, each is checked.
        .env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", server.port),
        )
        .env("TZ", ":UTC")
        .envs(function.scenario.env.iter().map(|(k, v)| (*k, v)))
        .stdin(Stdio::null())
        .stdout(log.try_clone().context("duplicating the log file")?)
        .stderr(log);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("spawning {}", function.bootstrap.display()))?;
    let mut init = None;
    let mut others = Vec::new();
    let outcome = loop {
        match events.recv_timeout(Duration::from_millis(50)) {
            Ok(Seen::Next(at)) => init = Some(at - started),
            Ok(Seen::Answer(answer)) => break Ok(answer),
            Ok(Seen::Other(request)) => others.push(request),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(status)) = child.try_wait() {
                    break Err(anyhow!("the function exited ({status}) before answering"));
                }
                if started.elapsed() > RUN_TIMEOUT {
                    break Err(anyhow!("no answer within {}s", RUN_TIMEOUT.as_secs()));
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                unreachable!("the invocation holds a sender")
            }
        }
    };
    // Requests a stopping function makes meanwhile are not waited for.
    let _ = child.kill();
    let _ = child.wait();
    *server
        .current
        .lock()
        .expect("no server thread panics holding it") = None;
    let failed = |reason: String| {
        anyhow!(
            "run {}: {reason}\n  its output ({}):\n{}",
            function.samples.len() + 1,
            function.log.display(),
            tail(&function.log, 15)
        )
    };
    let answer = outcome.map_err(|e| failed(format!("{e:#}")))?;
    let init = init.ok_or_else(|| failed("answered without asking for an event".into()))?;
    let what = (function.scenario.check)(
        &answer,
        &others,
        &serde_json::from_slice(&function.scenario.event)?,
    )
    .map_err(|reason| failed(format!("{}: {reason}", answer.kind)))?;
    Ok((
        Sample {
            init,
            cold: answer.at - started,
        },
        format!("{}: {what}", answer.kind),
    ))
}

/// An error answer saying `reason`, after no request to AWS.
fn refused(answer: &Answer, others: &[Request], reason: &str) -> Result<String, String> {
    let body = String::from_utf8_lossy(&answer.body);
    if answer.kind == "error" && body.contains(reason) && others.is_empty() {
        Ok(reason.to_owned())
    } else {
        Err(format!(
            "expected an error saying {reason:?} and no AWS call, got {} {body} after {}",
            answer.kind,
            describe(others)
        ))
    }
}

fn status_code(answer: &Answer, expected: u64) -> Result<String, String> {
    let body = answer.json()?;
    match body["statusCode"].as_u64() {
        Some(code) if code == expected => Ok(format!("HTTP {code}")),
        _ => Err(format!("expected statusCode {expected}, got {body}")),
    }
}

fn is_s3_list(request: &Request) -> bool {
    request.method == "GET" && request.target.contains("list-type=2")
}

fn describe(requests: &[Request]) -> String {
    if requests.is_empty() {
        return "no other request".into();
    }
    requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect::<Vec<_>>()
        .join(", ")
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|line| format!("    {line}\n"))
        .collect()
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

/// Nearest rank: the smallest sample with at least `p` of them at or below it.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn print_table(functions: &[Measured]) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mb = |bytes: u64| bytes as f64 / 1e6;
    println!(
        "\n{:<20} {:>9} {:>8} {:>5} {:>12} {:>10} {:>12} {:>10}  first answer",
        "function", "binary", "zip", "runs", "init median", "init p90", "cold median", "cold p90"
    );
    for f in functions {
        let mut init: Vec<Duration> = f.samples.iter().map(|s| s.init).collect();
        let mut cold: Vec<Duration> = f.samples.iter().map(|s| s.cold).collect();
        init.sort();
        cold.sort();
        let stats = if cold.is_empty() {
            format!("{:>12} {:>10} {:>12} {:>10}", "-", "-", "-", "-")
        } else {
            format!(
                "{:>9.1} ms {:>7.1} ms {:>9.1} ms {:>7.1} ms",
                ms(percentile(&init, 0.5)),
                ms(percentile(&init, 0.9)),
                ms(percentile(&cold, 0.5)),
                ms(percentile(&cold, 0.9))
            )
        };
        println!(
            "{:<20} {:>6.1} MB {:>5.1} MB {:>5} {stats}  {}",
            f.name,
            mb(f.binary_size),
            mb(f.zip_size),
            f.samples.len(),
            f.answer.as_deref().unwrap_or("-")
        );
    }
    for f in functions {
        if let Some(failure) = &f.failure {
            println!("\n{} FAILED: {failure}", f.name);
        }
    }
}

// ---------------------------------------------------------------------------
// The Lambda Runtime API, just what a runtime's first invocation needs, plus
// the fake S3 listing and the CloudFormation ResponseURL. HTTP/1.1 with
// keep-alive, one thread per connection.

/// The event being served, and where to report what the function does.
struct Invocation {
    request_id: String,
    function_arn: String,
    event: Arc<Vec<u8>>,
    delivered: AtomicBool,
    seen: mpsc::Sender<Seen>,
}

enum Seen {
    /// The first `GET .../invocation/next`.
    Next(Instant),
    Answer(Answer),
    /// Anything else: an SDK call or the CloudFormation response.
    Other(Request),
}

/// The POST that ends an invocation (or the init).
struct Answer {
    at: Instant,
    kind: &'static str,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Result<Value, String> {
        if self.kind != "response" {
            return Err(format!("{}", String::from_utf8_lossy(&self.body)));
        }
        serde_json::from_slice(&self.body).map_err(|e| format!("the answer is not JSON: {e}"))
    }
}

struct Request {
    /// When its first line arrived.
    at: Instant,
    method: String,
    target: String,
    body: Vec<u8>,
}

type Current = Arc<Mutex<Option<Arc<Invocation>>>>;

struct Server {
    port: u16,
    current: Current,
}

impl Server {
    fn start() -> io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let current: Current = Arc::default();
        let shared = Arc::clone(&current);
        // Lives as long as the bench process.
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let current = Arc::clone(&shared);
                thread::spawn(move || serve(stream, &current));
            }
        });
        Ok(Server { port, current })
    }
}

fn serve(stream: TcpStream, current: &Current) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Ok(Some(request)) = read_request(&mut reader) {
        let invocation = current.lock().ok().and_then(|c| c.clone());
        let Some(invocation) = invocation else {
            // Between runs: only a killed function's leftovers get here.
            let _ = respond(&mut writer, "503 Service Unavailable", &[], b"");
            return;
        };
        if route(request, &invocation, &mut reader, &mut writer).is_err() {
            return;
        }
    }
}

/// Answers one request; `Err` ends the connection.
fn route(
    request: Request,
    invocation: &Invocation,
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> io::Result<()> {
    let target = request.target.as_str();
    if request.method == "GET" && target == format!("{RUNTIME}/invocation/next") {
        if invocation.delivered.swap(true, Ordering::SeqCst) {
            // The event after the first never comes, as in an idle
            // environment: held until the function is killed.
            io::copy(reader, &mut io::sink())?;
            return Err(io::Error::other("the function closed a held next"));
        }
        let _ = invocation.seen.send(Seen::Next(request.at));
        let deadline = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            + Duration::from_secs(300);
        return respond(
            writer,
            "200 OK",
            &[
                ("Content-Type", "application/json".into()),
                (
                    "Lambda-Runtime-Aws-Request-Id",
                    invocation.request_id.clone(),
                ),
                (
                    "Lambda-Runtime-Deadline-Ms",
                    deadline.as_millis().to_string(),
                ),
                (
                    "Lambda-Runtime-Invoked-Function-Arn",
                    invocation.function_arn.clone(),
                ),
                (
                    "Lambda-Runtime-Trace-Id",
                    "Root=1-4cf5b148-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=0"
                        .into(),
                ),
            ],
            &invocation.event,
        );
    }
    let invocation_path = format!("{RUNTIME}/invocation/{}/", invocation.request_id);
    let kind = match target.strip_prefix(&invocation_path) {
        Some("response") => Some("response"),
        Some("error") => Some("error"),
        _ if target == format!("{RUNTIME}/init/error") => Some("init error"),
        _ => None,
    };
    if let (Some(kind), "POST") = (kind, request.method.as_str()) {
        let accepted = respond(
            writer,
            "202 Accepted",
            &[("Content-Type", "application/json".into())],
            br#"{"status":"OK"}"#,
        );
        let _ = invocation.seen.send(Seen::Answer(Answer {
            at: request.at,
            kind,
            body: request.body,
        }));
        return accepted;
    }
    let answered = if target.starts_with(CFN_RESPONSE) {
        respond(writer, "200 OK", &[], b"")
    } else if is_s3_list(&request) {
        respond(
            writer,
            "200 OK",
            &[("Content-Type", "application/xml".into())],
            br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bench-bulk-import</Name><Prefix>incoming/</Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>"#,
        )
    } else {
        // An AWS call this bench did not expect: a client error, which the
        // SDK does not retry, so the function answers fast and the check fails.
        respond(
            writer,
            "400 Bad Request",
            &[("Content-Type", "application/json".into())],
            br#"{"__type":"ValidationException","message":"not served by the cold_start bench"}"#,
        )
    };
    let _ = invocation.seen.send(Seen::Other(request));
    answered
}

/// Reads one request; `None` when the peer closed the connection.
fn read_request(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let at = Instant::now();
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(io::Error::other(format!(
            "not an HTTP request line: {line:?}"
        )));
    };
    let (method, target) = (method.to_owned(), target.to_owned());
    let mut headers = BTreeMap::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
    {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = line.trim_end().split(';').next().unwrap_or_default();
            let size = usize::from_str_radix(size.trim(), 16)
                .map_err(|_| io::Error::other(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    line.clear();
                    if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            let mut crlf = [0; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else if let Some(length) = headers.get("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| io::Error::other(format!("bad content-length {length:?}")))?;
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(Some(Request {
        at,
        method,
        target,
        body,
    }))
}

fn respond(
    writer: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut message = head.into_bytes();
    message.extend_from_slice(body);
    writer.write_all(&message)?;
    writer.flush()
}
