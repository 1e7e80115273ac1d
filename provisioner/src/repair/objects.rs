//! The S3 side of a replay: listing what is saved as failed, reading it,
//! and marking it replayed by moving it under `replayed/` of the same
//! bucket (copy, then delete), so the next replay does not see it. An
//! object is moved only after its records are stored: a replay that fails
//! between the two leaves it in place, and replaying it again is harmless.

use crate::deploy::error::AwsError;

/// Where replayed objects go, keeping their key: `failed/x` becomes
/// `replayed/failed/x`.
pub const REPLAYED_PREFIX: &str = "replayed/";

/// Every key under `prefix`, in S3's (UTF-8) order.
pub async fn keys(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, AwsError> {
    let mut keys = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| AwsError::from_sdk(format!("listing s3://{bucket}/{prefix}"), e))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    Ok(keys)
}

/// The body of `s3://{bucket}/{key}`.
pub async fn body(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("reading s3://{bucket}/{key}"), e).to_string())?;
    let body = object
        .body
        .collect()
        .await
        .map_err(|e| format!("reading the body of s3://{bucket}/{key}: {e}"))?;
    Ok(body.into_bytes().to_vec())
}

/// Moves `key` to `replayed/{key}`; returns the new key.
pub async fn mark_replayed(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<String, AwsError> {
    let replayed = format!("{REPLAYED_PREFIX}{key}");
    s3.copy_object()
        .bucket(bucket)
        .key(&replayed)
        .copy_source(copy_source(bucket, key))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("copying s3://{bucket}/{key} to {replayed}"), e))?;
    s3.delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk(
                format!("deleting s3://{bucket}/{key} (copied to {replayed})"),
                e,
            )
        })?;
    Ok(replayed)
}

/// `CopySource` is `bucket/key` URL-encoded; `/` between segments stays
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html>).
fn copy_source(bucket: &str, key: &str) -> String {
    let mut source = format!("{bucket}/");
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            source.push(byte as char);
        } else {
            source.push_str(&format!("%{byte:02X}"));
        }
    }
    source
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_source_encodes_what_is_not_a_plain_key_character() {
        assert_eq!(
            copy_source("lake", "failed/lake-writer/shardId-000000000001-4959.jsonl"),
            "lake/failed/lake-writer/shardId-000000000001-4959.jsonl"
        );
        assert_eq!(copy_source("b", "errors/a b+c:d"), "b/errors/a%20b%2Bc%3Ad");
    }
}
