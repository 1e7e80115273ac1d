//! Network: the VPC the warehouse and the Glue crawler live in.
//!
//! Public topology: Firehose reaches Redshift over the internet (it cannot
//! load into a private cluster), so the cluster sits in public subnets
//! behind an internet gateway, and its security group admits TCP 5439 from
//! the Firehose CIDR of the region and from the Glue group, nothing else.
//!
//! Private topology: no internet gateway and no route out of the VPC; the
//! cluster sits in private subnets and its security group admits the Glue
//! group only. COPY reads the lake through the S3 gateway endpoint
//! (enhanced VPC routing); the loader reaches the cluster through the
//! Redshift Data API, which needs no network path into the VPC.

use crate::model::ec2::{
    InternetGateway, Route, RouteTable, SecurityGroup, SecurityGroupEgress, SecurityGroupIngress,
    Subnet, SubnetRouteTableAssociation, Vpc, VpcEndpoint, VpcGatewayAttachment,
};
use crate::model::redshift::ClusterSubnetGroup;
use crate::model::tags::{Tag, tags};
use crate::model::{Expr, Handle, Options, Stack, opt};
use crate::stage::Stage;

use super::PlatformError;
use super::firehose_cidr::firehose_cidr;

/// Redshift's default port. <https://docs.aws.amazon.com/redshift/latest/mgmt/rs-mgmt-connect.html>
pub const REDSHIFT_PORT: i64 = 5439;

/// What other stacks consume from the network.
#[derive(Debug, Clone)]
pub struct Network {
    pub vpc: Handle<Vpc>,
    /// One per availability zone: public in the public topology, private
    /// in the private one.
    pub subnets: Vec<Handle<Subnet>>,
    pub redshift_subnet_group: Handle<ClusterSubnetGroup>,
    pub redshift_security_group: Handle<SecurityGroup>,
    pub glue_security_group: Handle<SecurityGroup>,
}

pub fn network(stage: &Stage) -> Result<(Stack, Network), PlatformError> {
    let private = stage.private_warehouse();
    let mut stack = Stack::new(
        "Network",
        if private {
            "VPC with private subnets and no internet gateway for the Redshift warehouse; S3 \
             gateway and Secrets Manager endpoints; security groups admitting nothing from \
             outside the VPC"
        } else {
            "VPC with public subnets and internet gateway for the Redshift warehouse; security \
             groups for Firehose and Glue access"
        },
    )?;
    let name = |suffix: &str| {
        Some(vec![Tag::new(
            "Name",
            format!("{}-{suffix}", stage.prefix()),
        )])
    };

    let vpc = stack.add(
        "Vpc",
        Vpc {
            cidr_block: opt(stage.network.vpc_cidr),
            enable_dns_hostnames: opt(true),
            enable_dns_support: opt(true),
            tags: name("vpc"),
        },
    )?;
    let kind = if private { "Private" } else { "Public" };
    let route_table = stack.add(
        &format!("{kind}RouteTable"),
        RouteTable {
            vpc_id: vpc.id().into(),
            tags: name(&kind.to_ascii_lowercase()),
        },
    )?;
    if !private {
        let gateway = stack.add("InternetGateway", InternetGateway { tags: name("igw") })?;
        let attachment = stack.add(
            "GatewayAttachment",
            VpcGatewayAttachment {
                vpc_id: vpc.id().into(),
                internet_gateway_id: opt(gateway.id()),
            },
        )?;
        // The default route needs the gateway attached first, or the create fails.
        stack.add_with(
            "PublicDefaultRoute",
            Route {
                route_table_id: route_table.id().into(),
                destination_cidr_block: opt("0.0.0.0/0"),
                gateway_id: opt(gateway.id()),
            },
            Options::new().depends_on(&attachment),
        )?;
    }

    let mut subnets = Vec::new();
    for (index, cidr) in stage.network.public_subnet_cidrs.iter().enumerate() {
        let n = index + 1;
        let subnet = stack.add(
            &format!("{kind}Subnet{n}"),
            Subnet {
                vpc_id: vpc.id().into(),
                cidr_block: opt(*cidr),
                availability_zone: opt(Expr::az(index as u32)),
                // Nothing here needs an address by default: the cluster gets
                // its public IP from `PubliclyAccessible`.
                map_public_ip_on_launch: opt(false),
                tags: name(&format!("{}-{n}", kind.to_ascii_lowercase())),
            },
        )?;
        stack.add(
            &format!("{kind}Subnet{n}RouteTableAssociation"),
            SubnetRouteTableAssociation {
                route_table_id: route_table.id().into(),
                subnet_id: subnet.id().into(),
            },
        )?;
        subnets.push(subnet);
    }

    // Glue in a VPC reads S3 through a gateway endpoint, and so does the
    // cluster's COPY with enhanced VPC routing (the only way out of a
    // private VPC to the lake).
    // <https://docs.aws.amazon.com/glue/latest/dg/vpc-endpoints-s3.html>
    // <https://docs.aws.amazon.com/redshift/latest/mgmt/enhanced-vpc-routing.html>
    stack.add(
        "S3GatewayEndpoint",
        VpcEndpoint {
            vpc_id: vpc.id().into(),
            service_name: Expr::sub("com.amazonaws.${AWS::Region}.s3").into(),
            vpc_endpoint_type: opt("Gateway"),
            route_table_ids: Some(vec![route_table.id().into()]),
            ..Default::default()
        },
    )?;

    let redshift_subnet_group = stack.add(
        "RedshiftSubnetGroup",
        ClusterSubnetGroup {
            description: if private {
                "Private subnets of the Redshift warehouse (no route out of the VPC)"
            } else {
                "Public subnets of the Redshift warehouse (Firehose needs a public cluster)"
            }
            .into(),
            subnet_ids: subnets.iter().map(|s| s.id().into()).collect(),
            tags: tags([("Stage", stage.name)]),
        },
    )?;

    // Private: no rule admits anything from outside the VPC (the Glue group
    // is added below, by id).
    let firehose_ingress = if private {
        None
    } else {
        Some(vec![crate::model::ec2::Ingress {
            ip_protocol: "tcp".into(),
            from_port: opt(REDSHIFT_PORT),
            to_port: opt(REDSHIFT_PORT),
            cidr_ip: opt(firehose_cidr(stage.region)?),
            description: opt(format!("Kinesis Data Firehose in {}", stage.region)),
            ..Default::default()
        }])
    };
    let redshift_security_group = stack.add(
        "RedshiftSecurityGroup",
        SecurityGroup {
            group_description: if private {
                "Redshift: TCP 5439 from the Glue group only; nothing from outside the VPC"
            } else {
                "Redshift: TCP 5439 from the Kinesis Data Firehose CIDR of the region and from Glue only"
            }
            .into(),
            vpc_id: opt(vpc.id()),
            security_group_ingress: firehose_ingress,
            // The cluster's only outbound traffic is COPY reading S3: with
            // enhanced VPC routing it goes through the VPC, over HTTPS, to
            // the S3 gateway endpoint below.
            security_group_egress: Some(vec![crate::model::ec2::Egress {
                ip_protocol: "tcp".into(),
                from_port: opt(443),
                to_port: opt(443),
                cidr_ip: opt("0.0.0.0/0"),
                description: opt("HTTPS to AWS service endpoints"),
                ..Default::default()
            }]),
            tags: name("redshift"),
            ..Default::default()
        },
    )?;

    let glue_security_group = stack.add(
        "GlueSecurityGroup",
        SecurityGroup {
            group_description: "Glue JDBC crawler: self-referencing rule Glue requires, Redshift on 5439, HTTPS to AWS".into(),
            vpc_id: opt(vpc.id()),
            security_group_egress: Some(vec![crate::model::ec2::Egress {
                ip_protocol: "tcp".into(),
                from_port: opt(443),
                to_port: opt(443),
                cidr_ip: opt("0.0.0.0/0"),
                description: opt("HTTPS to AWS service endpoints (Glue, S3 via the gateway endpoint)"),
                ..Default::default()
            }]),
            tags: name("glue"),
            ..Default::default()
        },
    )?;
    // Glue's network interfaces talk to each other on all TCP ports.
    // <https://docs.aws.amazon.com/glue/latest/dg/setup-vpc-for-glue-access.html>
    stack.add(
        "GlueSelfIngress",
        SecurityGroupIngress {
            group_id: glue_security_group.group_id().into(),
            ip_protocol: "tcp".into(),
            from_port: opt(0),
            to_port: opt(65535),
            source_security_group_id: opt(glue_security_group.group_id()),
            description: opt("Glue requires a self-referencing rule for all TCP ports"),
            ..Default::default()
        },
    )?;
    stack.add(
        "GlueSelfEgress",
        SecurityGroupEgress {
            group_id: glue_security_group.group_id().into(),
            ip_protocol: "tcp".into(),
            from_port: opt(0),
            to_port: opt(65535),
            destination_security_group_id: opt(glue_security_group.group_id()),
            description: opt("Glue requires a self-referencing rule for all TCP ports"),
            ..Default::default()
        },
    )?;
    stack.add(
        "GlueToRedshiftEgress",
        SecurityGroupEgress {
            group_id: glue_security_group.group_id().into(),
            ip_protocol: "tcp".into(),
            from_port: opt(REDSHIFT_PORT),
            to_port: opt(REDSHIFT_PORT),
            destination_security_group_id: opt(redshift_security_group.group_id()),
            description: opt("Glue JDBC crawler to Redshift"),
            ..Default::default()
        },
    )?;
    stack.add(
        "RedshiftFromGlueIngress",
        SecurityGroupIngress {
            group_id: redshift_security_group.group_id().into(),
            ip_protocol: "tcp".into(),
            from_port: opt(REDSHIFT_PORT),
            to_port: opt(REDSHIFT_PORT),
            source_security_group_id: opt(glue_security_group.group_id()),
            description: opt("Glue JDBC crawler, by security group id"),
            ..Default::default()
        },
    )?;

    secrets_manager_endpoint(&mut stack, stage, &vpc, &subnets, &glue_security_group)?;

    stack.output("VpcId", vpc.id(), "VPC of the platform")?;
    stack.output(
        "RedshiftSecurityGroupId",
        redshift_security_group.group_id(),
        "Security group of the Redshift cluster",
    )?;

    Ok((
        stack,
        Network {
            vpc,
            subnets,
            redshift_subnet_group,
            redshift_security_group,
            glue_security_group,
        },
    ))
}

/// The Glue connection reads its credentials (`SECRET_ID`) from inside the
/// VPC, through network interfaces that get no public IP, in subnets with
/// no NAT: without this endpoint the crawler cannot reach Secrets Manager.
/// Private DNS makes the service's usual name resolve to the endpoint, so
/// Glue needs no configuration; only the Glue group may connect, on 443.
/// <https://docs.aws.amazon.com/glue/latest/dg/connection-JDBC-VPC.html>
/// <https://docs.aws.amazon.com/secretsmanager/latest/userguide/vpc-endpoint-overview.html>
fn secrets_manager_endpoint(
    stack: &mut Stack,
    stage: &Stage,
    vpc: &Handle<Vpc>,
    subnets: &[Handle<Subnet>],
    glue_security_group: &Handle<SecurityGroup>,
) -> Result<(), PlatformError> {
    let endpoint_group = stack.add(
        "SecretsManagerEndpointSecurityGroup",
        SecurityGroup {
            group_description: "Secrets Manager endpoint: HTTPS from the Glue group only".into(),
            vpc_id: opt(vpc.id()),
            security_group_ingress: Some(vec![crate::model::ec2::Ingress {
                ip_protocol: "tcp".into(),
                from_port: opt(443),
                to_port: opt(443),
                source_security_group_id: opt(glue_security_group.group_id()),
                description: opt("Glue JDBC connection reading its secret"),
                ..Default::default()
            }]),
            // An endpoint answers, it never connects out: this rule matches
            // no traffic and replaces the default allow-all egress (CDK's
            // `allowAllOutbound: false` does the same).
            security_group_egress: Some(vec![crate::model::ec2::Egress {
                ip_protocol: "icmp".into(),
                from_port: opt(252),
                to_port: opt(86),
                cidr_ip: opt("255.255.255.255/32"),
                description: opt("Disallow all traffic"),
                ..Default::default()
            }]),
            tags: Some(vec![Tag::new(
                "Name",
                format!("{}-secretsmanager-endpoint", stage.prefix()),
            )]),
            ..Default::default()
        },
    )?;
    stack.add(
        "SecretsManagerEndpoint",
        VpcEndpoint {
            vpc_id: vpc.id().into(),
            service_name: Expr::sub("com.amazonaws.${AWS::Region}.secretsmanager").into(),
            vpc_endpoint_type: opt("Interface"),
            subnet_ids: Some(subnets.iter().map(|s| s.id().into()).collect()),
            security_group_ids: Some(vec![endpoint_group.group_id().into()]),
            private_dns_enabled: opt(true),
            ..Default::default()
        },
    )?;
    Ok(())
}
