//! Rotation of the warehouse's secrets (the master's and each database
//! user's) by our own function, `lambdas/secret-rotation`, on the stage's
//! schedule.
//!
//! Not the hosted `RedshiftRotationSingleUser`: it needs the
//! `AWS::SecretsManager-2020-07-23` transform (which neither emulator
//! expands) and a function inside the VPC that the cluster admits. Ours
//! sets passwords through the Redshift Data API, which reaches the public
//! and the private cluster alike without being in the VPC, logged in as
//! the master with the master secret's AWSCURRENT (still the old password
//! while the master's own rotation is in its setSecret step).
//!
//! Each secret gets an `AWS::SecretsManager::RotationSchedule` that
//! depends on the schema custom resource (the users must exist before a
//! rotation can `ALTER USER` them) and on a `AWS::Lambda::Permission` that
//! lets Secrets Manager invoke the function for that secret only (its ARN
//! as `SourceArn`, the account as `SourceAccount`).
//!
//! The stage's key needs no statement of its own: the function's role
//! uses it through Secrets Manager (`kms:ViaService`), which the key
//! policy's `UseThroughTheStageServices` admits for this account's roles
//! whose own policy grants it (`policies/lambda-secret-rotation.json.hbs`,
//! bound to the four secrets by their encryption context).

use std::collections::BTreeMap;

use crate::assets::AssetTable;
use crate::model::cloudformation::CustomResource;
use crate::model::kms::Key;
use crate::model::lambda::Permission;
use crate::model::redshift::Cluster;
use crate::model::secretsmanager::{RotationRules, RotationSchedule, Secret};
use crate::model::{Expr, Handle, Options, Stack, opt};
use crate::policies::Policy;
use crate::stage::Stage;

use super::PlatformError;
use super::function::{FunctionSpec, PlatformFunction, SYNCHRONOUS_DLQ_SKIP, add_function};

/// The function's timeout: each step is at most one Data API statement
/// (seconds) and a few Secrets Manager calls; the function's own timeouts
/// (`secret_rotation::DATA_API_WAIT`) end well before it.
pub const ROTATION_TIMEOUT_SECONDS: i64 = 120;

/// AWS warns that a rotation function with less than 10 concurrent
/// executions can be throttled, failing the rotation; the four secrets
/// may rotate at the same time.
pub const ROTATION_CONCURRENCY_SKIP: (&str, &str) = (
    "CKV_AWS_115",
    "Invoked only by Secrets Manager, four steps per rotation of four secrets; AWS warns that a \
     rotation function with less than 10 concurrent executions can be throttled and fail the \
     rotation, and reserving 10 would take them from the account for a monthly job",
);

/// A secret to rotate: its logical id prefix and handle.
#[derive(Debug, Clone)]
pub struct RotatedSecret<'a> {
    pub id: &'static str,
    pub secret: &'a Handle<Secret>,
}

/// Adds the rotation function and, for each secret, the permission and the
/// schedule. `master` is the secret the function logs in with; `secrets`
/// are every secret to rotate (the master's included).
#[allow(clippy::too_many_arguments)]
pub fn add_secret_rotation(
    stack: &mut Stack,
    stage: &Stage,
    assets: &AssetTable,
    key: &Handle<Key>,
    cluster: &Handle<Cluster>,
    database: &str,
    master: &Handle<Secret>,
    users: [&Handle<Secret>; 3],
    secrets: &[RotatedSecret<'_>],
    schema: &Handle<CustomResource>,
) -> Result<PlatformFunction, PlatformError> {
    let [owner, loader, reader] = users;
    let function = add_function(
        stack,
        stage,
        assets,
        key,
        FunctionSpec {
            asset: "secret-rotation",
            id: "SecretRotation",
            description: "Rotates the warehouse secrets: new password, ALTER USER through the \
                          Redshift Data API as the master, then AWSCURRENT"
                .into(),
            policy: Policy::LambdaSecretRotation,
            policy_context: BTreeMap::from([
                ("cluster_identifier", cluster.id()),
                ("master_secret_arn", master.arn()),
                ("owner_secret_arn", owner.arn()),
                ("loader_secret_arn", loader.arn()),
                ("reader_secret_arn", reader.arn()),
                ("data_key_arn", key.arn()),
            ]),
            environment: BTreeMap::from([
                ("CLUSTER_IDENTIFIER", cluster.id()),
                ("DATABASE", Expr::literal(database)),
                ("MASTER_SECRET_ARN", master.arn()),
            ]),
            memory_mb: 256,
            timeout_seconds: ROTATION_TIMEOUT_SECONDS,
            reserved_concurrency: None,
            checkov_skips: vec![SYNCHRONOUS_DLQ_SKIP, ROTATION_CONCURRENCY_SKIP],
        },
    )?;
    let schedule = format!("rate({} days)", stage.warehouse.secret_rotation_days);
    for RotatedSecret { id, secret } in secrets {
        let permission = stack.add(
            &format!("{id}RotationPermission"),
            Permission {
                action: "lambda:InvokeFunction".into(),
                function_name: function.function.arn().into(),
                principal: "secretsmanager.amazonaws.com".into(),
                // Only for rotating this secret, from this account.
                source_arn: opt(secret.arn()),
                source_account: opt(Expr::account_id()),
            },
        )?;
        stack.add_with(
            &format!("{id}Rotation"),
            RotationSchedule {
                secret_id: secret.arn().into(),
                rotation_lambda_arn: opt(function.function.arn()),
                rotation_rules: Some(RotationRules {
                    schedule_expression: opt(schedule.clone()),
                }),
                // A deploy never rotates: the first rotation comes on the
                // schedule. Secrets Manager still tests the configuration
                // at deploy by invoking testSecret alone (RotateSecret's
                // RotateImmediately), which needs the users: hence Schema.
                rotate_immediately_on_update: opt(false),
            },
            // The users must exist before a rotation can ALTER them, and
            // Secrets Manager checks that it may invoke the function.
            Options::new().depends_on(schema).depends_on(&permission),
        )?;
    }
    Ok(function)
}
