//! The deployed stage as the repair commands need it, read from the
//! stacks' outputs.

use crate::deploy::cfn::StackState;

/// The output `key` of `stack`, or what to do about its absence.
pub fn output<'a>(stack: &'a StackState, key: &str) -> Result<&'a str, String> {
    stack.outputs.get(key).map(String::as_str).ok_or_else(|| {
        format!(
            "stack {} has no output {key}: deploy the stage again (its outputs come from the \
             current synth)",
            stack.name
        )
    })
}

/// The warehouse the stage loads into, as batch-import's Data API load is
/// configured with it: the cluster, secret and COPY role from the
/// Warehouse stack, the bulk-import bucket from Storage.
pub fn warehouse_config(
    storage: &StackState,
    warehouse: &StackState,
) -> Result<batch_import::config::DataApi, String> {
    use stacks::platform::warehouse::{DATABASE, TRANSACTIONS_TABLE};
    Ok(batch_import::config::DataApi {
        staging_bucket: output(storage, "BulkImportBucketName")?.to_owned(),
        cluster_identifier: output(warehouse, "ExportClusterRef")?.to_owned(),
        database: DATABASE.to_owned(),
        secret_arn: output(warehouse, "SecretArn")?.to_owned(),
        copy_role_arn: output(warehouse, "CopyRoleArn")?.to_owned(),
        warehouse_table: TRANSACTIONS_TABLE
            .parse()
            .map_err(|why| format!("table {TRANSACTIONS_TABLE}: {why}"))?,
    })
}
