//! `provisioner reconcile`: did every line arrive in every store? One reader
//! per store yields what the store holds as `(day, line_id)` pairs
//! ([`lake`], [`dynamodb`], [`redshift`]); [`compare`] counts them per day
//! and names the line ids missing from a store or held twice by one. The
//! command (`commands::reconcile`) prints the result as a table or JSON.
//!
//! A line's identity is its `line_id` (architecture.md, delivery
//! semantics): every store replaces by it, so a line id held twice is a
//! duplicate to report (the lake keeps a client's resend under a second
//! object key), never a reader error.

pub mod compare;
pub mod dynamodb;
pub mod lake;
pub mod redshift;

use chrono::NaiveDate;
use serde::Serialize;

pub use compare::{Reconciliation, compare};

/// The stores a line reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Store {
    Lake,
    Dynamodb,
    Redshift,
}

impl Store {
    pub const ALL: [Store; 3] = [Store::Lake, Store::Dynamodb, Store::Redshift];

    pub fn name(self) -> &'static str {
        match self {
            Store::Lake => "lake",
            Store::Dynamodb => "dynamodb",
            Store::Redshift => "redshift",
        }
    }
}

/// One line as a store holds it: the day of its invoice date and its id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sighting {
    pub day: NaiveDate,
    pub line_id: String,
}

impl Sighting {
    pub fn new(day: NaiveDate, line_id: impl Into<String>) -> Self {
        Self {
            day,
            line_id: line_id.into(),
        }
    }
}

/// The days to reconcile, both ends included; `None`: unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DayRange {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl DayRange {
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.from.is_none_or(|from| day >= from) && self.to.is_none_or(|to| day <= to)
    }
}

/// What one store answered: its lines, or why it was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    Lines(Vec<Sighting>),
    NotChecked(String),
}

/// The day of an invoice date written `YYYY-MM-DD HH:MM:SS` (the lake and
/// DynamoDB, `record::format_invoice_date`) or `YYYY-MM-DD` (Redshift's
/// `trunc`).
pub fn day_of(invoice_date: &str) -> Option<NaiveDate> {
    let day = invoice_date.get(..10)?;
    NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}

/// Lines of December 2010 for the comparison's and the report's tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::{Read, Sighting};
    use chrono::NaiveDate;

    pub fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2010, 12, day).unwrap()
    }

    /// A store that holds `(day, line id)` pairs.
    pub fn lines(pairs: &[(u32, &str)]) -> Read {
        Read::Lines(
            pairs
                .iter()
                .map(|(day, id)| Sighting::new(d(*day), *id))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_of_an_invoice_date_is_its_calendar_date_in_both_written_forms() {
        let day = NaiveDate::from_ymd_opt(2010, 12, 1).unwrap();
        assert_eq!(day_of("2010-12-01 08:26:00"), Some(day));
        assert_eq!(day_of("2010-12-01"), Some(day));
        assert_eq!(day_of("12/1/2010 8:26"), None);
        assert_eq!(day_of(""), None);
    }

    #[test]
    fn a_range_includes_both_ends_and_an_open_end_is_unbounded() {
        let d = |day| NaiveDate::from_ymd_opt(2010, 12, day).unwrap();
        let range = DayRange {
            from: Some(d(2)),
            to: Some(d(3)),
        };
        assert!(!range.contains(d(1)));
        assert!(range.contains(d(2)) && range.contains(d(3)));
        assert!(!range.contains(d(4)));
        assert!(DayRange::default().contains(d(1)));
    }
}
