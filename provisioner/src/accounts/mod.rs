//! A stage whose stacks go to two accounts (a private warehouse in an
//! account of its own): one AWS session per account. The manifest's stacks
//! are grouped by the account they name; each group gets clients from its
//! account's profile (the stage's, or `--profile-for ACCOUNT_ID=PROFILE`),
//! checked with STS to reach that very account, and is deployed, diffed or
//! destroyed on its own. Stacks of different accounts never import from
//! each other (synth refuses it), so the groups run one after the other.

mod reports;

pub use reports::AccountReports;

use stacks::manifest::{Manifest, StackAccount};

use crate::aws::{AwsOptions, Clients};
use crate::failure::Failure;
use stacks::stage::Stage;

/// `--profile-for ACCOUNT_ID=PROFILE`: the profile used for one account of
/// a stage across accounts, instead of the one the stage names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileFor {
    pub account: String,
    pub profile: String,
}

/// Parses `ACCOUNT_ID=PROFILE` (a 12-digit id, a non-empty profile).
pub fn parse_profile_for(text: &str) -> Result<ProfileFor, String> {
    let (account, profile) = text.split_once('=').ok_or_else(|| {
        format!("`{text}` is not ACCOUNT_ID=PROFILE (e.g. 444455556666=retail-warehouse)")
    })?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{account}` is not an AWS account id (12 digits), in `{text}`"
        ));
    }
    if profile.trim().is_empty() {
        return Err(format!("no profile after `=` in `{text}`"));
    }
    Ok(ProfileFor {
        account: account.to_string(),
        profile: profile.to_string(),
    })
}

/// The flag shared by deploy and destroy.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AccountArgs {
    /// For a stage across accounts: use this profile for this account
    /// instead of the stage's (repeatable, one per account).
    #[arg(long = "profile-for", value_name = "ACCOUNT_ID=PROFILE", value_parser = parse_profile_for)]
    pub profile_for: Vec<ProfileFor>,
}

/// The stacks of one account, with the profile that reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub account: StackAccount,
    pub profile: String,
    /// Stack ids, in manifest (deploy) order.
    pub stacks: Vec<String>,
}

/// The manifest's stacks grouped by account, the data account's group
/// first (deploy order; destroy runs them reversed). Empty when no stack
/// names an account (the stage deploys into the credentials' account).
pub fn groups(
    manifest: &Manifest,
    stage: &Stage,
    overrides: &[ProfileFor],
) -> Result<Vec<Group>, Failure> {
    let mut groups: Vec<Group> = Vec::new();
    let mut unplaced = Vec::new();
    for stack in &manifest.stacks {
        let Some(account) = &stack.account else {
            unplaced.push(stack.id.clone());
            continue;
        };
        match groups.iter_mut().find(|g| g.account.id == account.id) {
            Some(group) => group.stacks.push(stack.id.clone()),
            None => groups.push(Group {
                account: account.clone(),
                profile: account.profile.clone(),
                stacks: vec![stack.id.clone()],
            }),
        }
    }
    if groups.is_empty() {
        refuse_profile_for(overrides, &manifest.stage)?;
        return Ok(groups);
    }
    if !unplaced.is_empty() {
        return Err(Failure::usage(anyhow::anyhow!(
            "stage {} places some stacks in named accounts but not {}: every stack of a stage \
             across accounts must name its account",
            manifest.stage,
            unplaced.join(", ")
        ))
        .hint(format!(
            "run `{}` again with this provisioner",
            crate::synth_output::synth_command(&manifest.stage, std::path::Path::new("."))
        )));
    }
    apply_profile_for(&mut groups, overrides, &manifest.stage)?;
    // The data account first: the warehouse's loader runs on a schedule
    // and reads the lake, so the lake should exist before the loader's
    // first run; destroy reverses this, removing the reader before the
    // data it reads.
    if let Some(data) = stage.cross_account().map(|accounts| accounts.data.id) {
        groups.sort_by_key(|g| g.account.id != data);
    }
    Ok(groups)
}

/// `--profile-for` is refused for a stage of one account.
fn refuse_profile_for(overrides: &[ProfileFor], stage: &str) -> Result<(), Failure> {
    match overrides.first() {
        Some(flag) => Err(Failure::usage(anyhow::anyhow!(
            "--profile-for {}={}: stage {stage} names no accounts, it deploys into the account \
             of the credentials",
            flag.account,
            flag.profile,
        ))
        .hint("drop --profile-for and choose the account with --profile")),
        None => Ok(()),
    }
}

/// Each `--profile-for` replaces its account's profile; an account the
/// stage does not deploy into is refused.
fn apply_profile_for(
    groups: &mut [Group],
    overrides: &[ProfileFor],
    stage: &str,
) -> Result<(), Failure> {
    for flag in overrides {
        let Some(group) = groups.iter_mut().find(|g| g.account.id == flag.account) else {
            let known: Vec<&str> = groups.iter().map(|g| g.account.id.as_str()).collect();
            return Err(Failure::usage(anyhow::anyhow!(
                "--profile-for names account {}, which stage {stage} does not deploy into (its \
                 accounts: {})",
                flag.account,
                known.join(", ")
            ))
            .hint("correct the account id, or set the stage's accounts in stacks/src/stage.rs"));
        };
        group.profile = flag.profile.clone();
    }
    Ok(())
}

/// `aws` with the group's profile (its region is the stage's, checked by
/// the commands as for one account).
pub fn options_for(aws: &AwsOptions, group: &Group) -> AwsOptions {
    AwsOptions {
        profile: Some(group.profile.clone()),
        ..aws.clone()
    }
}

/// Clients for the group's account, refused unless the profile's
/// credentials belong to that account (STS GetCallerIdentity).
pub async fn connect(aws: &AwsOptions, group: &Group) -> Result<(AwsOptions, Clients), Failure> {
    let options = options_for(aws, group);
    let region = aws.region.as_deref().unwrap_or(&group.account.region);
    let clients = crate::aws::clients(&options, region).await;
    let identity = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| {
            Failure::failed(anyhow::anyhow!(
                "asking STS who profile `{}` is (for account {}): {}",
                group.profile,
                group.account.id,
                aws_sdk_sts::error::DisplayErrorContext(&e)
            ))
            .hint("check the profile's credentials (`aws sts get-caller-identity --profile NAME`)")
        })?;
    let reached = identity.account().unwrap_or_default();
    if reached != group.account.id {
        return Err(Failure::usage(anyhow::anyhow!(
            "profile `{}` reaches account {reached}, but stacks {} go to account {}",
            group.profile,
            group.stacks.join(", "),
            group.account.id
        ))
        .hint(format!(
            "nothing was changed; pass `--profile-for {}=PROFILE` with a profile of account {}, \
             or set the account's profile in stacks/src/stage.rs",
            group.account.id, group.account.id
        )));
    }
    Ok((options, clients))
}

/// One account's part of a command: the selected stacks of its group, and
/// the session that reaches it.
#[derive(Debug)]
pub struct Session<'g> {
    pub group: &'g Group,
    /// The selected stacks of the group, in manifest order.
    pub ids: Vec<String>,
    /// The command's options with the account's profile.
    pub aws: AwsOptions,
    pub clients: Clients,
}

/// A session for every group holding a selected stack, each profile
/// checked to reach its account ([`connect`]) before the caller changes
/// anything in either.
pub async fn sessions<'g>(
    aws: &AwsOptions,
    groups: &'g [Group],
    selected: &[String],
) -> Result<Vec<Session<'g>>, Failure> {
    let mut sessions = Vec::new();
    for group in groups {
        let ids: Vec<String> = group
            .stacks
            .iter()
            .filter(|id| selected.contains(id))
            .cloned()
            .collect();
        if ids.is_empty() {
            continue;
        }
        let (aws, clients) = connect(aws, group).await?;
        sessions.push(Session {
            group,
            ids,
            aws,
            clients,
        });
    }
    Ok(sessions)
}

/// One side of the stage an operator's command reads: its credentials'
/// options, SDK configuration and CloudFormation client.
#[derive(Debug, Clone)]
pub struct Side {
    pub aws: AwsOptions,
    pub shared: aws_config::SdkConfig,
    pub cfn: crate::deploy::cfn::Cfn,
}

/// Where `reconcile` and `reimport` read: the data side (the lake, the
/// tables: the Storage stack) and the warehouse side (the cluster: the
/// Warehouse stack). One session for both in a stage of one account; for a
/// stage across accounts each account's own profile (the stage's, or
/// `--profile-for`), checked with STS to reach that account.
#[derive(Debug, Clone)]
pub struct Sides {
    pub data: Side,
    pub warehouse: Side,
}

pub async fn sides(
    aws: &AwsOptions,
    stage: &Stage,
    overrides: &[ProfileFor],
) -> Result<Sides, Failure> {
    let Some(accounts) = stage.cross_account() else {
        refuse_profile_for(overrides, stage.name)?;
        let side = side(aws.clone(), stage.region).await;
        return Ok(Sides {
            data: side.clone(),
            warehouse: side,
        });
    };
    let group = |account: &stacks::stage::Account, stack: &str| Group {
        account: StackAccount {
            id: account.id.to_string(),
            region: account.region.to_string(),
            profile: account.profile.to_string(),
        },
        profile: account.profile.to_string(),
        stacks: vec![stack.to_string()],
    };
    let mut groups = [
        group(&accounts.data, "Storage"),
        group(&accounts.warehouse, "Warehouse"),
    ];
    apply_profile_for(&mut groups, overrides, stage.name)?;
    let [data, warehouse] = groups;
    let (data_aws, _) = connect(aws, &data).await?;
    let (warehouse_aws, _) = connect(aws, &warehouse).await?;
    let region = |group: &Group| aws.region.clone().unwrap_or(group.account.region.clone());
    Ok(Sides {
        data: side(data_aws, &region(&data)).await,
        warehouse: side(warehouse_aws, &region(&warehouse)).await,
    })
}

async fn side(aws: AwsOptions, region: &str) -> Side {
    let (shared, cfn) = crate::commands::session::stage_clients(&aws, region).await;
    Side { aws, shared, cfn }
}

/// The engine (deploy, destroy) works in one session: stacks it is given
/// must all be of one account, else they would all land in the account the
/// credentials reach. The commands hand it one account's group at a time.
pub fn check_selection(manifest: &Manifest, ids: &[String]) -> Result<(), Failure> {
    let mut accounts: Vec<&str> = manifest
        .stacks
        .iter()
        .filter(|s| ids.contains(&s.id))
        .map(|s| s.account.as_ref().map_or("", |a| a.id.as_str()))
        .collect();
    accounts.sort_unstable();
    accounts.dedup();
    if accounts.len() <= 1 {
        return Ok(());
    }
    Err(Failure::usage(anyhow::anyhow!(
        "the stacks {} of stage {} go to different accounts and cannot share one AWS session",
        ids.join(", "),
        manifest.stage
    ))
    .hint("run `provisioner deploy` or `destroy`: they take each account's stacks in turn"))
}

#[cfg(test)]
mod tests {

    use super::*;

    fn manifest(stage: &Stage) -> Manifest {
        let stacks = stacks::platform::synth(stage, &stacks::testing::platform_assets()).unwrap();
        Manifest::new(stage, &stacks, Vec::new())
    }

    #[test]
    fn profile_for_is_a_twelve_digit_account_and_a_profile() {
        assert_eq!(
            parse_profile_for("444455556666=wh").unwrap(),
            ProfileFor {
                account: "444455556666".into(),
                profile: "wh".into()
            }
        );
        assert!(
            parse_profile_for("4444=wh")
                .unwrap_err()
                .contains("12 digits")
        );
        assert!(
            parse_profile_for("444455556666")
                .unwrap_err()
                .contains("ACCOUNT_ID=PROFILE")
        );
        assert!(
            parse_profile_for("444455556666=")
                .unwrap_err()
                .contains("no profile")
        );
    }

    #[test]
    fn prod_private_splits_into_the_data_account_then_the_warehouse_account() {
        let stage = Stage::named("prod-private").unwrap();
        let manifest = manifest(stage);
        let flag = parse_profile_for("444455556666=other").unwrap();
        let groups = groups(&manifest, stage, &[flag]).unwrap();
        let summary: Vec<(&str, &str)> = groups
            .iter()
            .map(|g| (g.account.id.as_str(), g.profile.as_str()))
            .collect();
        assert_eq!(
            summary,
            [("111122223333", "retail-data"), ("444455556666", "other")]
        );
        let every: usize = groups.iter().map(|g| g.stacks.len()).sum();
        assert_eq!(every, manifest.stacks.len());
        assert!(
            groups[1].stacks.iter().any(|id| id.contains("Warehouse")),
            "{groups:?}"
        );
    }

    #[test]
    fn a_one_account_stage_has_no_groups_and_refuses_profile_for() {
        let stage = Stage::named("prod").unwrap();
        let prod = manifest(stage);
        assert!(groups(&prod, stage, &[]).unwrap().is_empty());
        let flag = parse_profile_for("444455556666=other").unwrap();
        assert!(groups(&prod, stage, &[flag]).is_err());
        let stage = Stage::named("prod-private").unwrap();
        let flag = parse_profile_for("999999999999=other").unwrap();
        let text = format!(
            "{:#}",
            groups(&manifest(stage), stage, &[flag]).unwrap_err()
        );
        assert!(text.contains("999999999999"), "{text}");
    }
}
