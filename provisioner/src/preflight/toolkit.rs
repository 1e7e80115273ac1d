//! The toolkit stack: its version, and the API Gateway logging role it
//! sets once per account and region.

use stacks::assets::TOOLKIT_STACK_NAME;
use stacks::toolkit::API_GATEWAY_ROLE_OUTPUT;

use crate::deploy::cfn::StackState;
use crate::deploy::toolkit;
use crate::verify::Check;

const COMPONENT: &str = "Toolkit";
const VERSION: &str = "toolkit version";
const API_GATEWAY_ROLE: &str = "API Gateway logs with the toolkit's account-wide role";

fn bootstrap(stage: &str) -> String {
    format!("`provisioner bootstrap --stage {stage}`")
}

/// The toolkit stack as deployed (`None`: not in this account and region).
pub fn version(stage: &str, deployed: Option<&StackState>) -> Check {
    let Some(state) = deployed else {
        return Check::pass(
            COMPONENT,
            VERSION,
            format!("{TOOLKIT_STACK_NAME} is not here yet: deploy creates it first"),
        );
    };
    match toolkit::read(state).and_then(|found| toolkit::check(&found).map(|()| found)) {
        Ok(found) => Check::pass(COMPONENT, VERSION, format!("version {}", found.version)),
        Err(error) => Check::fail(
            COMPONENT,
            VERSION,
            error.to_string(),
            error
                .hint()
                .map(|hint| hint.replace("<stage>", stage))
                .unwrap_or_else(|| bootstrap(stage)),
        ),
    }
}

/// The role's ARN from the toolkit's outputs, for `GetRole`.
pub fn api_gateway_role_arn(deployed: Option<&StackState>) -> Option<&str> {
    deployed?
        .outputs
        .get(API_GATEWAY_ROLE_OUTPUT)
        .map(String::as_str)
}

/// `role`: what IAM said of the toolkit's role (`Ok(true)` exists).
pub fn api_gateway_role(
    stage: &str,
    deployed: Option<&StackState>,
    role: Option<Result<bool, String>>,
) -> Check {
    if deployed.is_none() {
        return Check::pass(
            COMPONENT,
            API_GATEWAY_ROLE,
            "set by the toolkit deploy creates first",
        );
    }
    let Some(arn) = api_gateway_role_arn(deployed) else {
        return Check::fail(
            COMPONENT,
            API_GATEWAY_ROLE,
            format!("{TOOLKIT_STACK_NAME} predates the role (no {API_GATEWAY_ROLE_OUTPUT} output)"),
            bootstrap(stage),
        );
    };
    match role {
        Some(Ok(true)) => Check::pass(COMPONENT, API_GATEWAY_ROLE, arn),
        Some(Ok(false)) => Check::fail(
            COMPONENT,
            API_GATEWAY_ROLE,
            format!("{arn} was deleted outside CloudFormation: the stage's access logs would fail"),
            format!(
                "delete the toolkit stack (`aws cloudformation delete-stack --stack-name \
                 {TOOLKIT_STACK_NAME}`; its bucket is retained and adopted) and run {}",
                bootstrap(stage)
            ),
        ),
        Some(Err(error)) => Check::not_checked(
            COMPONENT,
            API_GATEWAY_ROLE,
            format!("IAM GetRole on {arn} failed: {error}"),
        ),
        None => Check::not_checked(COMPONENT, API_GATEWAY_ROLE, "IAM was not asked"),
    }
}

/// Does the role exist? `Ok(false)` when IAM says `NoSuchEntity`.
pub async fn role_exists(iam: &aws_sdk_iam::Client, arn: &str) -> Result<bool, String> {
    let name = arn.rsplit('/').next().unwrap_or(arn);
    match iam.get_role().role_name(name).send().await {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(format!("{}", aws_sdk_iam::error::DisplayErrorContext(&e))),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::verify::Status;

    fn toolkit(outputs: &[(&str, &str)]) -> StackState {
        StackState {
            id: "arn:aws:cloudformation:eu-west-1:123456789012:stack/provisioner-toolkit/1".into(),
            name: TOOLKIT_STACK_NAME.into(),
            status: "UPDATE_COMPLETE".into(),
            status_reason: None,
            termination_protection: false,
            outputs: outputs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    const ROLE: &str =
        "arn:aws:iam::123456789012:role/provisioner-toolkit-ApiGatewayCloudWatchRole-X";

    #[test]
    fn a_toolkit_from_before_the_api_gateway_role_asks_for_a_bootstrap() {
        let old = toolkit(&[("AssetBucket", "b"), ("Version", "1")]);
        let check = version("prod", Some(&old));
        assert_eq!(check.status, Status::Fail);
        assert!(check.fix.unwrap().contains("provisioner bootstrap"));
        let role = api_gateway_role("prod", Some(&old), None);
        assert_eq!(role.status, Status::Fail);
        assert_eq!(role.fix.unwrap(), "`provisioner bootstrap --stage prod`");
    }

    #[test]
    fn the_current_toolkit_and_its_role_pass() {
        let current = toolkit(&[
            ("AssetBucket", "b"),
            ("Version", &stacks::toolkit::toolkit_version()),
            (API_GATEWAY_ROLE_OUTPUT, ROLE),
        ]);
        assert_eq!(version("prod", Some(&current)).status, Status::Pass);
        let check = api_gateway_role("prod", Some(&current), Some(Ok(true)));
        assert_eq!(check.status, Status::Pass);
        assert_eq!(check.detail, ROLE);
    }

    #[test]
    fn a_role_deleted_outside_cloudformation_fails_with_the_way_back() {
        let current = toolkit(&[
            ("AssetBucket", "b"),
            ("Version", &stacks::toolkit::toolkit_version()),
            (API_GATEWAY_ROLE_OUTPUT, ROLE),
        ]);
        let check = api_gateway_role("prod", Some(&current), Some(Ok(false)));
        assert_eq!(check.status, Status::Fail);
        assert!(
            check
                .fix
                .unwrap()
                .contains("delete-stack --stack-name provisioner-toolkit")
        );
    }

    #[test]
    fn no_toolkit_yet_is_fine_deploy_creates_it() {
        assert_eq!(version("dev", None).status, Status::Pass);
        assert_eq!(api_gateway_role("dev", None, None).status, Status::Pass);
    }
}
