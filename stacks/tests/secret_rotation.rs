//! Every warehouse secret rotates: the master's and each user's, in every
//! stage (public and private topology, one account or two), by our own
//! function (`lambdas/secret-rotation`) on the stage's schedule, never
//! before the schema has created the users, with a role that can rotate
//! those four secrets and nothing else.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use stacks::assets::asset_key;
use stacks::model::Template;
use stacks::stage::{STAGES, Stage};
use stacks::testing::{platform_assets, resources_of_type};

const SECRETS: [&str; 4] = [
    "MasterSecret",
    "OwnerSecret",
    "LoaderSecret",
    "ReaderSecret",
];

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

fn function_arn() -> Value {
    json!({ "Fn::GetAtt": ["SecretRotationFunction", "Arn"] })
}

#[test]
fn every_secret_of_every_stage_has_one_schedule_with_our_function_after_the_schema() {
    for stage in STAGES {
        let stacks = platform(stage);
        for (stack, template) in &stacks {
            let secrets: BTreeSet<&str> =
                resources_of_type(template, "AWS::SecretsManager::Secret")
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect();
            if stack != "Warehouse" {
                assert!(secrets.is_empty(), "{}: {stack} has secrets", stage.name);
                continue;
            }
            assert_eq!(secrets, SECRETS.into_iter().collect(), "{}", stage.name);
            let schedules = resources_of_type(template, "AWS::SecretsManager::RotationSchedule");
            assert_eq!(schedules.len(), SECRETS.len(), "{}", stage.name);
            for secret in SECRETS {
                let of_secret: Vec<_> = schedules
                    .iter()
                    .filter(|(_, r)| {
                        r.properties.as_ref().unwrap()["SecretId"] == json!({ "Ref": secret })
                    })
                    .collect();
                let [(id, schedule)] = of_secret.as_slice() else {
                    panic!("{}: {secret} has {} schedules", stage.name, of_secret.len());
                };
                assert_eq!(
                    schedule.properties.as_ref().unwrap(),
                    &json!({
                        "SecretId": { "Ref": secret },
                        "RotationLambdaARN": function_arn(),
                        "RotationRules": {
                            "ScheduleExpression":
                                format!("rate({} days)", stage.warehouse.secret_rotation_days)
                        },
                        "RotateImmediatelyOnUpdate": false
                    }),
                    "{} {id}",
                    stage.name
                );
                assert!(
                    schedule.depends_on.contains(&"Schema".to_string()),
                    "{} {id}: a rotation before the schema would ALTER a user that does not \
                     exist yet",
                    stage.name
                );
            }
        }
    }
}

#[test]
fn secrets_manager_may_invoke_the_function_only_for_each_secret_from_the_account() {
    for stage in STAGES {
        let stacks = platform(stage);
        let warehouse = &stacks["Warehouse"];
        let permissions: Vec<_> = resources_of_type(warehouse, "AWS::Lambda::Permission")
            .into_iter()
            .filter(|(_, r)| {
                r.properties.as_ref().unwrap()["Principal"] == "secretsmanager.amazonaws.com"
            })
            .collect();
        assert_eq!(permissions.len(), SECRETS.len(), "{}", stage.name);
        for secret in SECRETS {
            let id = format!("{secret}RotationPermission");
            assert_eq!(
                props(warehouse, &id),
                &json!({
                    "Action": "lambda:InvokeFunction",
                    "FunctionName": function_arn(),
                    "Principal": "secretsmanager.amazonaws.com",
                    "SourceArn": { "Ref": secret },
                    "SourceAccount": { "Ref": "AWS::AccountId" }
                }),
                "{} {id}",
                stage.name
            );
            // Secrets Manager checks it may invoke the function when the
            // schedule is set.
            let schedule = &warehouse.resources[&format!("{secret}Rotation")];
            assert!(schedule.depends_on.contains(&id), "{} {secret}", stage.name);
        }
    }
}

#[test]
fn the_function_runs_the_rotation_asset_and_logs_in_as_the_master() {
    let assets = platform_assets();
    for stage in STAGES {
        let stacks = platform(stage);
        let function = props(&stacks["Warehouse"], "SecretRotationFunction");
        assert_eq!(
            function["Code"]["S3Key"],
            json!(asset_key(&assets.get("secret-rotation").unwrap().sha256))
        );
        assert_eq!(
            function["Environment"]["Variables"],
            json!({
                "CLUSTER_IDENTIFIER": { "Ref": "Cluster" },
                "DATABASE": "retail",
                "MASTER_SECRET_ARN": { "Ref": "MasterSecret" }
            }),
            "{}",
            stage.name
        );
        assert_eq!(
            function["LoggingConfig"]["LogGroup"],
            json!({ "Ref": "SecretRotationLogGroup" })
        );
    }
}

#[test]
fn the_role_rotates_the_four_secrets_and_nothing_else() {
    for stage in STAGES {
        let stacks = platform(stage);
        let warehouse = &stacks["Warehouse"];
        let role = props(warehouse, "SecretRotationRole");
        let statements = role["Policies"][0]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap();
        let secrets: Vec<Value> = SECRETS.iter().map(|s| json!({ "Ref": s })).collect();
        for statement in statements {
            let actions: Vec<&str> = match &statement["Action"] {
                Value::String(action) => vec![action.as_str()],
                Value::Array(actions) => actions.iter().map(|a| a.as_str().unwrap()).collect(),
                other => panic!("{other}"),
            };
            let sid = statement["Sid"].as_str().unwrap();
            if actions.iter().any(|a| a.starts_with("secretsmanager:")) {
                if actions == ["secretsmanager:GetRandomPassword"] {
                    assert_eq!(statement["Resource"], "*", "{sid}");
                } else {
                    assert_eq!(
                        statement["Resource"],
                        json!(secrets),
                        "{}: {sid}",
                        stage.name
                    );
                }
            }
            if actions.iter().any(|a| a.starts_with("kms:")) {
                let condition = &statement["Condition"]["StringEquals"];
                assert_eq!(
                    condition["kms:EncryptionContext:SecretARN"],
                    json!(secrets),
                    "{}: {sid}",
                    stage.name
                );
                assert_eq!(
                    condition["kms:ViaService"],
                    json!({ "Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com" })
                );
            }
            if actions
                .iter()
                .any(|a| a.starts_with("redshift-data:BatchExecute"))
            {
                assert_eq!(
                    statement["Resource"]["Fn::Sub"][1],
                    json!({ "Cluster": { "Ref": "Cluster" } }),
                    "{}: {sid}",
                    stage.name
                );
            }
        }
    }
}

#[test]
fn no_secret_skips_the_rotation_check() {
    for stage in STAGES {
        let stacks = platform(stage);
        let text = serde_json::to_string(&stacks["Warehouse"]).unwrap();
        assert!(!text.contains("CKV2_AWS_57"), "{}", stage.name);
    }
}
