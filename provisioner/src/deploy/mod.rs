//! Deploying synthesised stacks to CloudFormation: one deploy's steps
//! (`pipeline`: plan, `approval`, `upload`, `report`, `outputs`), the
//! per-stack state machine (`engine`) over a thin CloudFormation interface (`cfn`), the
//! order and parallelism of stacks (`schedule`), the asset bucket
//! (`toolkit`, `upload`), template differences and the changes that broaden
//! access (`diff`), and how progress is shown (`progress`).

pub mod approval;
pub mod cfn;
pub mod diff;
pub mod engine;
pub mod error;
pub mod exports;
pub mod hotswap;
pub mod outputs;
pub mod patience;
pub mod pipeline;
pub mod plan;
pub mod progress;
pub mod replacement;
pub mod report;
pub mod schedule;
pub mod status;
pub mod token;
pub mod toolkit;
pub mod upload;
pub mod watch;
