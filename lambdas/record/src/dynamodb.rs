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

/// The two tables' names, from the environment of the function that reads
/// or writes them (its stack passes the names it created).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub invoices: String,
    pub customers: String,
}

/// A missing or empty table-name variable.
#[derive(Debug, thiserror::Error)]
#[error(
    "environment variable {name} is not set; the {stack} stack sets it to the {table} table name"
)]
pub struct TablesError {
    pub name: &'static str,
    pub table: &'static str,
    /// The stack that deploys the function and sets its environment.
    pub stack: &'static str,
}

impl Tables {
    pub const INVOICES_VAR: &'static str = "INVOICES_TABLE";
    pub const CUSTOMERS_VAR: &'static str = "CUSTOMERS_TABLE";

    /// Reads the table names from the environment that `stack` sets.
    pub fn from_env(stack: &'static str) -> Result<Self, TablesError> {
        Self::from_vars(stack, |name| std::env::var(name).ok())
    }

    /// Reads the table names through `var` (the environment in Lambda);
    /// `stack`, the stack that sets them, is named in the error.
    pub fn from_vars(
        stack: &'static str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, TablesError> {
        let read = |name: &'static str, table: &'static str| {
            var(name)
                .filter(|v| !v.is_empty())
                .ok_or(TablesError { name, table, stack })
        };
        Ok(Tables {
            invoices: read(Self::INVOICES_VAR, "Invoices")?,
            customers: read(Self::CUSTOMERS_VAR, "Customers")?,
        })
    }
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

/// An item: attribute name → value, in a fixed order. Absent optional
/// fields (no description, no customer) are absent attributes, never empty
/// strings.
///
/// A small vector rather than a map: an item has about a dozen attributes,
/// a linear lookup is as fast as a tree's, and building a `BTreeMap` per
/// item was most of the cost of the mapping (measured in
/// `benches/parse.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Item {
    attributes: Vec<(&'static str, AttributeValue)>,
}

impl Item {
    pub fn new() -> Self {
        Item::default()
    }

    pub fn get(&self, name: &str) -> Option<&AttributeValue> {
        self.attributes
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value)
    }

    /// Sets an attribute, returning the value it replaces.
    pub fn insert(&mut self, name: &'static str, value: AttributeValue) -> Option<AttributeValue> {
        match self.attributes.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => Some(std::mem::replace(existing, value)),
            None => {
                self.attributes.push((name, value));
                None
            }
        }
    }

    pub fn len(&self) -> usize {
        self.attributes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &AttributeValue)> {
        self.attributes.iter().map(|(name, value)| (*name, value))
    }
}

impl IntoIterator for Item {
    type Item = (&'static str, AttributeValue);
    type IntoIter = std::vec::IntoIter<(&'static str, AttributeValue)>;

    fn into_iter(self) -> Self::IntoIter {
        self.attributes.into_iter()
    }
}

impl FromIterator<(&'static str, AttributeValue)> for Item {
    /// Later values of a repeated name replace earlier ones, as in a map.
    fn from_iter<I: IntoIterator<Item = (&'static str, AttributeValue)>>(iter: I) -> Self {
        let mut item = Item::new();
        for (name, value) in iter {
            item.insert(name, value);
        }
        item
    }
}

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
        // Every name above is distinct: the vector is the item as is.
        let customer = purchase_id.map(|purchase_id| {
            let mut customer = attributes.clone();
            customer.push((attr::PURCHASE_ID, AttributeValue::S(purchase_id)));
            Item {
                attributes: customer,
            }
        });
        DynamoItems {
            invoice: Item { attributes },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_behaves_as_a_map_of_names() {
        let mut item: Item = [
            (attr::INVOICE_NO, AttributeValue::S("536365".into())),
            (attr::QUANTITY, AttributeValue::N("6".into())),
            (attr::QUANTITY, AttributeValue::N("7".into())),
        ]
        .into_iter()
        .collect();
        assert_eq!(item.len(), 2);
        assert_eq!(
            item.get(attr::QUANTITY).and_then(AttributeValue::as_n),
            Some("7")
        );
        assert_eq!(
            item.insert(attr::INVOICE_NO, AttributeValue::S("C536379".into())),
            Some(AttributeValue::S("536365".into()))
        );
        assert_eq!(item.get(attr::COUNTRY), None);
        let names: Vec<&str> = item.iter().map(|(name, _)| name).collect();
        assert_eq!(names, [attr::INVOICE_NO, attr::QUANTITY]);
    }

    #[test]
    fn every_attribute_name_of_an_item_is_distinct() {
        let t = Transaction::from_json(crate::JSON_EXAMPLE).unwrap();
        let items = t.dynamo_items(&SourcePosition::File {
            key: "f.csv",
            line: 2,
        });
        let customer = items.customer.unwrap();
        for item in [&items.invoice, &customer] {
            let mut names: Vec<&str> = item.iter().map(|(name, _)| name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), item.len());
        }
        assert_eq!(customer.len(), items.invoice.len() + 1);
    }

    #[test]
    fn an_empty_table_variable_is_as_missing_as_an_unset_one() {
        let error = Tables::from_vars("Api", |name| {
            Some(
                if name == Tables::INVOICES_VAR {
                    ""
                } else {
                    "x"
                }
                .to_owned(),
            )
        })
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable INVOICES_TABLE is not set; the Api stack sets it to the Invoices table name"
        );
    }
}
