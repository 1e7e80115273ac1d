//! Synth of the whole platform, in memory: every stage rendered to JSON.
//! Target (issue 2): the CLI synth, Lambda builds cached, under 20 ms on
//! 2 cores; this is the pure part of it.

use criterion::{Criterion, criterion_group, criterion_main};
use stacks::stage::Stage;

fn synth_platform(c: &mut Criterion) {
    let assets = stacks::testing::platform_assets();
    let prod = Stage::named("prod").expect("prod is a stage");
    c.bench_function("synth prod platform", |b| {
        b.iter(|| stacks::platform::synth(std::hint::black_box(prod), &assets).expect("synth"))
    });
}

criterion_group!(benches, synth_platform);
criterion_main!(benches);
