//! Progress of a file across runs, kept at `checkpoints/{file}.json`.
//!
//! A file too large for one invocation is imported over several: its
//! DynamoDB items are written chunk by chunk, and after each chunk the
//! line reached is saved, so the next scheduled run resumes after it
//! instead of starting over. The checkpoint also counts the runs in a row
//! that failed on the file, the ones that died without a word (out of
//! memory, killed at the timeout) included: each attempt is counted when
//! it starts and forgiven when it makes progress. After
//! [`Options::max_failed_runs`](crate::Options) the file is quarantined.
//!
//! A checkpoint belongs to one version of the file (its ETag): a file
//! dropped again starts over.

use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};

use crate::{FileError, chain};

pub const CHECKPOINTS: &str = "checkpoints/";

/// What the next run needs to go on with a file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The version of `incoming/{file}` this progress is about.
    pub etag: String,
    /// Every accepted row up to this line is in DynamoDB (0: none yet).
    pub dynamodb_through_line: u64,
    /// Every accepted row of the file is in DynamoDB.
    pub dynamodb_done: bool,
    /// Runs in a row that ended on this file without progress.
    pub failed_runs: u32,
    /// Why the last of them failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// What a run that ends without a word leaves as the reason.
pub const DIED: &str = "the run ended without recording an outcome (out of memory, or killed at \
                        the function's timeout)";

impl Checkpoint {
    /// A fresh start on version `etag`.
    pub fn new(etag: &str) -> Checkpoint {
        Checkpoint {
            etag: etag.to_owned(),
            ..Checkpoint::default()
        }
    }

    /// This run starts: counted as failed until it shows progress or ends.
    pub fn start_attempt(&mut self) {
        self.failed_runs += 1;
        self.last_error = Some(DIED.to_owned());
    }

    /// Rows up to `line` are in DynamoDB: the run is not stuck.
    pub fn progressed(&mut self, line: u64) {
        self.dynamodb_through_line = line;
        self.failed_runs = 0;
        self.last_error = None;
    }
}

/// `checkpoints/{name}.json`.
pub fn key(name: &str) -> String {
    format!("{CHECKPOINTS}{name}.json")
}

/// The checkpoint of `name`, `None` when there is none.
///
/// Looked up by listing its key first: without ListBucket on the whole
/// bucket, a GetObject of a missing key answers 403, not 404.
pub async fn load(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    name: &str,
) -> Result<Option<Checkpoint>, FileError> {
    let key = key(name);
    let error = |action: &'static str, detail: String| FileError::S3 {
        action,
        bucket: bucket.to_owned(),
        key: key.clone(),
        detail,
    };
    if !crate::exists(s3, bucket, &key).await? {
        return Ok(None);
    }
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| error("reading the checkpoint", chain(&e)))?;
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| error("reading the checkpoint", chain(&e)))?
        .into_bytes();
    match serde_json::from_slice(&bytes) {
        Ok(checkpoint) => Ok(Some(checkpoint)),
        // Written by another version of the function: start the file over
        // (the writes are idempotent) rather than stop on it.
        Err(e) => {
            tracing::warn!(key, error = %e, "unreadable checkpoint; starting over");
            Ok(None)
        }
    }
}

pub async fn save(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    name: &str,
    checkpoint: &Checkpoint,
) -> Result<(), FileError> {
    let key = key(name);
    let body = serde_json::to_vec(checkpoint).expect("a checkpoint serialises");
    s3.put_object()
        .bucket(bucket)
        .key(&key)
        .content_type("application/json")
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| FileError::S3 {
            action: "saving the checkpoint",
            bucket: bucket.to_owned(),
            key,
            detail: chain(&e),
        })?;
    Ok(())
}

/// Removes the checkpoint of a file that is done (imported or
/// quarantined); a failure is only logged (a stale checkpoint names an
/// ETag no new file has).
pub async fn remove(s3: &aws_sdk_s3::Client, bucket: &str, name: &str) {
    let key = key(name);
    if let Err(error) = s3.delete_object().bucket(bucket).key(&key).send().await {
        tracing::warn!(
            key,
            error = chain(&error),
            "could not delete the checkpoint"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_counts_as_failed_until_it_progresses() {
        let mut checkpoint = Checkpoint::new("\"abc\"");
        checkpoint.start_attempt();
        checkpoint.start_attempt();
        assert_eq!(checkpoint.failed_runs, 2);
        assert_eq!(checkpoint.last_error.as_deref(), Some(DIED));
        checkpoint.progressed(5_001);
        assert_eq!(
            (checkpoint.failed_runs, checkpoint.dynamodb_through_line),
            (0, 5_001)
        );
    }

    #[test]
    fn a_checkpoint_round_trips_through_json() {
        let checkpoint = Checkpoint {
            etag: "\"abc\"".to_owned(),
            dynamodb_through_line: 10_001,
            dynamodb_done: false,
            failed_runs: 1,
            last_error: Some("throttled".to_owned()),
        };
        let json = serde_json::to_string(&checkpoint).unwrap();
        assert_eq!(
            serde_json::from_str::<Checkpoint>(&json).unwrap(),
            checkpoint
        );
    }
}
