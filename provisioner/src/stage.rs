//! Which stage a command acts on. Both the command line and the commands
//! resolve it here, so neither imports the other.

use stacks::stage::Stage;

use crate::failure::Failure;

/// The stage called `name`, or a usage error listing the known ones.
pub fn named(name: &str) -> Result<&'static Stage, Failure> {
    Stage::named(name)
        .map_err(|e| Failure::usage(e).hint("stages are defined in stacks/src/stage.rs"))
}
