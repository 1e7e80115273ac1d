//! The REST API's stage, which the local emulators never create: every
//! method requires the synthesised authorisation, and the stage throttles,
//! logs executions and writes access logs as synthesised.

use aws_sdk_apigateway::types::Resource;
use serde_json::Value;

use super::platform::Target;
use super::{Check, Platform, Problem};
use crate::deploy::error::AwsError;

pub async fn checks(platform: &Platform, apigateway: &aws_sdk_apigateway::Client) -> Vec<Check> {
    let mut checks = Vec::new();
    for stage in platform.resources("AWS::ApiGateway::Stage") {
        checks.push(stage_check(platform, apigateway, stage).await);
    }
    checks
}

/// What verify compares of a stage: its settings for every method (the
/// `/*` `*` entry, `*/*` in the API) and where its access logs go.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageSettings {
    pub throttling_rate_limit: Option<f64>,
    pub throttling_burst_limit: Option<i64>,
    pub logging_level: Option<String>,
    pub data_trace_enabled: bool,
    pub metrics_enabled: bool,
    /// Log group ARN without the `:*` suffix CloudFormation's `Arn` has.
    pub access_log_destination: Option<String>,
}

async fn stage_check(
    platform: &Platform,
    apigateway: &aws_sdk_apigateway::Client,
    stage: Target<'_>,
) -> Check {
    let component = stage.stack.id.as_str();
    let name = format!(
        "API stage {}: authorisation, throttling, execution and access logging",
        stage.logical
    );
    let stage_name = match stage.physical() {
        Ok(id) => id,
        Err(why) => return platform.unavailable(component, &name, &why),
    };
    let props = stage.props();
    let Ok(api) = platform.resolve(stage.stack, &props["RestApiId"]) else {
        return Check::not_checked(component, name, "the stage's REST API is not deployed");
    };
    let expected = expected(platform, stage);
    let deployed = match apigateway
        .get_stage()
        .rest_api_id(&api)
        .stage_name(stage_name)
        .send()
        .await
    {
        Ok(answer) => deployed(&answer),
        Err(e) => {
            let e = AwsError::from_sdk(format!("reading stage {stage_name} of API {api}"), e);
            return Check::aws_error(component, name, &e);
        }
    };
    let resources = match apigateway
        .get_resources()
        .rest_api_id(&api)
        .embed("methods")
        .limit(500)
        .send()
        .await
    {
        Ok(answer) => answer.items.unwrap_or_default(),
        Err(e) => {
            let e = AwsError::from_sdk(format!("listing the methods of API {api}"), e);
            return Check::aws_error(component, name, &e);
        }
    };
    let mut problems = stage_problems(&api, stage_name, &expected, &deployed);
    if let Some(authorization) = synthesised_authorization(platform, stage) {
        problems.extend(authorization_problems(&api, &authorization, &resources));
    }
    Check::from_problems(
        component,
        name,
        format!("{api}/{stage_name}, {} resources", resources.len()),
        problems,
    )
}

/// The stage's settings in the template, references resolved.
pub fn expected(platform: &Platform, stage: Target<'_>) -> StageSettings {
    let props = stage.props();
    let every_method = props["MethodSettings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["ResourcePath"] == "/*" && s["HttpMethod"] == "*")
        .cloned()
        .unwrap_or(Value::Null);
    StageSettings {
        throttling_rate_limit: every_method["ThrottlingRateLimit"].as_f64(),
        throttling_burst_limit: every_method["ThrottlingBurstLimit"].as_i64(),
        logging_level: every_method["LoggingLevel"].as_str().map(str::to_string),
        data_trace_enabled: every_method["DataTraceEnabled"] == true,
        metrics_enabled: every_method["MetricsEnabled"] == true,
        access_log_destination: platform
            .resolve(stage.stack, &props["AccessLogSetting"]["DestinationArn"])
            .ok()
            .map(|arn| arn.trim_end_matches(":*").to_string()),
    }
}

/// The same settings from `GetStage`.
pub fn deployed(stage: &aws_sdk_apigateway::operation::get_stage::GetStageOutput) -> StageSettings {
    let every_method = stage.method_settings().and_then(|m| m.get("*/*"));
    StageSettings {
        throttling_rate_limit: every_method.map(|m| m.throttling_rate_limit()),
        throttling_burst_limit: every_method.map(|m| i64::from(m.throttling_burst_limit())),
        logging_level: every_method
            .and_then(|m| m.logging_level())
            .filter(|level| *level != "OFF")
            .map(str::to_string),
        data_trace_enabled: every_method.is_some_and(|m| m.data_trace_enabled()),
        metrics_enabled: every_method.is_some_and(|m| m.metrics_enabled()),
        access_log_destination: stage
            .access_log_settings()
            .and_then(|a| a.destination_arn())
            .map(|arn| arn.trim_end_matches(":*").to_string()),
    }
}

/// The authorisation every method of the template uses, when they agree.
fn synthesised_authorization(platform: &Platform, stage: Target<'_>) -> Option<String> {
    let methods: Vec<&str> = platform
        .resources("AWS::ApiGateway::Method")
        .into_iter()
        .filter(|m| m.stack.id == stage.stack.id)
        .filter_map(|m| m.props()["AuthorizationType"].as_str())
        .collect();
    let first = *methods.first()?;
    methods
        .iter()
        .all(|m| *m == first)
        .then(|| first.to_string())
}

/// Each setting that differs, with the command that restores it.
pub fn stage_problems(
    api: &str,
    stage: &str,
    expected: &StageSettings,
    deployed: &StageSettings,
) -> Vec<Problem> {
    let patch = |path: &str, value: &str| {
        format!(
            "aws apigateway update-stage --rest-api-id {api} --stage-name {stage} \
             --patch-operations op=replace,path={path},value={value}"
        )
    };
    let shown = |value: Option<String>| value.unwrap_or_else(|| "none".to_string());
    let mut problems = Vec::new();
    let mut differs = |what: &str, got: String, want: String, fix: String| {
        if got != want {
            problems.push(Problem::new(
                format!("{api}/{stage} {what} is {got}, synthesised {want}"),
                fix,
            ));
        }
    };
    let want_rate = shown(expected.throttling_rate_limit.map(|r| r.to_string()));
    differs(
        "throttling rate",
        shown(deployed.throttling_rate_limit.map(|r| r.to_string())),
        want_rate.clone(),
        patch("/*/*/throttling/rateLimit", &want_rate),
    );
    let want_burst = shown(expected.throttling_burst_limit.map(|b| b.to_string()));
    differs(
        "throttling burst",
        shown(deployed.throttling_burst_limit.map(|b| b.to_string())),
        want_burst.clone(),
        patch("/*/*/throttling/burstLimit", &want_burst),
    );
    let want_level = expected.logging_level.clone().unwrap_or("OFF".into());
    differs(
        "execution logging level",
        deployed.logging_level.clone().unwrap_or("OFF".into()),
        want_level.clone(),
        patch("/*/*/logging/loglevel", &want_level),
    );
    differs(
        "request and response body logging",
        deployed.data_trace_enabled.to_string(),
        expected.data_trace_enabled.to_string(),
        patch(
            "/*/*/logging/dataTrace",
            &expected.data_trace_enabled.to_string(),
        ),
    );
    differs(
        "metrics",
        deployed.metrics_enabled.to_string(),
        expected.metrics_enabled.to_string(),
        patch(
            "/*/*/metrics/enabled",
            &expected.metrics_enabled.to_string(),
        ),
    );
    if expected.access_log_destination.is_some() {
        let want = shown(expected.access_log_destination.clone());
        differs(
            "access log destination",
            shown(deployed.access_log_destination.clone()),
            want.clone(),
            patch("/accessLogSettings/destinationArn", &want),
        );
    }
    problems
}

/// Every deployed method whose authorisation is not `want` (CORS
/// preflight `OPTIONS` included: the platform declares none).
pub fn authorization_problems(api: &str, want: &str, resources: &[Resource]) -> Vec<Problem> {
    let mut open: Vec<(String, String, String)> = resources
        .iter()
        .flat_map(|resource| {
            let path = resource.path().unwrap_or("?").to_string();
            let id = resource.id().unwrap_or("?").to_string();
            resource
                .resource_methods()
                .into_iter()
                .flatten()
                .filter(|(_, method)| method.authorization_type() != Some(want))
                .map(move |(verb, method)| {
                    (
                        format!(
                            "{verb} {path} authorises with {}",
                            method.authorization_type().unwrap_or("nothing")
                        ),
                        verb.clone(),
                        id.clone(),
                    )
                })
        })
        .collect();
    open.sort();
    open.into_iter()
        .map(|(found, verb, id)| {
            Problem::new(
                format!("{api}: {found}, synthesised {want}"),
                format!(
                    "aws apigateway update-method --rest-api-id {api} --resource-id {id} \
                     --http-method {verb} --patch-operations \
                     op=replace,path=/authorizationType,value={want}, then deploy the API again"
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_apigateway::operation::get_resources::GetResourcesOutput;
    use aws_sdk_apigateway::operation::get_stage::GetStageOutput;
    use aws_sdk_apigateway::types::{AccessLogSettings, Method, MethodSetting};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use serde_json::json;

    use crate::verify::Status;
    use crate::verify::platform::tests::platform;

    const LOGS: &str = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/apigateway/retail-dev";

    fn api() -> Platform {
        let template = json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Resources": {
                "RestApi": { "Type": "AWS::ApiGateway::RestApi" },
                "AccessLogGroup": { "Type": "AWS::Logs::LogGroup" },
                "PostTransactionsMethod": { "Type": "AWS::ApiGateway::Method",
                    "Properties": { "AuthorizationType": "AWS_IAM" } },
                "GetInvoiceMethod": { "Type": "AWS::ApiGateway::Method",
                    "Properties": { "AuthorizationType": "AWS_IAM" } },
                "ApiStage": { "Type": "AWS::ApiGateway::Stage", "Properties": {
                    "RestApiId": { "Ref": "RestApi" },
                    "StageName": "v1",
                    "MethodSettings": [{ "ResourcePath": "/*", "HttpMethod": "*",
                        "ThrottlingRateLimit": 50.0, "ThrottlingBurstLimit": 100,
                        "LoggingLevel": "ERROR", "DataTraceEnabled": false,
                        "MetricsEnabled": true }],
                    "AccessLogSetting": {
                        "DestinationArn": { "Fn::GetAtt": ["AccessLogGroup", "Arn"] } }
                } }
            }
        });
        platform(vec![(
            "Api",
            template,
            Some(vec![
                ("RestApi", "a1b2c3"),
                ("AccessLogGroup", "/aws/apigateway/retail-dev"),
                ("ApiStage", "v1"),
            ]),
        )])
    }

    fn as_synthesised() -> StageSettings {
        StageSettings {
            throttling_rate_limit: Some(50.0),
            throttling_burst_limit: Some(100),
            logging_level: Some("ERROR".into()),
            data_trace_enabled: false,
            metrics_enabled: true,
            access_log_destination: Some(LOGS.into()),
        }
    }

    fn stage(level: &str, data_trace: bool) -> GetStageOutput {
        GetStageOutput::builder()
            .stage_name("v1")
            .method_settings(
                "*/*",
                MethodSetting::builder()
                    .throttling_rate_limit(50.0)
                    .throttling_burst_limit(100)
                    .logging_level(level)
                    .data_trace_enabled(data_trace)
                    .metrics_enabled(true)
                    .build(),
            )
            .access_log_settings(AccessLogSettings::builder().destination_arn(LOGS).build())
            .build()
    }

    fn resource(path: &str, verb: &str, authorization: &str) -> Resource {
        Resource::builder()
            .id(format!("id{}", path.len()))
            .path(path)
            .resource_methods(
                verb,
                Method::builder()
                    .http_method(verb)
                    .authorization_type(authorization)
                    .build(),
            )
            .build()
    }

    async fn check_against(stage: GetStageOutput, resources: Vec<Resource>) -> Check {
        let get_stage = mock!(aws_sdk_apigateway::Client::get_stage)
            .match_requests(|r| r.rest_api_id() == Some("a1b2c3") && r.stage_name() == Some("v1"))
            .then_output(move || stage.clone());
        let get_resources = mock!(aws_sdk_apigateway::Client::get_resources)
            .match_requests(|r| r.embed() == ["methods".to_string()])
            .then_output(move || {
                GetResourcesOutput::builder()
                    .set_items(Some(resources.clone()))
                    .build()
            });
        let client = mock_client!(
            aws_sdk_apigateway,
            RuleMode::MatchAny,
            [&get_stage, &get_resources]
        );
        let mut checks = checks(&api(), &client).await;
        assert_eq!(checks.len(), 1);
        checks.remove(0)
    }

    #[test]
    fn the_template_resolves_to_the_deployed_log_group() {
        let platform = api();
        let stage = platform.resources("AWS::ApiGateway::Stage")[0];
        assert_eq!(expected(&platform, stage), as_synthesised());
    }

    #[tokio::test]
    async fn a_stage_as_synthesised_with_iam_on_every_method_passes() {
        let check = check_against(
            stage("ERROR", false),
            vec![
                resource("/transactions", "POST", "AWS_IAM"),
                resource("/invoices/{invoiceNo}", "GET", "AWS_IAM"),
            ],
        )
        .await;
        assert_eq!(check.status, Status::Pass, "{check:?}");
    }

    #[tokio::test]
    async fn a_method_opened_and_body_logging_turned_on_by_hand_fail_with_their_fixes() {
        let check = check_against(
            stage("INFO", true),
            vec![
                resource("/transactions", "POST", "AWS_IAM"),
                resource("/invoices/{invoiceNo}", "GET", "NONE"),
            ],
        )
        .await;
        assert_eq!(check.status, Status::Fail);
        assert_eq!(
            check.detail,
            "a1b2c3/v1 execution logging level is INFO, synthesised ERROR; \
             a1b2c3/v1 request and response body logging is true, synthesised false; \
             a1b2c3: GET /invoices/{invoiceNo} authorises with NONE, synthesised AWS_IAM"
        );
        let fix = check.fix.unwrap();
        assert!(
            fix.contains("path=/*/*/logging/dataTrace,value=false"),
            "{fix}"
        );
        assert!(
            fix.contains("path=/authorizationType,value=AWS_IAM"),
            "{fix}"
        );
    }

    #[test]
    fn logging_off_is_the_same_as_no_level() {
        let off = deployed(&stage("OFF", false));
        assert_eq!(off.logging_level, None);
        let problems = stage_problems("a", "v1", &as_synthesised(), &off);
        assert_eq!(
            problems[0].found,
            "a/v1 execution logging level is OFF, synthesised ERROR"
        );
    }
}
