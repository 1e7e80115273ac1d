//! The deploy state machine against scripted CloudFormation answers
//! (`aws-smithy-mocks`): what it calls, in which case, and what it reports.

use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::ErrorMetadata;
use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput;
use aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput;
use aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput;
use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
use aws_sdk_cloudformation::operation::describe_events::DescribeEventsOutput;
use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
use aws_sdk_cloudformation::operation::describe_stacks::{
    DescribeStacksError, DescribeStacksOutput,
};
use aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput;
use aws_sdk_cloudformation::primitives::DateTime;
use aws_sdk_cloudformation::types::{
    Change, ChangeSetStatus, EventType, ExecutionStatus, OperationEvent, Output, ResourceChange,
    ResourceStatus, Stack, StackEvent, StackStatus, ValidationStatus,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use provisioner::deploy::cfn::{Cfn, TemplateSource};
use provisioner::deploy::engine::{DestroyOutcome, Engine, Method, Outcome, StackRequest};
use provisioner::deploy::error::{AwsErrorKind, DeployError};
use provisioner::deploy::progress::PlainProgress;
use provisioner::failure::ExitCode;

const NAME: &str = "retail-dev-network";
const STACK_ID: &str = "arn:aws:cloudformation:eu-west-1:123456789012:stack/retail-dev-network/1";
const CHANGE_SET_ARN: &str =
    "arn:aws:cloudformation:eu-west-1:123456789012:changeSet/provisioner-1/abc";

fn stack(status: StackStatus) -> DescribeStacksOutput {
    DescribeStacksOutput::builder()
        .stacks(
            Stack::builder()
                .stack_id(STACK_ID)
                .stack_name(NAME)
                .stack_status(status)
                .creation_time(DateTime::from_secs(0))
                .outputs(
                    Output::builder()
                        .output_key("VpcId")
                        .output_value("vpc-1")
                        .build(),
                )
                .build(),
        )
        .build()
}

fn missing() -> DescribeStacksError {
    DescribeStacksError::generic(
        ErrorMetadata::builder()
            .code("ValidationError")
            .message("Stack with id retail-dev-network does not exist")
            .build(),
    )
}

fn event(id: &str, logical: &str, kind: &str, status: ResourceStatus, reason: &str) -> StackEvent {
    StackEvent::builder()
        .event_id(id)
        .stack_id(STACK_ID)
        .stack_name(NAME)
        .logical_resource_id(logical)
        .resource_type(kind)
        .resource_status(status)
        .resource_status_reason(reason)
        .timestamp(DateTime::from_secs(1_700_000_000))
        .build()
}

/// The token this run (change sets named "provisioner-1") gives each
/// operation on the stack.
const CREATE_TOKEN: &str = "create-provisioner-1-retail-dev-network";
const EXEC_TOKEN: &str = "exec-provisioner-1-retail-dev-network";
const DELETE_TOKEN: &str = "delete-provisioner-1-retail-dev-network";

/// An event of the stack itself, tagged with the token of the operation
/// that caused it.
fn stack_event(id: &str, status: ResourceStatus, token: &str) -> StackEvent {
    StackEvent::builder()
        .event_id(id)
        .stack_id(STACK_ID)
        .stack_name(NAME)
        .logical_resource_id(NAME)
        .physical_resource_id(STACK_ID)
        .resource_type("AWS::CloudFormation::Stack")
        .resource_status(status)
        .client_request_token(token)
        .timestamp(DateTime::from_secs(1_700_000_000))
        .build()
}

/// A resource event of the operation with `token`.
fn own(event: StackEvent, token: &str) -> StackEvent {
    let mut event = event;
    event.client_request_token = Some(token.to_string());
    event
}

/// The last event before this run: the previous deploy's.
fn before() -> StackEvent {
    stack_event("0", ResourceStatus::UpdateComplete, "exec-earlier-run")
}

/// `DescribeStackEvents` for one operation that ends in `status`: the
/// baseline read sees only the earlier event, every later read the
/// operation's own final stack event too.
fn operation_ends(status: ResourceStatus, token: &'static str) -> Rule {
    mock!(Client::describe_stack_events)
        .sequence()
        .output(|| events(vec![before()]))
        .output(move || events(vec![stack_event("9", status.clone(), token), before()]))
        .repeatedly()
        .build()
}

/// Events newest first, as CloudFormation lists them.
fn events(newest_first: Vec<StackEvent>) -> DescribeStackEventsOutput {
    DescribeStackEventsOutput::builder()
        .set_stack_events(Some(newest_first))
        .build()
}

fn change_set_created() -> Rule {
    mock!(Client::create_change_set).then_output(|| {
        CreateChangeSetOutput::builder()
            .id(CHANGE_SET_ARN)
            .stack_id(STACK_ID)
            .build()
    })
}

fn change_set_ready() -> Rule {
    mock!(Client::describe_change_set)
        .match_requests(|r| r.change_set_name() == Some(CHANGE_SET_ARN))
        .then_output(|| {
            DescribeChangeSetOutput::builder()
                .status(ChangeSetStatus::CreateComplete)
                .execution_status(ExecutionStatus::Available)
                .changes(
                    Change::builder()
                        .resource_change(
                            ResourceChange::builder()
                                .logical_resource_id("Vpc")
                                .resource_type("AWS::EC2::VPC")
                                .build(),
                        )
                        .build(),
                )
                .build()
        })
}

fn executed_by_arn() -> Rule {
    mock!(Client::execute_change_set)
        .match_requests(|r| r.change_set_name() == Some(CHANGE_SET_ARN))
        .then_output(|| ExecuteChangeSetOutput::builder().build())
}

fn request() -> StackRequest {
    StackRequest {
        name: NAME.to_string(),
        template: TemplateSource::Body(r#"{"Resources":{}}"#.to_string()),
        termination_protection: false,
        resources: Some(1),
        exported: Default::default(),
    }
}

struct Run {
    result: Result<(Outcome, provisioner::deploy::cfn::StackState), DeployError>,
    progress: String,
}

async fn deploy(rules: &[&Rule]) -> Run {
    let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, rules);
    let cfn = Cfn::new(client, Duration::ZERO);
    let progress = PlainProgress::new(Vec::new());
    let engine = Engine {
        cfn: &cfn,
        progress: &progress,
        method: Method::ChangeSet,
        change_set_name: "provisioner-1".to_string(),
        replacement_gate: None,
        disable_rollback: false,
    };
    let result = engine.deploy(&request()).await;
    drop(engine);
    Run {
        result,
        progress: String::from_utf8(progress.into_inner()).unwrap(),
    }
}

#[tokio::test]
async fn creates_a_missing_stack_through_a_change_set_executed_by_arn() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .error(missing)
        .output(|| stack(StackStatus::CreateComplete))
        .build();
    let events = mock!(Client::describe_stack_events)
        .sequence()
        .output(|| {
            events(vec![event(
                "0",
                NAME,
                "AWS::CloudFormation::Stack",
                ResourceStatus::from("REVIEW_IN_PROGRESS"),
                "User Initiated",
            )])
        })
        .output(|| {
            events(vec![
                stack_event("3", ResourceStatus::CreateComplete, EXEC_TOKEN),
                event(
                    "2",
                    "Vpc",
                    "AWS::EC2::VPC",
                    ResourceStatus::CreateComplete,
                    "",
                ),
                event(
                    "1",
                    "Vpc",
                    "AWS::EC2::VPC",
                    ResourceStatus::CreateInProgress,
                    "",
                ),
                event(
                    "0",
                    NAME,
                    "AWS::CloudFormation::Stack",
                    ResourceStatus::from("REVIEW_IN_PROGRESS"),
                    "",
                ),
            ])
        })
        .build();
    let (created, ready, executed) = (change_set_created(), change_set_ready(), executed_by_arn());
    let run = deploy(&[&describe, &events, &created, &ready, &executed]).await;

    let (outcome, state) = run.result.unwrap();
    assert_eq!(outcome, Outcome::Created);
    assert_eq!(state.outputs["VpcId"], "vpc-1");
    assert_eq!(executed.num_calls(), 1);
    assert!(run.progress.contains("retail-dev-network: creating"));
    let vpc_lines: Vec<_> = run
        .progress
        .lines()
        .filter(|l| l.contains(" Vpc"))
        .collect();
    assert_eq!(
        vpc_lines.len(),
        2,
        "only the new events, oldest first: {}",
        run.progress
    );
    assert!(vpc_lines[0].contains("CREATE_IN_PROGRESS"));
}

#[tokio::test]
async fn updates_a_deployed_stack() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::CreateComplete))
        .output(|| stack(StackStatus::UpdateComplete))
        .build();
    let events = operation_ends(ResourceStatus::UpdateComplete, EXEC_TOKEN);
    let created = mock!(Client::create_change_set)
        .match_requests(|r| {
            r.change_set_type() == Some(&aws_sdk_cloudformation::types::ChangeSetType::Update)
        })
        .then_output(|| {
            CreateChangeSetOutput::builder()
                .id(CHANGE_SET_ARN)
                .stack_id(STACK_ID)
                .build()
        });
    let (ready, executed) = (change_set_ready(), executed_by_arn());
    let run = deploy(&[&describe, &events, &created, &ready, &executed]).await;

    assert_eq!(run.result.unwrap().0, Outcome::Updated);
    assert_eq!(created.num_calls(), 1);
    assert_eq!(executed.num_calls(), 1);
}

#[tokio::test]
async fn an_empty_change_set_is_deleted_and_reported_as_no_changes() {
    let describe =
        mock!(Client::describe_stacks).then_output(|| stack(StackStatus::UpdateComplete));
    let created = change_set_created();
    let empty = mock!(Client::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::Failed)
            .status_reason("The submitted information didn't contain changes.")
            .execution_status(ExecutionStatus::Unavailable)
            .build()
    });
    let deleted = mock!(Client::delete_change_set)
        .match_requests(|r| r.change_set_name() == Some(CHANGE_SET_ARN))
        .then_output(|| DeleteChangeSetOutput::builder().build());
    let executed = executed_by_arn();
    let run = deploy(&[&describe, &created, &empty, &deleted, &executed]).await;

    assert_eq!(run.result.unwrap().0, Outcome::NoChanges);
    assert_eq!(deleted.num_calls(), 1);
    assert_eq!(executed.num_calls(), 0);
}

#[tokio::test]
async fn a_stack_whose_first_create_failed_is_deleted_then_created_again() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::RollbackComplete))
        // while deleting: gone
        .error(missing)
        // after the create
        .output(|| stack(StackStatus::CreateComplete))
        .build();
    let events = mock!(Client::describe_stack_events)
        .sequence()
        // the delete's baseline and wait, the create's baseline
        .output(|| events(vec![before()]))
        .times(3)
        .output(|| {
            events(vec![
                stack_event("9", ResourceStatus::CreateComplete, EXEC_TOKEN),
                before(),
            ])
        })
        .repeatedly()
        .build();
    let delete = mock!(Client::delete_stack)
        .match_requests(|r| {
            r.stack_name() == Some(STACK_ID) && r.client_request_token() == Some(DELETE_TOKEN)
        })
        .then_output(|| DeleteStackOutput::builder().build());
    let created = mock!(Client::create_change_set)
        .match_requests(|r| {
            r.change_set_type() == Some(&aws_sdk_cloudformation::types::ChangeSetType::Create)
        })
        .then_output(|| {
            CreateChangeSetOutput::builder()
                .id(CHANGE_SET_ARN)
                .stack_id(STACK_ID)
                .build()
        });
    let (ready, executed) = (change_set_ready(), executed_by_arn());
    let run = deploy(&[&describe, &events, &delete, &created, &ready, &executed]).await;

    assert_eq!(run.result.unwrap().0, Outcome::Created);
    assert_eq!(delete.num_calls(), 1);
    assert_eq!(created.num_calls(), 1);
    assert!(
        run.progress
            .contains("its first create failed: ROLLBACK_COMPLETE")
    );
}

#[tokio::test]
async fn a_rolled_back_update_reports_the_first_failed_resource_and_its_reason() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::UpdateComplete))
        .output(|| stack(StackStatus::UpdateRollbackComplete))
        .build();
    let events = mock!(Client::describe_stack_events)
        .sequence()
        .output(|| {
            events(vec![event(
                "0",
                NAME,
                "AWS::CloudFormation::Stack",
                ResourceStatus::UpdateComplete,
                "",
            )])
        })
        .output(|| {
            events(vec![
                event(
                    "4",
                    NAME,
                    "AWS::CloudFormation::Stack",
                    ResourceStatus::UpdateRollbackComplete,
                    "",
                ),
                event(
                    "3",
                    "Subnet",
                    "AWS::EC2::Subnet",
                    ResourceStatus::UpdateFailed,
                    "Resource update cancelled",
                ),
                event(
                    "2",
                    "Vpc",
                    "AWS::EC2::VPC",
                    ResourceStatus::UpdateFailed,
                    "The CIDR '10.10.0.0/33' is invalid.",
                ),
                event(
                    "1",
                    "Vpc",
                    "AWS::EC2::VPC",
                    ResourceStatus::UpdateInProgress,
                    "",
                ),
                event(
                    "0",
                    NAME,
                    "AWS::CloudFormation::Stack",
                    ResourceStatus::UpdateComplete,
                    "",
                ),
            ])
        })
        .build();
    let (created, ready, executed) = (change_set_created(), change_set_ready(), executed_by_arn());
    let run = deploy(&[&describe, &events, &created, &ready, &executed]).await;

    let error = run.result.unwrap_err();
    let DeployError::OperationFailed {
        status,
        first_failure: Some(first),
        ..
    } = &error
    else {
        panic!("expected a failed operation, got {error:?}");
    };
    assert_eq!(status, "UPDATE_ROLLBACK_COMPLETE");
    assert_eq!(first.logical_id, "Vpc");
    assert_eq!(first.reason, "The CIDR '10.10.0.0/33' is invalid.");
    let failure = error.into_failure();
    assert_eq!(failure.code, ExitCode::Failed);
    assert!(failure.to_string().contains(
        "update of retail-dev-network failed: UPDATE_ROLLBACK_COMPLETE; first failure: Vpc (AWS::EC2::VPC) UPDATE_FAILED: The CIDR '10.10.0.0/33' is invalid."
    ));
}

#[tokio::test]
async fn a_busy_stack_is_refused_without_creating_a_change_set() {
    let describe =
        mock!(Client::describe_stacks).then_output(|| stack(StackStatus::UpdateInProgress));
    let created = change_set_created();
    let run = deploy(&[&describe, &created]).await;

    let error = run.result.unwrap_err();
    assert!(matches!(&error, DeployError::Busy { status, .. } if status == "UPDATE_IN_PROGRESS"));
    assert_eq!(created.num_calls(), 0);
    let failure = error.into_failure();
    assert_eq!(failure.code, ExitCode::Failed);
    assert!(failure.hint.unwrap().contains("wait until it finishes"));
}

#[tokio::test]
async fn a_stack_whose_update_rollback_failed_is_refused_with_what_to_do() {
    let describe =
        mock!(Client::describe_stacks).then_output(|| stack(StackStatus::UpdateRollbackFailed));
    let created = change_set_created();
    let run = deploy(&[&describe, &created]).await;

    let failure = run.result.unwrap_err().into_failure();
    assert!(failure.hint.unwrap().contains("continue-update-rollback"));
    assert_eq!(created.num_calls(), 0);
}

#[tokio::test]
async fn expired_credentials_are_a_configuration_error_saying_what_was_being_done() {
    let describe = mock!(Client::describe_stacks).then_error(|| {
        DescribeStacksError::generic(
            ErrorMetadata::builder()
                .code("ExpiredToken")
                .message("The security token included in the request is expired")
                .build(),
        )
    });
    let run = deploy(&[&describe]).await;

    let error = run.result.unwrap_err();
    assert!(matches!(&error, DeployError::Aws(e) if e.kind == AwsErrorKind::ExpiredCredentials));
    let failure = error.into_failure();
    assert_eq!(failure.code, ExitCode::Usage);
    assert!(failure.to_string().starts_with(
        "error: looking up stack retail-dev-network: ExpiredToken: The security token"
    ));
}

#[tokio::test]
async fn destroying_a_missing_stack_succeeds_without_deleting_anything() {
    let describe = mock!(Client::describe_stacks).then_error(missing);
    let delete = mock!(Client::delete_stack).then_output(|| DeleteStackOutput::builder().build());
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &delete]
    );
    let cfn = Cfn::new(client, Duration::ZERO);
    let progress = PlainProgress::new(Vec::new());
    let engine = Engine {
        cfn: &cfn,
        progress: &progress,
        method: Method::ChangeSet,
        change_set_name: String::new(),
        replacement_gate: None,
        disable_rollback: false,
    };

    assert_eq!(
        engine.destroy(NAME).await.unwrap(),
        DestroyOutcome::AlreadyGone
    );
    assert_eq!(delete.num_calls(), 0);
}

#[tokio::test]
async fn destroy_deletes_a_stack_and_waits_until_it_is_gone() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::CreateComplete))
        .output(|| stack(StackStatus::DeleteInProgress))
        .error(missing)
        .build();
    let events = mock!(Client::describe_stack_events).then_output(|| events(vec![]));
    let delete = mock!(Client::delete_stack).then_output(|| DeleteStackOutput::builder().build());
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &events, &delete]
    );
    let cfn = Cfn::new(client, Duration::ZERO);
    let progress = PlainProgress::new(Vec::new());
    let engine = Engine {
        cfn: &cfn,
        progress: &progress,
        method: Method::ChangeSet,
        change_set_name: String::new(),
        replacement_gate: None,
        disable_rollback: false,
    };

    assert_eq!(engine.destroy(NAME).await.unwrap(), DestroyOutcome::Deleted);
    assert_eq!(delete.num_calls(), 1);
    assert_eq!(describe.num_calls(), 3, "polled until the stack was gone");
}

#[tokio::test]
async fn a_stack_left_in_review_by_an_interrupted_deploy_is_created_with_a_new_change_set() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::ReviewInProgress))
        .output(|| stack(StackStatus::CreateComplete))
        .build();
    let events = operation_ends(ResourceStatus::CreateComplete, EXEC_TOKEN);
    let delete = mock!(Client::delete_stack).then_output(|| DeleteStackOutput::builder().build());
    let created = mock!(Client::create_change_set)
        .match_requests(|r| {
            r.change_set_type() == Some(&aws_sdk_cloudformation::types::ChangeSetType::Create)
        })
        .then_output(|| {
            CreateChangeSetOutput::builder()
                .id(CHANGE_SET_ARN)
                .stack_id(STACK_ID)
                .build()
        });
    let (ready, executed) = (change_set_ready(), executed_by_arn());
    let run = deploy(&[&describe, &events, &delete, &created, &ready, &executed]).await;

    assert_eq!(run.result.unwrap().0, Outcome::Created);
    assert_eq!(created.num_calls(), 1);
    assert_eq!(
        delete.num_calls(),
        0,
        "a stack under review holds nothing to delete"
    );
}

#[tokio::test]
async fn a_protected_stage_turns_termination_protection_on_and_denies_replacing_data_stores() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .error(missing)
        .output(|| stack(StackStatus::CreateComplete))
        .build();
    let events = operation_ends(ResourceStatus::CreateComplete, EXEC_TOKEN);
    let protect = mock!(Client::update_termination_protection)
        .match_requests(|r| r.enable_termination_protection() == Some(true) && r.stack_name() == Some(NAME))
        .then_output(|| {
            aws_sdk_cloudformation::operation::update_termination_protection::UpdateTerminationProtectionOutput::builder()
                .stack_id(STACK_ID)
                .build()
        });
    let policy = mock!(Client::set_stack_policy)
        .match_requests(|r| {
            let body: serde_json::Value =
                serde_json::from_str(r.stack_policy_body().unwrap_or("{}")).unwrap();
            let deny = &body["Statement"][1];
            deny["Effect"] == "Deny"
                && deny["Action"] == "Update:Replace"
                && deny["Condition"]["StringEquals"]["ResourceType"]
                    .as_array()
                    .is_some_and(|types| types.iter().any(|t| t == "AWS::Redshift::Cluster"))
        })
        .then_output(|| {
            aws_sdk_cloudformation::operation::set_stack_policy::SetStackPolicyOutput::builder()
                .build()
        });
    let (created, ready, executed) = (change_set_created(), change_set_ready(), executed_by_arn());
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [
            &describe, &events, &protect, &policy, &created, &ready, &executed
        ]
    );
    let cfn = Cfn::new(client, Duration::ZERO);
    let progress = PlainProgress::new(Vec::new());
    let engine = Engine {
        cfn: &cfn,
        progress: &progress,
        method: Method::ChangeSet,
        change_set_name: "provisioner-1".to_string(),
        replacement_gate: None,
        disable_rollback: false,
    };
    let mut protected = request();
    protected.termination_protection = true;

    let (_, state) = engine.deploy(&protected).await.unwrap();
    assert!(state.termination_protection);
    assert_eq!(protect.num_calls(), 1);
    assert_eq!(
        policy.num_calls(),
        1,
        "a stack policy denies replacing data stores"
    );
}

fn throttled() -> DescribeStacksError {
    DescribeStacksError::generic(
        ErrorMetadata::builder()
            .code("Throttling")
            .message("Rate exceeded")
            .build(),
    )
}

/// A client with the CLI's retry settings, backing off 1 ms instead of
/// 200 ms so the test does not sleep.
fn client_retrying(rules: &[&Rule]) -> Client {
    mock_client!(aws_sdk_cloudformation, RuleMode::Sequential, rules, |c| {
        c.retry_config(
            provisioner::aws::retry_config().with_initial_backoff(Duration::from_millis(1)),
        )
    })
}

#[tokio::test]
async fn a_throttled_call_is_retried_with_backoff_until_it_succeeds() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .error(throttled)
        .times(3)
        .output(|| stack(StackStatus::CreateComplete))
        .build();
    let cfn = Cfn::new(client_retrying(&[&describe]), Duration::ZERO);
    let state = cfn.describe(NAME).await.unwrap().expect("the stack");
    assert_eq!(state.status, "CREATE_COMPLETE");
    assert_eq!(
        describe.num_calls(),
        4,
        "three throttled attempts, then the answer"
    );
}

#[tokio::test]
async fn throttling_past_every_retry_is_reported_as_throttling_with_what_to_do() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .error(throttled)
        .times(provisioner::aws::MAX_ATTEMPTS as usize)
        .build();
    let cfn = Cfn::new(client_retrying(&[&describe]), Duration::ZERO);
    let DeployError::Aws(error) = cfn.describe(NAME).await.unwrap_err() else {
        panic!("an AWS error")
    };
    assert_eq!(error.kind, AwsErrorKind::Throttled);
    assert_eq!(
        describe.num_calls(),
        provisioner::aws::MAX_ATTEMPTS as usize
    );
    assert!(error.hint().unwrap().contains("--concurrency"));
}

// --- Against CloudFormation as it really answers (issue 17) ---

fn deployed() -> Rule {
    mock!(Client::describe_stacks).then_output(|| stack(StackStatus::UpdateComplete))
}

fn change_set_failed(reason: &'static str) -> Rule {
    mock!(Client::describe_change_set).then_output(move || {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::Failed)
            .status_reason(reason)
            .execution_status(ExecutionStatus::Unavailable)
            .build()
    })
}

const EARLY_VALIDATION: &str = "The following hook(s)/validation failed: \
    [AWS::EarlyValidation::ResourceExistenceCheck]. To troubleshoot Early Validation errors, \
    use the DescribeEvents API for detailed failure information.";

#[tokio::test]
async fn a_change_set_failed_by_early_validation_fails_the_deploy_with_each_finding() {
    let (describe, created, executed) = (deployed(), change_set_created(), executed_by_arn());
    let failed = change_set_failed(EARLY_VALIDATION);
    let findings = mock!(Client::describe_events)
        .match_requests(|r| {
            r.change_set_name() == Some(CHANGE_SET_ARN)
                && r.filters().and_then(|f| f.failed_events()) == Some(true)
        })
        .then_output(|| {
            DescribeEventsOutput::builder()
                .operation_events(
                    OperationEvent::builder()
                        .event_type(EventType::ValidationError)
                        .logical_resource_id("LakeBucket")
                        .resource_type("AWS::S3::Bucket")
                        .validation_name("NAME_CONFLICT_VALIDATION")
                        .validation_status(ValidationStatus::Failed)
                        .validation_status_reason(
                            "Resource of type 'AWS::S3::Bucket' with identifier \
                             'retail-dev-lake' already exists.",
                        )
                        .validation_path("/Resources/LakeBucket")
                        .build(),
                )
                .build()
        });
    let run = deploy(&[&describe, &created, &failed, &findings, &executed]).await;

    let error = run.result.unwrap_err();
    assert!(
        matches!(&error, DeployError::ChangeSetFailed { reason, .. } if reason == EARLY_VALIDATION)
    );
    assert_eq!(executed.num_calls(), 0);
    let failure = error.into_failure();
    assert_eq!(failure.code, ExitCode::Failed, "not a no-op: exit 1");
    assert!(
        failure.to_string().contains(
            "LakeBucket (AWS::S3::Bucket) NAME_CONFLICT_VALIDATION: Resource of type \
             'AWS::S3::Bucket' with identifier 'retail-dev-lake' already exists. (at \
             /Resources/LakeBucket)"
        ),
        "{failure}"
    );
}

#[tokio::test]
async fn a_change_set_failed_for_a_missing_capability_is_a_failure_even_without_its_details() {
    let (describe, created, executed) = (deployed(), change_set_created(), executed_by_arn());
    let failed = change_set_failed("Requires capabilities : [CAPABILITY_AUTO_EXPAND]");
    let no_details = mock!(Client::describe_events).then_error(|| {
        aws_sdk_cloudformation::operation::describe_events::DescribeEventsError::generic(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("not authorized to perform: cloudformation:DescribeEvents")
                .build(),
        )
    });
    let run = deploy(&[&describe, &created, &failed, &no_details, &executed]).await;

    let failure = run.result.unwrap_err().into_failure();
    assert_eq!(failure.code, ExitCode::Failed);
    let text = failure.to_string();
    assert!(
        text.contains("Requires capabilities : [CAPABILITY_AUTO_EXPAND]"),
        "{text}"
    );
    assert!(text.contains("cloudformation:DescribeEvents"), "{text}");
    assert_eq!(executed.num_calls(), 0);
}

#[tokio::test]
async fn the_empty_change_set_of_a_template_with_a_transform_is_no_changes() {
    let (describe, created, executed) = (deployed(), change_set_created(), executed_by_arn());
    let empty = change_set_failed("No updates are to be performed.");
    let deleted =
        mock!(Client::delete_change_set).then_output(|| DeleteChangeSetOutput::builder().build());
    let run = deploy(&[&describe, &created, &empty, &deleted, &executed]).await;

    assert_eq!(run.result.unwrap().0, Outcome::NoChanges);
    assert_eq!(executed.num_calls(), 0);
}

#[tokio::test]
async fn a_stale_update_complete_read_after_execute_is_not_taken_for_success() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::UpdateComplete))
        // right after ExecuteChangeSet: the status from before it
        .output(|| stack(StackStatus::UpdateComplete))
        .output(|| stack(StackStatus::UpdateInProgress))
        .output(|| stack(StackStatus::UpdateRollbackComplete))
        .build();
    let events = mock!(Client::describe_stack_events)
        .sequence()
        .output(|| events(vec![before()]))
        .output(|| events(vec![before()]))
        .output(|| {
            events(vec![
                stack_event("1", ResourceStatus::UpdateInProgress, EXEC_TOKEN),
                before(),
            ])
        })
        .output(|| {
            events(vec![
                stack_event("4", ResourceStatus::UpdateRollbackComplete, EXEC_TOKEN),
                stack_event("3", ResourceStatus::UpdateRollbackInProgress, EXEC_TOKEN),
                own(
                    event(
                        "2",
                        "Cluster",
                        "AWS::Redshift::Cluster",
                        ResourceStatus::UpdateFailed,
                        "Cannot modify a cluster that is paused",
                    ),
                    EXEC_TOKEN,
                ),
                stack_event("1", ResourceStatus::UpdateInProgress, EXEC_TOKEN),
                before(),
            ])
        })
        .build();
    let (created, ready, executed) = (change_set_created(), change_set_ready(), executed_by_arn());
    let run = deploy(&[&describe, &events, &created, &ready, &executed]).await;

    let error = run.result.unwrap_err();
    assert!(
        matches!(&error, DeployError::OperationFailed { status, .. } if status == "UPDATE_ROLLBACK_COMPLETE"),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("Cannot modify a cluster that is paused")
    );
}

#[tokio::test]
async fn a_final_status_reported_only_by_another_operations_event_is_not_believed() {
    // A stale baseline: the earlier run's UPDATE_COMPLETE looks new, but its
    // token is not this operation's.
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::UpdateComplete))
        .output(|| stack(StackStatus::UpdateComplete))
        .output(|| stack(StackStatus::UpdateComplete))
        .build();
    let events = mock!(Client::describe_stack_events)
        .sequence()
        .output(|| events(vec![]))
        .output(|| events(vec![before()]))
        .output(|| {
            events(vec![
                stack_event("9", ResourceStatus::UpdateComplete, EXEC_TOKEN),
                before(),
            ])
        })
        .build();
    let (created, ready, executed) = (change_set_created(), change_set_ready(), executed_by_arn());
    let run = deploy(&[&describe, &events, &created, &ready, &executed]).await;

    assert_eq!(run.result.unwrap().0, Outcome::Updated);
    assert_eq!(
        describe.num_calls(),
        3,
        "waited for this operation's own UPDATE_COMPLETE"
    );
}

fn destroy_engine_client(rules: &[&Rule]) -> Client {
    mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, rules)
}

async fn destroy(client: Client) -> (Result<DestroyOutcome, DeployError>, String) {
    let cfn = Cfn::new(client, Duration::ZERO);
    let progress = PlainProgress::new(Vec::new());
    let engine = Engine {
        cfn: &cfn,
        progress: &progress,
        method: Method::ChangeSet,
        change_set_name: "provisioner-1".to_string(),
        replacement_gate: None,
        disable_rollback: false,
    };
    let result = engine.destroy(NAME).await;
    drop(engine);
    (result, String::from_utf8(progress.into_inner()).unwrap())
}

#[tokio::test]
async fn a_stale_create_complete_read_after_delete_stack_is_not_taken_for_deleted() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::CreateComplete))
        // right after DeleteStack: the status from before it
        .output(|| stack(StackStatus::CreateComplete))
        .output(|| stack(StackStatus::DeleteFailed))
        .build();
    let events = mock!(Client::describe_stack_events)
        .sequence()
        .output(|| events(vec![before()]))
        .output(|| events(vec![before()]))
        .output(|| {
            events(vec![
                stack_event("3", ResourceStatus::DeleteFailed, DELETE_TOKEN),
                own(
                    event(
                        "2",
                        "LakeBucket",
                        "AWS::S3::Bucket",
                        ResourceStatus::DeleteFailed,
                        "The bucket you tried to delete is not empty",
                    ),
                    DELETE_TOKEN,
                ),
                stack_event("1", ResourceStatus::DeleteInProgress, DELETE_TOKEN),
                before(),
            ])
        })
        .build();
    let delete = mock!(Client::delete_stack)
        .match_requests(|r| {
            r.stack_name() == Some(STACK_ID) && r.client_request_token() == Some(DELETE_TOKEN)
        })
        .then_output(|| DeleteStackOutput::builder().build());
    let (result, _) = destroy(destroy_engine_client(&[&describe, &events, &delete])).await;

    let error = result.unwrap_err();
    assert!(
        matches!(&error, DeployError::OperationFailed { status, .. } if status == "DELETE_FAILED"),
        "{error:?}"
    );
    assert!(error.to_string().contains(
        "LakeBucket (AWS::S3::Bucket) DELETE_FAILED: The bucket you tried to delete is not empty"
    ));
    assert_eq!(delete.num_calls(), 1);
}

#[tokio::test]
async fn throttling_while_waiting_skips_polls_and_follows_the_update_to_its_end() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::UpdateComplete))
        .output(|| stack(StackStatus::UpdateInProgress))
        // past the SDK's own retries, again and again
        .error(throttled)
        .times(5)
        .output(|| stack(StackStatus::UpdateComplete))
        .build();
    let events = operation_ends(ResourceStatus::UpdateComplete, EXEC_TOKEN);
    let (created, ready, executed) = (change_set_created(), change_set_ready(), executed_by_arn());
    let run = deploy(&[&describe, &events, &created, &ready, &executed]).await;

    assert_eq!(run.result.unwrap().0, Outcome::Updated);
    assert_eq!(describe.num_calls(), 8);
}

#[test]
fn sdk_calls_are_retried_like_cdk_does_seven_attempts_backing_off_up_to_15_seconds() {
    let config = provisioner::aws::retry_config();
    assert_eq!(config.max_attempts(), 7);
    assert_eq!(config.max_backoff(), Duration::from_secs(15));
}

#[tokio::test]
async fn expired_credentials_while_waiting_fail_with_exit_1_saying_the_update_continues() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::UpdateComplete))
        .output(|| stack(StackStatus::UpdateInProgress))
        .error(|| {
            DescribeStacksError::generic(
                ErrorMetadata::builder()
                    .code("ExpiredToken")
                    .message("The security token included in the request is expired")
                    .build(),
            )
        })
        .build();
    let events = operation_ends(ResourceStatus::UpdateComplete, EXEC_TOKEN);
    let (created, ready, executed) = (change_set_created(), change_set_ready(), executed_by_arn());
    let run = deploy(&[&describe, &events, &created, &ready, &executed]).await;

    let error = run.result.unwrap_err();
    assert!(matches!(error, DeployError::LostTrack { .. }), "{error:?}");
    let failure = error.into_failure();
    assert_eq!(
        failure.code,
        ExitCode::Failed,
        "something was changed: not 2"
    );
    assert!(
        failure
            .to_string()
            .contains("update of retail-dev-network continues in CloudFormation"),
        "{failure}"
    );
    let hint = failure.hint.unwrap();
    assert!(hint.contains("credentials have expired"), "{hint}");
    assert!(
        hint.contains("describe-stack-events --stack-name retail-dev-network"),
        "{hint}"
    );
}

/// A client that retries like the CLI, backing off 1 ms.
fn client_retrying_any(rules: &[&Rule]) -> Client {
    mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, rules, |c| {
        c.retry_config(
            provisioner::aws::retry_config().with_initial_backoff(Duration::from_millis(1)),
        )
    })
}

#[tokio::test]
async fn a_retried_create_and_execute_repeat_their_idempotency_tokens() {
    // A 503 after CloudFormation may already have acted: the retry must
    // carry the same token so that it is recognised, not refused.
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::UpdateComplete))
        .output(|| stack(StackStatus::UpdateComplete))
        .build();
    let events = operation_ends(ResourceStatus::UpdateComplete, EXEC_TOKEN);
    let created = mock!(Client::create_change_set)
        .match_requests(|r| r.client_token() == Some(CREATE_TOKEN))
        .sequence()
        .http_status(503, None)
        .output(|| {
            CreateChangeSetOutput::builder()
                .id(CHANGE_SET_ARN)
                .stack_id(STACK_ID)
                .build()
        })
        .build();
    let executed = mock!(Client::execute_change_set)
        .match_requests(|r| {
            r.change_set_name() == Some(CHANGE_SET_ARN)
                && r.client_request_token() == Some(EXEC_TOKEN)
        })
        .sequence()
        .http_status(503, None)
        .output(|| ExecuteChangeSetOutput::builder().build())
        .build();
    let ready = change_set_ready();
    let client = client_retrying_any(&[&describe, &events, &created, &ready, &executed]);
    let cfn = Cfn::new(client, Duration::ZERO);
    let progress = PlainProgress::new(Vec::new());
    let engine = Engine {
        cfn: &cfn,
        progress: &progress,
        method: Method::ChangeSet,
        change_set_name: "provisioner-1".to_string(),
        replacement_gate: None,
        disable_rollback: false,
    };

    let (outcome, _) = engine.deploy(&request()).await.unwrap();
    assert_eq!(outcome, Outcome::Updated);
    assert_eq!(created.num_calls(), 2, "the retry carried the same token");
    assert_eq!(executed.num_calls(), 2, "the retry carried the same token");
}

#[tokio::test]
async fn an_update_that_could_not_delete_a_replaced_bucket_succeeds_naming_what_it_left_behind() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::UpdateComplete))
        .output(|| stack(StackStatus::UpdateComplete))
        .build();
    let events = mock!(Client::describe_stack_events)
        .sequence()
        .output(|| events(vec![before()]))
        .output(|| {
            events(vec![
                stack_event("4", ResourceStatus::UpdateComplete, EXEC_TOKEN),
                own(
                    event(
                        "3",
                        "LakeBucket",
                        "AWS::S3::Bucket",
                        ResourceStatus::DeleteFailed,
                        "The bucket you tried to delete is not empty",
                    ),
                    EXEC_TOKEN,
                ),
                stack_event(
                    "2",
                    ResourceStatus::from("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"),
                    EXEC_TOKEN,
                ),
                stack_event("1", ResourceStatus::UpdateInProgress, EXEC_TOKEN),
                before(),
            ])
        })
        .build();
    let (created, ready, executed) = (change_set_created(), change_set_ready(), executed_by_arn());
    let run = deploy(&[&describe, &events, &created, &ready, &executed]).await;

    assert_eq!(run.result.unwrap().0, Outcome::Updated);
    assert!(
        run.progress.contains(
            "retail-dev-network: left behind LakeBucket (AWS::S3::Bucket), which could not be \
             deleted: The bucket you tried to delete is not empty"
        ),
        "{}",
        run.progress
    );
}

#[tokio::test]
async fn a_failed_hook_is_named_with_its_own_reason_and_cancelled_resources_are_not() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::UpdateComplete))
        .output(|| stack(StackStatus::UpdateRollbackComplete))
        .build();
    let events = mock!(Client::describe_stack_events)
        .sequence()
        .output(|| events(vec![before()]))
        .output(|| {
            let mut hook = own(
                event(
                    "2",
                    "LakeBucket",
                    "AWS::S3::Bucket",
                    ResourceStatus::UpdateInProgress,
                    "",
                ),
                EXEC_TOKEN,
            );
            hook.hook_type = Some("Private::Guard::BucketEncryption".into());
            hook.hook_status = Some(aws_sdk_cloudformation::types::HookStatus::HookCompleteFailed);
            hook.hook_status_reason =
                Some("Template failed validation: BucketEncryption is required".into());
            events(vec![
                stack_event("6", ResourceStatus::UpdateRollbackComplete, EXEC_TOKEN),
                own(
                    event(
                        "4",
                        "LakeBucket",
                        "AWS::S3::Bucket",
                        ResourceStatus::UpdateFailed,
                        "The following hook(s) failed: [Private::Guard::BucketEncryption]",
                    ),
                    EXEC_TOKEN,
                ),
                // listed before the real failure, with the same timestamp
                own(
                    event(
                        "3",
                        "Table",
                        "AWS::DynamoDB::Table",
                        ResourceStatus::UpdateFailed,
                        "Resource update cancelled",
                    ),
                    EXEC_TOKEN,
                ),
                hook,
                stack_event("1", ResourceStatus::UpdateInProgress, EXEC_TOKEN),
                before(),
            ])
        })
        .build();
    let (created, ready, executed) = (change_set_created(), change_set_ready(), executed_by_arn());
    let run = deploy(&[&describe, &events, &created, &ready, &executed]).await;

    let error = run.result.unwrap_err();
    let DeployError::OperationFailed {
        first_failure: Some(first),
        ..
    } = &error
    else {
        panic!("expected a failed operation, got {error:?}");
    };
    assert_eq!(first.logical_id, "LakeBucket");
    assert_eq!(
        first.reason,
        "The following hook(s) failed: [Private::Guard::BucketEncryption] \
         (Private::Guard::BucketEncryption: Template failed validation: BucketEncryption is required)"
    );
}

#[tokio::test]
async fn a_rollback_no_resource_explains_is_reported_with_the_stacks_own_reason() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::UpdateComplete))
        .output(|| stack(StackStatus::UpdateRollbackComplete))
        .build();
    let events = mock!(Client::describe_stack_events)
        .sequence()
        .output(|| events(vec![before()]))
        .output(|| {
            let mut rollback =
                stack_event("2", ResourceStatus::UpdateRollbackInProgress, EXEC_TOKEN);
            rollback.resource_status_reason = Some(
                "Export retail-dev-network:VpcId cannot be deleted as it is in use by \
                 retail-dev-warehouse"
                    .into(),
            );
            events(vec![
                stack_event("3", ResourceStatus::UpdateRollbackComplete, EXEC_TOKEN),
                rollback,
                stack_event("1", ResourceStatus::UpdateInProgress, EXEC_TOKEN),
                before(),
            ])
        })
        .build();
    let (created, ready, executed) = (change_set_created(), change_set_ready(), executed_by_arn());
    let run = deploy(&[&describe, &events, &created, &ready, &executed]).await;

    let text = run.result.unwrap_err().to_string();
    assert!(
        text.contains("cannot be deleted as it is in use by retail-dev-warehouse"),
        "{text}"
    );
}

mod buckets {
    use aws_sdk_s3::operation::delete_objects::DeleteObjectsOutput;
    use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
    use aws_sdk_s3::types::{Error as S3Error, ObjectVersion};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use provisioner::deploy::error::DeployError;
    use provisioner::deploy::upload::Bucket;

    #[tokio::test]
    async fn emptying_a_bucket_whose_versions_s3_refuses_to_delete_fails_naming_them() {
        let listed = mock!(aws_sdk_s3::Client::list_object_versions)
            .match_requests(|r| r.expected_bucket_owner() == Some("123456789012"))
            .sequence()
            .output(|| {
                ListObjectVersionsOutput::builder()
                    .versions(
                        ObjectVersion::builder()
                            .key("raw/1.csv")
                            .version_id("v1")
                            .build(),
                    )
                    .build()
            })
            .times(2)
            .build();
        let refused = mock!(aws_sdk_s3::Client::delete_objects).then_output(|| {
            DeleteObjectsOutput::builder()
                .errors(
                    S3Error::builder()
                        .key("raw/1.csv")
                        .version_id("v1")
                        .code("AccessDenied")
                        .message("Access Denied because object protected by object lock.")
                        .build(),
                )
                .build()
        });
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&listed, &refused]);
        let bucket = Bucket {
            s3,
            name: "retail-dev-lake".into(),
            region: "eu-west-1".into(),
            owner: Some("123456789012".into()),
        };

        let error = bucket.empty().await.unwrap_err();
        let DeployError::BucketNotEmptied { failures, .. } = &error else {
            panic!("expected the refused versions, got {error:?}");
        };
        assert_eq!(failures.len(), 1);
        assert_eq!(
            error.to_string(),
            "could not empty bucket retail-dev-lake: 1 object versions were not deleted, e.g. \
             raw/1.csv (version v1): AccessDenied: Access Denied because object protected by \
             object lock."
        );
        assert!(error.hint().unwrap().contains("s3:DeleteObjectVersion"));
        assert_eq!(listed.num_calls(), 1, "the same page is not listed again");
    }
}

#[tokio::test]
async fn the_importers_of_an_export_are_listed_and_an_export_nobody_imports_has_none() {
    use aws_sdk_cloudformation::operation::list_imports::{ListImportsError, ListImportsOutput};
    let imported = mock!(Client::list_imports)
        .match_requests(|r| r.export_name() == Some("retail-dev-network:VpcId"))
        .then_output(|| {
            ListImportsOutput::builder()
                .imports("retail-dev-warehouse")
                .build()
        });
    let unused = mock!(Client::list_imports)
        .match_requests(|r| r.export_name() == Some("retail-dev-network:SgGroupId"))
        .then_error(|| {
            ListImportsError::generic(
                ErrorMetadata::builder()
                    .code("ValidationError")
                    .message("Export 'retail-dev-network:SgGroupId' is not imported by any stack.")
                    .build(),
            )
        });
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&imported, &unused]
    );
    let cfn = Cfn::new(client, Duration::ZERO);

    assert_eq!(
        cfn.importers("retail-dev-network:VpcId").await.unwrap(),
        ["retail-dev-warehouse"]
    );
    assert!(
        cfn.importers("retail-dev-network:SgGroupId")
            .await
            .unwrap()
            .is_empty()
    );
}

fn change_set_replacing_the_cluster() -> Rule {
    mock!(Client::describe_change_set)
        .match_requests(|r| r.change_set_name() == Some(CHANGE_SET_ARN))
        .then_output(|| {
            DescribeChangeSetOutput::builder()
                .status(ChangeSetStatus::CreateComplete)
                .execution_status(ExecutionStatus::Available)
                .changes(
                    Change::builder()
                        .resource_change(
                            ResourceChange::builder()
                                .logical_resource_id("Cluster")
                                .resource_type("AWS::Redshift::Cluster")
                                .replacement(aws_sdk_cloudformation::types::Replacement::True)
                                .build(),
                        )
                        .build(),
                )
                .build()
        })
}

async fn deploy_gated(
    rules: &[&Rule],
    prompt: &mut provisioner::deploy::approval::ScriptedPrompt,
    disable_rollback: bool,
) -> Result<Outcome, DeployError> {
    use provisioner::deploy::replacement::PromptGate;
    let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, rules);
    let cfn = Cfn::new(client, Duration::ZERO);
    let progress = PlainProgress::new(Vec::new());
    let gate = PromptGate::new(prompt, &progress);
    let engine = Engine {
        cfn: &cfn,
        progress: &progress,
        method: Method::ChangeSet,
        change_set_name: "provisioner-1".to_string(),
        replacement_gate: Some(&gate),
        disable_rollback,
    };
    engine.deploy(&request()).await.map(|(outcome, _)| outcome)
}

#[tokio::test]
async fn an_update_that_replaces_the_cluster_is_not_executed_without_approval() {
    let (describe, created) = (deployed(), change_set_created());
    let replacing = change_set_replacing_the_cluster();
    let executed = executed_by_arn();
    let deleted = mock!(Client::delete_change_set)
        .match_requests(|r| r.change_set_name() == Some(CHANGE_SET_ARN))
        .then_output(|| DeleteChangeSetOutput::builder().build());
    let mut prompt = provisioner::deploy::approval::ScriptedPrompt {
        answers: vec![false],
        ..Default::default()
    };
    let result = deploy_gated(
        &[&describe, &created, &replacing, &executed, &deleted],
        &mut prompt,
        false,
    )
    .await;

    assert!(
        matches!(result, Err(DeployError::NotApproved { .. })),
        "{result:?}"
    );
    assert_eq!(
        prompt.asked,
        [
            "retail-dev-network: replacing Cluster (AWS::Redshift::Cluster) replacement True: \
             the new cluster is empty and has a new endpoint; restore it from a snapshot. Deploy?"
        ]
    );
    assert_eq!(executed.num_calls(), 0);
    assert_eq!(
        deleted.num_calls(),
        1,
        "the refused change set is not left behind"
    );
}

#[tokio::test]
async fn an_approved_replacement_runs_with_rollback_disabled_when_asked() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::UpdateComplete))
        .output(|| stack(StackStatus::UpdateComplete))
        .build();
    let events = operation_ends(ResourceStatus::UpdateComplete, EXEC_TOKEN);
    let created = change_set_created();
    let replacing = change_set_replacing_the_cluster();
    let executed = mock!(Client::execute_change_set)
        .match_requests(|r| r.disable_rollback() == Some(true))
        .then_output(|| ExecuteChangeSetOutput::builder().build());
    let mut prompt = provisioner::deploy::approval::ScriptedPrompt {
        answers: vec![true],
        ..Default::default()
    };
    let outcome = deploy_gated(
        &[&describe, &events, &created, &replacing, &executed],
        &mut prompt,
        true,
    )
    .await
    .unwrap();

    assert_eq!(outcome, Outcome::Updated);
    assert_eq!(executed.num_calls(), 1);
}

#[tokio::test]
async fn access_denied_after_the_stack_was_created_is_exit_1_not_nothing_changed() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .error(missing)
        .output(|| stack(StackStatus::CreateComplete))
        .build();
    let events = operation_ends(ResourceStatus::CreateComplete, EXEC_TOKEN);
    let denied = mock!(Client::update_termination_protection).then_error(|| {
        aws_sdk_cloudformation::operation::update_termination_protection::UpdateTerminationProtectionError::generic(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("not authorized to perform: cloudformation:UpdateTerminationProtection")
                .build(),
        )
    });
    let (created, ready, executed) = (change_set_created(), change_set_ready(), executed_by_arn());
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &events, &denied, &created, &ready, &executed]
    );
    let cfn = Cfn::new(client, Duration::ZERO);
    let progress = PlainProgress::new(Vec::new());
    let engine = Engine {
        cfn: &cfn,
        progress: &progress,
        method: Method::ChangeSet,
        change_set_name: "provisioner-1".to_string(),
        replacement_gate: None,
        disable_rollback: false,
    };
    let mut protected = request();
    protected.termination_protection = true;

    let error = engine.deploy(&protected).await.unwrap_err();
    assert!(
        matches!(error, DeployError::AfterChange { .. }),
        "{error:?}"
    );
    let failure = error.into_failure();
    assert_eq!(failure.code, ExitCode::Failed);
    assert!(
        failure.to_string().contains(
            "retail-dev-network was deployed, but then turning termination protection on"
        ),
        "{failure}"
    );
}

const TOOLKIT: &str = "provisioner-toolkit";
const TOOLKIT_ID: &str =
    "arn:aws:cloudformation:eu-west-1:123456789012:stack/provisioner-toolkit/1";
const LEFTOVER_BUCKET: &str = "provisioner-assets-123456789012-eu-west-1";

fn toolkit_stack(status: StackStatus, with_outputs: bool) -> DescribeStacksOutput {
    let mut stack = Stack::builder()
        .stack_id(TOOLKIT_ID)
        .stack_name(TOOLKIT)
        .stack_status(status)
        .creation_time(DateTime::from_secs(0));
    if with_outputs {
        stack = stack
            .outputs(
                Output::builder()
                    .output_key("AssetBucket")
                    .output_value(LEFTOVER_BUCKET)
                    .build(),
            )
            .outputs(
                Output::builder()
                    .output_key("Version")
                    .output_value(stacks::toolkit::toolkit_version())
                    .build(),
            );
    }
    DescribeStacksOutput::builder()
        .stacks(stack.build())
        .build()
}

fn toolkit_event(id: &str, status: ResourceStatus, token: &str) -> StackEvent {
    StackEvent::builder()
        .event_id(id)
        .stack_id(TOOLKIT_ID)
        .stack_name(TOOLKIT)
        .logical_resource_id(TOOLKIT)
        .resource_type("AWS::CloudFormation::Stack")
        .resource_status(status)
        .client_request_token(token)
        .timestamp(DateTime::from_secs(1_700_000_000))
        .build()
}

fn toolkit_change_set(
    kind: aws_sdk_cloudformation::types::ChangeSetType,
    arn: &'static str,
) -> Rule {
    mock!(Client::create_change_set)
        .match_requests(move |r| r.change_set_type() == Some(&kind))
        .then_output(move || {
            CreateChangeSetOutput::builder()
                .id(arn)
                .stack_id(TOOLKIT_ID)
                .build()
        })
}

#[tokio::test]
async fn bootstrap_adopts_a_bucket_left_by_an_earlier_toolkit_instead_of_failing_on_its_name() {
    use aws_sdk_cloudformation::types::ChangeSetType;
    const CREATE_CS: &str = "arn:aws:cloudformation:eu-west-1:123456789012:changeSet/c/1";
    const IMPORT_CS: &str = "arn:aws:cloudformation:eu-west-1:123456789012:changeSet/i/2";
    const UPDATE_CS: &str = "arn:aws:cloudformation:eu-west-1:123456789012:changeSet/u/3";
    const IMPORT_TOKEN: &str = "exec-import-provisioner-1-provisioner-toolkit";
    const UPDATE_TOKEN: &str = "exec-provisioner-1-provisioner-toolkit";
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .error(missing)
        .times(2)
        .output(|| toolkit_stack(StackStatus::ImportComplete, false))
        .times(2)
        .output(|| toolkit_stack(StackStatus::UpdateComplete, true))
        .build();
    let create = toolkit_change_set(ChangeSetType::Create, CREATE_CS);
    let import = mock!(Client::create_change_set)
        .match_requests(|r| {
            let bucket = r.resources_to_import().first();
            r.change_set_type() == Some(&ChangeSetType::Import)
                && r.resources_to_import().len() == 1
                && bucket.and_then(|b| b.logical_resource_id()) == Some("AssetBucket")
                && bucket
                    .and_then(|b| b.resource_identifier())
                    .and_then(|id| id.get("BucketName"))
                    .map(String::as_str)
                    == Some(LEFTOVER_BUCKET)
                && r.template_body().is_some_and(|t| {
                    let t: serde_json::Value = serde_json::from_str(t).unwrap();
                    t["Resources"].as_object().unwrap().len() == 1 && t.get("Outputs").is_none()
                })
        })
        .then_output(|| {
            CreateChangeSetOutput::builder()
                .id(IMPORT_CS)
                .stack_id(TOOLKIT_ID)
                .build()
        });
    let update = toolkit_change_set(ChangeSetType::Update, UPDATE_CS);
    let create_failed = mock!(Client::describe_change_set)
        .match_requests(|r| r.change_set_name() == Some(CREATE_CS))
        .then_output(|| {
            DescribeChangeSetOutput::builder()
                .status(ChangeSetStatus::Failed)
                .status_reason(EARLY_VALIDATION)
                .build()
        });
    let others_ready = mock!(Client::describe_change_set)
        .match_requests(|r| r.change_set_name() != Some(CREATE_CS))
        .then_output(|| {
            DescribeChangeSetOutput::builder()
                .status(ChangeSetStatus::CreateComplete)
                .execution_status(ExecutionStatus::Available)
                .build()
        });
    let findings = mock!(Client::describe_events).then_output(|| {
        DescribeEventsOutput::builder()
            .operation_events(
                OperationEvent::builder()
                    .event_type(EventType::ValidationError)
                    .logical_resource_id("AssetBucket")
                    .physical_resource_id(LEFTOVER_BUCKET)
                    .resource_type("AWS::S3::Bucket")
                    .validation_name("NAME_CONFLICT_VALIDATION")
                    .validation_status(ValidationStatus::Failed)
                    .validation_status_reason(
                        "Resource of type 'AWS::S3::Bucket' with identifier \
                         'provisioner-assets-123456789012-eu-west-1' already exists.",
                    )
                    .validation_path("/Resources/AssetBucket")
                    .build(),
            )
            .build()
    });
    let executed_import = mock!(Client::execute_change_set)
        .match_requests(|r| {
            r.change_set_name() == Some(IMPORT_CS) && r.client_request_token() == Some(IMPORT_TOKEN)
        })
        .then_output(|| ExecuteChangeSetOutput::builder().build());
    let executed_update = mock!(Client::execute_change_set)
        .match_requests(|r| {
            r.change_set_name() == Some(UPDATE_CS) && r.client_request_token() == Some(UPDATE_TOKEN)
        })
        .then_output(|| ExecuteChangeSetOutput::builder().build());
    let events = mock!(Client::describe_stack_events)
        .sequence()
        .output(|| events(vec![]))
        .output(|| {
            events(vec![toolkit_event(
                "i1",
                ResourceStatus::ImportComplete,
                IMPORT_TOKEN,
            )])
        })
        .times(2)
        .output(|| {
            events(vec![
                toolkit_event("u1", ResourceStatus::UpdateComplete, UPDATE_TOKEN),
                toolkit_event("i1", ResourceStatus::ImportComplete, IMPORT_TOKEN),
            ])
        })
        .build();
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [
            &describe,
            &create,
            &import,
            &update,
            &create_failed,
            &others_ready,
            &findings,
            &executed_import,
            &executed_update,
            &events
        ]
    );
    let cfn = Cfn::new(client, Duration::ZERO);
    let progress = PlainProgress::new(Vec::new());
    let engine = Engine {
        cfn: &cfn,
        progress: &progress,
        method: Method::ChangeSet,
        change_set_name: "provisioner-1".to_string(),
        replacement_gate: None,
        disable_rollback: false,
    };

    let (outcome, toolkit) = provisioner::deploy::toolkit::bootstrap(&engine, None)
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Created);
    assert_eq!(toolkit.bucket, LEFTOVER_BUCKET);
    assert_eq!(import.num_calls(), 1);
    assert_eq!(executed_import.num_calls(), 1);
    assert_eq!(
        executed_update.num_calls(),
        1,
        "then the rest of the toolkit"
    );
    drop(engine);
    let shown = String::from_utf8(progress.into_inner()).unwrap();
    assert!(
        shown.contains("adopting the existing bucket provisioner-assets-123456789012-eu-west-1"),
        "{shown}"
    );
}

#[tokio::test]
async fn an_update_that_replaces_a_resource_whose_id_is_imported_elsewhere_is_refused_before_it_runs()
 {
    use aws_sdk_cloudformation::operation::list_imports::ListImportsOutput;
    let (describe, created) = (deployed(), change_set_created());
    let replacing = mock!(Client::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .execution_status(ExecutionStatus::Available)
            .changes(
                Change::builder()
                    .resource_change(
                        ResourceChange::builder()
                            .logical_resource_id("RedshiftSg")
                            .resource_type("AWS::EC2::SecurityGroup")
                            .replacement(aws_sdk_cloudformation::types::Replacement::True)
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let imported = mock!(Client::list_imports)
        .match_requests(|r| r.export_name() == Some("retail-dev-network:RedshiftSgGroupId"))
        .then_output(|| {
            ListImportsOutput::builder()
                .imports("retail-dev-warehouse")
                .build()
        });
    let executed = executed_by_arn();
    let deleted =
        mock!(Client::delete_change_set).then_output(|| DeleteChangeSetOutput::builder().build());
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [
            &describe, &created, &replacing, &imported, &executed, &deleted
        ]
    );
    let cfn = Cfn::new(client, Duration::ZERO);
    let progress = PlainProgress::new(Vec::new());
    let engine = Engine {
        cfn: &cfn,
        progress: &progress,
        method: Method::ChangeSet,
        change_set_name: "provisioner-1".to_string(),
        replacement_gate: None,
        disable_rollback: false,
    };
    let mut update = request();
    update.exported = [(
        "retail-dev-network:RedshiftSgGroupId".to_string(),
        ["RedshiftSg".to_string()].into(),
    )]
    .into();

    let error = engine.deploy(&update).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "retail-dev-network would change export retail-dev-network:RedshiftSgGroupId, which \
         retail-dev-warehouse imports"
    );
    assert_eq!(executed.num_calls(), 0);
    assert_eq!(deleted.num_calls(), 1);
}

#[tokio::test]
async fn when_list_imports_cannot_answer_the_update_runs_and_says_it_could_not_check() {
    use aws_sdk_cloudformation::operation::list_imports::ListImportsError;
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::UpdateComplete))
        .output(|| stack(StackStatus::UpdateComplete))
        .build();
    let events = operation_ends(ResourceStatus::UpdateComplete, EXEC_TOKEN);
    let replacing = mock!(Client::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .execution_status(ExecutionStatus::Available)
            .changes(
                Change::builder()
                    .resource_change(
                        ResourceChange::builder()
                            .logical_resource_id("RedshiftSg")
                            .resource_type("AWS::EC2::SecurityGroup")
                            .replacement(aws_sdk_cloudformation::types::Replacement::True)
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let denied = mock!(Client::list_imports).then_error(|| {
        ListImportsError::generic(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("not authorized to perform: cloudformation:ListImports")
                .build(),
        )
    });
    let (created, executed) = (change_set_created(), executed_by_arn());
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &events, &created, &replacing, &denied, &executed]
    );
    let cfn = Cfn::new(client, Duration::ZERO);
    let progress = PlainProgress::new(Vec::new());
    let engine = Engine {
        cfn: &cfn,
        progress: &progress,
        method: Method::ChangeSet,
        change_set_name: "provisioner-1".to_string(),
        replacement_gate: None,
        disable_rollback: false,
    };
    let mut update = request();
    update.exported = [(
        "retail-dev-network:RedshiftSgGroupId".to_string(),
        ["RedshiftSg".to_string()].into(),
    )]
    .into();

    let (outcome, _) = engine.deploy(&update).await.unwrap();
    drop(engine);
    assert_eq!(outcome, Outcome::Updated);
    assert_eq!(executed.num_calls(), 1);
    let shown = String::from_utf8(progress.into_inner()).unwrap();
    assert!(
        shown.contains("could not check who imports retail-dev-network:RedshiftSgGroupId"),
        "{shown}"
    );
}

#[tokio::test]
async fn access_denied_after_deleting_a_failed_first_create_is_exit_1_not_nothing_changed() {
    use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetError;
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::RollbackComplete))
        .error(missing)
        .build();
    let events = mock!(Client::describe_stack_events).then_output(|| events(vec![before()]));
    let delete = mock!(Client::delete_stack).then_output(|| DeleteStackOutput::builder().build());
    let denied = mock!(Client::create_change_set).then_error(|| {
        CreateChangeSetError::generic(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("not authorized to perform: cloudformation:CreateChangeSet")
                .build(),
        )
    });
    let run = deploy(&[&describe, &events, &delete, &denied]).await;

    let error = run.result.unwrap_err();
    assert_eq!(delete.num_calls(), 1);
    let failure = error.into_failure();
    assert_eq!(failure.code, ExitCode::Failed, "{failure}");
    assert!(
        failure
            .to_string()
            .contains("retail-dev-network was deleted (its first create had failed), but then"),
        "{failure}"
    );
}

#[tokio::test]
async fn an_endpoint_without_list_imports_costs_two_attempts_not_the_full_retries() {
    let failing = mock!(Client::list_imports)
        .sequence()
        .http_status(500, None)
        .times(7)
        .build();
    let cfn = Cfn::new(client_retrying_any(&[&failing]), Duration::ZERO);

    assert!(cfn.importers("retail-dev-network:VpcId").await.is_err());
    assert_eq!(failing.num_calls(), 2);
}

#[tokio::test]
async fn a_stale_does_not_exist_read_right_after_creating_is_not_taken_for_a_deleted_stack() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .error(missing)
        // right after ExecuteChangeSet of a new stack: a read from before
        .error(missing)
        .output(|| stack(StackStatus::CreateComplete))
        .build();
    let events = mock!(Client::describe_stack_events)
        .sequence()
        .output(|| events(vec![]))
        .output(|| events(vec![]))
        .output(|| {
            events(vec![stack_event(
                "1",
                ResourceStatus::CreateComplete,
                EXEC_TOKEN,
            )])
        })
        .build();
    let (created, ready, executed) = (change_set_created(), change_set_ready(), executed_by_arn());
    let run = deploy(&[&describe, &events, &created, &ready, &executed]).await;

    assert_eq!(run.result.unwrap().0, Outcome::Created);
}
