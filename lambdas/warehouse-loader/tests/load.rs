//! A loader run end to end, with the lake (S3) and the warehouse (the Data
//! API) answered in process: what it lists, what it writes, and the SQL it
//! runs, as the specification of a run.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_redshiftdata::operation::batch_execute_statement::BatchExecuteStatementOutput;
use aws_sdk_redshiftdata::operation::describe_statement::DescribeStatementOutput;
use aws_sdk_redshiftdata::operation::get_statement_result::GetStatementResultOutput;
use aws_sdk_redshiftdata::types::{Field, StatusString};
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::{CommonPrefix, Object};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use chrono::NaiveDate;
use record::lake_imports::Part;
use warehouse_loader::{Clients, Config, LoaderError, Options, Request, handle};

const LAKE: &str = "retail-prod-private-lake-111122223333";
/// The run's start; its cutoff is five minutes before.
const NOW: i64 = 1_800_000_000;
const CUTOFF: i64 = NOW - 300;
const DAY: i64 = 24 * 3600;

fn config() -> Config {
    Config::from_vars(|name| {
        Some(
            match name {
                "LAKE_BUCKET" => LAKE,
                "LOAD_BUCKET" => "retail-loads",
                "CLUSTER_IDENTIFIER" => "retail-cluster",
                "DATABASE" => "retail",
                "WAREHOUSE_SECRET_ARN" => "arn:aws:secretsmanager:eu-west-1:444455556666:secret:wh",
                "COPY_ROLE_ARN" => "arn:aws:iam::444455556666:role/retail-prod-private-lake-copy",
                "SLICES" => "2",
                _ => return None,
            }
            .to_owned(),
        )
    })
    .unwrap()
}

fn options() -> Options {
    Options {
        poll_interval: Duration::from_millis(1),
        max_wait: Duration::from_secs(5),
        ..Options::at(NOW)
    }
}

fn december(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2010, 12, day).unwrap()
}

fn object(key: &str, last_modified: i64) -> Object {
    Object::builder()
        .key(key)
        .last_modified(DateTime::from_secs(last_modified))
        .build()
}

/// The lake: its day partitions, and each prefix's pages of objects; no
/// bulk import.
fn lake(days: &[&str], pages: Vec<(&'static str, Option<&'static str>, Vec<Object>)>) -> Vec<Rule> {
    lake_with_imports(days, pages, Vec::new())
}

/// The lake, with `imports` listed under `raw/imports/`.
fn lake_with_imports(
    days: &[&str],
    pages: Vec<(&'static str, Option<&'static str>, Vec<Object>)>,
    imports: Vec<String>,
) -> Vec<Rule> {
    let prefixes: Vec<CommonPrefix> = days
        .iter()
        .map(|day| {
            CommonPrefix::builder()
                .prefix(format!("raw/date={day}/"))
                .build()
        })
        .collect();
    let imports: Vec<Object> = imports.iter().map(|key| object(key, NOW - DAY)).collect();
    let mut rules = vec![
        mock!(aws_sdk_s3::Client::list_objects_v2)
            .match_requests(|r| r.bucket() == Some(LAKE) && r.prefix() == Some("raw/imports/"))
            .then_output(move || {
                ListObjectsV2Output::builder()
                    .set_contents(Some(imports.clone()))
                    .build()
            }),
        mock!(aws_sdk_s3::Client::list_objects_v2)
            .match_requests(|r| r.bucket() == Some(LAKE) && r.delimiter() == Some("/"))
            .then_output(move || {
                ListObjectsV2Output::builder()
                    .set_common_prefixes(Some(prefixes.clone()))
                    .build()
            }),
    ];
    // Page n of a prefix answers the request carrying token n-1.
    let mut previous: Option<(&str, &str)> = None;
    for (prefix, next, objects) in pages {
        let expected_token = previous
            .filter(|(p, _)| *p == prefix)
            .map(|(_, token)| token.to_owned());
        rules.push(
            mock!(aws_sdk_s3::Client::list_objects_v2)
                .match_requests(move |r| {
                    r.bucket() == Some(LAKE)
                        && r.delimiter().is_none()
                        && r.prefix() == Some(prefix)
                        && r.continuation_token().map(str::to_owned) == expected_token
                })
                .then_output(move || {
                    ListObjectsV2Output::builder()
                        .set_contents(Some(objects.clone()))
                        .set_next_continuation_token(next.map(str::to_owned))
                        .build()
                }),
        );
        previous = next.map(|token| (prefix, token));
    }
    rules
}

/// What the run wrote and ran.
#[derive(Debug, Default)]
struct Recorded {
    manifests: Vec<(String, String)>,
    loads: Vec<Vec<String>>,
}

fn s3(rules: Vec<Rule>, recorded: Arc<Mutex<Recorded>>) -> aws_sdk_s3::Client {
    let put = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| r.bucket() == Some("retail-loads"))
        .then_compute_output(move |r| {
            let body = r.body().bytes().map(|b| b.to_vec()).unwrap_or_default();
            recorded.lock().unwrap().manifests.push((
                r.key().unwrap_or_default().to_owned(),
                String::from_utf8(body).unwrap(),
            ));
            PutObjectOutput::builder().build()
        });
    let mut all: Vec<&Rule> = rules.iter().collect();
    all.push(&put);
    mock_client!(aws_sdk_s3, RuleMode::MatchAny, all.as_slice())
}

/// The warehouse: the loads table answers `state` (day, loaded through,
/// newest); each load ends with `load_status`.
fn warehouse(
    state: Vec<(&'static str, i64, i64)>,
    load_status: StatusString,
    recorded: Arc<Mutex<Recorded>>,
) -> aws_sdk_redshiftdata::Client {
    warehouse_with_imports(state, Vec::new(), load_status, recorded)
}

/// The warehouse, whose imports table answers `imports` (file, stamp).
fn warehouse_with_imports(
    state: Vec<(&'static str, i64, i64)>,
    imports: Vec<(&'static str, &'static str)>,
    load_status: StatusString,
    recorded: Arc<Mutex<Recorded>>,
) -> aws_sdk_redshiftdata::Client {
    let state_of = |table: &'static str| {
        move |r: &aws_sdk_redshiftdata::operation::batch_execute_statement::BatchExecuteStatementInput| {
            r.sqls().len() == 2
                && r.sqls()[0].starts_with(&format!("CREATE TABLE IF NOT EXISTS public.{table} "))
        }
    };
    let submit_state = mock!(aws_sdk_redshiftdata::Client::batch_execute_statement)
        .match_requests(state_of("lake_loads"))
        .then_output(|| BatchExecuteStatementOutput::builder().id("state").build());
    let submit_imports_state = mock!(aws_sdk_redshiftdata::Client::batch_execute_statement)
        .match_requests(state_of("lake_imports"))
        .then_output(|| BatchExecuteStatementOutput::builder().id("imports").build());
    let imports_result = mock!(aws_sdk_redshiftdata::Client::get_statement_result)
        .match_requests(|r| r.id() == Some("imports:2"))
        .then_output(move || {
            let records = imports
                .iter()
                .map(|(file, stamp)| {
                    vec![
                        Field::StringValue((*file).to_owned()),
                        Field::StringValue((*stamp).to_owned()),
                    ]
                })
                .collect();
            GetStatementResultOutput::builder()
                .set_records(Some(records))
                .build()
                .unwrap()
        });
    let submit_load = mock!(aws_sdk_redshiftdata::Client::batch_execute_statement)
        .match_requests(|r| {
            r.cluster_identifier() == Some("retail-cluster")
                && r.secret_arn() == Some("arn:aws:secretsmanager:eu-west-1:444455556666:secret:wh")
                && r.sqls().first().is_some_and(|s| s.starts_with("LOCK "))
        })
        .then_compute_output(move |r| {
            let mut recorded = recorded.lock().unwrap();
            recorded.loads.push(r.sqls().to_vec());
            BatchExecuteStatementOutput::builder()
                .id(format!("load-{}", recorded.loads.len()))
                .build()
        });
    let describe =
        mock!(aws_sdk_redshiftdata::Client::describe_statement).then_compute_output(move |r| {
            let status = if matches!(r.id(), Some("state" | "imports")) {
                StatusString::Finished
            } else {
                load_status.clone()
            };
            DescribeStatementOutput::builder()
                .id(r.id().unwrap_or_default())
                .status(status)
                .set_error(
                    (load_status == StatusString::Failed)
                        .then(|| "ERROR: S3ServiceException: Access Denied".to_owned()),
                )
                .build()
                .unwrap()
        });
    let result = mock!(aws_sdk_redshiftdata::Client::get_statement_result)
        .match_requests(|r| r.id() == Some("state:2"))
        .then_output(move || {
            let records = state
                .iter()
                .map(|(day, through, newest)| {
                    vec![
                        Field::StringValue((*day).to_owned()),
                        Field::LongValue(*through),
                        Field::LongValue(*newest),
                    ]
                })
                .collect();
            GetStatementResultOutput::builder()
                .set_records(Some(records))
                .build()
                .unwrap()
        });
    mock_client!(
        aws_sdk_redshiftdata,
        RuleMode::MatchAny,
        [
            &submit_state,
            &submit_imports_state,
            &submit_load,
            &describe,
            &result,
            &imports_result
        ]
    )
}

fn key(day: &str, n: u32) -> String {
    format!("raw/date={day}/shardId-000000000000-{n:05}.jsonl")
}

#[tokio::test]
async fn a_scheduled_run_loads_what_was_written_since_each_day_was_loaded_and_records_the_days() {
    let recorded = Arc::new(Mutex::new(Recorded::default()));
    let (k1, k2, k3, k4) = (
        key("2010-12-01", 1),
        key("2010-12-01", 2),
        key("2010-12-02", 1),
        key("2010-12-02", 2),
    );
    let rules = lake(
        // November's last object is older than a week: it is not listed.
        &["2010-11-30", "2010-12-01", "2010-12-02"],
        vec![
            (
                "raw/date=2010-12-01/",
                None,
                vec![object(&k1, NOW - 4_000), object(&k2, NOW - 1_500)],
            ),
            // Two pages.
            (
                "raw/date=2010-12-02/",
                Some("page-2"),
                vec![object(&k3, NOW - 1_200)],
            ),
            (
                "raw/date=2010-12-02/",
                None,
                vec![
                    object(&k4, NOW - 10),
                    object(&key("2010-12-02", 3), NOW - 1_300),
                ],
            ),
        ],
    );
    let clients = Clients {
        s3: s3(rules, recorded.clone()),
        redshift_data: warehouse(
            vec![
                ("2010-11-30", NOW - 8 * DAY, NOW - 8 * DAY - 60),
                ("2010-12-01", NOW - 3_600, NOW - 4_000),
            ],
            StatusString::Finished,
            recorded.clone(),
        ),
    };
    let summary = handle(&clients, &config(), Request::Scheduled {}, &options())
        .await
        .unwrap();

    assert_eq!(summary.cutoff, CUTOFF);
    assert_eq!(
        summary.days_listed, 2,
        "December's two days, not November's"
    );
    assert_eq!(summary.objects_listed, 5);
    assert_eq!(summary.pending, 3);
    assert_eq!(summary.too_recent, 1, "written within the settle time");
    assert_eq!(summary.loads.len(), 1);
    assert_eq!(summary.loads[0].objects, 3);
    assert_eq!(summary.loads[0].completed_days, 2);
    assert_eq!(summary.stopped, None);

    let recorded = recorded.lock().unwrap();
    let (manifest_key, manifest) = &recorded.manifests[0];
    assert_eq!(manifest_key, "manifests/20270115T075500Z/00001.json");
    let manifest: serde_json::Value = serde_json::from_str(manifest).unwrap();
    let urls: Vec<&str> = manifest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        vec![
            format!("s3://{LAKE}/{k2}"),
            format!("s3://{LAKE}/{k3}"),
            format!("s3://{LAKE}/{}", key("2010-12-02", 3)),
        ]
    );
    let sqls = &recorded.loads[0];
    assert_eq!(
        sqls[0],
        "LOCK public.transactions, public.transactions_staging"
    );
    assert!(
        sqls[1].starts_with("COPY public.transactions_staging (invoice_no, ")
            && sqls[1].ends_with(
                "FROM 's3://retail-loads/manifests/20270115T075500Z/00001.json' IAM_ROLE \
             'arn:aws:iam::444455556666:role/retail-prod-private-lake-copy' MANIFEST json 'auto' \
             timeformat 'auto' truncatecolumns"
            ),
        "{}",
        sqls[1]
    );
    assert_eq!(
        sqls.last().unwrap(),
        &format!(
            "INSERT INTO public.lake_loads (partition_date, loaded_through, newest_object, \
             objects) VALUES ('2010-12-01', {CUTOFF}, {}, 1), ('2010-12-02', {CUTOFF}, {}, 2)",
            NOW - 1_500,
            NOW - 1_200
        )
    );
}

#[tokio::test]
async fn a_run_given_days_loads_those_days_whole_without_listing_the_others() {
    let recorded = Arc::new(Mutex::new(Recorded::default()));
    let rules = lake(
        &[],
        vec![(
            "raw/date=2010-12-01/",
            None,
            vec![
                object(&key("2010-12-01", 1), 10),
                object(&key("2010-12-01", 2), 20),
            ],
        )],
    );
    let clients = Clients {
        s3: s3(rules, recorded.clone()),
        redshift_data: warehouse(
            vec![("2010-12-01", 1_000, 20)],
            StatusString::Finished,
            recorded.clone(),
        ),
    };
    let request = Request::Days {
        from: december(1),
        to: december(1),
    };
    let summary = handle(&clients, &config(), request, &options())
        .await
        .unwrap();
    assert_eq!(summary.days_listed, 1);
    assert_eq!(
        summary.loads[0].objects, 2,
        "loaded again, already loaded or not"
    );
    assert_eq!(summary.loads[0].first_day, Some(december(1)));
}

#[tokio::test]
async fn a_failed_load_records_nothing_and_fails_the_run_saying_so() {
    let recorded = Arc::new(Mutex::new(Recorded::default()));
    let rules = lake(
        &["2010-12-01"],
        vec![(
            "raw/date=2010-12-01/",
            None,
            vec![
                object(&key("2010-12-01", 1), 10),
                object(&key("2010-12-01", 2), 20),
            ],
        )],
    );
    let clients = Clients {
        s3: s3(rules, recorded.clone()),
        redshift_data: warehouse(vec![], StatusString::Failed, recorded.clone()),
    };
    let error = handle(&clients, &config(), Request::Scheduled {}, &options())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            LoaderError::Load {
                loaded: 0,
                objects: 2,
                ..
            }
        ),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("failed, nothing of it is recorded and the next run loads its objects again"),
        "{error}"
    );
    assert!(error.to_string().contains("Access Denied"), "{error}");
}

#[tokio::test]
async fn a_run_past_its_deadline_starts_no_load_and_says_why() {
    let recorded = Arc::new(Mutex::new(Recorded::default()));
    let rules = lake(
        &["2010-12-01"],
        vec![(
            "raw/date=2010-12-01/",
            None,
            vec![object(&key("2010-12-01", 1), 10)],
        )],
    );
    let clients = Clients {
        s3: s3(rules, recorded.clone()),
        redshift_data: warehouse(vec![], StatusString::Finished, recorded.clone()),
    };
    // The deadline has passed: the loads table is still read (a finished
    // statement is taken as it is), but no load is started.
    let options = Options {
        deadline: Some(tokio::time::Instant::now()),
        ..options()
    };
    let summary = handle(&clients, &config(), Request::Scheduled {}, &options)
        .await
        .unwrap();
    assert!(summary.loads.is_empty());
    assert_eq!(
        summary.stopped.as_deref(),
        Some("the invocation's deadline came after 0 loads; the next run goes on")
    );
    assert_eq!(summary.pending, 1, "planned, not loaded");
    assert!(recorded.lock().unwrap().loads.is_empty());
}

fn import_key(file: &str, stamp: &str, part: Part) -> String {
    record::lake_imports::key(file, stamp, part)
}

#[tokio::test]
async fn a_scheduled_run_applies_each_complete_import_version_not_loaded_yet_in_order() {
    const FIRST: &str = "20101202T020000.000Z";
    const SECOND: &str = "20101203T020000.000Z";
    const THIRD: &str = "20101204T020000.000Z";
    let recorded = Arc::new(Mutex::new(Recorded::default()));
    let mut keys = Vec::new();
    // a.csv: the first version is loaded; two corrections since.
    keys.push(import_key("a.csv", FIRST, Part::Rows));
    keys.push(import_key("a.csv", FIRST, Part::Done));
    for stamp in [SECOND, THIRD] {
        for part in Part::ALL {
            keys.push(import_key("a.csv", stamp, part));
        }
    }
    // b.csv: being written.
    keys.push(import_key("b.csv", THIRD, Part::Rows));
    let rules = lake_with_imports(&[], vec![], keys);
    let clients = Clients {
        s3: s3(rules, recorded.clone()),
        redshift_data: warehouse_with_imports(
            vec![],
            vec![("a.csv", FIRST)],
            StatusString::Finished,
            recorded.clone(),
        ),
    };
    let summary = handle(&clients, &config(), Request::Scheduled {}, &options())
        .await
        .unwrap();

    let imports = summary.imports.unwrap();
    assert_eq!(imports.keys_listed, 9);
    assert_eq!(
        imports.loaded,
        [format!("a.csv@{SECOND}"), format!("a.csv@{THIRD}")]
    );
    assert_eq!(imports.incomplete, 1, "b.csv has no done.json");
    let recorded = recorded.lock().unwrap();
    assert_eq!(recorded.loads.len(), 2, "one transaction per version");
    for (sqls, stamp) in recorded.loads.iter().zip([SECOND, THIRD]) {
        assert!(sqls[0].starts_with("LOCK "));
        assert!(
            sqls.iter()
                .any(|sql| sql.contains(&format!("raw/imports/a.csv/{stamp}/replaced.jsonl"))),
            "{sqls:#?}"
        );
        assert_eq!(
            sqls.last().unwrap(),
            &format!(
                "INSERT INTO public.lake_imports (file_name, stamp) VALUES ('a.csv', '{stamp}')"
            )
        );
    }
}

#[tokio::test]
async fn a_failed_import_version_records_nothing_and_fails_the_run_naming_it() {
    let recorded = Arc::new(Mutex::new(Recorded::default()));
    const STAMP: &str = "20101202T020000.000Z";
    let keys = vec![
        import_key("a.csv", STAMP, Part::Rows),
        import_key("a.csv", STAMP, Part::Done),
    ];
    let clients = Clients {
        s3: s3(lake_with_imports(&[], vec![], keys), recorded.clone()),
        redshift_data: warehouse(vec![], StatusString::Failed, recorded.clone()),
    };
    let error = handle(&clients, &config(), Request::Scheduled {}, &options())
        .await
        .unwrap_err();
    assert!(
        matches!(error, LoaderError::LoadVersion { loaded: 0, .. }),
        "{error}"
    );
    assert!(
        error.to_string().starts_with(&format!(
            "loading the import version a.csv@{STAMP} failed, nothing of it is recorded"
        )),
        "{error}"
    );
}

#[tokio::test]
async fn a_run_given_days_leaves_the_imports_to_the_schedule() {
    let recorded = Arc::new(Mutex::new(Recorded::default()));
    let keys = vec![import_key("a.csv", "20101202T020000.000Z", Part::Done)];
    let clients = Clients {
        s3: s3(
            lake_with_imports(&[], vec![("raw/date=2010-12-01/", None, vec![])], keys),
            recorded.clone(),
        ),
        redshift_data: warehouse(vec![], StatusString::Finished, recorded.clone()),
    };
    let request = Request::Days {
        from: december(1),
        to: december(1),
    };
    let summary = handle(&clients, &config(), request, &options())
        .await
        .unwrap();
    assert_eq!(summary.imports, None);
    assert!(recorded.lock().unwrap().loads.is_empty());
}

#[test]
fn the_event_names_days_or_is_a_scheduled_run() {
    let parse = |text: &str| Request::from_event(&serde_json::from_str(text).unwrap());
    assert_eq!(
        parse(r#"{"source": "aws.events", "detail-type": "Scheduled Event"}"#).unwrap(),
        Request::Scheduled {}
    );
    assert_eq!(
        parse(r#"{"from": "2010-12-01", "to": "2010-12-09"}"#).unwrap(),
        Request::Days {
            from: december(1),
            to: december(9)
        }
    );
    for bad in [
        r#"{"from": "2010-12-01"}"#,
        r#"{"from": "2010-12-09", "to": "2010-12-01"}"#,
        r#"{"from": "yesterday", "to": "2010-12-01"}"#,
    ] {
        let error = parse(bad).unwrap_err().to_string();
        assert!(error.contains("\"from\": \"YYYY-MM-DD\""), "{bad}: {error}");
    }
}
