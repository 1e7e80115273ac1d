//! One module per command. Each takes its arguments and the writer it
//! prints to, and returns `CommandResult`.

pub mod list;
pub mod synth;
