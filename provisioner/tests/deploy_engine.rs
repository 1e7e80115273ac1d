//! The deploy state machine against scripted CloudFormation answers
//! (`aws-smithy-mocks`): what it calls, in which case, and what it reports.

use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::ErrorMetadata;
use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput;
use aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput;
use aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput;
use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
use aws_sdk_cloudformation::operation::describe_stacks::{
    DescribeStacksError, DescribeStacksOutput,
};
use aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput;
use aws_sdk_cloudformation::primitives::DateTime;
use aws_sdk_cloudformation::types::{
    Change, ChangeSetStatus, ExecutionStatus, Output, ResourceChange, ResourceStatus, Stack,
    StackEvent, StackStatus,
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
    let events = mock!(Client::describe_stack_events).then_output(|| events(vec![]));
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
    let events = mock!(Client::describe_stack_events).then_output(|| events(vec![]));
    let delete = mock!(Client::delete_stack)
        .match_requests(|r| r.stack_name() == Some(NAME))
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
    let events = mock!(Client::describe_stack_events).then_output(|| events(vec![]));
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
async fn a_protected_stage_turns_termination_protection_on_after_the_change_set() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .error(missing)
        .output(|| stack(StackStatus::CreateComplete))
        .build();
    let events = mock!(Client::describe_stack_events).then_output(|| events(vec![]));
    let protect = mock!(Client::update_termination_protection)
        .match_requests(|r| r.enable_termination_protection() == Some(true) && r.stack_name() == Some(NAME))
        .then_output(|| {
            aws_sdk_cloudformation::operation::update_termination_protection::UpdateTerminationProtectionOutput::builder()
                .stack_id(STACK_ID)
                .build()
        });
    let (created, ready, executed) = (change_set_created(), change_set_ready(), executed_by_arn());
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &events, &protect, &created, &ready, &executed]
    );
    let cfn = Cfn::new(client, Duration::ZERO);
    let progress = PlainProgress::new(Vec::new());
    let engine = Engine {
        cfn: &cfn,
        progress: &progress,
        method: Method::ChangeSet,
        change_set_name: "provisioner-1".to_string(),
    };
    let mut protected = request();
    protected.termination_protection = true;

    let (_, state) = engine.deploy(&protected).await.unwrap();
    assert!(state.termination_protection);
    assert_eq!(protect.num_calls(), 1);
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
