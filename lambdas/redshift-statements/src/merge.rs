//! Merging the staging table into the warehouse table, once per line.
//!
//! Every delivery path is at least once (Firehose retries its COPY, the
//! lake may hold a client's resend twice, a load may be run again), so
//! rows reach `{table}_staging` first and this merge moves them into the
//! table the views read, replacing by `line_id`, in one transaction: lock
//! both tables (a COPY meanwhile waits rather than failing with
//! serializable isolation error 1023), keep one staged row per `line_id`,
//! delete the table's rows with those ids (bounded by the staged rows'
//! dates, so the sort key prunes), insert, and empty the staging table
//! with `DELETE` (`TRUNCATE` would commit on its own). A merge that fails
//! changes nothing, and the next one merges the same rows again.

/// The temporary table of one merge: the staged rows, one per `line_id`.
pub const MERGE_TABLE: &str = "firehose_merge";

/// The statements of one merge of `staging` into `table` (both
/// `schema.table` names), over `columns`, in order (see the module
/// documentation). A caller that loads the staging table in the same
/// transaction puts its COPY right after the first statement, the `LOCK`.
pub fn merge_statements(table: &str, staging: &str, columns: &[&str]) -> Vec<String> {
    let columns = columns.join(", ");
    vec![
        format!("LOCK {table}, {staging}"),
        // Copies of a line delivered twice are identical (the same record
        // transformed the same way): any one of them is the line. A
        // subquery in FROM needs an alias in Redshift, as in PostgreSQL.
        format!(
            "CREATE TEMP TABLE {MERGE_TABLE} AS SELECT {columns} FROM (SELECT {columns}, \
             ROW_NUMBER() OVER (PARTITION BY line_id ORDER BY line_id) AS copy_number \
             FROM {staging}) AS staged WHERE copy_number = 1"
        ),
        format!(
            "DELETE FROM {table} USING {MERGE_TABLE} WHERE {table}.line_id = {MERGE_TABLE}.line_id \
             AND {table}.invoice_date BETWEEN (SELECT MIN(invoice_date) FROM {MERGE_TABLE}) \
             AND (SELECT MAX(invoice_date) FROM {MERGE_TABLE})"
        ),
        format!("INSERT INTO {table} ({columns}) SELECT {columns} FROM {MERGE_TABLE}"),
        format!("DELETE FROM {staging}"),
        format!("DROP TABLE {MERGE_TABLE}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_merge_locks_both_tables_keeps_one_row_per_line_id_and_empties_staging_without_truncate()
    {
        let sqls = merge_statements("s.t", "s.t_staging", &["line_id", "invoice_date"]);
        assert_eq!(sqls[0], "LOCK s.t, s.t_staging");
        assert!(sqls[1].contains("PARTITION BY line_id"), "{}", sqls[1]);
        assert!(sqls[2].starts_with("DELETE FROM s.t USING firehose_merge"));
        assert_eq!(
            sqls[3],
            "INSERT INTO s.t (line_id, invoice_date) SELECT line_id, invoice_date FROM \
             firehose_merge"
        );
        assert_eq!(sqls[4], "DELETE FROM s.t_staging");
        assert_eq!(sqls[5], "DROP TABLE firehose_merge");
        assert!(sqls.iter().all(|sql| !sql.contains("TRUNCATE")));
    }
}
