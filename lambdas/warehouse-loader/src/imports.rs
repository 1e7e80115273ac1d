//! The bulk imports the data account hands to the lake (batch-import, in a
//! stage whose warehouse is in another account), loaded once each, in
//! order.
//!
//! Each import of a file is a version under `raw/imports/{file}/{stamp}/`
//! (`record::lake_imports`): its rows, every row of the version it
//! replaces, and `done.json` written last. A scheduled run lists
//! `raw/imports/`, reads the imports table (`{schema}.lake_imports`: per
//! file, the last version loaded) and loads every complete version newer
//! than that, oldest first, one transaction each
//! ([`version_statements`]): the replaced rows deleted by `line_id` within
//! their own dates, then the rows COPYed into the staging table and merged
//! by `line_id` (the public path's merge), then the version recorded. So the
//! warehouse ends holding each file as last dropped, lines a correction
//! dropped or moved in time included, and a version loaded again (a run
//! that failed before its record) replaces what it loaded.
//!
//! A version without `done.json` is still being written, or its import
//! failed half-way (the next import of the file writes a new version): it
//! is counted, never loaded.

use std::collections::BTreeMap;

use record::lake_imports::{self, Part};

use crate::config::{Config, is_sql_literal_safe};
use crate::sql::COPY_OPTIONS;

/// One complete version to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub file: String,
    pub stamp: String,
    /// `rows.jsonl` is there (the file had accepted rows).
    pub rows: bool,
    /// `replaced.jsonl` is there (the file was imported before).
    pub replaced: bool,
}

/// `{file}@{stamp}`, as reports name a version.
impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.file, self.stamp)
    }
}

impl Version {
    pub fn key(&self, part: Part) -> String {
        lake_imports::key(&self.file, &self.stamp, part)
    }
}

/// The listing of `raw/imports/`, grouped into versions.
#[derive(Debug, Default)]
pub struct Listing {
    versions: lake_imports::Versions,
    /// Keys that are not a version's part, or name a file that cannot be
    /// written inside a SQL literal (batch-import refuses those names).
    pub unrecognised: u64,
}

/// The versions of a listing the loads table does not have yet.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pending {
    /// Complete and newer than the file's last loaded version, by file,
    /// then oldest first.
    pub versions: Vec<Version>,
    /// Without `done.json`: not loaded.
    pub incomplete: u64,
}

impl Listing {
    pub fn push(&mut self, key: &str) {
        if !(is_sql_literal_safe(key) && self.versions.push(key)) {
            self.unrecognised += 1;
        }
    }

    /// What is left to load, given the last version loaded of each file.
    pub fn pending(self, loaded: &BTreeMap<String, String>) -> Pending {
        let mut pending = Pending::default();
        for ((file, stamp), parts) in self.versions {
            if loaded.get(&file).is_some_and(|last| *last >= stamp) {
                continue;
            }
            if !parts.done {
                pending.incomplete += 1;
                continue;
            }
            pending.versions.push(Version {
                file,
                stamp,
                rows: parts.rows,
                replaced: parts.replaced,
            });
        }
        pending
    }
}

/// The temporary table of a version's replaced rows.
pub const REPLACED_TABLE: &str = "import_replaced";

/// Creates the imports table if it is missing, then reads it: per file,
/// the stamp of the last version loaded. The answer is
/// [`STATE_SUB_STATEMENT`]'s.
pub fn state_statements(config: &Config) -> Vec<String> {
    let imports = config.imports_table();
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {imports} (file_name VARCHAR(1024) NOT NULL, stamp \
             VARCHAR(24) NOT NULL, loaded_at TIMESTAMP NOT NULL DEFAULT GETDATE()) SORTKEY \
             (file_name)"
        ),
        format!("SELECT file_name, MAX(stamp) FROM {imports} GROUP BY file_name ORDER BY 1"),
    ]
}

/// The sub-statement of [`state_statements`] whose result is the state.
pub const STATE_SUB_STATEMENT: usize = 2;

/// The transaction of one version (see the module documentation). The
/// version's file name and stamp are safe inside a SQL literal
/// ([`Listing::push`] keeps no other).
pub fn version_statements(config: &Config, version: &Version) -> Vec<String> {
    let table = &config.warehouse_table;
    let staging = config.staging_table();
    let columns: Vec<&str> = record::WAREHOUSE_COLUMNS.iter().map(|c| c.name).collect();
    let copy = |into: &str, part: Part| {
        format!(
            "COPY {into} ({columns}) FROM 's3://{bucket}/{key}' IAM_ROLE '{role}' {COPY_OPTIONS}",
            columns = columns.join(", "),
            bucket = config.lake_bucket,
            key = version.key(part),
            role = config.copy_role_arn,
        )
    };
    let mut sqls = redshift_statements::merge::merge_statements(table, &staging, &columns);
    if !version.rows {
        // Nothing to merge: the lock alone.
        sqls.truncate(1);
    }
    let mut after_lock = Vec::new();
    if version.replaced {
        after_lock.extend([
            format!("CREATE TEMP TABLE {REPLACED_TABLE} (LIKE {table})"),
            copy(REPLACED_TABLE, Part::Replaced),
            format!(
                "DELETE FROM {table} USING {REPLACED_TABLE} WHERE {table}.line_id = \
                 {REPLACED_TABLE}.line_id AND {table}.invoice_date BETWEEN (SELECT \
                 MIN(invoice_date) FROM {REPLACED_TABLE}) AND (SELECT MAX(invoice_date) FROM \
                 {REPLACED_TABLE})"
            ),
            format!("DROP TABLE {REPLACED_TABLE}"),
        ]);
    }
    if version.rows {
        after_lock.push(copy(&staging, Part::Rows));
    }
    sqls.splice(1..1, after_lock);
    sqls.push(format!(
        "INSERT INTO {} (file_name, stamp) VALUES ('{}', '{}')",
        config.imports_table(),
        version.file,
        version.stamp
    ));
    sqls
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::config;

    const EARLIER: &str = "20101202T020000.000Z";
    const LATER: &str = "20101203T020000.000Z";

    fn listing(keys: &[String]) -> Listing {
        let mut listing = Listing::default();
        for key in keys {
            listing.push(key);
        }
        listing
    }

    fn parts(file: &str, stamp: &str, parts: &[Part]) -> Vec<String> {
        parts
            .iter()
            .map(|part| lake_imports::key(file, stamp, *part))
            .collect()
    }

    #[test]
    fn complete_versions_newer_than_the_last_loaded_are_pending_oldest_first() {
        let mut keys = parts("a.csv", EARLIER, &Part::ALL);
        keys.extend(parts(
            "a.csv",
            LATER,
            &[Part::Rows, Part::Replaced, Part::Done],
        ));
        keys.extend(parts("b.csv", EARLIER, &[Part::Rows, Part::Done]));
        keys.extend(parts("c.csv", LATER, &[Part::Rows]));
        keys.push("raw/imports/notes.txt".into());
        let loaded = BTreeMap::from([("b.csv".to_owned(), EARLIER.to_owned())]);

        let pending = listing(&keys).pending(&loaded);

        let versions: Vec<(&str, &str)> = pending
            .versions
            .iter()
            .map(|v| (v.file.as_str(), v.stamp.as_str()))
            .collect();
        assert_eq!(
            versions,
            [("a.csv", EARLIER), ("a.csv", LATER)],
            "b.csv is loaded; c.csv has no done.json yet"
        );
        assert_eq!(pending.incomplete, 1);
        assert_eq!(listing(&keys).unrecognised, 1);
    }

    #[test]
    fn a_version_loaded_before_is_not_loaded_again_even_if_listed_late() {
        let keys = parts("a.csv", EARLIER, &Part::ALL);
        let loaded = BTreeMap::from([("a.csv".to_owned(), LATER.to_owned())]);
        assert_eq!(listing(&keys).pending(&loaded), Pending::default());
    }

    #[test]
    fn a_file_name_that_cannot_sit_in_a_sql_literal_is_never_loaded() {
        let keys = parts("o'brien.csv", EARLIER, &Part::ALL);
        let listing = listing(&keys);
        assert_eq!(listing.unrecognised, 3);
        assert!(listing.pending(&BTreeMap::new()).versions.is_empty());
    }

    fn version(rows: bool, replaced: bool) -> Version {
        Version {
            file: "day.csv".into(),
            stamp: LATER.into(),
            rows,
            replaced,
        }
    }

    #[test]
    fn a_correction_deletes_the_rows_it_replaces_then_merges_its_own_and_records_itself() {
        let config = config();
        let sqls = version_statements(&config, &version(true, true));
        let columns: Vec<&str> = record::WAREHOUSE_COLUMNS.iter().map(|c| c.name).collect();
        let merge = redshift_statements::merge::merge_statements(
            "public.transactions",
            "public.transactions_staging",
            &columns,
        );
        let lake = "s3://retail-prod-private-lake-111122223333/raw/imports/day.csv";
        let role = "IAM_ROLE 'arn:aws:iam::444455556666:role/retail-prod-private-lake-copy'";
        assert_eq!(sqls[0], merge[0], "the merge's lock, first");
        assert_eq!(
            sqls[1],
            "CREATE TEMP TABLE import_replaced (LIKE public.transactions)"
        );
        assert!(sqls[2].starts_with("COPY import_replaced (invoice_no, "));
        assert!(
            sqls[2].ends_with(&format!(
                "FROM '{lake}/{LATER}/replaced.jsonl' {role} {COPY_OPTIONS}"
            )),
            "{}",
            sqls[2]
        );
        assert_eq!(
            sqls[3],
            "DELETE FROM public.transactions USING import_replaced WHERE \
             public.transactions.line_id = import_replaced.line_id AND \
             public.transactions.invoice_date BETWEEN (SELECT MIN(invoice_date) FROM \
             import_replaced) AND (SELECT MAX(invoice_date) FROM import_replaced)",
            "bounded by the replaced rows' own dates, where the table holds them"
        );
        assert_eq!(sqls[4], "DROP TABLE import_replaced");
        assert!(sqls[5].starts_with("COPY public.transactions_staging (invoice_no, "));
        assert!(sqls[5].ends_with(&format!(
            "FROM '{lake}/{LATER}/rows.jsonl' {role} {COPY_OPTIONS}"
        )));
        assert_eq!(
            sqls[6..sqls.len() - 1],
            merge[1..],
            "then the public path's merge"
        );
        assert_eq!(
            sqls.last().unwrap(),
            &format!(
                "INSERT INTO public.lake_imports (file_name, stamp) VALUES ('day.csv', '{LATER}')"
            )
        );
    }

    #[test]
    fn a_correction_with_no_row_left_only_deletes_and_a_first_import_only_merges() {
        let config = config();
        let emptied = version_statements(&config, &version(false, true));
        assert_eq!(emptied.len(), 6, "{emptied:#?}");
        assert!(emptied[0].starts_with("LOCK "));
        assert!(emptied[3].starts_with("DELETE FROM public.transactions USING import_replaced"));
        assert!(emptied.iter().all(|sql| !sql.contains("rows.jsonl")));

        let first = version_statements(&config, &version(true, false));
        assert!(first.iter().all(|sql| !sql.contains(REPLACED_TABLE)));
        assert!(first[1].starts_with("COPY public.transactions_staging"));
    }

    #[test]
    fn the_imports_table_is_created_if_missing_then_read_one_row_a_file() {
        let sqls = state_statements(&config());
        assert!(sqls[0].starts_with("CREATE TABLE IF NOT EXISTS public.lake_imports ("));
        assert_eq!(
            sqls[1],
            "SELECT file_name, MAX(stamp) FROM public.lake_imports GROUP BY file_name ORDER BY 1"
        );
    }
}
