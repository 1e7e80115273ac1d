//! What the client reads: the counts, each item's fate, and an HTTP status
//! chosen from them.
//!
//! | status | when | what the client does |
//! | --- | --- | --- |
//! | 200 | every item accepted | nothing |
//! | 207 | some accepted, others rejected or failed | fixes the `rejected` items, resends the `failed` ones unchanged |
//! | 422 | no item accepted, every one invalid | fixes the items (each error names the field) |
//! | 503 | Kinesis unavailable (a call failed after the SDK's retries), or nothing accepted while items failed | resends the `failed` items later (`Retry-After`) |
//! | 400 | the request as a whole is unusable ([`crate::RequestError`]); nothing sent | fixes the request as the message says |
//! | 405 | not a POST | uses POST |
//!
//! An item is `rejected` when it is not a valid transaction (the client's
//! fault, resending it unchanged fails again) and `failed` when Kinesis did
//! not store it (not the client's fault, resending it later works).

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use aws_lambda_events::http::{HeaderValue, header};
use serde::Serialize;

/// Seconds a client should wait before resending failed items (503).
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// The fate of a request's items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestReport {
    pub message: String,
    pub received: usize,
    pub accepted: usize,
    pub rejected: usize,
    pub failed: usize,
    /// Items not accepted, by index in the request (an object is index 0).
    pub errors: Vec<ItemError>,
    /// Items accepted, with where Kinesis stored them.
    pub records: Vec<StoredRecord>,
    /// A Kinesis call failed as a whole (not serialised: the status says it).
    #[serde(skip)]
    pub kinesis_unavailable: bool,
}

/// Why one item was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemError {
    pub index: usize,
    pub status: ItemStatus,
    /// The field at fault, by its CSV header name (`UnitPrice`), when the
    /// error is about one field.
    pub field: Option<&'static str>,
    pub reason: String,
    /// Kinesis's error code for a failed item
    /// (`ProvisionedThroughputExceededException`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ItemStatus {
    /// Not a valid transaction: fix it before sending it again.
    Rejected,
    /// Valid but not stored by Kinesis: send it again unchanged.
    Failed,
}

/// Where an accepted item went and the id of its line in every store:
/// from the item's `idempotency_key` when it has one, else from the shard
/// and sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredRecord {
    pub index: usize,
    pub line_id: String,
    pub shard_id: String,
    pub sequence_number: String,
}

impl IngestReport {
    /// Builds the report and its summary message from the items' fates.
    pub fn new(
        received: usize,
        mut errors: Vec<ItemError>,
        records: Vec<StoredRecord>,
        kinesis_unavailable: bool,
    ) -> Self {
        errors.sort_by_key(|e| e.index);
        let rejected = errors
            .iter()
            .filter(|e| e.status == ItemStatus::Rejected)
            .count();
        let failed = errors.len() - rejected;
        let accepted = records.len();
        let mut report = IngestReport {
            message: String::new(),
            received,
            accepted,
            rejected,
            failed,
            errors,
            records,
            kinesis_unavailable,
        };
        report.message = report.summary();
        report
    }

    /// The HTTP status for the outcome (see the module documentation).
    pub fn status(&self) -> u16 {
        if self.kinesis_unavailable || (self.accepted == 0 && self.failed > 0) {
            503
        } else if self.rejected == 0 && self.failed == 0 {
            200
        } else if self.accepted == 0 {
            422
        } else {
            207
        }
    }

    fn summary(&self) -> String {
        let (n, a, r, f) = (self.received, self.accepted, self.rejected, self.failed);
        let codes = {
            let mut codes: Vec<&str> = self
                .errors
                .iter()
                .filter_map(|e| e.code.as_deref())
                .collect();
            codes.sort_unstable();
            codes.dedup();
            codes.join(", ")
        };
        match self.status() {
            200 => format!("accepted all {n} transaction(s)"),
            422 => format!(
                "accepted none of {n} transaction(s): every item is invalid; \
                 fix the fields named in errors and send them again"
            ),
            503 => format!(
                "the transaction stream is unavailable ({codes}): accepted {a} of {n}, \
                 {f} failed and {r} rejected; send the failed items (listed in errors) \
                 again in a moment"
            ),
            _ => {
                let mut parts = vec![format!("accepted {a} of {n} transaction(s)")];
                if r > 0 {
                    parts.push(format!(
                        "{r} rejected as invalid: fix the fields named in errors before sending them again"
                    ));
                }
                if f > 0 {
                    parts.push(format!(
                        "{f} failed in the stream ({codes}): send them again unchanged"
                    ));
                }
                parts.join("; ")
            }
        }
    }

    pub fn into_response(self) -> ApiGatewayProxyResponse {
        let status = self.status();
        let mut response = api_response::json(status, &self);
        if status == 503 {
            response
                .headers
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        response
    }
}

/// `{"message": ...}` with a status: refusals of the whole request.
pub fn message_response(status: u16, message: &str) -> ApiGatewayProxyResponse {
    api_response::message(status, message)
}
