//! One module per command. Each takes its arguments and the writer it
//! prints to, and returns `CommandResult`.

pub mod bootstrap;
pub mod deploy;
pub mod destroy;
pub mod diff;
pub mod doctor;
pub mod graph;
pub mod list;
pub mod reconcile;
pub mod reimport;
pub mod replay;
pub mod send;
pub mod session;
pub mod synth;
pub mod verify;
