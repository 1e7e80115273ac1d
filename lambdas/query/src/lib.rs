//! query: the read side of the API (REST API proxy integration), answering
//! from the DynamoDB tables dynamodb-writer fills from the stream.
//!
//! - `GET /invoices/{invoiceNo}`: every line of the invoice, one `Query` of
//!   the Invoices table (hash `InvoiceNo`) followed page by page, with the
//!   invoice's total.
//! - `GET /customers/{customerId}/invoices`: every purchase of the customer,
//!   one `Query` of the Customers table (hash `CustomerId`), grouped into
//!   invoices.
//!
//! The table names come from the `INVOICES_TABLE` and `CUSTOMERS_TABLE`
//! environment variables. Statuses: 200 with the JSON view ([`view`]); 404
//! when nothing is stored under the id, or for a resource this function
//! does not serve; 405 for another method than GET; 400 for an id that
//! `record` would never have stored (checked with its own validation,
//! [`route`]); 500 only when DynamoDB fails, with a message (the detail is
//! logged). Lines are read back with [`record::Transaction::from_invoice_item`],
//! so a stored line is validated like any input.

pub mod read;
pub mod route;
pub mod view;

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::http::{HeaderValue, header};
use record::dynamodb::{customers_table, invoices_table};

pub use read::{Items, ReadError, query_all};
pub use record::dynamodb::{Tables, TablesError};
pub use route::{Route, RouteError};
pub use view::{CustomerView, InvoiceView, LineView};

/// The stack that deploys this function and sets its environment
/// (`INVOICES_TABLE`, `CUSTOMERS_TABLE`: [`Tables`]).
pub const STACK: &str = "Api";

/// Why a request got no view.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Route(#[from] RouteError),
    #[error("no invoice {invoice_no} is stored")]
    NoInvoice { invoice_no: String },
    #[error("no purchase of customer {customer_id} is stored")]
    NoCustomer { customer_id: String },
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Lambda refuses a response over 6 MB, and API Gateway would answer a
    /// bare 502: say what happened instead. No route pages its answer yet.
    #[error(
        "the answer is {bytes} bytes, more than the {LAMBDA_RESPONSE_LIMIT_BYTES} a Lambda \
         response may carry; this API does not page answers yet: read the {table} table directly"
    )]
    TooLarge { bytes: usize, table: &'static str },
}

/// Lambda's synchronous response payload limit, 6 MB.
/// <https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html>
pub const LAMBDA_RESPONSE_LIMIT_BYTES: usize = 6 * 1024 * 1024;

/// Refuses a response Lambda could not return (its JSON envelope, with the
/// body escaped inside it, is what counts).
fn within_lambda_limit(
    response: ApiGatewayProxyResponse,
    table: &'static str,
) -> Result<ApiGatewayProxyResponse, QueryError> {
    let body_bytes = match &response.body {
        Some(aws_lambda_events::encodings::Body::Text(text)) => text.len(),
        _ => 0,
    };
    // Escaping at most doubles the body: small answers need no measuring.
    if body_bytes * 2 < LAMBDA_RESPONSE_LIMIT_BYTES {
        return Ok(response);
    }
    let bytes = serde_json::to_vec(&response).map_or(usize::MAX, |v| v.len());
    if bytes > LAMBDA_RESPONSE_LIMIT_BYTES {
        return Err(QueryError::TooLarge { bytes, table });
    }
    Ok(response)
}

impl QueryError {
    pub fn status(&self) -> u16 {
        match self {
            QueryError::Route(error) => error.status(),
            QueryError::NoInvoice { .. } | QueryError::NoCustomer { .. } => 404,
            QueryError::Read(_) | QueryError::TooLarge { .. } => 500,
        }
    }
}

/// Answers one API request.
pub async fn handle(
    client: &aws_sdk_dynamodb::Client,
    tables: &Tables,
    request: ApiGatewayProxyRequest,
) -> ApiGatewayProxyResponse {
    match answer(client, tables, &request).await {
        Ok(response) => response,
        Err(error) => {
            let status = error.status();
            if status >= 500 {
                tracing::error!(%error, "query failed");
            } else {
                tracing::info!(status, %error, "query refused");
            }
            let mut response = api_response::message(status, &error.to_string());
            if let QueryError::Route(RouteError::MethodNotAllowed { .. }) = error {
                response
                    .headers
                    .insert(header::ALLOW, HeaderValue::from_static("GET"));
            }
            response
        }
    }
}

async fn answer(
    client: &aws_sdk_dynamodb::Client,
    tables: &Tables,
    request: &ApiGatewayProxyRequest,
) -> Result<ApiGatewayProxyResponse, QueryError> {
    match Route::from_request(request)? {
        Route::Invoice { invoice_no } => {
            let found = query_all(
                client,
                &tables.invoices,
                invoices_table::HASH_KEY,
                &invoice_no,
            )
            .await?;
            let items: Vec<_> = found.items.iter().map(read::from_sdk).collect();
            let view =
                view::invoice(&invoice_no, &items).ok_or(QueryError::NoInvoice { invoice_no })?;
            tracing::info!(
                invoice_no = view.invoice_no,
                lines = view.line_count,
                unreadable = view.unreadable_lines.len(),
                pages = found.pages,
                "invoice read"
            );
            within_lambda_limit(api_response::json(200, &view), "Invoices")
        }
        Route::CustomerInvoices { customer_id } => {
            let found = query_all(
                client,
                &tables.customers,
                customers_table::HASH_KEY,
                &customer_id,
            )
            .await?;
            let items: Vec<_> = found.items.iter().map(read::from_sdk).collect();
            let view = view::customer(&customer_id, &items)
                .ok_or(QueryError::NoCustomer { customer_id })?;
            tracing::info!(
                customer_id = view.customer_id,
                invoices = view.invoice_count,
                lines = view.line_count,
                pages = found.pages,
                "customer's invoices read"
            );
            within_lambda_limit(api_response::json(200, &view), "Customers")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_lambda_could_not_return_is_refused_with_a_reason() {
        let big = api_response::message(200, &"x".repeat(LAMBDA_RESPONSE_LIMIT_BYTES));
        let error = within_lambda_limit(big, "Customers").unwrap_err();
        assert_eq!(error.status(), 500);
        assert!(
            error.to_string().contains("does not page answers yet"),
            "{error}"
        );
        let small = api_response::message(200, "fine");
        assert!(within_lambda_limit(small, "Customers").is_ok());
    }
}
