//! Wall time of `provisioner synth --stage prod` as a user runs it: the
//! release binary started directly (not through `cargo run`), with every
//! Lambda asset already cached, writing a fresh output folder each run;
//! then of `provisioner list --stage prod`, which builds nothing.
//!
//! `cargo bench -p provisioner --bench synth_cli [-- RUNS]`. The first run
//! warms the asset cache (it may build the functions) and is not counted;
//! prints the median, p90 and the fastest of the rest of each command, and
//! exits non-zero when a median misses its target or two runs' outputs
//! differ.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const DEFAULT_RUNS: usize = 50;
/// The goals of the "lean and fast" issue: synth under 5 ms, list under 10.
const SYNTH_TARGET: Duration = Duration::from_millis(5);
const LIST_TARGET: Duration = Duration::from_millis(10);

fn synth(root: &Path, out: &Path) -> Duration {
    let out = out.to_str().expect("a UTF-8 temporary path");
    provisioner(root, &["synth", "--stage", "prod", "--out", out])
}

/// The wall time of one `provisioner <args>`, which must succeed.
fn provisioner(root: &Path, args: &[&str]) -> Duration {
    let start = Instant::now();
    let run = Command::new(env!("CARGO_BIN_EXE_provisioner"))
        .args(args)
        .current_dir(root)
        .output()
        .expect("running provisioner");
    let elapsed = start.elapsed();
    assert!(
        run.status.success(),
        "provisioner {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&run.stderr)
    );
    elapsed
}

/// Prints the median, p90 and fastest of `times`; whether the median is
/// under `target`.
fn report(what: &str, mut times: Vec<Duration>, target: Duration) -> bool {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = times[times.len() / 2];
    println!(
        "{what}, release binary, assets cached, {} runs: median {:.2} ms, p90 {:.2} ms, fastest {:.2} ms (target < {} ms)",
        times.len(),
        ms(median),
        ms(times[times.len() * 9 / 10]),
        ms(times[0]),
        target.as_millis()
    );
    median < target
}

fn read_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("listing synth output") {
            let path = entry.expect("listing synth output").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                files.push((name, std::fs::read(&path).expect("reading synth output")));
            }
        }
    }
    files.sort();
    files
}

fn main() -> ExitCode {
    let runs = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse::<usize>().ok())
        .unwrap_or(DEFAULT_RUNS)
        .max(3);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let scratch = tempfile::tempdir().expect("a temporary folder");
    let first = scratch.path().join("first");
    synth(root, &first); // warms the asset cache; not counted
    let out = scratch.path().join("out");
    let synth_times: Vec<Duration> = (0..runs).map(|_| synth(root, &out)).collect();
    let list_times: Vec<Duration> = (0..runs)
        .map(|_| provisioner(root, &["list", "--stage", "prod"]))
        .collect();
    let mut passed = report("synth --stage prod", synth_times, SYNTH_TARGET);
    passed &= report("list --stage prod", list_times, LIST_TARGET);
    if read_tree(&first) != read_tree(&out) {
        eprintln!("two synth runs wrote different output");
        return ExitCode::FAILURE;
    }
    if !passed {
        eprintln!("a median missed its target");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
