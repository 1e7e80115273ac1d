//! Planning a month of lake partitions: time and peak resident memory.
//!
//! `cargo bench -p warehouse-loader --bench plan_month` feeds the planner
//! the listing of a month of the lake at the platform's volume: about
//! 1 million events an hour, 720 million in 30 days. The lake writer puts
//! one object per day partition of each stream batch (up to 1,000 records,
//! `stacks::platform::streaming::LAKE_READING`), so a month is about
//! 720,000 objects under 30 `raw/date=D/` partitions, listed in key order
//! as S3 answers. The listing is simulated (generated as it is consumed,
//! like S3's pages), the planning is the function's own
//! ([`Planner`]), for a 4-slice cluster (prod-private's 2 × ra3.xlplus).
//!
//! It plans a week, then a month, and prints each one's planning time and
//! the process's peak resident memory after it (`VmHWM`, which only grows):
//! a planner whose memory grew with the listing would raise the peak
//! during the month, four times the week's objects. It fails if the month
//! takes a second or more, if the month raises the peak by more than
//! 1 MB, or if the peak is over 32 MB (the whole process: the runtime, the
//! generated listing's current key, two loads of keys).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use warehouse_loader::plan::{LakeObject, Limits, Mode, Planner};

const EVENTS_PER_HOUR: u64 = 1_000_000;
const EVENTS_PER_OBJECT: u64 = 1_000;
const SHARDS: u64 = 2;
const SLICES: usize = 4;
const TIME_LIMIT: Duration = Duration::from_secs(1);
/// Peak resident memory of the whole process, KiB.
const PEAK_LIMIT_KB: u64 = 32 * 1024;
/// What the month may add to the week's peak, KiB.
const GROWTH_LIMIT_KB: u64 = 1024;

struct Outcome {
    objects: u64,
    loads: usize,
    smallest_load: usize,
    elapsed: Duration,
    /// `VmHWM` after planning, KiB.
    peak_kb: u64,
}

/// Plans `days` days of objects, as listed, and measures it.
fn plan(days: u32) -> Outcome {
    let first = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let per_day_per_shard = EVENTS_PER_HOUR * 24 / EVENTS_PER_OBJECT / SHARDS;
    let now = 1_800_000_000;
    let state = BTreeMap::new();
    let listing = (0..days).flat_map(move |d| {
        let day = first + chrono::Days::new(u64::from(d));
        (0..SHARDS).flat_map(move |shard| {
            (0..per_day_per_shard).map(move |n| LakeObject {
                // Kinesis sequence numbers: 56 digits.
                key: format!(
                    "raw/date={day}/shardId-{shard:012}-{:056}.jsonl",
                    49_000_000_000_000_000u64 + n
                ),
                last_modified: now - 3_600,
            })
        })
    });

    let started = Instant::now();
    let mut planner = Planner::new(&state, Mode::Scheduled, now, Limits::for_slices(SLICES));
    let (mut loads, mut smallest_load) = (0, usize::MAX);
    let mut count = |keys: usize| {
        loads += 1;
        smallest_load = smallest_load.min(keys);
    };
    for object in listing {
        if let Some(load) = planner.push(object) {
            count(load.keys.len());
        }
    }
    let (rest, seen) = planner.finish();
    for load in rest {
        count(load.keys.len());
    }
    Outcome {
        objects: seen.pending,
        loads,
        smallest_load,
        elapsed: started.elapsed(),
        peak_kb: peak_rss_kb(),
    }
}

fn main() {
    let week = plan(7);
    let month = plan(30);
    for (name, outcome) in [("week", &week), ("month", &month)] {
        println!(
            "plan_month: a {name}: {} objects ({} M events) in {} loads (smallest {}) planned in \
             {:.0} ms; peak resident memory {} KB",
            outcome.objects,
            outcome.objects * EVENTS_PER_OBJECT / 1_000_000,
            outcome.loads,
            outcome.smallest_load,
            outcome.elapsed.as_secs_f64() * 1000.0,
            outcome.peak_kb
        );
    }
    assert_eq!(month.objects, 720_000, "a month at 1 M events an hour");
    assert!(
        month.smallest_load >= SLICES,
        "every load gives each slice a file"
    );
    assert!(
        month.elapsed < TIME_LIMIT,
        "planning a month took {:?}",
        month.elapsed
    );
    assert!(
        month.peak_kb <= PEAK_LIMIT_KB,
        "planning a month peaked at {} KB resident",
        month.peak_kb
    );
    // Bounded: a month's listing needs no more than a week's.
    assert!(
        month.peak_kb <= week.peak_kb + GROWTH_LIMIT_KB,
        "the peak grew with the listing: {} KB (week) -> {} KB (month)",
        week.peak_kb,
        month.peak_kb
    );
}

/// The process's peak resident set, in KiB (Linux `VmHWM`).
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}
