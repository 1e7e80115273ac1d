//! The SQL the custom resource runs, kept in `sql/*.sql` so analysts can
//! read it where it lives.

/// The table every loader writes (`record::WAREHOUSE_COLUMNS`).
pub const TABLE: &str = "public.transactions";

/// `CREATE TABLE IF NOT EXISTS public.transactions (...)`.
pub const TABLE_SQL: &str = include_str!("../sql/transactions.sql");

/// The table Firehose COPYs into, merged into [`TABLE`] by batch-import.
pub const STAGING_TABLE: &str = "public.transactions_staging";

/// `CREATE TABLE IF NOT EXISTS public.transactions_staging (LIKE ...)`.
pub const STAGING_SQL: &str = include_str!("../sql/transactions_staging.sql");

/// The analysts' views: name (schema-qualified) and `CREATE VIEW`
/// statement, in creation order.
pub const VIEWS: [(&str, &str); 6] = [
    (
        "public.sales_per_hour",
        include_str!("../sql/sales_per_hour.sql"),
    ),
    (
        "public.sales_per_day",
        include_str!("../sql/sales_per_day.sql"),
    ),
    (
        "public.sales_per_month",
        include_str!("../sql/sales_per_month.sql"),
    ),
    (
        "public.best_selling_products_per_month",
        include_str!("../sql/best_selling_products_per_month.sql"),
    ),
    (
        "public.biggest_invoices",
        include_str!("../sql/biggest_invoices.sql"),
    ),
    (
        "public.customer_insights",
        include_str!("../sql/customer_insights.sql"),
    ),
];

/// Create and Update: the table and Firehose's staging table if missing,
/// then every view dropped and
/// created again. Redshift's `CREATE OR REPLACE VIEW` fails when the new
/// definition changes the view's columns (names, types or order must stay;
/// <https://docs.aws.amazon.com/redshift/latest/dg/r_CREATE_VIEW.html>), so
/// the first schema change touching a view would roll the stack back.
/// `DROP VIEW IF EXISTS` then `CREATE VIEW` takes any change; the caller runs
/// the list as one `BatchExecuteStatement`, one transaction, so readers
/// never see a view missing and a failed create restores the old one.
/// No `CASCADE`: an analyst's view built on ours fails the update instead
/// of vanishing. Idempotent: running it twice ends in the same state.
pub fn create_statements() -> Vec<String> {
    let mut statements = vec![statement(TABLE_SQL), statement(STAGING_SQL)];
    for (name, sql) in VIEWS {
        statements.push(drop_view(name));
        statements.push(statement(sql));
    }
    statements
}

fn drop_view(name: &str) -> String {
    format!("DROP VIEW IF EXISTS {name}")
}

/// Delete: the views only, `IF EXISTS`. The table and its data are kept:
/// deleting a stack must not destroy the sales history (the cluster's own
/// deletion policy and snapshots decide about the data). No `CASCADE`: an
/// analyst's view built on ours blocks the drop rather than vanishing.
pub fn delete_statements() -> Vec<String> {
    VIEWS.iter().map(|(name, _)| drop_view(name)).collect()
}

/// One statement of a file: trailing whitespace and `;` removed (the Data
/// API takes one statement per entry).
fn statement(sql: &str) -> String {
    sql.trim_end().trim_end_matches(';').trim_end().to_owned()
}
