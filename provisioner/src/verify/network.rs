//! The network Firehose needs to reach Redshift: the internet gateway
//! attached to the VPC, public route tables sending 0.0.0.0/0 to it, and
//! the Redshift security group admitting exactly the region's Firehose
//! CIDR and the groups synth names (Glue) on the cluster's port.

use std::collections::BTreeSet;
use std::fmt;

use aws_sdk_ec2::Client;

use super::platform::Target;
use super::{Check, Platform, Problem};
use crate::deploy::error::AwsError;

const INTERNET: &str = "0.0.0.0/0";

pub async fn checks(platform: &Platform, ec2: &Client) -> Vec<Check> {
    let mut checks = Vec::new();
    for attachment in platform.resources("AWS::EC2::VPCGatewayAttachment") {
        checks.push(gateway_attached(platform, ec2, attachment).await);
    }
    for route in platform.resources("AWS::EC2::Route") {
        if route.props()["DestinationCidrBlock"] == INTERNET {
            checks.push(default_route(platform, ec2, route).await);
        }
    }
    for cluster in platform.resources("AWS::Redshift::Cluster") {
        checks.push(redshift_ingress(platform, ec2, cluster).await);
    }
    checks
}

/// The gateway and VPC an attachment joins, as (logical target, physical id).
fn referenced_id<'a>(
    platform: &'a Platform,
    from: Target<'a>,
    property: &str,
) -> Result<String, Check> {
    let name = format!("{} property {property}", from.path());
    let target = platform
        .referenced(from.stack, &from.props()[property])
        .ok_or_else(|| {
            Check::fail(
                from.stack.id.as_str(),
                name.clone(),
                "the synthesised reference points at no resource",
                "synthesise again: the synth output is inconsistent",
            )
        })?;
    target
        .physical()
        .map(str::to_string)
        .map_err(|why| platform.unavailable(&from.stack.id, &name, &why))
}

async fn gateway_attached(platform: &Platform, ec2: &Client, attachment: Target<'_>) -> Check {
    let component = attachment.stack.id.as_str();
    let name = "internet gateway attached to the VPC";
    let ids = referenced_id(platform, attachment, "InternetGatewayId")
        .and_then(|igw| Ok((igw, referenced_id(platform, attachment, "VpcId")?)));
    let (igw, vpc) = match ids {
        Ok(ids) => ids,
        Err(check) => {
            return Check {
                name: name.into(),
                ..check
            };
        }
    };
    let answer = ec2
        .describe_internet_gateways()
        .internet_gateway_ids(&igw)
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            let e = AwsError::from_sdk(format!("describing internet gateway {igw}"), e);
            return Check::aws_error(component, name, &e);
        }
    };
    let attachments: Vec<(String, String)> = answer
        .internet_gateways()
        .iter()
        .flat_map(|g| g.attachments())
        .map(|a| {
            (
                a.vpc_id().unwrap_or_default().to_string(),
                a.state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    Check::from_problems(
        component,
        name,
        format!("{igw} attached to {vpc}"),
        gateway_problems(&igw, &vpc, &attachments, &platform.region),
    )
}

/// What is wrong with an internet gateway's attachments (vpc, state).
pub fn gateway_problems(
    igw: &str,
    vpc: &str,
    attachments: &[(String, String)],
    region: &str,
) -> Vec<Problem> {
    // EC2 reports an attached internet gateway as "available".
    let attached = |(v, state): &(String, String)| {
        v == vpc && matches!(state.as_str(), "available" | "attached")
    };
    if attachments.iter().any(attached) {
        return Vec::new();
    }
    let found = match attachments {
        [] => format!("{igw} is not attached to any VPC (Firehose cannot reach Redshift)"),
        _ => format!(
            "{igw} is attached as {}, not to {vpc}",
            attachments
                .iter()
                .map(|(v, s)| format!("{v} ({s})"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    vec![Problem::new(
        found,
        format!(
            "aws ec2 attach-internet-gateway --internet-gateway-id {igw} --vpc-id {vpc} --region {region}"
        ),
    )]
}

async fn default_route(platform: &Platform, ec2: &Client, route: Target<'_>) -> Check {
    let component = route.stack.id.as_str();
    let name = format!(
        "route table {} sends 0.0.0.0/0 to the internet gateway",
        route.props()["RouteTableId"]["Ref"]
            .as_str()
            .unwrap_or(route.logical)
    );
    let ids = referenced_id(platform, route, "RouteTableId")
        .and_then(|table| Ok((table, referenced_id(platform, route, "GatewayId")?)));
    let (table, igw) = match ids {
        Ok(ids) => ids,
        Err(check) => return Check { name, ..check },
    };
    let answer = ec2
        .describe_route_tables()
        .route_table_ids(&table)
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            let e = AwsError::from_sdk(format!("describing route table {table}"), e);
            return Check::aws_error(component, name, &e);
        }
    };
    let routes: Vec<(String, String, String)> = answer
        .route_tables()
        .iter()
        .flat_map(|t| t.routes())
        .filter(|r| r.destination_cidr_block() == Some(INTERNET))
        .map(|r| {
            (
                r.destination_cidr_block().unwrap_or_default().to_string(),
                r.gateway_id().unwrap_or_default().to_string(),
                r.state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    Check::from_problems(
        component,
        name,
        format!("{table}: {INTERNET} -> {igw}"),
        route_problems(&table, &igw, &routes, &platform.region),
    )
}

/// What is wrong with a table's 0.0.0.0/0 routes (destination, gateway, state).
pub fn route_problems(
    table: &str,
    igw: &str,
    routes: &[(String, String, String)],
    region: &str,
) -> Vec<Problem> {
    let to_internet = routes.iter().find(|(d, _, _)| d == INTERNET);
    match to_internet {
        Some((_, gateway, state)) if gateway == igw && state == "active" => Vec::new(),
        Some((_, gateway, state)) if gateway == igw => vec![Problem::new(
            format!("{table} sends {INTERNET} to {igw} but the route is {state}"),
            format!(
                "attach the gateway (see the gateway check), or aws ec2 replace-route \
                 --route-table-id {table} --destination-cidr-block {INTERNET} --gateway-id {igw} \
                 --region {region}"
            ),
        )],
        Some((_, gateway, _)) => vec![Problem::new(
            format!("{table} sends {INTERNET} to {gateway}, not to {igw}"),
            format!(
                "aws ec2 replace-route --route-table-id {table} --destination-cidr-block \
                 {INTERNET} --gateway-id {igw} --region {region}"
            ),
        )],
        None => vec![Problem::new(
            format!("{table} has no route to {INTERNET}"),
            format!(
                "aws ec2 create-route --route-table-id {table} --destination-cidr-block \
                 {INTERNET} --gateway-id {igw} --region {region}"
            ),
        )],
    }
}

/// One ingress permission: protocol and ports from one source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Cidr(String),
    Group(String),
    /// IPv6 ranges and prefix lists, which synth never writes.
    Other(String),
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ports = if self.from_port == self.to_port {
            self.from_port.to_string()
        } else {
            format!("{}-{}", self.from_port, self.to_port)
        };
        let source = match &self.source {
            Source::Cidr(c) | Source::Group(c) | Source::Other(c) => c,
        };
        write!(f, "{} {ports} from {source}", self.protocol)
    }
}

impl Rule {
    /// The `aws ec2` arguments naming this rule.
    fn cli_args(&self, group: &str) -> String {
        let ports = if self.from_port == self.to_port {
            self.from_port.to_string()
        } else {
            format!("{}-{}", self.from_port, self.to_port)
        };
        let source = match &self.source {
            Source::Cidr(c) => format!("--cidr {c}"),
            Source::Group(g) => format!("--source-group {g}"),
            Source::Other(o) => format!("(source {o})"),
        };
        format!(
            "--group-id {group} --protocol {} --port {ports} {source}",
            self.protocol
        )
    }
}

/// Missing and unexpected ingress rules of `group`, each with its fix.
pub fn ingress_problems(
    group: &str,
    expected: &[Rule],
    actual: &[Rule],
    region: &str,
) -> Vec<Problem> {
    let expected: BTreeSet<_> = expected.iter().collect();
    let actual: BTreeSet<_> = actual.iter().collect();
    let missing = expected.difference(&actual).map(|rule| {
        Problem::new(
            format!("missing ingress {rule}"),
            format!(
                "aws ec2 authorize-security-group-ingress {} --region {region}",
                rule.cli_args(group)
            ),
        )
    });
    let extra = actual.difference(&expected).map(|rule| {
        Problem::new(
            format!("unexpected ingress {rule}"),
            format!(
                "aws ec2 revoke-security-group-ingress {} --region {region}",
                rule.cli_args(group)
            ),
        )
    });
    missing.chain(extra).collect()
}

async fn redshift_ingress(platform: &Platform, ec2: &Client, cluster: Target<'_>) -> Check {
    let component = "Network";
    let port = cluster.props()["Port"].as_i64().unwrap_or(5439) as i32;
    let name = match cluster.props()["PubliclyAccessible"].as_bool() {
        Some(true) => format!("Redshift security group admits only Firehose and Glue on {port}"),
        _ => format!("Redshift security group admits only the stage's own groups on {port}"),
    };
    let groups = cluster.props()["VpcSecurityGroupIds"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let Some(group) = groups
        .iter()
        .find_map(|g| platform.referenced(cluster.stack, g))
    else {
        return Check::fail(
            component,
            name,
            format!("{} names no security group of the stage", cluster.path()),
            "synthesise again: the synth output is inconsistent",
        );
    };
    let expected = match expected_ingress(platform, group, port) {
        Ok(expected) => expected,
        Err(check) => return Check { name, ..check },
    };
    let group_id = match group.physical() {
        Ok(id) => id,
        Err(why) => return platform.unavailable(component, &name, &why),
    };
    let answer = ec2
        .describe_security_groups()
        .group_ids(group_id)
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            let e = AwsError::from_sdk(format!("describing security group {group_id}"), e);
            return Check::aws_error(component, name, &e);
        }
    };
    let actual: Vec<Rule> = answer
        .security_groups()
        .iter()
        .flat_map(|g| g.ip_permissions())
        .flat_map(rules_of)
        .collect();
    let found = expected
        .iter()
        .map(Rule::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    Check::from_problems(
        component,
        name,
        format!("{group_id}: {found}"),
        ingress_problems(group_id, &expected, &actual, &platform.region),
    )
}

/// Every source the synth output admits to `group` (inline or as
/// separate ingress resources): for a public warehouse the Firehose CIDR
/// of the region (checked against the published one: a CIDR rule for
/// anything else is not expected, it is refused) and the stage's groups;
/// for a private one its groups alone.
fn expected_ingress(platform: &Platform, group: Target<'_>, port: i32) -> Result<Vec<Rule>, Check> {
    let mut rules = Vec::new();
    let inline = group.props()["SecurityGroupIngress"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|rule| (group.stack, rule));
    let standalone = platform
        .resources("AWS::EC2::SecurityGroupIngress")
        .into_iter()
        .filter(|r| {
            platform
                .referenced(r.stack, &r.props()["GroupId"])
                .is_some_and(|g| g.stack.id == group.stack.id && g.logical == group.logical)
        })
        .map(|r| (r.stack, r.props()));
    for (stack, rule) in inline.chain(standalone) {
        let Some(source) = rule.get("SourceSecurityGroupId") else {
            if let Some(cidr) = rule.get("CidrIp").and_then(serde_json::Value::as_str) {
                rules.push(firehose_rule(platform, cidr, port)?);
            }
            continue;
        };
        let source = platform.referenced(stack, source).ok_or_else(|| {
            Check::fail(
                "Network",
                "",
                format!(
                    "an ingress rule of {} names no group of the stage",
                    group.path()
                ),
                "synthesise again: the synth output is inconsistent",
            )
        })?;
        let source_id = source
            .physical()
            .map_err(|why| platform.unavailable("Network", "", &why))?;
        rules.push(Rule {
            protocol: rule["IpProtocol"].as_str().unwrap_or("tcp").to_string(),
            from_port: rule["FromPort"].as_i64().unwrap_or(port.into()) as i32,
            to_port: rule["ToPort"].as_i64().unwrap_or(port.into()) as i32,
            source: Source::Group(source_id.to_string()),
        });
    }
    Ok(rules)
}

/// The one CIDR a Redshift group may admit: the region's Firehose CIDR
/// on the cluster's port. A synth output with another is not trusted.
fn firehose_rule(platform: &Platform, cidr: &str, port: i32) -> Result<Rule, Check> {
    let firehose = stacks::platform::firehose_cidr(&platform.region).map_err(|e| {
        Check::fail(
            "Network",
            "",
            e.to_string(),
            "verify a stage of a region with a published Firehose CIDR",
        )
    })?;
    if cidr != firehose {
        return Err(Check::fail(
            "Network",
            "",
            format!(
                "the synth output admits {cidr}, not the Firehose CIDR of {} ({firehose})",
                platform.region
            ),
            "synthesise again with this provisioner",
        ));
    }
    Ok(Rule {
        protocol: "tcp".into(),
        from_port: port,
        to_port: port,
        source: Source::Cidr(cidr.to_string()),
    })
}

/// One EC2 permission as one rule per source.
fn rules_of(permission: &aws_sdk_ec2::types::IpPermission) -> Vec<Rule> {
    let rule = |source| Rule {
        protocol: permission.ip_protocol().unwrap_or("-1").to_string(),
        from_port: permission.from_port().unwrap_or(-1),
        to_port: permission.to_port().unwrap_or(-1),
        source,
    };
    let cidrs = permission
        .ip_ranges()
        .iter()
        .filter_map(|r| r.cidr_ip())
        .map(|c| rule(Source::Cidr(c.to_string())));
    let ipv6 = permission
        .ipv6_ranges()
        .iter()
        .filter_map(|r| r.cidr_ipv6())
        .map(|c| rule(Source::Other(c.to_string())));
    let groups = permission
        .user_id_group_pairs()
        .iter()
        .filter_map(|p| p.group_id())
        .map(|g| rule(Source::Group(g.to_string())));
    let prefixes = permission
        .prefix_list_ids()
        .iter()
        .filter_map(|p| p.prefix_list_id())
        .map(|p| rule(Source::Other(p.to_string())));
    cidrs.chain(ipv6).chain(groups).chain(prefixes).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(port: i32, source: Source) -> Rule {
        Rule {
            protocol: "tcp".into(),
            from_port: port,
            to_port: port,
            source,
        }
    }

    fn expected() -> Vec<Rule> {
        vec![
            tcp(5439, Source::Cidr("52.19.239.192/27".into())),
            tcp(5439, Source::Group("sg-glue".into())),
        ]
    }

    #[test]
    fn ingress_of_exactly_firehose_and_glue_passes() {
        let actual = expected().into_iter().rev().collect::<Vec<_>>();
        assert!(ingress_problems("sg-redshift", &expected(), &actual, "eu-west-1").is_empty());
    }

    #[test]
    fn a_missing_firehose_rule_is_named_with_the_command_that_restores_it() {
        let actual = vec![tcp(5439, Source::Group("sg-glue".into()))];
        let problems = ingress_problems("sg-redshift", &expected(), &actual, "eu-west-1");
        assert_eq!(
            problems,
            [Problem::new(
                "missing ingress tcp 5439 from 52.19.239.192/27",
                "aws ec2 authorize-security-group-ingress --group-id sg-redshift --protocol tcp \
                 --port 5439 --cidr 52.19.239.192/27 --region eu-west-1"
            )]
        );
    }

    #[test]
    fn a_rule_opening_redshift_wider_fails_with_the_command_that_revokes_it() {
        let mut actual = expected();
        actual.push(tcp(5439, Source::Cidr("0.0.0.0/0".into())));
        let problems = ingress_problems("sg-redshift", &expected(), &actual, "eu-west-1");
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].found,
            "unexpected ingress tcp 5439 from 0.0.0.0/0"
        );
        assert!(
            problems[0]
                .fix
                .starts_with("aws ec2 revoke-security-group-ingress --group-id sg-redshift")
        );
    }

    #[test]
    fn another_region_cidr_is_both_missing_and_unexpected() {
        let actual = vec![
            tcp(5439, Source::Cidr("52.70.63.192/27".into())),
            tcp(5439, Source::Group("sg-glue".into())),
        ];
        let found: Vec<_> = ingress_problems("sg-redshift", &expected(), &actual, "eu-west-1")
            .into_iter()
            .map(|p| p.found)
            .collect();
        assert_eq!(
            found,
            [
                "missing ingress tcp 5439 from 52.19.239.192/27",
                "unexpected ingress tcp 5439 from 52.70.63.192/27"
            ]
        );
    }

    #[test]
    fn a_detached_gateway_fails_with_the_attach_command() {
        let problems = gateway_problems("igw-1", "vpc-1", &[], "eu-west-1");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].found.contains("not attached"));
        assert_eq!(
            problems[0].fix,
            "aws ec2 attach-internet-gateway --internet-gateway-id igw-1 --vpc-id vpc-1 --region eu-west-1"
        );
        let attached = [("vpc-1".to_string(), "available".to_string())];
        assert!(gateway_problems("igw-1", "vpc-1", &attached, "eu-west-1").is_empty());
    }

    #[test]
    fn a_default_route_elsewhere_or_blackholed_fails() {
        let route =
            |gw: &str, state: &str| vec![(INTERNET.to_string(), gw.to_string(), state.to_string())];
        assert!(route_problems("rtb-1", "igw-1", &route("igw-1", "active"), "r").is_empty());
        let elsewhere = route_problems("rtb-1", "igw-1", &route("nat-1", "active"), "r");
        assert!(elsewhere[0].fix.starts_with("aws ec2 replace-route"));
        let blackhole = route_problems("rtb-1", "igw-1", &route("igw-1", "blackhole"), "r");
        assert!(blackhole[0].found.ends_with("route is blackhole"));
        let none = route_problems("rtb-1", "igw-1", &[], "r");
        assert!(
            none[0]
                .fix
                .starts_with("aws ec2 create-route --route-table-id rtb-1")
        );
    }
}
