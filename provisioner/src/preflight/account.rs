//! Who deploys, and where: the credentials' account and the region.

use aws_sdk_sts::error::DisplayErrorContext;

use crate::verify::Check;

const COMPONENT: &str = "Account";
const CREDENTIALS: &str = "credentials sign in to an account";
const REGION: &str = "region is the stage's region";

/// The caller as STS sees it (`GetCallerIdentity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account: String,
    pub arn: String,
}

/// Asks STS who the credentials belong to: a call every identity may make.
pub async fn caller(sts: &aws_sdk_sts::Client) -> Result<Caller, String> {
    let answer = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| format!("{}", DisplayErrorContext(&e)))?;
    Ok(Caller {
        account: answer.account().unwrap_or_default().to_string(),
        arn: answer.arn().unwrap_or_default().to_string(),
    })
}

pub fn credentials(answer: &Result<Caller, String>, profile: Option<&str>) -> Check {
    match answer {
        Ok(caller) => Check::pass(
            COMPONENT,
            CREDENTIALS,
            format!("account {} as {}", caller.account, caller.arn),
        ),
        Err(error) => Check::fail(
            COMPONENT,
            CREDENTIALS,
            format!("STS GetCallerIdentity failed: {error}"),
            match profile {
                Some(profile) => format!(
                    "sign in again (`aws sso login --profile {profile}`) and check with \
                     `aws sts get-caller-identity --profile {profile}`"
                ),
                None => "give credentials: `--profile NAME` (or AWS_PROFILE), or \
                         AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; check with \
                         `aws sts get-caller-identity`"
                    .to_string(),
            },
        ),
    }
}

/// The stage's templates name its region (the Firehose CIDR Redshift
/// admits is the region's own): deployed elsewhere, Firehose cannot load.
pub fn region(stage: &str, stage_region: &str, region: &str) -> Check {
    if stage_region == region {
        return Check::pass(COMPONENT, REGION, region);
    }
    Check::fail(
        COMPONENT,
        REGION,
        format!("deploying to {region}, stage {stage} is defined for {stage_region}"),
        format!(
            "drop --region (or use --region {stage_region}), or change the region of stage \
             {stage} in stacks/src/stage.rs and synthesise again"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Status;

    #[test]
    fn the_account_is_named_when_the_credentials_work() {
        let caller = Caller {
            account: "123456789012".into(),
            arn: "arn:aws:sts::123456789012:assumed-role/Deployer/ana".into(),
        };
        let check = credentials(&Ok(caller), None);
        assert_eq!(check.status, Status::Pass);
        assert_eq!(
            check.detail,
            "account 123456789012 as arn:aws:sts::123456789012:assumed-role/Deployer/ana"
        );
    }

    #[test]
    fn expired_credentials_of_a_profile_say_how_to_sign_in_again() {
        let check = credentials(
            &Err("ExpiredToken: The security token included in the request is expired".into()),
            Some("prod"),
        );
        assert_eq!(check.status, Status::Fail);
        assert!(check.detail.contains("ExpiredToken"));
        assert!(check.fix.unwrap().contains("aws sso login --profile prod"));
    }

    #[test]
    fn another_region_than_the_stages_fails_with_the_fix() {
        assert_eq!(
            region("prod", "eu-west-1", "eu-west-1").status,
            Status::Pass
        );
        let check = region("prod", "eu-west-1", "us-east-1");
        assert_eq!(check.status, Status::Fail);
        assert_eq!(
            check.detail,
            "deploying to us-east-1, stage prod is defined for eu-west-1"
        );
        assert!(check.fix.unwrap().contains("--region eu-west-1"));
    }
}
