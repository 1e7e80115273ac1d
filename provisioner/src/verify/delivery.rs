//! The Firehose delivery stream, which the local emulators never create:
//! active, reading the synthesised Kinesis stream with its role, loading
//! the synthesised Redshift table through the transform function, with the
//! synthesised retry window, error logging and credentials secret.

use aws_sdk_firehose::types::{DeliveryStreamDescription, ProcessorParameterName};
use serde_json::Value;

use super::platform::{Target, Unresolved};
use super::{Check, Platform, Problem};
use crate::deploy::error::AwsError;

pub async fn checks(platform: &Platform, firehose: &aws_sdk_firehose::Client) -> Vec<Check> {
    let mut checks = Vec::new();
    for stream in platform.resources("AWS::KinesisFirehose::DeliveryStream") {
        checks.push(delivery_check(platform, firehose, stream).await);
    }
    checks
}

/// What verify compares: the same fields read from the template and from
/// `DescribeDeliveryStream`. `None` is "not set" (logging or processing
/// disabled, no secret).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Fields of the template whose deployed value verify cannot know
    /// (the cluster's endpoint is an attribute only Redshift reports), so
    /// they are not compared; always empty for a deployed description.
    pub unresolved: Vec<&'static str>,
    pub source_stream_arn: Option<String>,
    pub source_role_arn: Option<String>,
    pub destination_role_arn: Option<String>,
    pub cluster_jdbc_url: Option<String>,
    pub table: Option<String>,
    pub copy_options: Option<String>,
    pub processor_arn: Option<String>,
    pub retry_seconds: Option<i64>,
    pub log_group: Option<String>,
    pub secret_arn: Option<String>,
}

async fn delivery_check(
    platform: &Platform,
    firehose: &aws_sdk_firehose::Client,
    stream: Target<'_>,
) -> Check {
    let component = stream.stack.id.as_str();
    let name = format!(
        "delivery stream {}: source, role, destination, processor, retry, logging",
        stream.logical
    );
    let id = match stream.physical() {
        Ok(id) => id,
        Err(why) => return platform.unavailable(component, &name, &why),
    };
    let expected = expected(platform, stream);
    let answer = firehose
        .describe_delivery_stream()
        .delivery_stream_name(id)
        .send()
        .await;
    let answer = answer
        .map(|answer| answer.delivery_stream_description)
        .map_err(|e| AwsError::from_sdk(format!("describing delivery stream {id}"), e));
    let description = match Check::found(component, &name, id, answer) {
        Ok(description) => description,
        Err(check) => return check,
    };
    let status = description.delivery_stream_status().as_str().to_string();
    let mut problems = Vec::new();
    if status != "ACTIVE" {
        problems.push(Problem::new(
            format!("{id} is {status}"),
            "wait until it is ACTIVE; a CREATING_FAILED stream is replaced by deploying again",
        ));
    }
    problems.extend(delivery_problems(id, &expected, &deployed(&description)));
    let mut found = format!("{id} {status}");
    if !expected.unresolved.is_empty() {
        found.push_str(&format!(
            " (not compared: {}, whose deployed value verify cannot know)",
            expected.unresolved.join(", ")
        ));
    }
    Check::from_problems(component, name, found, problems)
}

/// The template's delivery stream with every reference resolved to the
/// deployed value, or named in `unresolved`.
pub fn expected(platform: &Platform, stream: Target<'_>) -> Delivery {
    let props = stream.props();
    let unresolved = std::cell::RefCell::new(Vec::new());
    let resolve = |field: &'static str, value: &Value| -> Option<String> {
        if value.is_null() {
            return None;
        }
        match platform.resolve(stream.stack, value) {
            Ok(resolved) => Some(resolved),
            Err(Unresolved(_)) => {
                unresolved.borrow_mut().push(field);
                None
            }
        }
    };
    let source = &props["KinesisStreamSourceConfiguration"];
    let redshift = &props["RedshiftDestinationConfiguration"];
    let processing = &redshift["ProcessingConfiguration"];
    let processor_arn = if processing["Enabled"] == true {
        let lambda_arn = processing["Processors"][0]["Parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["ParameterName"] == "LambdaArn")
            .map(|p| &p["ParameterValue"])
            .unwrap_or(&Value::Null);
        resolve(PROCESSOR, lambda_arn)
    } else {
        None
    };
    let logging = &redshift["CloudWatchLoggingOptions"];
    let secrets = &redshift["SecretsManagerConfiguration"];
    let delivery = Delivery {
        source_stream_arn: resolve(SOURCE_STREAM, &source["KinesisStreamARN"]),
        source_role_arn: resolve(SOURCE_ROLE, &source["RoleARN"]),
        destination_role_arn: resolve(DESTINATION_ROLE, &redshift["RoleARN"]),
        cluster_jdbc_url: resolve(JDBC_URL, &redshift["ClusterJDBCURL"]),
        table: resolve(TABLE, &redshift["CopyCommand"]["DataTableName"]),
        copy_options: resolve(COPY_OPTIONS, &redshift["CopyCommand"]["CopyOptions"]),
        processor_arn,
        retry_seconds: redshift["RetryOptions"]["DurationInSeconds"].as_i64(),
        log_group: if logging["Enabled"] == true {
            resolve(LOG_GROUP, &logging["LogGroupName"])
        } else {
            None
        },
        secret_arn: if secrets["Enabled"] == true {
            resolve(SECRET, &secrets["SecretARN"])
        } else {
            None
        },
        unresolved: Vec::new(),
    };
    Delivery {
        unresolved: unresolved.into_inner(),
        ..delivery
    }
}

const SOURCE_STREAM: &str = "source stream";
const SOURCE_ROLE: &str = "source role";
const DESTINATION_ROLE: &str = "Redshift destination role";
const JDBC_URL: &str = "cluster JDBC URL";
const TABLE: &str = "COPY table";
const COPY_OPTIONS: &str = "COPY options";
const PROCESSOR: &str = "transform processor";
const LOG_GROUP: &str = "error logging group";
const SECRET: &str = "credentials secret";

/// The same fields from `DescribeDeliveryStream` (its first Redshift
/// destination: the platform's streams have one).
pub fn deployed(description: &DeliveryStreamDescription) -> Delivery {
    let source = description
        .source()
        .and_then(|s| s.kinesis_stream_source_description());
    let redshift = description
        .destinations()
        .iter()
        .find_map(|d| d.redshift_destination_description());
    let Some(redshift) = redshift else {
        return Delivery {
            source_stream_arn: source
                .and_then(|s| s.kinesis_stream_arn())
                .map(str::to_string),
            source_role_arn: source.and_then(|s| s.role_arn()).map(str::to_string),
            ..Delivery::default()
        };
    };
    let processing = redshift
        .processing_configuration()
        .filter(|p| p.enabled() == Some(true));
    let processor_arn = processing
        .into_iter()
        .flat_map(|p| p.processors())
        .flat_map(|p| p.parameters())
        .find(|p| p.parameter_name() == &ProcessorParameterName::LambdaArn)
        .map(|p| p.parameter_value().to_string());
    let copy = redshift.copy_command();
    Delivery {
        source_stream_arn: source
            .and_then(|s| s.kinesis_stream_arn())
            .map(str::to_string),
        source_role_arn: source.and_then(|s| s.role_arn()).map(str::to_string),
        destination_role_arn: Some(redshift.role_arn().to_string()),
        cluster_jdbc_url: Some(redshift.cluster_jdbcurl().to_string()),
        table: copy.map(|c| c.data_table_name().to_string()),
        copy_options: copy.and_then(|c| c.copy_options()).map(str::to_string),
        processor_arn,
        retry_seconds: redshift
            .retry_options()
            .and_then(|r| r.duration_in_seconds())
            .map(i64::from),
        log_group: redshift
            .cloud_watch_logging_options()
            .filter(|l| l.enabled() == Some(true))
            .and_then(|l| l.log_group_name())
            .map(str::to_string),
        secret_arn: redshift
            .secrets_manager_configuration()
            .filter(|s| s.enabled())
            .and_then(|s| s.secret_arn())
            .map(str::to_string),
        unresolved: Vec::new(),
    }
}

/// Each field that differs, named, with how to put it back. A deploy does
/// not restore a hand-made change while the template is unchanged, so the
/// fix names the setting to restore.
pub fn delivery_problems(id: &str, expected: &Delivery, deployed: &Delivery) -> Vec<Problem> {
    let fields: [(&str, &Option<String>, &Option<String>); 9] = [
        (
            SOURCE_STREAM,
            &expected.source_stream_arn,
            &deployed.source_stream_arn,
        ),
        (
            SOURCE_ROLE,
            &expected.source_role_arn,
            &deployed.source_role_arn,
        ),
        (
            DESTINATION_ROLE,
            &expected.destination_role_arn,
            &deployed.destination_role_arn,
        ),
        (
            JDBC_URL,
            &expected.cluster_jdbc_url,
            &deployed.cluster_jdbc_url,
        ),
        (TABLE, &expected.table, &deployed.table),
        (COPY_OPTIONS, &expected.copy_options, &deployed.copy_options),
        (PROCESSOR, &expected.processor_arn, &deployed.processor_arn),
        (LOG_GROUP, &expected.log_group, &deployed.log_group),
        (SECRET, &expected.secret_arn, &deployed.secret_arn),
    ];
    let shown = |value: &Option<String>| value.as_deref().unwrap_or("none").to_string();
    let mut problems: Vec<Problem> = fields
        .into_iter()
        .filter(|(what, want, got)| want != got && !expected.unresolved.contains(what))
        .map(|(what, want, got)| {
            Problem::new(
                format!("{id} {what} is {}, synthesised {}", shown(got), shown(want)),
                format!(
                    "set the {what} of {id} back to {} (Firehose console: Configuration, or \
                     aws firehose update-destination)",
                    shown(want)
                ),
            )
        })
        .collect();
    if expected.retry_seconds != deployed.retry_seconds {
        let seconds = |s: Option<i64>| s.map_or("none".to_string(), |s| format!("{s} s"));
        problems.push(Problem::new(
            format!(
                "{id} retries COPY for {}, synthesised {}",
                seconds(deployed.retry_seconds),
                seconds(expected.retry_seconds)
            ),
            format!(
                "set the Redshift retry duration of {id} back to {}",
                seconds(expected.retry_seconds)
            ),
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_firehose::operation::describe_delivery_stream::DescribeDeliveryStreamOutput;
    use aws_sdk_firehose::types::{
        CloudWatchLoggingOptions, CopyCommand, DeliveryStreamStatus, DeliveryStreamType,
        DestinationDescription, KinesisStreamSourceDescription, ProcessingConfiguration, Processor,
        ProcessorParameter, ProcessorType, RedshiftDestinationDescription, RedshiftRetryOptions,
        SecretsManagerConfiguration, SourceDescription,
    };
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use serde_json::json;

    use crate::verify::Status;
    use crate::verify::platform::tests::platform;

    const ACCOUNT: &str = "123456789012";

    fn arn(service: &str, resource: &str) -> String {
        format!("arn:aws:{service}:eu-west-1:{ACCOUNT}:{resource}")
    }

    /// The Streaming stack as synth writes it (trimmed to what is checked).
    fn streaming() -> Platform {
        let template = json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Resources": {
                "Stream": { "Type": "AWS::Kinesis::Stream" },
                "DeliveryRole": { "Type": "AWS::IAM::Role" },
                "TransformFunction": { "Type": "AWS::Lambda::Function" },
                "DeliveryLogGroup": { "Type": "AWS::Logs::LogGroup" },
                "DeliveryStream": {
                    "Type": "AWS::KinesisFirehose::DeliveryStream",
                    "Properties": {
                        "KinesisStreamSourceConfiguration": {
                            "KinesisStreamARN": { "Fn::GetAtt": ["Stream", "Arn"] },
                            "RoleARN": { "Fn::GetAtt": ["DeliveryRole", "Arn"] }
                        },
                        "RedshiftDestinationConfiguration": {
                            "RoleARN": { "Fn::GetAtt": ["DeliveryRole", "Arn"] },
                            "ClusterJDBCURL": "jdbc:redshift://cluster.example:5439/retail",
                            "CopyCommand": {
                                "DataTableName": "public.transactions_staging",
                                "CopyOptions": "json 'auto'"
                            },
                            "ProcessingConfiguration": {
                                "Enabled": true,
                                "Processors": [{ "Type": "Lambda", "Parameters": [
                                    { "ParameterName": "LambdaArn",
                                      "ParameterValue": { "Fn::GetAtt": ["TransformFunction", "Arn"] } },
                                    { "ParameterName": "NumberOfRetries", "ParameterValue": "3" }
                                ]}]
                            },
                            "RetryOptions": { "DurationInSeconds": 3600 },
                            "CloudWatchLoggingOptions": {
                                "Enabled": true,
                                "LogGroupName": { "Ref": "DeliveryLogGroup" }
                            },
                            "SecretsManagerConfiguration": {
                                "Enabled": true,
                                "SecretARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:loader"
                            }
                        }
                    }
                }
            }
        });
        platform(vec![(
            "Streaming",
            template,
            Some(vec![
                ("Stream", "retail-dev-stream"),
                ("DeliveryRole", "retail-dev-delivery-role"),
                ("TransformFunction", "retail-dev-transform"),
                ("DeliveryLogGroup", "/aws/kinesisfirehose/retail-dev"),
                ("DeliveryStream", "retail-dev-delivery"),
            ]),
        )])
    }

    fn as_synthesised() -> Delivery {
        Delivery {
            source_stream_arn: Some(arn("kinesis", "stream/retail-dev-stream")),
            source_role_arn: Some(format!(
                "arn:aws:iam::{ACCOUNT}:role/retail-dev-delivery-role"
            )),
            destination_role_arn: Some(format!(
                "arn:aws:iam::{ACCOUNT}:role/retail-dev-delivery-role"
            )),
            cluster_jdbc_url: Some("jdbc:redshift://cluster.example:5439/retail".into()),
            table: Some("public.transactions_staging".into()),
            copy_options: Some("json 'auto'".into()),
            processor_arn: Some(arn("lambda", "function:retail-dev-transform")),
            retry_seconds: Some(3600),
            log_group: Some("/aws/kinesisfirehose/retail-dev".into()),
            secret_arn: Some(arn("secretsmanager", "secret:loader")),
            unresolved: Vec::new(),
        }
    }

    /// `DescribeDeliveryStream`'s answer for `delivery`.
    fn description(status: DeliveryStreamStatus, delivery: &Delivery) -> DeliveryStreamDescription {
        let processing = ProcessingConfiguration::builder()
            .enabled(delivery.processor_arn.is_some())
            .processors(
                Processor::builder()
                    .r#type(ProcessorType::Lambda)
                    .parameters(
                        ProcessorParameter::builder()
                            .parameter_name(ProcessorParameterName::LambdaArn)
                            .parameter_value(delivery.processor_arn.clone().unwrap_or_default())
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .build();
        let redshift = RedshiftDestinationDescription::builder()
            .role_arn(delivery.destination_role_arn.clone().unwrap())
            .cluster_jdbcurl(delivery.cluster_jdbc_url.clone().unwrap())
            .copy_command(
                CopyCommand::builder()
                    .data_table_name(delivery.table.clone().unwrap())
                    .set_copy_options(delivery.copy_options.clone())
                    .build()
                    .unwrap(),
            )
            .processing_configuration(processing)
            .set_retry_options(delivery.retry_seconds.map(|s| {
                RedshiftRetryOptions::builder()
                    .duration_in_seconds(s as i32)
                    .build()
            }))
            .cloud_watch_logging_options(
                CloudWatchLoggingOptions::builder()
                    .enabled(delivery.log_group.is_some())
                    .set_log_group_name(delivery.log_group.clone())
                    .build(),
            )
            .secrets_manager_configuration(
                SecretsManagerConfiguration::builder()
                    .enabled(delivery.secret_arn.is_some())
                    .set_secret_arn(delivery.secret_arn.clone())
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        DeliveryStreamDescription::builder()
            .delivery_stream_name("retail-dev-delivery")
            .delivery_stream_arn(arn("firehose", "deliverystream/retail-dev-delivery"))
            .delivery_stream_status(status)
            .delivery_stream_type(DeliveryStreamType::KinesisStreamAsSource)
            .version_id("1")
            .source(
                SourceDescription::builder()
                    .kinesis_stream_source_description(
                        KinesisStreamSourceDescription::builder()
                            .set_kinesis_stream_arn(delivery.source_stream_arn.clone())
                            .set_role_arn(delivery.source_role_arn.clone())
                            .build(),
                    )
                    .build(),
            )
            .destinations(
                DestinationDescription::builder()
                    .destination_id("destinationId-000000000001")
                    .redshift_destination_description(redshift)
                    .build()
                    .unwrap(),
            )
            .has_more_destinations(false)
            .build()
            .unwrap()
    }

    async fn check_against(description: DeliveryStreamDescription) -> Check {
        let answer = mock!(aws_sdk_firehose::Client::describe_delivery_stream)
            .match_requests(|r| r.delivery_stream_name() == Some("retail-dev-delivery"))
            .then_output(move || {
                DescribeDeliveryStreamOutput::builder()
                    .delivery_stream_description(description.clone())
                    .build()
            });
        let firehose = mock_client!(aws_sdk_firehose, RuleMode::MatchAny, [&answer]);
        let mut checks = checks(&streaming(), &firehose).await;
        assert_eq!(checks.len(), 1);
        checks.remove(0)
    }

    #[test]
    fn the_template_resolves_to_the_deployed_names() {
        let platform = streaming();
        let stream = platform.resources("AWS::KinesisFirehose::DeliveryStream")[0];
        assert_eq!(expected(&platform, stream), as_synthesised());
    }

    /// The cluster endpoint is an attribute only Redshift reports: the URL
    /// built from it is left out of the comparison, and the check says so.
    #[test]
    fn a_url_built_from_the_cluster_endpoint_is_not_compared_and_said_so() {
        let mut platform = streaming();
        let stream = &mut platform.stacks[0].template.resources;
        let delivery = stream.get_mut("DeliveryStream").unwrap();
        let props = delivery.properties.as_mut().unwrap();
        props["RedshiftDestinationConfiguration"]["ClusterJDBCURL"] = json!({ "Fn::Sub": [
            "jdbc:redshift://${Address}:5439/retail",
            { "Address": { "Fn::GetAtt": ["Cluster", "Endpoint.Address"] } }] });
        let target = platform.resources("AWS::KinesisFirehose::DeliveryStream")[0];
        let expected = expected(&platform, target);
        assert_eq!(expected.unresolved, ["cluster JDBC URL"]);
        let other_url = Delivery {
            cluster_jdbc_url: Some("jdbc:redshift://elsewhere:5439/retail".into()),
            unresolved: Vec::new(),
            ..as_synthesised()
        };
        assert!(delivery_problems("d", &expected, &other_url).is_empty());
    }

    #[tokio::test]
    async fn a_stream_as_synthesised_passes() {
        let check =
            check_against(description(DeliveryStreamStatus::Active, &as_synthesised())).await;
        assert_eq!(check.status, Status::Pass, "{check:?}");
        assert_eq!(check.detail, "retail-dev-delivery ACTIVE");
    }

    #[tokio::test]
    async fn a_processor_removed_and_logging_turned_off_by_hand_fail_with_each_named() {
        let changed = Delivery {
            processor_arn: None,
            log_group: None,
            retry_seconds: Some(60),
            ..as_synthesised()
        };
        let check = check_against(description(DeliveryStreamStatus::Active, &changed)).await;
        assert_eq!(check.status, Status::Fail);
        assert_eq!(
            check.detail,
            format!(
                "retail-dev-delivery transform processor is none, synthesised {}; \
                 retail-dev-delivery error logging group is none, synthesised \
                 /aws/kinesisfirehose/retail-dev; \
                 retail-dev-delivery retries COPY for 60 s, synthesised 3600 s",
                arn("lambda", "function:retail-dev-transform")
            )
        );
        assert!(
            check
                .fix
                .unwrap()
                .contains("set the transform processor of")
        );
    }

    #[tokio::test]
    async fn a_stream_that_failed_to_create_fails() {
        let check = check_against(description(
            DeliveryStreamStatus::CreatingFailed,
            &as_synthesised(),
        ))
        .await;
        assert_eq!(check.status, Status::Fail);
        assert_eq!(check.detail, "retail-dev-delivery is CREATING_FAILED");
    }

    #[test]
    fn the_master_user_instead_of_the_loader_secret_is_named() {
        let master = Delivery {
            secret_arn: Some(arn("secretsmanager", "secret:master")),
            ..as_synthesised()
        };
        let problems = delivery_problems("d", &as_synthesised(), &master);
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0]
                .found
                .starts_with("d credentials secret is arn:aws:secretsmanager:eu-west-1:"),
            "{problems:?}"
        );
    }
}
