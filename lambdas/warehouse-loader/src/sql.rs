//! The SQL of a run: reading the loads table, and one load's transaction.
//!
//! A load is one `BatchExecuteStatement` (one transaction): the public
//! path's merge (`redshift_statements::merge`, the statements batch-import
//! and `provisioner reimport` run) with the COPY of the load's manifest
//! into the staging table right after its `LOCK`, and, last, the days the
//! load completes recorded in the loads table. The rows and the record
//! commit together or not at all.

use chrono::NaiveDate;
use serde_json::json;

use crate::config::Config;
use crate::plan::Load;

/// COPY options of the lake's lines: the warehouse JSON rows Firehose's
/// files hold too (`stacks::platform::streaming::COPY_OPTIONS`).
pub const COPY_OPTIONS: &str = "json 'auto' timeformat 'auto' truncatecolumns";

/// Creates the loads table if it is missing, then reads it: one row per
/// day, `YYYY-MM-DD`, loaded through, newest object (seconds since the
/// epoch). The answer is sub-statement 2's.
pub fn state_statements(config: &Config) -> Vec<String> {
    let loads = config.loads_table();
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {loads} (partition_date DATE NOT NULL, loaded_through \
             BIGINT NOT NULL, newest_object BIGINT NOT NULL, objects BIGINT NOT NULL, loaded_at \
             TIMESTAMP NOT NULL DEFAULT GETDATE()) SORTKEY (partition_date)"
        ),
        format!(
            "SELECT TO_CHAR(partition_date, 'YYYY-MM-DD'), MAX(loaded_through), \
             MAX(newest_object) FROM {loads} GROUP BY partition_date ORDER BY 1"
        ),
    ]
}

/// The sub-statement of [`state_statements`] whose result is the state.
pub const STATE_SUB_STATEMENT: usize = 2;

/// A COPY manifest listing the load's objects, each mandatory: an object
/// gone since the listing fails the load instead of skipping lines.
/// <https://docs.aws.amazon.com/redshift/latest/dg/loading-data-files-using-manifest.html>
pub fn manifest(config: &Config, load: &Load) -> String {
    let entries: Vec<serde_json::Value> = load
        .keys
        .iter()
        .map(
            |key| json!({ "url": format!("s3://{}/{key}", config.lake_bucket), "mandatory": true }),
        )
        .collect();
    json!({ "entries": entries }).to_string()
}

/// Where the manifest of the run's `n`th load goes (from 1), under the
/// run's cutoff (`YYYYMMDDTHHMMSSZ`).
pub fn manifest_key(cutoff: i64, n: usize) -> String {
    let at = chrono::DateTime::from_timestamp(cutoff, 0)
        .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|| cutoff.to_string());
    format!("manifests/{at}/{n:05}.json")
}

/// The transaction of one load (see the module documentation).
/// `manifest_key` must be safe inside a SQL literal ([`manifest_key`]'s are).
pub fn load_statements(
    config: &Config,
    manifest_key: &str,
    load: &Load,
    cutoff: i64,
) -> Vec<String> {
    let columns: Vec<&str> = record::WAREHOUSE_COLUMNS.iter().map(|c| c.name).collect();
    let staging = config.staging_table();
    let mut sqls =
        redshift_statements::merge::merge_statements(&config.warehouse_table, &staging, &columns);
    debug_assert!(sqls[0].starts_with("LOCK "), "the merge starts by locking");
    sqls.insert(
        1,
        format!(
            "COPY {staging} ({columns}) FROM 's3://{bucket}/{manifest_key}' IAM_ROLE '{role}' \
             MANIFEST {COPY_OPTIONS}",
            columns = columns.join(", "),
            bucket = config.load_bucket,
            role = config.copy_role_arn,
        ),
    );
    if !load.completed.is_empty() {
        let rows: Vec<String> = load
            .completed
            .iter()
            .map(|day| {
                format!(
                    "('{}', {cutoff}, {}, {})",
                    day.day, day.newest_object, day.objects
                )
            })
            .collect();
        sqls.push(format!(
            "INSERT INTO {} (partition_date, loaded_through, newest_object, objects) VALUES {}",
            config.loads_table(),
            rows.join(", ")
        ));
    }
    sqls
}

/// A day of the loads table's answer.
pub fn parse_day(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::config;
    use crate::plan::{CompletedDay, LakeObject, Limits, Mode, Planner};

    fn load() -> Load {
        let state = Default::default();
        let mut planner = Planner::new(&state, Mode::Scheduled, 1_000, Limits::for_slices(1));
        for (day, n) in [(1, 1), (1, 2), (2, 1)] {
            planner.push(LakeObject {
                key: format!("raw/date=2010-12-0{day}/shardId-000000000001-{n}.jsonl"),
                last_modified: 100 * n,
            });
        }
        planner.finish().0.remove(0)
    }

    #[test]
    fn a_load_copies_its_manifest_into_staging_under_the_lock_merges_and_records_its_days() {
        let load = load();
        assert_eq!(
            load.completed[0],
            CompletedDay {
                day: NaiveDate::from_ymd_opt(2010, 12, 1).unwrap(),
                objects: 2,
                newest_object: 200
            }
        );
        let sqls = load_statements(
            &config(),
            "manifests/20101203T000000Z/00001.json",
            &load,
            1_000,
        );
        assert_eq!(
            sqls[0], "LOCK public.transactions, public.transactions_staging",
            "locked first, as every merge"
        );
        assert_eq!(
            sqls[1],
            format!(
                "COPY public.transactions_staging ({}) FROM \
                 's3://retail-loads/manifests/20101203T000000Z/00001.json' IAM_ROLE \
                 'arn:aws:iam::444455556666:role/retail-prod-private-lake-copy' MANIFEST \
                 json 'auto' timeformat 'auto' truncatecolumns",
                record::WAREHOUSE_COLUMNS
                    .iter()
                    .map(|c| c.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        );
        // The public path's merge, statement for statement.
        let columns: Vec<&str> = record::WAREHOUSE_COLUMNS.iter().map(|c| c.name).collect();
        let mut merge = redshift_statements::merge::merge_statements(
            "public.transactions",
            "public.transactions_staging",
            &columns,
        );
        merge.insert(1, sqls[1].clone());
        assert_eq!(&sqls[..merge.len()], merge.as_slice());
        assert_eq!(
            sqls.last().unwrap(),
            "INSERT INTO public.lake_loads (partition_date, loaded_through, newest_object, \
             objects) VALUES ('2010-12-01', 1000, 200, 2), ('2010-12-02', 1000, 100, 1)"
        );
        assert_eq!(sqls.len(), merge.len() + 1);
    }

    #[test]
    fn the_copy_options_are_the_public_paths() {
        assert_eq!(COPY_OPTIONS, stacks::platform::streaming::COPY_OPTIONS);
    }

    #[test]
    fn the_manifest_lists_every_object_of_the_load_as_mandatory() {
        let manifest: serde_json::Value =
            serde_json::from_str(&manifest(&config(), &load())).unwrap();
        let entries = manifest["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(
            entries[0],
            json!({
                "url": "s3://retail-prod-private-lake-111122223333/raw/date=2010-12-01/shardId-000000000001-1.jsonl",
                "mandatory": true
            })
        );
    }

    #[test]
    fn manifests_go_under_the_runs_cutoff_in_load_order() {
        assert_eq!(manifest_key(0, 1), "manifests/19700101T000000Z/00001.json");
        assert_eq!(
            manifest_key(1_291_161_600, 12),
            "manifests/20101201T000000Z/00012.json"
        );
    }

    #[test]
    fn the_loads_table_is_created_if_missing_then_read_one_row_a_day() {
        let sqls = state_statements(&config());
        assert!(sqls[0].starts_with("CREATE TABLE IF NOT EXISTS public.lake_loads ("));
        assert_eq!(
            sqls[STATE_SUB_STATEMENT - 1],
            "SELECT TO_CHAR(partition_date, 'YYYY-MM-DD'), MAX(loaded_through), \
             MAX(newest_object) FROM public.lake_loads GROUP BY partition_date ORDER BY 1"
        );
    }
}
