//! `provisioner reimport`: days of the lake loaded into the warehouse
//! again (`repair::reimport`), one transaction per day, with a progress
//! bar on a terminal; a table or `--output json`. Exit 0 when every day
//! the lake has was loaded, 1 when a load failed (the days before it are
//! loaded; run again from that day), 2 when nothing was done (bad days,
//! stage or warehouse not deployed, credentials).

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
use crate::repair::reimport::{self, DayLoad, DayOutcome};
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
        let days = reimport::lake_days(&s3, lake_bucket, args.from, args.to)
            .await
            .map_err(|e| {
                Failure::usage(anyhow!(e)).hint("check the credentials, --profile and --region")
            })?;
        let data_api = aws_sdk_redshiftdata::Client::new(&warehouse_side.shared);
        let wait = redshift_statements::Wait {
            poll_interval: session::poll_interval(aws),
            max_wait: Some(DAY_MAX_WAIT),
            deadline: None,
        };
        let bar = progress(days.len() as u64);
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
        bar.finish_and_clear();
        report(
            &args.stage,
            &config.warehouse_table.to_string(),
            &loads,
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    stage: &'a str,
    table: &'a str,
    loaded: usize,
    days: &'a [DayLoad],
}

/// Prints each day's outcome; a failed day is exit code 1.
pub fn report(
    stage: &str,
    table: &str,
    loads: &[DayLoad],
    output: Output,
    out: &mut dyn Write,
) -> CommandResult {
    let loaded = loads
        .iter()
        .filter(|l| l.outcome == DayOutcome::Loaded)
        .count();
    let written = match output {
        Output::Json => {
            let report = Report {
                stage,
                table,
                loaded,
                days: loads,
            };
            serde_json::to_writer_pretty(&mut *out, &report)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
        }
        Output::Text => write_text(stage, table, loaded, loads, out),
    };
    written.map_err(|e| Failure::usage(anyhow::Error::new(e).context("writing the report")))?;
    match loads.iter().find_map(|l| match &l.outcome {
        DayOutcome::Failed { reason } => Some((l.day, reason)),
        _ => None,
    }) {
        None => Ok(()),
        Some((day, reason)) => Err(Failure::failed(anyhow!(
            "stage {stage}: loading {day} failed (the days before it are loaded): {reason}"
        ))
        .hint(format!(
            "fix the cause and run again from that day: provisioner reimport --stage {stage} \
             --from {day} --to ...; a day loaded twice keeps one row per line"
        ))),
    }
}

fn write_text(
    stage: &str,
    table: &str,
    loaded: usize,
    loads: &[DayLoad],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(out, "{:<10} {:>8}  outcome", "day", "objects")?;
    for load in loads {
        let outcome = match &load.outcome {
            DayOutcome::Loaded => "loaded",
            DayOutcome::NotInLake => "not in the lake",
            DayOutcome::Failed { .. } => "FAILED",
        };
        writeln!(out, "{:<10} {:>8}  {outcome}", load.day, load.objects)?;
    }
    writeln!(
        out,
        "reimport {stage}: {loaded} of {} days loaded into {table} (merged by line_id)",
        loads.len()
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
        let failure =
            report("dev", "public.transactions", &loads, Output::Text, &mut out).unwrap_err();
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
        report("dev", "public.transactions", &loads, Output::Json, &mut out).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["loaded"], 1);
        assert_eq!(json["days"][0]["day"], "2010-12-01");
        assert_eq!(json["days"][0]["outcome"], "loaded");
    }
}
