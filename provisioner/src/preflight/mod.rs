//! Preflight: what a real account would refuse half-way through a deploy,
//! checked before anything changes. `provisioner deploy` runs it first (a
//! failed check stops the deploy, exit 2), `provisioner doctor` alone.
//!
//! Each check is pass, FAIL with its fix, or not checked with the reason
//! (an emulator without the API, say): only a FAIL stops a deploy.
//! Checks are pure functions of the answers (`account`, `concurrency`,
//! `toolkit`); this module asks AWS and puts them together.

pub mod account;
pub mod concurrency;
pub mod network;
pub mod toolkit;

use std::io::Write;

use aws_config::SdkConfig;
use stacks::assets::TOOLKIT_STACK_NAME;
use stacks::stage::Stage;

use crate::deploy::cfn::Cfn;
use crate::failure::{CommandResult, Failure};
use crate::verify::{Check, Status};

use concurrency::AccountConcurrency;

/// A stack of the stage's synth output, as deploy reads it.
#[derive(Debug, Clone)]
pub struct StageStack {
    /// Short id, e.g. `Api`.
    pub id: String,
    /// CloudFormation name, e.g. `retail-prod-api`.
    pub stack_name: String,
    pub template: serde_json::Value,
}

/// The stage's synth output in `dir`, or `None` when there is none to read
/// (doctor then skips the checks that need it; deploy reports why itself).
pub fn stage_stacks(dir: &std::path::Path, stage: &str) -> Option<Vec<StageStack>> {
    let manifest = crate::synth_output::read_manifest(dir, stage).ok()?;
    manifest
        .stacks
        .iter()
        .map(|entry| {
            let text = std::fs::read_to_string(dir.join(&entry.template_file)).ok()?;
            Some(StageStack {
                id: entry.id.clone(),
                stack_name: entry.stack_name.clone(),
                template: serde_json::from_str(&text).ok()?,
            })
        })
        .collect()
}

/// The clients the checks ask.
#[derive(Debug)]
pub struct Clients {
    pub sts: aws_sdk_sts::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub service_quotas: aws_sdk_servicequotas::Client,
    pub iam: aws_sdk_iam::Client,
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub cfn: Cfn,
    pub region: String,
    pub profile: Option<String>,
}

impl Clients {
    pub fn new(shared: &SdkConfig, cfn: Cfn, region: &str, profile: Option<&str>) -> Self {
        Self {
            sts: aws_sdk_sts::Client::new(shared),
            lambda: aws_sdk_lambda::Client::new(shared),
            ec2: aws_sdk_ec2::Client::new(shared),
            service_quotas: aws_sdk_servicequotas::Client::new(shared),
            iam: aws_sdk_iam::Client::new(shared),
            cloudformation: aws_sdk_cloudformation::Client::new(shared),
            cfn,
            region: region.to_string(),
            profile: profile.map(str::to_string),
        }
    }
}

/// Every check, in the order a user fixes them. `stacks`: the stage's
/// synth output (`None`: not synthesised, so its reservations are unknown).
pub async fn run(stage: &Stage, stacks: Option<&[StageStack]>, clients: &Clients) -> Vec<Check> {
    let caller = account::caller(&clients.sts).await;
    let mut checks = vec![
        account::credentials(&caller, clients.profile.as_deref()),
        account::region(stage.name, stage.region, &clients.region),
    ];
    if caller.is_err() {
        // Every other question would fail the same way.
        for (component, name) in [
            ("Lambda", "reserved concurrency fits the account's quota"),
            ("Network", "VPCs fit the region's quota"),
            ("Toolkit", "toolkit version"),
            (
                "Toolkit",
                "API Gateway logs with the toolkit's account-wide role",
            ),
        ] {
            checks.push(Check::not_checked(
                component,
                name,
                "no working credentials",
            ));
        }
        return checks;
    }
    checks.push(concurrency_check(stage, stacks, clients).await);
    checks.push(network_check(stage, stacks, clients).await);
    match clients.cfn.describe(TOOLKIT_STACK_NAME).await {
        Ok(deployed) => {
            let deployed = deployed.as_ref();
            checks.push(toolkit::version(stage.name, deployed));
            let role = match toolkit::api_gateway_role_arn(deployed) {
                Some(arn) => Some(toolkit::role_exists(&clients.iam, arn).await),
                None => None,
            };
            checks.push(toolkit::api_gateway_role(stage.name, deployed, role));
        }
        Err(error) => checks.push(Check::not_checked(
            "Toolkit",
            "toolkit version",
            format!("looking up {TOOLKIT_STACK_NAME}: {error}"),
        )),
    }
    checks
}

async fn concurrency_check(
    stage: &Stage,
    stacks: Option<&[StageStack]>,
    clients: &Clients,
) -> Check {
    let name = "reserved concurrency fits the account's quota";
    let Some(stacks) = stacks else {
        return Check::not_checked(
            "Lambda",
            name,
            format!(
                "no synth output: run `provisioner synth --stage {}`",
                stage.name
            ),
        );
    };
    let account = match account_concurrency(&clients.lambda).await {
        Ok(account) => account,
        Err(reason) => return Check::not_checked("Lambda", name, reason),
    };
    let held = match held_by_stage(stacks, clients).await {
        Ok(held) => held,
        Err(reason) => return Check::not_checked("Lambda", name, reason),
    };
    concurrency::check(
        stage.name,
        &clients.region,
        account,
        &concurrency::reservations(stacks),
        held,
    )
}

async fn network_check(stage: &Stage, stacks: Option<&[StageStack]>, clients: &Clients) -> Check {
    let Some(stacks) = stacks else {
        return Check::not_checked(
            "Network",
            "VPCs fit the region's quota",
            format!(
                "no synth output: run `provisioner synth --stage {}`",
                stage.name
            ),
        );
    };
    let mut adds = 0;
    for stack in stacks {
        let vpcs = network::vpcs_in(&stack.template);
        if vpcs == 0 {
            continue;
        }
        match clients.cfn.describe(&stack.stack_name).await {
            Ok(Some(_)) => {}
            Ok(None) => adds += vpcs,
            Err(error) => {
                return Check::not_checked(
                    "Network",
                    "VPCs fit the region's quota",
                    format!("looking up stack {}: {error}", stack.stack_name),
                );
            }
        }
    }
    if adds == 0 {
        return network::none_added(stage.name);
    }
    network::check(stage.name, &clients.region, adds, vpc_quota(clients).await)
}

/// The region's VPCs (EC2 DescribeVpcs) and its quota (Service Quotas: the
/// account's applied value, else AWS's default).
async fn vpc_quota(clients: &Clients) -> Result<network::VpcQuota, String> {
    use network::{QuotaSource, VPC_SERVICE_CODE, VPCS_PER_REGION_QUOTA_CODE};
    let mut in_use = 0u32;
    let mut pages = clients.ec2.describe_vpcs().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            format!(
                "EC2 DescribeVpcs failed: {}",
                aws_sdk_ec2::error::DisplayErrorContext(&e)
            )
        })?;
        in_use += u32::try_from(page.vpcs().len()).unwrap_or(u32::MAX);
    }
    let value = |quota: Option<&aws_sdk_servicequotas::types::ServiceQuota>| {
        quota
            .and_then(|q| q.value())
            .map(|v| v as u32)
            .ok_or_else(|| "Service Quotas answered without a value".to_string())
    };
    let applied = clients
        .service_quotas
        .get_service_quota()
        .service_code(VPC_SERVICE_CODE)
        .quota_code(VPCS_PER_REGION_QUOTA_CODE)
        .send()
        .await;
    let (quota, source) = match applied {
        Ok(answer) => (value(answer.quota())?, QuotaSource::Applied),
        // An account that never changed the quota may have no applied value.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_no_such_resource_exception()) =>
        {
            let default = clients
                .service_quotas
                .get_aws_default_service_quota()
                .service_code(VPC_SERVICE_CODE)
                .quota_code(VPCS_PER_REGION_QUOTA_CODE)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "Service Quotas GetAWSDefaultServiceQuota failed: {}",
                        aws_sdk_servicequotas::error::DisplayErrorContext(&e)
                    )
                })?;
            (value(default.quota())?, QuotaSource::Default)
        }
        Err(e) => {
            return Err(format!(
                "Service Quotas GetServiceQuota failed: {}",
                aws_sdk_servicequotas::error::DisplayErrorContext(&e)
            ));
        }
    };
    Ok(network::VpcQuota {
        in_use,
        quota,
        source,
    })
}

async fn account_concurrency(
    lambda: &aws_sdk_lambda::Client,
) -> Result<AccountConcurrency, String> {
    let answer = lambda.get_account_settings().send().await.map_err(|e| {
        format!(
            "Lambda GetAccountSettings failed: {}",
            aws_sdk_lambda::error::DisplayErrorContext(&e)
        )
    })?;
    let limit = answer
        .account_limit()
        .ok_or("Lambda GetAccountSettings gave no AccountLimit")?;
    let count = |n: i32| u32::try_from(n).unwrap_or(0);
    Ok(AccountConcurrency {
        quota: count(limit.concurrent_executions()),
        unreserved: count(limit.unreserved_concurrent_executions().unwrap_or(0)),
    })
}

/// What the stage's deployed functions reserve now (a first deploy: 0).
async fn held_by_stage(stacks: &[StageStack], clients: &Clients) -> Result<u32, String> {
    let mut held = 0;
    for stack in stacks {
        let exists = clients
            .cfn
            .describe(&stack.stack_name)
            .await
            .map_err(|e| format!("looking up stack {}: {e}", stack.stack_name))?
            .is_some();
        if !exists {
            continue;
        }
        let resources = clients
            .cloudformation
            .describe_stack_resources()
            .stack_name(&stack.stack_name)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "listing the resources of {}: {}",
                    stack.stack_name,
                    aws_sdk_cloudformation::error::DisplayErrorContext(&e)
                )
            })?;
        for resource in resources.stack_resources() {
            let Some(function) = resource
                .physical_resource_id()
                .filter(|_| resource.resource_type() == Some("AWS::Lambda::Function"))
            else {
                continue;
            };
            let concurrency = clients
                .lambda
                .get_function_concurrency()
                .function_name(function)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "Lambda GetFunctionConcurrency of {function}: {}",
                        aws_sdk_lambda::error::DisplayErrorContext(&e)
                    )
                })?;
            held += concurrency
                .reserved_concurrent_executions()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0);
        }
    }
    Ok(held)
}

/// The preflight of `stage` with clients for `aws` (the stage's region
/// unless `--region`).
pub async fn checks(
    stage: &Stage,
    stacks: Option<&[StageStack]>,
    aws: &crate::aws::AwsOptions,
) -> Vec<Check> {
    let region = aws.region.as_deref().unwrap_or(stage.region);
    let shared = crate::aws::sdk_config(aws, region).await;
    let cfn = Cfn::new(
        aws_sdk_cloudformation::Client::new(&shared),
        std::time::Duration::from_secs(1),
    );
    let clients = Clients::new(&shared, cfn, region, aws.profile.as_deref());
    run(stage, stacks, &clients).await
}

/// `provisioner deploy`'s first step: every check, printed only when one
/// fails (then the deploy stops, exit 2); otherwise one progress line.
pub async fn before_deploy(
    stage: &Stage,
    synth_dir: &std::path::Path,
    aws: &crate::aws::AwsOptions,
    out: &mut dyn Write,
    progress: &dyn crate::deploy::progress::Progress,
) -> CommandResult {
    // deploy itself refuses a missing or unreadable synth output, with its
    // hint: here it only leaves the concurrency unchecked.
    let stacks = stage_stacks(synth_dir, stage.name);
    let checks = checks(stage, stacks.as_deref(), aws).await;
    if verdict(stage.name, &checks).is_ok() {
        let count = |status| checks.iter().filter(|c| c.status == status).count();
        progress.note(&format!(
            "preflight: {} checks passed, {} not checked",
            count(Status::Pass),
            count(Status::NotChecked)
        ));
        return Ok(());
    }
    write(stage.name, &checks, out)
        .map_err(|e| Failure::usage(anyhow::Error::new(e).context("writing the preflight")))?;
    verdict(stage.name, &checks)
}

/// One line per check and a summary, as `verify` prints them.
pub fn write(stage: &str, checks: &[Check], out: &mut dyn Write) -> std::io::Result<()> {
    for check in checks {
        write!(
            out,
            "{:<11} {:<10} {}: {}",
            check.status.label(),
            check.component,
            check.name,
            check.detail
        )?;
        match &check.fix {
            Some(fix) => writeln!(out, " -- fix: {fix}")?,
            None => writeln!(out)?,
        }
    }
    let count = |status| checks.iter().filter(|c| c.status == status).count();
    writeln!(
        out,
        "preflight {stage}: {} passed, {} failed, {} not checked",
        count(Status::Pass),
        count(Status::Fail),
        count(Status::NotChecked)
    )
}

/// A failed check as the command's failure: nothing was changed (exit 2).
pub fn verdict(stage: &str, checks: &[Check]) -> CommandResult {
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if failed == 0 {
        return Ok(());
    }
    Err(Failure::usage(anyhow::anyhow!(
        "preflight: {failed} of {} checks failed for stage {stage}; nothing was changed",
        checks.len()
    ))
    .hint("each FAIL line ends with its fix; `provisioner doctor --stage STAGE` checks again"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_check_stops_with_usage_and_says_nothing_changed() {
        let checks = vec![
            Check::pass("Account", "credentials sign in to an account", "account 1"),
            Check::fail("Lambda", "reserved concurrency", "402 of 0", "ask for 502"),
            Check::not_checked("Toolkit", "toolkit version", "emulator"),
        ];
        let mut out = Vec::new();
        write("prod", &checks, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                "FAIL        Lambda     reserved concurrency: 402 of 0 -- fix: ask for 502"
            )
        );
        assert!(text.ends_with("preflight prod: 1 passed, 1 failed, 1 not checked\n"));
        let failure = verdict("prod", &checks).unwrap_err();
        assert_eq!(failure.code, crate::failure::ExitCode::Usage);
        assert!(format!("{:#}", failure.error).contains("nothing was changed"));
    }

    #[test]
    fn not_checked_alone_does_not_stop_a_deploy() {
        let checks = vec![Check::not_checked("Lambda", "reserved concurrency", "moto")];
        assert!(verdict("dev", &checks).is_ok());
    }
}
