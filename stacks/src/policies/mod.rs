//! IAM policy documents, written as Handlebars templates in `policies/` and
//! embedded in the crate.
//!
//! [`render`] fills a template with CloudFormation values (strings or
//! intrinsic objects such as `{"Fn::GetAtt": ["Table", "Arn"]}`), parses the
//! output back to JSON and checks it (see `check`), so a stack embeds the
//! policy as a JSON value, never as a spliced string. Templates write every
//! value with the `json` helper (`"Resource": {{json table_arn}}`) and build
//! ARNs with `Fn::Sub` and a variable map, so a value is never pasted inside
//! a quoted string.
//!
//! Each template documents the context keys it reads in its header; a key
//! it does not read is rejected (a misspelt optional key would otherwise
//! silently drop a statement), and a missing one is named.
//!
//! ```
//! use serde_json::json;
//! use stacks::policies::{self, Policy};
//!
//! let document = policies::render(
//!     Policy::LambdaQuery,
//!     &json!({
//!         "invoices_table_arn": { "Fn::GetAtt": ["Invoices", "Arn"] },
//!         "customers_table_arn": { "Fn::ImportValue": "prod-storage-CustomersArn" },
//!         "log_group_name": { "Ref": "QueryLogGroup" },
//!     }),
//! )?;
//! assert_eq!(
//!     document["Statement"][0]["Resource"][0],
//!     json!({ "Fn::GetAtt": ["Invoices", "Arn"] })
//! );
//! # Ok::<(), policies::PolicyError>(())
//! ```

mod catalog;
mod check;
mod doc;
#[cfg(test)]
mod tests;

use serde_json::Value;

pub use catalog::Policy;
pub use check::{POLICY_VERSION, Violation};
pub use doc::{ContextKey, REQUIRES_STAR_SID, TemplateDoc};

/// Everything that can go wrong while rendering a policy.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{file}: {problem}")]
    Template { file: String, problem: String },
    #[error(
        "policy {policy}: the context must be a JSON object with the keys documented at the top \
         of {file}, not {found}"
    )]
    ContextNotObject {
        policy: String,
        file: String,
        found: &'static str,
    },
    #[error("policy {policy}: context key `{key}` ({description}) is missing; {file} requires it")]
    MissingKey {
        policy: String,
        file: String,
        key: String,
        description: String,
    },
    #[error(
        "policy {policy}: context key `{key}` is {found}; give it a non-empty string or a \
         CloudFormation expression such as {{\"Fn::GetAtt\": [\"Table\", \"Arn\"]}} (see the \
         top of {file}), or leave an optional key out"
    )]
    InvalidValue {
        policy: String,
        file: String,
        key: String,
        found: String,
    },
    #[error(
        "policy {policy}: context key `{key}` is not one {file} reads (it reads {known}); check \
         its spelling"
    )]
    UnknownKey {
        policy: String,
        file: String,
        key: String,
        known: String,
    },
    #[error("policy {policy}: {file}{location}: {reason}")]
    Render {
        policy: String,
        file: String,
        /// ` line N, column M` in the template, when Handlebars knows it.
        location: String,
        reason: String,
    },
    #[error(
        "policy {policy}: {file} rendered invalid JSON ({message}) at line {line}, column \
         {column} of its output:\n    {text}"
    )]
    InvalidJson {
        policy: String,
        file: String,
        message: String,
        line: usize,
        column: usize,
        text: String,
    },
    #[error("policy {policy} ({file}): {violation}")]
    Violation {
        policy: String,
        file: String,
        violation: Violation,
    },
}

/// Renders `policy` with `context` (a JSON object of the keys documented at
/// the top of its template), parses and checks the result.
pub fn render(policy: Policy, context: &Value) -> Result<Value, PolicyError> {
    let catalog = catalog::catalog()?;
    let template = Template {
        name: policy.name(),
        file: policy.file(),
        doc: catalog.doc(policy),
    };
    template.render(&catalog.registry, context)
}

/// Compiles every template now rather than at the first render (which
/// waits for it if another thread has started it).
pub fn prepare() -> Result<(), PolicyError> {
    catalog::catalog().map(|_| ())
}

/// The context keys `policy` reads, from its template's header.
pub fn context_keys(policy: Policy) -> Result<&'static [ContextKey], PolicyError> {
    Ok(&catalog::catalog()?.doc(policy).keys)
}

/// `Sid` → reason of each statement of `policy` that allows `"*"` because
/// its AWS API accepts nothing else (for template metadata and reviews).
pub fn star_reasons(
    policy: Policy,
) -> Result<&'static std::collections::BTreeMap<String, String>, PolicyError> {
    Ok(&catalog::catalog()?.doc(policy).star_reasons)
}

/// Renders a template that is not in the catalog, with the same registry
/// settings, documentation rules and checks: how the check fixtures run.
#[cfg(test)]
pub(crate) fn render_source(
    name: &str,
    source: &str,
    context: &Value,
) -> Result<Value, PolicyError> {
    let file = format!("fixtures/{name}.json.hbs");
    let template_error = |problem: String| PolicyError::Template {
        file: file.clone(),
        problem,
    };
    let mut registry =
        catalog::registry().map_err(|(file, problem)| PolicyError::Template { file, problem })?;
    registry.register_template(
        name,
        catalog::compile(name, source).map_err(template_error)?,
    );
    let doc = doc::parse(source).map_err(template_error)?;
    Template {
        name,
        file: file.clone(),
        doc: &doc,
    }
    .render(&registry, context)
}

struct Template<'a> {
    name: &'a str,
    file: String,
    doc: &'a TemplateDoc,
}

impl Template<'_> {
    fn render(
        &self,
        registry: &handlebars::Handlebars<'_>,
        context: &Value,
    ) -> Result<Value, PolicyError> {
        self.check_context(context)?;
        let text = registry
            .render(self.name, context)
            .map_err(|e| self.render_error(e))?;
        let document: Value =
            serde_json::from_str(&text).map_err(|e| self.invalid_json(&text, e))?;
        check::check(&document, &self.doc.star_reasons).map_err(|violation| {
            PolicyError::Violation {
                policy: self.name.into(),
                file: self.file.clone(),
                violation,
            }
        })?;
        Ok(document)
    }

    fn check_context(&self, context: &Value) -> Result<(), PolicyError> {
        let Value::Object(values) = context else {
            return Err(PolicyError::ContextNotObject {
                policy: self.name.into(),
                file: self.file.clone(),
                found: json_type(context),
            });
        };
        for key in values.keys() {
            if self.doc.key(key).is_none() {
                let known = self
                    .doc
                    .keys
                    .iter()
                    .map(|k| format!("`{}`", k.name))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(PolicyError::UnknownKey {
                    policy: self.name.into(),
                    file: self.file.clone(),
                    key: key.clone(),
                    known,
                });
            }
        }
        for key in &self.doc.keys {
            match values.get(&key.name) {
                None | Some(Value::Null) if key.required => {
                    return Err(PolicyError::MissingKey {
                        policy: self.name.into(),
                        file: self.file.clone(),
                        key: key.name.clone(),
                        description: key.description.clone(),
                    });
                }
                None | Some(Value::Null) => {}
                Some(value) => self.check_value(&key.name, value)?,
            }
        }
        Ok(())
    }

    /// A value is an ARN, name or prefix (a non-empty string) or one
    /// CloudFormation expression (a single-key object). Anything else would
    /// be falsy in `{{#if}}` or meaningless in a policy.
    fn check_value(&self, key: &str, value: &Value) -> Result<(), PolicyError> {
        let found = match value {
            Value::String(s) if s.is_empty() => "an empty string".to_string(),
            Value::String(_) => return Ok(()),
            Value::Object(o) if o.len() == 1 => return Ok(()),
            Value::Object(o) => format!("an object with {} keys", o.len()),
            other => json_type(other).to_string(),
        };
        Err(PolicyError::InvalidValue {
            policy: self.name.into(),
            file: self.file.clone(),
            key: key.into(),
            found,
        })
    }

    fn render_error(&self, error: handlebars::RenderError) -> PolicyError {
        let reason = match error.reason() {
            // Required keys are checked before rendering, so a missing one is
            // optional or undocumented: a fault of the template.
            handlebars::RenderErrorReason::MissingVariable(Some(key)) => match self.doc.key(key) {
                Some(_) => format!(
                    "the template reads the optional key `{key}` outside an {{{{#if {key}}}}} \
                     block; guard it, or document the key as required"
                ),
                None => format!(
                    "the template reads `{key}`, which its header does not document; add it \
                     under `context:`"
                ),
            },
            other => other.to_string(),
        };
        let template = error
            .template_name
            .as_deref()
            .filter(|name| *name != self.name)
            .map(|partial| format!(" (in partial {partial})"))
            .unwrap_or_default();
        let location = match (error.line_no, error.column_no) {
            (Some(line), Some(column)) => format!(" line {line}, column {column}{template}"),
            _ => template,
        };
        PolicyError::Render {
            policy: self.name.into(),
            file: self.file.clone(),
            location,
            reason,
        }
    }

    fn invalid_json(&self, text: &str, error: serde_json::Error) -> PolicyError {
        let line = error.line();
        // serde_json's message ends with " at line L column C", given apart.
        let message = error.to_string();
        let message = message.split(" at line ").next().unwrap_or_default();
        PolicyError::InvalidJson {
            policy: self.name.into(),
            file: self.file.clone(),
            message: message.to_string(),
            line,
            column: error.column(),
            text: text
                .lines()
                .nth(line.saturating_sub(1))
                .unwrap_or_default()
                .trim()
                .to_string(),
        }
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
