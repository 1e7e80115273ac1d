//! `AWS::EC2::*`: the network the warehouse and Glue run in.

use serde::Serialize;
use serde_with::skip_serializing_none;

use super::tags::Tag;
use super::{Value, resource};

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ec2-vpc.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Vpc {
    pub cidr_block: Option<Value<String>>,
    pub enable_dns_hostnames: Option<Value<bool>>,
    pub enable_dns_support: Option<Value<bool>>,
    pub tags: Option<Vec<Tag>>,
}
resource!(Vpc = "AWS::EC2::VPC", ref id, {
    cidr_block => "CidrBlock",
    default_security_group => "DefaultSecurityGroup",
});

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ec2-subnet.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Subnet {
    pub vpc_id: Value<String>,
    pub cidr_block: Option<Value<String>>,
    pub availability_zone: Option<Value<String>>,
    pub map_public_ip_on_launch: Option<Value<bool>>,
    pub tags: Option<Vec<Tag>>,
}
resource!(Subnet = "AWS::EC2::Subnet", ref id, {
    availability_zone => "AvailabilityZone",
    vpc_id => "VpcId",
});

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ec2-internetgateway.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InternetGateway {
    pub tags: Option<Vec<Tag>>,
}
resource!(InternetGateway = "AWS::EC2::InternetGateway", ref id, {
    internet_gateway_id => "InternetGatewayId",
});

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ec2-vpcgatewayattachment.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpcGatewayAttachment {
    pub vpc_id: Value<String>,
    pub internet_gateway_id: Option<Value<String>>,
}
resource!(
    VpcGatewayAttachment = "AWS::EC2::VPCGatewayAttachment",
    ref id
);

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ec2-routetable.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RouteTable {
    pub vpc_id: Value<String>,
    pub tags: Option<Vec<Tag>>,
}
resource!(RouteTable = "AWS::EC2::RouteTable", ref id, {
    route_table_id => "RouteTableId",
});

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ec2-route.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Route {
    pub route_table_id: Value<String>,
    pub destination_cidr_block: Option<Value<String>>,
    pub gateway_id: Option<Value<String>>,
}
resource!(Route = "AWS::EC2::Route", ref id);

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ec2-subnetroutetableassociation.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SubnetRouteTableAssociation {
    pub route_table_id: Value<String>,
    pub subnet_id: Value<String>,
}
resource!(
    SubnetRouteTableAssociation = "AWS::EC2::SubnetRouteTableAssociation",
    ref id
);

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ec2-securitygroup.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecurityGroup {
    pub group_description: Value<String>,
    pub group_name: Option<Value<String>>,
    pub vpc_id: Option<Value<String>>,
    pub security_group_ingress: Option<Vec<Ingress>>,
    pub security_group_egress: Option<Vec<Egress>>,
    pub tags: Option<Vec<Tag>>,
}
resource!(SecurityGroup = "AWS::EC2::SecurityGroup", ref id, {
    group_id => "GroupId",
    vpc_id => "VpcId",
});

/// An inline ingress rule of a security group.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ingress {
    pub ip_protocol: Value<String>,
    pub from_port: Option<Value<i64>>,
    pub to_port: Option<Value<i64>>,
    pub cidr_ip: Option<Value<String>>,
    pub source_security_group_id: Option<Value<String>>,
    pub description: Option<Value<String>>,
}

/// An inline egress rule of a security group.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Egress {
    pub ip_protocol: Value<String>,
    pub from_port: Option<Value<i64>>,
    pub to_port: Option<Value<i64>>,
    pub cidr_ip: Option<Value<String>>,
    pub destination_security_group_id: Option<Value<String>>,
    pub description: Option<Value<String>>,
}

/// A standalone ingress rule, so a consumer can open a producer's group
/// without a cycle. <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ec2-securitygroupingress.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecurityGroupIngress {
    pub group_id: Value<String>,
    pub ip_protocol: Value<String>,
    pub from_port: Option<Value<i64>>,
    pub to_port: Option<Value<i64>>,
    pub cidr_ip: Option<Value<String>>,
    pub source_security_group_id: Option<Value<String>>,
    pub description: Option<Value<String>>,
}
resource!(
    SecurityGroupIngress = "AWS::EC2::SecurityGroupIngress",
    ref id
);

/// A standalone egress rule. <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ec2-securitygroupegress.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecurityGroupEgress {
    pub group_id: Value<String>,
    pub ip_protocol: Value<String>,
    pub from_port: Option<Value<i64>>,
    pub to_port: Option<Value<i64>>,
    pub cidr_ip: Option<Value<String>>,
    pub destination_security_group_id: Option<Value<String>>,
    pub description: Option<Value<String>>,
}
resource!(
    SecurityGroupEgress = "AWS::EC2::SecurityGroupEgress",
    ref id
);

/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ec2-vpcendpoint.html>
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpcEndpoint {
    pub vpc_id: Value<String>,
    pub service_name: Value<String>,
    pub vpc_endpoint_type: Option<Value<String>>,
    /// Gateway endpoints: the route tables that get the service's prefix list.
    pub route_table_ids: Option<Vec<Value<String>>>,
    /// Interface endpoints: one network interface per subnet.
    pub subnet_ids: Option<Vec<Value<String>>>,
    pub security_group_ids: Option<Vec<Value<String>>>,
    /// Interface endpoints: the service's public name resolves to the
    /// endpoint inside the VPC (needs DNS support and hostnames on the VPC).
    pub private_dns_enabled: Option<Value<bool>>,
}
resource!(VpcEndpoint = "AWS::EC2::VPCEndpoint", ref id);
