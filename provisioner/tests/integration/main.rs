//! The CLI's behaviour tests, one module per area, in one test binary.
//! Each test binary links the whole CLI and the AWS SDK: after an edit to
//! the CLI, its test targets rebuilt in 103 CPU-seconds as fourteen
//! binaries and in 58 as this one; and the areas' tests now run side by
//! side, not one binary after another (issue 15). `tests/e2e_local.rs`,
//! the end-to-end run on fakecloud, stays a binary of its own:
//! `scripts/test` runs it beside this one.

mod support;

mod assets;
mod assets_platform;
mod cli;
mod deploy_engine;
mod doctor;
mod e2e_moto;
mod e2e_two_accounts;
mod hotswap;
mod reconcile;
mod repair;
mod self_contained;
mod send;
mod shared_build;
mod synth;
mod verify;
