//! Merging what Firehose delivered into the warehouse table, once per line.
//!
//! Firehose delivers to Redshift at least once: a COPY it retries can load
//! the same lines again
//! (<https://docs.aws.amazon.com/firehose/latest/dev/basic-deliver.html>).
//! So Firehose COPYs into `{table}_staging`, and every run of this function
//! moves those rows into the table the views read, replacing by `line_id`,
//! in one transaction (one `BatchExecuteStatement`): lock both tables (a
//! Firehose COPY or a file load waits rather than failing with
//! serializable isolation error 1023), keep one staged row per `line_id`,
//! delete the table's rows with those ids (bounded by the staged rows'
//! dates, so the sort key prunes), insert, and empty the staging table
//! with `DELETE` (`TRUNCATE` would commit on its own). A run that fails
//! changes nothing, and the next run merges the same rows again.

use record::WAREHOUSE_COLUMNS;
use tokio::time::Instant;

use crate::config::DataApi;
use crate::warehouse::{PollPolicy, WarehouseError, run_batch};

/// The temporary table of one merge: the staged rows, one per `line_id`.
pub use redshift_statements::merge::MERGE_TABLE;

/// The statements of one merge, in order (see the module documentation):
/// `redshift_statements::merge`'s, on the configured table.
pub fn merge_statements(api: &DataApi) -> Vec<String> {
    let table = api.warehouse_table.to_string();
    let staging = api.warehouse_table.staging().to_string();
    let columns: Vec<&str> = WAREHOUSE_COLUMNS.iter().map(|c| c.name).collect();
    redshift_statements::merge::merge_statements(&table, &staging, &columns)
}

/// Runs one merge and waits for it, at most `poll.max_wait` and never past
/// `deadline`.
pub async fn merge_firehose_deliveries(
    client: &aws_sdk_redshiftdata::Client,
    api: &DataApi,
    poll: &PollPolicy,
    deadline: Option<Instant>,
) -> Result<(), WarehouseError> {
    run_batch(
        client,
        api,
        "batch-import-merge-firehose",
        merge_statements(api),
        poll,
        deadline,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> DataApi {
        crate::Config::from_vars(|name| {
            Some(
                match name {
                    "BULK_IMPORT_BUCKET" => "imports",
                    "COPY_ROLE_ARN" => "arn:aws:iam::123456789012:role/copy",
                    _ => "x",
                }
                .to_owned(),
            )
            .filter(|_| !["WAREHOUSE_TABLE", "LAKE_BUCKET"].contains(&name))
        })
        .unwrap()
        .data_api()
        .unwrap()
        .clone()
    }

    #[test]
    fn a_line_firehose_delivered_twice_is_merged_as_one_row_replacing_by_line_id() {
        let sqls = merge_statements(&config());
        assert_eq!(
            sqls[0], "LOCK public.transactions, public.transactions_staging",
            "locked first: a COPY meanwhile waits instead of failing with error 1023"
        );
        // One row per line_id from the staging table, every column kept.
        assert!(sqls[1].starts_with("CREATE TEMP TABLE firehose_merge AS SELECT invoice_no, "));
        assert!(sqls[1].contains(
            "ROW_NUMBER() OVER (PARTITION BY line_id ORDER BY line_id) AS copy_number \
             FROM public.transactions_staging) AS staged WHERE copy_number = 1"
        ));
        for column in WAREHOUSE_COLUMNS {
            assert!(sqls[1].contains(column.name), "{}", column.name);
        }
        // Rows already merged (a delivery repeated after a merge) replaced.
        assert!(sqls[2].starts_with(
            "DELETE FROM public.transactions USING firehose_merge \
             WHERE public.transactions.line_id = firehose_merge.line_id AND \
             public.transactions.invoice_date BETWEEN"
        ));
        assert!(sqls[3].starts_with("INSERT INTO public.transactions (invoice_no, "));
        assert!(sqls[3].ends_with("FROM firehose_merge"));
        assert_eq!(
            sqls[4], "DELETE FROM public.transactions_staging",
            "DELETE, not TRUNCATE, which would commit on its own"
        );
        assert_eq!(sqls[5], "DROP TABLE firehose_merge");
        assert!(sqls.iter().all(|sql| !sql.contains("TRUNCATE")));
    }
}
