//! The stage's customer managed key and its alarm topic: what is encrypted
//! with the key, who may use it and how, and where every alarm goes.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use stacks::model::Template;
use stacks::platform::cross_account::CrossAccountNames;
use stacks::stage::{STAGES, Stage, WarehouseTopology};
use stacks::testing::{platform_assets, resources_of_type};

fn platform(stage: &Stage) -> BTreeMap<String, Template> {
    stacks::platform::synth(stage, &platform_assets())
        .unwrap()
        .into_iter()
        .map(|s| (s.id, s.template))
        .collect()
}

fn props<'a>(template: &'a Template, id: &str) -> &'a Value {
    template.resources[id].properties.as_ref().unwrap()
}

/// The key's ARN as `stack` refers to it: a `GetAtt` where the key is
/// (Storage; the Warehouse of a warehouse account of its own), the import
/// of its export elsewhere in the same account.
fn key_arn(stage: &Stage, stack: &str) -> Value {
    let own_warehouse_account = matches!(
        stage.topology,
        WarehouseTopology::Private { account: Some(_) }
    );
    let key_stack = match stack {
        "Network" | "Warehouse" | "Loader" if own_warehouse_account => "Warehouse",
        _ => "Storage",
    };
    if stack == key_stack {
        json!({ "Fn::GetAtt": ["DataKey", "Arn"] })
    } else {
        json!({ "Fn::ImportValue": format!(
            "retail-{}-{}:DataKey:Arn",
            stage.name,
            key_stack.to_lowercase()
        ) })
    }
}

fn topic_arn(stage: &Stage, stack: &str) -> Value {
    // The warehouse account of a stage across accounts has its own topic,
    // in the Loader stack (an alarm notifies a topic of its own account).
    let own_topic = stack == "Loader" && stage.cross_account().is_some();
    if stack == "Storage" || own_topic {
        json!({ "Ref": "AlarmTopic" })
    } else {
        json!({ "Fn::ImportValue": format!("retail-{}-storage:AlarmTopic:Ref", stage.name) })
    }
}

/// Where each encrypted resource type names its key.
const KEY_PROPERTY: &[(&str, &[&str])] = &[
    (
        "AWS::S3::Bucket",
        &[
            "BucketEncryption",
            "ServerSideEncryptionConfiguration",
            "0",
            "ServerSideEncryptionByDefault",
            "KMSMasterKeyID",
        ],
    ),
    (
        "AWS::DynamoDB::Table",
        &["SSESpecification", "KMSMasterKeyId"],
    ),
    ("AWS::Kinesis::Stream", &["StreamEncryption", "KeyId"]),
    ("AWS::SecretsManager::Secret", &["KmsKeyId"]),
    ("AWS::Redshift::Cluster", &["KmsKeyId"]),
    ("AWS::Logs::LogGroup", &["KmsKeyId"]),
    ("AWS::SNS::Topic", &["KmsMasterKeyId"]),
];

fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter()
        .fold(value, |v, step| match step.parse::<usize>() {
            Ok(i) => &v[i],
            Err(_) => &v[*step],
        })
}

#[test]
fn every_store_of_data_at_rest_is_encrypted_with_the_stage_key() {
    for stage in STAGES {
        let mut encrypted = 0;
        for (stack, template) in platform(stage) {
            for (resource_type, path) in KEY_PROPERTY {
                for (id, resource) in resources_of_type(&template, resource_type) {
                    // S3 delivers server access logs only into SSE-S3 buckets.
                    // <https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html>
                    if id == "AccessLogBucket" {
                        continue;
                    }
                    let props = resource.properties.as_ref().unwrap();
                    assert_eq!(
                        at(props, path),
                        &key_arn(stage, &stack),
                        "{} {stack}/{id} ({resource_type}) is not encrypted with the stage key",
                        stage.name
                    );
                    encrypted += 1;
                }
            }
            for (id, _) in resources_of_type(&template, "AWS::S3::Bucket") {
                if id != "AccessLogBucket" {
                    let rule = &props(&template, id)["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                        [0];
                    assert_eq!(
                        rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
                        "aws:kms"
                    );
                    assert_eq!(rule["BucketKeyEnabled"], true, "{stack}/{id}");
                }
            }
        }
        // 3 buckets, 2 tables, stream, secret, cluster, topic and the log
        // groups of 7 functions, Firehose and the API (2).
        assert!(
            encrypted >= 19,
            "{}: only {encrypted} encrypted",
            stage.name
        );
    }
}

#[test]
fn firehose_stages_its_objects_under_the_stage_key() {
    for stage in STAGES.iter().filter(|stage| !stage.private_warehouse()) {
        let stacks = platform(stage);
        let delivery = props(&stacks["Streaming"], "DeliveryStream");
        let destination = &delivery["RedshiftDestinationConfiguration"];
        for s3 in [
            &destination["S3Configuration"],
            &destination["S3BackupConfiguration"],
        ] {
            assert_eq!(
                s3["EncryptionConfiguration"]["KMSEncryptionConfig"]["AWSKMSKeyARN"],
                key_arn(stage, "Streaming")
            );
        }
    }
}

#[test]
fn the_key_rotates_and_is_kept_with_prods_data() {
    for stage in STAGES {
        let stacks = platform(stage);
        let key = &stacks["Storage"].resources["DataKey"];
        assert_eq!(key.properties.as_ref().unwrap()["EnableKeyRotation"], true);
        let expected = if stage.retain_data {
            "Retain"
        } else {
            "Delete"
        };
        assert_eq!(
            serde_json::to_value(key).unwrap()["DeletionPolicy"],
            expected,
            "{}",
            stage.name
        );
        assert_eq!(
            props(&stacks["Storage"], "DataKeyAlias")["AliasName"],
            format!("alias/retail-{}-data", stage.name)
        );
    }
}

fn key_statements(stage: &Stage) -> BTreeMap<String, Value> {
    let stacks = platform(stage);
    props(&stacks["Storage"], "DataKey")["KeyPolicy"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["Sid"].as_str().unwrap().to_string(), s.clone()))
        .collect()
}

fn account_root() -> Value {
    json!({ "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root" })
}

#[test]
fn the_account_administers_the_key_but_uses_it_only_through_the_stage_services() {
    for stage in STAGES {
        let statements = key_statements(stage);
        let admin = &statements["AdministerFromTheAccount"];
        assert_eq!(admin["Principal"], json!({ "AWS": account_root() }));
        let admin_actions: Vec<&str> = admin["Action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        for crypto in ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:*"] {
            assert!(
                !admin_actions
                    .iter()
                    .any(|a| *a == crypto
                        || a.strip_suffix('*').is_some_and(|p| crypto.starts_with(p))),
                "administration allows {crypto}"
            );
        }
        for sid in ["UseThroughTheStageServices", "GrantToTheStageServices"] {
            let statement = &statements[sid];
            assert_eq!(statement["Principal"], json!({ "AWS": account_root() }));
            let services: Vec<&str> = statement["Condition"]["StringEquals"]["kms:ViaService"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["Fn::Sub"].as_str().unwrap())
                .collect();
            assert_eq!(
                services,
                [
                    "dynamodb.${AWS::Region}.amazonaws.com",
                    "kinesis.${AWS::Region}.amazonaws.com",
                    "redshift.${AWS::Region}.amazonaws.com",
                    "s3.${AWS::Region}.amazonaws.com",
                    "secretsmanager.${AWS::Region}.amazonaws.com",
                    "sns.${AWS::Region}.amazonaws.com",
                ]
            );
            assert_eq!(
                statement["Condition"]["StringEquals"]["kms:CallerAccount"],
                json!({ "Ref": "AWS::AccountId" })
            );
        }
        assert_eq!(
            statements["GrantToTheStageServices"]["Condition"]["Bool"]["kms:GrantIsForAWSResource"],
            "true"
        );
        // Only what the statements above and the two service principals
        // below allow, and the warehouse account's COPY where the stage
        // has one (tests/private_warehouse.rs): no "*" principal.
        let cross_account = usize::from(CrossAccountNames::of(stage).unwrap().is_some());
        assert_eq!(
            statements.len(),
            5 + cross_account,
            "{:?}",
            statements.keys()
        );
    }
}

#[test]
fn cloudwatch_logs_may_use_the_key_for_the_stages_log_groups_only() {
    for stage in STAGES {
        let logs = &key_statements(stage)["EncryptTheStageLogGroups"];
        assert_eq!(
            logs["Principal"],
            json!({ "Service": { "Fn::Sub": "logs.${AWS::Region}.amazonaws.com" } })
        );
        assert_eq!(
            logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"],
            json!([
                { "Fn::Sub": format!("arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:retail-{}-*", stage.name) },
                { "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:API-Gateway-Execution-Logs_*" },
            ])
        );
    }
}

#[test]
fn cloudwatch_may_publish_alarms_to_the_encrypted_topic() {
    for stage in STAGES {
        let alarms = &key_statements(stage)["PublishAlarmsToTheEncryptedTopic"];
        assert_eq!(
            alarms["Principal"],
            json!({ "Service": "cloudwatch.amazonaws.com" })
        );
        assert_eq!(
            alarms["Action"],
            json!(["kms:Decrypt", "kms:GenerateDataKey*"])
        );
    }
}

/// Every statement of every role of the stage that grants a KMS action.
fn kms_grants(stacks: &BTreeMap<String, Template>) -> Vec<(String, String, Value)> {
    let mut grants = Vec::new();
    for (stack, template) in stacks {
        for (id, role) in resources_of_type(template, "AWS::IAM::Role") {
            let props = role.properties.as_ref().unwrap();
            for policy in props["Policies"].as_array().into_iter().flatten() {
                for statement in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
                    let text = statement["Action"].to_string();
                    if text.contains("kms:") {
                        grants.push((stack.clone(), id.to_string(), statement.clone()));
                    }
                }
            }
        }
    }
    grants
}

#[test]
fn every_role_uses_the_stage_key_only_through_one_service_and_never_administers_it() {
    for stage in STAGES {
        let stacks = platform(stage);
        let grants = kms_grants(&stacks);
        // Streaming (2 writers, Firehose), Api (2), Warehouse (schema, COPY),
        // Batch (import, 2 crawlers).
        assert!(grants.len() >= 10, "{} KMS grants", grants.len());
        let data_account_keys = CrossAccountNames::of(stage)
            .unwrap()
            .map(|names| json!(names.data_account_keys_arn(stage.region)));
        for (stack, role, statement) in grants {
            // Across accounts, the warehouse's COPY decrypts the lake with
            // the data account's key, whose id it cannot know.
            let expected = match &data_account_keys {
                Some(keys) if role == "LakeCopyRole" && statement["Sid"] == "DecryptLake" => {
                    keys.clone()
                }
                _ => key_arn(stage, &stack),
            };
            assert_eq!(
                statement["Resource"], expected,
                "{stack}/{role}: {statement}"
            );
            let via = statement["Condition"]["StringEquals"]["kms:ViaService"]["Fn::Sub"]
                .as_str()
                .unwrap_or_else(|| panic!("{stack}/{role}: no kms:ViaService in {statement}"));
            assert!(via.ends_with(".${AWS::Region}.amazonaws.com"), "{via}");
            let actions: Vec<String> = match &statement["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(a) => a.iter().map(|a| a.as_str().unwrap().into()).collect(),
                other => panic!("{other}"),
            };
            for action in actions {
                assert!(
                    ["kms:Decrypt", "kms:GenerateDataKey"].contains(&action.as_str()),
                    "{stack}/{role} is granted {action}"
                );
            }
        }
    }
}

#[test]
fn s3_and_secret_decryption_is_bound_to_its_bucket_or_secret() {
    for stage in STAGES {
        for (stack, role, statement) in kms_grants(&platform(stage)) {
            let via = statement["Condition"]["StringEquals"]["kms:ViaService"]["Fn::Sub"]
                .as_str()
                .unwrap()
                .to_string();
            let context = match via.split('.').next().unwrap() {
                "s3" => &statement["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"],
                "kinesis" => {
                    &statement["Condition"]["StringLike"]["kms:EncryptionContext:aws:kinesis:arn"]
                }
                "secretsmanager" => {
                    &statement["Condition"]["StringEquals"]["kms:EncryptionContext:SecretARN"]
                }
                // DynamoDB's context names the table, whose name the roles'
                // policies do not take; the grant is bound to the service.
                "dynamodb" => continue,
                other => panic!("{stack}/{role}: KMS through {other}"),
            };
            assert!(!context.is_null(), "{stack}/{role}: {statement}");
        }
    }
}

#[test]
fn every_alarm_notifies_the_stage_alarm_topic_in_alarm_and_when_ok() {
    for stage in STAGES {
        let stacks = platform(stage);
        let mut alarms = 0;
        for (stack, template) in &stacks {
            for (id, alarm) in resources_of_type(template, "AWS::CloudWatch::Alarm") {
                let props = alarm.properties.as_ref().unwrap();
                let topic = json!([topic_arn(stage, stack)]);
                assert_eq!(props["AlarmActions"], topic, "{stack}/{id}");
                assert_eq!(props["OKActions"], topic, "{stack}/{id}");
                alarms += 1;
            }
        }
        assert!(alarms >= 3, "{alarms} alarms");
        let storage = &stacks["Storage"];
        assert_eq!(
            props(storage, "AlarmTopic")["KmsMasterKeyId"],
            key_arn(stage, "Storage")
        );
        assert_eq!(
            serde_json::to_value(&storage.outputs).unwrap()["AlarmTopicArn"]["Value"],
            json!({ "Ref": "AlarmTopic" })
        );
    }
}

#[test]
fn an_alarm_email_of_the_stage_is_subscribed_to_the_topic() {
    let dev = Stage::named("dev").unwrap();
    assert!(
        resources_of_type(&platform(dev)["Storage"], "AWS::SNS::Subscription").is_empty(),
        "no address, no subscription"
    );
    let with_email = Stage {
        alarm_email: Some("oncall@example.com"),
        ..dev.clone()
    };
    let stacks = platform(&with_email);
    let subscriptions = resources_of_type(&stacks["Storage"], "AWS::SNS::Subscription");
    let [(_, subscription)] = subscriptions.as_slice() else {
        panic!("one subscription, got {}", subscriptions.len());
    };
    assert_eq!(
        subscription.properties.as_ref().unwrap(),
        &json!({
            "Endpoint": "oncall@example.com",
            "Protocol": "email",
            "TopicArn": { "Ref": "AlarmTopic" },
        })
    );
}
