//! The typed CloudFormation model. It knows nothing of the platform.
//!
//! A stack is built from typed resources (`ec2::Vpc`, `iam::Role`, …, one
//! module per service); `Stack::add` returns a `Handle` whose getters are
//! the resource's attributes. `App::synth` renders every stack, turning
//! references across stacks into exports and imports with reasons.

mod app;
mod logical_id;
mod resource;
mod stack;
mod template;
mod value;

pub mod apigateway;
pub mod cloudformation;
pub mod cloudwatch;
pub mod dynamodb;
pub mod ec2;
pub mod events;
pub mod glue;
pub mod iam;
pub mod kinesis;
pub mod kinesisfirehose;
pub mod kms;
pub mod lambda;
pub mod logs;
pub mod redshift;
pub mod s3;
pub mod secretsmanager;
pub mod sns;
pub mod sqs;
pub mod tags;

pub use app::{App, SynthError, SynthesizedStack, limits};
pub use logical_id::LogicalId;
pub(crate) use resource::resource;
pub use resource::{DeletionPolicy, Handle, Options, Resource};
pub use stack::Stack;
pub use template::{ExportDef, OutputDef, ParameterDef, ResourceDef, Template, sorted_keys};
pub use value::{Expr, Pseudo, Target, Value, opt};

/// Errors while building a stack.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("invalid logical id {id:?}: {reason}; use ASCII letters and digits only")]
    InvalidLogicalId { id: String, reason: String },
    #[error("{stack}/{id} is defined twice; logical ids must be unique in a stack")]
    Duplicate { stack: String, id: String },
    #[error("{stack}/{id}: properties cannot be serialised: {message}")]
    Properties {
        stack: String,
        id: String,
        message: String,
    },
    #[error(
        "{stack}/{id} depends on {target} in another stack; DependsOn works within a stack, \
         across stacks the order comes from references"
    )]
    CrossStackDependsOn {
        stack: String,
        id: String,
        target: String,
    },
    #[error("{stack}: condition {condition} is not defined; add it with Stack::condition first")]
    UnknownCondition { stack: String, condition: String },
}
