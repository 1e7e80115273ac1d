//! Loader (private topology): the warehouse-loader function, run on a
//! schedule beside the cluster, COPYs the lake's `raw/date=D/` objects it
//! has not loaded yet into the staging table and merges them by `line_id`
//! (the public path's merge), recording what it loaded in the same
//! transaction. The warehouse stack holds what the cluster needs for it:
//! the load bucket (the COPY manifests) and the lake COPY role
//! ([`lake_load`]).

use std::collections::BTreeMap;

use serde_json::json;

use crate::assets::AssetTable;
use crate::model::cloudwatch::{Alarm, Dimension};
use crate::model::events::{RetryPolicy, Rule, Target};
use crate::model::iam::Role;
use crate::model::kms::Key;
use crate::model::lambda::Permission;
use crate::model::s3::{
    AbortIncompleteMultipartUpload, Bucket, BucketEncryption, BucketPolicy, LifecycleConfiguration,
    LifecycleRule, NoncurrentVersionExpiration, OwnershipControls, PublicAccessBlockConfiguration,
    VersioningConfiguration,
};
use crate::model::tags::tags;
use crate::model::{Expr, Handle, Options, Stack, opt};
use crate::policies::Policy;
use crate::stage::Stage;

use super::PlatformError;
use super::alarms::{add_alarm_topic, notify};
use super::cross_account::CrossAccountNames;
use super::function::{FunctionSpec, add_function, checkov_skip, to_json};
use super::network::Network;
use super::role::add_role;
use super::storage::Storage;
use super::storage::deny_insecure_transport;
use super::warehouse::{DATABASE, Lake, LakeLoad, TRANSACTIONS_TABLE, Warehouse, slices};

/// How often the loader runs. The latency from an event to the warehouse
/// is the lake writer's batching window (30 s), at most one period, and the
/// load itself.
pub const LOAD_SCHEDULE: &str = "rate(15 minutes)";

/// Lambda's longest run: a period's objects load in a few COPYs; the rest
/// is room for a cluster busy with queries.
pub const LOADER_TIMEOUT_SECONDS: i64 = 900;

/// Where the loader writes the manifests of its COPYs, under the load bucket.
pub const MANIFESTS_PREFIX: &str = "manifests/";

/// The load bucket and the lake COPY role, added to the warehouse stack
/// (the cluster carries the role). Across accounts the role has the name
/// the data account's bucket policy grants.
pub fn lake_load(
    stack: &mut Stack,
    stage: &Stage,
    key: &Handle<Key>,
    lake: Lake,
) -> Result<LakeLoad, PlatformError> {
    let names = CrossAccountNames::of(stage)?;
    let load_bucket = stack.add_with(
        "LoadBucket",
        Bucket {
            bucket_encryption: Some(BucketEncryption::with_key(key.arn())),
            public_access_block_configuration: Some(PublicAccessBlockConfiguration::all_blocked()),
            ownership_controls: Some(OwnershipControls::bucket_owner_enforced()),
            versioning_configuration: Some(VersioningConfiguration {
                status: "Enabled".into(),
            }),
            lifecycle_configuration: Some(LifecycleConfiguration {
                rules: vec![
                    // A manifest is read by its COPY minutes after it is
                    // written; it is kept as long as loaded data is
                    // elsewhere, to say what a load read.
                    LifecycleRule {
                        id: Some("ExpireManifests".into()),
                        status: "Enabled".into(),
                        prefix: opt(MANIFESTS_PREFIX),
                        expiration_in_days: opt(i64::from(stage.loaded_data_retention_days)),
                        ..Default::default()
                    },
                    LifecycleRule {
                        id: Some("ExpireOldVersionsAndUploads".into()),
                        status: "Enabled".into(),
                        noncurrent_version_expiration: Some(NoncurrentVersionExpiration {
                            noncurrent_days: 1.into(),
                        }),
                        abort_incomplete_multipart_upload: Some(AbortIncompleteMultipartUpload {
                            days_after_initiation: 1.into(),
                        }),
                        ..Default::default()
                    },
                ],
            }),
            tags: tags([("Stage", stage.name), ("Purpose", "warehouse-loads")]),
            ..Default::default()
        },
        Options::new()
            .data_policy(stage.data_policy())
            .metadata(checkov_skip(&[(
                "CKV_AWS_18",
                "Holds only the loader's COPY manifests (lists of lake keys, no data), expired \
                 after the stage's loaded-data retention; what was loaded is recorded in the \
                 warehouse's loads table",
            )])),
    )?;
    stack.add(
        "LoadBucketPolicy",
        BucketPolicy {
            bucket: load_bucket.name().into(),
            policy_document: deny_insecure_transport(&load_bucket),
        },
    )?;

    let mut role = Role::for_service(
        "redshift.amazonaws.com",
        "Assumed by the Redshift cluster for the loader's COPY from the lake's raw/",
    );
    role.role_name = names.as_ref().map(|names| names.copy_role.as_str().into());
    let copy_role = add_role(
        stack,
        "LakeCopyRole",
        role,
        Policy::RedshiftLakeCopy,
        &json!({
            "lake_bucket_arn": to_json(&lake.bucket_arn),
            "lake_key_arn": to_json(&lake.key_arn),
            "load_bucket_arn": to_json(&load_bucket.arn()),
            "load_key_arn": to_json(&key.arn()),
        }),
    )?;
    stack.output(
        "LoadBucketName",
        load_bucket.name(),
        "The loader's COPY manifests",
    )?;
    Ok(LakeLoad {
        copy_role,
        load_bucket,
        lake,
    })
}

/// The loader's stack: the function and its schedule.
/// `catalog`: where the warehouse has an account of its own, the Glue
/// catalog of its table is built here, on the cluster's network (the data
/// account's Batch stack catalogues the imported files).
pub fn loader(
    stage: &Stage,
    assets: &AssetTable,
    warehouse: &Warehouse,
    same_account: Option<&Storage>,
    catalog: Option<&Network>,
) -> Result<Stack, PlatformError> {
    let load = warehouse
        .lake_load
        .as_ref()
        .expect("the loader is built for a private warehouse");
    let slices = slices(stage).ok_or_else(|| PlatformError::UnknownNodeType {
        stage: stage.name.to_string(),
        node_type: stage.warehouse.node_type.to_string(),
    })?;
    let names = CrossAccountNames::of(stage)?;
    let mut stack = Stack::new(
        "Loader",
        "Scheduled load of the lake's raw/ partitions into the private Redshift warehouse",
    )?;
    let function = add_function(
        &mut stack,
        stage,
        assets,
        &warehouse.key,
        FunctionSpec {
            asset: "warehouse-loader",
            id: "Loader",
            description: "COPYs the lake's raw/ objects not loaded yet into Redshift, merged by \
                          line_id"
                .into(),
            policy: Policy::LambdaWarehouseLoader,
            policy_context: BTreeMap::from([
                ("lake_bucket_arn", load.lake.bucket_arn.clone()),
                ("load_bucket_arn", load.load_bucket.arn()),
                ("cluster_identifier", warehouse.cluster.id()),
                ("warehouse_secret_arn", warehouse.owner_secret.arn()),
                ("data_key_arn", warehouse.key.arn()),
            ]),
            environment: BTreeMap::from([
                ("LAKE_BUCKET", load.lake.bucket_name.clone()),
                ("LOAD_BUCKET", load.load_bucket.name()),
                ("CLUSTER_IDENTIFIER", warehouse.cluster.id()),
                ("DATABASE", Expr::literal(DATABASE)),
                // The schema owner: the merge locks, deletes and inserts.
                ("WAREHOUSE_SECRET_ARN", warehouse.owner_secret.arn()),
                ("COPY_ROLE_ARN", load.copy_role.arn()),
                ("WAREHOUSE_TABLE", Expr::literal(TRANSACTIONS_TABLE)),
                ("SLICES", Expr::literal(slices.to_string())),
            ]),
            memory_mb: 512,
            timeout_seconds: LOADER_TIMEOUT_SECONDS,
            // One run at a time: two runs would plan the same objects.
            reserved_concurrency: Some(1),
            checkov_skips: vec![(
                "CKV_AWS_116",
                "A failed run records nothing as loaded, and the next scheduled run loads the \
                 same objects again (replacing by line_id): there is no event to keep in a \
                 dead-letter queue",
            )],
        },
    )?;
    // Across accounts the data account's bucket policy names this role.
    if let Some(names) = &names {
        stack.set_property(
            &function.role,
            "RoleName",
            serde_json::Value::String(names.loader_role.clone()),
        )?;
    }
    let rule = stack.add(
        "LoaderSchedule",
        Rule {
            description: opt("Runs the loader over the lake's raw/ partitions"),
            schedule_expression: opt(LOAD_SCHEDULE),
            state: opt("ENABLED"),
            targets: vec![Target {
                arn: function.function.arn().into(),
                id: "Loader".into(),
                retry_policy: Some(RetryPolicy {
                    maximum_event_age_in_seconds: opt(600),
                    maximum_retry_attempts: opt(1),
                }),
                ..Default::default()
            }],
            ..Default::default()
        },
    )?;
    stack.add(
        "LoaderPermission",
        Permission {
            action: "lambda:InvokeFunction".into(),
            function_name: function.function.arn().into(),
            principal: "events.amazonaws.com".into(),
            source_arn: opt(rule.arn()),
            ..Default::default()
        },
    )?;
    // Told when a run fails: the lake's lines wait until a run succeeds.
    // The stage's alarm topic where the data is in the same account; in an
    // account of its own, the warehouse account's own topic (an alarm
    // notifies a topic of its account).
    let topic = match same_account {
        Some(storage) => storage.alarm_topic.clone(),
        None => add_alarm_topic(&mut stack, stage, &warehouse.key)?,
    };
    stack.add(
        "LoaderErrorsAlarm",
        Alarm {
            alarm_description: opt(
                "A run of the loader failed: the lake's lines not loaded yet wait for the next \
                 run that succeeds (its logs say why)"
                    .to_owned(),
            ),
            namespace: "AWS/Lambda".into(),
            metric_name: "Errors".into(),
            dimensions: vec![Dimension {
                name: "FunctionName".into(),
                value: function.function.reference().into(),
            }],
            statistic: "Sum".into(),
            period: 900.into(),
            evaluation_periods: 1.into(),
            threshold: 0.0.into(),
            comparison_operator: "GreaterThanThreshold".into(),
            treat_missing_data: opt("notBreaching"),
            alarm_actions: notify(&topic),
            ok_actions: notify(&topic),
        },
    )?;
    stack.output(
        "LoaderFunctionName",
        function.function.reference(),
        "The loader (invoke it with {\"from\": \"YYYY-MM-DD\", \"to\": \"YYYY-MM-DD\"} to load \
         those days again)",
    )?;
    if let Some(network) = catalog {
        super::batch::warehouse_catalog(&mut stack, stage, network, warehouse)?;
    }
    Ok(stack)
}
