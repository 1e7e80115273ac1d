//! The operator's repair commands: `replay` (everything saved as failed,
//! and every batch the stream mappings gave up on, back into its store) and `reimport` (days of the lake into the
//! warehouse again). Both are idempotent by construction: they re-drive
//! the path that failed (a writer function, the warehouse merge), and
//! every store replaces by line id (architecture.md, delivery semantics).
//!
//! Every name they use (buckets, functions, cluster, secret, COPY role)
//! comes from the deployed stacks' outputs ([`stage`]), so a warehouse in
//! another account, with its own cluster and COPY role, needs no change
//! here.

pub mod failed;
pub mod objects;
pub mod on_failure;
pub mod reimport;
pub mod replay;
pub mod stage;
pub mod warehouse;
