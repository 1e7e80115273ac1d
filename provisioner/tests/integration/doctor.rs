//! `provisioner doctor` against moto: the preflight's questions asked of a
//! real server (EC2's VPCs, Service Quotas' VPC quota), answered as a
//! region with room and as a full one.

use crate::support;

use aws_credential_types::Credentials;
use support::{Moto, REGION, synth_dev_stage};

fn ec2(moto: &Moto) -> aws_sdk_ec2::Client {
    let config = aws_sdk_ec2::Config::builder()
        .behavior_version_latest()
        .http_client(provisioner::aws::https_client())
        .region(aws_sdk_ec2::config::Region::new(REGION))
        .endpoint_url(&moto.url)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "e2e"))
        .build();
    aws_sdk_ec2::Client::from_conf(config)
}

fn network_line(stdout: &str) -> &str {
    stdout
        .lines()
        .find(|line| line.contains("VPCs fit the region's quota"))
        .unwrap_or_else(|| panic!("no VPC quota check in:\n{stdout}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_region_with_room_for_the_stages_vpc_passes() {
    let moto = Moto::start();
    let synth = tempfile::tempdir().unwrap();
    synth_dev_stage(synth.path());
    let dir = synth.path().to_str().unwrap();

    let ran = moto.run(&["doctor", "--stage", "dev", "--synth-dir", dir]);
    let line = network_line(&ran.stdout()).to_string();
    assert!(line.starts_with("pass"), "{line}");
    // moto's default VPC, and the one the Network stack creates.
    assert!(
        line.contains("1 in use + 1 of stage dev within the account's quota of 5"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_region_fails_before_the_deploy_with_the_increase_to_ask_for() {
    let moto = Moto::start();
    let synth = tempfile::tempdir().unwrap();
    synth_dev_stage(synth.path());
    let dir = synth.path().to_str().unwrap();
    let ec2 = ec2(&moto);
    for n in 1..=4 {
        ec2.create_vpc()
            .cidr_block(format!("10.{}.0.0/16", 100 + n))
            .send()
            .await
            .unwrap();
    }

    let doctor = moto.run(&["doctor", "--stage", "dev", "--synth-dir", dir]);
    assert_eq!(doctor.code(), 1, "{}", doctor.stderr());
    let line = network_line(&doctor.stdout()).to_string();
    assert!(line.starts_with("FAIL"), "{line}");
    assert!(
        line.contains("--quota-code L-F678F1CE --desired-value 6 --region eu-west-1"),
        "{line}"
    );

    // deploy asks the same first, and stops with nothing created.
    let deploy = moto.run(&[
        "deploy",
        "--stage",
        "dev",
        "--synth-dir",
        dir,
        "--require-approval",
        "never",
    ]);
    assert_eq!(deploy.code(), 2, "{}", deploy.stderr());
    assert!(
        deploy.stderr().contains("nothing was changed"),
        "{}",
        deploy.stderr()
    );
    let stacks = moto.cloudformation().list_stacks().send().await.unwrap();
    assert!(stacks.stack_summaries().is_empty(), "{stacks:?}");
}
