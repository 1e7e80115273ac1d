//! Wall times of deploy against a local emulator (moto): full deploy, no-op
//! redeploy of every stack (target: under 1 s), a one-function update, and
//! destroy, each through the `provisioner` binary as a user runs it.
//!
//! `cargo bench -p provisioner --bench deploy_emulator`. Prints the median
//! of several rounds; exits non-zero when the no-op redeploy misses its
//! target.

#[path = "../tests/integration/support.rs"]
mod support;

use std::time::Duration;

use support::{Moto, deploy_args, strs, write_fixture};

const ROUNDS: usize = 5;
const NO_OP_TARGET: Duration = Duration::from_secs(1);

fn median(mut seconds: Vec<f64>) -> f64 {
    seconds.sort_by(f64::total_cmp);
    seconds[seconds.len() / 2]
}

fn main() {
    let moto = Moto::start();
    let synth = tempfile::tempdir().expect("a temporary folder");
    let dir = synth.path();
    let destroy = [
        "destroy",
        "--stage",
        "dev",
        "--synth-dir",
        dir.to_str().expect("a UTF-8 path"),
        "--force",
    ];
    let (mut deploys, mut no_ops, mut updates, mut destroys) = (vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        write_fixture(dir, "ingest v1", "v1");
        let args = deploy_args(dir);
        // The first round also bootstraps; it is not counted.
        let first = moto.run(&strs(&args)).ok();
        if round > 0 {
            deploys.push(first.seconds);
        }
        no_ops.push(moto.run(&strs(&args)).ok().seconds);
        write_fixture(dir, &format!("ingest v{}", round + 2), "v1");
        updates.push(moto.run(&strs(&args)).ok().seconds);
        destroys.push(moto.run(&destroy).ok().seconds);
    }
    let no_op = median(no_ops);
    println!("deploy against moto, 4 stacks, median of {ROUNDS} rounds:");
    println!("  full deploy            {:.3} s", median(deploys));
    println!(
        "  no-op redeploy         {no_op:.3} s (target < {:.1} s)",
        NO_OP_TARGET.as_secs_f64()
    );
    println!("  one-function update    {:.3} s", median(updates));
    println!("  destroy                {:.3} s", median(destroys));
    if no_op >= NO_OP_TARGET.as_secs_f64() {
        eprintln!("no-op redeploy missed its target");
        std::process::exit(1);
    }
}
