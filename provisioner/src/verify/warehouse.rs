//! The Redshift cluster: available, encrypted, reachable the way Firehose
//! loads it (public, in the synthesised subnet group and security group),
//! and with the COPY role attached.

use aws_sdk_redshift::Client;
use aws_sdk_redshift::types::Cluster;
use serde_json::Value;

use super::platform::Target;
use super::{Check, Platform, Problem};
use crate::deploy::error::AwsError;

const AVAILABLE: &str = "Redshift cluster available";
const ENCRYPTED: &str = "Redshift cluster encrypted";
const REACHABLE: &str =
    "Redshift cluster reachable by Firehose (public, synthesised subnets and group)";
const PRIVATE: &str =
    "Redshift cluster private (not publicly accessible, synthesised subnets and group)";
const COPY_ROLE: &str = "COPY role attached to the Redshift cluster";

/// The checks of a cluster, by name: a public warehouse is reached by
/// Firehose, a private one by nothing outside its VPC.
fn names(cluster: Target<'_>) -> [&'static str; 4] {
    [AVAILABLE, ENCRYPTED, reach_name(cluster), COPY_ROLE]
}

fn reach_name(cluster: Target<'_>) -> &'static str {
    match cluster.props()["PubliclyAccessible"].as_bool() {
        Some(true) => REACHABLE,
        _ => PRIVATE,
    }
}

pub async fn checks(platform: &Platform, redshift: &Client) -> Vec<Check> {
    let mut checks = Vec::new();
    for cluster in platform.resources("AWS::Redshift::Cluster") {
        checks.extend(cluster_checks(platform, redshift, cluster).await);
    }
    checks
}

async fn cluster_checks(platform: &Platform, redshift: &Client, target: Target<'_>) -> Vec<Check> {
    let component = target.stack.id.as_str();
    let id = match target.physical() {
        Ok(id) => id,
        Err(why) => {
            return names(target)
                .iter()
                .map(|name| platform.unavailable(component, name, &why))
                .collect();
        }
    };
    let answer = redshift
        .describe_clusters()
        .cluster_identifier(id)
        .send()
        .await;
    let cluster = match answer {
        Ok(answer) => answer.clusters().first().cloned(),
        Err(e) => {
            let e = AwsError::from_sdk(format!("describing Redshift cluster {id}"), e);
            return names(target)
                .iter()
                .map(|n| Check::aws_error(component, *n, &e))
                .collect();
        }
    };
    let Some(cluster) = cluster else {
        return names(target)
            .iter()
            .map(|name| {
                Check::fail(
                    component,
                    *name,
                    format!("cluster {id} no longer exists"),
                    "restore it from a snapshot, or delete the Warehouse stack and deploy again",
                )
            })
            .collect();
    };
    let expected = Expected::from_template(platform, target);
    vec![
        available(component, id, &cluster),
        encrypted(component, id, &cluster, &expected, &platform.region),
        reachable(
            component,
            reach_name(target),
            id,
            &cluster,
            &expected,
            &platform.region,
        ),
        copy_role(component, id, &cluster, &expected, &platform.region),
    ]
}

/// What the synth output says of the cluster, resolved to physical ids
/// (`Err` holds what could not be resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub encrypted: bool,
    pub publicly_accessible: bool,
    pub security_groups: Result<Vec<String>, String>,
    pub subnet_group: Result<Option<String>, String>,
    pub iam_roles: Result<Vec<String>, String>,
}

impl Expected {
    fn from_template(platform: &Platform, cluster: Target<'_>) -> Self {
        let props = cluster.props();
        let physical = |value: &Value| -> Result<String, String> {
            let target = platform
                .referenced(cluster.stack, value)
                .ok_or_else(|| format!("{value} names no resource of the stage"))?;
            target
                .physical()
                .map(str::to_string)
                .map_err(|_| format!("{} is not deployed", target.path()))
        };
        let list = |key: &str, each: &dyn Fn(&Value) -> Result<String, String>| {
            props[key]
                .as_array()
                .into_iter()
                .flatten()
                .map(each)
                .collect::<Result<Vec<_>, _>>()
        };
        Self {
            encrypted: props["Encrypted"].as_bool().unwrap_or(false),
            publicly_accessible: props["PubliclyAccessible"].as_bool().unwrap_or(false),
            security_groups: list("VpcSecurityGroupIds", &physical),
            subnet_group: match &props["ClusterSubnetGroupName"] {
                Value::Null => Ok(None),
                value => physical(value).map(Some),
            },
            iam_roles: list("IamRoles", &|value| {
                platform
                    .resolve(cluster.stack, value)
                    .map_err(|e| e.to_string())
            }),
        }
    }
}

fn available(component: &str, id: &str, cluster: &Cluster) -> Check {
    let status = cluster.cluster_status().unwrap_or("unknown");
    let problems = if status == "available" {
        Vec::new()
    } else {
        vec![Problem::new(
            format!("{id} is {status}"),
            format!(
                "wait until it is available (aws redshift wait cluster-available \
                 --cluster-identifier {id}); a paused cluster: aws redshift resume-cluster \
                 --cluster-identifier {id}"
            ),
        )]
    };
    Check::from_problems(component, AVAILABLE, format!("{id} is {status}"), problems)
}

fn encrypted(
    component: &str,
    id: &str,
    cluster: &Cluster,
    expected: &Expected,
    region: &str,
) -> Check {
    let actual = cluster.encrypted().unwrap_or(false);
    let problems = if actual || !expected.encrypted {
        Vec::new()
    } else {
        vec![Problem::new(
            format!("{id} is not encrypted"),
            format!(
                "aws redshift modify-cluster --cluster-identifier {id} --encrypted --region {region}"
            ),
        )]
    };
    Check::from_problems(
        component,
        ENCRYPTED,
        format!("{id} encrypted: {actual}"),
        problems,
    )
}

/// Firehose connects to the cluster's public endpoint from its CIDR: a
/// public warehouse's cluster must be public, a private one's must not;
/// either in the synthesised subnets and behind the synthesised security
/// group (whose rules the network check reads).
pub fn reachable_problems(
    id: &str,
    cluster: &Cluster,
    expected: &Expected,
    region: &str,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let modify = format!("aws redshift modify-cluster --cluster-identifier {id} --region {region}");
    let public = cluster.publicly_accessible().unwrap_or(false);
    if expected.publicly_accessible && !public {
        problems.push(Problem::new(
            format!("{id} is not publicly accessible (Firehose loads only public clusters)"),
            format!("{modify} --publicly-accessible"),
        ));
    }
    if !expected.publicly_accessible && public {
        problems.push(Problem::new(
            format!("{id} is publicly accessible, synthesised private"),
            format!("{modify} --no-publicly-accessible"),
        ));
    }
    let actual_groups: Vec<&str> = cluster
        .vpc_security_groups()
        .iter()
        .filter(|g| g.status() != Some("removing"))
        .filter_map(|g| g.vpc_security_group_id())
        .collect();
    match &expected.security_groups {
        Ok(groups) if groups.iter().all(|g| actual_groups.contains(&g.as_str())) => {}
        Ok(groups) => problems.push(Problem::new(
            format!(
                "{id} is in security groups [{}], not [{}]",
                actual_groups.join(", "),
                groups.join(", ")
            ),
            format!("{modify} --vpc-security-group-ids {}", groups.join(" ")),
        )),
        Err(unresolved) => problems.push(Problem::new(
            format!("its security group: {unresolved}"),
            "deploy the stage: provisioner deploy",
        )),
    }
    match &expected.subnet_group {
        Ok(Some(group)) if cluster.cluster_subnet_group_name() != Some(group.as_str()) => {
            problems.push(Problem::new(
                format!(
                    "{id} is in subnet group {}, not {group}",
                    cluster.cluster_subnet_group_name().unwrap_or("none")
                ),
                format!(
                    "a cluster changes subnet group by restore: aws redshift \
                     restore-from-cluster-snapshot --cluster-subnet-group-name {group} \
                     --region {region} (with a snapshot of {id})"
                ),
            ));
        }
        Ok(_) => {}
        Err(unresolved) => problems.push(Problem::new(
            format!("its subnet group: {unresolved}"),
            "deploy the stage: provisioner deploy",
        )),
    }
    if cluster.endpoint().and_then(|e| e.address()).is_none() {
        problems.push(Problem::new(
            format!("{id} has no endpoint address yet"),
            format!("wait until it is available: aws redshift wait cluster-available --cluster-identifier {id}"),
        ));
    }
    problems
}

fn reachable(
    component: &str,
    name: &str,
    id: &str,
    cluster: &Cluster,
    expected: &Expected,
    region: &str,
) -> Check {
    let endpoint = cluster
        .endpoint()
        .and_then(|e| Some(format!("{}:{}", e.address()?, e.port()?)))
        .unwrap_or_default();
    let reach = match cluster.publicly_accessible() {
        Some(true) => "public",
        _ => "private",
    };
    Check::from_problems(
        component,
        name,
        format!("{id} {reach} at {endpoint}"),
        reachable_problems(id, cluster, expected, region),
    )
}

pub fn copy_role_problems(
    id: &str,
    cluster: &Cluster,
    expected: &Expected,
    region: &str,
) -> Vec<Problem> {
    let roles = match &expected.iam_roles {
        Ok(roles) => roles,
        Err(unresolved) => {
            return vec![Problem::new(
                format!("the role: {unresolved}"),
                "deploy the stage: provisioner deploy",
            )];
        }
    };
    roles
        .iter()
        .filter_map(|role| {
            let attached = cluster
                .iam_roles()
                .iter()
                .find(|r| r.iam_role_arn() == Some(role.as_str()));
            let fix = format!(
                "aws redshift modify-cluster-iam-roles --cluster-identifier {id} --add-iam-roles {role} --region {region}"
            );
            match attached.and_then(|r| r.apply_status()) {
                Some("in-sync") => None,
                Some("adding") => Some(Problem::new(
                    format!("{role} is still being attached to {id}"),
                    format!("wait a minute and verify again (or {fix})"),
                )),
                Some(status) => Some(Problem::new(format!("{role} is {status} on {id}"), fix)),
                None => Some(Problem::new(
                    format!("{role} is not attached to {id}: Redshift cannot assume it for COPY"),
                    fix,
                )),
            }
        })
        .collect()
}

fn copy_role(
    component: &str,
    id: &str,
    cluster: &Cluster,
    expected: &Expected,
    region: &str,
) -> Check {
    let found = match &expected.iam_roles {
        Ok(roles) => format!("{} attached to {id}", roles.join(", ")),
        Err(_) => String::new(),
    };
    Check::from_problems(
        component,
        COPY_ROLE,
        found,
        copy_role_problems(id, cluster, expected, region),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_redshift::types::{ClusterIamRole, Endpoint, VpcSecurityGroupMembership};

    const ROLE: &str = "arn:aws:iam::123456789012:role/retail-dev-copy";

    fn expected() -> Expected {
        Expected {
            encrypted: true,
            publicly_accessible: true,
            security_groups: Ok(vec!["sg-redshift".into()]),
            subnet_group: Ok(Some("retail-dev-subnets".into())),
            iam_roles: Ok(vec![ROLE.into()]),
        }
    }

    fn deployed() -> aws_sdk_redshift::types::builders::ClusterBuilder {
        Cluster::builder()
            .cluster_identifier("retail-dev")
            .cluster_status("available")
            .encrypted(true)
            .publicly_accessible(true)
            .cluster_subnet_group_name("retail-dev-subnets")
            .vpc_security_groups(
                VpcSecurityGroupMembership::builder()
                    .vpc_security_group_id("sg-redshift")
                    .status("active")
                    .build(),
            )
            .endpoint(
                Endpoint::builder()
                    .address("retail-dev.example")
                    .port(5439)
                    .build(),
            )
    }

    fn with_role(status: &str) -> Cluster {
        deployed()
            .iam_roles(
                ClusterIamRole::builder()
                    .iam_role_arn(ROLE)
                    .apply_status(status)
                    .build(),
            )
            .build()
    }

    #[test]
    fn a_public_cluster_in_the_synthesised_group_and_subnets_is_reachable() {
        let cluster = with_role("in-sync");
        assert!(reachable_problems("retail-dev", &cluster, &expected(), "eu-west-1").is_empty());
    }

    #[test]
    fn a_private_cluster_is_unreachable_for_firehose_with_the_fix() {
        let cluster = deployed().publicly_accessible(false).build();
        let problems = reachable_problems("retail-dev", &cluster, &expected(), "eu-west-1");
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].fix.ends_with("--publicly-accessible"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_private_warehouse_made_public_fails_with_the_fix() {
        let private = Expected {
            publicly_accessible: false,
            ..expected()
        };
        let public = deployed().publicly_accessible(true).build();
        let problems = reachable_problems("retail-prod-private", &public, &private, "eu-west-1");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .found
                .contains("publicly accessible, synthesised private")
                && problems[0].fix.ends_with("--no-publicly-accessible"),
            "{problems:?}"
        );
        let private_cluster = deployed().publicly_accessible(false).build();
        assert!(
            reachable_problems(
                "retail-prod-private",
                &private_cluster,
                &private,
                "eu-west-1"
            )
            .is_empty()
        );
    }

    #[test]
    fn the_copy_role_must_be_attached_and_in_sync() {
        assert!(
            copy_role_problems(
                "retail-dev",
                &with_role("in-sync"),
                &expected(),
                "eu-west-1"
            )
            .is_empty()
        );
        let missing =
            copy_role_problems("retail-dev", &deployed().build(), &expected(), "eu-west-1");
        assert!(missing[0].found.contains("cannot assume it for COPY"));
        assert!(missing[0].fix.starts_with(
            "aws redshift modify-cluster-iam-roles --cluster-identifier retail-dev --add-iam-roles arn:aws:iam::123456789012:role/retail-dev-copy"
        ));
        let removing = copy_role_problems(
            "retail-dev",
            &with_role("removing"),
            &expected(),
            "eu-west-1",
        );
        assert_eq!(
            removing[0].found,
            format!("{ROLE} is removing on retail-dev")
        );
    }
}
