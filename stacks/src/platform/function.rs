//! A platform Lambda function: its log group (retention set, encrypted with
//! the stage's key, deleted with a dev stage), its role (one inline policy rendered from `policies/`, scoped
//! to that log group and what the function touches) and the function,
//! running the content-hashed asset of its crate under `lambdas/`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::assets::{ASSET_BUCKET_PATTERN, AssetTable, asset_key};
use crate::model::iam::Role;
use crate::model::kms::Key;
use crate::model::lambda::{Code, Environment, Function, LoggingConfig};
use crate::model::logs::LogGroup;
use crate::model::{Expr, Handle, Options, Stack, opt};
use crate::policies::Policy;
use crate::stage::Stage;

use super::PlatformError;
use super::role::add_role;

/// Lambda's custom runtime for Rust binaries named `bootstrap`.
/// <https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html>
pub const RUNTIME: &str = "provided.al2023";
/// The assets are built for x86_64 (cargo-lambda, glibc 2.34).
pub const ARCHITECTURE: &str = "x86_64";

/// What differs between the platform's functions.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// Crate name under `lambdas/`, which is also the asset name.
    pub asset: &'static str,
    /// Logical id prefix: `<Id>Function`, `<Id>Role`, `<Id>LogGroup`.
    pub id: &'static str,
    pub description: String,
    pub policy: Policy,
    /// The policy's context, without `log_group_name` (added here).
    pub policy_context: BTreeMap<&'static str, Expr>,
    pub environment: BTreeMap<&'static str, Expr>,
    pub memory_mb: i64,
    /// Seconds; chosen against the trigger's own limit (see each stack).
    pub timeout_seconds: i64,
    pub reserved_concurrency: Option<i64>,
    /// Checkov checks this function fails on purpose, with the reason.
    pub checkov_skips: Vec<(&'static str, &'static str)>,
}

/// Handles to a function and what it was built with.
#[derive(Debug, Clone)]
pub struct PlatformFunction {
    pub function: Handle<Function>,
    pub role: Handle<Role>,
    pub log_group: Handle<LogGroup>,
}

/// Checkov checks every platform function fails by design, with the reason.
pub const FUNCTION_CHECKOV_SKIPS: [(&str, &str); 2] = [
    (
        "CKV_AWS_117",
        "The function calls only AWS APIs (over TLS, authorised by IAM); a VPC would add NAT \
         gateways or interface endpoints for Kinesis, DynamoDB, S3, Redshift Data and \
         CloudWatch Logs without protecting anything",
    ),
    (
        "CKV_AWS_173",
        "The environment holds resource names only, no secrets; the warehouse password is read \
         from Secrets Manager at run time",
    ),
];

/// Adds the log group (encrypted with `key`), role and function to `stack`.
pub fn add_function(
    stack: &mut Stack,
    stage: &Stage,
    assets: &AssetTable,
    key: &Handle<Key>,
    spec: FunctionSpec,
) -> Result<PlatformFunction, PlatformError> {
    let asset = assets
        .get(spec.asset)
        .ok_or_else(|| PlatformError::MissingAsset {
            function: spec.asset.to_string(),
        })?;
    stack.use_asset(spec.asset);

    let log_group = add_log_group(stack, stage, key, &format!("{}LogGroup", spec.id))?;

    let mut context: serde_json::Map<String, Value> = spec
        .policy_context
        .iter()
        .map(|(key, expr)| ((*key).to_string(), to_json(expr)))
        .collect();
    context.insert("log_group_name".into(), to_json(&log_group.name()));
    let role = add_role(
        stack,
        &format!("{}Role", spec.id),
        Role::for_service(
            "lambda.amazonaws.com",
            format!("Execution role of the {} function", spec.asset),
        ),
        spec.policy,
        &Value::Object(context),
    )?;

    let mut skips: Vec<(&str, &str)> = FUNCTION_CHECKOV_SKIPS.to_vec();
    skips.extend(spec.checkov_skips.iter().copied());
    let function = stack.add_with(
        &format!("{}Function", spec.id),
        Function {
            description: opt(spec.description),
            code: Code {
                s3_bucket: Expr::sub(ASSET_BUCKET_PATTERN).into(),
                s3_key: asset_key(&asset.sha256).into(),
            },
            handler: opt("bootstrap"),
            runtime: opt(RUNTIME),
            architectures: Some(vec![ARCHITECTURE.into()]),
            role: role.arn().into(),
            memory_size: opt(spec.memory_mb),
            timeout: opt(spec.timeout_seconds),
            reserved_concurrent_executions: spec.reserved_concurrency.map(Into::into),
            environment: (!spec.environment.is_empty()).then(|| Environment {
                variables: spec
                    .environment
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.into()))
                    .collect(),
            }),
            logging_config: Some(LoggingConfig {
                log_group: opt(log_group.name()),
                log_format: opt("JSON"),
            }),
            ..Default::default()
        },
        Options::new().metadata(checkov_skip(&skips)),
    )?;
    Ok(PlatformFunction {
        function,
        role,
        log_group,
    })
}

/// A log group owned by its stack: the stage's retention, encrypted with the
/// stage's key (whose policy admits CloudWatch Logs for the stage's groups),
/// kept with prod's data and deleted with a dev stage.
///
/// Unnamed (CloudFormation names it after the stack and logical id): a
/// retained group outlives `destroy`, and a fixed name would make the next
/// create of the stage fail with "already exists". Each new create gets a
/// group of its own; a retained one keeps its events until its retention
/// ends. Users reach a function's group through its logging configuration.
pub fn add_log_group(
    stack: &mut Stack,
    stage: &Stage,
    key: &Handle<Key>,
    id: &str,
) -> Result<Handle<LogGroup>, PlatformError> {
    log_group(stack, stage, key, id, None)
}

/// A log group under the name a service writes to (API Gateway's execution
/// logs), owned by its stack as [`add_log_group`]'s. The name must hold
/// something a re-created stage changes (the API's id), so a retained group
/// never blocks the next create.
pub fn add_named_log_group(
    stack: &mut Stack,
    stage: &Stage,
    key: &Handle<Key>,
    id: &str,
    name: impl Into<crate::model::Value<String>>,
) -> Result<Handle<LogGroup>, PlatformError> {
    log_group(stack, stage, key, id, Some(name.into()))
}

fn log_group(
    stack: &mut Stack,
    stage: &Stage,
    key: &Handle<Key>,
    id: &str,
    log_group_name: Option<crate::model::Value<String>>,
) -> Result<Handle<LogGroup>, PlatformError> {
    Ok(stack.add_with(
        id,
        LogGroup {
            log_group_name,
            retention_in_days: opt(i64::from(stage.log_retention_days)),
            kms_key_id: opt(key.arn()),
            ..Default::default()
        },
        Options::new().data_policy(stage.data_policy()),
    )?)
}

/// Resource metadata that tells checkov which checks to skip and why.
pub fn checkov_skip(skips: &[(&str, &str)]) -> Value {
    json!({
        "checkov": {
            "skip": skips
                .iter()
                .map(|(id, comment)| json!({ "id": id, "comment": comment }))
                .collect::<Vec<_>>()
        }
    })
}

/// An expression as the JSON a policy context or property takes (resource
/// references stay markers until the app resolves them).
pub fn to_json(expr: &Expr) -> Value {
    serde_json::to_value(expr).expect("expressions are plain JSON")
}

/// Functions invoked synchronously (API Gateway, CloudFormation, Firehose)
/// or through an event source mapping have no asynchronous events for a
/// dead-letter queue to catch.
pub const SYNCHRONOUS_DLQ_SKIP: (&str, &str) = (
    "CKV_AWS_116",
    "Invoked synchronously or by an event source mapping (failures go to its on-failure \
     destination); a dead-letter queue only receives asynchronous invocations",
);
