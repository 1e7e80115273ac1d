//! `provisioner verify`: is the deployed stage what synth says? One line
//! per check (pass, FAIL with the fix, or not checked with the reason), or
//! `--output json`; exit 1 when a check fails.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::anyhow;
use serde::Serialize;

use crate::aws::AwsOptions;
use crate::deploy::cfn::Cfn;
use crate::failure::{CommandResult, Failure};
use crate::output::Format;
use crate::synth_output::{read_manifest, read_stacks};
use crate::verify::{self, Check, Platform, Status};

/// `provisioner verify` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// Stage whose deployment is checked against its synth output.
    #[arg(long, default_value = "dev", env = "PROVISIONER_STAGE")]
    pub stage: String,
    /// Folder written by `provisioner synth`.
    #[arg(
        short = 'o',
        long = "output-dir",
        visible_aliases = ["synth-dir", "out"],
        value_name = "DIR",
        default_value = crate::synth_output::DEFAULT_SYNTH_DIR
    )]
    pub synth_dir: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Format,
    #[command(flatten)]
    pub accounts: crate::accounts::AccountArgs,
}

pub fn run(args: VerifyArgs, aws: &AwsOptions, out: &mut dyn Write) -> CommandResult {
    match checks(&args, aws) {
        Ok((stage, checks)) => report(&stage, &checks, args.output, out),
        Err(failure) => {
            if args.output == Format::Json {
                // A machine reading stdout gets a document either way.
                let error = ErrorReport {
                    stage: &args.stage,
                    error: format!("{:#}", failure.error),
                    hint: failure.hint.as_deref(),
                };
                // The failure is what matters; a closed stdout is not.
                let _ = serde_json::to_writer_pretty(&mut *out, &error)
                    .map_err(std::io::Error::from)
                    .and_then(|()| writeln!(out));
            }
            Err(failure)
        }
    }
}

/// `--output json` when verify could not run at all.
#[derive(Debug, Serialize)]
struct ErrorReport<'a> {
    stage: &'a str,
    error: String,
    hint: Option<&'a str>,
}

/// Runs every check: the stage name and the checks, or why none could run.
/// A stage across accounts is checked one account at a time, each with
/// its own session and only its own stacks (no reference crosses
/// accounts, so every check reads within one).
fn checks(args: &VerifyArgs, aws: &AwsOptions) -> Result<(String, Vec<Check>), Failure> {
    use crate::commands::session;
    let stage = crate::stage::named(&args.stage)?;
    let manifest = read_manifest(&args.synth_dir, stage.name)?;
    let stacks = read_stacks(&args.synth_dir, &manifest)?;
    let groups = crate::accounts::groups(&manifest, stage, &args.accounts.profile_for)?;
    if groups.is_empty() {
        let region = aws.region.as_deref().unwrap_or(stage.region);
        crate::synth_output::check_region(&manifest, region)?;
        return session::block_on(async {
            let shared = crate::aws::sdk_config(aws, region).await;
            let checks = account_checks(&manifest, stacks, &shared, aws).await?;
            Ok((manifest.stage.clone(), checks))
        });
    }
    let every: Vec<String> = manifest.stacks.iter().map(|s| s.id.clone()).collect();
    session::block_on(async {
        let sessions = crate::accounts::sessions(aws, &groups, &every).await?;
        let mut checks = Vec::new();
        for session in sessions {
            let region = aws
                .region
                .as_deref()
                .unwrap_or(&session.group.account.region);
            let own = stacks
                .iter()
                .filter(|s| session.ids.contains(&s.id))
                .cloned()
                .collect();
            let shared = crate::aws::sdk_config(&session.aws, region).await;
            let account = &session.group.account.id;
            let found = account_checks(&manifest, own, &shared, &session.aws).await?;
            checks.extend(found.into_iter().map(|check| Check {
                account: Some(account.as_str().into()),
                ..check
            }));
        }
        Ok((manifest.stage.clone(), checks))
    })
}

/// The checks of `stacks`, all deployed in the account `shared` reaches.
async fn account_checks(
    manifest: &stacks::manifest::Manifest,
    stacks: Vec<stacks::model::SynthesizedStack>,
    shared: &aws_config::SdkConfig,
    aws: &AwsOptions,
) -> Result<Vec<Check>, Failure> {
    let cfn = Cfn::new(
        aws_sdk_cloudformation::Client::new(shared),
        Duration::from_secs(1),
    );
    let platform = Platform::load(manifest, stacks, &cfn).await?;
    Ok(verify::run(&platform, &verify::Clients::new(shared, aws)).await)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    stage: &'a str,
    passed: usize,
    failed: usize,
    not_checked: usize,
    checks: &'a [Check],
}

/// Prints the checks; any failure is exit code 1.
pub fn report(stage: &str, checks: &[Check], output: Format, out: &mut dyn Write) -> CommandResult {
    let count = |status| checks.iter().filter(|c| c.status == status).count();
    let report = Report {
        stage,
        passed: count(Status::Pass),
        failed: count(Status::Fail),
        not_checked: count(Status::NotChecked),
        checks,
    };
    let written = match output {
        Format::Json => crate::output::json(out, &report),
        Format::Text => write_text(&report, out),
    };
    written.map_err(crate::output::unwritable)?;
    if report.failed == 0 {
        return Ok(());
    }
    Err(Failure::failed(anyhow!(
        "{} of {} checks failed for stage {stage}",
        report.failed,
        checks.len()
    ))
    .hint("each FAIL line ends with its fix; run verify again after fixing"))
}

fn write_text(report: &Report<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    let mut account = None;
    for check in report.checks {
        if check.account.is_some() && check.account != account {
            account.clone_from(&check.account);
            writeln!(
                out,
                "account {}:",
                check.account.as_deref().unwrap_or_default()
            )?;
        }
        let label = check.status.label();
        write!(
            out,
            "{label:<11} {:<10} {}: {}",
            check.component, check.name, check.detail
        )?;
        match &check.fix {
            Some(fix) => writeln!(out, " -- fix: {fix}")?,
            None => writeln!(out)?,
        }
    }
    writeln!(
        out,
        "verify {}: {} passed, {} failed, {} not checked",
        report.stage, report.passed, report.failed, report.not_checked
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks() -> Vec<Check> {
        vec![
            Check::pass(
                "Network",
                "internet gateway attached to the VPC",
                "igw-1 attached to vpc-1",
            ),
            Check::fail(
                "Network",
                "Redshift security group admits only Firehose and Glue on 5439",
                "missing ingress tcp 5439 from 52.19.239.192/27",
                "aws ec2 authorize-security-group-ingress --group-id sg-1",
            ),
            Check::not_checked(
                "Streaming",
                "role DeliveryRole allows what its component needs",
                "no simulator",
            ),
        ]
    }

    #[test]
    fn text_names_each_check_with_its_status_and_the_fix_of_a_failure() {
        let mut out = Vec::new();
        let failure = report("dev", &checks(), Format::Text, &mut out).unwrap_err();
        assert_eq!(failure.code, crate::failure::ExitCode::Failed);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("pass        Network    internet gateway attached"));
        assert!(lines[1].starts_with("FAIL        Network    Redshift security group"));
        assert!(
            lines[1].ends_with("-- fix: aws ec2 authorize-security-group-ingress --group-id sg-1")
        );
        assert!(lines[2].starts_with("not checked Streaming  role DeliveryRole"));
        assert_eq!(lines[3], "verify dev: 1 passed, 1 failed, 1 not checked");
    }

    #[test]
    fn json_carries_the_same_checks_and_counts() {
        let mut out = Vec::new();
        let _ = report("dev", &checks(), Format::Json, &mut out);
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["failed"], 1);
        assert_eq!(json["notChecked"], 1);
        assert_eq!(json["checks"][1]["status"], "fail");
        assert_eq!(json["checks"][2]["status"], "not-checked");
        assert!(json["checks"][0].get("fix").is_none());
    }

    #[test]
    fn passes_and_not_checked_alone_exit_zero() {
        let mut checks = checks();
        checks.remove(1);
        assert!(report("dev", &checks, Format::Text, &mut Vec::new()).is_ok());
    }
}
