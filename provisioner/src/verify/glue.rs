//! Glue, which the local emulators never create: the JDBC connection sits
//! in the synthesised subnet and security group and reads the synthesised
//! secret over TLS; each crawler runs with its role into its database, over
//! its synthesised targets, and never deletes tables.

use aws_sdk_glue::types::{ConnectionPropertyKey, Crawler};
use serde_json::Value;

use super::platform::Target;
use super::{Check, Platform, Problem};
use crate::deploy::error::AwsError;

pub async fn checks(platform: &Platform, glue: &aws_sdk_glue::Client) -> Vec<Check> {
    let mut checks = Vec::new();
    for connection in platform.resources("AWS::Glue::Connection") {
        checks.push(connection_check(platform, glue, connection).await);
    }
    for crawler in platform.resources("AWS::Glue::Crawler") {
        checks.push(crawler_check(platform, glue, crawler).await);
    }
    checks
}

/// One compared setting: what it is, deployed and synthesised values.
type Setting = (&'static str, String, String);

/// Each setting that differs, with how to put it back.
fn problems(id: &str, settings: Vec<Setting>, fix: &str) -> Vec<Problem> {
    settings
        .into_iter()
        .filter(|(_, got, want)| got != want)
        .map(|(what, got, want)| {
            Problem::new(
                format!("{id} {what} is {got}, synthesised {want}"),
                format!("set the {what} of {id} back to {want} ({fix})"),
            )
        })
        .collect()
}

/// A template value resolved, or `unresolved` in its place (compared as
/// such, so a value verify cannot know shows instead of passing).
fn resolved(platform: &Platform, target: Target<'_>, value: &Value) -> String {
    if value.is_null() {
        return "none".into();
    }
    platform
        .resolve(target.stack, value)
        .unwrap_or_else(|_| "unresolved".into())
}

fn sorted(mut values: Vec<String>) -> String {
    values.sort();
    if values.is_empty() {
        "none".into()
    } else {
        values.join(", ")
    }
}

async fn connection_check(
    platform: &Platform,
    glue: &aws_sdk_glue::Client,
    connection: Target<'_>,
) -> Check {
    let component = connection.stack.id.as_str();
    let name = format!(
        "Glue connection {}: subnet, security group, secret, TLS",
        connection.logical
    );
    let id = match connection.physical() {
        Ok(id) => id,
        Err(why) => return platform.unavailable(component, &name, &why),
    };
    let answer = glue
        .get_connection()
        .name(id)
        .hide_password(true)
        .send()
        .await;
    let answer = answer
        .map(|answer| answer.connection)
        .map_err(|e| AwsError::from_sdk(format!("reading Glue connection {id}"), e));
    let deployed = match Check::found(component, &name, id, answer) {
        Ok(deployed) => deployed,
        Err(check) => return check,
    };
    let input = &connection.props()["ConnectionInput"];
    let network = &input["PhysicalConnectionRequirements"];
    let properties = &input["ConnectionProperties"];
    let requirements = deployed.physical_connection_requirements();
    let property = |key: ConnectionPropertyKey| {
        deployed
            .connection_properties()
            .and_then(|p| p.get(&key))
            .cloned()
            .unwrap_or_else(|| "none".into())
    };
    let settings = vec![
        (
            "subnet",
            requirements
                .and_then(|r| r.subnet_id())
                .unwrap_or("none")
                .to_string(),
            resolved(platform, connection, &network["SubnetId"]),
        ),
        (
            "security groups",
            sorted(requirements.map_or(Vec::new(), |r| r.security_group_id_list().to_vec())),
            sorted(
                network["SecurityGroupIdList"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|g| resolved(platform, connection, g))
                    .collect(),
            ),
        ),
        (
            "secret",
            property(ConnectionPropertyKey::SecretId),
            resolved(platform, connection, &properties["SECRET_ID"]),
        ),
        (
            "TLS enforcement",
            property(ConnectionPropertyKey::JdbcEnforceSsl),
            resolved(platform, connection, &properties["JDBC_ENFORCE_SSL"]),
        ),
    ];
    Check::from_problems(
        component,
        name,
        id.to_string(),
        problems(
            id,
            settings,
            "aws glue update-connection, or the Glue console",
        ),
    )
}

async fn crawler_check(
    platform: &Platform,
    glue: &aws_sdk_glue::Client,
    crawler: Target<'_>,
) -> Check {
    let component = crawler.stack.id.as_str();
    let name = format!(
        "Glue crawler {}: role, database, targets, no table deletion",
        crawler.logical
    );
    let id = match crawler.physical() {
        Ok(id) => id,
        Err(why) => return platform.unavailable(component, &name, &why),
    };
    let answer = glue.get_crawler().name(id).send().await;
    let answer = answer
        .map(|answer| answer.crawler)
        .map_err(|e| AwsError::from_sdk(format!("reading Glue crawler {id}"), e));
    let deployed = match Check::found(component, &name, id, answer) {
        Ok(deployed) => deployed,
        Err(check) => return check,
    };
    let settings = crawler_settings(platform, crawler, &deployed);
    Check::from_problems(
        component,
        name,
        id.to_string(),
        problems(id, settings, "aws glue update-crawler, or the Glue console"),
    )
}

/// The crawler's settings, deployed and synthesised.
pub fn crawler_settings(
    platform: &Platform,
    crawler: Target<'_>,
    deployed: &Crawler,
) -> Vec<Setting> {
    let props = crawler.props();
    let targets = &props["Targets"];
    let template_list = |key: &str, render: &dyn Fn(&Value) -> String| {
        sorted(
            targets[key]
                .as_array()
                .into_iter()
                .flatten()
                .map(render)
                .collect(),
        )
    };
    let deployed_targets = deployed.targets();
    vec![
        (
            "role",
            deployed.role().unwrap_or("none").to_string(),
            resolved(platform, crawler, &props["Role"]),
        ),
        (
            "database",
            deployed.database_name().unwrap_or("none").to_string(),
            resolved(platform, crawler, &props["DatabaseName"]),
        ),
        (
            "S3 targets",
            sorted(
                deployed_targets
                    .map_or(&[][..], |t| t.s3_targets())
                    .iter()
                    .map(|t| t.path().unwrap_or("none").to_string())
                    .collect(),
            ),
            template_list("S3Targets", &|t| resolved(platform, crawler, &t["Path"])),
        ),
        (
            "JDBC targets",
            sorted(
                deployed_targets
                    .map_or(&[][..], |t| t.jdbc_targets())
                    .iter()
                    .map(|t| {
                        format!(
                            "{} {}",
                            t.connection_name().unwrap_or("none"),
                            t.path().unwrap_or("none")
                        )
                    })
                    .collect(),
            ),
            template_list("JdbcTargets", &|t| {
                format!(
                    "{} {}",
                    resolved(platform, crawler, &t["ConnectionName"]),
                    resolved(platform, crawler, &t["Path"])
                )
            }),
        ),
        (
            "delete behaviour",
            deployed
                .schema_change_policy()
                .and_then(|p| p.delete_behavior())
                .map_or("none".to_string(), |b| b.as_str().to_string()),
            resolved(
                platform,
                crawler,
                &props["SchemaChangePolicy"]["DeleteBehavior"],
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_glue::operation::get_connection::GetConnectionOutput;
    use aws_sdk_glue::operation::get_crawler::GetCrawlerOutput;
    use aws_sdk_glue::types::{
        Connection, CrawlerTargets, DeleteBehavior, JdbcTarget, PhysicalConnectionRequirements,
        S3Target, SchemaChangePolicy,
    };
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use serde_json::json;

    use crate::verify::Status;
    use crate::verify::platform::tests::platform;

    const SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:reader";

    fn batch() -> Platform {
        let template = json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Resources": {
                "Subnet": { "Type": "AWS::EC2::Subnet" },
                "GlueGroup": { "Type": "AWS::EC2::SecurityGroup" },
                "Secret": { "Type": "AWS::SecretsManager::Secret" },
                "Database": { "Type": "AWS::Glue::Database" },
                "CrawlerRole": { "Type": "AWS::IAM::Role" },
                "WarehouseConnection": { "Type": "AWS::Glue::Connection", "Properties": {
                    "ConnectionInput": {
                        "ConnectionProperties": {
                            "SECRET_ID": { "Ref": "Secret" },
                            "JDBC_ENFORCE_SSL": "true"
                        },
                        "PhysicalConnectionRequirements": {
                            "SubnetId": { "Ref": "Subnet" },
                            "SecurityGroupIdList": [{ "Ref": "GlueGroup" }]
                        }
                    }
                } },
                "WarehouseCrawler": { "Type": "AWS::Glue::Crawler", "Properties": {
                    "Role": { "Fn::GetAtt": ["CrawlerRole", "Arn"] },
                    "DatabaseName": { "Ref": "Database" },
                    "SchemaChangePolicy": { "DeleteBehavior": "LOG" },
                    "Targets": { "JdbcTargets": [{
                        "ConnectionName": { "Ref": "WarehouseConnection" },
                        "Path": "retail/public/transactions"
                    }] }
                } }
            }
        });
        platform(vec![(
            "Batch",
            template,
            Some(vec![
                ("Subnet", "subnet-1"),
                ("GlueGroup", "sg-glue"),
                ("Secret", SECRET),
                ("Database", "retail_dev"),
                ("CrawlerRole", "retail-dev-crawler"),
                ("WarehouseConnection", "retail-dev-warehouse"),
                ("WarehouseCrawler", "retail-dev-warehouse-crawler"),
            ]),
        )])
    }

    fn connection(subnet: &str, secret: &str) -> GetConnectionOutput {
        GetConnectionOutput::builder()
            .connection(
                Connection::builder()
                    .name("retail-dev-warehouse")
                    .connection_properties(ConnectionPropertyKey::SecretId, secret)
                    .connection_properties(ConnectionPropertyKey::JdbcEnforceSsl, "true")
                    .physical_connection_requirements(
                        PhysicalConnectionRequirements::builder()
                            .subnet_id(subnet)
                            .security_group_id_list("sg-glue")
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    fn crawler(delete: DeleteBehavior) -> GetCrawlerOutput {
        GetCrawlerOutput::builder()
            .crawler(
                Crawler::builder()
                    .name("retail-dev-warehouse-crawler")
                    .role("arn:aws:iam::123456789012:role/retail-dev-crawler")
                    .database_name("retail_dev")
                    .targets(
                        CrawlerTargets::builder()
                            .jdbc_targets(
                                JdbcTarget::builder()
                                    .connection_name("retail-dev-warehouse")
                                    .path("retail/public/transactions")
                                    .build(),
                            )
                            .set_s3_targets(Some(Vec::<S3Target>::new()))
                            .build(),
                    )
                    .schema_change_policy(
                        SchemaChangePolicy::builder()
                            .delete_behavior(delete)
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    async fn checks_against(
        connection: GetConnectionOutput,
        crawler: GetCrawlerOutput,
    ) -> Vec<Check> {
        let get_connection = mock!(aws_sdk_glue::Client::get_connection)
            .match_requests(|r| r.name() == Some("retail-dev-warehouse"))
            .then_output(move || connection.clone());
        let get_crawler = mock!(aws_sdk_glue::Client::get_crawler)
            .match_requests(|r| r.name() == Some("retail-dev-warehouse-crawler"))
            .then_output(move || crawler.clone());
        let glue = mock_client!(
            aws_sdk_glue,
            RuleMode::MatchAny,
            [&get_connection, &get_crawler]
        );
        checks(&batch(), &glue).await
    }

    #[tokio::test]
    async fn a_connection_and_crawler_as_synthesised_pass() {
        let found =
            checks_against(connection("subnet-1", SECRET), crawler(DeleteBehavior::Log)).await;
        assert_eq!(found.len(), 2);
        for check in found {
            assert_eq!(check.status, Status::Pass, "{check:?}");
        }
    }

    #[tokio::test]
    async fn a_connection_moved_to_another_subnet_on_the_master_secret_fails_with_both_named() {
        let master = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:master";
        let found =
            checks_against(connection("subnet-2", master), crawler(DeleteBehavior::Log)).await;
        assert_eq!(found[0].status, Status::Fail);
        assert_eq!(
            found[0].detail,
            format!(
                "retail-dev-warehouse subnet is subnet-2, synthesised subnet-1; \
                 retail-dev-warehouse secret is {master}, synthesised {SECRET}"
            )
        );
    }

    #[tokio::test]
    async fn a_crawler_that_may_delete_tables_fails() {
        let found = checks_against(
            connection("subnet-1", SECRET),
            crawler(DeleteBehavior::DeleteFromDatabase),
        )
        .await;
        assert_eq!(found[1].status, Status::Fail);
        assert_eq!(
            found[1].detail,
            "retail-dev-warehouse-crawler delete behaviour is DELETE_FROM_DATABASE, synthesised LOG"
        );
    }
}
