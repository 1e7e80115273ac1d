//! The Network stack, specified by what Firehose, Redshift and Glue need.

use serde_json::json;
use stacks::assets::AssetTable;
use stacks::model::Template;
use stacks::stage::{STAGES, Stage};
use stacks::testing::{assert_has_resource_properties, resources_of_type};

fn network(stage: &Stage) -> Template {
    let (stack, _) = stacks::platform::network::network(stage).unwrap();
    let mut app = stacks::model::App::new(stage.prefix());
    app.add(stack).unwrap();
    app.synth().unwrap().remove(0).template
}

/// Stages whose cluster Firehose loads (the private ones are specified in
/// `tests/private_warehouse.rs`).
fn public_stages() -> impl Iterator<Item = &'static Stage> {
    STAGES.iter().filter(|stage| !stage.private_warehouse())
}

#[test]
fn redshift_is_reachable_only_from_the_firehose_cidr_of_its_region_and_the_glue_group() {
    for stage in public_stages() {
        let template = network(stage);
        let firehose = stacks::platform::firehose_cidr(stage.region).unwrap();
        let sg = &template.resources["RedshiftSecurityGroup"];
        let ingress = sg.properties.as_ref().unwrap()["SecurityGroupIngress"]
            .as_array()
            .unwrap();
        assert_eq!(ingress.len(), 1, "one inline rule only");
        assert_eq!(ingress[0]["CidrIp"], firehose);
        assert_eq!(
            (ingress[0]["FromPort"].clone(), ingress[0]["ToPort"].clone()),
            (json!(5439), json!(5439))
        );

        let standalone: Vec<_> = resources_of_type(&template, "AWS::EC2::SecurityGroupIngress")
            .into_iter()
            .filter(|(_, r)| {
                r.properties.as_ref().unwrap()["GroupId"]["Fn::GetAtt"][0]
                    == "RedshiftSecurityGroup"
            })
            .collect();
        assert_eq!(standalone.len(), 1, "one more rule: the Glue group");
        let rule = standalone[0].1.properties.as_ref().unwrap();
        assert_eq!(
            rule["SourceSecurityGroupId"],
            json!({"Fn::GetAtt": ["GlueSecurityGroup", "GroupId"]})
        );
        assert!(
            rule.get("CidrIp").is_none(),
            "Glue is admitted by group id, never by CIDR"
        );
        assert_eq!(rule["FromPort"], 5439);
    }
}

#[test]
fn the_public_subnets_route_to_an_attached_internet_gateway() {
    let template = network(Stage::named("prod").unwrap());
    assert_has_resource_properties(
        &template,
        "AWS::EC2::VPCGatewayAttachment",
        json!({"VpcId": {"Ref": "Vpc"}, "InternetGatewayId": {"Ref": "InternetGateway"}}),
    );
    let route = &template.resources["PublicDefaultRoute"];
    assert_eq!(
        route.depends_on,
        ["GatewayAttachment"],
        "the route waits for the attachment"
    );
    assert_eq!(
        route.properties.as_ref().unwrap()["GatewayId"],
        json!({"Ref": "InternetGateway"})
    );
    assert_eq!(
        route.properties.as_ref().unwrap()["DestinationCidrBlock"],
        "0.0.0.0/0"
    );
    let associations = resources_of_type(&template, "AWS::EC2::SubnetRouteTableAssociation");
    assert_eq!(
        associations.len(),
        2,
        "both subnets use the public route table"
    );
}

#[test]
fn the_cluster_subnet_group_spans_two_availability_zones() {
    let template = network(Stage::named("dev").unwrap());
    assert_has_resource_properties(
        &template,
        "AWS::Redshift::ClusterSubnetGroup",
        json!({"SubnetIds": [{"Ref": "PublicSubnet1"}, {"Ref": "PublicSubnet2"}]}),
    );
    assert_has_resource_properties(
        &template,
        "AWS::EC2::Subnet",
        json!({"AvailabilityZone": {"Fn::Select": ["1", {"Fn::GetAZs": ""}]}}),
    );
}

#[test]
fn glue_has_the_self_referencing_rule_it_requires() {
    let template = network(Stage::named("dev").unwrap());
    let glue = json!({"Fn::GetAtt": ["GlueSecurityGroup", "GroupId"]});
    assert_has_resource_properties(
        &template,
        "AWS::EC2::SecurityGroupIngress",
        json!({"GroupId": glue, "SourceSecurityGroupId": glue, "FromPort": 0, "ToPort": 65535}),
    );
}

#[test]
fn a_region_without_a_published_firehose_cidr_is_a_synth_error() {
    let mut stage = Stage::named("dev").unwrap().clone();
    stage.region = "xx-nowhere-1";
    let err = stacks::platform::synth(&stage, &AssetTable::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("xx-nowhere-1") && err.contains("Firehose"),
        "{err}"
    );
}

#[test]
fn glue_reaches_secrets_manager_through_a_private_endpoint_open_only_to_the_glue_group() {
    for stage in STAGES {
        let template = network(stage);
        let endpoint = template.resources["SecretsManagerEndpoint"]
            .properties
            .clone()
            .unwrap();
        assert_eq!(
            endpoint["ServiceName"],
            json!({"Fn::Sub": "com.amazonaws.${AWS::Region}.secretsmanager"})
        );
        assert_eq!(endpoint["VpcEndpointType"], "Interface");
        assert_eq!(
            endpoint["PrivateDnsEnabled"], true,
            "Glue uses the service's usual name, which must resolve inside the VPC"
        );
        let kind = if stage.private_warehouse() {
            "Private"
        } else {
            "Public"
        };
        assert_eq!(
            endpoint["SubnetIds"],
            json!([{"Ref": format!("{kind}Subnet1")}, {"Ref": format!("{kind}Subnet2")}]),
            "an interface in each subnet the Glue connection may use"
        );
        assert_eq!(
            endpoint["SecurityGroupIds"],
            json!([{"Fn::GetAtt": ["SecretsManagerEndpointSecurityGroup", "GroupId"]}])
        );

        let group = template.resources["SecretsManagerEndpointSecurityGroup"]
            .properties
            .clone()
            .unwrap();
        assert_eq!(
            group["SecurityGroupIngress"],
            json!([{
                "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                "SourceSecurityGroupId": {"Fn::GetAtt": ["GlueSecurityGroup", "GroupId"]},
                "Description": "Glue JDBC connection reading its secret"
            }]),
            "HTTPS from the Glue group, nothing else"
        );
        let vpc = template.resources["Vpc"].properties.clone().unwrap();
        assert_eq!(
            (&vpc["EnableDnsSupport"], &vpc["EnableDnsHostnames"]),
            (&json!(true), &json!(true)),
            "private DNS needs both"
        );
    }
}
