//! Planning the loads of one run (pure: no I/O).
//!
//! The planner is fed the lake's `raw/date=D/` objects in key order (the
//! order S3 lists them: day by day) and cuts them into loads, each one
//! COPY (of a manifest of its keys) and one merge, as it goes: it never
//! holds more than two loads, whatever the number of objects listed.
//!
//! Which objects: in a scheduled run, an object of day `D` is pending when
//! it was written after the run that last completed `D` (its `loaded_through`
//! in the loads table) and at or before this run's `cutoff`; a run given a
//! range of days takes every object of those days up to the cutoff. The
//! cutoff is the run's start minus [`SETTLE_SECONDS`]: an object's
//! `LastModified` is when its upload began, and it is listed once the
//! upload completes, so an object is only judged once every upload that
//! began before it has had time to complete.
//!
//! Which loads: at most [`Limits::max_objects`] objects each, a multiple of
//! the cluster's slices, so every slice of the cluster has files to load in
//! parallel (<https://docs.aws.amazon.com/redshift/latest/dg/c_best-practices-use-multiple-files.html>);
//! loads span days, so the small partitions of a quiet hour are loaded
//! together instead of one COPY each with idle slices. A last load smaller
//! than the slices joins the one before it. Only a run with fewer pending
//! objects than slices has a COPY some slices sit out: the lake's objects
//! are loaded as they are, never split.
//!
//! What is recorded: a day is complete in the load holding its last
//! pending object; that load records the day as loaded through the cutoff,
//! in its own transaction. A run that stops half-way through a day records
//! nothing for it, and the next run loads the day's objects again: the
//! merge by `line_id` makes that a replacement, not a duplicate.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

/// Seconds between an object's `LastModified` and the cutoff that may
/// judge it: longer than any upload of the lake writer (its Lambda timeout
/// is 120 s), with room to spare.
pub const SETTLE_SECONDS: i64 = 300;

/// Where the valid lines are, by invoice date: `raw/date=YYYY-MM-DD/`.
pub const RAW_PREFIX: &str = "raw/date=";

/// One object the lake lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeObject {
    pub key: String,
    /// Seconds since the epoch.
    pub last_modified: i64,
}

/// What the loads table says about one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayState {
    /// Every object of the day written at or before this instant (seconds
    /// since the epoch) is loaded.
    pub loaded_through: i64,
    /// The newest object of the day the completing run saw.
    pub newest_object: i64,
}

/// Which days a run loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// What the loads table does not have yet.
    Scheduled,
    /// Every object of these days again (both included).
    Days { from: NaiveDate, to: NaiveDate },
}

/// The shape of the loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The cluster's slices (node type × nodes).
    pub slices: usize,
    /// Objects per load: a multiple of `slices`.
    pub max_objects: usize,
    /// Days per load: each completed day is one row of the load's `INSERT`
    /// into the loads table, which must fit a Data API statement.
    pub max_days: usize,
}

impl Limits {
    /// Files each slice loads per COPY: enough that a backlog moves in few
    /// transactions, few enough that one COPY stays minutes long.
    pub const OBJECTS_PER_SLICE: usize = 256;
    /// About 40 bytes of `VALUES` per day: far inside the Data API's
    /// 100 KB statement.
    pub const MAX_DAYS: usize = 400;

    pub fn for_slices(slices: usize) -> Limits {
        let slices = slices.max(1);
        Limits {
            slices,
            max_objects: slices * Self::OBJECTS_PER_SLICE,
            max_days: Self::MAX_DAYS,
        }
    }
}

/// A day the load completes: recorded as loaded through the cutoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedDay {
    pub day: NaiveDate,
    /// Objects of the day this run loaded (in this load and earlier ones).
    pub objects: u64,
    pub newest_object: i64,
}

/// One COPY and merge: the objects, and the days it completes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Load {
    pub keys: Vec<String>,
    pub completed: Vec<CompletedDay>,
    days: BTreeSet<NaiveDate>,
}

impl Load {
    /// The days of its objects.
    pub fn days(&self) -> &BTreeSet<NaiveDate> {
        &self.days
    }

    fn push(&mut self, key: String, day: NaiveDate) {
        self.keys.push(key);
        self.days.insert(day);
    }

    fn absorb(&mut self, other: Load) {
        self.keys.extend(other.keys);
        self.completed.extend(other.completed);
        self.days.extend(other.days);
    }
}

/// What the planner saw, for the run's summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    pub objects: u64,
    pub pending: u64,
    /// Written after the cutoff: the next run's.
    pub too_recent: u64,
    /// Keys under `raw/` that are not `raw/date=YYYY-MM-DD/...`.
    pub unrecognised: u64,
}

/// The day being read: its pending objects so far.
#[derive(Debug, Clone, Copy)]
struct DayProgress {
    day: NaiveDate,
    pending: u64,
    newest_object: i64,
}

/// Cuts listed objects into loads (see the module documentation).
#[derive(Debug)]
pub struct Planner<'a> {
    state: &'a BTreeMap<NaiveDate, DayState>,
    mode: Mode,
    cutoff: i64,
    limits: Limits,
    current: Load,
    /// The last full load, held until the next one fills: a remainder
    /// smaller than the slices joins it.
    held: Option<Load>,
    day: Option<DayProgress>,
    seen: Seen,
}

impl<'a> Planner<'a> {
    pub fn new(
        state: &'a BTreeMap<NaiveDate, DayState>,
        mode: Mode,
        cutoff: i64,
        limits: Limits,
    ) -> Self {
        Planner {
            state,
            mode,
            cutoff,
            limits,
            current: Load::default(),
            held: None,
            day: None,
            seen: Seen::default(),
        }
    }

    /// Takes the next listed object (in key order); returns a load when
    /// one is ready to run.
    pub fn push(&mut self, object: LakeObject) -> Option<Load> {
        self.seen.objects += 1;
        let Some(day) = partition_day(&object.key) else {
            self.seen.unrecognised += 1;
            return None;
        };
        if self.day.is_some_and(|progress| progress.day != day) {
            self.complete_day();
        }
        let progress = self.day.get_or_insert(DayProgress {
            day,
            pending: 0,
            newest_object: i64::MIN,
        });
        if object.last_modified > self.cutoff {
            self.seen.too_recent += 1;
            return None;
        }
        let pending = match self.mode {
            Mode::Scheduled => self
                .state
                .get(&day)
                .is_none_or(|state| object.last_modified > state.loaded_through),
            Mode::Days { from, to } => (from..=to).contains(&day),
        };
        if !pending {
            return None;
        }
        self.seen.pending += 1;
        progress.pending += 1;
        progress.newest_object = progress.newest_object.max(object.last_modified);
        self.current.push(object.key, day);
        let full = self.current.keys.len() >= self.limits.max_objects
            || self.current.days.len() >= self.limits.max_days;
        if full {
            let cut = std::mem::take(&mut self.current);
            return self.held.replace(cut);
        }
        None
    }

    /// Ends the listing: the loads still to run, in order.
    pub fn finish(mut self) -> (Vec<Load>, Seen) {
        self.complete_day();
        let mut loads = Vec::new();
        match (self.held.take(), self.current) {
            (Some(mut held), current) if current.keys.len() < self.limits.slices => {
                held.absorb(current);
                loads.push(held);
            }
            (held, current) => {
                loads.extend(held);
                if !current.keys.is_empty() {
                    loads.push(current);
                }
            }
        }
        (loads, self.seen)
    }

    /// Records the day being read in the load holding its last pending
    /// object: the current one, or the held one when the day's last object
    /// filled it.
    fn complete_day(&mut self) {
        let Some(progress) = self.day.take() else {
            return;
        };
        if progress.pending == 0 {
            return;
        }
        let completed = CompletedDay {
            day: progress.day,
            objects: progress.pending,
            newest_object: progress.newest_object,
        };
        let target = if self.current.keys.is_empty() {
            self.held
                .as_mut()
                .expect("a day with pending objects put them in a load")
        } else {
            &mut self.current
        };
        target.completed.push(completed);
    }
}

/// The day of `raw/date=YYYY-MM-DD/...`, `None` for any other key.
pub fn partition_day(key: &str) -> Option<NaiveDate> {
    let rest = key.strip_prefix(RAW_PREFIX)?;
    let (date, name) = rest.split_once('/')?;
    if name.is_empty() {
        return None;
    }
    NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2010, 12, d).unwrap()
    }

    fn object(d: u32, n: u32, last_modified: i64) -> LakeObject {
        LakeObject {
            key: format!("raw/date=2010-12-{d:02}/shardId-000000000000-{n:05}.jsonl"),
            last_modified,
        }
    }

    fn limits(slices: usize, max_objects: usize) -> Limits {
        Limits {
            slices,
            max_objects,
            max_days: 400,
        }
    }

    fn plan(
        state: &BTreeMap<NaiveDate, DayState>,
        mode: Mode,
        limits: Limits,
        objects: Vec<LakeObject>,
    ) -> (Vec<Load>, Seen) {
        let mut planner = Planner::new(state, mode, 1_000, limits);
        let mut loads: Vec<Load> = objects
            .into_iter()
            .filter_map(|o| planner.push(o))
            .collect();
        let (rest, seen) = planner.finish();
        loads.extend(rest);
        (loads, seen)
    }

    #[test]
    fn only_objects_written_since_the_day_was_last_completed_and_before_the_cutoff_are_pending() {
        let state = BTreeMap::from([(
            day(1),
            DayState {
                loaded_through: 500,
                newest_object: 480,
            },
        )]);
        let (loads, seen) = plan(
            &state,
            Mode::Scheduled,
            limits(2, 512),
            vec![
                object(1, 1, 400),   // loaded by the run that completed the day
                object(1, 2, 600),   // written since: pending
                object(1, 3, 1_001), // after the cutoff: the next run's
                object(2, 1, 900),   // a day never loaded
            ],
        );
        assert_eq!(loads.len(), 1);
        assert_eq!(
            loads[0].keys,
            vec![
                "raw/date=2010-12-01/shardId-000000000000-00002.jsonl",
                "raw/date=2010-12-02/shardId-000000000000-00001.jsonl"
            ]
        );
        assert_eq!(
            loads[0].completed,
            vec![
                CompletedDay {
                    day: day(1),
                    objects: 1,
                    newest_object: 600
                },
                CompletedDay {
                    day: day(2),
                    objects: 1,
                    newest_object: 900
                },
            ]
        );
        assert_eq!(
            seen,
            Seen {
                objects: 4,
                pending: 2,
                too_recent: 1,
                unrecognised: 0
            }
        );
    }

    #[test]
    fn a_range_of_days_is_loaded_whole_whatever_the_loads_table_says() {
        let state = BTreeMap::from([(
            day(2),
            DayState {
                loaded_through: 999,
                newest_object: 999,
            },
        )]);
        let (loads, _) = plan(
            &state,
            Mode::Days {
                from: day(2),
                to: day(2),
            },
            limits(1, 512),
            vec![
                object(1, 1, 10),
                object(2, 1, 10),
                object(2, 2, 20),
                object(3, 1, 10),
            ],
        );
        assert_eq!(loads.len(), 1);
        assert_eq!(loads[0].keys.len(), 2);
        assert_eq!(loads[0].days(), &BTreeSet::from([day(2)]));
        assert_eq!(loads[0].completed[0].objects, 2);
    }

    #[test]
    fn loads_are_multiples_of_the_slices_and_a_small_remainder_joins_the_last_load() {
        // 4 slices, 8 objects a load: 8 + 8 + 3 objects -> 8 and 11.
        let objects: Vec<LakeObject> = (0..19).map(|n| object(1 + n / 10, n, 10)).collect();
        let (loads, _) = plan(&BTreeMap::new(), Mode::Scheduled, limits(4, 8), objects);
        let sizes: Vec<usize> = loads.iter().map(|l| l.keys.len()).collect();
        assert_eq!(sizes, vec![8, 11]);
        assert!(
            loads.iter().all(|l| l.keys.len() >= 4),
            "every slice gets a file"
        );
        // A remainder of at least the slices is a load of its own.
        let objects: Vec<LakeObject> = (0..20).map(|n| object(1, n, 10)).collect();
        let (loads, _) = plan(&BTreeMap::new(), Mode::Scheduled, limits(4, 8), objects);
        let sizes: Vec<usize> = loads.iter().map(|l| l.keys.len()).collect();
        assert_eq!(sizes, vec![8, 8, 4]);
    }

    #[test]
    fn small_partitions_share_a_load_and_each_day_completes_in_the_load_of_its_last_object() {
        // Days of 3 objects, 8 objects a load: day 3 spans the cut.
        let objects: Vec<LakeObject> = (0..12).map(|n| object(1 + n / 3, n, 10)).collect();
        let (loads, _) = plan(&BTreeMap::new(), Mode::Scheduled, limits(2, 8), objects);
        assert_eq!(loads.len(), 2);
        assert_eq!(loads[0].keys.len(), 8);
        let completed = |load: &Load| load.completed.iter().map(|c| c.day).collect::<Vec<_>>();
        assert_eq!(completed(&loads[0]), vec![day(1), day(2)]);
        assert_eq!(completed(&loads[1]), vec![day(3), day(4)]);
        assert_eq!(loads[1].completed[0].objects, 3, "counted over both loads");
        // A day whose last object fills a load completes in that load.
        let objects: Vec<LakeObject> = (0..8).map(|n| object(1 + n / 4, n, 10)).collect();
        let (loads, _) = plan(&BTreeMap::new(), Mode::Scheduled, limits(2, 8), objects);
        assert_eq!(loads.len(), 1);
        assert_eq!(completed(&loads[0]), vec![day(1), day(2)]);
    }

    #[test]
    fn a_load_holds_at_most_max_days_days() {
        let objects: Vec<LakeObject> = (0..5).map(|n| object(1 + n, 0, 10)).collect();
        let limits = Limits {
            slices: 1,
            max_objects: 100,
            max_days: 2,
        };
        let (loads, _) = plan(&BTreeMap::new(), Mode::Scheduled, limits, objects);
        let days: Vec<usize> = loads.iter().map(|l| l.days().len()).collect();
        assert_eq!(days, vec![2, 2, 1]);
    }

    #[test]
    fn keys_outside_the_day_partitions_are_counted_not_loaded() {
        let objects = vec![
            LakeObject {
                key: "raw/date=2010-13-01/x.jsonl".into(),
                last_modified: 1,
            },
            LakeObject {
                key: "raw/date=2010-12-01/".into(),
                last_modified: 1,
            },
            object(1, 1, 1),
        ];
        let (loads, seen) = plan(&BTreeMap::new(), Mode::Scheduled, limits(1, 8), objects);
        assert_eq!(seen.unrecognised, 2);
        assert_eq!(loads[0].keys.len(), 1);
    }

    #[test]
    fn nothing_pending_is_no_load() {
        let (loads, seen) = plan(
            &BTreeMap::new(),
            Mode::Scheduled,
            limits(1, 8),
            vec![object(1, 1, 5_000)],
        );
        assert!(loads.is_empty());
        assert_eq!(seen.too_recent, 1);
    }

    #[test]
    fn the_default_limits_give_each_slice_the_same_number_of_files() {
        let limits = Limits::for_slices(4);
        assert_eq!(limits.max_objects % limits.slices, 0);
        assert_eq!(limits.max_objects, 1024);
        assert_eq!(Limits::for_slices(0).slices, 1);
    }
}
