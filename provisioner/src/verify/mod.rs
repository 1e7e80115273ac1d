//! `provisioner verify`: the deployed platform checked against what synth
//! says, through each service's own API.
//!
//! Expectations come from the synth output (templates, manifest, the
//! stage); actual state from CloudFormation only as far as the physical id
//! of each resource, then from EC2, Redshift, IAM, Lambda, Kinesis,
//! Firehose, API Gateway, Glue, DynamoDB and S3 themselves, so drift and hand-made changes show. Each
//! area (one module each) turns its expectations into [`Check`]s: pass,
//! fail with the fix, or not checked with the reason.

pub mod access;
pub mod api_stage;
pub mod data;
pub mod delivery;
pub mod functions;
pub mod glue;
pub mod network;
pub mod platform;
pub mod warehouse;

use serde::Serialize;

use crate::deploy::error::AwsError;
pub use platform::{Platform, Target};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pass,
    Fail,
    /// Could not be checked here (the reason is in the detail); not a failure.
    NotChecked,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::NotChecked => "not checked",
        }
    }
}

/// One verified property of the deployed platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The stack the property belongs to, e.g. `Network`.
    pub component: String,
    /// What is checked, e.g. `Redshift security group admits Firehose and Glue on 5439`.
    pub name: String,
    pub status: Status,
    /// What was found (on pass or fail), or why it was not checked.
    pub detail: String,
    /// What to run or do to fix a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The account the property was read in, for a stage across accounts
    /// (`None`: the stage's one account). Boxed: a check is the error of
    /// many `Result`s, kept small.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<Box<str>>,
}

impl Check {
    pub fn pass(component: &str, name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(component, name, Status::Pass, detail, None)
    }

    pub fn fail(
        component: &str,
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(component, name, Status::Fail, detail, Some(fix.into()))
    }

    pub fn not_checked(
        component: &str,
        name: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self::new(component, name, Status::NotChecked, reason, None)
    }

    /// Pass when `problems` is empty, else fail with them and their fixes.
    pub fn from_problems(
        component: &str,
        name: impl Into<String>,
        found: impl Into<String>,
        problems: Vec<Problem>,
    ) -> Self {
        if problems.is_empty() {
            return Self::pass(component, name, found);
        }
        let (details, fixes): (Vec<_>, Vec<_>) =
            problems.into_iter().map(|p| (p.found, p.fix)).unzip();
        Self::fail(component, name, details.join("; "), fixes.join("; "))
    }

    /// A failed AWS call: the property could not be read, so it is not
    /// known to hold.
    pub fn aws_error(component: &str, name: impl Into<String>, error: &AwsError) -> Self {
        let fix = error
            .hint()
            .unwrap_or("check the error above, then run verify again");
        Self::fail(component, name, format!("could not read it: {error}"), fix)
    }

    /// What a read of resource `id` found, or the check that ends there:
    /// the read failed, or the resource is gone.
    pub fn found<T>(
        component: &str,
        name: &str,
        id: &str,
        answer: Result<Option<T>, AwsError>,
    ) -> Result<T, Self> {
        match answer {
            Ok(Some(found)) => Ok(found),
            Ok(None) => Err(Self::fail(
                component,
                name,
                format!("{id} not found"),
                "deploy the stage again",
            )),
            Err(e) => Err(Self::aws_error(component, name, &e)),
        }
    }

    fn new(
        component: &str,
        name: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
        fix: Option<String>,
    ) -> Self {
        Self {
            component: component.to_string(),
            name: name.into(),
            status,
            detail: detail.into(),
            fix,
            account: None,
        }
    }
}

/// One difference between expected and actual state, with its fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub found: String,
    pub fix: String,
}

impl Problem {
    pub fn new(found: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            found: found.into(),
            fix: fix.into(),
        }
    }
}

/// Every check of every area, in a stable order (network, warehouse,
/// access, functions, data, delivery, API, Glue).
pub async fn run(platform: &Platform, clients: &Clients) -> Vec<Check> {
    let (network, warehouse, access, functions, data, delivery, api, glue) = tokio::join!(
        network::checks(platform, &clients.ec2),
        warehouse::checks(platform, &clients.redshift),
        access::checks(platform, &clients.iam),
        functions::checks(platform, &clients.lambda),
        data::checks(platform, &clients.kinesis, &clients.dynamodb, &clients.s3),
        delivery::checks(platform, &clients.firehose),
        api_stage::checks(platform, &clients.apigateway),
        glue::checks(platform, &clients.glue),
    );
    [
        network, warehouse, access, functions, data, delivery, api, glue,
    ]
    .concat()
}

/// The service clients verify reads actual state with.
#[derive(Debug, Clone)]
pub struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub redshift: aws_sdk_redshift::Client,
    pub iam: access::Iam,
    pub lambda: aws_sdk_lambda::Client,
    pub kinesis: aws_sdk_kinesis::Client,
    pub firehose: aws_sdk_firehose::Client,
    pub apigateway: aws_sdk_apigateway::Client,
    pub glue: aws_sdk_glue::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
}

impl Clients {
    pub fn new(shared: &aws_config::SdkConfig, options: &crate::aws::AwsOptions) -> Self {
        Self {
            ec2: aws_sdk_ec2::Client::new(shared),
            redshift: aws_sdk_redshift::Client::new(shared),
            iam: access::Iam::new(shared),
            lambda: aws_sdk_lambda::Client::new(shared),
            kinesis: aws_sdk_kinesis::Client::new(shared),
            firehose: aws_sdk_firehose::Client::new(shared),
            apigateway: aws_sdk_apigateway::Client::new(shared),
            glue: aws_sdk_glue::Client::new(shared),
            dynamodb: aws_sdk_dynamodb::Client::new(shared),
            s3: crate::aws::s3_client(shared, options),
        }
    }
}
