//! `provisioner verify` end to end against a local AWS emulator (moto):
//! the real dev stage is deployed, verified, then broken through EC2's own
//! API the way a hand-made change would, and verified again.
//!
//! moto's CloudFormation accepts some properties without applying them
//! (local-aws.md); [`apply_what_moto_cloudformation_ignores`] applies them
//! through each service's own API, as real CloudFormation would have, so
//! verify meets the deployed state AWS would hold. Verify itself is the
//! same as against AWS.

use crate::support;

use std::path::Path;

use aws_credential_types::Credentials;
use support::{Moto, REGION, Ran, deploy_args, strs, synth_dev_stage};

/// The shared SDK configuration for the emulator.
async fn sdk(moto: &Moto) -> aws_config::SdkConfig {
    provisioner::aws::config_loader()
        .region(aws_config::Region::new(REGION))
        .endpoint_url(&moto.url)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "verify"))
        .load()
        .await
}

/// Physical id of `logical` in the dev stage's stack `stack` (e.g. `network`).
async fn physical(moto: &Moto, stack: &str, logical: &str) -> String {
    let listed = moto
        .cloudformation()
        .list_stack_resources()
        .stack_name(format!("retail-dev-{stack}"))
        .send()
        .await
        .unwrap();
    listed
        .stack_resource_summaries()
        .iter()
        .find(|r| r.logical_resource_id() == Some(logical))
        .and_then(|r| r.physical_resource_id())
        .unwrap_or_else(|| panic!("{stack}/{logical} is deployed"))
        .to_string()
}

/// What real CloudFormation does with the dev stage's templates and moto's
/// accepts without doing, done here through each service's own API:
/// - `AWS::Kinesis::Stream` `StreamEncryption` (moto leaves it NONE);
/// - `AWS::S3::Bucket` `PublicAccessBlockConfiguration` (moto applies only
///   the encryption; versioning too, but its GetBucketVersioning answer
///   cannot be read by the Rust SDK, see [`moto_limits`]);
/// - `Ref` of the Redshift cluster (its identifier) in the environments of
///   batch-import and the rotation function: moto puts its Python object
///   there, and then answers every read of that function with HTTP 500.
async fn apply_what_moto_cloudformation_ignores(moto: &Moto) {
    let sdk = sdk(moto).await;
    let stream = physical(moto, "streaming", "Stream").await;
    aws_sdk_kinesis::Client::new(&sdk)
        .start_stream_encryption()
        .stream_name(&stream)
        .encryption_type(aws_sdk_kinesis::types::EncryptionType::Kms)
        .key_id("alias/aws/kinesis")
        .send()
        .await
        .unwrap();
    let s3 = moto.s3();
    for logical in ["BulkImportBucket", "LakeBucket", "StagingBucket"] {
        let bucket = physical(moto, "storage", logical).await;
        use aws_sdk_s3::types::PublicAccessBlockConfiguration;
        s3.put_public_access_block()
            .bucket(&bucket)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let clusters = aws_sdk_redshift::Client::new(&sdk)
        .describe_clusters()
        .send()
        .await
        .unwrap();
    let cluster = clusters.clusters()[0].cluster_identifier().unwrap();
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let function = physical(moto, "batch", "BatchImportFunction").await;
    let mut variables = std::collections::HashMap::new();
    for (name, stack, logical) in [
        ("BULK_IMPORT_BUCKET", "storage", "BulkImportBucket"),
        ("CUSTOMERS_TABLE", "storage", "CustomersTable"),
        ("INVOICES_TABLE", "storage", "InvoicesTable"),
    ] {
        variables.insert(name.to_string(), physical(moto, stack, logical).await);
    }
    variables.insert("CLUSTER_IDENTIFIER".into(), cluster.to_string());
    set_environment(&lambda, &function, variables).await;
    // The rotation function names the cluster too (verify reads none of
    // its variables; the secret is one moto skips).
    let rotation = physical(moto, "warehouse", "SecretRotationFunction").await;
    let variables = [
        ("CLUSTER_IDENTIFIER", cluster),
        ("DATABASE", stacks::platform::warehouse::DATABASE),
        ("MASTER_SECRET_ARN", "skipped-by-moto"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    set_environment(&lambda, &rotation, variables).await;
}

/// Replaces a function's environment (see above for why).
async fn set_environment(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    variables: std::collections::HashMap<String, String>,
) {
    lambda
        .update_function_configuration()
        .function_name(function)
        .environment(
            aws_sdk_lambda::types::Environment::builder()
                .set_variables(Some(variables))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn deployed_dev_stage(moto: &Moto, dir: &Path) {
    synth_dev_stage(dir);
    moto.run(&["bootstrap", "--stage", "dev", "--method", "direct"])
        .ok();
    moto.run(&strs(&deploy_args(dir))).ok();
    apply_what_moto_cloudformation_ignores(moto).await;
}

fn verify(moto: &Moto, dir: &Path, output: &str) -> Ran {
    moto.run(&[
        "verify",
        "--stage",
        "dev",
        "--synth-dir",
        dir.to_str().unwrap(),
        "--output",
        output,
    ])
}

/// (component, name, status, detail, fix) of each check of a JSON report.
fn checks(ran: &Ran) -> Vec<serde_json::Value> {
    let report: serde_json::Value = serde_json::from_str(&ran.stdout())
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", ran.stdout(), ran.stderr()));
    report["checks"].as_array().unwrap().clone()
}

/// The checks moto cannot pass, and why (moto 5.2.1):
/// - its CloudFormation reports no physical id for a Redshift cluster, so
///   verify cannot tell which cluster is the stage's (4 checks);
/// - it reads DynamoDB's `SSESpecification` by the API's key (`Enabled`)
///   instead of CloudFormation's (`SSEEnabled`), so the tables come out on
///   the AWS owned key where AWS would use KMS (2 checks);
/// - its GetBucketVersioning answer has a `GetBucketVersioningResponse`
///   root the Rust SDK cannot parse (3 checks, one per bucket);
/// - its CloudFormation creates no `AWS::KinesisFirehose::DeliveryStream`,
///   `AWS::ApiGateway::Stage`, `AWS::Glue::Connection` or
///   `AWS::Glue::Crawler` (it warns "not supported by moto's CloudFormation
///   implementation"), so none is there to check (5 checks).
fn moto_limits(check: &serde_json::Value) -> bool {
    let detail = check["detail"].as_str().unwrap();
    (check["component"] == "Warehouse"
        && check["name"].as_str().unwrap().contains("Redshift cluster")
        && detail.contains("CloudFormation reports no physical id for Cluster"))
        || (check["component"] == "Storage"
            && detail.ends_with(
                "is encrypted with the AWS owned key, synthesised KMS (SSEDescription absent)",
            ))
        || (check["name"].as_str().unwrap().ends_with("versioned as synthesised")
            && detail.contains("expected VersioningConfiguration but got StartEl { name: Name { prefix: \"\", local: \"GetBucketVersioningResponse\""))
        || [
            "DeliveryStream",
            "ApiStage",
            "WarehouseConnection",
            "WarehouseCrawler",
            "FilesCrawler",
        ]
        .iter()
        .any(|logical| {
            check["name"].as_str().unwrap().contains(&format!(" {logical}: "))
                && detail.starts_with(&format!(
                    "{logical} is not among the resources of the deployed stack"
                ))
        })
}

const MOTO_LIMITED: usize = 14;

/// Every check passes, or is one of [`moto_limits`], or is a simulation
/// moto cannot run, said plainly.
#[track_caller]
fn all_pass_within_moto_limits(checks: &[serde_json::Value]) {
    let mut limited = 0;
    for check in checks {
        match check["status"].as_str().unwrap() {
            "pass" => {}
            "not-checked" => assert!(
                check["name"]
                    .as_str()
                    .unwrap()
                    .ends_with("allows what its component needs")
                    && check["detail"]
                        .as_str()
                        .unwrap()
                        .starts_with("the endpoint does not implement iam:SimulatePrincipalPolicy"),
                "{check}"
            ),
            _ if moto_limits(check) => limited += 1,
            _ => panic!("unexpected failure: {check:#}"),
        }
    }
    assert_eq!(limited, MOTO_LIMITED, "{checks:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_passes_after_a_deploy_and_names_a_revoked_redshift_ingress_rule_and_its_fix() {
    let moto = Moto::start();
    let synth = tempfile::tempdir().unwrap();
    let dir = synth.path().join("synth");
    deployed_dev_stage(&moto, &dir).await;

    let first = verify(&moto, &dir, "json");
    let found = checks(&first);
    all_pass_within_moto_limits(&found);
    // Exit 1 only because of the moto limits above.
    assert_eq!(first.code(), 1, "{}", first.stderr());
    let names: Vec<_> = found.iter().map(|c| c["name"].as_str().unwrap()).collect();
    for expected in [
        "internet gateway attached to the VPC",
        "route table PublicRouteTable sends 0.0.0.0/0 to the internet gateway",
        "Redshift security group admits only Firehose and Glue on 5439",
        "role CopyRole trusts redshift.amazonaws.com",
        "function ingest: deployed code is the synthesised asset",
        "function batch-import: timeout and memory as synthesised",
        "stream Stream: active, encrypted, its shards",
        "bucket StagingBucket encrypted as synthesised",
        "bucket StagingBucket blocks public access",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:#?}");
    }

    // A hand-made change: Firehose's rule revoked through EC2's API.
    let group = physical(&moto, "network", "RedshiftSecurityGroup").await;
    aws_sdk_ec2::Client::new(&sdk(&moto).await)
        .revoke_security_group_ingress()
        .group_id(&group)
        .ip_protocol("tcp")
        .from_port(5439)
        .to_port(5439)
        .cidr_ip("52.19.239.192/27")
        .send()
        .await
        .unwrap();

    let text = verify(&moto, &dir, "text");
    assert_eq!(text.code(), 1);
    let line = text
        .stdout()
        .lines()
        .find(|l| l.contains("Redshift security group admits only Firehose and Glue on 5439"))
        .unwrap()
        .to_string();
    assert!(line.starts_with("FAIL"), "{line}");
    assert!(
        line.contains("missing ingress tcp 5439 from 52.19.239.192/27"),
        "{line}"
    );
    assert!(
        line.ends_with(&format!(
            "-- fix: aws ec2 authorize-security-group-ingress --group-id {group} --protocol tcp \
             --port 5439 --cidr 52.19.239.192/27 --region eu-west-1"
        )),
        "{line}"
    );
    assert!(
        text.stderr().contains("checks failed for stage dev"),
        "{}",
        text.stderr()
    );
    let failed = text
        .stdout()
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .count();
    assert_eq!(failed, MOTO_LIMITED + 1, "{}", text.stdout());
    println!(
        "verify of the dev stage against moto: {} checks, {:.2}s (json), {:.2}s (text)",
        found.len(),
        first.seconds,
        text.seconds
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_detached_internet_gateway_fails_its_check_with_the_attach_command() {
    let moto = Moto::start();
    let synth = tempfile::tempdir().unwrap();
    let dir = synth.path().join("synth");
    deployed_dev_stage(&moto, &dir).await;
    let igw = physical(&moto, "network", "InternetGateway").await;
    let vpc = physical(&moto, "network", "Vpc").await;
    aws_sdk_ec2::Client::new(&sdk(&moto).await)
        .detach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap();

    let ran = verify(&moto, &dir, "json");
    assert_eq!(ran.code(), 1);
    let found = checks(&ran);
    let gateway = found
        .iter()
        .find(|c| c["name"] == "internet gateway attached to the VPC")
        .unwrap();
    assert_eq!(gateway["status"], "fail", "{gateway}");
    assert_eq!(
        gateway["detail"],
        format!("{igw} is not attached to any VPC (Firehose cannot reach Redshift)")
    );
    assert_eq!(
        gateway["fix"],
        format!(
            "aws ec2 attach-internet-gateway --internet-gateway-id {igw} --vpc-id {vpc} --region eu-west-1"
        )
    );
}

#[test]
fn verify_without_a_synth_output_is_a_usage_error_that_says_to_synthesise() {
    let moto = Moto::start();
    let empty = tempfile::tempdir().unwrap();
    let ran = verify(&moto, empty.path(), "text");
    assert_eq!(ran.code(), 2);
    assert!(
        ran.stderr().contains(&format!(
            "run `provisioner synth --stage dev --out {}` first",
            empty.path().display()
        )),
        "{}",
        ran.stderr()
    );
}

#[test]
fn every_check_of_an_undeployed_stage_fails_with_deploy_first() {
    let moto = Moto::start();
    let synth = tempfile::tempdir().unwrap();
    let dir = synth.path().join("synth");
    synth_dev_stage(&dir);
    let ran = verify(&moto, &dir, "json");
    assert_eq!(ran.code(), 1);
    let found = checks(&ran);
    assert!(found.len() > 20, "{found:#?}");
    for check in &found {
        assert_eq!(check["status"], "fail", "{check}");
        assert_eq!(
            check["fix"], "deploy the stage first: provisioner deploy --stage dev",
            "{check}"
        );
    }
}
