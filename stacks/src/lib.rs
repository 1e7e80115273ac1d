//! `stacks`: the pure half of `provisioner`.
//!
//! A typed CloudFormation model (`model`), the IAM policy templates
//! (`policies`), stage configuration (`stage`) and the e-commerce data
//! platform's stacks (`platform`). Nothing here talks to AWS or touches the
//! file system: synth is a pure function from a stage and the Lambda asset
//! hashes to templates and a manifest.

pub mod assets;
pub mod graph;
pub mod manifest;
pub mod model;
pub mod platform;
pub mod policies;
pub mod stage;
pub mod testing;
pub mod toolkit;
