//! `provisioner`: synthesise, deploy and operate the e-commerce data platform.
//!
//! The binary (`main.rs`) only parses arguments and prints the final error;
//! everything else is this library, so tests call commands as functions and
//! capture what a user would see. Declare new modules here, not in `main.rs`.

pub mod accounts;
pub mod assets;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod deploy;
pub mod failure;
pub mod interrupt;
pub mod local;
pub mod output;
pub mod pipe;
pub mod preflight;
pub mod reconcile;
pub mod repair;
pub mod send;
pub mod stage;
pub mod synth_output;
pub mod verify;
