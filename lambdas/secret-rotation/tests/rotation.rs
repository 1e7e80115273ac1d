//! The four rotation steps against mocked Secrets Manager and Data API
//! clients: what each step calls, what it leaves alone on a re-run, and
//! how it refuses what it must not rotate.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_redshiftdata::operation::batch_execute_statement::BatchExecuteStatementOutput;
use aws_sdk_redshiftdata::operation::describe_statement::DescribeStatementOutput;
use aws_sdk_redshiftdata::types::{StatusString, SubStatementData};
use aws_sdk_secretsmanager::operation::describe_secret::{
    DescribeSecretError, DescribeSecretOutput,
};
use aws_sdk_secretsmanager::operation::get_random_password::GetRandomPasswordOutput;
use aws_sdk_secretsmanager::operation::get_secret_value::{
    GetSecretValueError, GetSecretValueOutput,
};
use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueOutput;
use aws_sdk_secretsmanager::operation::update_secret_version_stage::UpdateSecretVersionStageOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use secret_rotation::{Config, Event, Rotation, RotationError};
use serde_json::json;

const SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:owner-AbCdEf";
const MASTER: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:master-AbCdEf";
const TOKEN: &str = "4b8f7e7a-0000-4000-8000-000000000002";
const CURRENT_VERSION: &str = "4b8f7e7a-0000-4000-8000-000000000001";
const OLD_PASSWORD: &str = "Old1PasswordOfTheOwner";
const NEW_PASSWORD: &str = "New2PasswordOfTheOwner";

fn config() -> Config {
    Config {
        cluster_identifier: "retail-warehouse".into(),
        database: "retail".into(),
        master_secret_arn: MASTER.into(),
    }
}

fn event(step: &str) -> Event {
    Event {
        secret_id: SECRET.into(),
        client_request_token: TOKEN.into(),
        step: step.into(),
    }
}

fn value(password: &str) -> String {
    json!({"username": "retail_owner", "password": password, "engine": "redshift"}).to_string()
}

/// DescribeSecret's answer: rotation enabled or not, and the versions.
fn described(enabled: bool, versions: &[(&str, &[&str])]) -> Rule {
    let mut output = DescribeSecretOutput::builder()
        .arn(SECRET)
        .rotation_enabled(enabled);
    for (version, stages) in versions {
        output = output
            .version_ids_to_stages(*version, stages.iter().map(|s| (*s).to_owned()).collect());
    }
    let output = output.build();
    mock!(aws_sdk_secretsmanager::Client::describe_secret)
        .match_requests(|input| input.secret_id() == Some(SECRET))
        .then_output(move || output.clone())
}

/// The usual state during a rotation: the current version and the token
/// staged AWSPENDING.
fn rotating() -> Rule {
    described(
        true,
        &[(CURRENT_VERSION, &["AWSCURRENT"]), (TOKEN, &["AWSPENDING"])],
    )
}

fn current_value(text: String) -> Rule {
    mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .match_requests(|input| {
            input.version_stage() == Some("AWSCURRENT") && input.version_id().is_none()
        })
        .then_output(move || {
            GetSecretValueOutput::builder()
                .version_id(CURRENT_VERSION)
                .secret_string(text.clone())
                .build()
        })
}

fn pending_value(text: String) -> Rule {
    mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .match_requests(|input| {
            input.version_stage() == Some("AWSPENDING") && input.version_id() == Some(TOKEN)
        })
        .then_output(move || {
            GetSecretValueOutput::builder()
                .version_id(TOKEN)
                .secret_string(text.clone())
                .build()
        })
}

/// Secrets Manager created the token's version without a value.
fn pending_without_value() -> Rule {
    mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .match_requests(|input| input.version_id() == Some(TOKEN))
        .then_error(|| {
            GetSecretValueError::ResourceNotFoundException(
                aws_sdk_secretsmanager::types::error::ResourceNotFoundException::builder()
                    .message("Secrets Manager can't find the specified secret value")
                    .build(),
            )
        })
}

fn random_password() -> Rule {
    mock!(aws_sdk_secretsmanager::Client::get_random_password)
        .match_requests(|input| {
            input.password_length() == Some(32)
                && input.exclude_characters() == Some("'\"\\/@ ")
                && input.require_each_included_type() == Some(true)
        })
        .then_output(|| {
            GetRandomPasswordOutput::builder()
                .random_password(NEW_PASSWORD)
                .build()
        })
}

type Stored = Arc<Mutex<Vec<(String, String, Vec<String>)>>>;

/// PutSecretValue, recording (token, secret string, stages).
fn put(stored: &Stored) -> Rule {
    let stored = Arc::clone(stored);
    mock!(aws_sdk_secretsmanager::Client::put_secret_value)
        .match_requests(|input| input.secret_id() == Some(SECRET))
        .then_compute_output(move |input| {
            stored.lock().unwrap().push((
                input.client_request_token().unwrap_or_default().to_owned(),
                input.secret_string().unwrap_or_default().to_owned(),
                input.version_stages().to_vec(),
            ));
            PutSecretValueOutput::builder().build()
        })
}

fn move_current() -> Rule {
    mock!(aws_sdk_secretsmanager::Client::update_secret_version_stage)
        .match_requests(|input| {
            input.secret_id() == Some(SECRET)
                && input.version_stage() == Some("AWSCURRENT")
                && input.move_to_version_id() == Some(TOKEN)
                && input.remove_from_version_id() == Some(CURRENT_VERSION)
        })
        .then_output(|| UpdateSecretVersionStageOutput::builder().build())
}

type Submitted = Arc<Mutex<Vec<(String, Vec<String>)>>>;

/// The Data API: records (secret ARN, SQL) of each batch and describes it
/// as `status`, its one sub-statement with `rows` rows and `error`.
fn data_api(
    submitted: &Submitted,
    status: StatusString,
    rows: i64,
    error: Option<&str>,
) -> (aws_sdk_redshiftdata::Client, Rule) {
    let record = Arc::clone(submitted);
    let submit = mock!(aws_sdk_redshiftdata::Client::batch_execute_statement)
        .match_requests(|input| {
            input.cluster_identifier() == Some("retail-warehouse")
                && input.database() == Some("retail")
        })
        .then_compute_output(move |input| {
            record.lock().unwrap().push((
                input.secret_arn().unwrap_or_default().to_owned(),
                input.sqls().to_vec(),
            ));
            BatchExecuteStatementOutput::builder().id("batch-1").build()
        });
    let error = error.map(str::to_owned);
    let describe = mock!(aws_sdk_redshiftdata::Client::describe_statement)
        .match_requests(|input| input.id() == Some("batch-1"))
        .then_compute_output(move |_| {
            let mut sub = SubStatementData::builder()
                .id("batch-1:1")
                .result_rows(rows);
            if let Some(error) = &error {
                sub = sub.error(error);
            }
            DescribeStatementOutput::builder()
                .id("batch-1")
                .status(status.clone())
                .sub_statements(sub.build().unwrap())
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

fn no_data_api() -> (aws_sdk_redshiftdata::Client, Rule) {
    data_api(&Submitted::default(), StatusString::Finished, 1, None)
}

async fn run(
    secrets: &aws_sdk_secretsmanager::Client,
    data_api: &aws_sdk_redshiftdata::Client,
    step: &str,
) -> Result<(), RotationError> {
    let config = config();
    Rotation {
        secrets,
        data_api,
        config: &config,
        poll_interval: Duration::from_millis(1),
        deadline: tokio::time::Instant::now() + Duration::from_secs(30),
    }
    .handle(&event(step))
    .await
}

mod create_secret {
    use super::*;

    #[tokio::test]
    async fn stores_a_generated_password_as_the_pending_version_keeping_the_other_fields() {
        let stored = Stored::default();
        let (describe, current, pending, random, put) = (
            rotating(),
            current_value(value(OLD_PASSWORD)),
            pending_without_value(),
            random_password(),
            put(&stored),
        );
        let secrets = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::MatchAny,
            [&describe, &pending, &current, &random, &put]
        );
        let (data_api, submit) = no_data_api();

        run(&secrets, &data_api, "createSecret").await.unwrap();

        let stored = stored.lock().unwrap();
        assert_eq!(stored.len(), 1);
        let (token, text, stages) = &stored[0];
        assert_eq!(token, TOKEN);
        assert_eq!(stages, &["AWSPENDING"]);
        let stored: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            stored,
            json!({"username": "retail_owner", "password": NEW_PASSWORD, "engine": "redshift"})
        );
        assert_eq!(random.num_calls(), 1);
        assert_eq!(submit.num_calls(), 0, "createSecret touches no database");
    }

    #[tokio::test]
    async fn does_nothing_when_the_pending_version_already_has_a_value() {
        let stored = Stored::default();
        let (describe, current, pending, random, put) = (
            rotating(),
            current_value(value(OLD_PASSWORD)),
            pending_value(value(NEW_PASSWORD)),
            random_password(),
            put(&stored),
        );
        let secrets = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::MatchAny,
            [&describe, &pending, &current, &random, &put]
        );
        let (data_api, _) = no_data_api();

        run(&secrets, &data_api, "createSecret").await.unwrap();

        assert_eq!(random.num_calls(), 0);
        assert!(stored.lock().unwrap().is_empty(), "nothing stored again");
    }

    #[tokio::test]
    async fn refuses_a_current_value_whose_username_would_need_quoting() {
        let stored = Stored::default();
        let (describe, current, pending, random, put) = (
            rotating(),
            current_value(json!({"username": "Owner\"; --", "password": OLD_PASSWORD}).to_string()),
            pending_without_value(),
            random_password(),
            put(&stored),
        );
        let secrets = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::MatchAny,
            [&describe, &pending, &current, &random, &put]
        );
        let (data_api, _) = no_data_api();

        let error = run(&secrets, &data_api, "createSecret").await.unwrap_err();

        assert!(
            matches!(
                &error,
                RotationError::Value {
                    stage: "AWSCURRENT",
                    ..
                }
            ),
            "{error}"
        );
        assert!(stored.lock().unwrap().is_empty());
    }
}

mod set_secret {
    use super::*;

    fn secrets() -> (aws_sdk_secretsmanager::Client, [Rule; 3]) {
        let rules = [
            rotating(),
            pending_value(value(NEW_PASSWORD)),
            current_value(value(OLD_PASSWORD)),
        ];
        let client = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::MatchAny,
            [&rules[0], &rules[1], &rules[2]]
        );
        (client, rules)
    }

    #[tokio::test]
    async fn alters_the_user_through_the_data_api_as_the_master_with_the_password_hashed() {
        let (secrets, _rules) = secrets();
        let submitted = Submitted::default();
        let (data_api, _) = data_api(&submitted, StatusString::Finished, 0, None);

        run(&secrets, &data_api, "setSecret").await.unwrap();

        let submitted = submitted.lock().unwrap();
        assert_eq!(submitted.len(), 1);
        let (secret_arn, sqls) = &submitted[0];
        assert_eq!(secret_arn, MASTER, "logged in as the master");
        assert_eq!(sqls.len(), 1);
        assert!(
            sqls[0].starts_with("ALTER USER \"retail_owner\" PASSWORD 'md5"),
            "{}",
            sqls[0]
        );
        assert!(
            !sqls[0].contains(NEW_PASSWORD),
            "the clear password never goes into SQL"
        );
    }

    #[tokio::test]
    async fn can_run_again_with_the_same_statement() {
        let (secrets, _rules) = secrets();
        let submitted = Submitted::default();
        let (data_api, _) = data_api(&submitted, StatusString::Finished, 0, None);

        run(&secrets, &data_api, "setSecret").await.unwrap();
        run(&secrets, &data_api, "setSecret").await.unwrap();

        let submitted = submitted.lock().unwrap();
        assert_eq!(submitted.len(), 2);
        assert_eq!(submitted[0], submitted[1]);
    }

    #[tokio::test]
    async fn a_failed_statement_is_reported_without_the_password_or_its_hash() {
        let (secrets, _rules) = secrets();
        let submitted = Submitted::default();
        // Redshift echoing the statement in its error.
        let (probe, _) = data_api(&submitted, StatusString::Finished, 0, None);
        run(&secrets, &probe, "setSecret").await.unwrap();
        let sql = submitted.lock().unwrap()[0].1[0].clone();
        let echo = format!("syntax error in {sql} ({NEW_PASSWORD})");
        let (data_api, _) = data_api(&Submitted::default(), StatusString::Failed, 0, Some(&echo));

        let error = run(&secrets, &data_api, "setSecret").await.unwrap_err();

        let message = error.to_string();
        assert!(
            matches!(error, RotationError::SetPassword { .. }),
            "{message}"
        );
        assert!(message.contains("retail_owner"), "{message}");
        assert!(!message.contains(NEW_PASSWORD), "{message}");
        let hash = sql.split('\'').nth(1).unwrap();
        assert!(!message.contains(hash), "{message}");
        assert!(!format!("{error:?}").contains(NEW_PASSWORD));
    }

    #[tokio::test]
    async fn refuses_a_pending_version_for_another_user() {
        let rules = [
            rotating(),
            pending_value(
                json!({"username": "retail_admin", "password": NEW_PASSWORD}).to_string(),
            ),
            current_value(value(OLD_PASSWORD)),
        ];
        let secrets = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::MatchAny,
            [&rules[0], &rules[1], &rules[2]]
        );
        let (data_api, submit) = no_data_api();

        let error = run(&secrets, &data_api, "setSecret").await.unwrap_err();

        assert!(
            matches!(error, RotationError::UserChanged { .. }),
            "{error}"
        );
        assert_eq!(submit.num_calls(), 0);
    }

    #[tokio::test]
    async fn refuses_a_pending_password_redshift_would_refuse() {
        let rules = [
            rotating(),
            pending_value(value("short")),
            current_value(value(OLD_PASSWORD)),
        ];
        let secrets = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::MatchAny,
            [&rules[0], &rules[1], &rules[2]]
        );
        let (data_api, submit) = no_data_api();

        let error = run(&secrets, &data_api, "setSecret").await.unwrap_err();

        assert!(
            matches!(
                error,
                RotationError::Value {
                    stage: "AWSPENDING",
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(submit.num_calls(), 0);
    }
}

mod test_secret {
    use super::*;

    fn secrets() -> (aws_sdk_secretsmanager::Client, [Rule; 2]) {
        let rules = [rotating(), current_value(value(OLD_PASSWORD))];
        let client = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::MatchAny,
            [&rules[0], &rules[1]]
        );
        (client, rules)
    }

    #[tokio::test]
    async fn checks_that_the_user_exists_as_the_master_without_logging_in_as_it() {
        let (secrets, _rules) = secrets();
        let submitted = Submitted::default();
        let (data_api, _) = data_api(&submitted, StatusString::Finished, 1, None);

        run(&secrets, &data_api, "testSecret").await.unwrap();

        let submitted = submitted.lock().unwrap();
        assert_eq!(
            submitted[0],
            (
                MASTER.to_owned(),
                vec!["SELECT 1 FROM pg_user WHERE usename = 'retail_owner'".to_owned()]
            )
        );
    }

    #[tokio::test]
    async fn runs_no_statement_for_the_masters_own_secret() {
        // setSecret has changed the master's password, and the Data API
        // logs in with the master secret's AWSCURRENT (the old password)
        // until finishSecret: any statement would fail to log in.
        let describe = mock!(aws_sdk_secretsmanager::Client::describe_secret)
            .match_requests(|input| input.secret_id() == Some(MASTER))
            .then_output(|| {
                DescribeSecretOutput::builder()
                    .arn(MASTER)
                    .rotation_enabled(true)
                    .version_ids_to_stages(CURRENT_VERSION, vec!["AWSCURRENT".into()])
                    .version_ids_to_stages(TOKEN, vec!["AWSPENDING".into()])
                    .build()
            });
        let secrets = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&describe]);
        let (data_api, submit) = no_data_api();
        let config = config();
        let rotation = Rotation {
            secrets: &secrets,
            data_api: &data_api,
            config: &config,
            poll_interval: Duration::from_millis(1),
            deadline: tokio::time::Instant::now() + Duration::from_secs(30),
        };

        rotation
            .handle(&Event {
                secret_id: MASTER.into(),
                client_request_token: TOKEN.into(),
                step: "testSecret".into(),
            })
            .await
            .unwrap();

        assert_eq!(submit.num_calls(), 0);
    }

    #[tokio::test]
    async fn fails_when_the_user_does_not_exist() {
        let (secrets, _rules) = secrets();
        let (data_api, _) = data_api(&Submitted::default(), StatusString::Finished, 0, None);

        let error = run(&secrets, &data_api, "testSecret").await.unwrap_err();

        assert!(matches!(error, RotationError::NoSuchUser { .. }), "{error}");
        assert!(error.to_string().contains("retail_owner"), "{error}");
    }

    #[tokio::test]
    async fn fails_when_the_query_fails() {
        let (secrets, _rules) = secrets();
        let (data_api, _) = data_api(
            &Submitted::default(),
            StatusString::Failed,
            0,
            Some("permission denied"),
        );

        let error = run(&secrets, &data_api, "testSecret").await.unwrap_err();

        assert!(matches!(error, RotationError::Test { .. }), "{error}");
        assert!(error.to_string().contains("permission denied"), "{error}");
    }
}

mod finish_secret {
    use super::*;

    #[tokio::test]
    async fn moves_awscurrent_to_the_token_from_the_current_version() {
        let (describe, update) = (rotating(), move_current());
        let secrets = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::MatchAny,
            [&describe, &update]
        );
        let (data_api, _) = no_data_api();

        run(&secrets, &data_api, "finishSecret").await.unwrap();

        assert_eq!(update.num_calls(), 1);
    }

    #[tokio::test]
    async fn does_nothing_when_the_token_is_already_current() {
        let (describe, update) = (
            described(
                true,
                &[
                    (CURRENT_VERSION, &["AWSPREVIOUS"]),
                    (TOKEN, &["AWSCURRENT", "AWSPENDING"]),
                ],
            ),
            move_current(),
        );
        let secrets = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::MatchAny,
            [&describe, &update]
        );
        let (data_api, _) = no_data_api();

        run(&secrets, &data_api, "finishSecret").await.unwrap();

        assert_eq!(update.num_calls(), 0);
    }
}

mod every_step {
    use super::*;

    fn only(describe: Rule) -> (aws_sdk_secretsmanager::Client, Rule) {
        let client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&describe]);
        (client, describe)
    }

    const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

    #[tokio::test]
    async fn ends_without_a_change_once_the_token_is_awscurrent() {
        for step in STEPS {
            let (secrets, _) = only(described(true, &[(TOKEN, &["AWSCURRENT"])]));
            let (data_api, submit) = no_data_api();
            run(&secrets, &data_api, step).await.unwrap();
            assert_eq!(submit.num_calls(), 0, "{step}");
        }
    }

    #[tokio::test]
    async fn refuses_a_secret_without_rotation_enabled() {
        for step in STEPS {
            let (secrets, _) = only(described(
                false,
                &[(CURRENT_VERSION, &["AWSCURRENT"]), (TOKEN, &["AWSPENDING"])],
            ));
            let (data_api, _) = no_data_api();
            let error = run(&secrets, &data_api, step).await.unwrap_err();
            assert!(
                matches!(error, RotationError::RotationNotEnabled { .. }),
                "{step}: {error}"
            );
        }
    }

    #[tokio::test]
    async fn refuses_a_token_that_is_not_a_version_of_the_secret() {
        for step in STEPS {
            let (secrets, _) = only(described(true, &[(CURRENT_VERSION, &["AWSCURRENT"])]));
            let (data_api, _) = no_data_api();
            let error = run(&secrets, &data_api, step).await.unwrap_err();
            assert!(
                matches!(error, RotationError::NoSuchVersion { .. }),
                "{step}: {error}"
            );
        }
    }

    #[tokio::test]
    async fn refuses_a_version_not_staged_for_rotation() {
        for step in STEPS {
            let (secrets, _) = only(described(
                true,
                &[
                    (CURRENT_VERSION, &["AWSCURRENT"]),
                    (TOKEN, &["AWSPREVIOUS"]),
                ],
            ));
            let (data_api, _) = no_data_api();
            let error = run(&secrets, &data_api, step).await.unwrap_err();
            assert!(
                matches!(error, RotationError::NotPending { .. }),
                "{step}: {error}"
            );
        }
    }

    #[tokio::test]
    async fn reports_a_secret_it_cannot_describe() {
        let describe = mock!(aws_sdk_secretsmanager::Client::describe_secret).then_error(|| {
            DescribeSecretError::generic(
                aws_sdk_secretsmanager::error::ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message("not authorized")
                    .build(),
            )
        });
        let (secrets, _) = only(describe);
        let (data_api, _) = no_data_api();
        let error = run(&secrets, &data_api, "createSecret").await.unwrap_err();
        assert!(matches!(error, RotationError::Describe { .. }), "{error}");
        assert!(
            error.to_string().contains("AccessDeniedException"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn refuses_an_unknown_step_before_any_call() {
        let (secrets, describe) = only(rotating());
        let (data_api, _) = no_data_api();
        let error = run(&secrets, &data_api, "create_secret").await.unwrap_err();
        assert!(
            matches!(&error, RotationError::UnknownStep { step, .. } if step == "create_secret"),
            "{error}"
        );
        assert_eq!(describe.num_calls(), 0);
    }
}

mod the_event {
    use super::*;

    #[test]
    fn is_read_from_what_secrets_manager_sends() {
        let event: Event = serde_json::from_value(json!({
            "Step": "setSecret",
            "SecretId": SECRET,
            "ClientRequestToken": TOKEN,
            "RotationToken": "opaque"
        }))
        .unwrap();
        assert_eq!(event, super::event("setSecret"));
    }

    #[test]
    fn the_configuration_names_a_missing_variable() {
        let error =
            Config::from_env(|name| (name != "MASTER_SECRET_ARN").then(|| "x".into())).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the function's environment has no MASTER_SECRET_ARN; the Warehouse stack sets it"
        );
    }
}
