//! Configuration from the environment the Loader stack sets.

/// Everything the loader needs to know about its resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `LAKE_BUCKET`: the lake (in another account where the stage has two).
    pub lake_bucket: String,
    /// `LOAD_BUCKET`: where the COPY manifests are written.
    pub load_bucket: String,
    /// `CLUSTER_IDENTIFIER`: the Redshift cluster the Data API runs on.
    pub cluster_identifier: String,
    /// `DATABASE`: the database of the warehouse table.
    pub database: String,
    /// `WAREHOUSE_SECRET_ARN`: the secret the Data API authenticates with.
    pub secret_arn: String,
    /// `COPY_ROLE_ARN`: the lake COPY role attached to the cluster.
    pub copy_role_arn: String,
    /// `WAREHOUSE_TABLE`, default `public.transactions`: the table the
    /// views read; rows are staged in `{table}_staging` and the loads
    /// recorded in `{schema}.lake_loads`.
    pub warehouse_table: String,
    /// `SLICES`: the cluster's slices (node type × nodes).
    pub slices: usize,
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
    pub const DEFAULT_WAREHOUSE_TABLE: &'static str = "public.transactions";

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `var` (the environment in Lambda).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let read = |name: &'static str, what: &'static str| {
            var(name)
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing { name, what })
        };
        let config = Config {
            lake_bucket: read("LAKE_BUCKET", "the lake bucket's name")?,
            load_bucket: read("LOAD_BUCKET", "the load bucket's name")?,
            cluster_identifier: read("CLUSTER_IDENTIFIER", "the Redshift cluster's identifier")?,
            database: read("DATABASE", "the warehouse database")?,
            secret_arn: read("WAREHOUSE_SECRET_ARN", "the warehouse secret's ARN")?,
            copy_role_arn: read("COPY_ROLE_ARN", "the ARN of the cluster's lake COPY role")?,
            warehouse_table: var("WAREHOUSE_TABLE")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| Self::DEFAULT_WAREHOUSE_TABLE.to_owned()),
            slices: {
                let value = read("SLICES", "the cluster's number of slices")?;
                value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(ConfigError::Invalid {
                        name: "SLICES",
                        value,
                        why: "not a positive whole number",
                    })?
            },
        };
        // Written inside SQL string literals of the COPY.
        for (name, value) in [
            ("LAKE_BUCKET", &config.lake_bucket),
            ("LOAD_BUCKET", &config.load_bucket),
            ("COPY_ROLE_ARN", &config.copy_role_arn),
        ] {
            if !is_sql_literal_safe(value) {
                return Err(ConfigError::Invalid {
                    name,
                    value: value.clone(),
                    why: "contains a quote, backslash or control character",
                });
            }
        }
        if !is_table_name(&config.warehouse_table) {
            return Err(ConfigError::Invalid {
                name: "WAREHOUSE_TABLE",
                value: config.warehouse_table,
                why: "not schema.table in lower-case letters, digits and underscores",
            });
        }
        Ok(config)
    }

    /// Where the rows are staged before the merge.
    pub fn staging_table(&self) -> String {
        format!("{}_staging", self.warehouse_table)
    }

    /// Where the loads are recorded: beside the warehouse table.
    pub fn loads_table(&self) -> String {
        format!("{}.lake_loads", self.schema())
    }

    /// Where the bulk imports' versions are recorded, beside the loads.
    pub fn imports_table(&self) -> String {
        format!("{}.lake_imports", self.schema())
    }

    fn schema(&self) -> &str {
        self.warehouse_table
            .split_once('.')
            .map_or("public", |(schema, _)| schema)
    }
}

/// Whether `text` can go between single quotes in SQL as it is.
pub fn is_sql_literal_safe(text: &str) -> bool {
    !text
        .chars()
        .any(|c| c == '\'' || c == '\\' || c.is_control())
}

fn is_table_name(text: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    matches!(text.split_once('.'), Some((schema, table)) if part(schema) && part(table))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn vars(name: &str) -> Option<String> {
        Some(
            match name {
                "LAKE_BUCKET" => "retail-prod-private-lake-111122223333",
                "LOAD_BUCKET" => "retail-loads",
                "CLUSTER_IDENTIFIER" => "retail-cluster",
                "DATABASE" => "retail",
                "WAREHOUSE_SECRET_ARN" => "arn:aws:secretsmanager:eu-west-1:444455556666:secret:wh",
                "COPY_ROLE_ARN" => "arn:aws:iam::444455556666:role/retail-prod-private-lake-copy",
                "SLICES" => "4",
                _ => return None,
            }
            .to_owned(),
        )
    }

    pub fn config() -> Config {
        Config::from_vars(vars).unwrap()
    }

    #[test]
    fn the_tables_are_the_configured_one_its_staging_table_and_the_loads_beside_them() {
        let config = config();
        assert_eq!(config.warehouse_table, "public.transactions");
        assert_eq!(config.staging_table(), "public.transactions_staging");
        assert_eq!(config.loads_table(), "public.lake_loads");
        assert_eq!(config.slices, 4);
    }

    #[test]
    fn a_missing_or_unusable_variable_says_which_and_why() {
        let error = Config::from_vars(|name| vars(name).filter(|_| name != "SLICES")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable SLICES is not set; the stack sets it to the cluster's number \
             of slices"
        );
        let error = Config::from_vars(|name| {
            if name == "SLICES" {
                Some("0".into())
            } else {
                vars(name)
            }
        })
        .unwrap_err();
        assert!(error.to_string().contains("not a positive whole number"));
        let error = Config::from_vars(|name| {
            if name == "COPY_ROLE_ARN" {
                Some("arn:aws:iam::1:role/x' --".into())
            } else {
                vars(name)
            }
        })
        .unwrap_err();
        assert!(error.to_string().contains("COPY_ROLE_ARN"), "{error}");
        let error = Config::from_vars(|name| {
            if name == "WAREHOUSE_TABLE" {
                Some("transactions; DROP TABLE x".into())
            } else {
                vars(name)
            }
        })
        .unwrap_err();
        assert!(error.to_string().contains("WAREHOUSE_TABLE"), "{error}");
    }
}
