//! Will the region take the stage's VPCs? A first deploy of a stage creates
//! its VPC; an account at its quota (5 per region by default) fails the
//! Network stack half-way with `VpcLimitExceeded`, after the toolkit and
//! assets went up.
//!
//! Elastic IPs need no check: the platform allocates none (no NAT gateway;
//! a publicly accessible cluster's address is not drawn from the account's
//! Elastic IP quota unless `ElasticIp` is set, and it is not).

use crate::verify::Check;

const COMPONENT: &str = "Network";
const NAME: &str = "VPCs fit the region's quota";

/// Service Quotas' code for "VPCs per Region".
/// <https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html>
pub const VPC_SERVICE_CODE: &str = "vpc";
pub const VPCS_PER_REGION_QUOTA_CODE: &str = "L-F678F1CE";

/// The region's VPCs and what it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VpcQuota {
    pub in_use: u32,
    pub quota: u32,
    /// The account's own value (raised on request), or AWS's default when
    /// Service Quotas knows none for the account.
    pub source: QuotaSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaSource {
    Applied,
    Default,
}

/// VPCs the templates declare: what deploying them anew would create.
pub fn vpcs_in(template: &serde_json::Value) -> u32 {
    let Some(resources) = template["Resources"].as_object() else {
        return 0;
    };
    let vpcs = resources
        .values()
        .filter(|resource| resource["Type"] == "AWS::EC2::VPC")
        .count();
    u32::try_from(vpcs).unwrap_or(u32::MAX)
}

/// Every stack declaring a VPC is deployed: nothing to ask.
pub fn none_added(stage: &str) -> Check {
    Check::pass(
        COMPONENT,
        NAME,
        format!("stage {stage} creates no VPC (its network is deployed)"),
    )
}

/// `adds`: VPCs of the stage's stacks that are not deployed yet (> 0).
pub fn check(stage: &str, region: &str, adds: u32, answer: Result<VpcQuota, String>) -> Check {
    let found = match answer {
        Ok(found) => found,
        Err(reason) => return Check::not_checked(COMPONENT, NAME, reason),
    };
    let source = match found.source {
        QuotaSource::Applied => "the account's quota",
        QuotaSource::Default => "AWS's default quota",
    };
    let needed = found.in_use.saturating_add(adds);
    if needed <= found.quota {
        return Check::pass(
            COMPONENT,
            NAME,
            format!(
                "{} in use + {adds} of stage {stage} within {source} of {} in {region}",
                found.in_use, found.quota
            ),
        );
    }
    Check::fail(
        COMPONENT,
        NAME,
        format!(
            "{} VPCs in use in {region}, stage {stage} adds {adds}: {needed} is over {source} \
             of {}; CloudFormation would fail its Network stack with VpcLimitExceeded",
            found.in_use, found.quota
        ),
        format!(
            "delete an unused VPC in {region}, or ask for more: `aws service-quotas \
             request-service-quota-increase --service-code {VPC_SERVICE_CODE} --quota-code \
             {VPCS_PER_REGION_QUOTA_CODE} --desired-value {needed} --region {region}`"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Status;

    fn quota(in_use: u32, quota: u32) -> Result<VpcQuota, String> {
        Ok(VpcQuota {
            in_use,
            quota,
            source: QuotaSource::Default,
        })
    }

    #[test]
    fn a_stage_whose_network_is_deployed_needs_no_room() {
        let check = none_added("prod");
        assert_eq!(check.status, Status::Pass, "{check:?}");
    }

    #[test]
    fn the_last_free_vpc_is_enough() {
        let check = check("dev", "eu-west-1", 1, quota(4, 5));
        assert_eq!(check.status, Status::Pass, "{check:?}");
        assert_eq!(
            check.detail,
            "4 in use + 1 of stage dev within AWS's default quota of 5 in eu-west-1"
        );
    }

    #[test]
    fn a_full_region_fails_with_the_increase_to_ask_for() {
        let check = check("dev", "eu-west-1", 1, quota(5, 5));
        assert_eq!(check.status, Status::Fail, "{check:?}");
        assert!(
            check.detail.contains("VpcLimitExceeded"),
            "{}",
            check.detail
        );
        let fix = check.fix.unwrap();
        assert!(
            fix.contains("--quota-code L-F678F1CE --desired-value 6 --region eu-west-1"),
            "{fix}"
        );
    }

    #[test]
    fn an_unanswered_quota_is_not_checked_rather_than_guessed() {
        let check = check("dev", "eu-west-1", 1, Err("AccessDenied".into()));
        assert_eq!(check.status, Status::NotChecked);
        assert_eq!(check.detail, "AccessDenied");
    }

    #[test]
    fn vpcs_are_counted_from_the_template() {
        let template = serde_json::json!({"Resources": {
            "Vpc": {"Type": "AWS::EC2::VPC"},
            "Gateway": {"Type": "AWS::EC2::InternetGateway"},
        }});
        assert_eq!(vpcs_in(&template), 1);
        assert_eq!(vpcs_in(&serde_json::json!({})), 0);
    }
}
