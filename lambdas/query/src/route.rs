//! Which question a request asks, from API Gateway's `resource` and
//! `pathParameters` (pure: no I/O). Ids are checked with `record`'s own
//! validation, so the API refuses exactly what the writers would never
//! have stored.

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use aws_lambda_events::http::Method;
use record::{Field, RawFields, RecordError, Transaction};

/// The REST API's resources served by this function, as API Gateway names
/// them in the event's `resource`.
pub const INVOICE_RESOURCE: &str = "/invoices/{invoiceNo}";
pub const CUSTOMER_INVOICES_RESOURCE: &str = "/customers/{customerId}/invoices";
pub const INVOICE_NO_PARAM: &str = "invoiceNo";
pub const CUSTOMER_ID_PARAM: &str = "customerId";

/// A question the API answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /invoices/{invoiceNo}`: every line of one invoice.
    Invoice { invoice_no: String },
    /// `GET /customers/{customerId}/invoices`: every purchase of a customer,
    /// grouped by invoice.
    CustomerInvoices { customer_id: String },
}

/// Why a request names no question the API answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error(
        "no such resource {path}: the API serves GET {INVOICE_RESOURCE} and \
         GET {CUSTOMER_INVOICES_RESOURCE}"
    )]
    NotFound { path: String },
    #[error("method {method} is not allowed on {resource}: use GET")]
    MethodNotAllowed { method: String, resource: String },
    #[error(
        "{value:?} is not an invoice number: {error}; for example GET /invoices/536365, \
         or /invoices/C536379 for a cancellation"
    )]
    BadInvoiceNo { value: String, error: RecordError },
    #[error(
        "{value:?} is not a customer id: {error}; customer ids are whole numbers, for example \
         GET /customers/17850/invoices"
    )]
    BadCustomerId { value: String, error: RecordError },
}

impl RouteError {
    /// The HTTP status: 404 for an unknown resource, 405 for a wrong
    /// method, 400 for a malformed id.
    pub fn status(&self) -> u16 {
        match self {
            RouteError::NotFound { .. } => 404,
            RouteError::MethodNotAllowed { .. } => 405,
            RouteError::BadInvoiceNo { .. } | RouteError::BadCustomerId { .. } => 400,
        }
    }
}

impl Route {
    /// Reads the route from the resource API Gateway matched and its path
    /// parameters (already URL-decoded by API Gateway), not from the raw
    /// path.
    pub fn from_request(request: &ApiGatewayProxyRequest) -> Result<Route, RouteError> {
        let resource = request.resource.as_deref().unwrap_or_default();
        let param = |name: &str| {
            request
                .path_parameters
                .get(name)
                .map(String::as_str)
                .unwrap_or_default()
        };
        if resource != INVOICE_RESOURCE && resource != CUSTOMER_INVOICES_RESOURCE {
            return Err(RouteError::NotFound {
                path: request.path.clone().unwrap_or_else(|| resource.to_owned()),
            });
        }
        if request.http_method != Method::GET {
            return Err(RouteError::MethodNotAllowed {
                method: request.http_method.to_string(),
                resource: resource.to_owned(),
            });
        }
        let route = if resource == INVOICE_RESOURCE {
            Route::Invoice {
                invoice_no: invoice_no(param(INVOICE_NO_PARAM))?,
            }
        } else {
            Route::CustomerInvoices {
                customer_id: customer_id(param(CUSTOMER_ID_PARAM))?,
            }
        };
        Ok(route)
    }
}

/// A valid row's fields, to check one field at a time through
/// [`Transaction::from_fields`].
const VALID_ROW: RawFields<'static> = RawFields {
    invoice_no: "536365",
    stock_code: "85123A",
    description: "",
    quantity: "1",
    invoice_date: "2010-12-01 08:26:00",
    unit_price: "0",
    customer_id: "",
    country: "United Kingdom",
};

/// The invoice number as the writers store it (`536365`, `C536379`), by
/// `record`'s rules for `InvoiceNo`.
pub fn invoice_no(value: &str) -> Result<String, RouteError> {
    let bad = |error| RouteError::BadInvoiceNo {
        value: value.to_owned(),
        error,
    };
    // A negative quantity makes a valid row of any invoice number (a
    // cancellation or a stock adjustment): the only field left to fail is
    // the invoice number.
    let row = RawFields {
        invoice_no: value,
        quantity: "-1",
        ..VALID_ROW
    };
    Transaction::from_fields(row)
        .map(|transaction| transaction.invoice_no)
        .map_err(bad)
}

/// The customer id as the writers store it (`17850`; `17850.0` is the same
/// customer), by `record`'s rules for `CustomerID`.
pub fn customer_id(value: &str) -> Result<String, RouteError> {
    let bad = |error| RouteError::BadCustomerId {
        value: value.to_owned(),
        error,
    };
    let row = RawFields {
        customer_id: value,
        ..VALID_ROW
    };
    let transaction = Transaction::from_fields(row).map_err(bad)?;
    transaction.customer_id.ok_or_else(|| {
        bad(RecordError::Missing {
            field: Field::CustomerId,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoice_numbers_are_checked_with_records_rules() {
        assert_eq!(invoice_no("536365").unwrap(), "536365");
        assert_eq!(invoice_no("C536379").unwrap(), "C536379");
        assert_eq!(invoice_no(" 536365 ").unwrap(), "536365");
        for bad in ["", "abc", "c536379", "53 6365", "C", "12345678901234567"] {
            let error = invoice_no(bad).unwrap_err();
            assert_eq!(error.status(), 400, "{bad:?}");
        }
    }

    #[test]
    fn customer_ids_are_whole_numbers() {
        assert_eq!(customer_id("17850").unwrap(), "17850");
        assert_eq!(customer_id("17850.0").unwrap(), "17850");
        for bad in ["", "abc", "-5", "1.5", "17850x", "12345678901234567"] {
            let error = customer_id(bad).unwrap_err();
            assert_eq!(error.status(), 400, "{bad:?}");
        }
    }
}
