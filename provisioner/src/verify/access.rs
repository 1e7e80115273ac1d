//! What each role may do: it trusts the service that assumes it, and IAM's
//! policy simulator allows the actions its inline policies grant on the
//! deployed resources (taken from the synthesised policy documents with
//! every reference resolved to a physical ARN). Where the endpoint has no
//! simulator (moto), the second check says so plainly: not checked.

use std::collections::BTreeSet;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::operation::simulate_principal_policy::SimulatePrincipalPolicyError;
use aws_sdk_iam::types::{EvaluationResult, PolicyEvaluationDecisionType};
use serde_json::Value;

use super::platform::Target;
use super::{Check, Platform, Problem};
use crate::deploy::error::AwsError;

/// IAM clients: the usual one, and one that tries a simulation once, so an
/// endpoint without the simulator is told apart quickly (the usual one
/// retries a bare HTTP 500 for seconds).
#[derive(Debug, Clone)]
pub struct Iam {
    client: aws_sdk_iam::Client,
    single_attempt: aws_sdk_iam::Client,
}

impl Iam {
    pub fn new(shared: &SdkConfig) -> Self {
        let single = aws_sdk_iam::config::Builder::from(shared)
            .retry_config(RetryConfig::disabled())
            .build();
        Self {
            client: aws_sdk_iam::Client::new(shared),
            single_attempt: aws_sdk_iam::Client::from_conf(single),
        }
    }
}

/// Whether the endpoint runs IAM's policy simulator, once known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Simulator {
    Unknown,
    Available,
    Missing,
}

pub async fn checks(platform: &Platform, iam: &Iam) -> Vec<Check> {
    let mut simulator = Simulator::Unknown;
    let mut checks = Vec::new();
    for role in platform.resources("AWS::IAM::Role") {
        checks.extend(role_checks(platform, iam, role, &mut simulator).await);
    }
    checks
}

/// One Allow statement of a role's inline policies, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub policy: String,
    pub sid: String,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

/// The grants of a role's template to simulate, and the statements that
/// cannot be (conditions need request context; unresolvable resources).
pub fn grants(platform: &Platform, role: Target<'_>) -> (Vec<Grant>, Vec<String>) {
    let mut grants = Vec::new();
    let mut skipped = Vec::new();
    for policy in role.props()["Policies"].as_array().into_iter().flatten() {
        let policy_name = policy["PolicyName"].as_str().unwrap_or_default();
        for (i, statement) in one_or_many(&policy["PolicyDocument"]["Statement"])
            .into_iter()
            .enumerate()
        {
            if statement["Effect"] != "Allow" {
                continue;
            }
            let sid = statement["Sid"]
                .as_str()
                .map_or_else(|| format!("statement {}", i + 1), str::to_string);
            if statement.get("Condition").is_some() {
                skipped.push(format!("{sid} (has a condition)"));
                continue;
            }
            let resources: Result<Vec<_>, _> = one_or_many(&statement["Resource"])
                .into_iter()
                .map(|r| platform.resolve(role.stack, r))
                .collect();
            match resources {
                Ok(resources) => grants.push(Grant {
                    policy: policy_name.to_string(),
                    sid,
                    actions: one_or_many(&statement["Action"])
                        .into_iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect(),
                    resources,
                }),
                Err(e) => skipped.push(format!("{sid} ({e})")),
            }
        }
    }
    (grants, skipped)
}

fn one_or_many(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        one => vec![one],
    }
}

/// The services a trust policy lets assume the role.
pub fn trusted_services(document: &Value) -> BTreeSet<String> {
    one_or_many(&document["Statement"])
        .into_iter()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| one_or_many(&s["Principal"]["Service"]))
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// IAM returns policy documents URL-encoded (RFC 3986).
pub fn url_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (other, _) => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn role_checks(
    platform: &Platform,
    iam: &Iam,
    role: Target<'_>,
    simulator: &mut Simulator,
) -> Vec<Check> {
    let component = role.stack.id.as_str();
    let wanted = trusted_services(&role.props()["AssumeRolePolicyDocument"]);
    let services = wanted.iter().cloned().collect::<Vec<_>>().join(", ");
    let trust_name = format!("role {} trusts {services}", role.logical);
    let simulate_name = format!("role {} allows what its component needs", role.logical);
    let name = match role.physical() {
        Ok(name) => name,
        Err(why) => {
            return vec![
                platform.unavailable(component, &trust_name, &why),
                platform.unavailable(component, &simulate_name, &why),
            ];
        }
    };
    let answer = match iam.client.get_role().role_name(name).send().await {
        Ok(answer) => answer,
        Err(e) => {
            let e = AwsError::from_sdk(format!("reading role {name}"), e);
            return vec![
                Check::aws_error(component, trust_name, &e),
                Check::aws_error(component, simulate_name, &e),
            ];
        }
    };
    let Some(deployed) = answer.role() else {
        let missing = || {
            Check::fail(
                component,
                "",
                format!("role {name} not found"),
                "deploy the stage again",
            )
        };
        return vec![
            Check {
                name: trust_name,
                ..missing()
            },
            Check {
                name: simulate_name,
                ..missing()
            },
        ];
    };
    let document = deployed
        .assume_role_policy_document()
        .map(url_decoded)
        .and_then(|d| serde_json::from_str::<Value>(&d).ok())
        .unwrap_or(Value::Null);
    let trusted = trusted_services(&document);
    let missing: Vec<_> = wanted.difference(&trusted).cloned().collect();
    let trust_problems = if missing.is_empty() {
        Vec::new()
    } else {
        let synthesised =
            serde_json::to_string(&role.props()["AssumeRolePolicyDocument"]).unwrap_or_default();
        vec![Problem::new(
            format!("{name} does not trust {}", missing.join(", ")),
            format!(
                "aws iam update-assume-role-policy --role-name {name} --policy-document '{synthesised}'"
            ),
        )]
    };
    let trust = Check::from_problems(
        component,
        trust_name,
        format!(
            "{name} trusts {}",
            trusted.into_iter().collect::<Vec<_>>().join(", ")
        ),
        trust_problems,
    );
    let simulation = simulate(platform, iam, role, deployed.arn(), simulator).await;
    let simulation = match simulation {
        Ok((problems, skipped)) => {
            let mut found = format!("{name}: every granted action allowed on its resources");
            if !skipped.is_empty() {
                found += &format!(" (not simulated: {})", skipped.join(", "));
            }
            Check::from_problems(component, simulate_name, found, problems)
        }
        Err(Unsimulated::NoSimulator(reason)) => {
            Check::not_checked(component, simulate_name, reason)
        }
        Err(Unsimulated::Failed(e)) => Check::aws_error(component, simulate_name, &e),
    };
    vec![trust, simulation]
}

enum Unsimulated {
    NoSimulator(String),
    Failed(AwsError),
}

const NO_SIMULATOR: &str = "the endpoint does not implement iam:SimulatePrincipalPolicy \
     (it answered HTTP 500 without an AWS error), so the role's permissions were not simulated";

/// Each grant simulated for the role: the denied (action, resource) pairs
/// as problems, and the statements that could not be simulated.
async fn simulate(
    platform: &Platform,
    iam: &Iam,
    role: Target<'_>,
    role_arn: &str,
    simulator: &mut Simulator,
) -> Result<(Vec<Problem>, Vec<String>), Unsimulated> {
    if *simulator == Simulator::Missing {
        return Err(Unsimulated::NoSimulator(NO_SIMULATOR.to_string()));
    }
    let (grants, skipped) = grants(platform, role);
    let mut problems = Vec::new();
    for grant in &grants {
        let client = match simulator {
            Simulator::Unknown => &iam.single_attempt,
            _ => &iam.client,
        };
        let answer = client
            .simulate_principal_policy()
            .policy_source_arn(role_arn)
            .set_action_names(Some(grant.actions.clone()))
            .set_resource_arns(Some(grant.resources.clone()))
            .send()
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) if *simulator == Simulator::Unknown && lacks_simulator(&e) => {
                *simulator = Simulator::Missing;
                return Err(Unsimulated::NoSimulator(NO_SIMULATOR.to_string()));
            }
            Err(e) => {
                let action = format!("simulating {} of {role_arn}", grant.sid);
                return Err(Unsimulated::Failed(AwsError::from_sdk(action, e)));
            }
        };
        *simulator = Simulator::Available;
        problems.extend(denials(grant, answer.evaluation_results()));
    }
    if grants.is_empty() && !skipped.is_empty() {
        return Err(Unsimulated::NoSimulator(format!(
            "no statement could be simulated: {}",
            skipped.join(", ")
        )));
    }
    Ok((problems, skipped))
}

/// Each (action, resource) of `grant` the simulator did not allow, with
/// the statement that grants it and what to do.
fn denials(grant: &Grant, results: &[EvaluationResult]) -> Vec<Problem> {
    results
        .iter()
        .filter(|result| *result.eval_decision() != PolicyEvaluationDecisionType::Allowed)
        .map(|result| {
            Problem::new(
                format!(
                    "{} on {} is {} (statement {} of policy {})",
                    result.eval_action_name(),
                    result.eval_resource_name().unwrap_or("*"),
                    result.eval_decision().as_str(),
                    grant.sid,
                    grant.policy
                ),
                format!(
                    "restore the inline policy {} of the role as synthesised (it was changed \
                     outside provisioner), or lift the boundary or SCP that denies it",
                    grant.policy
                ),
            )
        })
        .collect()
}

/// A bare HTTP 500/501 without an AWS error code, or an explicit
/// not-implemented code: no simulator behind this endpoint.
fn lacks_simulator(error: &SdkError<SimulatePrincipalPolicyError>) -> bool {
    if let Some(code) = error.code() {
        return matches!(code, "NotImplemented" | "InvalidAction");
    }
    error
        .raw_response()
        .is_some_and(|r| matches!(r.status().as_u16(), 500 | 501))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::platform::tests::platform;

    #[test]
    fn trust_policies_are_read_url_encoded_as_iam_returns_them() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22redshift.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D";
        let document: Value = serde_json::from_str(&url_decoded(encoded)).unwrap();
        assert_eq!(
            trusted_services(&document),
            BTreeSet::from(["redshift.amazonaws.com".to_string()])
        );
    }

    #[test]
    fn grants_resolve_resources_and_set_conditional_statements_aside() {
        let platform = platform(vec![(
            "Streaming",
            serde_json::json!({
                "AWSTemplateFormatVersion": "2010-09-09",
                "Resources": {
                    "Stream": { "Type": "AWS::Kinesis::Stream" },
                    "WriterRole": { "Type": "AWS::IAM::Role", "Properties": {
                        "Policies": [{ "PolicyName": "writer", "PolicyDocument": { "Statement": [
                            { "Sid": "ReadStream", "Effect": "Allow",
                              "Action": ["kinesis:GetRecords", "kinesis:ListShards"],
                              "Resource": { "Fn::GetAtt": ["Stream", "Arn"] } },
                            { "Sid": "OwnResults", "Effect": "Allow", "Action": "redshift-data:DescribeStatement",
                              "Resource": "*", "Condition": { "StringEquals": { "k": "v" } } }
                        ] } }] } }
                }
            }),
            Some(vec![
                ("Stream", "retail-dev-stream"),
                ("WriterRole", "retail-dev-writer"),
            ]),
        )]);
        let role = platform.resources("AWS::IAM::Role")[0];
        let (grants, skipped) = grants(&platform, role);
        assert_eq!(
            grants,
            [Grant {
                policy: "writer".into(),
                sid: "ReadStream".into(),
                actions: vec!["kinesis:GetRecords".into(), "kinesis:ListShards".into()],
                resources: vec![
                    "arn:aws:kinesis:eu-west-1:123456789012:stream/retail-dev-stream".into()
                ],
            }]
        );
        assert_eq!(skipped, ["OwnResults (has a condition)"]);
    }

    fn result(action: &str, resource: &str, decision: &str) -> EvaluationResult {
        EvaluationResult::builder()
            .eval_action_name(action)
            .eval_resource_name(resource)
            .eval_decision(PolicyEvaluationDecisionType::from(decision))
            .build()
            .unwrap()
    }

    #[test]
    fn every_action_the_simulator_does_not_allow_is_a_problem_naming_its_statement() {
        let grant = Grant {
            policy: "stream".into(),
            sid: "PutRecords".into(),
            actions: vec!["kinesis:PutRecord".into(), "kinesis:PutRecords".into()],
            resources: vec!["arn:aws:kinesis:eu-west-1:1:stream/s".into()],
        };
        let stream = "arn:aws:kinesis:eu-west-1:1:stream/s";
        let results = [
            result("kinesis:PutRecord", stream, "allowed"),
            result("kinesis:PutRecords", stream, "implicitDeny"),
            result("kinesis:PutRecords", stream, "explicitDeny"),
        ];
        let problems = denials(&grant, &results);
        let found: Vec<&str> = problems.iter().map(|p| p.found.as_str()).collect();
        assert_eq!(
            found,
            [
                "kinesis:PutRecords on arn:aws:kinesis:eu-west-1:1:stream/s is implicitDeny \
                 (statement PutRecords of policy stream)",
                "kinesis:PutRecords on arn:aws:kinesis:eu-west-1:1:stream/s is explicitDeny \
                 (statement PutRecords of policy stream)",
            ]
        );
        assert!(problems[0].fix.contains("inline policy stream"));
        assert!(
            denials(&grant, &results[..1]).is_empty(),
            "allowed is no problem"
        );
    }
}
