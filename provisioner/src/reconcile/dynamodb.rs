//! The Invoices table's lines: a `Scan` projected to the line id and the
//! invoice date (`record::dynamodb::attr`), page by page. The table is keyed
//! by invoice and line, not by day, so every item is read and the days
//! outside the range are left out here; a filter expression would be read
//! (and paid for) all the same
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Scan.html#Scan.FilterExpression>).

use aws_sdk_dynamodb::types::AttributeValue;
use record::dynamodb::attr;

use super::{DayRange, Sighting, day_of};
use crate::deploy::error::AwsError;

#[derive(Debug, thiserror::Error)]
pub enum DynamodbError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("table {table}: item {line_id:?} has no {what}")]
    Item {
        table: String,
        line_id: String,
        what: String,
    },
}

/// Every line of the Invoices table `table` in `range`.
pub async fn read(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    range: DayRange,
) -> Result<Vec<Sighting>, DynamodbError> {
    let mut lines = Vec::new();
    let mut start = None;
    loop {
        let page = dynamodb
            .scan()
            .table_name(table)
            // Names, not the attributes themselves: a name may be a
            // reserved word.
            .projection_expression("#line, #date")
            .expression_attribute_names("#line", attr::LINE_ID)
            .expression_attribute_names("#date", attr::INVOICE_DATE)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("scanning table {table}"), e))?;
        for item in page.items() {
            let text = |name: &str| match item.get(name) {
                Some(AttributeValue::S(s)) => Some(s.as_str()),
                _ => None,
            };
            let missing = |what: &str| DynamodbError::Item {
                table: table.to_string(),
                line_id: text(attr::LINE_ID).unwrap_or_default().to_string(),
                what: what.to_string(),
            };
            let line_id = text(attr::LINE_ID).ok_or_else(|| missing("LineId string"))?;
            let day = text(attr::INVOICE_DATE)
                .and_then(day_of)
                .ok_or_else(|| missing("InvoiceDate of the form YYYY-MM-DD HH:MM:SS"))?;
            if range.contains(day) {
                lines.push(Sighting::new(day, line_id));
            }
        }
        match page.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => return Ok(lines),
        }
    }
}
