//! The lake's lines: every object under `raw/date=YYYY-MM-DD/` of the days
//! asked for, and the bulk imports handed to the lake (a stage whose
//! warehouse is in another account): of each file under `raw/imports/`,
//! the rows of its newest complete version (`record::lake_imports`), the
//! file as last dropped. Each line is a warehouse JSON row
//! (`record::WarehouseRow`, written by lake-writer's `objects::plan` and by
//! batch-import) carrying `line_id` and `invoice_date`; lines of days
//! outside the range are left out. The same line id in two objects is a
//! client's resend: it is returned twice, for the comparison to report.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use serde::Deserialize;

use super::{DayRange, Sighting, day_of};
use crate::deploy::error::AwsError;

/// Prefix of the partitions of valid lines (`rejected/` holds the others).
pub const RAW_PREFIX: &str = "raw/date=";

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("reading the body of s3://{bucket}/{key}: {reason}")]
    Body {
        bucket: String,
        key: String,
        reason: String,
    },
    #[error("s3://{bucket}/{key} line {line}: {reason}")]
    Line {
        bucket: String,
        key: String,
        line: usize,
        reason: String,
    },
}

/// The fields of a lake line reconcile needs.
#[derive(Deserialize)]
struct LakeLine {
    line_id: String,
    invoice_date: String,
}

/// Objects read at once: a day of the stream is hundreds of small objects
/// (one per batch and date), so reading them one after the other would be
/// mostly waiting; S3 serves thousands of GETs per second per prefix
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html>).
const CONCURRENT_GETS: usize = 16;

/// Every line of `bucket`'s raw partitions in `range`.
pub async fn read(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    range: DayRange,
) -> Result<Vec<Sighting>, LakeError> {
    let mut keys = keys(s3, bucket, range).await?;
    keys.extend(import_keys(s3, bucket).await?);
    let mut objects = futures_util::stream::iter(keys)
        .map(|key| read_object(s3, bucket, key))
        .buffer_unordered(CONCURRENT_GETS);
    let mut lines = Vec::new();
    while let Some(object) = objects.next().await {
        lines.extend(object?);
    }
    // A bulk file's rows span any days.
    lines.retain(|line| range.contains(line.day));
    Ok(lines)
}

async fn read_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: String,
) -> Result<Vec<Sighting>, LakeError> {
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("reading s3://{bucket}/{key}"), e))?;
    let body = object.body.collect().await.map_err(|e| LakeError::Body {
        bucket: bucket.to_string(),
        key: key.clone(),
        reason: e.to_string(),
    })?;
    parse(bucket, &key, &body.into_bytes())
}

/// The keys of the raw objects whose partition is in `range`. Keys list in
/// UTF-8 order, which is date order within `raw/date=`: the listing starts
/// at the first day and stops past the last.
pub async fn keys(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    range: DayRange,
) -> Result<Vec<String>, AwsError> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let mut request = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(RAW_PREFIX)
            .set_continuation_token(token.take());
        if let Some(from) = range.from {
            // Sorts before every key of that day's partition.
            request = request.start_after(format!("{RAW_PREFIX}{from}"));
        }
        let page = request
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("listing s3://{bucket}/{RAW_PREFIX}"), e))?;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            match partition_day(key) {
                Some(day) if range.to.is_some_and(|to| day > to) => return Ok(keys),
                Some(day) if range.contains(day) => keys.push(key.to_string()),
                _ => {}
            }
        }
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            return Ok(keys);
        }
    }
}

/// The rows of each bulk import's newest complete version.
pub async fn import_keys(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Vec<String>, AwsError> {
    let prefix = record::lake_imports::IMPORTS_PREFIX;
    let mut listed = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("listing s3://{bucket}/{prefix}"), e))?;
        listed.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key())
                .map(str::to_owned),
        );
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            return Ok(newest_complete_rows(listed.iter().map(String::as_str)));
        }
    }
}

/// Of `keys` (under `raw/imports/`), the `rows.jsonl` of each file's newest
/// version with its `done.json`: a version still being written, or
/// abandoned, is not the file's. A newest version without rows (a
/// correction that left no valid line) gives none.
pub fn newest_complete_rows<'a>(keys: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    use record::lake_imports::{Part, Versions, key};
    let mut versions = Versions::default();
    for listed in keys {
        versions.push(listed);
    }
    // Oldest first: the last complete version of each file wins.
    let mut newest: BTreeMap<String, (String, bool)> = BTreeMap::new();
    for ((file, stamp), parts) in versions {
        if parts.done {
            newest.insert(file, (stamp, parts.rows));
        }
    }
    newest
        .into_iter()
        .filter(|(_, (_, rows))| *rows)
        .map(|(file, (stamp, _))| key(&file, &stamp, Part::Rows))
        .collect()
}

/// The day of `raw/date=YYYY-MM-DD/...`.
pub fn partition_day(key: &str) -> Option<chrono::NaiveDate> {
    day_of(key.strip_prefix(RAW_PREFIX)?)
}

/// The lines of one object; blank lines are skipped.
fn parse(bucket: &str, key: &str, body: &[u8]) -> Result<Vec<Sighting>, LakeError> {
    let error = |line: usize, reason: String| LakeError::Line {
        bucket: bucket.to_string(),
        key: key.to_string(),
        line,
        reason,
    };
    let mut lines = Vec::new();
    for (index, text) in body.split(|b| *b == b'\n').enumerate() {
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line: LakeLine =
            serde_json::from_slice(text).map_err(|e| error(index + 1, e.to_string()))?;
        let day = day_of(&line.invoice_date).ok_or_else(|| {
            error(
                index + 1,
                format!("invoice_date {:?} is not YYYY-MM-DD ...", line.invoice_date),
            )
        })?;
        lines.push(Sighting::new(day, line.line_id));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lake_line_written_by_the_lake_writer_gives_its_day_and_line_id() {
        let body = concat!(
            r#"{"invoice_no":"536365","stock_code":"85123A","description":"WHITE HANGING HEART","quantity":6,"invoice_date":"2010-12-01 08:26:00","unit_price":"2.55","customer_id":"17850","country":"United Kingdom","line_total":"15.30","is_cancellation":false,"line_id":"c-0123456789abcdef"}"#,
            "\n\n"
        );
        let lines = parse("lake", "raw/date=2010-12-01/a.jsonl", body.as_bytes()).unwrap();
        assert_eq!(
            lines,
            vec![Sighting::new(
                chrono::NaiveDate::from_ymd_opt(2010, 12, 1).unwrap(),
                "c-0123456789abcdef"
            )]
        );
    }

    #[test]
    fn a_line_that_is_not_a_lake_row_is_an_error_naming_the_object_and_line() {
        let body = b"{\"line_id\":\"a\",\"invoice_date\":\"2010-12-01 08:26:00\"}\nnot json\n";
        let error = parse("lake", "raw/date=2010-12-01/a.jsonl", body).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("s3://lake/raw/date=2010-12-01/a.jsonl line 2: "),
            "{error}"
        );
    }

    #[test]
    fn a_bulk_file_counts_as_its_newest_complete_version() {
        use record::lake_imports::{Part, key};
        let (old, new, writing) = (
            "20101202T020000.000Z",
            "20101203T020000.000Z",
            "20101204T020000.000Z",
        );
        let keys = [
            key("a.csv", old, Part::Rows),
            key("a.csv", old, Part::Done),
            key("a.csv", new, Part::Rows),
            key("a.csv", new, Part::Replaced),
            key("a.csv", new, Part::Done),
            key("a.csv", writing, Part::Rows),
            // b.csv's correction left no valid line: nothing of it counts.
            key("b.csv", old, Part::Rows),
            key("b.csv", old, Part::Done),
            key("b.csv", new, Part::Replaced),
            key("b.csv", new, Part::Done),
            "raw/imports/notes.txt".to_owned(),
        ];
        assert_eq!(
            newest_complete_rows(keys.iter().map(String::as_str)),
            [key("a.csv", new, Part::Rows)]
        );
    }

    #[test]
    fn the_partition_day_comes_from_the_key() {
        assert_eq!(
            partition_day("raw/date=2011-01-31/shardId-0-495.jsonl"),
            chrono::NaiveDate::from_ymd_opt(2011, 1, 31)
        );
        assert_eq!(partition_day("raw/other"), None);
    }
}
