//! `provisioner reconcile`: did every line arrive? Counts the lines of each
//! day in the lake, DynamoDB and Redshift and names the line ids missing
//! from a store or held twice by one; a table or `--output json`. Exit 0
//! when the stores agree, 1 on any difference, 2 when they could not be
//! read (stage not deployed, credentials, access).

use std::io::Write;
use std::time::Duration;

use anyhow::anyhow;
use chrono::NaiveDate;
use serde::Serialize;

use crate::aws::AwsOptions;
use crate::deploy::cfn::{Cfn, StackState};
use crate::failure::{CommandResult, Failure};
use crate::output::Format;
use crate::reconcile::{self, DayRange, Read, Reconciliation, Store, redshift};

/// How many ids of each kind of problem the text shows; JSON has them all.
pub const SHOWN: usize = 5;

/// `provisioner reconcile` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ReconcileArgs {
    /// Stage whose stores are compared.
    #[arg(long, default_value = "dev", env = "PROVISIONER_STAGE")]
    pub stage: String,
    /// First invoice day compared (YYYY-MM-DD); default: the earliest.
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Last invoice day compared, included (YYYY-MM-DD); default: the latest.
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// Leave the warehouse out (no cluster, e.g. on the local emulator).
    #[arg(long)]
    pub skip_redshift: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Format,
    #[command(flatten)]
    pub accounts: crate::accounts::AccountArgs,
}

pub fn run(args: ReconcileArgs, aws: &AwsOptions, out: &mut dyn Write) -> CommandResult {
    use crate::commands::session;
    let stage = crate::stage::named(&args.stage)?;
    let range = DayRange {
        from: args.from,
        to: args.to,
    };
    if let (Some(from), Some(to)) = (range.from, range.to)
        && from > to
    {
        return Err(Failure::usage(anyhow!("--from {from} is after --to {to}")));
    }
    let prefix = stage.prefix();
    session::block_on(async {
        // The lake and tables are read in the data account, the warehouse
        // in its own (the same one unless the stage spans two).
        let sides = crate::accounts::sides(aws, stage, &args.accounts.profile_for).await?;
        let data = &sides.data;
        let storage = deployed(&data.cfn, &format!("{prefix}-storage"), &args.stage).await?;
        let lake_bucket = output(&storage, "LakeBucketName")?;
        let invoices_table = output(&storage, "InvoicesTableName")?;
        let s3 = crate::aws::s3_client(&data.shared, &data.aws);
        let dynamodb = aws_sdk_dynamodb::Client::new(&data.shared);
        let warehouse = async {
            if args.skip_redshift {
                return Read::NotChecked("--skip-redshift".to_string());
            }
            let wait = redshift::Wait {
                poll_interval: session::poll_interval(aws),
                max_wait: Duration::from_secs(600),
            };
            let warehouse = &sides.warehouse;
            let data_api = aws_sdk_redshiftdata::Client::new(&warehouse.shared);
            read_warehouse(&warehouse.cfn, &prefix, &data_api, range, wait).await
        };
        let (lake, table, warehouse) = tokio::join!(
            reconcile::lake::read(&s3, lake_bucket, range),
            reconcile::dynamodb::read(&dynamodb, invoices_table, range),
            warehouse,
        );
        let unreadable = |store: Store, e: &dyn std::error::Error| {
            Failure::usage(anyhow!("reading the {}: {e}", store.name()))
                .hint("check the credentials, --profile and --region; nothing was compared")
        };
        let lake = lake.map_err(|e| unreadable(Store::Lake, &e))?;
        let table = table.map_err(|e| unreadable(Store::Dynamodb, &e))?;
        let found = reconcile::compare(
            range,
            vec![
                (Store::Lake, Read::Lines(lake)),
                (Store::Dynamodb, Read::Lines(table)),
                (Store::Redshift, warehouse),
            ],
        );
        report(&args.stage, &found, args.output, out)
    })
}

/// The stack, or exit 2: nothing to compare before a deploy.
pub(crate) async fn deployed(cfn: &Cfn, stack: &str, stage: &str) -> Result<StackState, Failure> {
    let state = cfn.describe(stack).await.map_err(|e| {
        Failure::usage(anyhow::Error::new(e)).hint("check the credentials, --profile and --region")
    })?;
    state.ok_or_else(|| {
        Failure::usage(anyhow!("stack {stack} is not deployed"))
            .hint(format!("deploy first: provisioner deploy --stage {stage}"))
    })
}

fn output<'a>(stack: &'a StackState, key: &str) -> Result<&'a str, Failure> {
    crate::repair::stage::output(stack, key).map_err(|reason| Failure::usage(anyhow!(reason)))
}

/// The warehouse's lines, or why they could not be read: a stage without
/// its Warehouse stack or an unreachable cluster is "not checked", the
/// other stores are still compared.
async fn read_warehouse(
    cfn: &Cfn,
    prefix: &str,
    data_api: &aws_sdk_redshiftdata::Client,
    range: DayRange,
    wait: redshift::Wait,
) -> Read {
    let stack = format!("{prefix}-warehouse");
    let state = match cfn.describe(&stack).await {
        Ok(Some(state)) => state,
        Ok(None) => return Read::NotChecked(format!("stack {stack} is not deployed")),
        Err(e) => return Read::NotChecked(e.to_string()),
    };
    let outputs = (
        state.outputs.get("ExportClusterRef"),
        state.outputs.get("SecretArn"),
    );
    let (Some(cluster), Some(secret)) = outputs else {
        return Read::NotChecked(format!(
            "stack {stack} has no ExportClusterRef and SecretArn outputs: deploy it again"
        ));
    };
    let target = redshift::Target {
        cluster_identifier: cluster.clone(),
        database: stacks::platform::warehouse::DATABASE.to_string(),
        secret_arn: secret.clone(),
    };
    let table = stacks::platform::warehouse::TRANSACTIONS_TABLE;
    match redshift::read(data_api, &target, table, range, wait).await {
        Ok(lines) => Read::Lines(lines),
        Err(e) => Read::NotChecked(e.to_string()),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    stage: &'a str,
    agrees: bool,
    missing: usize,
    duplicated: usize,
    #[serde(flatten)]
    found: &'a Reconciliation,
}

/// Prints what was found; any difference is exit code 1.
pub fn report(
    stage: &str,
    found: &Reconciliation,
    output: Format,
    out: &mut dyn Write,
) -> CommandResult {
    let written = match output {
        Format::Json => {
            let report = Report {
                stage,
                agrees: found.agrees(),
                missing: found.missing(),
                duplicated: found.duplicated(),
                found,
            };
            crate::output::json(out, &report)
        }
        Format::Text => write_text(stage, found, out),
    };
    written.map_err(crate::output::unwritable)?;
    if found.agrees() {
        return Ok(());
    }
    Err(Failure::failed(anyhow!(
        "stage {stage}: {} line ids missing from a store, {} held more than once",
        found.missing(),
        found.duplicated()
    ))
    .hint("the text shows the first ids of each; --output json lists them all"))
}

fn write_text(stage: &str, found: &Reconciliation, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<10} {:>9} {:>9} {:>9} {:>8} {:>10}",
        "day", "lake", "dynamodb", "redshift", "missing", "duplicated"
    )?;
    let count = |counts: &std::collections::BTreeMap<Store, usize>, store| {
        counts
            .get(&store)
            .map_or_else(|| "-".to_string(), usize::to_string)
    };
    let mut totals = std::collections::BTreeMap::new();
    for day in &found.days {
        for (store, n) in &day.counts {
            *totals.entry(*store).or_insert(0) += n;
        }
        writeln!(
            out,
            "{:<10} {:>9} {:>9} {:>9} {:>8} {:>10}",
            day.day,
            count(&day.counts, Store::Lake),
            count(&day.counts, Store::Dynamodb),
            count(&day.counts, Store::Redshift),
            day.missing.len(),
            day.duplicated.len()
        )?;
    }
    if found.days.is_empty() {
        writeln!(out, "(no lines in any store for these days)")?;
    } else {
        for &store in &found.checked {
            totals.entry(store).or_insert(0);
        }
        writeln!(
            out,
            "{:<10} {:>9} {:>9} {:>9} {:>8} {:>10}",
            "total",
            count(&totals, Store::Lake),
            count(&totals, Store::Dynamodb),
            count(&totals, Store::Redshift),
            found.missing(),
            found.duplicated()
        )?;
    }
    let missing = found
        .days
        .iter()
        .flat_map(|d| d.missing.iter().map(move |m| (d.day, m)));
    write_first(out, "missing", found.missing(), missing, |out, (day, m)| {
        let stores: Vec<_> = m.missing_from.iter().map(|s| s.name()).collect();
        writeln!(out, "  {day} {} not in {}", m.line_id, stores.join(", "))
    })?;
    let duplicated = found
        .days
        .iter()
        .flat_map(|d| d.duplicated.iter().map(move |m| (d.day, m)));
    write_first(
        out,
        "duplicated",
        found.duplicated(),
        duplicated,
        |out, (day, d)| {
            writeln!(
                out,
                "  {day} {} {} times in {}",
                d.line_id,
                d.times,
                d.store.name()
            )
        },
    )?;
    for not in &found.not_checked {
        writeln!(out, "not checked {}: {}", not.store.name(), not.reason)?;
    }
    let checked: Vec<_> = found.checked.iter().map(|s| s.name()).collect();
    let verdict = if found.agrees() { "agree" } else { "differ" };
    writeln!(
        out,
        "reconcile {stage}: {} {verdict} over {} days",
        checked.join(", "),
        found.days.len()
    )
}

/// A heading and the first [`SHOWN`] of `total` items.
fn write_first<T>(
    out: &mut dyn Write,
    what: &str,
    total: usize,
    items: impl Iterator<Item = T>,
    mut line: impl FnMut(&mut dyn Write, T) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if total == 0 {
        return Ok(());
    }
    if total > SHOWN {
        writeln!(out, "{what} (first {SHOWN} of {total}):")?;
    } else {
        writeln!(out, "{what}:")?;
    }
    for item in items.take(SHOWN) {
        line(out, item)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::ExitCode;
    use crate::reconcile::Sighting;
    use crate::reconcile::fixtures::{d, lines};

    fn differing() -> Reconciliation {
        reconcile::compare(
            DayRange::default(),
            vec![
                (Store::Lake, lines(&[(1, "a"), (1, "a"), (2, "b")])),
                (Store::Dynamodb, lines(&[(1, "a")])),
                (Store::Redshift, Read::NotChecked("--skip-redshift".into())),
            ],
        )
    }

    fn text(found: &Reconciliation) -> (String, CommandResult) {
        let mut out = Vec::new();
        let result = report("dev", found, Format::Text, &mut out);
        (String::from_utf8(out).unwrap(), result)
    }

    #[test]
    fn the_table_shows_each_day_the_problems_and_the_store_not_checked() {
        let (text, result) = text(&differing());
        assert_eq!(result.unwrap_err().code, ExitCode::Failed);
        let expected = "\
day             lake  dynamodb  redshift  missing duplicated
2010-12-01         2         1         -        0          1
2010-12-02         1         0         -        1          0
total              3         1         -        1          1
missing:
  2010-12-02 b not in dynamodb
duplicated:
  2010-12-01 a 2 times in lake
not checked redshift: --skip-redshift
reconcile dev: lake, dynamodb differ over 2 days
";
        assert_eq!(text, expected);
    }

    #[test]
    fn stores_that_agree_exit_zero() {
        let found = reconcile::compare(
            DayRange::default(),
            vec![
                (Store::Lake, lines(&[(1, "a")])),
                (Store::Dynamodb, lines(&[(1, "a")])),
                (Store::Redshift, lines(&[(1, "a")])),
            ],
        );
        let (text, result) = text(&found);
        assert!(result.is_ok());
        assert!(text.ends_with("reconcile dev: lake, dynamodb, redshift agree over 1 days\n"));
    }

    #[test]
    fn only_the_first_ids_of_many_problems_are_shown() {
        let ids: Vec<String> = (0..8).map(|i| format!("id{i}")).collect();
        let lake: Vec<_> = ids.iter().map(|id| (1, id.as_str())).collect();
        let found = reconcile::compare(
            DayRange::default(),
            vec![(Store::Lake, lines(&lake)), (Store::Dynamodb, lines(&[]))],
        );
        let (text, _) = text(&found);
        assert!(text.contains("missing (first 5 of 8):\n"), "{text}");
        assert_eq!(text.matches(" not in dynamodb").count(), SHOWN);
    }

    #[test]
    fn an_empty_range_says_so_and_agrees() {
        let found = reconcile::compare(
            DayRange::default(),
            vec![(Store::Lake, lines(&[])), (Store::Dynamodb, lines(&[]))],
        );
        let (text, result) = text(&found);
        assert!(result.is_ok());
        assert!(text.contains("(no lines in any store for these days)"));
    }

    mod warehouse {
        use aws_sdk_cloudformation::error::ErrorMetadata;
        use aws_sdk_cloudformation::operation::describe_stacks::{
            DescribeStacksError, DescribeStacksOutput,
        };
        use aws_sdk_cloudformation::primitives::DateTime;
        use aws_sdk_cloudformation::types::{Output as StackOutput, Stack, StackStatus};
        use aws_sdk_redshiftdata::operation::describe_statement::DescribeStatementOutput;
        use aws_sdk_redshiftdata::operation::execute_statement::{
            ExecuteStatementError, ExecuteStatementOutput,
        };
        use aws_sdk_redshiftdata::operation::get_statement_result::GetStatementResultOutput;
        use aws_sdk_redshiftdata::types::{Field, StatusString};
        use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

        use super::*;

        fn cfn(rule: &Rule) -> Cfn {
            let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [rule]);
            Cfn::new(client, Duration::from_millis(1))
        }

        fn warehouse_stack() -> Rule {
            mock!(aws_sdk_cloudformation::Client::describe_stacks)
                .match_requests(|r| r.stack_name() == Some("retail-dev-warehouse"))
                .then_output(|| {
                    let output = |key: &str, value: &str| {
                        StackOutput::builder()
                            .output_key(key)
                            .output_value(value)
                            .build()
                    };
                    DescribeStacksOutput::builder()
                        .stacks(
                            Stack::builder()
                                .stack_name("retail-dev-warehouse")
                                .stack_status(StackStatus::CreateComplete)
                                .creation_time(DateTime::from_secs(0))
                                .outputs(output("ExportClusterRef", "retail-dev-cluster"))
                                .outputs(output("SecretArn", "arn:aws:secretsmanager:wh"))
                                .build(),
                        )
                        .build()
                })
        }

        fn wait() -> redshift::Wait {
            redshift::Wait {
                poll_interval: Duration::from_millis(1),
                max_wait: Duration::from_secs(5),
            }
        }

        async fn read(cfn: &Cfn, data_api: &[&Rule]) -> Read {
            let client = mock_client!(aws_sdk_redshiftdata, RuleMode::MatchAny, data_api);
            read_warehouse(cfn, "retail-dev", &client, DayRange::default(), wait()).await
        }

        #[tokio::test]
        async fn without_a_warehouse_stack_redshift_is_not_checked_and_says_why() {
            let missing = mock!(aws_sdk_cloudformation::Client::describe_stacks).then_error(|| {
                DescribeStacksError::generic(
                    ErrorMetadata::builder()
                        .code("ValidationError")
                        .message("Stack with id retail-dev-warehouse does not exist")
                        .build(),
                )
            });
            assert_eq!(
                read(&cfn(&missing), &[]).await,
                Read::NotChecked("stack retail-dev-warehouse is not deployed".into())
            );
        }

        #[tokio::test]
        async fn a_data_api_that_refuses_leaves_redshift_not_checked_with_its_error() {
            let refused = mock!(aws_sdk_redshiftdata::Client::execute_statement).then_error(|| {
                ExecuteStatementError::generic(
                    aws_sdk_redshiftdata::error::ErrorMetadata::builder()
                        .code("AccessDeniedException")
                        .message("not authorized to perform redshift-data:ExecuteStatement")
                        .build(),
                )
            });
            let Read::NotChecked(why) = read(&cfn(&warehouse_stack()), &[&refused]).await else {
                panic!("a refused query is not a read");
            };
            assert!(why.contains("retail-dev-cluster"), "{why}");
            assert!(why.contains("not authorized"), "{why}");
        }

        #[tokio::test]
        async fn the_warehouse_stacks_outputs_name_the_cluster_and_secret_queried() {
            let execute = mock!(aws_sdk_redshiftdata::Client::execute_statement)
                .match_requests(|r| {
                    r.cluster_identifier() == Some("retail-dev-cluster")
                        && r.secret_arn() == Some("arn:aws:secretsmanager:wh")
                        && r.database() == Some("retail")
                        && r.sql()
                            .is_some_and(|sql| sql.contains("public.transactions"))
                })
                .then_output(|| ExecuteStatementOutput::builder().id("s").build());
            let describe =
                mock!(aws_sdk_redshiftdata::Client::describe_statement).then_output(|| {
                    DescribeStatementOutput::builder()
                        .id("s")
                        .status(StatusString::Finished)
                        .build()
                        .unwrap()
                });
            let result =
                mock!(aws_sdk_redshiftdata::Client::get_statement_result).then_output(|| {
                    GetStatementResultOutput::builder()
                        .records(vec![
                            Field::StringValue("2010-12-01".into()),
                            Field::StringValue("k-1".into()),
                        ])
                        .build()
                        .unwrap()
                });
            let read = read(&cfn(&warehouse_stack()), &[&execute, &describe, &result]).await;
            assert_eq!(read, Read::Lines(vec![Sighting::new(d(1), "k-1")]));
        }
    }

    #[test]
    fn json_carries_the_verdict_and_every_id() {
        let mut out = Vec::new();
        let result = report("dev", &differing(), Format::Json, &mut out);
        assert!(result.is_err());
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["stage"], "dev");
        assert_eq!(json["agrees"], false);
        assert_eq!(
            (json["missing"].clone(), json["duplicated"].clone()),
            (1.into(), 1.into())
        );
        assert_eq!(json["checked"], serde_json::json!(["lake", "dynamodb"]));
        assert_eq!(json["notChecked"][0]["store"], "redshift");
        assert_eq!(json["days"][1]["missing"][0]["lineId"], "b");
    }
}
