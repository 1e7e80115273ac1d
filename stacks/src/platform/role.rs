//! Roles with one inline policy rendered from `policies/`: how every role
//! of the platform is made.

use serde_json::{Value, json};

use crate::model::iam::{InlinePolicy, Role};
use crate::model::{Handle, Options, Stack};
use crate::policies::{self, Policy};

use super::PlatformError;

/// Why each role's policy is inline, for rule sets that flag inline
/// policies (AWS Config and cfn-guard's `IAM_NO_INLINE_POLICY_CHECK`).
pub const INLINE_POLICY_RULE: &str = "IAM_NO_INLINE_POLICY_CHECK";
pub const INLINE_POLICY_REASON: &str = "One policy per role, written for it: inline keeps the \
     strict one-to-one relationship IAM recommends inline policies for (a managed policy could \
     be attached to another role later), is created, updated and deleted with its role in one \
     resource, and has no versions to prune. The document is still reviewed and tested as a \
     file: policies/*.json.hbs. \
     https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-vs-inline.html";

/// Adds `trust` (a role without policies) with `policy` rendered from
/// `context`. Statements the template allows on `"*"` are listed with
/// their reasons in the role's `Metadata.StarStatements`, for reviewers;
/// the inline-policy rule is suppressed with its reason in `Metadata.guard`.
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
    let mut metadata = json!({
        "guard": {
            "SuppressedRules": [INLINE_POLICY_RULE],
            "Reasons": { INLINE_POLICY_RULE: INLINE_POLICY_REASON },
        }
    });
    if !star_reasons.is_empty() {
        metadata["StarStatements"] = json!(star_reasons);
    }
    let options = Options::new().metadata(metadata);
    Ok(stack.add_with(id, role, options)?)
}
