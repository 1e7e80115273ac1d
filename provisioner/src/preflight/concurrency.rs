//! Reserved concurrency against the account's Lambda quota.
//!
//! Lambda refuses a reservation that would leave less unreserved
//! concurrency than its minimum: 100, or the whole quota where the quota is
//! under 100 (new accounts get 10, so there nothing can be reserved). The
//! refusal comes from CloudFormation half-way through a stack ("Specified
//! ReservedConcurrentExecutions for function decreases account's
//! UnreservedConcurrentExecution below its minimum value of [10].") and
//! rolls it back; this check says so before anything changes.
//! <https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html>

use crate::verify::Check;

const COMPONENT: &str = "Lambda";
const NAME: &str = "reserved concurrency fits the account's quota";

/// What Lambda keeps unreserved, at most.
pub const MINIMUM_UNRESERVED: u32 = 100;

/// Service Quotas code of "Concurrent executions".
pub const QUOTA_CODE: &str = "L-B99A9384";

/// `GetAccountSettings`' `AccountLimit`, the two numbers that matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountConcurrency {
    /// `ConcurrentExecutions`: the account's quota in this region.
    pub quota: u32,
    /// `UnreservedConcurrentExecutions`: the quota less every reservation.
    pub unreserved: u32,
}

impl AccountConcurrency {
    /// What Lambda refuses to let reservations go under.
    pub fn minimum_unreserved(self) -> u32 {
        MINIMUM_UNRESERVED.min(self.quota)
    }
}

/// One function of the stage with a reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub stack: String,
    pub function: String,
    pub concurrency: u32,
}

/// Every `ReservedConcurrentExecutions` in the stage's templates.
pub fn reservations(stacks: &[super::StageStack]) -> Vec<Reservation> {
    let mut found = Vec::new();
    for stack in stacks {
        let Some(resources) = stack.template["Resources"].as_object() else {
            continue;
        };
        for (id, resource) in resources {
            if resource["Type"] != "AWS::Lambda::Function" {
                continue;
            }
            let reserved = resource["Properties"]["ReservedConcurrentExecutions"].as_u64();
            if let Some(concurrency) = reserved {
                found.push(Reservation {
                    stack: stack.id.clone(),
                    function: id.clone(),
                    concurrency: u32::try_from(concurrency).unwrap_or(u32::MAX),
                });
            }
        }
    }
    found
}

/// Pass when the stage's reservations fit what the account can still
/// reserve. `held` is what the stage's deployed functions reserve already:
/// a redeploy takes it back before reserving again.
pub fn check(
    stage: &str,
    region: &str,
    account: AccountConcurrency,
    wanted: &[Reservation],
    held: u32,
) -> Check {
    let needed: u32 = wanted.iter().map(|r| r.concurrency).sum();
    if needed == 0 {
        return Check::pass(COMPONENT, NAME, "the stage reserves no concurrency");
    }
    let minimum = account.minimum_unreserved();
    let reservable = (account.unreserved + held).saturating_sub(minimum);
    let listed = wanted
        .iter()
        .map(|r| format!("{} {} {}", r.stack, r.function, r.concurrency))
        .collect::<Vec<_>>()
        .join(", ");
    if needed <= reservable {
        return Check::pass(
            COMPONENT,
            NAME,
            format!(
                "the stage reserves {needed} of {reservable} reservable (quota {}, {} unreserved)",
                account.quota, account.unreserved
            ),
        );
    }
    // Other functions of the account keep what they reserve; above a quota
    // of 100 the minimum left unreserved is 100.
    let reserved_elsewhere = account
        .quota
        .saturating_sub(account.unreserved)
        .saturating_sub(held);
    let quota_needed = needed + MINIMUM_UNRESERVED + reserved_elsewhere;
    Check::fail(
        COMPONENT,
        NAME,
        format!(
            "the stage reserves {needed} ({listed}) but the account can reserve {reservable}: \
             quota {}, {} unreserved, of which Lambda keeps {minimum} unreserved",
            account.quota, account.unreserved
        ),
        format!(
            "ask for a concurrency quota of at least {quota_needed} (`aws service-quotas \
             request-service-quota-increase --service-code lambda --quota-code {QUOTA_CODE} \
             --desired-value {quota_needed} --region {region}`), or lower \
             lambda.api_reserved_concurrency of stage {stage} in stacks/src/stage.rs and \
             synthesise again (batch-import and warehouse-schema reserve 1 each, to run \
             one at a time)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Status;

    fn reserving(counts: &[(&str, u32)]) -> Vec<Reservation> {
        counts
            .iter()
            .map(|(function, concurrency)| Reservation {
                stack: "Api".into(),
                function: (*function).into(),
                concurrency: *concurrency,
            })
            .collect()
    }

    fn prod() -> Vec<Reservation> {
        reserving(&[
            ("IngestFunction", 200),
            ("QueryFunction", 200),
            ("BatchImportFunction", 1),
            ("SchemaFunction", 1),
        ])
    }

    #[test]
    fn a_new_account_with_a_quota_of_10_can_reserve_nothing_and_is_told_what_to_ask_for() {
        // GetAccountSettings of a new account: {"ConcurrentExecutions": 10,
        // "UnreservedConcurrentExecutions": 10}.
        let account = AccountConcurrency {
            quota: 10,
            unreserved: 10,
        };
        let check = check(
            "dev",
            "eu-west-1",
            account,
            &reserving(&[("BatchImportFunction", 1), ("SchemaFunction", 1)]),
            0,
        );
        assert_eq!(check.status, Status::Fail);
        assert!(check.detail.contains("can reserve 0"), "{}", check.detail);
        let fix = check.fix.unwrap();
        assert!(
            fix.contains("--quota-code L-B99A9384 --desired-value 102"),
            "{fix}"
        );
        assert!(
            fix.contains("lambda.api_reserved_concurrency of stage dev"),
            "{fix}"
        );
    }

    #[test]
    fn prod_fits_the_default_quota_of_1000() {
        let account = AccountConcurrency {
            quota: 1000,
            unreserved: 1000,
        };
        let check = check("prod", "eu-west-1", account, &prod(), 0);
        assert_eq!(check.status, Status::Pass, "{}", check.detail);
        assert!(check.detail.contains("reserves 402 of 900 reservable"));
    }

    #[test]
    fn a_redeploy_counts_what_the_stage_already_holds() {
        // Quota 550 with prod deployed: 148 unreserved, 402 of them prod's.
        let account = AccountConcurrency {
            quota: 550,
            unreserved: 148,
        };
        assert_eq!(
            check("prod", "eu-west-1", account, &prod(), 402).status,
            Status::Pass
        );
        let first = check("prod", "eu-west-1", account, &prod(), 0);
        assert_eq!(first.status, Status::Fail);
        // 402 for prod, 100 unreserved, and the 402 others hold.
        assert!(first.fix.unwrap().contains("--desired-value 904"));
    }

    #[test]
    fn reservations_are_read_from_the_functions_of_the_templates() {
        let stack = crate::preflight::StageStack {
            id: "Api".into(),
            stack_name: "retail-prod-api".into(),
            template: serde_json::json!({"Resources": {
                "IngestFunction": {"Type": "AWS::Lambda::Function",
                    "Properties": {"ReservedConcurrentExecutions": 200}},
                "Queue": {"Type": "AWS::SQS::Queue",
                    "Properties": {"ReservedConcurrentExecutions": 5}},
                "QueryFunction": {"Type": "AWS::Lambda::Function", "Properties": {}}
            }}),
        };
        assert_eq!(
            reservations(&[stack]),
            reserving(&[("IngestFunction", 200)])
        );
    }

    #[test]
    fn a_stage_without_reservations_passes_anywhere() {
        let account = AccountConcurrency {
            quota: 10,
            unreserved: 10,
        };
        assert_eq!(
            check("dev", "eu-west-1", account, &[], 0).status,
            Status::Pass
        );
    }
}
