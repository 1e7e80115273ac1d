//! The report of a command run across accounts. In text each account's
//! report is printed as it comes. Under `--output json` each account's run
//! writes the document it writes for one account, and they are merged into
//! one of the same shape, so a script reading `.stacks[]` reads both
//! accounts. Every object of a list (a stack, a retained resource) gains
//! the `account` it is in; `result` is `failed` when any account's is;
//! `seconds` is the sum; other lists (diff's `differing`) are joined.

use std::io::Write;

use serde_json::{Map, Value};

use crate::failure::{CommandResult, Failure};
use crate::output::{Format, unwritable};

/// Where a command across accounts writes each account's report (see the
/// module's comment).
pub struct AccountReports<'o> {
    out: &'o mut dyn Write,
    /// `Some` under `--output json`.
    json: Option<Captured>,
}

impl std::fmt::Debug for AccountReports<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountReports")
            .field("json", &self.is_json())
            .finish_non_exhaustive()
    }
}

/// The reports taken so far, and the one being written.
struct Captured {
    reports: JsonReports,
    report: Vec<u8>,
    stderr: std::io::Stderr,
    /// The result of a stack whose account's run never reached it
    /// ("not deployed").
    not_run: &'static str,
}

impl<'o> AccountReports<'o> {
    pub fn new(out: &'o mut dyn Write, format: Format, not_run: &'static str) -> Self {
        let json = (format == Format::Json).then(|| Captured {
            reports: JsonReports::default(),
            report: Vec::new(),
            stderr: std::io::stderr(),
            not_run,
        });
        Self { out, json }
    }

    pub fn is_json(&self) -> bool {
        self.json.is_some()
    }

    /// Where an account's lines that are not its report go: the output in
    /// text, standard error under `--output json`.
    pub fn notes(&mut self) -> &mut dyn Write {
        match &mut self.json {
            Some(captured) => &mut captured.stderr,
            None => &mut *self.out,
        }
    }

    /// Where the next account's report goes; [`Self::end`] ends it.
    pub fn report(&mut self) -> &mut dyn Write {
        match &mut self.json {
            Some(captured) => {
                captured.report.clear();
                &mut captured.report
            }
            None => &mut *self.out,
        }
    }

    /// Takes the account's report, of its `stacks`.
    pub fn end(&mut self, account: &str, stacks: &[String]) -> Result<(), Failure> {
        match &mut self.json {
            Some(captured) => {
                let report = std::mem::take(&mut captured.report);
                captured
                    .reports
                    .add_or_explain(account, &report, stacks, captured.not_run)
            }
            None => Ok(()),
        }
    }

    /// The `stacks` of `account`, not run after a failure in `failed`.
    pub fn skipped(&mut self, account: &str, stacks: &[String], failed: &str) {
        if let Some(captured) = &mut self.json {
            captured.reports.not_run(
                account,
                stacks,
                captured.not_run,
                &format!("stopped after a failure in account {failed}"),
            );
        }
    }

    /// Prints the merged document under `--output json`.
    pub fn finish(self, stage: &str) -> CommandResult {
        match self.json {
            Some(captured) => captured.reports.write(stage, self.out),
            None => Ok(()),
        }
    }
}

/// The accounts' documents, in the order the accounts ran.
#[derive(Debug, Default)]
struct JsonReports {
    parts: Vec<(String, Value)>,
}

impl JsonReports {
    /// Takes what one account's run wrote under `--output json`.
    fn add(&mut self, account: &str, written: &[u8]) -> Result<(), Failure> {
        let document = serde_json::from_slice(written).map_err(|e| {
            Failure::usage(anyhow::Error::new(e).context(format!(
                "the JSON report of account {account} is not JSON (a bug: please report it)"
            )))
        })?;
        self.parts.push((account.to_string(), document));
        Ok(())
    }

    /// [`Self::add`], or where the account's run failed before its report
    /// (a usage error, a refused preflight check: said on standard error)
    /// its `stacks` with `result`.
    fn add_or_explain(
        &mut self,
        account: &str,
        written: &[u8],
        stacks: &[String],
        result: &str,
    ) -> Result<(), Failure> {
        if written.is_empty() {
            self.not_run(
                account,
                stacks,
                result,
                "the run in this account stopped before its report (see standard error)",
            );
            return Ok(());
        }
        self.add(account, written)
    }

    /// The stacks of an account that did not run (a failure before it):
    /// each with `result` and the `reason`.
    fn not_run(&mut self, account: &str, stacks: &[String], result: &str, reason: &str) {
        let stacks = stacks
            .iter()
            .map(|id| serde_json::json!({ "id": id, "result": result, "reason": reason }))
            .collect();
        self.parts.push((
            account.to_string(),
            Value::Object(Map::from_iter([("stacks".into(), Value::Array(stacks))])),
        ));
    }

    /// Writes the merged document.
    fn write(self, stage: &str, out: &mut dyn Write) -> CommandResult {
        crate::output::json(out, &merge(stage, self.parts)).map_err(unwritable)
    }
}

/// One document from the accounts' `parts` (see the module's comment).
fn merge(stage: &str, parts: Vec<(String, Value)>) -> Value {
    let mut merged = Map::new();
    merged.insert("stage".into(), Value::from(stage));
    for (account, part) in parts {
        let Value::Object(fields) = part else {
            continue;
        };
        for (key, value) in fields {
            match (key.as_str(), value) {
                ("stage", _) => {}
                ("result", value) => {
                    let failed = merged.get("result").and_then(Value::as_str) == Some("failed");
                    if !failed {
                        merged.insert(key, value);
                    }
                }
                ("seconds", value) => {
                    let sum = merged.get("seconds").and_then(Value::as_f64).unwrap_or(0.0)
                        + value.as_f64().unwrap_or(0.0);
                    merged.insert(key, Value::from(sum));
                }
                (_, Value::Array(items)) => {
                    let list = merged
                        .entry(key)
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(list) = list {
                        list.extend(items.into_iter().map(|item| in_account(item, &account)));
                    }
                }
                (_, value) => {
                    merged.entry(key).or_insert(value);
                }
            }
        }
    }
    Value::Object(merged)
}

fn in_account(item: Value, account: &str) -> Value {
    match item {
        Value::Object(mut fields) => {
            fields.insert("account".into(), Value::from(account));
            Value::Object(fields)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const DATA: &str = "111122223333";
    const WAREHOUSE: &str = "444455556666";

    #[test]
    fn stacks_of_both_accounts_are_one_list_each_with_its_account() {
        let merged = merge(
            "prod-private",
            vec![
                (
                    DATA.into(),
                    json!({"stage": "prod-private", "result": "done", "seconds": 2.5,
                           "stacks": [{"id": "Storage", "result": "created"}]}),
                ),
                (
                    WAREHOUSE.into(),
                    json!({"stage": "prod-private", "result": "done", "seconds": 1.0,
                           "stacks": [{"id": "Warehouse", "result": "unchanged"}]}),
                ),
            ],
        );
        assert_eq!(
            merged,
            json!({"stage": "prod-private", "result": "done", "seconds": 3.5, "stacks": [
                {"id": "Storage", "result": "created", "account": DATA},
                {"id": "Warehouse", "result": "unchanged", "account": WAREHOUSE},
            ]})
        );
    }

    #[test]
    fn one_failed_account_fails_the_whole_and_the_accounts_not_run_say_why() {
        let mut reports = JsonReports::default();
        let failed = json!({"stage": "s", "result": "failed", "seconds": 1.0,
                            "stacks": [{"id": "Storage", "result": "failed", "reason": "boom"}]});
        reports
            .add(DATA, &serde_json::to_vec(&failed).unwrap())
            .unwrap();
        reports.not_run(
            WAREHOUSE,
            &["Warehouse".into()],
            "not deployed",
            "stopped after a failure in account 111122223333",
        );
        let mut out = Vec::new();
        reports.write("s", &mut out).unwrap();
        let merged: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(merged["result"], "failed");
        assert_eq!(
            merged["stacks"][1],
            json!({"id": "Warehouse", "result": "not deployed", "account": WAREHOUSE,
                   "reason": "stopped after a failure in account 111122223333"})
        );
    }

    #[test]
    fn a_later_success_does_not_hide_an_earlier_failure() {
        let merged = merge(
            "s",
            vec![
                (DATA.into(), json!({"result": "failed"})),
                (WAREHOUSE.into(), json!({"result": "done"})),
            ],
        );
        assert_eq!(merged["result"], "failed");
    }

    #[test]
    fn lists_of_names_are_joined_and_other_fields_kept_from_the_first() {
        let merged = merge(
            "s",
            vec![
                (DATA.into(), json!({"differing": ["Storage"], "format": 1})),
                (
                    WAREHOUSE.into(),
                    json!({"differing": ["Loader"], "format": 2}),
                ),
            ],
        );
        assert_eq!(merged["differing"], json!(["Storage", "Loader"]));
        assert_eq!(merged["format"], 1);
    }

    #[test]
    fn a_report_that_is_not_json_is_an_error_naming_the_account() {
        let error = JsonReports::default()
            .add(WAREHOUSE, b"account 4444: done")
            .unwrap_err();
        assert!(format!("{error:?}").contains(WAREHOUSE), "{error:?}");
    }
}
