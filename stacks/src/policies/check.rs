//! Checks of a rendered policy document: the IAM grammar our stacks rely on,
//! and least privilege.
//!
//! An `Allow` statement lists its actions one by one (no `*`, no
//! `service:*`, no `NotAction`) and names the resources it touches. Only a
//! statement whose `Sid` starts with `RequiresStar` may allow
//! `"Resource": "*"`, and only when its template explains why in a
//! `{{!-- why: … --}}` comment (see `doc`). Resources given as
//! CloudFormation expressions (`Fn::GetAtt`, `Fn::Sub`, `Fn::ImportValue`…)
//! resolve at deploy; the literal parts that are visible here are checked.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::doc::REQUIRES_STAR_SID;

/// The only policy language version that supports policy variables such as
/// `${aws:userid}`.
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_version.html>
pub const POLICY_VERSION: &str = "2012-10-17";

/// One thing wrong with a policy document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("Version is {found}, not \"{POLICY_VERSION}\"")]
    Version { found: String },
    #[error("the document has no non-empty Statement array")]
    NoStatements,
    #[error("statement {statement} is not a JSON object")]
    StatementNotObject { statement: String },
    #[error(
        "statement {statement} has no {element}; every statement needs Effect, Action and Resource"
    )]
    MissingElement {
        statement: String,
        element: &'static str,
    },
    #[error("statement {statement} uses {element}; list what it allows instead")]
    Negation {
        statement: String,
        element: &'static str,
    },
    #[error(
        "statement {statement} has a Principal; a role's permissions policy names none (principals belong in its trust policy)"
    )]
    Principal { statement: String },
    #[error("statement {statement}: Effect is {found}, not \"Allow\" or \"Deny\"")]
    Effect { statement: String, found: String },
    #[error("statement {statement} has an empty {element}")]
    Empty {
        statement: String,
        element: &'static str,
    },
    #[error(
        "statement {statement} allows the wildcard action {action:?}; list the actions the component calls"
    )]
    WildcardAction { statement: String, action: String },
    #[error("statement {statement}: action {action} is not of the form \"service:Action\"")]
    MalformedAction { statement: String, action: String },
    #[error(
        "statement {statement}: resource {resource} is not an ARN, \"*\" or a CloudFormation expression"
    )]
    MalformedResource { statement: String, resource: String },
    #[error(
        "statement {statement} allows any resource ({resource}); scope it to the ARNs the component \
         touches, or, where the AWS API accepts only \"*\", give it a Sid starting with \
         {REQUIRES_STAR_SID} and a {{{{!-- why: … --}}}} comment right before it"
    )]
    UnscopedResource { statement: String, resource: String },
    #[error(
        "statement {sid} allows \"*\" but its template gives no reason; add a \
         {{{{!-- why: … --}}}} comment right before it"
    )]
    StarWithoutReason { sid: String },
    #[error(
        "statement {sid} is named {REQUIRES_STAR_SID}… but its Resource is not exactly \"*\"; \
         rename it so the marker keeps meaning \"this API needs *\""
    )]
    StarMarkerWithoutStar { sid: String },
    #[error("Sid {sid:?} is used by two statements; IAM requires unique Sids in a policy")]
    DuplicateSid { sid: String },
    #[error("Sid {sid:?} must be ASCII letters and digits only")]
    MalformedSid { sid: String },
}

/// Checks a rendered document. `star_reasons` maps the `Sid` of each
/// statement its template explains with a `why:` comment to the reason.
pub fn check(document: &Value, star_reasons: &BTreeMap<String, String>) -> Result<(), Violation> {
    let version = document.get("Version");
    if version != Some(&Value::String(POLICY_VERSION.into())) {
        return Err(Violation::Version {
            found: version.map_or_else(|| "missing".into(), Value::to_string),
        });
    }
    let statements = match document.get("Statement") {
        Some(Value::Array(statements)) if !statements.is_empty() => statements,
        _ => return Err(Violation::NoStatements),
    };
    let mut sids: Vec<&str> = Vec::new();
    for (index, statement) in statements.iter().enumerate() {
        let label = |sid: Option<&str>| sid.map_or_else(|| format!("#{}", index + 1), String::from);
        let Value::Object(statement) = statement else {
            return Err(Violation::StatementNotObject {
                statement: label(None),
            });
        };
        let sid = statement.get("Sid").and_then(Value::as_str);
        if let Some(sid) = sid {
            if sid.is_empty() || !sid.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(Violation::MalformedSid { sid: sid.into() });
            }
            if sids.contains(&sid) {
                return Err(Violation::DuplicateSid { sid: sid.into() });
            }
            sids.push(sid);
        }
        check_statement(statement, &label(sid), sid, star_reasons)?;
    }
    Ok(())
}

fn check_statement(
    statement: &Map<String, Value>,
    label: &str,
    sid: Option<&str>,
    star_reasons: &BTreeMap<String, String>,
) -> Result<(), Violation> {
    let statement_name = || label.to_string();
    for element in ["NotAction", "NotResource"] {
        if statement.contains_key(element) {
            return Err(Violation::Negation {
                statement: statement_name(),
                element,
            });
        }
    }
    if statement.contains_key("Principal") || statement.contains_key("NotPrincipal") {
        return Err(Violation::Principal {
            statement: statement_name(),
        });
    }
    let element = |name: &'static str| {
        statement.get(name).ok_or(Violation::MissingElement {
            statement: statement_name(),
            element: name,
        })
    };
    let effect = element("Effect")?;
    let allow = match effect.as_str() {
        Some("Allow") => true,
        Some("Deny") => false,
        _ => {
            return Err(Violation::Effect {
                statement: statement_name(),
                found: effect.to_string(),
            });
        }
    };
    let actions = one_or_many(element("Action")?);
    let resources = one_or_many(element("Resource")?);
    for (name, items) in [("Action", &actions), ("Resource", &resources)] {
        if items.is_empty() {
            return Err(Violation::Empty {
                statement: statement_name(),
                element: name,
            });
        }
    }
    for action in &actions {
        check_action(action, allow, label)?;
    }
    let mut star = None;
    for resource in &resources {
        if let Some(text) = check_resource(resource, label)? {
            star = Some(text);
        }
    }
    let marked = sid.filter(|s| s.starts_with(REQUIRES_STAR_SID));
    let only_star = resources.len() == 1 && resources[0].as_str() == Some("*");
    match (marked, star) {
        // A Deny on everything only takes permissions away.
        (_, Some(_)) if !allow => Ok(()),
        (Some(sid), Some(_)) if only_star => match star_reasons.get(sid) {
            Some(_) => Ok(()),
            None => Err(Violation::StarWithoutReason { sid: sid.into() }),
        },
        (_, Some(resource)) => Err(Violation::UnscopedResource {
            statement: statement_name(),
            resource,
        }),
        (Some(sid), None) => Err(Violation::StarMarkerWithoutStar { sid: sid.into() }),
        (None, None) => Ok(()),
    }
}

fn one_or_many(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

fn check_action(action: &Value, allow: bool, statement: &str) -> Result<(), Violation> {
    let malformed = || Violation::MalformedAction {
        statement: statement.into(),
        action: action.to_string(),
    };
    let text = action.as_str().ok_or_else(malformed)?;
    if allow && (text.contains('*') || text.contains('?')) {
        return Err(Violation::WildcardAction {
            statement: statement.into(),
            action: text.into(),
        });
    }
    let (service, name) = text.split_once(':').ok_or_else(malformed)?;
    let service_ok = !service.is_empty()
        && service
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?');
    if service_ok && name_ok {
        Ok(())
    } else {
        Err(malformed())
    }
}

/// Checks one resource; returns it, as text, when it covers every resource.
fn check_resource(resource: &Value, statement: &str) -> Result<Option<String>, Violation> {
    let malformed = || Violation::MalformedResource {
        statement: statement.into(),
        resource: resource.to_string(),
    };
    let literal = match resource {
        Value::String(text) => text.as_str(),
        // A CloudFormation expression: `{"Fn::…": …}`, `{"Ref": …}`, or a
        // reference the model resolves when the stack is rendered.
        Value::Object(map) if map.len() == 1 => match sub_pattern(map) {
            Some(pattern) => pattern,
            None => return Ok(None),
        },
        _ => return Err(malformed()),
    };
    if literal == "*" || arn_covers_everything(literal) {
        return Ok(Some(resource.to_string()));
    }
    // `${Bucket}/*` in a Fn::Sub is an ARN once CloudFormation substitutes.
    if literal.starts_with("arn:") || literal.starts_with("${") {
        Ok(None)
    } else {
        Err(malformed())
    }
}

/// The pattern of a `Fn::Sub`, whether it has a variable map or not.
fn sub_pattern(expression: &Map<String, Value>) -> Option<&str> {
    match expression.get("Fn::Sub")? {
        Value::String(pattern) => Some(pattern),
        Value::Array(parts) => parts.first()?.as_str(),
        _ => None,
    }
}

/// Whether the resource part of an ARN
/// (`arn:partition:service:region:account:resource`) is `*`. `Fn::Sub`
/// variables such as `${AWS::Partition}` count as one opaque segment.
fn arn_covers_everything(arn: &str) -> bool {
    let mut masked = String::with_capacity(arn.len());
    let mut rest = arn;
    while let Some(start) = rest.find("${") {
        masked.push_str(&rest[..start]);
        match rest[start..].find('}') {
            Some(end) => {
                masked.push('_');
                rest = &rest[start + end + 1..];
            }
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    masked.push_str(rest);
    masked
        .strip_prefix("arn:")
        .and_then(|tail| tail.splitn(5, ':').nth(4))
        == Some("*")
}
