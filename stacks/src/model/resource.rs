//! Resources, handles to them, and their per-resource options.

use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;

use super::value::{Expr, Target};

/// A typed CloudFormation resource: its properties struct serialises to the
/// `Properties` object.
pub trait Resource: Serialize {
    /// The CloudFormation type, e.g. `AWS::EC2::VPC`.
    const TYPE: &'static str;
}

/// A resource added to a stack. Typed attribute getters live on
/// `Handle<R>` for each `R`, so referencing an attribute the resource does
/// not have does not compile.
pub struct Handle<R> {
    target: Target,
    _resource: PhantomData<fn() -> R>,
}

impl<R> Handle<R> {
    pub(crate) fn new(stack: &str, resource: &str) -> Self {
        Self {
            target: Target {
                stack: stack.to_string(),
                resource: resource.to_string(),
            },
            _resource: PhantomData,
        }
    }

    /// `Ref` of the resource (what it returns depends on the type; each
    /// type also has a named getter such as `vpc.id()`).
    pub fn reference(&self) -> Expr {
        Expr::Ref(self.target.clone())
    }

    /// `Fn::GetAtt`; used by the typed getters.
    pub(crate) fn attribute(&self, name: &'static str) -> Expr {
        Expr::GetAtt(self.target.clone(), name)
    }

    pub fn logical_id(&self) -> &str {
        &self.target.resource
    }

    pub fn stack(&self) -> &str {
        &self.target.stack
    }
}

impl<R> Clone for Handle<R> {
    fn clone(&self) -> Self {
        Self {
            target: self.target.clone(),
            _resource: PhantomData,
        }
    }
}

impl<R> fmt::Debug for Handle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({}/{})", self.target.stack, self.target.resource)
    }
}

/// What happens to a resource's data when it leaves the template.
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html>
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum DeletionPolicy {
    Delete,
    Retain,
    RetainExceptOnCreate,
    Snapshot,
}

/// Resource attributes other than `Properties`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    pub(crate) depends_on: Vec<Target>,
    pub(crate) deletion_policy: Option<DeletionPolicy>,
    pub(crate) update_replace_policy: Option<DeletionPolicy>,
    pub(crate) condition: Option<String>,
    pub(crate) metadata: Option<serde_json::Value>,
}

impl Options {
    pub fn new() -> Self {
        Self::default()
    }

    /// Explicit ordering within the same stack (across stacks, order comes
    /// from the stack dependency graph).
    pub fn depends_on<R>(mut self, resource: &Handle<R>) -> Self {
        self.depends_on.push(resource.target.clone());
        self
    }

    /// Sets both `DeletionPolicy` and `UpdateReplacePolicy`, so data survives
    /// a replacement as well as a removal.
    pub fn data_policy(mut self, policy: DeletionPolicy) -> Self {
        self.deletion_policy = Some(policy);
        self.update_replace_policy = Some(match policy {
            DeletionPolicy::RetainExceptOnCreate => DeletionPolicy::Retain,
            other => other,
        });
        self
    }

    pub fn condition(mut self, condition: impl Into<String>) -> Self {
        self.condition = Some(condition.into());
        self
    }

    pub fn metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = Some(metadata);
        self
    }
}

/// Declares a resource type and its typed attribute getters:
///
/// ```ignore
/// resource!(Vpc = "AWS::EC2::VPC", ref id, { cidr_block => "CidrBlock" });
/// ```
macro_rules! resource {
    ($name:ident = $type:literal $(, ref $ref_getter:ident)? $(, { $($getter:ident => $attr:literal),* $(,)? })?) => {
        impl $crate::model::Resource for $name {
            const TYPE: &'static str = $type;
        }

        #[allow(dead_code)]
        impl $crate::model::Handle<$name> {
            $(
                #[doc = concat!("`Ref` of the ", stringify!($name), ".")]
                pub fn $ref_getter(&self) -> $crate::model::Expr {
                    self.reference()
                }
            )?
            $($(
                #[doc = concat!("`Fn::GetAtt ", $attr, "`.")]
                pub fn $getter(&self) -> $crate::model::Expr {
                    self.attribute($attr)
                }
            )*)?
        }
    };
}
pub(crate) use resource;
