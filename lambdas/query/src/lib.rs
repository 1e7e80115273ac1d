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
use lambda_runtime::tracing;
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
}

impl QueryError {
    pub fn status(&self) -> u16 {
        match self {
            QueryError::Route(error) => error.status(),
            QueryError::NoInvoice { .. } | QueryError::NoCustomer { .. } => 404,
            QueryError::Read(_) => 500,
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
            Ok(api_response::json(200, &view))
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
            Ok(api_response::json(200, &view))
        }
    }
}
