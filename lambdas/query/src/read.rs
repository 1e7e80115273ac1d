//! Reading every item of one partition key, page after page, and turning
//! the SDK's items back into `record`'s plain items.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::AttributeValue;
use record::dynamodb::{self, attr};

/// The Lambda timeout the Api stack gives this function
/// (`stacks/src/platform/api.rs`), under API Gateway's 29 s.
pub const FUNCTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Longest one `Query` page may take, the SDK's own retries included: a
/// stalled call is answered 500 with "try again" rather than the function
/// being killed at its timeout (API Gateway's bare 502).
pub const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Longest one HTTP attempt may take (a 1 MB page inside the region takes
/// well under a second), so the SDK can retry a stalled attempt in time.
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// The DynamoDB client's timeouts ([`CALL_TIMEOUT`], [`ATTEMPT_TIMEOUT`]).
pub fn timeout_config() -> aws_sdk_dynamodb::config::timeout::TimeoutConfig {
    aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .operation_timeout(CALL_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .build()
}

/// A DynamoDB call that failed (after the SDK's own retries).
#[derive(Debug, thiserror::Error)]
#[error("reading the {table} table failed ({code}); try again in a moment")]
pub struct ReadError {
    pub table: String,
    /// DynamoDB's error code (`ProvisionedThroughputExceededException`),
    /// or `Unreachable` when the call got no answer.
    pub code: String,
}

/// The items of a query, and how many pages it took.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Items {
    pub items: Vec<HashMap<String, AttributeValue>>,
    pub pages: usize,
}

/// Every item whose hash key `key_name` is `key_value`, following
/// `LastEvaluatedKey` until the last page (a `Query` returns at most 1 MB
/// per page:
/// <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.Pagination.html>).
/// Items come in range key order.
pub async fn query_all(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key_name: &str,
    key_value: &str,
) -> Result<Items, ReadError> {
    let mut result = Items::default();
    let mut start_key = None;
    loop {
        let page = client
            .query()
            .table_name(table)
            .key_condition_expression("#key = :value")
            .expression_attribute_names("#key", key_name)
            .expression_attribute_values(":value", AttributeValue::S(key_value.to_owned()))
            .set_exclusive_start_key(start_key)
            .send()
            .await
            .map_err(|error| {
                tracing::error!(
                    table,
                    key_name,
                    key_value,
                    pages_read = result.pages,
                    error = %DisplayErrorContext(&error),
                    "DynamoDB Query failed"
                );
                ReadError {
                    table: table.to_owned(),
                    code: error.code().unwrap_or("Unreachable").to_owned(),
                }
            })?;
        result.pages += 1;
        result.items.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start_key = Some(key),
            _ => return Ok(result),
        }
    }
}

/// The attributes a line is read back from, as `record` names them.
const LINE_ATTRIBUTES: [&str; 9] = [
    attr::INVOICE_NO,
    attr::STOCK_CODE,
    attr::DESCRIPTION,
    attr::QUANTITY,
    attr::INVOICE_DATE,
    attr::UNIT_PRICE,
    attr::CUSTOMER_ID,
    attr::COUNTRY,
    attr::LINE_ID,
];

/// The SDK's item as `record`'s plain item (the attributes a line is read
/// back from; other types than S, N and BOOL are left out and so read as
/// absent, which `record` then reports).
pub fn from_sdk(item: &HashMap<String, AttributeValue>) -> dynamodb::Item {
    LINE_ATTRIBUTES
        .iter()
        .filter_map(|&name| {
            let value = match item.get(name)? {
                AttributeValue::S(s) => dynamodb::AttributeValue::S(s.clone()),
                AttributeValue::N(n) => dynamodb::AttributeValue::N(n.clone()),
                AttributeValue::Bool(b) => dynamodb::AttributeValue::Bool(*b),
                _ => return None,
            };
            Some((name, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stalled_page_is_answered_before_the_function_times_out() {
        let config = timeout_config();
        assert_eq!(config.operation_timeout(), Some(CALL_TIMEOUT));
        assert_eq!(config.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        // An invoice's lines are one page; a customer's history a few.
        assert!(CALL_TIMEOUT * 3 <= FUNCTION_TIMEOUT);
        assert!(ATTEMPT_TIMEOUT * 2 < CALL_TIMEOUT, "room for one SDK retry");
    }
}
