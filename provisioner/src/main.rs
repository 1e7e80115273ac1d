//! `provisioner`: synthesise, deploy and operate the e-commerce data platform.
//!
//! `main` parses the command line and dispatches; each command lives in its
//! own module and writes to the writer it is given, so tests capture exactly
//! what a user sees. Errors are printed once, here, with their hint.

mod cli;
mod failure;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::from(failure.code as u8)
        }
    }
}
