//! What can go wrong while deploying, diffing or destroying, as data: the
//! command layer turns each into one message, a hint and an exit code.
//!
//! AWS errors are classified by their error code and by the SDK's error
//! kind, never by message text.

use std::error::Error as StdError;
use std::fmt;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};

use crate::failure::Failure;

/// Why an AWS call failed, as far as the caller can act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    NoCredentials,
    ExpiredCredentials,
    AccessDenied,
    /// The endpoint did not answer (network, DNS, emulator not running).
    Unreachable,
    /// Something answered, but not as the AWS service does (no XML or
    /// JSON it can read): a region that does not exist, a wrong
    /// `--endpoint-url`, a proxy's page.
    NotAnAwsAnswer,
    /// Still throttled after the SDK's retries with backoff.
    Throttled,
    /// `ValidationError`: CloudFormation's answer to a bad request, and
    /// also to a `DescribeStacks` of a stack that does not exist.
    Validation,
    Other,
}

/// A failed AWS call and what was being done.
#[derive(Debug)]
pub struct AwsError {
    /// e.g. "creating change set for retail-dev-network".
    pub action: String,
    pub kind: AwsErrorKind,
    /// The service's error code, when it answered with one.
    pub code: Option<String>,
    pub message: String,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.action)?;
        match &self.code {
            Some(code) => write!(f, "{code}: {}", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

impl StdError for AwsError {}

impl AwsError {
    /// Classifies an SDK error of any service.
    pub fn from_sdk<E, R>(action: impl Into<String>, error: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + StdError + 'static,
        R: fmt::Debug + 'static,
    {
        let action = action.into();
        let (kind, code, message) = match &error {
            SdkError::ServiceError(service) => {
                let err = service.err();
                let code = err.code().map(str::to_string);
                // Every AWS service error has a code: an error answer
                // without one came from something else.
                let kind = code
                    .as_deref()
                    .map_or(AwsErrorKind::NotAnAwsAnswer, kind_of_code);
                let message = err
                    .message()
                    .map(str::to_string)
                    .unwrap_or_else(|| chain(err));
                (kind, code, message)
            }
            SdkError::TimeoutError(_) => (
                AwsErrorKind::Unreachable,
                None,
                "the request timed out".to_string(),
            ),
            SdkError::DispatchFailure(dispatch) if dispatch.is_io() || dispatch.is_timeout() => {
                (AwsErrorKind::Unreachable, None, chain(&error))
            }
            _ if is_credentials_error(&error) => (AwsErrorKind::NoCredentials, None, chain(&error)),
            SdkError::ResponseError(_) => (AwsErrorKind::NotAnAwsAnswer, None, chain(&error)),
            _ => (AwsErrorKind::Other, None, chain(&error)),
        };
        Self {
            action,
            kind,
            code,
            message,
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<&'static str> {
        match self.kind {
            AwsErrorKind::NoCredentials => Some(
                "no AWS credentials found: set AWS_PROFILE or pass --profile (run `aws sso login` \
                 for SSO profiles), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            ),
            AwsErrorKind::ExpiredCredentials => Some(
                "the credentials have expired or are invalid: refresh them (`aws sso login`, or \
                 new temporary keys) and run the command again",
            ),
            AwsErrorKind::AccessDenied => Some(
                "the identity in use lacks a permission: check the action named above against \
                 its IAM policies (`aws sts get-caller-identity` shows which identity it is)",
            ),
            AwsErrorKind::Unreachable => Some(
                "the AWS endpoint did not answer: check the network, --region and, for an \
                 emulator, that it is running at --endpoint-url / AWS_ENDPOINT_URL",
            ),
            AwsErrorKind::NotAnAwsAnswer => Some(
                "the answer was not an AWS service's: check --region (an AWS region the account \
                 has enabled, like eu-west-1; `aws account list-regions` lists them) and, for \
                 an emulator, --endpoint-url / AWS_ENDPOINT_URL",
            ),
            AwsErrorKind::Throttled => Some(
                "AWS kept throttling after several retries: wait a minute and run the command \
                 again, or lower --concurrency",
            ),
            AwsErrorKind::Validation | AwsErrorKind::Other => None,
        }
    }

    /// Nothing was changed by a credentials or connection problem; other
    /// failures may have happened half-way.
    pub fn exit_code(&self) -> crate::failure::ExitCode {
        use crate::failure::ExitCode;
        match self.kind {
            AwsErrorKind::NoCredentials
            | AwsErrorKind::ExpiredCredentials
            | AwsErrorKind::AccessDenied
            | AwsErrorKind::Unreachable
            | AwsErrorKind::NotAnAwsAnswer => ExitCode::Usage,
            _ => ExitCode::Failed,
        }
    }
}

/// Error codes shared by AWS services.
/// <https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html>
fn kind_of_code(code: &str) -> AwsErrorKind {
    match code {
        "ExpiredToken"
        | "ExpiredTokenException"
        | "InvalidClientTokenId"
        | "RequestExpired"
        | "SignatureDoesNotMatch"
        | "UnrecognizedClientException"
        | "InvalidAccessKeyId"
        | "InvalidToken"
        | "TokenRefreshRequired" => AwsErrorKind::ExpiredCredentials,
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => {
            AwsErrorKind::AccessDenied
        }
        "Throttling"
        | "ThrottlingException"
        | "TooManyRequestsException"
        | "SlowDown"
        | "RequestLimitExceeded" => AwsErrorKind::Throttled,
        "ValidationError" => AwsErrorKind::Validation,
        _ => AwsErrorKind::Other,
    }
}

/// Whether the credential providers failed, somewhere in the chain.
fn is_credentials_error(error: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<CredentialsError>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// The error and its sources on one line, each message once.
pub(crate) fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut current = error.source();
    while let Some(e) = current {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        current = e.source();
    }
    text
}

/// One object version `DeleteObjects` refused, with S3's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectNotDeleted {
    pub key: String,
    pub version_id: Option<String>,
    pub code: String,
    pub message: String,
}

impl fmt::Display for ObjectNotDeleted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.key)?;
        if let Some(version) = &self.version_id {
            write!(f, " (version {version})")?;
        }
        write!(f, ": {}: {}", self.code, self.message)
    }
}

/// The first resource that failed in a stack operation, from its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedResource {
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: String,
}

impl fmt::Display for FailedResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) {}: {}",
            self.logical_id, self.resource_type, self.status, self.reason
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("{stack} is busy: {status}")]
    Busy { stack: String, status: String },
    #[error("{stack} is {status}: its last update could not roll back")]
    UpdateRollbackFailed { stack: String, status: String },
    #[error("{stack} is {status} and cannot be deployed or deleted as it is")]
    Unrecoverable {
        stack: String,
        status: String,
        reason: Option<String>,
    },
    #[error("{operation} of {stack} failed: {}", describe_failure(.status, .first_failure, .reason))]
    OperationFailed {
        stack: String,
        operation: &'static str,
        status: String,
        first_failure: Option<Box<FailedResource>>,
        reason: Option<String>,
    },
    #[error("change set for {stack} failed: {reason}{}", details.iter().map(|d| format!("\n  - {d}")).collect::<String>())]
    ChangeSetFailed {
        stack: String,
        reason: String,
        /// Each problem CloudFormation named (early validation).
        details: Vec<super::cfn::ChangeSetProblem>,
    },
    /// The wait for an operation that CloudFormation had accepted ended:
    /// the operation carries on without us.
    #[error(
        "{operation} of {stack} continues in CloudFormation, but this run stopped following it: {cause}"
    )]
    LostTrack {
        stack: String,
        operation: &'static str,
        cause: String,
        /// What to do about the cause (e.g. refresh credentials).
        hint: Option<String>,
    },
    #[error("{producer} would {} export {export}, which {} import{}", if *removed { "remove" } else { "change" }, importers.join(", "), if importers.len() == 1 { "s" } else { "" })]
    ExportInUse {
        producer: String,
        export: String,
        /// Removed; otherwise its value would change.
        removed: bool,
        /// Stack names, from `ListImports`.
        importers: Vec<String>,
    },
    /// The stack was changed (`done`: "deployed", or its failed first
    /// create deleted); a later step failed.
    #[error("{stack} was {done}, but then {cause}")]
    AfterChange {
        stack: String,
        done: &'static str,
        cause: String,
        hint: Option<String>,
    },
    #[error("could not empty bucket {bucket}: {} object versions were not deleted, e.g. {}", failures.len(), failures.iter().take(3).map(|f| f.to_string()).collect::<Vec<_>>().join("; "))]
    BucketNotEmptied {
        bucket: String,
        failures: Vec<ObjectNotDeleted>,
    },
    #[error("{stack}: {changes} not approved")]
    NotApproved { stack: String, changes: String },
    #[error("{stack} needs approval for {changes} but there is no terminal to ask on")]
    ApprovalNeedsTerminal { stack: String, changes: String },
    #[error("{stack} has termination protection")]
    TerminationProtected { stack: String },
    #[error("the toolkit stack {stack} is missing")]
    ToolkitMissing { stack: String },
    #[error(
        "the toolkit stack {stack} is version {found}, this provisioner needs version {expected}"
    )]
    ToolkitOutdated {
        stack: String,
        found: String,
        expected: String,
    },
    #[error(
        "the toolkit stack {stack} is version {found}, newer than this provisioner knows ({expected})"
    )]
    ToolkitNewer {
        stack: String,
        found: String,
        expected: String,
    },
    #[error("the toolkit stack {stack} cannot be created: its bucket {bucket} already exists")]
    ToolkitBucketExists { stack: String, bucket: String },
    #[error("the toolkit stack {stack} has no usable {output} output")]
    ToolkitBroken {
        stack: String,
        output: &'static str,
        /// `bootstrap` already tried to set the outputs by updating the
        /// stack directly, and CloudFormation found nothing to update.
        repair_tried: bool,
    },
    #[error(
        "{path} is not the asset synth built: its SHA-256 is {found}, the manifest's {expected}"
    )]
    AssetChanged {
        path: String,
        expected: String,
        found: String,
    },
    #[error(
        "s3://{bucket}/{key} does not hold what was uploaded: expected SHA-256 {expected}, found {found}"
    )]
    UploadNotStored {
        bucket: String,
        key: String,
        expected: String,
        found: String,
    },
    #[error("reading {path}")]
    ReadFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{stack} was not deployed: {dependency} failed")]
    DependencyFailed { stack: String, dependency: String },
}

fn describe_failure(
    status: &str,
    first: &Option<Box<FailedResource>>,
    reason: &Option<String>,
) -> String {
    match (first, reason) {
        (Some(first), _) => format!("{status}; first failure: {first}"),
        (None, Some(reason)) => format!("{status}: {reason}"),
        (None, None) => status.to_string(),
    }
}

impl DeployError {
    pub fn hint(&self) -> Option<String> {
        match self {
            DeployError::Aws(e) => e.hint().map(str::to_string),
            DeployError::Busy { stack, .. } => Some(format!(
                "another operation (perhaps an interrupted deploy) is running on {stack}; wait \
                 until it finishes (`aws cloudformation describe-stack-events --stack-name \
                 {stack}` shows it), then run this again"
            )),
            DeployError::UpdateRollbackFailed { stack, .. } => Some(format!(
                "fix what blocked the rollback (see the stack's events), then run `aws \
                 cloudformation continue-update-rollback --stack-name {stack}` and deploy again"
            )),
            DeployError::Unrecoverable { stack, reason, .. } => Some(format!(
                "{}look at the events of {stack}, remove what blocks its deletion, then run \
                 `provisioner destroy` and deploy again",
                reason
                    .as_ref()
                    .map(|r| format!("CloudFormation says: {r}; "))
                    .unwrap_or_default()
            )),
            DeployError::OperationFailed { operation, .. } => Some(
                match *operation {
                    "create" => {
                        "fix the cause above and deploy again: the failed stack is deleted and \
                         created anew"
                    }
                    "delete" => "remove what kept the resource above, then run destroy again",
                    _ => {
                        "the stack rolled back to its previous state; fix the cause above and \
                          deploy again"
                    }
                }
                .to_string(),
            ),
            DeployError::ChangeSetFailed { stack, .. } => Some(format!(
                "nothing was changed in {stack}: fix what CloudFormation names above (a resource \
                 name that already exists, a bucket to delete that is not empty, a hook's \
                 finding) and deploy again"
            )),
            DeployError::LostTrack {
                stack,
                operation,
                hint,
                ..
            } => Some(format!(
                "{}the {operation} goes on without this run: follow it with `aws cloudformation \
                 describe-stack-events --stack-name {stack}` (or the console); once it has \
                 finished, run the command again (it refuses a stack that is still busy)",
                hint.as_ref().map(|h| format!("{h}; ")).unwrap_or_default()
            )),
            DeployError::ExportInUse {
                producer,
                export,
                removed: true,
                importers,
            } => Some(format!(
                "nothing was changed; CloudFormation refuses to delete an export in use: first \
                 deploy {} without the Fn::ImportValue of {export} (deploy it alone with \
                 `provisioner deploy <stack> --exclusively`), then deploy {producer}",
                importers.join(", ")
            )),
            DeployError::ExportInUse {
                producer,
                export,
                removed: false,
                importers,
            } => Some(format!(
                "nothing was changed; CloudFormation refuses to change an export in use (a \
                 replaced resource changes its id). Two steps: 1. publish the new value under a \
                 new export name, keeping {export} as it is, and deploy {producer}, then point \
                 {} at the new export and deploy; 2. remove {export} and deploy {producer} \
                 again",
                importers.join(", ")
            )),
            DeployError::AfterChange { hint, .. } => Some(format!(
                "{}deploy again once that is fixed",
                hint.as_ref().map(|h| format!("{h}; ")).unwrap_or_default()
            )),
            DeployError::BucketNotEmptied { bucket, .. } => Some(format!(
                "object lock or legal hold keeps these versions, or the identity lacks \
                 s3:DeleteObjectVersion: release the retention or grant the permission, empty \
                 s3://{bucket} and run destroy again"
            )),
            DeployError::NotApproved { .. } => {
                Some("nothing was changed; review the changes with `provisioner diff`".to_string())
            }
            DeployError::ApprovalNeedsTerminal { .. } => Some(
                "review with `provisioner diff`, then pass --require-approval never to deploy \
                 without asking"
                    .to_string(),
            ),
            DeployError::TerminationProtected { stack } => Some(format!(
                "it is a protected (prod) stack; if you really mean to delete it, run `aws \
                 cloudformation update-termination-protection --no-enable-termination-protection \
                 --stack-name {stack}` first"
            )),
            DeployError::ToolkitMissing { .. } => {
                Some("run `provisioner bootstrap --stage <stage>` first".to_string())
            }
            DeployError::ToolkitOutdated { .. } => {
                Some("run `provisioner bootstrap --stage <stage>` to upgrade it".to_string())
            }
            DeployError::ToolkitNewer { .. } => Some(
                "a newer provisioner bootstrapped this account; upgrade provisioner".to_string(),
            ),
            DeployError::ToolkitBroken {
                stack,
                repair_tried: false,
                ..
            } => Some(format!(
                "run `provisioner bootstrap --stage <stage>`: it updates {stack} so its outputs \
                 are set (an emulator's change sets, moto's, create stacks without outputs)"
            )),
            DeployError::ToolkitBroken {
                stack,
                repair_tried: true,
                ..
            } => Some(format!(
                "updating {stack} again did not bring its outputs back: delete it (`aws \
                 cloudformation delete-stack --stack-name {stack}`; its bucket is retained and \
                 adopted by the next bootstrap), then run `provisioner bootstrap --stage <stage>`"
            )),
            DeployError::ToolkitBucketExists { stack, bucket } => Some(format!(
                "s3://{bucket} is left from an earlier {stack} (a deleted toolkit keeps its \
                 bucket). `provisioner bootstrap --stage <stage>` adopts it through a \
                 CloudFormation import (the default --method change-set); where that is not \
                 possible (--method direct, or an emulator without imports, such as moto) empty \
                 and delete it (`aws s3 rb s3://{bucket} --force`, with --endpoint-url on an \
                 emulator; for a versioned bucket, S3 console: Empty, then Delete): it holds \
                 only content-addressed assets, which deploy uploads again. Then run \
                 `provisioner bootstrap --stage <stage>` again"
            )),
            DeployError::AssetChanged { .. } => Some(
                "the zip was edited or damaged since synth: run `provisioner synth --stage <stage>` \
                 again; nothing was uploaded or deployed"
                    .to_string(),
            ),
            DeployError::UploadNotStored { .. } => Some(
                "deploy again (the object is checked and replaced); if it repeats, something \
                 between here and S3 alters uploads"
                    .to_string(),
            ),
            DeployError::ReadFile { .. } => {
                Some("synthesise again (`provisioner synth`): the synth output folder is incomplete or was edited".to_string())
            }
            DeployError::DependencyFailed { .. } => None,
        }
    }

    /// `into_failure` with `<stage>` in the hint replaced by the stage.
    pub fn into_failure_in(self, stage: &str) -> Failure {
        let mut failure = self.into_failure();
        failure.hint = failure.hint.map(|h| h.replace("<stage>", stage));
        failure
    }

    pub fn into_failure(self) -> Failure {
        let hint = self.hint();
        let failure = match &self {
            DeployError::Aws(e) => match e.exit_code() {
                crate::failure::ExitCode::Usage => Failure::usage(self),
                crate::failure::ExitCode::Failed => Failure::failed(self),
            },
            DeployError::ApprovalNeedsTerminal { .. }
            | DeployError::ToolkitMissing { .. }
            | DeployError::ToolkitOutdated { .. }
            | DeployError::ToolkitNewer { .. }
            | DeployError::ReadFile { .. }
            | DeployError::AssetChanged { .. }
            | DeployError::ExportInUse { .. }
            | DeployError::ToolkitBucketExists { .. }
            | DeployError::ToolkitBroken { .. } => Failure::usage(self),
            _ => Failure::failed(self),
        };
        match hint {
            Some(hint) => failure.hint(hint),
            None => failure,
        }
    }
}

pub type Result<T, E = DeployError> = std::result::Result<T, E>;
