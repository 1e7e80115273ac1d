//! `PutRecords` with bounded retries of the records Kinesis rejects.

use std::time::Duration;

use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

/// Limits of one `PutRecords` call
/// (<https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html>):
/// 500 records, each up to 1 MiB, 5 MiB in all, partition keys included.
pub const MAX_RECORDS_PER_CALL: usize = 500;
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
pub const MAX_CALL_BYTES: usize = 5 * 1024 * 1024;

/// One record to put, and the index of its item in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub index: usize,
    pub partition_key: String,
    pub data: Vec<u8>,
}

impl Entry {
    /// What the record counts against the limits: data and partition key.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// How long to keep retrying records Kinesis rejects (per-entry
/// `ProvisionedThroughputExceededException` or `InternalFailure`). Bounded
/// so the answer comes well inside API Gateway's 29 s integration timeout;
/// what is still rejected is reported to the client as failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Calls per group of records, the first included.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled after each.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Five calls waiting 100, 200, 400 and 800 ms between them: 1.5 s at
    /// most, the exponential backoff AWS recommends for throttled records
    /// (a shard takes 1 MiB or 1,000 records per second, so a second is
    /// enough for a throttled shard to take them).
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        }
    }
}

/// The Lambda timeout the Api stack gives this function
/// (`stacks/src/platform/api.rs`), under API Gateway's 29 s.
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(20);

/// Longest a `PutRecords` call may take, the SDK's own retries included.
/// Without it a stalled call ran into the function's timeout: Lambda killed
/// the invocation, API Gateway answered 502, and the client could not know
/// what had been stored. With it a stalled call fails, its records are
/// answered `failed` (503), and the client resends them; with idempotency
/// keys the resend stores nothing twice.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest one HTTP attempt may take: a 5 MiB `PutRecords` takes a fraction
/// of a second inside the region, so a stalled attempt is given up early
/// enough for the SDK to retry once within [`CALL_TIMEOUT`].
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1500);

/// The Kinesis client's timeouts ([`CALL_TIMEOUT`], [`ATTEMPT_TIMEOUT`]).
pub fn timeout_config() -> aws_sdk_kinesis::config::timeout::TimeoutConfig {
    aws_sdk_kinesis::config::timeout::TimeoutConfig::builder()
        .operation_timeout(CALL_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .build()
}

impl RetryPolicy {
    /// The longest [`put_all`] can take for one request (one call's
    /// worth): every call running into `call_timeout`, with the waits
    /// between them.
    pub fn longest_run(&self, call_timeout: Duration) -> Duration {
        let waits: Duration = (1..self.max_attempts).map(|a| self.delay(a)).sum();
        call_timeout * self.max_attempts + waits
    }

    /// The wait before call number `attempt` (1 = first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// A record Kinesis stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub index: usize,
    pub shard_id: String,
    pub sequence_number: String,
}

/// A record Kinesis did not store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotStored {
    pub index: usize,
    /// Kinesis's error code (`ProvisionedThroughputExceededException`), or
    /// [`UNREACHABLE`] when the call got no answer.
    pub code: String,
    pub message: String,
}

/// The code of a record whose call got no answer from Kinesis (timeout,
/// connection failure).
pub const UNREACHABLE: &str = "KinesisUnreachable";

/// Outcome of putting a request's records.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    pub stored: Vec<Stored>,
    pub not_stored: Vec<NotStored>,
    pub calls: usize,
    /// A call failed as a whole (after the SDK's own retries): Kinesis is
    /// unavailable or refuses the stream, not just throttling some records.
    pub unavailable: bool,
}

/// Groups entries, in order, into calls within [`MAX_RECORDS_PER_CALL`]
/// and [`MAX_CALL_BYTES`]. Entries must each be within
/// [`MAX_RECORD_BYTES`].
pub fn group_into_calls(entries: Vec<Entry>) -> Vec<Vec<Entry>> {
    let mut calls: Vec<Vec<Entry>> = Vec::new();
    let mut bytes = 0;
    for entry in entries {
        let fits = calls.last().is_some_and(|call| {
            call.len() < MAX_RECORDS_PER_CALL && bytes + entry.size() <= MAX_CALL_BYTES
        });
        if !fits {
            calls.push(Vec::new());
            bytes = 0;
        }
        bytes += entry.size();
        calls
            .last_mut()
            .expect("a call was just pushed")
            .push(entry);
    }
    calls
}

/// Puts the entries, retrying per `policy` the records Kinesis rejects.
///
/// Every entry ends up stored or not stored, none lost. When a call fails
/// as a whole, later calls are not tried: their records are reported not
/// stored with the same code, rather than spending the time left on a
/// stream that is down.
pub async fn put_all(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    entries: Vec<Entry>,
    policy: &RetryPolicy,
) -> PutOutcome {
    let mut outcome = PutOutcome::default();
    for group in group_into_calls(entries) {
        if outcome.unavailable {
            let (code, message) = outcome
                .not_stored
                .last()
                .map(|n| (n.code.clone(), n.message.clone()))
                .unwrap_or_else(|| (UNREACHABLE.to_owned(), String::new()));
            outcome
                .not_stored
                .extend(group.into_iter().map(|entry| NotStored {
                    index: entry.index,
                    code: code.clone(),
                    message: message.clone(),
                }));
            continue;
        }
        put_group(client, stream, group, policy, &mut outcome).await;
    }
    outcome.stored.sort_by_key(|s| s.index);
    outcome.not_stored.sort_by_key(|n| n.index);
    outcome
}

async fn put_group(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    group: Vec<Entry>,
    policy: &RetryPolicy,
    outcome: &mut PutOutcome,
) {
    // Each pending entry with the last reason Kinesis gave for it.
    let mut pending: Vec<(Entry, Option<(String, String)>)> =
        group.into_iter().map(|entry| (entry, None)).collect();
    for attempt in 0..policy.max_attempts.max(1) {
        if attempt > 0 {
            tokio::time::sleep(policy.delay(attempt)).await;
        }
        outcome.calls += 1;
        let records = pending
            .iter()
            .map(|(entry, _)| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(entry.data.clone()))
                    .partition_key(entry.partition_key.clone())
                    .build()
                    .expect("data and partition key are set")
            })
            .collect();
        let output = match client
            .put_records()
            .stream_name(stream)
            .set_records(Some(records))
            .send()
            .await
        {
            Ok(output) => output,
            Err(error) => {
                // The SDK has already retried throttling and 5xx answers with
                // its own backoff: what reaches here is final for this request.
                tracing::error!(
                    stream,
                    records = pending.len(),
                    error = %DisplayErrorContext(&error),
                    "PutRecords failed; reporting the records as not stored"
                );
                let code = error.code().unwrap_or(UNREACHABLE).to_owned();
                let message = error.message().unwrap_or_default().to_owned();
                outcome.unavailable = true;
                outcome
                    .not_stored
                    .extend(pending.into_iter().map(|(entry, _)| NotStored {
                        index: entry.index,
                        code: code.clone(),
                        message: message.clone(),
                    }));
                return;
            }
        };
        let results = output.records();
        let mut still_pending = Vec::new();
        for (position, (entry, last)) in pending.into_iter().enumerate() {
            // Results come in request order; a missing one (never seen) is
            // retried rather than assumed stored.
            let result = results.get(position);
            match result.map(|r| (r.error_code(), r.sequence_number())) {
                Some((None, Some(sequence_number))) => outcome.stored.push(Stored {
                    index: entry.index,
                    shard_id: result
                        .and_then(|r| r.shard_id())
                        .unwrap_or_default()
                        .to_owned(),
                    sequence_number: sequence_number.to_owned(),
                }),
                Some((Some(code), _)) => {
                    let message = result
                        .and_then(|r| r.error_message())
                        .unwrap_or_default()
                        .to_owned();
                    still_pending.push((entry, Some((code.to_owned(), message))));
                }
                _ => still_pending.push((entry, last)),
            }
        }
        pending = still_pending;
        if pending.is_empty() {
            return;
        }
        tracing::warn!(
            stream,
            attempt,
            rejected = pending.len(),
            failed_record_count = output.failed_record_count(),
            "Kinesis rejected records; retrying them with backoff"
        );
    }
    tracing::error!(
        stream,
        attempts = policy.max_attempts,
        records = pending.len(),
        "records still rejected after the bounded retries; reporting them as not stored"
    );
    outcome
        .not_stored
        .extend(pending.into_iter().map(|(entry, last)| {
            let (code, message) = last.unwrap_or_else(|| {
                (
                    "MissingResult".to_owned(),
                    "Kinesis returned no result for the record".to_owned(),
                )
            });
            NotStored {
                index: entry.index,
                code,
                message,
            }
        }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: usize, bytes: usize) -> Entry {
        Entry {
            index,
            partition_key: "536365".to_owned(),
            data: vec![b'x'; bytes - 6],
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let delays: Vec<u128> = (1..=6).map(|a| policy.delay(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.delay(64), policy.max_delay);
    }

    #[test]
    fn a_stalled_stream_is_answered_before_the_function_times_out() {
        let config = timeout_config();
        assert_eq!(config.operation_timeout(), Some(CALL_TIMEOUT));
        assert_eq!(config.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        let longest = RetryPolicy::default().longest_run(CALL_TIMEOUT);
        // Five calls of 3 s and 1.5 s of waits; a second left to answer.
        assert_eq!(longest, Duration::from_millis(16_500));
        assert!(longest + Duration::from_secs(1) < FUNCTION_TIMEOUT);
    }

    #[test]
    fn calls_hold_at_most_500_records_and_5_mib() {
        let small: Vec<Entry> = (0..1001).map(|i| entry(i, 100)).collect();
        let sizes: Vec<usize> = group_into_calls(small).iter().map(Vec::len).collect();
        assert_eq!(sizes, [500, 500, 1]);

        // Six records of 1 MiB: five fill a call (5 MiB exactly), the sixth
        // starts the next.
        let large: Vec<Entry> = (0..6).map(|i| entry(i, MAX_RECORD_BYTES)).collect();
        let calls = group_into_calls(large);
        let sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
        assert_eq!(sizes, [5, 1]);
        for call in &calls {
            assert!(call.iter().map(Entry::size).sum::<usize>() <= MAX_CALL_BYTES);
        }
        let order: Vec<usize> = calls.iter().flatten().map(|e| e.index).collect();
        assert_eq!(order, [0, 1, 2, 3, 4, 5]);
    }
}
