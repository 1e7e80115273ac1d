//! One module per command. Each takes its arguments and the writer it
//! prints to, and returns `CommandResult`.

pub mod graph;
pub mod list;
pub mod synth;
pub mod synth_output;
