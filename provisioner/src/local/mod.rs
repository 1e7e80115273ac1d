//! `provisioner local`: the dev stage on this machine, with its real Lambda
//! binaries, on fakecloud (an AWS emulator that runs Lambda code through
//! `lambda-host`). It synthesises and deploys the stage as a user would,
//! sends the December 2010 sample through the deployed API, waits for the
//! stream's consumers, runs the transform on what reached the stream, asks
//! both query routes, and prints what arrived where. The end-to-end test
//! (`tests/e2e_local.rs`) drives the same pieces.
//!
//! What the emulator cannot run is replaced in one place, [`stand_ins`].

pub mod emulator;
pub mod platform;
pub mod stand_ins;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

use crate::failure::{CommandResult, Failure};
use emulator::Fakecloud;
use platform::{Platform, Tally, Transformed};

/// The stage the local run deploys.
pub const STAGE: &str = "dev";

/// `provisioner local` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct LocalArgs {
    /// CSV files to send (`scripts/local` sends every day of the December
    /// 2010 sample, data/online-retail/*.csv).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Leave the emulator running at the end (its URL and process id are
    /// printed).
    #[arg(long)]
    pub keep: bool,
    /// Where the run's synth output, rejected rows and emulator log go.
    #[arg(long, default_value = "target/local")]
    pub work_dir: PathBuf,
    /// How long to wait for the stream's consumers after the last row was
    /// accepted.
    #[arg(long, default_value_t = 600)]
    pub settle_seconds: u64,
}

/// The programs a run needs: this CLI (run again for synth, deploy and
/// send, exactly as a user runs them), the container stand-in and fakecloud.
#[derive(Debug, Clone)]
pub struct Tools {
    pub provisioner: PathBuf,
    pub lambda_host: PathBuf,
    pub fakecloud: PathBuf,
}

impl Tools {
    /// Beside this executable (`cargo build -p provisioner` builds both);
    /// fakecloud as [`emulator::find_fakecloud`] finds it.
    pub fn beside_this_executable() -> anyhow::Result<Self> {
        let provisioner = std::env::current_exe().context("locating this executable")?;
        let bin_dir = provisioner
            .parent()
            .context("this executable has no folder")?;
        let lambda_host = bin_dir.join("lambda-host");
        if !lambda_host.is_file() {
            bail!(
                "{} is missing; build it with `cargo build -p provisioner --bins`",
                lambda_host.display()
            );
        }
        // target/<profile>/provisioner: the target folder is two up.
        let target = bin_dir.parent().unwrap_or(bin_dir);
        Ok(Tools {
            fakecloud: emulator::find_fakecloud(target)?,
            provisioner,
            lambda_host,
        })
    }

    pub fn start_emulator(&self, extra: &[&str]) -> anyhow::Result<Fakecloud> {
        Fakecloud::start(&self.fakecloud, &self.lambda_host, extra)
    }

    /// `provisioner ARGS` against the emulator at `url`, as a user runs it
    /// (`AWS_ENDPOINT_URL`, dummy credentials), its output passed through.
    pub fn provisioner(&self, url: &str, args: &[&str]) -> Command {
        let mut command = Command::new(&self.provisioner);
        command
            .args(args)
            .env("AWS_ENDPOINT_URL", url)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .stdin(Stdio::null());
        command
    }
}

/// Seconds each step of [`deploy_dev_stage`] took.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct DeployTimes {
    /// Building the functions (cached by source hash) and the templates.
    pub synth: f64,
    /// From the empty emulator to every stack created.
    pub deploy: f64,
}

/// Synthesises the dev stage into `synth_dir` with its real functions,
/// applies the [`stand_ins`], and deploys it to the emulator.
pub fn deploy_dev_stage(
    tools: &Tools,
    fakecloud: &Fakecloud,
    synth_dir: &Path,
    log: &mut dyn Write,
) -> anyhow::Result<DeployTimes> {
    let synth_dir_arg = synth_dir
        .to_str()
        .context("the synth folder is not UTF-8")?;
    let started = Instant::now();
    run_step(
        tools.provisioner(
            &fakecloud.url,
            &["synth", "--stage", STAGE, "--out", synth_dir_arg],
        ),
        "synth",
    )?;
    let synth = started.elapsed().as_secs_f64();
    for stand_in in stand_ins::apply(synth_dir)? {
        writeln!(
            log,
            "stand-in: {}/{}: {}",
            stand_in.stack, stand_in.resource, stand_in.why
        )?;
    }
    run_step(
        tools.provisioner(
            &fakecloud.url,
            &[
                "deploy",
                "--stage",
                STAGE,
                "--synth-dir",
                synth_dir_arg,
                "--require-approval",
                "never",
            ],
        ),
        "deploy",
    )?;
    Ok(DeployTimes {
        synth,
        deploy: started.elapsed().as_secs_f64() - synth,
    })
}

/// What `provisioner send` reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Sent {
    pub rows_read: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub failed: u64,
}

/// Sends `files` through the deployed API with `provisioner send`.
pub fn send(
    tools: &Tools,
    fakecloud: &Fakecloud,
    api_url: &str,
    files: &[PathBuf],
    rejected_file: &Path,
) -> anyhow::Result<Sent> {
    let mut command = tools.provisioner(&fakecloud.url, &["send", "--stage", STAGE]);
    command
        .args(["--api-url", api_url, "--rejected-file"])
        .arg(rejected_file)
        .args(files);
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .context("running send")?;
    let text = String::from_utf8_lossy(&output.stdout);
    let number = |label: &str| -> anyhow::Result<u64> {
        text.lines()
            .find_map(|line| line.strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| anyhow!("send printed no `{label}` line:\n{text}"))
    };
    Ok(Sent {
        rows_read: number("rows read")?,
        accepted: number("accepted")?,
        rejected: number("rejected locally")? + number("rejected by API")?,
        failed: number("failed")?,
    })
}

fn run_step(mut command: Command, what: &str) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running provisioner {what}"))?;
    if !status.success() {
        bail!("provisioner {what} failed ({status})");
    }
    Ok(())
}

/// One query route's answer, next to what the sample says it must hold.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Answer {
    pub route: String,
    pub status: u16,
    pub lines: u64,
    pub expected_lines: u64,
}

impl Answer {
    pub fn correct(&self) -> bool {
        self.status == 200 && self.lines == self.expected_lines
    }
}

/// An invoice or a customer, and its number of lines.
pub type LineCount<'a> = (&'a str, u64);

/// Lines per invoice and per customer among the rows sent (what the query
/// routes must answer).
#[derive(Debug, Default)]
pub struct Expected {
    pub per_invoice: BTreeMap<String, u64>,
    pub per_customer: BTreeMap<String, u64>,
}

impl Expected {
    pub fn of(files: &[PathBuf]) -> anyhow::Result<Self> {
        let input = crate::send::read_input(files).map_err(|e| anyhow!("{e}"))?;
        let mut expected = Expected::default();
        for item in &input.rows.valid {
            let line: serde_json::Value = serde_json::from_str(&item.json)?;
            if let Some(invoice) = line["invoice_no"].as_str() {
                *expected.per_invoice.entry(invoice.to_string()).or_default() += 1;
            }
            if let Some(customer) = line["customer_id"].as_str() {
                *expected
                    .per_customer
                    .entry(customer.to_string())
                    .or_default() += 1;
            }
        }
        Ok(expected)
    }

    /// The invoice and the customer with the most lines: the answers that
    /// show most (and that a lost page would shorten).
    pub fn busiest(&self) -> Option<(LineCount<'_>, LineCount<'_>)> {
        fn most(map: &BTreeMap<String, u64>) -> Option<LineCount<'_>> {
            // The first of equals in key order: the same pick every run.
            map.iter()
                .rev()
                .max_by_key(|(_, n)| **n)
                .map(|(k, n)| (k.as_str(), *n))
        }
        Some((most(&self.per_invoice)?, most(&self.per_customer)?))
    }
}

/// Asks both routes for `invoice` and `customer`.
pub async fn ask(
    platform: &Platform,
    (invoice, invoice_lines): LineCount<'_>,
    (customer, customer_lines): LineCount<'_>,
) -> anyhow::Result<[Answer; 2]> {
    Ok([
        ask_route(platform, &format!("/invoices/{invoice}"), invoice_lines).await?,
        ask_route(
            platform,
            &format!("/customers/{customer}/invoices"),
            customer_lines,
        )
        .await?,
    ])
}

/// `GET route`, and the number of lines its answer holds (`lineCount`).
async fn ask_route(
    platform: &Platform,
    route: &str,
    expected_lines: u64,
) -> anyhow::Result<Answer> {
    let (status, answer) = platform.query(route).await?;
    Ok(Answer {
        route: format!("GET {route}"),
        status,
        lines: answer["lineCount"].as_u64().unwrap_or(0),
        expected_lines,
    })
}

/// Everything a run saw.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub sent: Sent,
    pub tally: Tally,
    pub transformed: Transformed,
    pub answers: Vec<Answer>,
    pub synth_seconds: f64,
    pub deploy_seconds: f64,
    pub send_seconds: f64,
    pub settle_seconds: f64,
    pub first_answer_seconds: f64,
    pub total_seconds: f64,
}

impl Report {
    /// Every accepted row stored once in DynamoDB and the lake and
    /// transformed; both answers right.
    pub fn accounted_for(&self) -> bool {
        let n = self.sent.accepted;
        self.sent.failed == 0
            && self.sent.accepted + self.sent.rejected == self.sent.rows_read
            && self.tally.dynamodb_lines == n
            && self.tally.lake_lines == n
            && self.tally.lake_line_ids == n
            && self.transformed.ok == n
            && self.answers.iter().all(Answer::correct)
    }

    pub fn print(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let rate = self.sent.accepted as f64 / self.send_seconds.max(f64::EPSILON);
        let rows = [
            (
                "rows sent (read from the files)",
                self.sent.rows_read.to_string(),
            ),
            ("accepted by the API", self.sent.accepted.to_string()),
            ("rejected, with reasons", self.sent.rejected.to_string()),
            ("failed (not delivered)", self.sent.failed.to_string()),
            (
                "lines in DynamoDB (Invoices)",
                self.tally.dynamodb_lines.to_string(),
            ),
            (
                "customer items (Customers)",
                self.tally.customer_items.to_string(),
            ),
            (
                "lines in the lake (raw/)",
                self.tally.lake_lines.to_string(),
            ),
            (
                "distinct line ids in the lake",
                self.tally.lake_line_ids.to_string(),
            ),
            (
                "lines rejected in the lake",
                self.tally.lake_rejected.to_string(),
            ),
            (
                "records saved as failed (failed/)",
                self.tally.saved_as_failed.to_string(),
            ),
            (
                "records transformed for Firehose",
                format!("{} ok of {}", self.transformed.ok, self.transformed.records),
            ),
        ];
        writeln!(out)?;
        for (what, value) in rows {
            writeln!(out, "{what:<34} {value:>12}")?;
        }
        for answer in &self.answers {
            writeln!(
                out,
                "{:<34} {:>12}",
                answer.route,
                format!(
                    "{} lines {}",
                    answer.lines,
                    if answer.correct() {
                        "ok".to_string()
                    } else {
                        format!(
                            "(HTTP {}, expected {})",
                            answer.status, answer.expected_lines
                        )
                    }
                )
            )?;
        }
        writeln!(
            out,
            "{:<34} {:>11.1}s",
            "synth (functions cached by source)", self.synth_seconds
        )?;
        writeln!(
            out,
            "{:<34} {:>11.1}s",
            "deploy (empty emulator to stacks)", self.deploy_seconds
        )?;
        writeln!(
            out,
            "{:<34} {:>11.1}s  ({rate:.0} rows/s)",
            "send", self.send_seconds
        )?;
        writeln!(
            out,
            "{:<34} {:>11.1}s",
            "consumers caught up after", self.settle_seconds
        )?;
        writeln!(
            out,
            "{:<34} {:>11.1}s",
            "empty emulator to first answer", self.first_answer_seconds
        )?;
        writeln!(out, "{:<34} {:>11.1}s", "total", self.total_seconds)?;
        writeln!(
            out,
            "{}",
            if self.accounted_for() {
                "every row accounted for: stored once in each store, or rejected with its reason"
            } else {
                "ROWS UNACCOUNTED FOR: see the table above"
            }
        )
    }
}

/// `provisioner local`.
pub fn run(args: LocalArgs, out: &mut dyn Write) -> CommandResult {
    let tools = Tools::beside_this_executable().map_err(|e| {
        Failure::usage(e)
            .hint("run it through scripts/local, which installs and builds what it needs")
    })?;
    let files = args.files.clone();
    let expected = Expected::of(&files).map_err(Failure::usage)?;
    std::fs::create_dir_all(&args.work_dir)
        .with_context(|| format!("creating {}", args.work_dir.display()))
        .map_err(Failure::usage)?;
    let started = Instant::now();
    // IAM enforced, so a permission missing from a policy shows as rows
    // that never arrived.
    let fakecloud = tools
        .start_emulator(&["--iam", "strict"])
        .map_err(|e| Failure::usage(e).hint("scripts/install-tools.sh --fakecloud installs it"))?;
    writeln!(
        out,
        "fakecloud {} at {}",
        emulator::FAKECLOUD_VERSION,
        fakecloud.url
    )
    .map_err(Failure::usage)?;
    let result = run_on(&tools, &fakecloud, &args, &files, &expected, started, out);
    if let Err(error) = &result {
        writeln!(
            out,
            "the run failed: {error:#}\nfunction output:\n{}",
            fakecloud.function_logs()
        )
        .map_err(Failure::usage)?;
    }
    if args.keep {
        let (url, pid) = (fakecloud.url.clone(), fakecloud.detach());
        writeln!(
            out,
            "fakecloud stays up at {url} (pid {pid}); stop it with: kill {pid}"
        )
        .map_err(Failure::usage)?;
    }
    let report = result.map_err(Failure::failed)?;
    report.print(out).map_err(Failure::usage)?;
    if report.accounted_for() {
        Ok(())
    } else {
        Err(Failure::failed(anyhow!(
            "rows were lost or duplicated on the way"
        )))
    }
}

fn run_on(
    tools: &Tools,
    fakecloud: &Fakecloud,
    args: &LocalArgs,
    files: &[PathBuf],
    expected: &Expected,
    started: Instant,
    out: &mut dyn Write,
) -> anyhow::Result<Report> {
    let synth_dir = args.work_dir.join("synth");
    let times = deploy_dev_stage(tools, fakecloud, &synth_dir, out)?;
    let deployed = Instant::now();
    let runtime = tokio::runtime::Runtime::new()?;
    let stage = stacks::stage::Stage::named(STAGE)?;
    let platform = runtime.block_on(Platform::connect(&fakecloud.url, stage.region, STAGE))?;
    let ((invoice, invoice_lines), (customer, customer_lines)) =
        expected.busiest().context("the files hold no valid row")?;
    let rejected_file = args.work_dir.join(format!(
        "rejected-{}.csv",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
    ));
    let sending = Instant::now();
    let sent = send(
        tools,
        fakecloud,
        &platform.names.api_url,
        files,
        &rejected_file,
    )?;
    let send_seconds = sending.elapsed().as_secs_f64();
    let settling = Instant::now();
    let tally = runtime
        .block_on(platform.settle(sent.accepted, Duration::from_secs(args.settle_seconds)))?;
    let settle_seconds = settling.elapsed().as_secs_f64();
    let answers = runtime.block_on(ask(
        &platform,
        (invoice, invoice_lines),
        (customer, customer_lines),
    ))?;
    // Deploy, send, the consumers and the first query: what a user waits
    // for once the functions are built.
    let first_answer_seconds = times.deploy + deployed.elapsed().as_secs_f64();
    let transformed = runtime.block_on(platform.transform_stream())?;
    Ok(Report {
        sent,
        tally,
        transformed,
        answers: answers.into(),
        synth_seconds: times.synth,
        deploy_seconds: times.deploy,
        send_seconds,
        settle_seconds,
        first_answer_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
    })
}
