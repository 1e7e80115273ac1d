//! The comparison (pure): per day, how many lines each store holds, which
//! line ids some store holds and another lacks, and which a store holds
//! more than once. Only the stores that were read take part: a store not
//! checked is named with its reason, never counted as empty.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::{DayRange, Read, Store};

/// Everything `reconcile` found; text and JSON are printed from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reconciliation {
    pub range: DayRange,
    /// The stores read, in [`Store::ALL`] order.
    pub checked: Vec<Store>,
    pub not_checked: Vec<NotChecked>,
    /// Days any checked store holds a line of, in order.
    pub days: Vec<Day>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotChecked {
    pub store: Store,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Day {
    pub day: NaiveDate,
    /// Lines each checked store holds that day, duplicates included.
    pub counts: BTreeMap<Store, usize>,
    /// Line ids held by some checked store and not by these, by line id.
    pub missing: Vec<Missing>,
    /// Line ids a store holds more than once, by line id then store.
    pub duplicated: Vec<Duplicated>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Missing {
    pub line_id: String,
    pub missing_from: Vec<Store>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Duplicated {
    pub line_id: String,
    pub store: Store,
    pub times: usize,
}

impl Reconciliation {
    /// Every checked store holds every line exactly once.
    pub fn agrees(&self) -> bool {
        self.days
            .iter()
            .all(|d| d.missing.is_empty() && d.duplicated.is_empty())
    }

    pub fn missing(&self) -> usize {
        self.days.iter().map(|d| d.missing.len()).sum()
    }

    pub fn duplicated(&self) -> usize {
        self.days.iter().map(|d| d.duplicated.len()).sum()
    }
}

/// Compares what each store answered. Lines outside `range` are left out
/// (a reader may return a little more than asked).
pub fn compare(range: DayRange, reads: Vec<(Store, Read)>) -> Reconciliation {
    let mut checked = Vec::new();
    let mut not_checked = Vec::new();
    // day -> line id -> times held, per store (indexed as Store::ALL).
    let mut held: BTreeMap<NaiveDate, BTreeMap<String, [usize; 3]>> = BTreeMap::new();
    let mut reads = reads;
    reads.sort_by_key(|(store, _)| *store);
    for (store, read) in reads {
        match read {
            Read::NotChecked(reason) => not_checked.push(NotChecked { store, reason }),
            Read::Lines(lines) => {
                checked.push(store);
                for line in lines.into_iter().filter(|l| range.contains(l.day)) {
                    held.entry(line.day)
                        .or_default()
                        .entry(line.line_id)
                        .or_default()[store as usize] += 1;
                }
            }
        }
    }
    let days = held
        .into_iter()
        .map(|(day, lines)| {
            let mut day = Day {
                day,
                counts: checked.iter().map(|s| (*s, 0)).collect(),
                missing: Vec::new(),
                duplicated: Vec::new(),
            };
            for (line_id, times) in lines {
                let mut missing_from = Vec::new();
                for &store in &checked {
                    let n = times[store as usize];
                    *day.counts.entry(store).or_default() += n;
                    if n == 0 {
                        missing_from.push(store);
                    }
                    if n > 1 {
                        day.duplicated.push(Duplicated {
                            line_id: line_id.clone(),
                            store,
                            times: n,
                        });
                    }
                }
                if !missing_from.is_empty() {
                    day.missing.push(Missing {
                        line_id,
                        missing_from,
                    });
                }
            }
            day
        })
        .collect();
    Reconciliation {
        range,
        checked,
        not_checked,
        days,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::fixtures::{d, lines};

    fn all_range() -> DayRange {
        DayRange::default()
    }

    #[test]
    fn stores_holding_the_same_lines_agree_with_their_counts_per_day() {
        let same = [(1, "a"), (1, "b"), (2, "c")];
        let found = compare(
            all_range(),
            vec![
                (Store::Lake, lines(&same)),
                (Store::Dynamodb, lines(&same)),
                (Store::Redshift, lines(&same)),
            ],
        );
        assert!(found.agrees());
        assert_eq!(found.checked, Store::ALL.to_vec());
        assert_eq!(found.days.len(), 2);
        assert_eq!(found.days[0].day, d(1));
        assert_eq!(
            found.days[0].counts,
            BTreeMap::from([(Store::Lake, 2), (Store::Dynamodb, 2), (Store::Redshift, 2)])
        );
        assert_eq!(found.days[1].counts[&Store::Redshift], 1);
    }

    #[test]
    fn a_line_missing_from_one_store_is_named_with_that_store() {
        let found = compare(
            all_range(),
            vec![
                (Store::Lake, lines(&[(1, "a"), (1, "b")])),
                (Store::Dynamodb, lines(&[(1, "a")])),
                (Store::Redshift, lines(&[(1, "a"), (1, "b")])),
            ],
        );
        assert!(!found.agrees());
        assert_eq!(
            found.days[0].missing,
            vec![Missing {
                line_id: "b".into(),
                missing_from: vec![Store::Dynamodb],
            }]
        );
        assert_eq!(found.days[0].counts[&Store::Dynamodb], 1);
        assert_eq!((found.missing(), found.duplicated()), (1, 0));
    }

    #[test]
    fn a_line_held_twice_by_the_lake_is_a_duplicate_and_counted_twice() {
        let found = compare(
            all_range(),
            vec![
                (Store::Lake, lines(&[(1, "a"), (1, "a"), (1, "b")])),
                (Store::Dynamodb, lines(&[(1, "a"), (1, "b")])),
            ],
        );
        assert!(!found.agrees());
        assert_eq!(found.days[0].counts[&Store::Lake], 3);
        assert!(found.days[0].missing.is_empty());
        assert_eq!(
            found.days[0].duplicated,
            vec![Duplicated {
                line_id: "a".into(),
                store: Store::Lake,
                times: 2,
            }]
        );
    }

    #[test]
    fn a_day_only_one_store_holds_is_missing_from_the_others_with_zero_counts() {
        let found = compare(
            all_range(),
            vec![
                (Store::Lake, lines(&[(1, "a"), (2, "b")])),
                (Store::Dynamodb, lines(&[(1, "a")])),
                (Store::Redshift, lines(&[(1, "a")])),
            ],
        );
        let day2 = &found.days[1];
        assert_eq!(day2.day, d(2));
        assert_eq!(
            day2.counts,
            BTreeMap::from([(Store::Lake, 1), (Store::Dynamodb, 0), (Store::Redshift, 0)])
        );
        assert_eq!(
            day2.missing[0].missing_from,
            vec![Store::Dynamodb, Store::Redshift]
        );
    }

    #[test]
    fn an_empty_range_agrees_with_no_days() {
        let found = compare(
            all_range(),
            vec![
                (Store::Lake, lines(&[])),
                (Store::Dynamodb, lines(&[])),
                (Store::Redshift, lines(&[])),
            ],
        );
        assert!(found.agrees());
        assert!(found.days.is_empty());
        assert_eq!((found.missing(), found.duplicated()), (0, 0));
    }

    #[test]
    fn lines_outside_the_range_are_left_out() {
        let range = DayRange {
            from: Some(d(2)),
            to: Some(d(2)),
        };
        let found = compare(
            range,
            vec![
                (Store::Lake, lines(&[(1, "a"), (2, "b"), (3, "c")])),
                (Store::Dynamodb, lines(&[(2, "b")])),
            ],
        );
        assert!(found.agrees());
        assert_eq!(found.days.len(), 1);
        assert_eq!(found.days[0].day, d(2));
    }

    #[test]
    fn a_store_not_checked_is_named_with_its_reason_and_takes_no_part() {
        let found = compare(
            all_range(),
            vec![
                (Store::Redshift, Read::NotChecked("--skip-redshift".into())),
                (Store::Lake, lines(&[(1, "a")])),
                (Store::Dynamodb, lines(&[(1, "a")])),
            ],
        );
        assert!(found.agrees());
        assert_eq!(found.checked, vec![Store::Lake, Store::Dynamodb]);
        assert_eq!(
            found.not_checked,
            vec![NotChecked {
                store: Store::Redshift,
                reason: "--skip-redshift".into(),
            }]
        );
        assert!(!found.days[0].counts.contains_key(&Store::Redshift));
    }

    #[test]
    fn json_names_stores_in_lowercase_and_days_as_dates() {
        let found = compare(
            all_range(),
            vec![
                (Store::Lake, lines(&[(1, "a"), (1, "a")])),
                (Store::Dynamodb, lines(&[])),
            ],
        );
        let json = serde_json::to_value(&found).unwrap();
        assert_eq!(json["days"][0]["day"], "2010-12-01");
        assert_eq!(json["days"][0]["counts"]["lake"], 2);
        assert_eq!(json["days"][0]["missing"][0]["missingFrom"][0], "dynamodb");
        assert_eq!(json["days"][0]["duplicated"][0]["times"], 2);
        assert_eq!(json["range"]["from"], serde_json::Value::Null);
    }
}
