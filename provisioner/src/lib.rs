//! `provisioner`: synthesise, deploy and operate the e-commerce data platform.
//!
//! The binary (`main.rs`) only parses arguments and prints the final error;
//! everything else is this library, so tests call commands as functions and
//! capture what a user would see. Declare new modules here, not in `main.rs`.
//! The modules that talk to AWS are the `aws` feature's (on by default):
//! without it, the CLI is synth, list, graph, completions and man.

#[cfg(feature = "aws")]
pub mod accounts;
pub mod assets;
#[cfg(feature = "aws")]
pub mod aws;
pub mod cli;
pub mod commands;
#[cfg(feature = "aws")]
pub mod deploy;
pub mod failure;
pub mod interrupt;
#[cfg(feature = "aws")]
pub mod local;
pub mod output;
pub mod pipe;
#[cfg(feature = "aws")]
pub mod preflight;
#[cfg(feature = "aws")]
pub mod reconcile;
#[cfg(feature = "aws")]
pub mod repair;
#[cfg(feature = "aws")]
pub mod send;
pub mod stage;
pub mod synth_output;
#[cfg(feature = "aws")]
pub mod verify;
