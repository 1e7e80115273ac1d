//! Setting a file aside that keeps failing, so the files after it go on.
//!
//! The file moves to `quarantine/{file}` and its reason is written beside
//! it, `quarantine/{file}.reason.txt`. Nothing it wrote is undone: its
//! DynamoDB items are keyed by line, so the fixed file dropped again under
//! the same name overwrites them, and its Redshift rows were never loaded
//! (the load is the last step, one transaction).

use aws_sdk_s3::primitives::ByteStream;

use crate::{FileError, INCOMING, chain, checkpoint, copy_source};

pub const QUARANTINE: &str = "quarantine/";

/// The text of `quarantine/{file}.reason.txt`.
pub fn reason_text(name: &str, reason: &str) -> String {
    format!(
        "{name} was moved here from {INCOMING} because {reason}\n\
         Fix it (or split it) and drop it under {INCOMING}{name} again to import it.\n"
    )
}

/// Moves `incoming/{name}` to `quarantine/{name}` with its reason.
///
/// The reason first and the delete last: a failure half-way leaves the file
/// in `incoming/` and the next run quarantines it again.
pub async fn quarantine(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    name: &str,
    reason: &str,
) -> Result<(), FileError> {
    let source = format!("{INCOMING}{name}");
    let target = format!("{QUARANTINE}{name}");
    let reason_key = format!("{target}.reason.txt");
    let error = |action: &'static str, key: &str| {
        let key = key.to_owned();
        move |e: &dyn std::error::Error| FileError::S3 {
            action,
            bucket: bucket.to_owned(),
            key,
            detail: chain(e),
        }
    };
    s3.put_object()
        .bucket(bucket)
        .key(&reason_key)
        .content_type("text/plain; charset=utf-8")
        .body(ByteStream::from(reason_text(name, reason).into_bytes()))
        .send()
        .await
        .map_err(|e| error("quarantining: writing the reason to", &reason_key)(&e))?;
    s3.copy_object()
        .bucket(bucket)
        .key(&target)
        .copy_source(copy_source(bucket, &source))
        .customize()
        .config_override(crate::timeouts::s3_copy_override())
        .send()
        .await
        .map_err(|e| error("quarantining: copying to", &target)(&e))?;
    s3.delete_object()
        .bucket(bucket)
        .key(&source)
        .send()
        .await
        .map_err(|e| error("quarantining: deleting", &source)(&e))?;
    checkpoint::remove(s3, bucket, name).await;
    Ok(())
}
