//! `provisioner replay`: everything saved as failed, back into its store.
//!
//! Three sources, each re-driven by the path that failed, so the lines keep
//! their keys and ids and a replay is idempotent:
//! - the stream writers' `failed/{writer}/` objects in the lake bucket,
//!   through the writer ([`super::failed`]);
//! - the messages of the writers' on-failure queues (batches Lambda gave
//!   up on, named by their stream position), read back from the stream
//!   and through the writer ([`super::on_failure`]);
//! - the COPY manifests Firehose leaves under `errors/` of its staging
//!   bucket after an hour of failed COPYs, loaded into staging and merged
//!   by `line_id` in one transaction ([`super::warehouse`]).
//!
//! What is stored is moved under `replayed/` ([`super::objects`]), or its
//! message deleted; what still fails stays where it is, with the reason,
//! for the next replay.

use serde::{Deserialize, Serialize};

use super::failed::{self, Answer};
use super::objects;
use super::warehouse::{self, Source};
use crate::deploy::error::AwsError;
use crate::reconcile::Store;

/// Where the writers save what they give up on (`record::failed`).
pub const FAILED_PREFIX: &str = "failed/";
/// Where Firehose leaves what it could not COPY (the delivery stream's
/// `ErrorOutputPrefix`, `stacks::platform::streaming`).
pub const ERRORS_PREFIX: &str = "errors/";

/// The deployed writer functions, by the name they save failures under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writers {
    pub lake_writer: String,
    pub dynamodb_writer: String,
}

impl Writers {
    /// The function and store of the writer named in `failed/{writer}/...`.
    fn of(&self, writer: &str) -> Option<(&str, Store)> {
        match writer {
            "lake-writer" => Some((&self.lake_writer, Store::Lake)),
            "dynamodb-writer" => Some((&self.dynamodb_writer, Store::Dynamodb)),
            _ => None,
        }
    }
}

/// One object replayed, or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Replayed {
    /// `failed/lake-writer`, `failed/dynamodb-writer` or `errors/`.
    pub source: String,
    pub store: Store,
    pub key: String,
    /// Records in a failed object; files a Firehose manifest lists.
    pub items: usize,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Outcome {
    /// Stored, and moved to `moved_to`.
    #[serde(rename_all = "camelCase")]
    Replayed { moved_to: String },
    /// Stored, and its on-failure message deleted from `queue`.
    #[serde(rename = "replayed", rename_all = "camelCase")]
    Deleted { queue: String },
    /// Tried and failed; the object or message stays for the next replay.
    StillFailing { reason: String },
    /// Not tried: this command cannot replay it (the reason says what can).
    NotReplayable { reason: String },
    /// The records are gone from the stream (its retention passed); the
    /// message stays as the record of what was lost.
    Lost { reason: String },
}

impl Outcome {
    pub fn is_replayed(&self) -> bool {
        matches!(self, Outcome::Replayed { .. } | Outcome::Deleted { .. })
    }

    /// What became of something not replayed (`still failing`, `not
    /// replayable`, `lost`), and why; `None` when it was replayed.
    pub fn not_replayed(&self) -> Option<(&'static str, &str)> {
        match self {
            Outcome::Replayed { .. } | Outcome::Deleted { .. } => None,
            Outcome::StillFailing { reason } => Some(("still failing", reason)),
            Outcome::NotReplayable { reason } => Some(("not replayable", reason)),
            Outcome::Lost { reason } => Some(("lost", reason)),
        }
    }
}

/// Every object under `failed/` of the lake bucket, re-driven through its
/// writer. Err only when the objects cannot be listed (nothing was done).
pub async fn replay_failed_records(
    s3: &aws_sdk_s3::Client,
    lambda: &aws_sdk_lambda::Client,
    lake_bucket: &str,
    writers: &Writers,
) -> Result<Vec<Replayed>, AwsError> {
    let mut replayed = Vec::new();
    for key in objects::keys(s3, lake_bucket, FAILED_PREFIX).await? {
        let writer = key[FAILED_PREFIX.len()..]
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let Some((function, store)) = writers.of(&writer) else {
            replayed.push(Replayed {
                source: format!("{FAILED_PREFIX}{writer}"),
                store: Store::Lake,
                key,
                items: 0,
                outcome: Outcome::NotReplayable {
                    reason: format!(
                        "no writer {writer:?} in this stage (lake-writer and dynamodb-writer save \
                         under failed/)"
                    ),
                },
            });
            continue;
        };
        let (items, outcome) = redrive(s3, lambda, lake_bucket, &key, function).await;
        replayed.push(Replayed {
            source: format!("{FAILED_PREFIX}{writer}"),
            store,
            key,
            items,
            outcome,
        });
    }
    Ok(replayed)
}

/// One failed object through `function`: its record count and outcome.
async fn redrive(
    s3: &aws_sdk_s3::Client,
    lambda: &aws_sdk_lambda::Client,
    bucket: &str,
    key: &str,
    function: &str,
) -> (usize, Outcome) {
    let still_failing = |reason: String| Outcome::StillFailing { reason };
    let body = match objects::body(s3, bucket, key).await {
        Ok(body) => body,
        Err(reason) => return (0, still_failing(reason)),
    };
    let records = match record::failed::saved_records(&body) {
        Ok(records) => records,
        Err(e) => {
            let reason = format!("s3://{bucket}/{key} {e}: not a saved record; fix or remove it");
            return (0, Outcome::NotReplayable { reason });
        }
    };
    let event = match failed::event_of(&records) {
        Ok(event) => event,
        Err(e) => {
            let reason = format!("s3://{bucket}/{key}: {e}");
            return (records.len(), Outcome::NotReplayable { reason });
        }
    };
    let answer = failed::invoke(lambda, function, &event).await;
    let outcome = match writer_failure(function, records.len(), answer) {
        Some(failure) => failure,
        None => moved(s3, bucket, key).await,
    };
    (records.len(), outcome)
}

/// Why a writer did not store the `records` it was invoked with; `None`
/// when it stored them all.
pub fn writer_failure(
    function: &str,
    records: usize,
    answer: Result<Answer, AwsError>,
) -> Option<Outcome> {
    let reason = match answer {
        Err(e) => e.to_string(),
        Ok(Answer::FunctionError(error)) => format!("{function} failed: {error}; see its logs"),
        Ok(Answer::SomeFailed(sequence_numbers)) => format!(
            "{function} failed {} of {records} records again (first: {}); it saved them under \
             failed/ with its reason",
            sequence_numbers.len(),
            sequence_numbers.first().map_or("?", String::as_str)
        ),
        Ok(Answer::Stored) => return None,
    };
    Some(Outcome::StillFailing { reason })
}

/// Marks a stored object replayed.
async fn moved(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Outcome {
    match objects::mark_replayed(s3, bucket, key).await {
        Ok(moved_to) => Outcome::Replayed { moved_to },
        Err(e) => Outcome::StillFailing {
            reason: format!(
                "stored, but not marked replayed ({e}); the next replay stores it again, \
                 harmlessly"
            ),
        },
    }
}

/// A Redshift COPY manifest (what Firehose leaves under `errors/` for a
/// batch it could not COPY).
#[derive(Deserialize)]
struct Manifest {
    entries: Vec<ManifestEntry>,
}

/// Each entry names a file (COPY reads it; a JSON object without `url`s
/// is not a manifest).
#[derive(Deserialize)]
struct ManifestEntry {
    #[serde(rename = "url")]
    _url: String,
}

/// The warehouse a manifest loads into, or why there is none.
pub type WarehouseTarget<'a> = Result<&'a batch_import::config::DataApi, String>;

/// Every COPY manifest under `errors/` of the staging bucket, loaded into
/// staging and merged. Other objects there (records the transform
/// failed) are reported, not replayed. Err only when the objects cannot be
/// listed.
pub async fn replay_firehose_errors(
    s3: &aws_sdk_s3::Client,
    data_api: &aws_sdk_redshiftdata::Client,
    staging_bucket: &str,
    warehouse: WarehouseTarget<'_>,
    wait: &redshift_statements::Wait,
) -> Result<Vec<Replayed>, AwsError> {
    let mut replayed = Vec::new();
    for key in objects::keys(s3, staging_bucket, ERRORS_PREFIX).await? {
        let (items, outcome) = match objects::body(s3, staging_bucket, &key).await {
            Err(reason) => (0, Outcome::StillFailing { reason }),
            Ok(body) => match serde_json::from_slice::<Manifest>(&body) {
                Err(_) => (
                    0,
                    Outcome::NotReplayable {
                        reason: "not a COPY manifest (records the transform function failed); \
                                 send them again from the delivery stream's source-backup/"
                            .to_owned(),
                    },
                ),
                Ok(manifest) => {
                    let outcome = match &warehouse {
                        Err(why) => Outcome::NotReplayable {
                            reason: why.clone(),
                        },
                        Ok(config) => {
                            load_manifest(s3, data_api, staging_bucket, &key, config, wait).await
                        }
                    };
                    (manifest.entries.len(), outcome)
                }
            },
        };
        replayed.push(Replayed {
            source: ERRORS_PREFIX.to_owned(),
            store: Store::Redshift,
            key,
            items,
            outcome,
        });
    }
    Ok(replayed)
}

async fn load_manifest(
    s3: &aws_sdk_s3::Client,
    data_api: &aws_sdk_redshiftdata::Client,
    bucket: &str,
    key: &str,
    config: &batch_import::config::DataApi,
    wait: &redshift_statements::Wait,
) -> Outcome {
    let source = Source::Manifest {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
    };
    match warehouse::load(data_api, config, "provisioner replay", &source, wait).await {
        Ok(()) => moved(s3, bucket, key).await,
        Err(e) => Outcome::StillFailing {
            reason: format!("loading s3://{bucket}/{key}: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_writer_is_replayed_through_its_own_function_into_its_store() {
        let writers = Writers {
            lake_writer: "retail-dev-streaming-LakeWriter".into(),
            dynamodb_writer: "retail-dev-streaming-DynamodbWriter".into(),
        };
        assert_eq!(
            writers.of("lake-writer"),
            Some(("retail-dev-streaming-LakeWriter", Store::Lake))
        );
        assert_eq!(
            writers.of("dynamodb-writer"),
            Some(("retail-dev-streaming-DynamodbWriter", Store::Dynamodb))
        );
        assert_eq!(writers.of("ingest"), None);
    }

    #[test]
    fn a_replayed_message_reads_as_replayed_with_its_queue_and_a_lost_batch_as_lost() {
        let message = |outcome| Replayed {
            source: "on-failure/lake-writer".into(),
            store: Store::Lake,
            key: "shardId-000000000001/12-14".into(),
            items: 3,
            outcome,
        };
        let deleted = message(Outcome::Deleted {
            queue: "https://sqs.eu-west-1.amazonaws.com/123456789012/q".into(),
        });
        assert!(deleted.outcome.is_replayed());
        let json = serde_json::to_value(&deleted).unwrap();
        assert_eq!(json["outcome"], "replayed");
        assert_eq!(
            json["queue"],
            "https://sqs.eu-west-1.amazonaws.com/123456789012/q"
        );
        let lost = message(Outcome::Lost {
            reason: "past retention".into(),
        });
        assert!(!lost.outcome.is_replayed());
        assert_eq!(
            lost.outcome.not_replayed(),
            Some(("lost", "past retention"))
        );
        let json = serde_json::to_value(&lost).unwrap();
        assert_eq!(json["outcome"], "lost");
        assert_eq!(json["reason"], "past retention");
    }

    #[test]
    fn an_outcome_reads_as_json_with_its_reason() {
        let replayed = Replayed {
            source: "failed/dynamodb-writer".into(),
            store: Store::Dynamodb,
            key: "failed/dynamodb-writer/shardId-0-1.jsonl".into(),
            items: 3,
            outcome: Outcome::StillFailing {
                reason: "throttled".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&replayed).unwrap(),
            serde_json::json!({
                "source": "failed/dynamodb-writer",
                "store": "dynamodb",
                "key": "failed/dynamodb-writer/shardId-0-1.jsonl",
                "items": 3,
                "outcome": "stillFailing",
                "reason": "throttled",
            })
        );
    }
}
