//! The platform runs: the dev stage deployed on fakecloud with its real
//! Lambda binaries (built by cargo-lambda, run by `lambda-host`), the whole
//! December 2010 sample sent through the deployed API, and every row
//! accounted for in DynamoDB and the lake, through the event source
//! mappings, environments, batch sizes and failure settings of the
//! synthesised templates. While the first day is sent, the stream's
//! consumers are denied their stores (IAM, which the emulator enforces in
//! strict mode): the mappings retry, and afterwards every row is still
//! there exactly once.
//!
//! Needs fakecloud (`scripts/install-tools.sh --fakecloud`; `scripts/test`
//! does it) and cargo-lambda. About 80 s with the functions built.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use provisioner::local::platform::Platform;
use provisioner::local::{self, Expected, Tools};

/// Denies the writers their stores: what an outage of DynamoDB and S3
/// looks like to them (every write refused).
const OUTAGE_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["dynamodb:BatchWriteItem","dynamodb:PutItem","s3:PutObject"],"Resource":"*"}]}"#;
const OUTAGE: &str = "e2e-outage";
/// The outage lasts until each writer has failed this many invocations
/// (its own log says so): several retries by each mapping, short of its
/// retry attempts (MaximumRetryAttempts, 5) running out.
const FAILED_INVOCATIONS: usize = 3;
/// Each writer function (its logical id) and what it logs once per batch
/// the outage refuses (the DynamoDB writer's failure store, S3, is down
/// too).
const WRITER_FAILURES: [(&str, &str); 2] = [
    (
        "DynamodbWriterFunction",
        "could not save the records given up on",
    ),
    ("LakeWriterFunction", "writing lake object failed"),
];

fn tools() -> Tools {
    let provisioner = PathBuf::from(env!("CARGO_BIN_EXE_provisioner"));
    let target = provisioner.parent().and_then(|p| p.parent()).unwrap();
    Tools {
        fakecloud: local::emulator::find_fakecloud(target).unwrap_or_else(|e| panic!("{e:#}")),
        lambda_host: PathBuf::from(env!("CARGO_BIN_EXE_lambda-host")),
        provisioner,
    }
}

/// The physical ids of the Streaming stack's `logical` resources.
async fn physical_ids(platform: &Platform, logical: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for logical in logical {
        let detail = platform
            .cloudformation
            .describe_stack_resource()
            .stack_name(format!("retail-{}-streaming", local::STAGE))
            .logical_resource_id(*logical)
            .send()
            .await
            .unwrap()
            .stack_resource_detail
            .unwrap();
        ids.push(detail.physical_resource_id.unwrap());
    }
    ids
}

async fn writer_roles(platform: &Platform) -> Vec<String> {
    physical_ids(platform, &["DynamodbWriterRole", "LakeWriterRole"])
        .await
        .into_iter()
        // A role's physical id is its name; fakecloud gives its ARN.
        .map(|id| id.rsplit('/').next().unwrap().to_string())
        .collect()
}

/// Each writer function's name, with what it logs per refused batch.
async fn writer_functions(platform: &Platform) -> Vec<(String, &'static str)> {
    let logical = WRITER_FAILURES.map(|(logical, _)| logical);
    physical_ids(platform, &logical)
        .await
        .into_iter()
        // A function's physical id is its name (or, from some emulators,
        // its ARN, which ends with the name).
        .map(|id| id.rsplit(':').next().unwrap().to_string())
        .zip(WRITER_FAILURES.map(|(_, failure)| failure))
        .collect()
}

/// Waits until each writer has logged [`FAILED_INVOCATIONS`] refused
/// batches: proof that the mappings retried through the outage, where a
/// fixed sleep would only assume the emulator's poll interval (fakecloud
/// 0.51 polls every 500 ms).
fn outlast(
    fakecloud: &local::emulator::Fakecloud,
    writers: &[(String, &str)],
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let logs = fakecloud.function_logs();
        let counts: Vec<(&str, usize)> = writers
            .iter()
            .map(|(writer, failure)| (writer.as_str(), failures_logged(&logs, writer, failure)))
            .collect();
        if counts.iter().all(|&(_, n)| n >= FAILED_INVOCATIONS) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "after {timeout:?}, refused batches logged per writer: {counts:?} (wanted {FAILED_INVOCATIONS} each)"
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Lines holding `failure` in the logs of the function named `writer`
/// (`Fakecloud::function_logs`: each container's log after a
/// `--- <function name>` line).
fn failures_logged(logs: &str, writer: &str, failure: &str) -> usize {
    let mut in_writer = false;
    let mut count = 0;
    for line in logs.lines() {
        if let Some(function) = line.strip_prefix("--- ") {
            in_writer = function == writer;
        } else if in_writer && line.contains(failure) {
            count += 1;
        }
    }
    count
}

#[test]
fn the_whole_sample_flows_through_the_deployed_platform_exactly_once_despite_an_outage() {
    let tools = tools();
    let work = tempfile::Builder::new()
        .prefix("e2e-local-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let fakecloud = tools.start_emulator(&["--iam", "strict"]).unwrap();
    let started = Instant::now();
    let fail = |what: &str| -> ! {
        panic!("{what}\nfunction output:\n{}", fakecloud.function_logs());
    };
    local::deploy_dev_stage(
        &tools,
        &fakecloud,
        &work.path().join("synth"),
        &mut std::io::stderr(),
    )
    .unwrap_or_else(|e| fail(&format!("{e:#}")));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let region = stacks::stage::Stage::named(local::STAGE).unwrap().region;
    let platform = runtime
        .block_on(Platform::connect(&fakecloud.url, region, local::STAGE))
        .unwrap();

    let files = record::sample::files();
    let (first_day, rest) = files.split_first().unwrap();
    let roles = runtime.block_on(writer_roles(&platform));
    let writers = runtime.block_on(writer_functions(&platform));
    for role in &roles {
        runtime
            .block_on(
                platform
                    .iam
                    .put_role_policy()
                    .role_name(role)
                    .policy_name(OUTAGE)
                    .policy_document(OUTAGE_POLICY)
                    .send(),
            )
            .unwrap();
    }
    let first = local::send(
        &tools,
        &fakecloud,
        &platform.names.api_url,
        std::slice::from_ref(first_day),
        &work.path().join("rejected-1.csv"),
    )
    .unwrap_or_else(|e| fail(&format!("{e:#}")));
    if let Err(short) = outlast(&fakecloud, &writers, Duration::from_secs(120)) {
        fail(&format!("the outage was never felt: {short}"));
    }
    let during = runtime.block_on(platform.tally()).unwrap();
    for role in &roles {
        runtime
            .block_on(
                platform
                    .iam
                    .delete_role_policy()
                    .role_name(role)
                    .policy_name(OUTAGE)
                    .send(),
            )
            .unwrap();
    }
    assert_eq!(
        (during.dynamodb_lines, during.lake_lines),
        (0, 0),
        "the outage let writes through: it proves nothing"
    );
    let others = local::send(
        &tools,
        &fakecloud,
        &platform.names.api_url,
        rest,
        &work.path().join("rejected-2.csv"),
    )
    .unwrap_or_else(|e| fail(&format!("{e:#}")));

    let accepted = first.accepted + others.accepted;
    let read = first.rows_read + others.rows_read;
    assert_eq!(read, 42_481, "the whole sample was read");
    assert_eq!(
        (first.failed, others.failed),
        (0, 0),
        "every row was delivered to the API"
    );
    assert_eq!(
        accepted + first.rejected + others.rejected,
        read,
        "every row accepted or rejected with its reason"
    );
    let tally = runtime
        .block_on(platform.settle(accepted, Duration::from_secs(900)))
        .unwrap();
    if tally.dynamodb_lines != accepted || tally.lake_lines != accepted {
        fail(&format!(
            "after {:?}: accepted {accepted}, stored {tally:?}",
            started.elapsed()
        ));
    }
    assert_eq!(tally.lake_line_ids, accepted, "no line twice in the lake");

    // The operator's own proof, on the deployed stage: the lake and
    // DynamoDB agree day by day (the emulator has no Redshift).
    let reconcile = tools
        .provisioner(
            &fakecloud.url,
            &[
                "reconcile",
                "--stage",
                local::STAGE,
                "--skip-redshift",
                "--output",
                "json",
            ],
        )
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&reconcile.stdout);
    assert_eq!(
        reconcile.status.code(),
        Some(0),
        "{report}\n{}",
        String::from_utf8_lossy(&reconcile.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    for store in ["lake", "dynamodb"] {
        let lines: u64 = report["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|day| day["counts"][store].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(
            lines, accepted,
            "reconcile counts every line in the {store}"
        );
    }

    let expected = Expected::of(&files).unwrap();
    let (invoice, customer) = expected.busiest().unwrap();
    for answer in runtime
        .block_on(local::ask(&platform, invoice, customer))
        .unwrap()
    {
        assert!(answer.correct(), "{answer:?}");
    }
    let transformed = runtime.block_on(platform.transform_stream()).unwrap();
    assert_eq!(
        transformed.records, accepted,
        "the stream holds each accepted row once"
    );
    assert_eq!(transformed.ok, accepted, "{transformed:?}");
    eprintln!(
        "e2e: {accepted} rows stored once in DynamoDB and the lake, {} s from an empty emulator",
        started.elapsed().as_secs()
    );
}
