//! Roles with one inline policy rendered from `policies/`: how every role
//! of the platform is made.

use serde_json::{Value, json};

use crate::model::iam::{InlinePolicy, Role};
use crate::model::{Handle, Options, Stack};
use crate::policies::{self, Policy};

use super::PlatformError;

/// Adds `trust` (a role without policies) with `policy` rendered from
/// `context`. Statements the template allows on `"*"` are listed with
/// their reasons in the role's `Metadata.StarStatements`, for reviewers.
pub fn add_role(
    stack: &mut Stack,
    id: &str,
    trust: Role,
    policy: Policy,
    context: &Value,
) -> Result<Handle<Role>, PlatformError> {
    let document = policies::render(policy, context)?;
    let star_reasons = policies::star_reasons(policy)?;
    let role = Role {
        policies: Some(vec![InlinePolicy {
            policy_name: policy.name().to_string(),
            policy_document: document,
        }]),
        ..trust
    };
    let options = if star_reasons.is_empty() {
        Options::new()
    } else {
        Options::new().metadata(json!({ "StarStatements": star_reasons }))
    };
    Ok(stack.add_with(id, role, options)?)
}
