//! Asking before a deploy broadens access (or changes anything, if asked
//! to), and before a destroy. Without a terminal to ask on, the answer is
//! no: a script must say what it wants with a flag.

use std::io::{BufRead, IsTerminal, Write};

use serde_json::Value;

use super::diff::{Change, SecurityChange};
use super::error::DeployError;
use super::plan::{Needs, Planned};
use super::progress::Progress;
use crate::failure::{CommandResult, Failure};
use crate::output::unwritable;

/// When a deploy stops to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RequireApproval {
    /// Deploy without asking.
    Never,
    /// New or wider IAM statements, resource policies, Lambda permissions,
    /// security group ingress.
    #[default]
    Broadening,
    /// Ask before any change, showing the differences.
    AnyChange,
}

/// A yes/no question to the user.
pub trait Prompt {
    /// Whether there is someone to ask.
    fn interactive(&self) -> bool;
    fn confirm(&mut self, question: &str) -> std::io::Result<bool>;
}

/// Asks on standard error, reads standard input; interactive only when
/// both are terminals.
#[derive(Debug, Default)]
pub struct TerminalPrompt;

impl Prompt for TerminalPrompt {
    fn interactive(&self) -> bool {
        std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
    }

    fn confirm(&mut self, question: &str) -> std::io::Result<bool> {
        let mut stderr = std::io::stderr();
        write!(stderr, "{question} [y/N] ")?;
        stderr.flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
    }
}

/// Answers fixed in advance, for tests; not interactive when empty.
#[derive(Debug, Default)]
pub struct ScriptedPrompt {
    pub answers: Vec<bool>,
    pub asked: Vec<String>,
}

impl Prompt for ScriptedPrompt {
    fn interactive(&self) -> bool {
        !self.answers.is_empty()
    }

    fn confirm(&mut self, question: &str) -> std::io::Result<bool> {
        self.asked.push(question.to_string());
        Ok(if self.answers.is_empty() {
            false
        } else {
            self.answers.remove(0)
        })
    }
}

/// Shows the changes that need approval and asks, per `policy`: the
/// security changes as a table (as `cdk deploy` shows them), with each
/// grant's JSON as well when `verbose`.
pub fn approve(
    stacks: &[Planned],
    policy: RequireApproval,
    verbose: bool,
    out: &mut dyn Write,
    progress: &dyn Progress,
    prompt: &mut dyn Prompt,
) -> CommandResult {
    let needing: Vec<&Planned> = stacks
        .iter()
        .filter(|s| s.needs == Needs::Deploy)
        .filter(|s| match policy {
            RequireApproval::Never => false,
            RequireApproval::Broadening => s.diff.broadening().next().is_some(),
            RequireApproval::AnyChange => true,
        })
        .collect();
    if needing.is_empty() {
        return Ok(());
    }
    let what = match policy {
        RequireApproval::AnyChange => "changes",
        _ => "changes that broaden access",
    };
    let names: Vec<&str> = needing
        .iter()
        .map(|s| s.local.entry.stack_name.as_str())
        .collect();
    for stack in &needing {
        writeln!(
            out,
            "{} ({}):",
            stack.local.entry.id, stack.local.entry.stack_name
        )
        .map_err(unwritable)?;
        if policy == RequireApproval::AnyChange {
            // The resources and outputs as diff prints them; the security
            // changes as the table below.
            let mut others = stack.diff.clone();
            others.security.clear();
            write!(out, "{others}").map_err(unwritable)?;
        }
        let changes: Vec<&SecurityChange> = stack.diff.security.iter().collect();
        if !changes.is_empty() {
            write_security(&changes, verbose, out).map_err(unwritable)?;
        }
    }
    out.flush().map_err(unwritable)?;
    let changes = format!("{what} in {}", names.join(", "));
    if !prompt.interactive() {
        return Err(DeployError::ApprovalNeedsTerminal {
            stack: names.join(", "),
            changes: what.to_string(),
        }
        .into_failure());
    }
    let mut answer = Ok(false);
    progress.suspend(&mut || answer = prompt.confirm(&format!("Deploy {changes}?")));
    match answer {
        Ok(true) => Ok(()),
        Ok(false) => Err(DeployError::NotApproved {
            stack: names.join(", "),
            changes: what.to_string(),
        }
        .into_failure()),
        Err(e) => Err(Failure::usage(
            anyhow::Error::new(e).context("reading the answer"),
        )),
    }
}

/// The security changes as a table, and each grant's JSON when `verbose`.
fn write_security(
    changes: &[&SecurityChange],
    verbose: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    write_table(changes, out)?;
    if !verbose {
        return writeln!(out, "  (--verbose shows each statement as JSON)");
    }
    for change in changes {
        writeln!(
            out,
            "  {} {} {}: {}",
            sign(change),
            change.logical_id,
            change.kind,
            change.grant
        )?;
    }
    Ok(())
}

fn sign(change: &SecurityChange) -> char {
    match change.change {
        Change::Removed => '-',
        _ => '+',
    }
}

/// One row of the approval table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// `+` added, `-` removed.
    pub sign: char,
    pub resource: String,
    pub effect: String,
    pub action: String,
    pub principal: String,
    pub condition: String,
}

/// A grant as a row: what it allows (or denies), to whom, on what. IAM
/// statements of a role or policy are granted to that resource (named by
/// its logical id, `${Id}`); intrinsic functions are shown compactly
/// (`${Bucket.Arn}`, `${Table}`).
pub fn row(change: &SecurityChange) -> Row {
    let grant: Value = serde_json::from_str(&change.grant).unwrap_or(Value::Null);
    let own = format!("${{{}}}", change.logical_id);
    let field = |name: &str| grant.get(name).map(compact).unwrap_or_default();
    let negated = |name: &str, not: &str| match grant.get(not) {
        Some(value) => format!("NOT {}", compact(value)),
        None => field(name),
    };
    let (resource, effect, action, principal, condition) = match change.kind {
        "trust statement" => (
            own,
            field("Effect"),
            negated("Action", "NotAction"),
            negated("Principal", "NotPrincipal"),
            field("Condition"),
        ),
        "IAM statement" => (
            negated("Resource", "NotResource"),
            field("Effect"),
            negated("Action", "NotAction"),
            own,
            field("Condition"),
        ),
        "managed policy" => (
            compact(&grant),
            "Allow".into(),
            "(managed policy)".into(),
            own,
            String::new(),
        ),
        "Lambda permission" => (
            field("FunctionName"),
            "Allow".into(),
            field("Action"),
            field("Principal"),
            ["SourceArn", "SourceAccount"]
                .iter()
                .filter_map(|k| grant.get(*k).map(|v| format!("{k}: {}", compact(v))))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        "security group ingress" => {
            let ports = match (grant.get("FromPort"), grant.get("ToPort")) {
                (Some(from), Some(to)) if from == to => format!(" {}", compact(from)),
                (Some(from), Some(to)) => format!(" {}-{}", compact(from), compact(to)),
                _ => String::new(),
            };
            let peer = [
                "CidrIp",
                "CidrIpv6",
                "SourceSecurityGroupId",
                "SourcePrefixListId",
            ]
            .iter()
            .find_map(|k| grant.get(*k).map(compact))
            .unwrap_or_default();
            (
                grant.get("GroupId").map(compact).unwrap_or(own),
                "Allow".into(),
                format!("ingress {}{ports}", field("IpProtocol")),
                peer,
                String::new(),
            )
        }
        // Resource, key and other policies name their principal.
        _ => (
            negated("Resource", "NotResource"),
            field("Effect"),
            negated("Action", "NotAction"),
            negated("Principal", "NotPrincipal"),
            field("Condition"),
        ),
    };
    Row {
        sign: sign(change),
        resource,
        effect,
        action,
        principal,
        condition,
    }
}

/// A value as one short cell: strings as they are, lists joined,
/// `Ref`/`Fn::GetAtt`/`Fn::Sub`/`Fn::ImportValue` as `${...}` text,
/// anything else as compact JSON.
fn compact(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(compact).collect::<Vec<_>>().join(", "),
        Value::Object(map) if map.len() == 1 => {
            let (key, inner) = map.iter().next().expect("one entry");
            match (key.as_str(), inner) {
                ("Ref", Value::String(id)) => format!("${{{id}}}"),
                ("Fn::GetAtt", Value::Array(parts)) => format!(
                    "${{{}}}",
                    parts.iter().map(compact).collect::<Vec<_>>().join(".")
                ),
                ("Fn::GetAtt", Value::String(path)) => format!("${{{path}}}"),
                ("Fn::Sub", Value::String(text)) => text.clone(),
                ("Fn::Sub", Value::Array(parts)) if !parts.is_empty() => compact(&parts[0]),
                ("Fn::ImportValue", inner) => format!("${{Import:{}}}", compact(inner)),
                ("Fn::Join", Value::Array(parts)) if parts.len() == 2 => {
                    let separator = parts[0].as_str().unwrap_or_default();
                    match &parts[1] {
                        Value::Array(items) => items
                            .iter()
                            .map(compact)
                            .collect::<Vec<_>>()
                            .join(separator),
                        other => compact(other),
                    }
                }
                ("AWS" | "Service" | "Federated" | "CanonicalUser", inner) => {
                    format!("{key}:{}", compact(inner))
                }
                _ => value.to_string(),
            }
        }
        Value::Object(map)
            if map.keys().all(|k| {
                matches!(
                    k.as_str(),
                    "AWS" | "Service" | "Federated" | "CanonicalUser"
                )
            }) =>
        {
            map.iter()
                .map(|(k, v)| format!("{k}:{}", compact(v)))
                .collect::<Vec<_>>()
                .join(", ")
        }
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The security changes as an aligned table, removed grants too (a
/// removed `Deny` broadens access).
pub fn write_table(changes: &[&SecurityChange], out: &mut dyn Write) -> std::io::Result<()> {
    const HEADER: [&str; 5] = ["Resource", "Effect", "Action", "Principal", "Condition"];
    let rows: Vec<Row> = changes.iter().map(|c| row(c)).collect();
    let cells = |r: &Row| {
        [
            r.resource.clone(),
            r.effect.clone(),
            r.action.clone(),
            r.principal.clone(),
            r.condition.clone(),
        ]
    };
    let mut widths = HEADER.map(str::len);
    for r in &rows {
        for (width, cell) in widths.iter_mut().zip(cells(r)) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |sign: char, cells: [String; 5]| {
        let mut text = format!("  {sign}");
        for (cell, width) in cells.iter().zip(widths) {
            text.push_str(&format!(" {cell:<width$}"));
        }
        text.trim_end().to_string()
    };
    writeln!(out, "{}", line(' ', HEADER.map(String::from)))?;
    for r in &rows {
        writeln!(out, "{}", line(r.sign, cells(r)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use stacks::manifest::StackEntry;

    use super::*;
    use crate::deploy::diff::diff;
    use crate::deploy::plan::{LocalStack, Remote};
    use crate::deploy::progress::PlainProgress;
    use crate::failure::ExitCode;

    fn planned(old: Option<serde_json::Value>, new: serde_json::Value) -> Planned {
        let entry = StackEntry {
            id: "Ingest".into(),
            stack_name: "retail-dev-ingest".into(),
            template_file: "Ingest.template.json".into(),
            template_sha256: String::new(),
            template_bytes: 0,
            resource_count: 1,
            termination_protection: false,
            dependencies: vec![],
            exports: vec![],
            assets: vec![],
            account: None,
        };
        let diff = diff(old.as_ref(), &new);
        Planned {
            local: LocalStack {
                entry,
                body: new.to_string(),
                template: new,
            },
            remote: Remote::default(),
            needs: Needs::Deploy,
            diff,
            hotswap: None,
        }
    }

    fn queue(name: &str) -> serde_json::Value {
        json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": name}}}})
    }

    fn permission() -> serde_json::Value {
        json!({"Resources": {"Invoke": {"Type": "AWS::Lambda::Permission", "Properties": {
            "Action": "lambda:InvokeFunction", "Principal": "apigateway.amazonaws.com",
            "FunctionName": "ingest"}}}})
    }

    fn ask(
        stacks: &[Planned],
        policy: RequireApproval,
        prompt: &mut ScriptedPrompt,
    ) -> (CommandResult, String) {
        let mut out = Vec::new();
        let progress = PlainProgress::new(Vec::new());
        let result = approve(stacks, policy, false, &mut out, &progress, prompt);
        (result, String::from_utf8(out).unwrap())
    }

    #[test]
    fn a_new_lambda_permission_is_shown_and_deployed_once_approved() {
        let mut prompt = ScriptedPrompt {
            answers: vec![true],
            ..Default::default()
        };
        let (result, shown) = ask(
            &[planned(None, permission())],
            RequireApproval::Broadening,
            &mut prompt,
        );
        assert!(result.is_ok());
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(
            lines[1..3],
            [
                "    Resource Effect Action                Principal                Condition",
                "  + ingest   Allow  lambda:InvokeFunction apigateway.amazonaws.com",
            ],
            "{shown}"
        );
        assert!(!shown.contains('{'), "no JSON without --verbose: {shown}");
        assert_eq!(
            prompt.asked,
            ["Deploy changes that broaden access in retail-dev-ingest?"]
        );
    }

    #[test]
    fn verbose_adds_each_statement_as_json() {
        let mut prompt = ScriptedPrompt {
            answers: vec![true],
            ..Default::default()
        };
        let mut out = Vec::new();
        let progress = PlainProgress::new(Vec::new());
        let stacks = [planned(None, permission())];
        approve(
            &stacks,
            RequireApproval::Broadening,
            true,
            &mut out,
            &progress,
            &mut prompt,
        )
        .unwrap();
        let shown = String::from_utf8(out).unwrap();
        assert!(
            shown.contains("  + Invoke Lambda permission: {\"Action\":\"lambda:InvokeFunction\""),
            "{shown}"
        );
    }

    #[test]
    fn a_role_statement_is_a_row_granted_to_the_role_with_intrinsics_shown_compactly() {
        let change = SecurityChange {
            change: Change::Added,
            logical_id: "WriterRole".into(),
            kind: "IAM statement",
            grant: json!({"Effect": "Allow", "Action": "s3:PutObject",
                "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": ["Lake", "Arn"]}, "/*"]]}})
            .to_string(),
            broadening: true,
        };
        assert_eq!(
            row(&change),
            Row {
                sign: '+',
                resource: "${Lake.Arn}/*".into(),
                effect: "Allow".into(),
                action: "s3:PutObject".into(),
                principal: "${WriterRole}".into(),
                condition: String::new(),
            }
        );
        let trust = SecurityChange {
            kind: "trust statement",
            grant: json!({"Effect": "Allow", "Action": "sts:AssumeRole",
                "Principal": {"Service": "lambda.amazonaws.com"}})
            .to_string(),
            change: Change::Removed,
            ..change
        };
        let trust = row(&trust);
        assert_eq!(
            (
                trust.sign,
                trust.resource.as_str(),
                trust.principal.as_str()
            ),
            ('-', "${WriterRole}", "Service:lambda.amazonaws.com")
        );
    }

    #[test]
    fn a_declined_broadening_change_fails_the_deploy() {
        let mut prompt = ScriptedPrompt {
            answers: vec![false],
            ..Default::default()
        };
        let (result, _) = ask(
            &[planned(None, permission())],
            RequireApproval::Broadening,
            &mut prompt,
        );
        let failure = result.unwrap_err();
        assert_eq!(failure.code, ExitCode::Failed);
        assert!(failure.to_string().contains("not approved"));
    }

    #[test]
    fn a_change_that_broadens_nothing_is_not_asked_about() {
        let mut prompt = ScriptedPrompt::default();
        let (result, shown) = ask(
            &[planned(Some(queue("a")), queue("b"))],
            RequireApproval::Broadening,
            &mut prompt,
        );
        assert!(result.is_ok());
        assert!(shown.is_empty());
        assert!(prompt.asked.is_empty());
    }

    #[test]
    fn any_change_asks_about_every_change_with_its_diff() {
        let mut prompt = ScriptedPrompt {
            answers: vec![true],
            ..Default::default()
        };
        let (result, shown) = ask(
            &[planned(Some(queue("a")), queue("b"))],
            RequireApproval::AnyChange,
            &mut prompt,
        );
        assert!(result.is_ok());
        assert!(shown.contains("~ AWS::SQS::Queue Q"), "{shown}");
        assert_eq!(prompt.asked.len(), 1);
    }

    #[test]
    fn any_change_shows_resources_as_diff_does_and_security_as_the_table() {
        let mut prompt = ScriptedPrompt {
            answers: vec![true],
            ..Default::default()
        };
        let (result, shown) = ask(
            &[planned(Some(queue("a")), permission())],
            RequireApproval::AnyChange,
            &mut prompt,
        );
        assert!(result.is_ok());
        assert!(shown.contains("- AWS::SQS::Queue Q"), "{shown}");
        assert!(
            shown.contains("+ AWS::Lambda::Permission Invoke"),
            "{shown}"
        );
        assert!(
            shown.contains("  + ingest   Allow  lambda:InvokeFunction apigateway.amazonaws.com"),
            "{shown}"
        );
        assert!(!shown.contains('{'), "no JSON without --verbose: {shown}");
    }

    #[test]
    fn never_deploys_broadening_changes_without_asking() {
        let mut prompt = ScriptedPrompt::default();
        let (result, _) = ask(
            &[planned(None, permission())],
            RequireApproval::Never,
            &mut prompt,
        );
        assert!(result.is_ok());
        assert!(prompt.asked.is_empty());
    }

    #[test]
    fn without_a_terminal_a_broadening_change_is_refused_as_usage() {
        let mut prompt = ScriptedPrompt::default();
        let (result, _) = ask(
            &[planned(None, permission())],
            RequireApproval::Broadening,
            &mut prompt,
        );
        let failure = result.unwrap_err();
        assert_eq!(failure.code, ExitCode::Usage);
        assert!(failure.hint.unwrap().contains("--require-approval never"));
        assert!(prompt.asked.is_empty());
    }
}
