//! `BatchWriteItem` with bounded retries of unprocessed items.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};

use crate::items::{PendingDelete, PendingPut};

/// `BatchWriteItem` takes at most 25 put or delete requests per call
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html>).
pub const MAX_ITEMS_PER_BATCH_WRITE: usize = 25;

/// How long to keep retrying items DynamoDB returns as unprocessed
/// (throttled partitions). Bounded so a hot table fails the records back to
/// Lambda (which retries the batch, then sends it to the on-failure queue)
/// instead of running into the function timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Calls per group of items, the first included.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled after each.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// `BatchWriteItem` calls in flight at once.
    pub concurrent_calls: usize,
}

impl Default for RetryPolicy {
    /// Six calls waiting 50, 100, 200, 400 and 800 ms between them: 1.55 s at
    /// most per group, the exponential backoff AWS recommends for
    /// unprocessed items. Four calls in flight: enough to hide the call
    /// latency without one invocation taking a table's whole burst.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
            concurrent_calls: 4,
        }
    }
}

/// The Lambda timeout the Streaming stack gives this function
/// (`stacks/src/platform/streaming.rs`).
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(120);

/// Longest a `BatchWriteItem` or `PutObject` call may take, the SDK's own
/// retries included. Without it a stalled call ran into the function's
/// timeout: the invocation died without reporting or saving anything, and
/// Lambda retried the whole batch. With it the call fails, its records are
/// saved and reported, and Lambda retries from the first of them.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest one HTTP attempt may take (a 25-item write takes milliseconds),
/// so the SDK can retry a stalled attempt within [`CALL_TIMEOUT`].
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// The clients' timeouts ([`CALL_TIMEOUT`], [`ATTEMPT_TIMEOUT`]).
pub fn timeout_config() -> aws_sdk_dynamodb::config::timeout::TimeoutConfig {
    aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .operation_timeout(CALL_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .build()
}

impl RetryPolicy {
    /// The longest [`write_all`] can take: the groups in flight when one
    /// fails finish, each with every call running into `call_timeout` and
    /// the waits between them; no group starts after a failure.
    pub fn longest_group(&self, call_timeout: Duration) -> Duration {
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

/// Outcome of writing a batch's puts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Indexes of the records with at least one item not written.
    pub failed_records: BTreeSet<usize>,
    pub calls: usize,
    pub items_written: usize,
}

/// Writes the puts in groups of 25, up to `policy.concurrent_calls` groups
/// in flight (a `BatchWriteItem` takes milliseconds; a full Kinesis batch
/// of 10,000 records is about 650 calls), retrying unprocessed items per
/// `policy`.
///
/// When a group cannot be written, no further group is started: its
/// unwritten records and the records of every group not started are
/// reported. Lambda resumes from the lowest reported sequence number
/// anyway, so writing the rest now would only spend capacity on a
/// throttled table. Groups already in flight finish; what they write is
/// rewritten by the retry, harmlessly (idempotent keys).
pub async fn write_all(
    client: &aws_sdk_dynamodb::Client,
    puts: Vec<PendingPut>,
    policy: &RetryPolicy,
) -> WriteOutcome {
    let requests = puts
        .into_iter()
        .map(|put| {
            let request = PutRequest::builder()
                .set_item(Some(put.item))
                .build()
                .expect("an item is set");
            PendingWrite {
                record: put.record,
                table: put.table,
                key: put.key.map(str::to_owned).to_vec(),
                request: WriteRequest::builder().put_request(request).build(),
            }
        })
        .collect();
    write_requests(client, requests, policy).await
}

/// Deletes the items by key, in groups, concurrently and with the retries
/// of [`write_all`]; the outcome's records are the deletes' `record`s.
/// Deleting an item that does not exist succeeds (DynamoDB's semantics),
/// so a retried delete is idempotent too.
pub async fn delete_all(
    client: &aws_sdk_dynamodb::Client,
    deletes: Vec<PendingDelete>,
    policy: &RetryPolicy,
) -> WriteOutcome {
    let requests = deletes
        .into_iter()
        .map(|delete| {
            let key = delete.key.keys().cloned().collect();
            let request = DeleteRequest::builder()
                .set_key(Some(delete.key))
                .build()
                .expect("a key is set");
            PendingWrite {
                record: delete.record,
                table: delete.table,
                key,
                request: WriteRequest::builder().delete_request(request).build(),
            }
        })
        .collect();
    write_requests(client, requests, policy).await
}

/// A put or a delete, its table and the record it came from.
#[derive(Debug)]
struct PendingWrite {
    record: usize,
    table: String,
    /// The names of the table's key attributes.
    key: Vec<String>,
    request: WriteRequest,
}

/// An item's identity: its table and its key attributes' values, sorted by
/// name. Unprocessed requests are traced back to their records by it,
/// never by the whole item: an item that comes back with any attribute
/// written differently (a number's text, an attribute's order or form)
/// must still be found.
type Identity = (String, Vec<(String, AttributeValue)>);

fn identity(table: &str, request: &WriteRequest, key: &[String]) -> Option<Identity> {
    let attributes = match (request.put_request(), request.delete_request()) {
        (Some(put), _) => put.item(),
        (None, Some(delete)) => delete.key(),
        (None, None) => return None,
    };
    let mut values: Vec<(String, AttributeValue)> = key
        .iter()
        .map(|name| Some((name.clone(), attributes.get(name)?.clone())))
        .collect::<Option<_>>()?;
    values.sort_by(|a, b| a.0.cmp(&b.0));
    Some((table.to_owned(), values))
}

/// The groups, concurrency and retries of [`write_all`] and [`delete_all`].
async fn write_requests(
    client: &aws_sdk_dynamodb::Client,
    requests: Vec<PendingWrite>,
    policy: &RetryPolicy,
) -> WriteOutcome {
    let mut outcome = WriteOutcome::default();
    let mut groups = Vec::with_capacity(requests.len().div_ceil(MAX_ITEMS_PER_BATCH_WRITE));
    let mut requests = requests.into_iter().peekable();
    while requests.peek().is_some() {
        groups.push(
            requests
                .by_ref()
                .take(MAX_ITEMS_PER_BATCH_WRITE)
                .collect::<Vec<_>>(),
        );
    }
    let mut groups = groups.into_iter();
    let mut in_flight = tokio::task::JoinSet::new();
    let mut failed = false;
    loop {
        while !failed && in_flight.len() < policy.concurrent_calls.max(1) {
            let Some(group) = groups.next() else { break };
            in_flight.spawn(write_group(client.clone(), group, *policy));
        }
        let Some(joined) = in_flight.join_next().await else {
            break;
        };
        let group = joined.expect("a write task does not panic");
        outcome.calls += group.calls;
        outcome.items_written += group.items - group.unwritten_items;
        if !group.unwritten_records.is_empty() {
            failed = true;
            outcome.failed_records.extend(group.unwritten_records);
        }
    }
    // Groups never started when a group failed.
    outcome
        .failed_records
        .extend(groups.flatten().map(|write| write.record));
    outcome
}

/// What happened to one group of up to 25 items.
#[derive(Debug)]
struct GroupResult {
    items: usize,
    unwritten_items: usize,
    /// Records with an item left unwritten.
    unwritten_records: Vec<usize>,
    calls: usize,
}

/// Writes one group, retrying what DynamoDB leaves unprocessed.
async fn write_group(
    client: aws_sdk_dynamodb::Client,
    group: Vec<PendingWrite>,
    policy: RetryPolicy,
) -> GroupResult {
    // An unprocessed request is traced back to its record by its item's
    // key, within its table.
    // At most 25 items: a list is enough (the SDK's AttributeValue is not Hash).
    let sent: Vec<(Identity, usize)> = group
        .iter()
        .filter_map(|write| {
            Some((
                identity(&write.table, &write.request, &write.key)?,
                write.record,
            ))
        })
        .collect();
    let keys: HashMap<&str, &[String]> = group
        .iter()
        .map(|write| (write.table.as_str(), write.key.as_slice()))
        .collect();
    let keys: HashMap<String, Vec<String>> = keys
        .into_iter()
        .map(|(table, key)| (table.to_owned(), key.to_vec()))
        .collect();
    let all_records: Vec<usize> = group.iter().map(|write| write.record).collect();
    let mut result = GroupResult {
        items: group.len(),
        unwritten_items: 0,
        unwritten_records: Vec::new(),
        calls: 0,
    };
    let mut request_items: HashMap<String, Vec<WriteRequest>> = HashMap::new();
    for write in group {
        request_items
            .entry(write.table)
            .or_default()
            .push(write.request);
    }
    for attempt in 0..policy.max_attempts {
        if attempt > 0 {
            tokio::time::sleep(policy.delay(attempt)).await;
        }
        result.calls += 1;
        let response = client
            .batch_write_item()
            .set_request_items(Some(request_items.clone()))
            .send()
            .await;
        match response {
            Ok(output) => {
                let unprocessed: HashMap<_, _> = output
                    .unprocessed_items
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(_, requests)| !requests.is_empty())
                    .collect();
                if unprocessed.is_empty() {
                    return result;
                }
                let count: usize = unprocessed.values().map(Vec::len).sum();
                tracing::warn!(
                    attempt,
                    unprocessed = count,
                    "DynamoDB left items unprocessed; retrying with backoff"
                );
                request_items = unprocessed;
            }
            Err(error) => {
                // The SDK has already retried throttling and 5xx errors with its
                // own backoff; what reaches here is final for this invocation.
                tracing::error!(
                    error = %aws_sdk_dynamodb::error::DisplayErrorContext(&error),
                    "BatchWriteItem failed; reporting the group's records"
                );
                result.unwritten_items = request_items.values().map(Vec::len).sum();
                result.unwritten_records = all_records;
                return result;
            }
        }
    }
    result.unwritten_items = request_items.values().map(Vec::len).sum();
    let traced: Option<Vec<usize>> = request_items
        .iter()
        .flat_map(|(table, requests)| requests.iter().map(move |request| (table, request)))
        .map(|(table, request)| {
            let unprocessed = identity(table, request, keys.get(table)?)?;
            sent.iter()
                .find(|(sent, _)| *sent == unprocessed)
                .map(|(_, record)| *record)
        })
        .collect();
    result.unwritten_records = match traced {
        Some(records) => records,
        None => {
            // An item not traced back to a record: fail the whole group
            // rather than let that record be checkpointed unwritten.
            tracing::error!("an unprocessed item matches no item sent; reporting the whole group");
            all_records
        }
    };
    tracing::error!(
        attempts = policy.max_attempts,
        items = result.unwritten_items,
        "items still unprocessed after the bounded retries; reporting their records"
    );
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stalled_table_fails_the_records_before_the_function_times_out() {
        let config = timeout_config();
        assert_eq!(config.operation_timeout(), Some(CALL_TIMEOUT));
        assert_eq!(config.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        // Groups in flight run side by side: the longest is one group's
        // worst case, then saving the failed records takes one more call.
        let longest = RetryPolicy::default().longest_group(CALL_TIMEOUT) + CALL_TIMEOUT;
        assert_eq!(longest, Duration::from_millis(71_550));
        assert!(longest < FUNCTION_TIMEOUT);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let delays: Vec<u64> = (1..=7)
            .map(|a| policy.delay(a).as_millis() as u64)
            .collect();
        assert_eq!(delays, [50, 100, 200, 400, 800, 1600, 2000]);
        assert_eq!(policy.delay(64), policy.max_delay);
    }
}
