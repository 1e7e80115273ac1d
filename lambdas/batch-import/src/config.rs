//! Configuration from the environment the stack sets.

use std::fmt;
use std::str::FromStr;

use dynamodb_writer::Tables;

use crate::warehouse::is_sql_literal_safe;

/// Everything the import needs to know about its resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `BULK_IMPORT_BUCKET`: the bucket with `incoming/`, `staging/`,
    /// `rejected/` and `processed/`.
    pub bucket: String,
    /// `INVOICES_TABLE` and `CUSTOMERS_TABLE`.
    pub tables: Tables,
    /// How the accepted rows reach Redshift.
    pub warehouse: Warehouse,
}

/// How the accepted rows reach Redshift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warehouse {
    /// The cluster is in this account: the import loads each file itself,
    /// through the Data API, and merges Firehose's deliveries.
    DataApi(DataApi),
    /// `LAKE_BUCKET`: the cluster is in another account, which reads only
    /// the lake's `raw/`. Each file's lines are handed to the lake
    /// (`record::lake_imports`) and that account's loader COPYs them.
    Lake { bucket: String },
}

/// The cluster the Data API loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataApi {
    /// `CLUSTER_IDENTIFIER`: the Redshift cluster the Data API runs on.
    pub cluster_identifier: String,
    /// `DATABASE`: the database of the warehouse table.
    pub database: String,
    /// `WAREHOUSE_SECRET_ARN`: the secret the Data API authenticates with.
    pub secret_arn: String,
    /// `COPY_ROLE_ARN`: the role the cluster assumes to read `staging/`
    /// (attached to the cluster; named in COPY's `IAM_ROLE`).
    pub copy_role_arn: String,
    /// `WAREHOUSE_TABLE`, default [`Config::DEFAULT_WAREHOUSE_TABLE`]: the
    /// table the warehouse-schema function creates.
    pub warehouse_table: TableName,
    /// Where COPY reads the staged files: the bulk-import bucket.
    pub staging_bucket: String,
}

impl Config {
    /// The Data API load, `None` when the lines go to the lake.
    pub fn data_api(&self) -> Option<&DataApi> {
        match &self.warehouse {
            Warehouse::DataApi(api) => Some(api),
            Warehouse::Lake { .. } => None,
        }
    }
}

/// A missing or unusable environment variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {name} is not set; the stack sets it to {what}")]
    Missing {
        name: &'static str,
        what: &'static str,
    },
    #[error("environment variable {name} is {value:?}: {why}")]
    Invalid {
        name: &'static str,
        value: String,
        why: &'static str,
    },
}

impl Config {
    pub const BUCKET_VAR: &'static str = "BULK_IMPORT_BUCKET";
    pub const INVOICES_VAR: &'static str = "INVOICES_TABLE";
    pub const CUSTOMERS_VAR: &'static str = "CUSTOMERS_TABLE";
    pub const CLUSTER_VAR: &'static str = "CLUSTER_IDENTIFIER";
    pub const DATABASE_VAR: &'static str = "DATABASE";
    pub const SECRET_VAR: &'static str = "WAREHOUSE_SECRET_ARN";
    pub const COPY_ROLE_VAR: &'static str = "COPY_ROLE_ARN";
    pub const TABLE_VAR: &'static str = "WAREHOUSE_TABLE";
    pub const LAKE_VAR: &'static str = "LAKE_BUCKET";
    /// The table warehouse-schema creates (and its views read).
    pub const DEFAULT_WAREHOUSE_TABLE: &'static str = "public.transactions";

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `var` (the environment in Lambda).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let read = |name, what| required(&var, name, what);
        let bucket = read(Self::BUCKET_VAR, "the bulk-import bucket name")?;
        let tables = Tables {
            invoices: read(Self::INVOICES_VAR, "the Invoices table name")?,
            customers: read(Self::CUSTOMERS_VAR, "the Customers table name")?,
        };
        let warehouse = match var(Self::LAKE_VAR).filter(|v| !v.is_empty()) {
            Some(lake) => Warehouse::Lake { bucket: lake },
            None => Warehouse::DataApi(Self::data_api_from(&var, &bucket)?),
        };
        Ok(Config {
            bucket,
            tables,
            warehouse,
        })
    }

    fn data_api_from(
        var: &impl Fn(&str) -> Option<String>,
        bucket: &str,
    ) -> Result<DataApi, ConfigError> {
        let read = |name, what| required(var, name, what);
        let copy_role_arn = read(Self::COPY_ROLE_VAR, "the ARN of the cluster's COPY role")?;
        // Both are written inside SQL string literals of the COPY.
        for (name, value) in [
            (Self::BUCKET_VAR, bucket),
            (Self::COPY_ROLE_VAR, copy_role_arn.as_str()),
        ] {
            if !is_sql_literal_safe(value) {
                return Err(ConfigError::Invalid {
                    name,
                    value: value.to_owned(),
                    why: "it contains a quote, backslash or control character",
                });
            }
        }
        let table = var(Self::TABLE_VAR)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| Self::DEFAULT_WAREHOUSE_TABLE.to_owned());
        let warehouse_table = table.parse().map_err(|why| ConfigError::Invalid {
            name: Self::TABLE_VAR,
            value: table.clone(),
            why,
        })?;
        Ok(DataApi {
            cluster_identifier: read(Self::CLUSTER_VAR, "the Redshift cluster identifier")?,
            database: read(Self::DATABASE_VAR, "the warehouse database name")?,
            secret_arn: read(Self::SECRET_VAR, "the ARN of the warehouse secret")?,
            copy_role_arn,
            warehouse_table,
            staging_bucket: bucket.to_owned(),
        })
    }
}

/// The value of `name`, which the stack sets to `what`.
fn required(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    what: &'static str,
) -> Result<String, ConfigError> {
    var(name)
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing { name, what })
}

/// A table name spliced into SQL: `table` or `schema.table`, each part a
/// plain lower-case identifier, so it needs no quoting and cannot inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName(String);

impl FromStr for TableName {
    type Err = &'static str;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = text.split('.').collect();
        let plain = |part: &str| {
            let mut bytes = part.bytes();
            matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
                && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
                // Redshift identifiers are at most 127 bytes.
                && part.len() <= 127
        };
        if parts.len() > 2 || !parts.iter().all(|p| plain(p)) {
            return Err("expected `table` or `schema.table` in lower-case letters, digits and `_`");
        }
        Ok(TableName(text.to_owned()))
    }
}

impl TableName {
    /// The table Firehose COPYs into, beside this one: `{name}_staging`
    /// (`public.transactions_staging`, created by warehouse-schema).
    pub fn staging(&self) -> TableName {
        TableName(format!("{}_staging", self.0))
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_plain_identifiers() {
        for good in ["transactions", "public.transactions", "stage_2.t_1"] {
            assert!(good.parse::<TableName>().is_ok(), "{good}");
        }
        for bad in ["", "a.b.c", "Public.T", "t; DROP TABLE x", "1t", "public."] {
            assert!(bad.parse::<TableName>().is_err(), "{bad}");
        }
    }
}
