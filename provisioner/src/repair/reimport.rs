//! `provisioner reimport`: days of the lake loaded into the warehouse
//! again. Each day is its own transaction ([`super::warehouse`]): COPY its
//! partition `raw/date=YYYY-MM-DD/` into staging under the lock, merge by
//! `line_id`. A day already in the warehouse gets its rows replaced, not
//! added, and the lake's own repeats (a client's resend kept under two
//! keys) become one row, so a reimport can be run again at any time.
//!
//! The lake is listed first: COPY fails on a prefix with no objects, and
//! a day the lake does not have is worth saying, not an error.
//!
//! Bulk files handed to the lake (a stage whose warehouse is in another
//! account, `record::lake_imports`) are not in the day partitions: the
//! rows of each file's newest complete version are loaded too, those of
//! the days asked only, one transaction per file ([`load_import`]).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::warehouse::{self, Source};
use crate::deploy::error::AwsError;
use crate::reconcile::DayRange;
use crate::reconcile::lake::{RAW_PREFIX, partition_day};

/// What happened to one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayLoad {
    pub day: NaiveDate,
    /// Lake objects in the day's partition.
    pub objects: usize,
    #[serde(flatten)]
    pub outcome: DayOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum DayOutcome {
    Loaded,
    /// The lake has no objects for the day: nothing to load.
    NotInLake,
    Failed {
        reason: String,
    },
}

/// What happened to one bulk file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportLoad {
    /// The file's name under `incoming/`.
    pub file: String,
    /// The version loaded: its newest complete one.
    pub stamp: String,
    #[serde(flatten)]
    pub outcome: ImportOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum ImportOutcome {
    Loaded,
    Failed { reason: String },
}

/// Loads the rows of `from..=to` of the bulk version whose `rows.jsonl` is
/// `rows_key` and says how it went.
pub async fn load_import(
    data_api: &aws_sdk_redshiftdata::Client,
    config: &batch_import::config::DataApi,
    lake_bucket: &str,
    rows_key: &str,
    days: (NaiveDate, NaiveDate),
    wait: &redshift_statements::Wait,
) -> ImportLoad {
    let version = record::lake_imports::parse(rows_key);
    let (file, stamp) = version.map_or((rows_key, ""), |v| (v.file, v.stamp));
    let source = Source::Prefix {
        bucket: lake_bucket.to_owned(),
        prefix: rows_key.to_owned(),
    };
    let loaded = warehouse::load_within(
        data_api,
        config,
        "provisioner reimport",
        &source,
        days,
        wait,
    )
    .await;
    ImportLoad {
        file: file.to_owned(),
        stamp: stamp.to_owned(),
        outcome: match loaded {
            Ok(()) => ImportOutcome::Loaded,
            Err(e) => ImportOutcome::Failed {
                reason: e.to_string(),
            },
        },
    }
}

/// The days of `from..=to` with the number of lake objects each holds
/// (zero for a day the lake does not have).
pub async fn lake_days(
    s3: &aws_sdk_s3::Client,
    lake_bucket: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<BTreeMap<NaiveDate, usize>, AwsError> {
    let range = DayRange {
        from: Some(from),
        to: Some(to),
    };
    let mut days: BTreeMap<NaiveDate, usize> = from
        .iter_days()
        .take_while(|day| *day <= to)
        .map(|day| (day, 0))
        .collect();
    for key in crate::reconcile::lake::keys(s3, lake_bucket, range).await? {
        if let Some(day) = partition_day(&key) {
            *days.entry(day).or_default() += 1;
        }
    }
    Ok(days)
}

/// The partition of `day`: COPY reads every object under it.
pub fn partition(lake_bucket: &str, day: NaiveDate) -> Source {
    Source::Prefix {
        bucket: lake_bucket.to_owned(),
        prefix: format!("{RAW_PREFIX}{day}/"),
    }
}

/// Loads one day (`objects` lake objects) and says how it went.
pub async fn load_day(
    data_api: &aws_sdk_redshiftdata::Client,
    config: &batch_import::config::DataApi,
    lake_bucket: &str,
    day: NaiveDate,
    objects: usize,
    wait: &redshift_statements::Wait,
) -> DayLoad {
    let outcome = if objects == 0 {
        DayOutcome::NotInLake
    } else {
        let source = partition(lake_bucket, day);
        match warehouse::load(data_api, config, "provisioner reimport", &source, wait).await {
            Ok(()) => DayOutcome::Loaded,
            Err(e) => DayOutcome::Failed {
                reason: e.to_string(),
            },
        }
    };
    DayLoad {
        day,
        objects,
        outcome,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_sdk_redshiftdata::operation::batch_execute_statement::BatchExecuteStatementOutput;
    use aws_sdk_redshiftdata::operation::describe_statement::DescribeStatementOutput;
    use aws_sdk_redshiftdata::types::StatusString;
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

    use super::*;
    use crate::repair::warehouse::tests::config;

    fn december(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2010, 12, day).unwrap()
    }

    fn wait() -> redshift_statements::Wait {
        redshift_statements::Wait {
            poll_interval: Duration::from_millis(1),
            max_wait: Some(Duration::from_secs(5)),
            deadline: None,
        }
    }

    /// A Data API that takes the batch `expected` on the warehouse of
    /// [`config`] and ends it with `status` (and `error`).
    fn data_api(
        expected: Vec<String>,
        status: StatusString,
        error: Option<&'static str>,
    ) -> (aws_sdk_redshiftdata::Client, Rule) {
        let submit = mock!(aws_sdk_redshiftdata::Client::batch_execute_statement)
            .match_requests(move |r| {
                r.cluster_identifier() == Some("retail-dev-cluster")
                    && r.database() == Some("retail")
                    && r.secret_arn()
                        == Some("arn:aws:secretsmanager:eu-west-1:123456789012:secret:wh")
                    && r.sqls() == expected.as_slice()
            })
            .then_output(|| BatchExecuteStatementOutput::builder().id("load-1").build());
        let describe =
            mock!(aws_sdk_redshiftdata::Client::describe_statement).then_output(move || {
                DescribeStatementOutput::builder()
                    .id("load-1")
                    .status(status.clone())
                    .set_error(error.map(str::to_owned))
                    .build()
                    .unwrap()
            });
        let client = mock_client!(
            aws_sdk_redshiftdata,
            RuleMode::MatchAny,
            [&submit, &describe]
        );
        (client, submit)
    }

    #[tokio::test]
    async fn a_day_of_the_lake_is_loaded_in_one_transaction_of_the_real_statements() {
        let expected =
            warehouse::load_statements(&config(), &partition("retail-dev-lake", december(1)))
                .unwrap();
        assert!(expected[1].contains("FROM 's3://retail-dev-lake/raw/date=2010-12-01/'"));
        let (client, submit) = data_api(expected, StatusString::Finished, None);
        let load = load_day(
            &client,
            &config(),
            "retail-dev-lake",
            december(1),
            12,
            &wait(),
        )
        .await;
        assert_eq!(load.outcome, DayOutcome::Loaded);
        assert_eq!(load.objects, 12);
        assert_eq!(submit.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_day_the_lake_does_not_have_is_not_copied() {
        let (client, submit) = data_api(Vec::new(), StatusString::Finished, None);
        let load = load_day(
            &client,
            &config(),
            "retail-dev-lake",
            december(2),
            0,
            &wait(),
        )
        .await;
        assert_eq!(load.outcome, DayOutcome::NotInLake);
        assert_eq!(submit.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_failed_load_reports_redshifts_error_for_its_day() {
        let expected =
            warehouse::load_statements(&config(), &partition("retail-dev-lake", december(3)))
                .unwrap();
        let (client, _) = data_api(
            expected,
            StatusString::Failed,
            Some("ERROR: Load into table 'transactions_staging' failed. Check 'stl_load_errors'"),
        );
        let load = load_day(
            &client,
            &config(),
            "retail-dev-lake",
            december(3),
            1,
            &wait(),
        )
        .await;
        let DayOutcome::Failed { reason } = load.outcome else {
            panic!("the load failed: {load:?}");
        };
        assert!(
            reason.contains("ended FAILED: ERROR: Load into table"),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn a_bulk_file_loads_the_rows_of_the_days_asked_without_touching_what_is_staged() {
        let key = record::lake_imports::key(
            "day.csv",
            "20101207T020000.000Z",
            record::lake_imports::Part::Rows,
        );
        let source = Source::Prefix {
            bucket: "retail-lake".into(),
            prefix: key.clone(),
        };
        let expected =
            warehouse::load_within_statements(&config(), &source, december(1), december(2))
                .unwrap();
        assert_eq!(
            expected[1],
            "CREATE TEMP TABLE reload_within_days (LIKE public.transactions_staging)"
        );
        assert!(expected[2].starts_with("COPY reload_within_days ("));
        assert!(expected[2].contains(&format!("FROM 's3://retail-lake/{key}'")));
        assert_eq!(
            expected[3],
            "INSERT INTO public.transactions_staging SELECT * FROM reload_within_days WHERE \
             invoice_date >= '2010-12-01' AND invoice_date < '2010-12-03'"
        );
        assert_eq!(
            expected[5..],
            batch_import::merge_statements(&config())[1..],
            "then the merge"
        );
        assert!(
            expected
                .iter()
                .all(|sql| !sql.starts_with("DELETE FROM public.transactions_staging WHERE"))
        );
        let (client, submit) = data_api(expected, StatusString::Finished, None);
        let load = load_import(
            &client,
            &config(),
            "retail-lake",
            &key,
            (december(1), december(2)),
            &wait(),
        )
        .await;
        assert_eq!(
            load,
            ImportLoad {
                file: "day.csv".into(),
                stamp: "20101207T020000.000Z".into(),
                outcome: ImportOutcome::Loaded
            }
        );
        assert_eq!(submit.num_calls(), 1);
    }

    #[test]
    fn a_day_is_its_lake_partition_with_the_trailing_slash() {
        let day = NaiveDate::from_ymd_opt(2010, 12, 1).unwrap();
        assert_eq!(
            partition("retail-dev-lake", day),
            Source::Prefix {
                bucket: "retail-dev-lake".into(),
                // The partition itself, not every key that starts alike.
                prefix: "raw/date=2010-12-01/".into(),
            }
        );
    }
}
