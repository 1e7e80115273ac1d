//! One module per command. Each takes its arguments and the writer it
//! prints to, and returns `CommandResult`.

#[cfg(feature = "aws")]
pub mod bootstrap;
#[cfg(feature = "aws")]
pub mod deploy;
#[cfg(feature = "aws")]
pub mod destroy;
#[cfg(feature = "aws")]
pub mod diff;
#[cfg(feature = "aws")]
pub mod doctor;
pub mod graph;
pub mod list;
#[cfg(feature = "aws")]
pub mod reconcile;
#[cfg(feature = "aws")]
pub mod reimport;
#[cfg(feature = "aws")]
pub mod replay;
#[cfg(feature = "aws")]
pub mod send;
#[cfg(feature = "aws")]
pub mod session;
pub mod synth;
#[cfg(feature = "aws")]
pub mod verify;
