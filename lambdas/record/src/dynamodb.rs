//! The DynamoDB items of a transaction line, as plain data: this crate has
//! no AWS SDK dependency; the writers turn [`AttributeValue`] into the SDK's
//! type and the query function reads items back with
//! [`Transaction::from_invoice_item`].
//!
//! Table design (the stacks create exactly this):
//! - Invoices: hash `InvoiceNo` (S), range `LineId` (S): every line, with or
//!   without a customer, so no row is lost.
//! - Customers: hash `CustomerId` (S), range `PurchaseId` (S) =
//!   `{InvoiceNo}#{LineId}`: a copy of each line that has a customer, so all
//!   purchases of a customer are one `Query`.
//!
//! Both keys derive from the source position ([`crate::LineId`]), so writing
//! the same record twice overwrites the same items.

use std::collections::BTreeMap;

use crate::error::RecordError;
use crate::line_id::{LineId, SourcePosition};
use crate::transaction::{RawFields, Transaction};

/// Key schema of the Invoices table.
pub mod invoices_table {
    pub const HASH_KEY: &str = super::attr::INVOICE_NO;
    pub const RANGE_KEY: &str = super::attr::LINE_ID;
}

/// Key schema of the Customers table.
pub mod customers_table {
    pub const HASH_KEY: &str = super::attr::CUSTOMER_ID;
    pub const RANGE_KEY: &str = super::attr::PURCHASE_ID;
}

/// Attribute names, shared by writers and readers.
pub mod attr {
    pub const INVOICE_NO: &str = "InvoiceNo";
    pub const LINE_ID: &str = "LineId";
    pub const CUSTOMER_ID: &str = "CustomerId";
    pub const PURCHASE_ID: &str = "PurchaseId";
    pub const STOCK_CODE: &str = "StockCode";
    pub const DESCRIPTION: &str = "Description";
    pub const QUANTITY: &str = "Quantity";
    pub const INVOICE_DATE: &str = "InvoiceDate";
    pub const UNIT_PRICE: &str = "UnitPrice";
    pub const LINE_TOTAL: &str = "LineTotal";
    pub const COUNTRY: &str = "Country";
    pub const IS_CANCELLATION: &str = "IsCancellation";
    /// Readable provenance (`kinesis:shardId-...:4959...`, `file:key:line`).
    pub const SOURCE: &str = "Source";
}

/// The subset of DynamoDB attribute types the items use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    /// String.
    S(String),
    /// Number, as its exact decimal text (DynamoDB numbers are decimal).
    N(String),
    Bool(bool),
}

impl AttributeValue {
    pub fn as_s(&self) -> Option<&str> {
        match self {
            AttributeValue::S(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_n(&self) -> Option<&str> {
        match self {
            AttributeValue::N(n) => Some(n),
            _ => None,
        }
    }
}

/// An item: attribute name → value. Absent optional fields (no
/// description, no customer) are absent attributes, never empty strings.
pub type Item = BTreeMap<&'static str, AttributeValue>;

/// The items one transaction line becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamoItems {
    /// For the Invoices table: always present.
    pub invoice: Item,
    /// For the Customers table: only when the line has a customer.
    pub customer: Option<Item>,
}

/// `{InvoiceNo}#{LineId}`, the Customers range key.
pub fn purchase_id(invoice_no: &str, line_id: &LineId) -> String {
    format!("{invoice_no}#{line_id}")
}

impl Transaction {
    /// The Invoices item and, for a known customer, the Customers item.
    pub fn dynamo_items(&self, source: &SourcePosition<'_>) -> DynamoItems {
        let line_id = source.line_id();
        let purchase_id = self
            .customer_id
            .as_ref()
            .map(|_| purchase_id(&self.invoice_no, &line_id));
        // Collected from a vector: BTreeMap builds in bulk from sorted input.
        let mut attributes = Vec::with_capacity(14);
        attributes.extend([
            (attr::INVOICE_NO, AttributeValue::S(self.invoice_no.clone())),
            (attr::LINE_ID, AttributeValue::S(line_id.into_string())),
            (attr::STOCK_CODE, AttributeValue::S(self.stock_code.clone())),
            (attr::QUANTITY, AttributeValue::N(self.quantity.to_string())),
            (
                attr::INVOICE_DATE,
                AttributeValue::S(self.invoice_date_text()),
            ),
            (
                attr::UNIT_PRICE,
                AttributeValue::N(self.unit_price.to_string()),
            ),
            (
                attr::LINE_TOTAL,
                AttributeValue::N(self.line_total().to_string()),
            ),
            (attr::COUNTRY, AttributeValue::S(self.country.clone())),
            (
                attr::IS_CANCELLATION,
                AttributeValue::Bool(self.is_cancellation()),
            ),
            (attr::SOURCE, AttributeValue::S(source.to_string())),
        ]);
        if let Some(description) = &self.description {
            attributes.push((attr::DESCRIPTION, AttributeValue::S(description.clone())));
        }
        if let Some(customer_id) = &self.customer_id {
            attributes.push((attr::CUSTOMER_ID, AttributeValue::S(customer_id.clone())));
        }
        let customer = purchase_id.map(|purchase_id| {
            let mut customer = attributes.clone();
            customer.push((attr::PURCHASE_ID, AttributeValue::S(purchase_id)));
            customer.into_iter().collect()
        });
        DynamoItems {
            invoice: attributes.into_iter().collect(),
            customer,
        }
    }

    /// Reads a line back from an Invoices or Customers item, with the same
    /// validation as any other input (an item edited by hand is checked).
    pub fn from_invoice_item(item: &Item) -> Result<Transaction, RecordError> {
        let text = |name: &str| match item.get(name) {
            Some(AttributeValue::S(s) | AttributeValue::N(s)) => s.as_str(),
            Some(AttributeValue::Bool(_)) | None => "",
        };
        Transaction::from_fields(RawFields {
            invoice_no: text(attr::INVOICE_NO),
            stock_code: text(attr::STOCK_CODE),
            description: text(attr::DESCRIPTION),
            quantity: text(attr::QUANTITY),
            invoice_date: text(attr::INVOICE_DATE),
            unit_price: text(attr::UNIT_PRICE),
            customer_id: text(attr::CUSTOMER_ID),
            country: text(attr::COUNTRY),
        })
    }
}
