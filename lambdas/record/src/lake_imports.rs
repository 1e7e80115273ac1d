//! Where batch-import hands a file's warehouse lines to the lake, for a
//! warehouse in another account that loads them itself (warehouse-loader).
//!
//! Every import of a file is a **version** of its own, never overwritten:
//! `raw/imports/{file}/{stamp}/` holds
//! - `rows.jsonl`: the accepted rows as [`WarehouseRow`](crate::WarehouseRow)
//!   lines (absent when the file has none);
//! - `replaced.jsonl`: the rows of the version it replaces (the file's
//!   earlier import), the same lines that version's `rows.jsonl` had
//!   (absent on a first import): the loader deletes them by `line_id`,
//!   bounded by their dates, so lines the new version dropped, or moved in
//!   time, leave the warehouse;
//! - `done.json`, written last: the version is complete.
//!
//! `{stamp}` is the import's UTC time, `YYYYMMDDTHHMMSS.mmmZ`, so a file's
//! versions sort in the order they were imported (one import runs at a
//! time) and the loader applies them in that order: the warehouse ends
//! holding the last, as it would have had each been loaded at once.
//! Everything sits under `raw/`, the one prefix the warehouse account may
//! read.

use std::collections::BTreeMap;

/// The prefix of every import version.
pub const IMPORTS_PREFIX: &str = "raw/imports/";

/// The objects of one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    Rows,
    Replaced,
    Done,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Rows, Part::Replaced, Part::Done];

    pub fn file_name(self) -> &'static str {
        match self {
            Part::Rows => "rows.jsonl",
            Part::Replaced => "replaced.jsonl",
            Part::Done => "done.json",
        }
    }
}

/// The key of `part` of the version `stamp` of the file `file` (its name
/// under `incoming/`, which may hold `/`).
pub fn key(file: &str, stamp: &str, part: Part) -> String {
    format!("{IMPORTS_PREFIX}{file}/{stamp}/{}", part.file_name())
}

/// The stamp of an import at `unix_millis` (milliseconds since the epoch).
pub fn stamp(unix_millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(unix_millis)
        .unwrap_or_default()
        .format("%Y%m%dT%H%M%S%.3fZ")
        .to_string()
}

/// One object of a version, as its key tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionPart<'a> {
    pub file: &'a str,
    pub stamp: &'a str,
    pub part: Part,
}

/// What `key` is, `None` for a key that is not a version's part.
pub fn parse(key: &str) -> Option<VersionPart<'_>> {
    let rest = key.strip_prefix(IMPORTS_PREFIX)?;
    let (version, part_name) = rest.rsplit_once('/')?;
    let (file, stamp) = version.rsplit_once('/')?;
    let part = Part::ALL.into_iter().find(|p| p.file_name() == part_name)?;
    let is_stamp = stamp.len() == "20101201T082600.000Z".len()
        && chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S%.3fZ").is_ok();
    (!file.is_empty() && is_stamp).then_some(VersionPart { file, stamp, part })
}

/// The parts of one version a listing showed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Parts {
    pub rows: bool,
    pub replaced: bool,
    /// `done.json`: the version is complete.
    pub done: bool,
}

/// A listing of `raw/imports/`, grouped by version.
#[derive(Debug, Default)]
pub struct Versions {
    /// (file, stamp) → the parts listed: by file, then oldest first.
    versions: BTreeMap<(String, String), Parts>,
}

impl Versions {
    /// Adds `key`; `false` (and nothing added) when it is not a version's
    /// part.
    pub fn push(&mut self, key: &str) -> bool {
        let Some(part) = parse(key) else {
            return false;
        };
        let parts = self
            .versions
            .entry((part.file.to_owned(), part.stamp.to_owned()))
            .or_default();
        match part.part {
            Part::Rows => parts.rows = true,
            Part::Replaced => parts.replaced = true,
            Part::Done => parts.done = true,
        }
        true
    }
}

impl IntoIterator for Versions {
    /// `((file, stamp), parts)`, by file, then oldest first.
    type Item = ((String, String), Parts);
    type IntoIter = std::collections::btree_map::IntoIter<(String, String), Parts>;

    fn into_iter(self) -> Self::IntoIter {
        self.versions.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_versions_parts_sit_under_its_file_and_stamp() {
        let stamp = stamp(1_291_192_000_123);
        assert_eq!(stamp, "20101201T082640.123Z");
        assert_eq!(
            key("Dec 2010/2010-12-01.csv", &stamp, Part::Rows),
            "raw/imports/Dec 2010/2010-12-01.csv/20101201T082640.123Z/rows.jsonl"
        );
    }

    #[test]
    fn keys_parse_back_to_file_stamp_and_part() {
        for part in Part::ALL {
            let key = key("Dec 2010/a.csv", "20101201T082640.123Z", part);
            assert_eq!(
                parse(&key),
                Some(VersionPart {
                    file: "Dec 2010/a.csv",
                    stamp: "20101201T082640.123Z",
                    part
                })
            );
        }
    }

    #[test]
    fn other_keys_are_not_versions() {
        for key in [
            "raw/date=2010-12-01/shard.jsonl",
            "raw/imports/a.csv/rows.jsonl",
            "raw/imports/a.csv/2010-12-01/rows.jsonl",
            "raw/imports/a.csv/20101201T082640.123Z/other.jsonl",
            "raw/imports//20101201T082640.123Z/rows.jsonl",
        ] {
            assert_eq!(parse(key), None, "{key}");
        }
    }

    #[test]
    fn a_listing_groups_each_versions_parts_by_file_then_oldest_first() {
        let mut versions = Versions::default();
        for (file, stamp, part) in [
            ("b.csv", "20101201T082640.123Z", Part::Done),
            ("a.csv", "20101202T000000.000Z", Part::Rows),
            ("a.csv", "20101201T000000.000Z", Part::Rows),
            ("a.csv", "20101201T000000.000Z", Part::Done),
        ] {
            assert!(versions.push(&key(file, stamp, part)));
        }
        assert!(!versions.push("raw/imports/notes.txt"));
        let listed: Vec<_> = versions.into_iter().collect();
        let parts = |rows, done| Parts {
            rows,
            replaced: false,
            done,
        };
        assert_eq!(
            listed,
            [
                (
                    ("a.csv".into(), "20101201T000000.000Z".into()),
                    parts(true, true)
                ),
                (
                    ("a.csv".into(), "20101202T000000.000Z".into()),
                    parts(true, false)
                ),
                (
                    ("b.csv".into(), "20101201T082640.123Z".into()),
                    parts(false, true)
                ),
            ]
        );
    }

    #[test]
    fn stamps_sort_as_time() {
        assert!(stamp(999) < stamp(1_000));
        assert!(stamp(1_291_192_000_999) < stamp(1_291_192_001_000));
    }
}
