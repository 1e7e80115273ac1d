//! `provisioner reimport`: days of the lake loaded into the warehouse
//! again (`repair::reimport`), one transaction per day, then the rows of
//! those days of each bulk file handed to the lake, one transaction per
//! file, with a progress bar on a terminal; a table or `--output json`.
//! Exit 0 when every day the lake has (and every bulk file) was loaded, 1
//! when a load failed (the days before it are loaded; run again from that
//! day), 2 when nothing was done (bad days, stage or warehouse not
//! deployed, credentials).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::anyhow;
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::aws::AwsOptions;
use crate::commands::reconcile::deployed;
use crate::commands::session;
use crate::failure::{CommandResult, Failure};
use crate::output::Format as Output;
use crate::repair::reimport::{self, DayLoad, DayOutcome, ImportLoad, ImportOutcome};
use crate::repair::stage::{output, warehouse_config};

/// `provisioner reimport` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ReimportArgs {
    /// Stage whose lake is loaded into its warehouse.
    #[arg(long, default_value = "dev", env = "PROVISIONER_STAGE")]
    pub stage: String,
    /// First invoice day loaded (YYYY-MM-DD).
    #[arg(long)]
    pub from: NaiveDate,
    /// Last invoice day loaded, included (YYYY-MM-DD).
    #[arg(long)]
    pub to: NaiveDate,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    #[command(flatten)]
    pub accounts: crate::accounts::AccountArgs,
}

/// How long one day's transaction may take: a busy day of the retailer
/// (about 24 million lines) COPYs in minutes on a small cluster.
const DAY_MAX_WAIT: Duration = Duration::from_secs(1800);

pub fn run(args: ReimportArgs, aws: &AwsOptions, out: &mut dyn Write) -> CommandResult {
    let stage = crate::stage::named(&args.stage)?;
    if args.from > args.to {
        return Err(
            Failure::usage(anyhow!("--from {} is after --to {}", args.from, args.to))
                .hint("give the first day with --from and the last with --to"),
        );
    }
    let prefix = stage.prefix();
    session::block_on(async {
        // The lake is listed in the data account, the COPY runs in the
        // warehouse's (the same one unless the stage spans two).
        let sides = crate::accounts::sides(aws, stage, &args.accounts.profile_for).await?;
        let (data, warehouse_side) = (&sides.data, &sides.warehouse);
        let storage = deployed(&data.cfn, &format!("{prefix}-storage"), &args.stage).await?;
        let warehouse = deployed(
            &warehouse_side.cfn,
            &format!("{prefix}-warehouse"),
            &args.stage,
        )
        .await?;
        let usage = |reason: String| Failure::usage(anyhow!(reason));
        let config = warehouse_config(&storage, &warehouse).map_err(usage)?;
        let lake_bucket = output(&storage, "LakeBucketName").map_err(usage)?;
        let s3 = crate::aws::s3_client(&data.shared, &data.aws);
        let listing = |e: crate::deploy::error::AwsError| {
            Failure::usage(anyhow!(e)).hint("check the credentials, --profile and --region")
        };
        let days = reimport::lake_days(&s3, lake_bucket, args.from, args.to)
            .await
            .map_err(listing)?;
        let bulk_files = crate::reconcile::lake::import_keys(&s3, lake_bucket)
            .await
            .map_err(listing)?;
        let data_api = aws_sdk_redshiftdata::Client::new(&warehouse_side.shared);
        let wait = redshift_statements::Wait {
            poll_interval: session::poll_interval(aws),
            max_wait: Some(DAY_MAX_WAIT),
            deadline: None,
        };
        let bar = progress((days.len() + bulk_files.len()) as u64);
        let mut loads = Vec::new();
        for (day, objects) in days {
            bar.set_message(day.to_string());
            let load =
                reimport::load_day(&data_api, &config, lake_bucket, day, objects, &wait).await;
            bar.inc(1);
            let failed = matches!(load.outcome, DayOutcome::Failed { .. });
            loads.push(load);
            // The next days would most likely fail the same way (a cluster
            // that refuses, a role it cannot assume): stop and say where.
            if failed {
                break;
            }
        }
        let mut imports = Vec::new();
        let days_loaded = !loads
            .iter()
            .any(|l| matches!(l.outcome, DayOutcome::Failed { .. }));
        for rows_key in bulk_files.iter().filter(|_| days_loaded) {
            bar.set_message(rows_key.clone());
            let days = (args.from, args.to);
            let load =
                reimport::load_import(&data_api, &config, lake_bucket, rows_key, days, &wait).await;
            bar.inc(1);
            let failed = matches!(load.outcome, ImportOutcome::Failed { .. });
            imports.push(load);
            if failed {
                break;
            }
        }
        bar.finish_and_clear();
        let loaded = Loaded {
            days: &loads,
            imports: &imports,
        };
        report(
            &args.stage,
            &config.warehouse_table.to_string(),
            &loaded,
            args.output,
            out,
        )
    })
}

/// Days done of all: a bar on a terminal, nothing otherwise (the report
/// follows either way).
fn progress(days: u64) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let style = ProgressStyle::with_template("{bar:30} {pos}/{len} days  {msg}  {elapsed}")
        .expect("the template is valid");
    ProgressBar::with_draw_target(Some(days), target).with_style(style)
}

/// What a reimport loaded: the days, then the bulk files.
#[derive(Debug)]
pub struct Loaded<'a> {
    pub days: &'a [DayLoad],
    pub imports: &'a [ImportLoad],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    stage: &'a str,
    table: &'a str,
    loaded: usize,
    days: &'a [DayLoad],
    /// Bulk files handed to the lake (a stage across two accounts).
    imports: &'a [ImportLoad],
}

/// Prints each day's and bulk file's outcome; a failed one is exit code 1.
pub fn report(
    stage: &str,
    table: &str,
    loaded: &Loaded<'_>,
    output: Output,
    out: &mut dyn Write,
) -> CommandResult {
    let days_loaded = loaded
        .days
        .iter()
        .filter(|l| l.outcome == DayOutcome::Loaded)
        .count();
    let written = match output {
        Output::Json => {
            let report = Report {
                stage,
                table,
                loaded: days_loaded,
                days: loaded.days,
                imports: loaded.imports,
            };
            serde_json::to_writer_pretty(&mut *out, &report)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
        }
        Output::Text => write_text(stage, table, days_loaded, loaded, out),
    };
    written.map_err(|e| Failure::usage(anyhow::Error::new(e).context("writing the report")))?;
    if let Some((day, reason)) = loaded.days.iter().find_map(|l| match &l.outcome {
        DayOutcome::Failed { reason } => Some((l.day, reason)),
        _ => None,
    }) {
        return Err(Failure::failed(anyhow!(
            "stage {stage}: loading {day} failed (the days before it are loaded): {reason}"
        ))
        .hint(format!(
            "fix the cause and run again from that day: provisioner reimport --stage {stage} \
             --from {day} --to ...; a day loaded twice keeps one row per line"
        )));
    }
    match loaded.imports.iter().find_map(|l| match &l.outcome {
        ImportOutcome::Failed { reason } => Some((l, reason)),
        ImportOutcome::Loaded => None,
    }) {
        None => Ok(()),
        Some((file, reason)) => Err(Failure::failed(anyhow!(
            "stage {stage}: loading bulk file {} (version {}) failed (the days and the files \
             before it are loaded): {reason}",
            file.file,
            file.stamp
        ))
        .hint(
            "fix the cause and run the same reimport again: what is loaded twice keeps one row \
             per line",
        )),
    }
}

fn write_text(
    stage: &str,
    table: &str,
    days_loaded: usize,
    loaded: &Loaded<'_>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(out, "{:<10} {:>8}  outcome", "day", "objects")?;
    for load in loaded.days {
        let outcome = match &load.outcome {
            DayOutcome::Loaded => "loaded",
            DayOutcome::NotInLake => "not in the lake",
            DayOutcome::Failed { .. } => "FAILED",
        };
        writeln!(out, "{:<10} {:>8}  {outcome}", load.day, load.objects)?;
    }
    writeln!(
        out,
        "reimport {stage}: {days_loaded} of {} days loaded into {table} (merged by line_id)",
        loaded.days.len()
    )?;
    if loaded.imports.is_empty() {
        return Ok(());
    }
    writeln!(out, "\n{:<20}  {:<30}  outcome", "version", "bulk file")?;
    for import in loaded.imports {
        let outcome = match import.outcome {
            ImportOutcome::Loaded => "loaded",
            ImportOutcome::Failed { .. } => "FAILED",
        };
        writeln!(out, "{:<20}  {:<30}  {outcome}", import.stamp, import.file)?;
    }
    let files_loaded = loaded
        .imports
        .iter()
        .filter(|l| l.outcome == ImportOutcome::Loaded)
        .count();
    writeln!(
        out,
        "reimport {stage}: the rows of those days of {files_loaded} of {} bulk files loaded",
        loaded.imports.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::ExitCode;

    fn load(day: u32, objects: usize, outcome: DayOutcome) -> DayLoad {
        DayLoad {
            day: NaiveDate::from_ymd_opt(2010, 12, day).unwrap(),
            objects,
            outcome,
        }
    }

    #[test]
    fn each_day_says_what_happened_and_a_failed_day_is_exit_1_naming_where_to_resume() {
        let loads = [
            load(1, 12, DayOutcome::Loaded),
            load(2, 0, DayOutcome::NotInLake),
            load(
                3,
                4,
                DayOutcome::Failed {
                    reason: "Data API statement s ended FAILED: ERROR".into(),
                },
            ),
        ];
        let mut out = Vec::new();
        let loaded = Loaded {
            days: &loads,
            imports: &[],
        };
        let failure = report(
            "dev",
            "public.transactions",
            &loaded,
            Output::Text,
            &mut out,
        )
        .unwrap_err();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\
day         objects  outcome
2010-12-01       12  loaded
2010-12-02        0  not in the lake
2010-12-03        4  FAILED
reimport dev: 1 of 3 days loaded into public.transactions (merged by line_id)
"
        );
        assert_eq!(failure.code, ExitCode::Failed);
        assert!(failure.to_string().contains("loading 2010-12-03 failed"));
        assert!(
            failure
                .to_string()
                .contains("provisioner reimport --stage dev --from 2010-12-03")
        );
    }

    #[test]
    fn json_lists_each_day_with_its_outcome() {
        let loads = [load(1, 12, DayOutcome::Loaded)];
        let mut out = Vec::new();
        let loaded = Loaded {
            days: &loads,
            imports: &[],
        };
        report(
            "dev",
            "public.transactions",
            &loaded,
            Output::Json,
            &mut out,
        )
        .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["loaded"], 1);
        assert_eq!(json["days"][0]["day"], "2010-12-01");
        assert_eq!(json["days"][0]["outcome"], "loaded");
        assert_eq!(json["imports"], serde_json::json!([]));
    }

    fn import(file: &str, outcome: ImportOutcome) -> ImportLoad {
        ImportLoad {
            file: file.into(),
            stamp: "20101207T020000.000Z".into(),
            outcome,
        }
    }

    #[test]
    fn bulk_files_follow_the_days_and_a_failed_one_is_exit_1_saying_to_run_again() {
        let loads = [load(1, 12, DayOutcome::Loaded)];
        let imports = [
            import("a.csv", ImportOutcome::Loaded),
            import(
                "b.csv",
                ImportOutcome::Failed {
                    reason: "Data API statement s ended FAILED: ERROR".into(),
                },
            ),
        ];
        let loaded = Loaded {
            days: &loads,
            imports: &imports,
        };
        let mut out = Vec::new();
        let failure = report(
            "prod-private",
            "public.transactions",
            &loaded,
            Output::Text,
            &mut out,
        )
        .unwrap_err();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with(
                "\
version               bulk file                       outcome
20101207T020000.000Z  a.csv                           loaded
20101207T020000.000Z  b.csv                           FAILED
reimport prod-private: the rows of those days of 1 of 2 bulk files loaded
"
            ),
            "{text}"
        );
        assert_eq!(failure.code, ExitCode::Failed);
        assert!(
            failure.to_string().contains("loading bulk file b.csv"),
            "{failure}"
        );

        let mut out = Vec::new();
        let _ = report(
            "prod-private",
            "public.transactions",
            &loaded,
            Output::Json,
            &mut out,
        );
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["imports"][1]["file"], "b.csv");
        assert_eq!(json["imports"][1]["outcome"], "failed");
    }
}
