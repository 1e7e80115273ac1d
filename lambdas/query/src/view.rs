//! The JSON answers: invoices with their lines, from the stored items
//! (pure: no I/O).

use std::collections::BTreeMap;

use record::dynamodb::{self, attr};
use record::{Money, Transaction};
use serde::Serialize;

/// One invoice and all its lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceView {
    pub invoice_no: String,
    /// The earliest line's date (`2010-12-01 08:26:00`); lines carry their own.
    pub invoice_date: String,
    /// The first line's customer; `null` for a sale without a known customer.
    pub customer_id: Option<String>,
    pub country: String,
    pub is_cancellation: bool,
    pub line_count: usize,
    /// Sum of the line totals, exact (negative for a cancellation).
    pub total: Money,
    /// In stored order (by `LineId`).
    pub lines: Vec<LineView>,
    /// Stored items that are not valid lines (edited by hand): listed, not
    /// hidden, and left out of the total.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable_lines: Vec<UnreadableLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LineView {
    pub line_id: String,
    pub stock_code: String,
    pub description: Option<String>,
    pub quantity: i32,
    pub unit_price: Money,
    pub line_total: Money,
    pub invoice_date: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnreadableLine {
    pub line_id: Option<String>,
    pub reason: String,
}

/// A customer's invoices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerView {
    pub customer_id: String,
    pub invoice_count: usize,
    pub line_count: usize,
    /// Sum of the invoice totals, cancellations included.
    pub total: Money,
    /// By invoice date, then number.
    pub invoices: Vec<InvoiceView>,
}

/// A stored item read back: the line or why it is unreadable.
fn read_line(item: &dynamodb::Item) -> Result<(Transaction, LineView), UnreadableLine> {
    let line_id = item
        .get(attr::LINE_ID)
        .and_then(|v| v.as_s())
        .map(str::to_owned);
    let transaction = Transaction::from_invoice_item(item).map_err(|error| UnreadableLine {
        line_id: line_id.clone(),
        reason: error.to_string(),
    })?;
    let view = LineView {
        line_id: line_id.unwrap_or_default(),
        stock_code: transaction.stock_code.clone(),
        description: transaction.description.clone(),
        quantity: transaction.quantity,
        unit_price: transaction.unit_price,
        line_total: transaction.line_total(),
        invoice_date: transaction.invoice_date_text(),
    };
    Ok((transaction, view))
}

/// Sums money; saturates rather than wraps (unreachable in practice: a
/// line total is at most `DECIMAL(18,3)`, and an invoice has lines by the
/// hundred, not by the billion).
fn sum(amounts: impl Iterator<Item = Money>) -> Money {
    Money::from_thousandths(amounts.fold(0i64, |total, amount| {
        total.saturating_add(amount.thousandths())
    }))
}

/// The invoice from its items (Invoices or Customers items, which carry
/// the same attributes); `None` when there are none.
pub fn invoice(invoice_no: &str, items: &[dynamodb::Item]) -> Option<InvoiceView> {
    let first = items.first()?;
    let mut lines = Vec::with_capacity(items.len());
    let mut transactions = Vec::with_capacity(items.len());
    let mut unreadable_lines = Vec::new();
    for item in items {
        match read_line(item) {
            Ok((transaction, line)) => {
                transactions.push(transaction);
                lines.push(line);
            }
            Err(unreadable) => unreadable_lines.push(unreadable),
        }
    }
    let text = |name| first.get(name).and_then(|v| v.as_s()).map(str::to_owned);
    let (customer_id, country) = match transactions.first() {
        Some(t) => (t.customer_id.clone(), t.country.clone()),
        None => (
            text(attr::CUSTOMER_ID),
            text(attr::COUNTRY).unwrap_or_default(),
        ),
    };
    Some(InvoiceView {
        invoice_no: invoice_no.to_owned(),
        invoice_date: transactions
            .iter()
            .map(|t| t.invoice_date)
            .min()
            .map(|at| record::format_invoice_date(&at))
            .or_else(|| text(attr::INVOICE_DATE))
            .unwrap_or_default(),
        customer_id,
        country,
        is_cancellation: invoice_no.starts_with('C'),
        line_count: lines.len(),
        total: sum(lines.iter().map(|l| l.line_total)),
        lines,
        unreadable_lines,
    })
}

/// The customer's invoices from their Customers items, grouped by invoice
/// number; `None` when there are none.
pub fn customer(customer_id: &str, items: &[dynamodb::Item]) -> Option<CustomerView> {
    if items.is_empty() {
        return None;
    }
    let mut by_invoice: BTreeMap<&str, Vec<dynamodb::Item>> = BTreeMap::new();
    for item in items {
        let invoice_no = item
            .get(attr::INVOICE_NO)
            .and_then(|v| v.as_s())
            .unwrap_or_default();
        by_invoice.entry(invoice_no).or_default().push(item.clone());
    }
    let mut invoices: Vec<InvoiceView> = by_invoice
        .iter()
        .filter_map(|(invoice_no, items)| invoice(invoice_no, items))
        .collect();
    invoices
        .sort_by(|a, b| (&a.invoice_date, &a.invoice_no).cmp(&(&b.invoice_date, &b.invoice_no)));
    Some(CustomerView {
        customer_id: customer_id.to_owned(),
        invoice_count: invoices.len(),
        line_count: invoices.iter().map(|i| i.line_count).sum(),
        total: sum(invoices.iter().map(|i| i.total)),
        invoices,
    })
}
