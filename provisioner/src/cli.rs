//! The command line: arguments and dispatch to the command modules.

use clap::{Parser, Subcommand};

use crate::failure::CommandResult;

#[derive(Debug, Parser)]
#[command(name = "provisioner", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {}

pub fn run(cli: Cli) -> CommandResult {
    match cli.command {}
}
