//! `provisioner send`: replays the retailer's CSV files into the ingest API
//! (`POST /transactions`), so that every row ends accepted or in the
//! rejected file with its reason; none is lost silently.
//!
//! Every file is read and validated before anything is sent ([`batch`]);
//! invalid rows go to the rejected file at once. Valid rows are sent in
//! batches, several at a time, each signed with SigV4 and resent as the
//! API asks ([`client`]). The summary and the rejected file are in
//! [`report`]. Exit codes: 0 when every row was accepted or rejected as
//! invalid (fix those and send the rejected file again), 1 when some rows
//! could not be delivered after retries (they are in the rejected file
//! too, with the last reason: send it again later), 2 for bad input or
//! configuration, with nothing sent.

pub mod batch;
pub mod client;
pub mod progress;
pub mod report;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use futures_util::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::failure::{CommandResult, Failure};
use batch::{Item, ReadError, Rows};
use client::{Delivery, IngestClient, RetryPolicy, Target};
use progress::RowProgress;
use report::{RejectedFile, Rejection, Summary};

/// The rows of every file, read before anything is sent.
#[derive(Debug, Default)]
pub struct Input {
    pub files: usize,
    pub rows: Rows,
}

/// Reads and validates every file; the first unreadable one (missing, not
/// the retailer's CSV) fails the whole run.
pub fn read_input(paths: &[PathBuf]) -> Result<Input, ReadError> {
    let mut input = Input::default();
    for path in paths {
        let rows = batch::read_file(path)?;
        input.files += 1;
        input.rows.valid.extend(rows.valid);
        input.rows.invalid.extend(rows.invalid);
    }
    Ok(input)
}

/// How to send.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// Rows per request, at most [`batch::MAX_ITEMS`].
    pub batch_size: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    pub retry: RetryPolicy,
    pub rejected_file: PathBuf,
    /// The summary as text or JSON (`--output json`).
    pub output: crate::output::Format,
}

/// Sends `input` to `target` (`None`: a dry run, which only validates),
/// writes the rejected file and prints the summary to `out`.
pub async fn send(
    input: Input,
    target: Option<Target>,
    options: &SendOptions,
    started: Instant,
    out: &mut dyn Write,
    progress: &dyn RowProgress,
) -> CommandResult {
    let client = target
        .map(|target| IngestClient::new(target, options.retry))
        .transpose()
        .map_err(|e| {
            Failure::usage(anyhow::Error::new(e).context("loading the system's root certificates"))
        })?;
    if let Some(client) = &client {
        client.reachable().await.map_err(|reason| {
            Failure::usage(anyhow::anyhow!(
                "the API at {} is not reachable: {reason}",
                client.url()
            ))
            .hint(
                "check --api-url (the Api stack's ApiUrl output) and the network; \
                 nothing was sent and no rejected file was written",
            )
        })?;
    }
    let mut rejected = RejectedFile::create(&options.rejected_file).map_err(|e| {
        rejected_file_failure(&options.rejected_file, e).hint(
            "move the rejected file of an earlier run away, or name another with --rejected-file",
        )
    })?;
    let mut summary = Summary {
        dry_run: client.is_none(),
        files: input.files,
        rows_read: (input.rows.valid.len() + input.rows.invalid.len()) as u64,
        rejected_locally: input.rows.invalid.len() as u64,
        valid: input.rows.valid.len() as u64,
        ..Summary::default()
    };
    for (row, error) in input.rows.invalid {
        let rejection = Rejection {
            row,
            field: error.field().map(|f| f.header().to_owned()),
            reason: error.to_string(),
        };
        write_rejection(&mut rejected, &rejection)?;
    }
    let mut refused = None;
    if let Some(client) = &client {
        refused = deliver_all(
            client,
            input.rows.valid,
            options,
            &mut summary,
            &mut rejected,
            progress,
        )
        .await?;
    }
    summary.elapsed = started.elapsed();
    let written = rejected
        .finish()
        .map_err(|e| rejected_file_failure(&options.rejected_file, e))?;
    match options.output {
        crate::output::Format::Text => summary.print(written.as_deref(), out),
        crate::output::Format::Json => crate::output::json(
            out,
            &report::SummaryJson {
                summary: &summary,
                seconds: summary.elapsed.as_secs_f64(),
                rejected_file: written.as_deref(),
            },
        ),
    }
    .map_err(crate::output::unwritable)?;
    let file = options.rejected_file.display();
    if summary.dry_run && summary.rejected_locally > 0 {
        // A dry run gates a pipeline: it passes only when every row would
        // be sent.
        return Err(Failure::failed(anyhow::anyhow!(
            "{} rows are invalid; they are in {file} with their reasons",
            summary.rejected_locally
        ))
        .hint(format!(
            "fix them in {file}, then check it with `provisioner send --dry-run --rejected-file OTHER.csv {file}`"
        )));
    }
    if summary.all_delivered() {
        return Ok(());
    }
    Err(match refused {
        Some(reason) => Failure::failed(anyhow::anyhow!(
            "the API refused a request, so the run stopped: {reason}; the {} rows not \
             delivered are in {file}",
            summary.failed
        ))
        .hint(
            "403: check the credentials and that they may call execute-api:Invoke on \
             POST /transactions; 404: check --api-url (the Api stack's ApiUrl output)",
        ),
        None => Failure::failed(anyhow::anyhow!(
            "{} rows were not delivered after retries; they are in {file} with the last reason",
            summary.failed
        ))
        .hint(format!(
            "send {file} again once the API recovers (move it first: send never overwrites it)"
        )),
    })
}

/// Sends the batches, `concurrency` at a time, writing each batch's
/// rejected rows as it ends. Returns why the run stopped early, if the API
/// refused a request outright (the batches not yet sent then fail).
async fn deliver_all(
    client: &IngestClient,
    items: Vec<Item>,
    options: &SendOptions,
    summary: &mut Summary,
    rejected: &mut RejectedFile,
    progress: &dyn RowProgress,
) -> Result<Option<String>, Failure> {
    let batches = batch::batches(
        items,
        options.batch_size.clamp(1, batch::MAX_ITEMS),
        batch::MAX_BODY_BYTES,
    );
    progress.start(summary.valid);
    let stop = AtomicBool::new(false);
    let stop = &stop;
    let mut deliveries = futures_util::stream::iter(batches)
        .map(|items| async move {
            if stop.load(Ordering::Relaxed) {
                return not_sent(items);
            }
            let delivery = client.deliver(items).await;
            if delivery.refused.is_some() {
                stop.store(true, Ordering::Relaxed);
            }
            delivery
        })
        .buffer_unordered(options.concurrency.max(1));
    let mut refused = None;
    while let Some(delivery) = deliveries.next().await {
        summary.requests += delivery.requests;
        summary.resends += delivery.requests.saturating_sub(1);
        summary.accepted += delivery.accepted;
        summary.rejected_by_api += delivery.rejected.len() as u64;
        summary.failed += delivery.failed.len() as u64;
        if delivery.requests == 0 {
            summary.unsent += delivery.failed.len() as u64;
        }
        for rejection in delivery.rejected.iter().chain(&delivery.failed) {
            write_rejection(rejected, rejection)?;
        }
        progress
            .advance(delivery.accepted + (delivery.rejected.len() + delivery.failed.len()) as u64);
        if refused.is_none() {
            refused = delivery.refused;
        }
    }
    progress.finish();
    Ok(refused)
}

/// A batch left unsent because the run stopped.
fn not_sent(items: Vec<Item>) -> Delivery {
    Delivery {
        failed: items
            .into_iter()
            .map(|item| Rejection {
                row: item.row,
                field: None,
                reason: "not sent: the run stopped after the API refused a request".to_owned(),
            })
            .collect(),
        ..Delivery::default()
    }
}

fn write_rejection(file: &mut RejectedFile, rejection: &Rejection) -> CommandResult {
    file.write(rejection)
        .map_err(|e| Failure::failed(anyhow::Error::new(e).context("writing the rejected file")))
}

fn rejected_file_failure(path: &Path, error: std::io::Error) -> Failure {
    Failure::usage(anyhow::Error::new(error).context(format!("writing {}", path.display())))
}
