//! Planning a month of lake partitions: time and peak heap.
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
//! It prints the planning time and the heap's peak while planning
//! (counted by a global allocator), for a week and for a month: the peak
//! must not grow with the listing. It fails if the month takes a second or
//! more, or the peak exceeds 4 MB.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use warehouse_loader::plan::{LakeObject, Limits, Mode, Planner};

/// Counts the heap in use and its peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const EVENTS_PER_HOUR: u64 = 1_000_000;
const EVENTS_PER_OBJECT: u64 = 1_000;
const SHARDS: u64 = 2;
const SLICES: usize = 4;
const TIME_LIMIT: Duration = Duration::from_secs(1);
const HEAP_LIMIT: usize = 4 * 1024 * 1024;

struct Outcome {
    objects: u64,
    loads: usize,
    smallest_load: usize,
    elapsed: Duration,
    peak_heap: usize,
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

    let baseline = IN_USE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
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
        peak_heap: PEAK.load(Ordering::Relaxed) - baseline,
    }
}

fn main() {
    let week = plan(7);
    let month = plan(30);
    for (name, outcome) in [("week", &week), ("month", &month)] {
        println!(
            "plan_month: a {name}: {} objects ({} M events) in {} loads (smallest {}) planned in \
             {:.0} ms, peak heap {} KB",
            outcome.objects,
            outcome.objects * EVENTS_PER_OBJECT / 1_000_000,
            outcome.loads,
            outcome.smallest_load,
            outcome.elapsed.as_secs_f64() * 1000.0,
            outcome.peak_heap / 1024
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
        month.peak_heap <= HEAP_LIMIT,
        "planning a month peaked at {} bytes of heap",
        month.peak_heap
    );
    // Bounded: a month's listing needs no more than a week's.
    assert!(
        month.peak_heap <= week.peak_heap + week.peak_heap / 10,
        "the peak grew with the listing: {} (week) -> {} (month)",
        week.peak_heap,
        month.peak_heap
    );
}
