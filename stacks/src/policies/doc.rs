//! What a template says about itself, in Handlebars comments that never reach
//! the rendered document:
//!
//! - its header (`{{!-- … --}}` first in the file) lists, under `context:`,
//!   the keys it reads: `  name: description` or
//!   `  name (optional): description`;
//! - a `{{!-- why: … --}}` comment right before a statement whose `Sid`
//!   starts with [`REQUIRES_STAR_SID`] explains why the AWS API accepts only
//!   `"Resource": "*"` there.
//!
//! Reading both from the source keeps the explanation next to the statement
//! it justifies, where a reviewer of the template sees it.

use std::collections::BTreeMap;

/// Prefix of the `Sid` of a statement whose `Resource` must be `"*"`.
pub const REQUIRES_STAR_SID: &str = "RequiresStar";

const COMMENT_OPEN: &str = "{{!--";
const COMMENT_CLOSE: &str = "--}}";
const WHY: &str = "why:";

/// A context key a template reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextKey {
    pub name: String,
    /// Optional keys guard statements with `{{#if key}}`; leaving one out
    /// (or passing `null`) leaves the statement out.
    pub required: bool,
    pub description: String,
}

/// The documentation of one template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateDoc {
    pub keys: Vec<ContextKey>,
    /// `Sid` of each statement that needs `"Resource": "*"` → why.
    pub star_reasons: BTreeMap<String, String>,
}

impl TemplateDoc {
    pub fn key(&self, name: &str) -> Option<&ContextKey> {
        self.keys.iter().find(|k| k.name == name)
    }
}

/// `source` with each `{{!-- … --}}` comment blanked: its lines kept as
/// line breaks and its last line as spaces, so what follows keeps its line
/// and column in Handlebars' errors. Handlebars computes the line and
/// column of every element by scanning the source from its start (pest's
/// `Position::line_col`), which made compiling the documented templates
/// quadratic in their comments; a comment renders nothing either way.
pub(crate) fn blank_comments(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find(COMMENT_OPEN) {
        let Some(length) = rest[start..].find(COMMENT_CLOSE) else {
            break; // unclosed: left for Handlebars to report
        };
        let end = start + length + COMMENT_CLOSE.len();
        out.push_str(&rest[..start]);
        let comment = &rest[start..end];
        let breaks = comment.matches('\n').count();
        out.extend(std::iter::repeat_n('\n', breaks));
        let last_line = comment.rsplit('\n').next().unwrap_or(comment);
        out.extend(std::iter::repeat_n(' ', last_line.chars().count()));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Reads the header and the `why:` comments of a policy template.
pub(crate) fn parse(source: &str) -> Result<TemplateDoc, String> {
    let header = header(source)?;
    let keys = context_keys(header)?;
    let star_reasons = star_reasons(source)?;
    Ok(TemplateDoc { keys, star_reasons })
}

fn header(source: &str) -> Result<&str, String> {
    let rest = source.trim_start().strip_prefix(COMMENT_OPEN).ok_or(
        "the template must start with a {{!-- … --}} header that documents its context keys",
    )?;
    let end = rest
        .find(COMMENT_CLOSE)
        .ok_or("the header comment is not closed with --}}")?;
    Ok(&rest[..end])
}

fn context_keys(header: &str) -> Result<Vec<ContextKey>, String> {
    let mut lines = header.lines().skip_while(|l| l.trim() != "context:");
    if lines.next().is_none() {
        return Err("the header has no `context:` section listing the keys it reads".into());
    }
    let mut keys: Vec<ContextKey> = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        match keys.last_mut() {
            // A deeper indent continues the previous key's description.
            Some(previous) if indent > 2 => {
                previous.description.push(' ');
                previous.description.push_str(line.trim());
            }
            _ => keys.push(context_key(line.trim())?),
        }
    }
    if keys.is_empty() {
        return Err("the `context:` section lists no keys".into());
    }
    for (i, key) in keys.iter().enumerate() {
        if keys[..i].iter().any(|k| k.name == key.name) {
            return Err(format!("context key `{}` is documented twice", key.name));
        }
    }
    Ok(keys)
}

fn context_key(line: &str) -> Result<ContextKey, String> {
    let malformed = || {
        format!(
            "context line {line:?} is not `name: description` or `name (optional): description`"
        )
    };
    let (head, description) = line.split_once(':').ok_or_else(malformed)?;
    let (name, required) = match head.trim().strip_suffix("(optional)") {
        Some(name) => (name.trim(), false),
        None => (head.trim(), true),
    };
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid_name || description.trim().is_empty() {
        return Err(malformed());
    }
    Ok(ContextKey {
        name: name.to_string(),
        required,
        description: description.trim().to_string(),
    })
}

/// Pairs each `why:` comment with the `RequiresStar…` statement right after
/// it, and requires a `why:` comment for every such statement.
fn star_reasons(source: &str) -> Result<BTreeMap<String, String>, String> {
    let mut reasons = BTreeMap::new();
    let mut rest = source;
    while let Some(start) = rest.find(COMMENT_OPEN) {
        let after_open = &rest[start + COMMENT_OPEN.len()..];
        let end = after_open
            .find(COMMENT_CLOSE)
            .ok_or("a {{!-- comment is not closed with --}}")?;
        let body = after_open[..end].trim();
        rest = &after_open[end + COMMENT_CLOSE.len()..];
        let Some(reason) = body.strip_prefix(WHY) else {
            continue;
        };
        let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
        if reason.is_empty() {
            return Err("a `why:` comment gives no reason".into());
        }
        let sid = sid_right_after(rest).filter(|sid| sid.starts_with(REQUIRES_STAR_SID));
        let Some(sid) = sid else {
            return Err(format!(
                "the `why:` comment {reason:?} must come right before a statement whose \
                 Sid starts with {REQUIRES_STAR_SID} (only `{{` and whitespace between them)"
            ));
        };
        if reasons.insert(sid.clone(), reason).is_some() {
            return Err(format!("two statements have the Sid {sid:?}"));
        }
    }
    for sid in requires_star_sids(source) {
        if !reasons.contains_key(&sid) {
            return Err(format!(
                "statement {sid} needs a {{{{!-- why: … --}}}} comment right before it saying \
                 why the AWS API accepts only \"*\" there"
            ));
        }
    }
    Ok(reasons)
}

/// The `Sid` of a statement that starts right here: `{ "Sid": "X"`, with
/// only whitespace between the tokens.
fn sid_right_after(text: &str) -> Option<String> {
    let text = text.trim_start();
    let text = text.strip_prefix('{').unwrap_or(text).trim_start();
    let text = text.strip_prefix("\"Sid\"")?.trim_start();
    let text = text.strip_prefix(':')?.trim_start();
    let text = text.strip_prefix('"')?;
    let end = text.find('"')?;
    Some(text[..end].to_string())
}

fn requires_star_sids(source: &str) -> Vec<String> {
    let mut sids = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("\"Sid\"") {
        if let Some(sid) = sid_right_after(&rest[at..]).filter(|s| s.starts_with(REQUIRES_STAR_SID))
        {
            sids.push(sid);
        }
        rest = &rest[at + "\"Sid\"".len()..];
    }
    sids
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "{{!--\nA role.\n\ncontext:\n  table_arn: ARN of the table,\n    continued here.\n  key_arn (optional): ARN of a key.\n--}}\n";

    #[test]
    fn reads_required_and_optional_keys_with_continued_descriptions() {
        let doc = parse(&format!("{HEADER}{{}}")).unwrap();
        assert_eq!(
            doc.keys,
            vec![
                ContextKey {
                    name: "table_arn".into(),
                    required: true,
                    description: "ARN of the table, continued here.".into()
                },
                ContextKey {
                    name: "key_arn".into(),
                    required: false,
                    description: "ARN of a key.".into()
                },
            ]
        );
    }

    #[test]
    fn rejects_a_template_without_a_header() {
        let error = parse("{\"Version\": \"2012-10-17\"}").unwrap_err();
        assert!(
            error.contains("must start with a {{!-- … --}} header"),
            "{error}"
        );
    }

    #[test]
    fn rejects_a_header_without_context_keys() {
        let error = parse("{{!-- A role. --}}{}").unwrap_err();
        assert!(error.contains("no `context:` section"), "{error}");
    }

    #[test]
    fn rejects_a_context_line_that_is_not_name_colon_description() {
        let error = parse("{{!--\ncontext:\n  Table ARN\n--}}{}").unwrap_err();
        assert!(error.contains("is not `name: description`"), "{error}");
    }

    #[test]
    fn pairs_a_why_comment_with_the_requires_star_statement_after_it() {
        let source = format!(
            "{HEADER}[ {{{{!-- why: the API\n   names no resource. --}}}}\n  {{ \"Sid\": \"RequiresStarList\", \"Resource\": \"*\" }} ]"
        );
        let doc = parse(&source).unwrap();
        assert_eq!(
            doc.star_reasons,
            BTreeMap::from([(
                "RequiresStarList".to_string(),
                "the API names no resource.".to_string()
            )])
        );
    }

    #[test]
    fn rejects_a_requires_star_statement_without_a_why_comment() {
        let source = format!("{HEADER}[ {{ \"Sid\": \"RequiresStarList\" }} ]");
        let error = parse(&source).unwrap_err();
        assert!(
            error.contains("statement RequiresStarList needs a {{!-- why: … --}} comment"),
            "{error}"
        );
    }

    #[test]
    fn rejects_a_why_comment_that_is_not_next_to_a_requires_star_statement() {
        let source = format!(
            "{HEADER}[ {{{{!-- why: reasons --}}}} {{ \"Effect\": \"Allow\", \"Sid\": \"RequiresStarList\" }} ]"
        );
        let error = parse(&source).unwrap_err();
        assert!(
            error.contains("must come right before a statement"),
            "{error}"
        );
    }

    #[test]
    fn rejects_an_empty_why_comment() {
        let source = format!("{HEADER}[ {{{{!-- why: --}}}} {{ \"Sid\": \"RequiresStarList\" }} ]");
        let error = parse(&source).unwrap_err();
        assert!(error.contains("gives no reason"), "{error}");
    }

    #[test]
    fn blanked_comments_keep_every_line_and_the_column_after_them() {
        let source = "{{!--\nheader\n--}}\n[ {{!-- why: é --}} {{json a}} ]\n{{!-- unclosed";
        let blanked = blank_comments(source);
        assert_eq!(blanked.lines().count(), source.lines().count());
        assert_eq!(
            blanked.lines().nth(2),
            Some("    "),
            "under the closing --}}"
        );
        // The column Handlebars reports counts characters: é is one.
        let column = |text: &str| {
            let line = text.lines().nth(3).unwrap();
            line[..line.find("{{json").unwrap()].chars().count()
        };
        assert_eq!(column(&blanked), column(source));
        assert!(!blanked.contains("why") && !blanked.contains("header"));
        assert!(
            blanked.ends_with("{{!-- unclosed"),
            "left for Handlebars to report"
        );
    }
}
