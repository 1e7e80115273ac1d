//! Batch: the scheduled bulk import of CSV files into DynamoDB and
//! Redshift, and the Glue catalog of what the platform holds (the imported
//! files, and the warehouse table through a JDBC connection).
//!
//! Where the warehouse is in another account, the import hands each file's
//! lines to the lake's `raw/imports/` instead of loading them (that
//! account's loader does), and the warehouse table's catalog is in that
//! account ([`warehouse_catalog`], in the Loader stack): a JDBC connection
//! runs in the cluster's VPC.

use std::collections::BTreeMap;

use serde_json::json;

use crate::assets::AssetTable;
use crate::model::events::{RetryPolicy, Rule, Target};
use crate::model::glue::{
    Connection, ConnectionInput, Crawler, Database, DatabaseInput, JdbcTarget,
    PhysicalConnectionRequirements, S3Target, Schedule, SchemaChangePolicy, Targets,
};
use crate::model::iam::Role;
use crate::model::lambda::Permission;
use crate::model::{Expr, Handle, Options, Stack, opt};
use crate::policies::Policy;
use crate::stage::Stage;

use super::PlatformError;
use super::function::{FunctionSpec, add_function, checkov_skip, to_json};
use super::network::Network;
use super::role::add_role;
use super::storage::{Storage, bulk_import_prefixes};
use super::warehouse::{DATABASE, TRANSACTIONS_TABLE, Warehouse};

/// Lambda's longest run: a day's file (~3,000 rows) takes seconds, the
/// rest is room for a slow COPY.
pub const BATCH_IMPORT_TIMEOUT_SECONDS: i64 = 900;

/// batch-import's `MemorySize`. Memory does not size it: the import is
/// streamed in chunks, and `cargo bench -p batch-import --bench
/// peak_memory` measured 73 MB, then 62 MB, peak for one file of the whole
/// data set (541,909 rows; an upper bound, the bench's mocks included),
/// and fails above 256 MB: 1024 MB is 14 times the measured peak, 4 times
/// the bound the bench holds. What the size buys is CPU: Lambda gives a
/// function CPU in proportion to its memory, one vCPU at 1,769 MB
/// (<https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html>),
/// so 1024 MB is about 0.58 vCPU. The same bench imported that file in
/// 19.1 s with every AWS call answered in process (parsing it twice,
/// building about a million DynamoDB items, serialising and signing some
/// 43,000 `BatchWriteItem` calls): about 35 s at 0.58 vCPU, 70 s at half
/// the memory, before any time spent waiting on AWS.
pub const BATCH_IMPORT_MEMORY_MB: i64 = 1024;

/// When the crawlers refresh the catalog (daily, after the night's imports).
pub const CRAWLER_SCHEDULE: &str = "cron(30 2 * * ? *)";

/// Where the bulk import's warehouse lines go.
#[derive(Debug)]
pub enum ImportTarget<'a> {
    /// The cluster in the stage's own account: loaded through the Data API,
    /// and catalogued here through its VPC.
    Warehouse {
        warehouse: &'a Warehouse,
        network: &'a Network,
    },
    /// The cluster in another account: the lake's `raw/imports/`.
    Lake,
}

pub fn batch(
    stage: &Stage,
    assets: &AssetTable,
    storage: &Storage,
    target: ImportTarget<'_>,
) -> Result<Stack, PlatformError> {
    let mut stack = Stack::new(
        "Batch",
        "Scheduled bulk import of CSV files into DynamoDB and Redshift; Glue catalog of the \
         imported files and the warehouse table",
    )?;

    let mut policy_context = BTreeMap::from([
        ("bulk_import_bucket_arn", storage.bulk_import_bucket.arn()),
        ("invoices_table_arn", storage.invoices_table.arn()),
        ("customers_table_arn", storage.customers_table.arn()),
        ("data_key_arn", storage.key.arn()),
    ]);
    let mut environment = BTreeMap::from([
        ("BULK_IMPORT_BUCKET", storage.bulk_import_bucket.name()),
        ("INVOICES_TABLE", storage.invoices_table.name()),
        ("CUSTOMERS_TABLE", storage.customers_table.name()),
    ]);
    match &target {
        ImportTarget::Warehouse { warehouse, .. } => {
            policy_context.extend([
                ("cluster_identifier", warehouse.cluster.id()),
                ("warehouse_secret_arn", warehouse.owner_secret.arn()),
            ]);
            environment.extend([
                ("CLUSTER_IDENTIFIER", warehouse.cluster.id()),
                ("DATABASE", Expr::literal(DATABASE)),
                // The schema owner: the merge locks, deletes and inserts.
                ("WAREHOUSE_SECRET_ARN", warehouse.owner_secret.arn()),
                ("COPY_ROLE_ARN", warehouse.copy_role.arn()),
                ("WAREHOUSE_TABLE", Expr::literal(TRANSACTIONS_TABLE)),
            ]);
        }
        ImportTarget::Lake => {
            policy_context.insert("lake_bucket_arn", storage.lake_bucket.arn());
            environment.insert("LAKE_BUCKET", storage.lake_bucket.name());
        }
    }
    let description = match target {
        ImportTarget::Warehouse { .. } => {
            "Imports CSV files from incoming/ of the bulk-import bucket into DynamoDB and Redshift"
        }
        ImportTarget::Lake => {
            "Imports CSV files from incoming/ of the bulk-import bucket into DynamoDB, and hands \
             them to the lake's raw/imports/ for the warehouse account's loader"
        }
    };
    let import = add_function(
        &mut stack,
        stage,
        assets,
        &storage.key,
        FunctionSpec {
            asset: "batch-import",
            id: "BatchImport",
            description: description.into(),
            policy: Policy::LambdaBatchImport,
            policy_context,
            environment,
            memory_mb: BATCH_IMPORT_MEMORY_MB,
            timeout_seconds: BATCH_IMPORT_TIMEOUT_SECONDS,
            // One run at a time: a slow run and the next schedule must not
            // import the same file twice at once.
            reserved_concurrency: Some(1),
            checkov_skips: vec![(
                "CKV_AWS_116",
                "A failed run leaves its file in incoming/, and the next scheduled run imports \
                 it again (idempotently): there is no event to keep in a dead-letter queue",
            )],
        },
    )?;
    let rule = stack.add(
        "BatchImportSchedule",
        Rule {
            description: opt("Runs the bulk import over incoming/ of the bulk-import bucket"),
            schedule_expression: opt(stage.batch_import_schedule),
            state: opt("ENABLED"),
            targets: vec![Target {
                arn: import.function.arn().into(),
                id: "BatchImport".into(),
                retry_policy: Some(RetryPolicy {
                    maximum_event_age_in_seconds: opt(3600),
                    maximum_retry_attempts: opt(2),
                }),
                ..Default::default()
            }],
            ..Default::default()
        },
    )?;
    stack.add(
        "BatchImportPermission",
        Permission {
            action: "lambda:InvokeFunction".into(),
            function_name: import.function.arn().into(),
            principal: "events.amazonaws.com".into(),
            source_arn: opt(rule.arn()),
            ..Default::default()
        },
    )?;

    let database = catalog_database(&mut stack, stage)?;
    files_crawler(&mut stack, storage, &database)?;
    if let ImportTarget::Warehouse { warehouse, network } = target {
        warehouse_crawler(&mut stack, stage, network, warehouse, &database)?;
    }
    Ok(stack)
}

/// The Glue catalog of the warehouse table in the warehouse's own account
/// (a stage across two accounts): a database of its own, and the crawler.
pub fn warehouse_catalog(
    stack: &mut Stack,
    stage: &Stage,
    network: &Network,
    warehouse: &Warehouse,
) -> Result<(), PlatformError> {
    let database = catalog_database(stack, stage)?;
    warehouse_crawler(stack, stage, network, warehouse, &database)
}

fn catalog_database(stack: &mut Stack, stage: &Stage) -> Result<Handle<Database>, PlatformError> {
    Ok(stack.add(
        "CatalogDatabase",
        Database {
            catalog_id: Expr::account_id().into(),
            database_input: DatabaseInput {
                // Glue and Athena want lower case and underscores.
                name: opt(format!("retail_{}", stage.name)),
                description: opt("Imported CSV files and the Redshift transactions table"),
            },
        },
    )?)
}

/// Never delete catalog tables on a schema change: log it instead.
fn schema_change_policy() -> SchemaChangePolicy {
    SchemaChangePolicy {
        update_behavior: "UPDATE_IN_DATABASE".into(),
        delete_behavior: "LOG".into(),
    }
}

fn files_crawler(
    stack: &mut Stack,
    storage: &Storage,
    database: &Handle<Database>,
) -> Result<(), PlatformError> {
    let files_role = glue_role(
        stack,
        "FilesCrawlerRole",
        Policy::GlueS3Crawler,
        json!({
            "bulk_import_bucket_arn": to_json(&storage.bulk_import_bucket.arn()),
            "data_key_arn": to_json(&storage.key.arn()),
            "crawl_prefix": bulk_import_prefixes::PROCESSED,
            "database_name": to_json(&database.name()),
        }),
    )?;
    stack.add_with(
        "FilesCrawler",
        Crawler {
            description: opt("Catalogues the imported CSV files"),
            role: files_role.arn().into(),
            database_name: opt(database.name()),
            targets: Targets {
                s3_targets: Some(vec![S3Target {
                    path: Expr::sub_with(
                        format!("s3://${{Bucket}}/{}", bulk_import_prefixes::PROCESSED),
                        [("Bucket", storage.bulk_import_bucket.name())],
                    )
                    .into(),
                    exclusions: None,
                }]),
                jdbc_targets: None,
            },
            schedule: Some(Schedule {
                schedule_expression: CRAWLER_SCHEDULE.into(),
            }),
            schema_change_policy: Some(schema_change_policy()),
            table_prefix: opt("files_"),
            ..Default::default()
        },
        Options::new().metadata(checkov_skip(&[CRAWLER_SECURITY_CONFIGURATION_SKIP])),
    )?;
    Ok(())
}

/// The JDBC connection to the warehouse (in the cluster's VPC, as the
/// read-only user) and the crawler of its transactions table.
fn warehouse_crawler(
    stack: &mut Stack,
    stage: &Stage,
    network: &Network,
    warehouse: &Warehouse,
    database: &Handle<Database>,
) -> Result<(), PlatformError> {
    let subnet = &network.subnets[0];
    let connection = stack.add(
        "WarehouseConnection",
        Connection {
            catalog_id: Expr::account_id().into(),
            connection_input: ConnectionInput {
                name: opt(format!("{}-warehouse", stage.prefix())),
                description: opt("JDBC connection to the Redshift warehouse, TLS enforced"),
                connection_type: "JDBC".into(),
                connection_properties: BTreeMap::from([
                    (
                        "JDBC_CONNECTION_URL".to_string(),
                        warehouse.jdbc_url().into(),
                    ),
                    ("JDBC_ENFORCE_SSL".to_string(), "true".into()),
                    // The read-only user: the crawler only reads the schema.
                    (
                        "SECRET_ID".to_string(),
                        warehouse.reader_secret.arn().into(),
                    ),
                ]),
                physical_connection_requirements: Some(PhysicalConnectionRequirements {
                    availability_zone: opt(subnet.availability_zone()),
                    security_group_id_list: Some(vec![
                        network.glue_security_group.group_id().into(),
                    ]),
                    subnet_id: opt(subnet.id()),
                }),
            },
        },
    )?;
    let warehouse_role = glue_role(
        stack,
        "WarehouseCrawlerRole",
        Policy::GlueJdbcCrawler,
        json!({
            "database_name": to_json(&database.name()),
            "connection_name": to_json(&connection.name()),
            "vpc_id": to_json(&network.vpc.id()),
            "subnet_id": to_json(&subnet.id()),
            "security_group_id": to_json(&network.glue_security_group.group_id()),
            "warehouse_secret_arn": to_json(&warehouse.reader_secret.arn()),
            "data_key_arn": to_json(&warehouse.key.arn()),
        }),
    )?;
    stack.add_with(
        "WarehouseCrawler",
        Crawler {
            description: opt("Catalogues the Redshift transactions table"),
            role: warehouse_role.arn().into(),
            database_name: opt(database.name()),
            targets: Targets {
                s3_targets: None,
                jdbc_targets: Some(vec![JdbcTarget {
                    connection_name: connection.name().into(),
                    // database/schema/table
                    path: format!("{DATABASE}/{TRANSACTIONS_TABLE}")
                        .replace('.', "/")
                        .into(),
                    exclusions: None,
                }]),
            },
            schedule: Some(Schedule {
                schedule_expression: CRAWLER_SCHEDULE.into(),
            }),
            schema_change_policy: Some(schema_change_policy()),
            table_prefix: opt("warehouse_"),
            ..Default::default()
        },
        Options::new().metadata(checkov_skip(&[CRAWLER_SECURITY_CONFIGURATION_SKIP])),
    )?;
    Ok(())
}

/// Why the crawlers have no Glue security configuration.
const CRAWLER_SECURITY_CONFIGURATION_SKIP: (&str, &str) = (
    "CKV_AWS_195",
    "Crawlers write only catalog metadata and their logs; a security configuration would add KMS \
     keys for data writes the crawlers never make",
);

fn glue_role(
    stack: &mut Stack,
    id: &str,
    policy: Policy,
    context: serde_json::Value,
) -> Result<Handle<Role>, PlatformError> {
    add_role(
        stack,
        id,
        Role::for_service("glue.amazonaws.com", format!("Glue crawler ({policy})")),
        policy,
        &context,
    )
}
