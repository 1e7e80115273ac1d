//! `provisioner replay`: everything the stage saved as failed, and every
//! batch its stream mappings gave up on, back into its store
//! (`repair::replay`, `repair::on_failure`), then a table per source and
//! store, or `--output json`. Exit 0 when everything was replayed (or
//! nothing was saved), 1 when something still fails or is lost, 2 when the
//! stage cannot be read (not deployed, credentials): then nothing was
//! replayed.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use anyhow::anyhow;
use serde::Serialize;

use crate::aws::AwsOptions;
use crate::commands::reconcile::deployed;
use crate::commands::session;
use crate::failure::{CommandResult, Failure};
use crate::output::Format as Output;
use crate::reconcile::Store;
use crate::repair::on_failure::{self, FailureQueue};
use crate::repair::replay::{self, Outcome, Replayed, Writers};
use crate::repair::stage::{output, warehouse_config};

/// `provisioner replay` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// Stage whose saved failures are replayed.
    #[arg(long, default_value = "dev", env = "PROVISIONER_STAGE")]
    pub stage: String,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
}

pub fn run(args: ReplayArgs, aws: &AwsOptions, out: &mut dyn Write) -> CommandResult {
    let stage = crate::stage::named(&args.stage)?;
    let prefix = stage.prefix();
    session::block_on(async {
        let (shared, cfn) = session::stage_clients(aws, stage.region).await;
        let storage = deployed(&cfn, &format!("{prefix}-storage"), &args.stage).await?;
        let streaming = deployed(&cfn, &format!("{prefix}-streaming"), &args.stage).await?;
        let usage = |reason: String| Failure::usage(anyhow!(reason));
        let lake_bucket = output(&storage, "LakeBucketName").map_err(usage)?;
        // Only where Firehose loads the warehouse (public): a private
        // warehouse has no staging bucket, so no manifests to replay.
        let staging_bucket = storage.outputs.get("StagingBucketName");
        let writers = Writers {
            lake_writer: output(&streaming, "LakeWriterFunctionName")
                .map_err(usage)?
                .to_owned(),
            dynamodb_writer: output(&streaming, "DynamodbWriterFunctionName")
                .map_err(usage)?
                .to_owned(),
        };
        let stream = output(&streaming, "StreamName").map_err(usage)?;
        let queues = [
            (
                "lake-writer",
                "LakeWriterFailuresQueueUrl",
                &writers.lake_writer,
                Store::Lake,
            ),
            (
                "dynamodb-writer",
                "DynamodbWriterFailuresQueueUrl",
                &writers.dynamodb_writer,
                Store::Dynamodb,
            ),
        ]
        .into_iter()
        .map(|(writer, key, function, store)| {
            Ok(FailureQueue {
                writer,
                url: output(&streaming, key)?.to_owned(),
                function: function.clone(),
                store,
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(usage)?;
        let warehouse_stack = format!("{prefix}-warehouse");
        let warehouse = match cfn.describe(&warehouse_stack).await {
            Ok(Some(state)) => warehouse_config(&storage, &state),
            Ok(None) => Err(format!(
                "stack {warehouse_stack} is not deployed: there is no warehouse to load into"
            )),
            Err(e) => Err(e.to_string()),
        };
        let s3 = crate::aws::s3_client(&shared, aws);
        let lambda = aws_sdk_lambda::Client::new(&shared);
        let data_api = aws_sdk_redshiftdata::Client::new(&shared);
        let sqs = aws_sdk_sqs::Client::new(&shared);
        let kinesis = aws_sdk_kinesis::Client::new(&shared);
        let wait = redshift_statements::Wait {
            poll_interval: session::poll_interval(aws),
            max_wait: Some(Duration::from_secs(1800)),
            deadline: None,
        };
        let mut replayed = replay::replay_failed_records(&s3, &lambda, lake_bucket, &writers)
            .await
            .map_err(|e| {
                Failure::usage(anyhow!(e))
                    .hint("check the credentials, --profile and --region; nothing was replayed")
            })?;
        let errors = match staging_bucket {
            Some(staging_bucket) => {
                replay::replay_firehose_errors(
                    &s3,
                    &data_api,
                    staging_bucket,
                    warehouse.as_ref().map_err(Clone::clone),
                    &wait,
                )
                .await
            }
            None => Ok(Vec::new()),
        };
        let errors = match errors {
            Ok(more) => {
                replayed.extend(more);
                None
            }
            Err(e) => Some(e),
        };
        let (messages, queue_error) =
            on_failure::replay_on_failure_messages(&sqs, &kinesis, &lambda, stream, &queues).await;
        replayed.extend(messages);
        match errors.or(queue_error) {
            None => report(&args.stage, &replayed, args.output, out),
            // Exit 2 promises nothing changed: true only if nothing was replayed.
            Some(e) if replayed.iter().any(|r| r.outcome.is_replayed()) => {
                report(&args.stage, &replayed, args.output, out)?;
                Err(Failure::failed(anyhow!(e))
                    .hint("what the report lists as replayed was replayed; run replay again"))
            }
            Some(e) => Err(Failure::usage(anyhow!(e))),
        }
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    stage: &'a str,
    replayed: usize,
    not_replayed: usize,
    /// Of those not replayed: batches whose records the stream dropped.
    lost: usize,
    objects: &'a [Replayed],
}

/// Prints what was replayed; anything not replayed is exit code 1.
pub fn report(
    stage: &str,
    replayed: &[Replayed],
    output: Output,
    out: &mut dyn Write,
) -> CommandResult {
    let done = replayed.iter().filter(|r| r.outcome.is_replayed()).count();
    let not_done = replayed.len() - done;
    let lost = replayed
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Lost { .. }))
        .count();
    let written = match output {
        Output::Json => {
            let report = Report {
                stage,
                replayed: done,
                not_replayed: not_done,
                lost,
                objects: replayed,
            };
            serde_json::to_writer_pretty(&mut *out, &report)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
        }
        Output::Text => write_text(stage, replayed, out),
    };
    written.map_err(|e| Failure::usage(anyhow::Error::new(e).context("writing the report")))?;
    if not_done == 0 {
        return Ok(());
    }
    let lost = match lost {
        0 => String::new(),
        n => format!(" ({n} lost: the stream no longer holds them)"),
    };
    Err(Failure::failed(anyhow!(
        "stage {stage}: {not_done} of {} saved failures not replayed{lost}",
        replayed.len()
    ))
    .hint(
        "fix what each reason names and run replay again: what was replayed is not replayed twice",
    ))
}

/// Counts of one source and store.
#[derive(Default)]
struct Counts {
    objects: usize,
    items: usize,
    replayed: usize,
    failing: usize,
    not_replayable: usize,
    lost: usize,
}

fn write_text(stage: &str, replayed: &[Replayed], out: &mut dyn Write) -> std::io::Result<()> {
    if replayed.is_empty() {
        return writeln!(out, "replay {stage}: nothing saved as failed");
    }
    let mut groups: BTreeMap<(&str, Store), Counts> = BTreeMap::new();
    for r in replayed {
        let counts = groups.entry((r.source.as_str(), r.store)).or_default();
        counts.objects += 1;
        counts.items += r.items;
        match r.outcome {
            Outcome::Replayed { .. } | Outcome::Deleted { .. } => counts.replayed += 1,
            Outcome::StillFailing { .. } => counts.failing += 1,
            Outcome::NotReplayable { .. } => counts.not_replayable += 1,
            Outcome::Lost { .. } => counts.lost += 1,
        }
    }
    writeln!(
        out,
        "{:<24} {:<9} {:>7} {:>7} {:>8} {:>7} {:>14} {:>4}",
        "source", "store", "objects", "items", "replayed", "failing", "not replayable", "lost"
    )?;
    for ((source, store), c) in &groups {
        writeln!(
            out,
            "{:<24} {:<9} {:>7} {:>7} {:>8} {:>7} {:>14} {:>4}",
            source,
            store.name(),
            c.objects,
            c.items,
            c.replayed,
            c.failing,
            c.not_replayable,
            c.lost
        )?;
    }
    for heading in ["still failing", "not replayable", "lost"] {
        let mut shown = replayed
            .iter()
            .filter_map(|r| match r.outcome.not_replayed() {
                Some((kind, reason)) if kind == heading => Some((r, reason)),
                _ => None,
            });
        if let Some(first) = shown.next() {
            writeln!(out, "{heading}:")?;
            for (r, reason) in std::iter::once(first).chain(shown) {
                writeln!(out, "  {}: {reason}", r.key)?;
            }
        }
    }
    let done = replayed.iter().filter(|r| r.outcome.is_replayed()).count();
    writeln!(
        out,
        "replay {stage}: {done} of {} replayed (objects moved under replayed/, messages deleted)",
        replayed.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::ExitCode;

    fn object(source: &str, store: Store, key: &str, items: usize, outcome: Outcome) -> Replayed {
        Replayed {
            source: source.into(),
            store,
            key: key.into(),
            items,
            outcome,
        }
    }

    fn text(replayed: &[Replayed]) -> (String, CommandResult) {
        let mut out = Vec::new();
        let result = report("dev", replayed, Output::Text, &mut out);
        (String::from_utf8(out).unwrap(), result)
    }

    #[test]
    fn the_table_counts_each_source_and_store_and_names_what_still_fails() {
        let replayed = [
            object(
                "failed/dynamodb-writer",
                Store::Dynamodb,
                "failed/dynamodb-writer/shardId-0-1.jsonl",
                10,
                Outcome::Replayed {
                    moved_to: "replayed/failed/dynamodb-writer/shardId-0-1.jsonl".into(),
                },
            ),
            object(
                "failed/dynamodb-writer",
                Store::Dynamodb,
                "failed/dynamodb-writer/shardId-0-7.jsonl",
                3,
                Outcome::StillFailing {
                    reason: "throttled".into(),
                },
            ),
            object(
                "errors/",
                Store::Redshift,
                "errors/copy/processing-failed/x",
                0,
                Outcome::NotReplayable {
                    reason: "not a COPY manifest".into(),
                },
            ),
            object(
                "on-failure/lake-writer",
                Store::Lake,
                "shardId-0/12-14",
                3,
                Outcome::Deleted {
                    queue: "https://sqs/LakeWriterFailures".into(),
                },
            ),
            object(
                "on-failure/lake-writer",
                Store::Lake,
                "shardId-0/2-5",
                4,
                Outcome::Lost {
                    reason: "stream s no longer holds record 2".into(),
                },
            ),
        ];
        let (text, result) = text(&replayed);
        let failure = result.unwrap_err();
        assert_eq!(failure.code, ExitCode::Failed);
        assert_eq!(
            failure.error.to_string(),
            "stage dev: 3 of 5 saved failures not replayed (1 lost: the stream no longer holds \
             them)"
        );
        let expected = "\
source                   store     objects   items replayed failing not replayable lost
errors/                  redshift        1       0        0       0              1    0
failed/dynamodb-writer   dynamodb        2      13        1       1              0    0
on-failure/lake-writer   lake            2       7        1       0              0    1
still failing:
  failed/dynamodb-writer/shardId-0-7.jsonl: throttled
not replayable:
  errors/copy/processing-failed/x: not a COPY manifest
lost:
  shardId-0/2-5: stream s no longer holds record 2
replay dev: 2 of 5 replayed (objects moved under replayed/, messages deleted)
";
        assert_eq!(text, expected);
    }

    #[test]
    fn nothing_saved_as_failed_is_success_and_says_so() {
        let (text, result) = text(&[]);
        assert!(result.is_ok());
        assert_eq!(text, "replay dev: nothing saved as failed\n");
    }

    #[test]
    fn json_lists_every_object_with_its_outcome() {
        let replayed = [object(
            "failed/lake-writer",
            Store::Lake,
            "failed/lake-writer/shardId-0-1.jsonl",
            2,
            Outcome::Replayed {
                moved_to: "replayed/failed/lake-writer/shardId-0-1.jsonl".into(),
            },
        )];
        let mut out = Vec::new();
        report("dev", &replayed, Output::Json, &mut out).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["replayed"], 1);
        assert_eq!(json["notReplayed"], 0);
        assert_eq!(json["lost"], 0);
        assert_eq!(json["objects"][0]["outcome"], "replayed");
        assert_eq!(
            json["objects"][0]["movedTo"],
            "replayed/failed/lake-writer/shardId-0-1.jsonl"
        );
    }
}
