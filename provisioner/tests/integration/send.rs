//! `provisioner send` against a local HTTP server started by each test on
//! 127.0.0.1 that plays the ingest API (lambdas/ingest: validates each
//! item with `record`, answers 200/207/422/503 with the per-item report)
//! with scripted faults: 503 and 429 before the first answer, items the
//! stream "fails" once, a rule only the server knows (it rejects the
//! country `Narnia`), or a refusal. It records every request.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use provisioner::failure::ExitCode;
use provisioner::send::client::{RetryPolicy, Target};
use provisioner::send::progress::PlainRows;
use provisioner::send::{self, SendOptions};
use serde_json::value::RawValue;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::support;

const REGION: &str = "eu-west-1";

/// A request as the server received it.
#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn items(&self) -> Vec<String> {
        let items: Vec<Box<RawValue>> = serde_json::from_str(&self.body).unwrap();
        items.into_iter().map(|i| i.get().to_owned()).collect()
    }
}

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

type Responder = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

/// An HTTP/1.1 server (keep-alive, Content-Length bodies) answering with
/// `respond(request, number)`; stops with the test's runtime.
struct Server {
    url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Server {
    async fn start(respond: Arc<Responder>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (recorded, respond) = (recorded.clone(), respond.clone());
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut read = BufReader::new(read);
                    while let Some(request) = read_request(&mut read).await {
                        let number = {
                            let mut all = recorded.lock().unwrap();
                            all.push(request.clone());
                            all.len() - 1
                        };
                        let reply = respond(&request, number);
                        let mut head = format!(
                            "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
                            reply.status,
                            reply.body.len()
                        );
                        for (name, value) in &reply.headers {
                            head.push_str(&format!("{name}: {value}\r\n"));
                        }
                        head.push_str("\r\n");
                        if write.write_all(head.as_bytes()).await.is_err()
                            || write.write_all(reply.body.as_bytes()).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        Server { url, requests }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    fn target(&self) -> Target {
        Target {
            url: format!("{}/transactions", self.url).parse().unwrap(),
            region: REGION.to_owned(),
            credentials: SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "test",
            )),
        }
    }
}

async fn read_request(read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<Recorded> {
    let mut line = String::new();
    read.read_line(&mut line).await.ok().filter(|n| *n > 0)?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        read.read_line(&mut line).await.ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; length];
    read.read_exact(&mut body).await.ok()?;
    Some(Recorded {
        path,
        headers,
        body: String::from_utf8(body).unwrap(),
    })
}

/// The `Authorization` header SigV4 gives `request` with the test
/// credentials at its `x-amz-date`: what API Gateway's IAM auth checks.
fn expected_authorization(request: &Recorded) -> String {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let date = request.header("x-amz-date").expect("x-amz-date");
    let number = |range: std::ops::Range<usize>| date[range].parse::<i64>().unwrap();
    let (y, m, d) = (number(0..4), number(4..6), number(6..8));
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant).
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * m + 2) / 5 + d - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + number(9..11) * 3600 + number(11..13) * 60 + number(13..15);
    let time = std::time::UNIX_EPOCH + Duration::from_secs(seconds as u64);
    let identity = Credentials::new("testing", "testing", None, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("execute-api")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let host = request.header("host").expect("host");
    let url = format!("http://{host}{}", request.path);
    let headers = [("content-type", "application/json"), ("host", host)];
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.into_iter(),
        SignableBody::Bytes(request.body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut signed = hyper::Request::new(());
    instructions.apply_to_request_http1x(&mut signed);
    signed.headers()["authorization"]
        .to_str()
        .unwrap()
        .to_owned()
}

fn json_reply(status: u16, body: serde_json::Value) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: body.to_string(),
    }
}

/// The ingest API's answer to `items`: each validated by `record`, the
/// `Narnia` rule only this server knows, and `fail(item)` for items the
/// stream does not store; the status as lambdas/ingest/src/response.rs
/// chooses it.
fn ingest(items: &[String], fail: impl Fn(&str) -> bool, stream: &Mutex<Vec<String>>) -> Reply {
    let mut errors = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match record::Transaction::from_json(item) {
            Err(e) => errors.push(serde_json::json!({"index": index, "status": "rejected",
                "field": e.field().map(|f| f.header()), "reason": e.to_string()})),
            Ok(t) if t.country == "Narnia" => errors.push(serde_json::json!({"index": index,
                "status": "rejected", "field": "Country",
                "reason": "Country \"Narnia\" is not a country we ship to"})),
            Ok(_) if fail(item) => errors.push(serde_json::json!({"index": index,
                "status": "failed", "field": null, "code": "ProvisionedThroughputExceededException",
                "reason": "the stream did not store the transaction (ProvisionedThroughputExceededException)"})),
            Ok(_) => stream.lock().unwrap().push(item.clone()),
        }
    }
    let count = |s: &str| errors.iter().filter(|e| e["status"] == s).count();
    let (rejected, failed) = (count("rejected"), count("failed"));
    let accepted = items.len() - rejected - failed;
    let status = if accepted == 0 && failed > 0 {
        503
    } else if rejected + failed == 0 {
        200
    } else if accepted == 0 {
        422
    } else {
        207
    };
    let mut reply = json_reply(
        status,
        serde_json::json!({"message": "test", "received": items.len(), "accepted": accepted,
            "rejected": rejected, "failed": failed, "errors": errors, "records": []}),
    );
    if status == 503 {
        reply.headers.push(("Retry-After", "0".to_owned()));
    }
    reply
}

/// Rows the local validation rejects (lines 3 to 7, with the field at
/// fault), rows only the server rejects (`Narnia`, lines 8 and 9), and a
/// valid row (line 2), in the original file's date format.
const BROKEN: &str = "\
InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536370,22728,ALARM CLOCK BAKELIKE PINK,24,12/1/2010 8:45,3.75,12583,France
536370,22727,ALARM CLOCK BAKELIKE RED,24,13/45/2010 8:45,3.75,12583,France
C536371,22728,ALARM CLOCK BAKELIKE PINK,5,12/1/2010 9:00,3.75,12583,France
536372,22729,\"RED, WHITE AND BLUE\",1,12/1/2010 9:01,-2.00,,United Kingdom
536373,,NO STOCK CODE,1,12/1/2010 9:02,1.00,,United Kingdom
536374,22730,UNQUOTED, COMMA,1,12/1/2010 9:03,1.00,,United Kingdom
536375,22731,NARNIA LAMP POST,2,12/1/2010 9:04,5.00,12345,Narnia
536376,22732,NARNIA WARDROBE,1,12/1/2010 9:05,99.00,,Narnia
";

fn locally_invalid(broken: &Path) -> Vec<(String, u64, String)> {
    let file = broken.display().to_string();
    [
        (3, "InvoiceDate"),
        (4, "Quantity"),
        (5, "UnitPrice"),
        (6, "StockCode"),
        (7, ""),
    ]
    .map(|(line, field)| (file.clone(), line, field.to_owned()))
    .to_vec()
}

fn write_broken(dir: &Path) -> PathBuf {
    let path = dir.join("broken.csv");
    std::fs::write(&path, BROKEN).unwrap();
    path
}

fn fast_retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(20),
        timeout: Duration::from_secs(10),
    }
}

fn options(dir: &Path, batch_size: usize, max_attempts: u32) -> SendOptions {
    SendOptions {
        batch_size,
        concurrency: 3,
        retry: fast_retries(max_attempts),
        rejected_file: dir.join("rejected.csv"),
        output: provisioner::output::Format::Text,
    }
}

/// (file, line, field, reason) of each row of the rejected file.
fn rejected_rows(path: &Path) -> Vec<(String, u64, String, String)> {
    // Flexible: a row with more columns than its header keeps them after
    // the reason.
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .unwrap();
    let headers = reader.headers().unwrap().clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        [
            "file",
            "line",
            "InvoiceNo",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "UnitPrice",
            "CustomerID",
            "Country",
            "field",
            "reason"
        ]
    );
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[0].to_owned(),
                r[1].parse().unwrap(),
                r[10].to_owned(),
                r[11].to_owned(),
            )
        })
        .collect()
}

async fn run_send(
    files: &[PathBuf],
    server: &Server,
    options: &SendOptions,
) -> (Result<(), provisioner::failure::Failure>, String) {
    let input = send::read_input(files).unwrap();
    let progress = PlainRows::new(Vec::new(), Duration::ZERO);
    let mut out = Vec::new();
    let result = send::send(
        input,
        Some(server.target()),
        options,
        Instant::now(),
        &mut out,
        &progress,
    )
    .await;
    (result, String::from_utf8(out).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_is_accepted_once_or_written_to_the_rejected_file_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let broken = write_broken(dir.path());
    let sample = record::sample::path("2010-12-01.csv");
    // 503 and 429 before any answer; then every tenth item of a request
    // is failed by the stream the first time it is seen.
    let failed_once = Arc::new(Mutex::new(HashSet::new()));
    let seen = failed_once.clone();
    let stream = Arc::new(Mutex::new(Vec::new()));
    let stored = stream.clone();
    let server = Server::start(Arc::new(move |request: &Recorded, number| match number {
        0 => json_reply(503, serde_json::json!({"message": "Service Unavailable"})),
        1 => Reply {
            status: 429,
            headers: vec![("Retry-After", "0".to_owned())],
            body: "{\"message\":\"Too Many Requests\"}".to_owned(),
        },
        _ => {
            let items = request.items();
            let ten = |item: &str| items.iter().position(|i| i == item).unwrap() % 10 == 3;
            let fail = |item: &str| ten(item) && seen.lock().unwrap().insert(item.to_owned());
            ingest(&items, fail, &stored)
        }
    }))
    .await;
    let options = options(dir.path(), 200, 4);
    let (result, out) = run_send(&[sample.clone(), broken.clone()], &server, &options).await;
    result.unwrap_or_else(|f| panic!("{f}\n{out}"));

    let requests = server.requests();
    for request in &requests {
        assert_eq!(request.path, "/v1/transactions");
        assert!(
            request.items().len() <= 200,
            "a batch holds at most 200 rows"
        );
        assert_eq!(request.header("content-type"), Some("application/json"));
        let authorization = request.header("authorization").expect("signed");
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=testing/")
                && authorization.contains(&format!("/{REGION}/execute-api/aws4_request")),
            "{authorization}"
        );
        assert_eq!(
            authorization,
            expected_authorization(request),
            "a valid signature"
        );
    }
    for (first, status) in [(0, 503), (1, 429)] {
        assert!(
            requests[first + 1..]
                .iter()
                .any(|r| r.body == requests[first].body),
            "the batch answered {status} is resent whole"
        );
    }

    // Every valid row was accepted exactly once, the items the stream
    // failed included (resent unchanged).
    let expected: Vec<String> = record::sample::transactions("2010-12-01.csv")
        .iter()
        .map(|t| t.to_json())
        .chain(
            record::CsvTransactions::new(BROKEN.as_bytes())
                .unwrap()
                .filter_map(|row| row.unwrap().result.ok())
                .filter(|t| t.country != "Narnia")
                .map(|t| t.to_json()),
        )
        .collect();
    assert!(
        !failed_once.lock().unwrap().is_empty(),
        "the stream failed some items"
    );
    // Each item carries its idempotency key, FILE_NAME:LINE, once.
    let keyed: Vec<record::KeyedTransaction> = stream
        .lock()
        .unwrap()
        .iter()
        .map(|item| record::KeyedTransaction::from_json(item).unwrap())
        .collect();
    let mut keys: Vec<&str> = keyed
        .iter()
        .map(|k| k.idempotency_key.as_deref().expect("every item has a key"))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), keyed.len(), "one key per line");
    assert!(keys.contains(&"2010-12-01.csv:2"), "{:?}", &keys[..3]);
    let mut accepted: Vec<String> = keyed.iter().map(|k| k.transaction.to_json()).collect();
    accepted.sort();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert_eq!(accepted, expected_sorted, "each valid row accepted once");

    // The rejected file: the locally invalid rows and the two the API
    // rejected, each with its field and a reason.
    let rows = rejected_rows(&options.rejected_file);
    let mut found: Vec<(String, u64, String)> = rows
        .iter()
        .map(|(file, line, field, _)| (file.clone(), *line, field.clone()))
        .collect();
    found.sort();
    let mut wanted = locally_invalid(&broken);
    let file = broken.display().to_string();
    wanted.extend([
        (file.clone(), 8, "Country".into()),
        (file, 9, "Country".into()),
    ]);
    wanted.sort();
    assert_eq!(found, wanted);
    assert!(rows.iter().all(|(.., reason)| !reason.is_empty()));
    assert!(rows.iter().any(|(.., r)| r.contains("Narnia")), "{rows:?}");

    let read = 3108 + 8;
    assert!(
        out.contains(&format!("rows read         {read:>9}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("accepted          {:>9}", expected.len())),
        "{out}"
    );
    assert!(
        out.contains(&format!("rejected by API   {:>9}", 2)),
        "{out}"
    );
    assert!(
        out.contains(&format!("failed            {:>9}", 0)),
        "{out}"
    );
    assert!(out.contains("rejected rows written to"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_the_api_rejects_entirely_is_a_422_written_to_the_rejected_file_and_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let narnia = dir.path().join("narnia.csv");
    std::fs::write(
        &narnia,
        BROKEN
            .lines()
            .enumerate()
            .filter(|(i, _)| *i == 0 || *i >= 7)
            .map(|(_, l)| format!("{l}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let server = Server::start(Arc::new(|request: &Recorded, _| {
        ingest(&request.items(), |_| false, &Mutex::default())
    }))
    .await;
    let options = options(dir.path(), 500, 4);
    let (result, out) = run_send(&[narnia], &server, &options).await;
    result.unwrap_or_else(|f| panic!("{f}\n{out}"));
    assert_eq!(server.requests().len(), 1, "a 422 is not resent");
    let rows = rejected_rows(&options.rejected_file);
    assert_eq!(
        rows.iter().map(|r| (r.1, r.2.as_str())).collect::<Vec<_>>(),
        [(2, "Country"), (3, "Country")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_still_failing_after_the_last_attempt_go_to_the_rejected_file_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let broken = write_broken(dir.path());
    let server = Server::start(Arc::new(|_: &Recorded, _| {
        json_reply(502, serde_json::json!({"message": "Internal server error"}))
    }))
    .await;
    let options = options(dir.path(), 500, 3);
    let (result, out) = run_send(&[broken], &server, &options).await;
    let failure = result.expect_err("undelivered rows fail the run");
    assert_eq!(failure.code, ExitCode::Failed);
    assert!(
        failure.to_string().contains("3 rows were not delivered"),
        "{failure}"
    );
    assert_eq!(server.requests().len(), 3, "bounded attempts");
    let rows = rejected_rows(&options.rejected_file);
    let undelivered: Vec<_> = rows.iter().filter(|r| r.2.is_empty() && r.1 != 7).collect();
    assert_eq!(
        undelivered.iter().map(|r| r.1).collect::<Vec<_>>(),
        [2, 8, 9],
        "{rows:?}"
    );
    assert!(
        undelivered
            .iter()
            .all(|r| r.3.starts_with("not delivered after 3 attempts: HTTP 502")),
        "{undelivered:?}"
    );
    assert!(
        out.contains(&format!("failed            {:>9}", 3)),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_stops_the_run_and_every_unsent_row_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let sample = record::sample::path("2010-12-02.csv");
    let server = Server::start(Arc::new(|_: &Recorded, _| {
        json_reply(
            403,
            serde_json::json!({"message": "Missing Authentication Token"}),
        )
    }))
    .await;
    let mut options = options(dir.path(), 100, 4);
    options.concurrency = 1;
    let (result, out) = run_send(&[sample], &server, &options).await;
    let failure = result.expect_err("a refusal fails the run");
    assert_eq!(failure.code, ExitCode::Failed);
    assert!(failure.to_string().contains("403"), "{failure}");
    assert_eq!(
        server.requests().len(),
        1,
        "not resent, and the run stopped"
    );
    let valid = record::sample::transactions("2010-12-02.csv").len();
    assert_eq!(rejected_rows(&options.rejected_file).len(), valid);
    assert!(
        out.contains(&format!("sent              {:>9}  in 1 requests", 100)),
        "{out}"
    );
    assert!(
        out.contains(&format!("failed            {valid:>9}")),
        "{out}"
    );
}

#[tokio::test]
async fn an_earlier_rejected_file_is_never_overwritten_and_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let broken = write_broken(dir.path());
    let server = Server::start(Arc::new(|request: &Recorded, _| {
        ingest(&request.items(), |_| false, &Mutex::default())
    }))
    .await;
    let options = options(dir.path(), 500, 3);
    std::fs::write(&options.rejected_file, "kept").unwrap();
    let (result, _) = run_send(&[broken], &server, &options).await;
    let failure = result.expect_err("refused");
    assert_eq!(failure.code, ExitCode::Usage);
    assert!(failure.to_string().contains("--rejected-file"), "{failure}");
    assert!(server.requests().is_empty());
    assert_eq!(
        std::fs::read_to_string(&options.rejected_file).unwrap(),
        "kept"
    );
}

/// `provisioner send ARGS` in `dir`, with test credentials.
async fn cli(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_provisioner"));
    command
        .args(["send", "--region", REGION])
        .args(args)
        .current_dir(dir)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .stdin(std::process::Stdio::null());
    command.output().await.expect("provisioner runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sends_signed_batches_and_prints_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    write_broken(dir.path());
    let server = Server::start(Arc::new(|request: &Recorded, _| {
        ingest(&request.items(), |_| false, &Mutex::default())
    }))
    .await;
    let output = cli(
        dir.path(),
        &["--api-url", &server.url, "--batch-size", "2", "broken.csv"],
    )
    .await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(server.requests().len(), 2, "3 valid rows in batches of 2");
    assert!(
        stdout.contains(&format!("accepted          {:>9}", 1)),
        "{stdout}"
    );
    assert!(
        stdout.contains("rejected rows written to rejected.csv (7 rows"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(FILE:LINE): sent again, none is stored twice"),
        "{stdout}"
    );
    assert!(
        stderr.contains("sent 3 of 3 rows ("),
        "plain progress: {stderr}"
    );
    assert!(dir.path().join("rejected.csv").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_file_or_one_not_the_retailers_is_exit_2_and_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    write_broken(dir.path());
    std::fs::write(dir.path().join("customers.csv"), "id,name\n1,Ann\n").unwrap();
    let server = Server::start(Arc::new(|request: &Recorded, _| {
        ingest(&request.items(), |_| false, &Mutex::default())
    }))
    .await;
    for (file, says) in [
        ("missing.csv", "reading missing.csv"),
        ("customers.csv", "customers.csv is not a transactions CSV"),
    ] {
        let output = cli(dir.path(), &["--api-url", &server.url, "broken.csv", file]).await;
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(stderr.contains("nothing was sent"), "{stderr}");
    }
    assert!(server.requests().is_empty());
    assert!(!dir.path().join("rejected.csv").exists());
}

#[tokio::test]
async fn a_dry_run_validates_writes_the_invalid_rows_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broken = write_broken(dir.path());
    let output = cli(dir.path(), &["--dry-run", "broken.csv"]).await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(
        output.status.code(),
        Some(1),
        "a dry run with invalid rows fails, to gate a pipeline: {stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("5 rows are invalid; they are in rejected.csv"),
        "{stderr}"
    );
    assert!(stdout.contains("dry run: nothing sent"), "{stdout}");
    assert!(
        stdout.contains(&format!("valid             {:>9}", 3)),
        "{stdout}"
    );
    let rows = rejected_rows(&dir.path().join("rejected.csv"));
    let found: Vec<(u64, String)> = rows.iter().map(|r| (r.1, r.2.clone())).collect();
    let wanted: Vec<(u64, String)> = locally_invalid(&broken)
        .into_iter()
        .map(|(_, line, field)| (line, field))
        .collect();
    assert_eq!(found, wanted);
    assert!(rows.iter().all(|r| r.0 == "broken.csv"));
}

/// The URL comes from the deployed Api stack's `ApiUrl` output, the stack
/// named by the synth manifest, looked up through CloudFormation (moto).
/// moto gives stacks created through change sets no outputs, so the test
/// creates the Api stack directly, with its URL pointing at the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_url_is_the_deployed_api_stacks_output_or_a_clear_error() {
    let moto = support::Moto::start();
    let dir = tempfile::tempdir().unwrap();
    support::synth_dev_stage(&dir.path().join("synth"));
    write_broken(dir.path());
    let server = Server::start(Arc::new(|request: &Recorded, _| {
        ingest(&request.items(), |_| false, &Mutex::default())
    }))
    .await;
    let send = |rejected: &'static str| {
        let mut command = moto.command(&[
            "send",
            "--synth-dir",
            "synth",
            "--rejected-file",
            rejected,
            "broken.csv",
        ]);
        command.current_dir(dir.path());
        tokio::process::Command::from(command).output()
    };

    let output = send("first.csv").await.unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("stack retail-dev-api does not exist in eu-west-1")
            && stderr.contains("deploy the stage first (`provisioner deploy --stage dev`)"),
        "{stderr}"
    );

    let cloudformation = moto.cloudformation();
    let template = |outputs: serde_json::Value| {
        serde_json::json!({
            "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": outputs,
        })
        .to_string()
    };
    cloudformation
        .create_stack()
        .stack_name("retail-dev-api")
        .template_body(template(serde_json::json!({})))
        .send()
        .await
        .unwrap();
    let output = send("second.csv").await.unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("has no ApiUrl output"), "{stderr}");

    cloudformation
        .update_stack()
        .stack_name("retail-dev-api")
        .template_body(template(
            serde_json::json!({"ApiUrl": {"Value": server.url.clone()}}),
        ))
        .send()
        .await
        .unwrap();
    let output = send("third.csv").await.unwrap();
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    assert_eq!(server.requests().len(), 1, "the 3 valid rows in one batch");
    assert!(!dir.path().join("first.csv").exists() && !dir.path().join("second.csv").exists());
    assert!(dir.path().join("third.csv").exists());
}

/// `provisioner send` in `dir` with no credentials anywhere: no keys in
/// the environment, no profile files, no instance metadata.
async fn cli_without_credentials(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_provisioner"));
    command
        .args(["send", "--region", REGION])
        .args(args)
        .current_dir(dir)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env("HOME", dir)
        .env("AWS_CONFIG_FILE", dir.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(std::process::Stdio::null());
    command.output().await.expect("provisioner runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credentials_is_exit_2_before_any_request_and_no_rejected_file() {
    let dir = tempfile::tempdir().unwrap();
    write_broken(dir.path());
    let server = Server::start(Arc::new(|request: &Recorded, _| {
        ingest(&request.items(), |_| false, &Mutex::default())
    }))
    .await;
    let output =
        cli_without_credentials(dir.path(), &["--api-url", &server.url, "broken.csv"]).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no AWS credentials to sign the requests with")
            && stderr.contains("configure credentials")
            && stderr.contains("nothing was sent"),
        "{stderr}"
    );
    assert!(!stderr.contains("refused"), "{stderr}");
    assert!(server.requests().is_empty());
    assert!(!dir.path().join("rejected.csv").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_api_url_is_exit_2_at_once_and_no_row_is_blamed() {
    let dir = tempfile::tempdir().unwrap();
    write_broken(dir.path());
    // A port nothing listens on: bound, then released.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let started = Instant::now();
    let output = cli(
        dir.path(),
        &["--api-url", &format!("http://{closed}/v1"), "broken.csv"],
    )
    .await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no resends: {:?}",
        started.elapsed()
    );
    assert!(
        stderr.contains(&format!(
            "the API at http://{closed}/v1/transactions is not reachable"
        )) && stderr.contains("check --api-url"),
        "{stderr}"
    );
    assert!(text(&output.stdout).is_empty(), "no summary of rows sent");
    assert!(!dir.path().join("rejected.csv").exists());
}

#[tokio::test]
async fn the_rejected_file_keeps_extra_columns_and_bytes_that_are_not_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let mut day = format!("{}\n", record::CSV_HEADER).into_bytes();
    day.extend_from_slice(
        b"536365,85123A,WHITE HEART,6,12/1/2010 8:26,2.55,17850.0,United Kingdom,SURPLUS\n",
    );
    day.extend_from_slice(
        b"536366,22633,HAND \xff WARMER,6,12/1/2010 8:28,1.85,17850.0,United Kingdom\n",
    );
    day.extend_from_slice(b"536367,22634,OK ROW,6,12/1/2010 8:29,1.85,17850.0,United Kingdom\n");
    std::fs::write(dir.path().join("day.csv"), &day).unwrap();

    let output = cli(dir.path(), &["--dry-run", "day.csv"]).await;
    assert_eq!(output.status.code(), Some(1), "{}", text_of(&output));
    let written = std::fs::read(dir.path().join("rejected.csv")).unwrap();
    let lines: Vec<&[u8]> = written.split(|b| *b == b'\n').collect();
    assert_eq!(
        lines.len(),
        4,
        "header, 2 rows, end: {:?}",
        String::from_utf8_lossy(&written)
    );
    assert!(
        lines[1].ends_with(b",SURPLUS"),
        "the 9th column is kept: {:?}",
        String::from_utf8_lossy(lines[1])
    );
    assert!(
        lines[2].windows(13).any(|w| w == b"HAND \xff WARMER"),
        "the byte is kept as it came: {:?}",
        String::from_utf8_lossy(lines[2])
    );

    // Sent again unfixed, both rows are rejected again, neither counts as valid.
    let output = cli(
        dir.path(),
        &["--dry-run", "--rejected-file", "again.csv", "rejected.csv"],
    )
    .await;
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{}", text_of(&output));
    assert!(
        stdout.contains(&format!("rejected locally  {:>9}", 2)),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("valid             {:>9}", 0)),
        "{stdout}"
    );
    let again = std::fs::read(dir.path().join("again.csv")).unwrap();
    let again: Vec<&[u8]> = again.split(|b| *b == b'\n').collect();
    assert!(
        again[1].ends_with(b",SURPLUS"),
        "{:?}",
        String::from_utf8_lossy(again[1])
    );
    assert!(again[2].windows(13).any(|w| w == b"HAND \xff WARMER"));
}

#[tokio::test]
async fn a_rejected_file_left_empty_by_an_interrupted_run_does_not_block_the_next() {
    let dir = tempfile::tempdir().unwrap();
    write_broken(dir.path());
    let header = format!("file,line,{},field,reason\n", record::CSV_HEADER);
    for leftover in ["", header.as_str()] {
        std::fs::write(dir.path().join("rejected.csv"), leftover).unwrap();
        let output = cli(dir.path(), &["--dry-run", "broken.csv"]).await;
        assert_eq!(output.status.code(), Some(1), "{}", text_of(&output));
        assert_eq!(rejected_rows(&dir.path().join("rejected.csv")).len(), 5);
    }
}

fn text_of(output: &std::process::Output) -> String {
    format!("{}\n{}", text(&output.stdout), text(&output.stderr))
}
