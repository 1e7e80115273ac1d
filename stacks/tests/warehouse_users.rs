//! Every component logs in to Redshift as its own user of least privilege,
//! never as the master: Firehose as the loader, Glue as the reader,
//! batch-import and the operator's commands as the schema owner; only the
//! schema custom resource, which creates those users, and the rotation
//! function, which sets their passwords, use the master.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use stacks::model::Template;
use stacks::platform::cross_account::CrossAccountNames;
use stacks::platform::warehouse::{
    LOADER_USERNAME, MASTER_USERNAME, OWNER_USERNAME, READER_USERNAME,
};
use stacks::stage::{STAGES, Stage};
use stacks::testing::platform_assets;

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

/// The stages whose warehouse Firehose, Glue and batch-import reach (the
/// private topology's loader is specified in `tests/private_warehouse.rs`).
fn public_stages() -> impl Iterator<Item = &'static Stage> {
    STAGES.iter().filter(|stage| !stage.private_warehouse())
}

/// A Warehouse secret as another stack imports it.
fn imported(stage: &Stage, secret: &str) -> Value {
    json!({ "Fn::ImportValue": format!("retail-{}-warehouse:{secret}:Ref", stage.name) })
}

#[test]
fn each_user_has_its_own_generated_secret_on_the_stage_key() {
    for stage in STAGES {
        let stacks = platform(stage);
        let warehouse = &stacks["Warehouse"];
        for (id, username) in [
            ("MasterSecret", MASTER_USERNAME),
            ("OwnerSecret", OWNER_USERNAME),
            ("LoaderSecret", LOADER_USERNAME),
            ("ReaderSecret", READER_USERNAME),
        ] {
            let secret = props(warehouse, id);
            let template: Value = serde_json::from_str(
                secret["GenerateSecretString"]["SecretStringTemplate"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(template, json!({ "username": username }), "{id}");
            assert_eq!(
                secret["GenerateSecretString"]["GenerateStringKey"],
                "password"
            );
            // A warehouse account of its own has its own key.
            let key = match CrossAccountNames::of(stage).unwrap() {
                Some(_) => json!({ "Fn::GetAtt": ["DataKey", "Arn"] }),
                None => {
                    json!({ "Fn::ImportValue": format!("retail-{}-storage:DataKey:Arn", stage.name) })
                }
            };
            assert_eq!(secret["KmsKeyId"], key);
        }
    }
}

#[test]
fn firehose_copies_as_the_loader() {
    for stage in public_stages() {
        let stacks = platform(stage);
        let delivery = props(&stacks["Streaming"], "DeliveryStream");
        assert_eq!(
            delivery["RedshiftDestinationConfiguration"]["SecretsManagerConfiguration"]["SecretARN"],
            imported(stage, "LoaderSecret")
        );
    }
}

#[test]
fn glue_connects_as_the_reader() {
    for stage in public_stages() {
        let stacks = platform(stage);
        let text = serde_json::to_string(&stacks["Batch"].resources).unwrap();
        let connection = stacks["Batch"]
            .resources
            .values()
            .find(|r| r.resource_type == "AWS::Glue::Connection")
            .unwrap();
        assert_eq!(
            connection.properties.as_ref().unwrap()["ConnectionInput"]["ConnectionProperties"]["SECRET_ID"],
            imported(stage, "ReaderSecret")
        );
        assert!(
            !text.contains("MasterSecret"),
            "Batch names the master secret"
        );
    }
}

#[test]
fn batch_import_and_the_operators_commands_log_in_as_the_owner() {
    for stage in public_stages() {
        let stacks = platform(stage);
        let function = props(&stacks["Batch"], "BatchImportFunction");
        assert_eq!(
            function["Environment"]["Variables"]["WAREHOUSE_SECRET_ARN"],
            imported(stage, "OwnerSecret")
        );
        let outputs = serde_json::to_value(&stacks["Warehouse"].outputs).unwrap();
        assert_eq!(
            outputs["SecretArn"]["Value"],
            json!({ "Ref": "OwnerSecret" })
        );
        assert_eq!(
            outputs["ReaderSecretArn"]["Value"],
            json!({ "Ref": "ReaderSecret" })
        );
    }
}

#[test]
fn only_the_schema_custom_resource_and_the_rotation_use_the_master_and_the_schema_is_given_every_users_secret()
 {
    for stage in STAGES {
        let stacks = platform(stage);
        let schema = props(&stacks["Warehouse"], "Schema");
        for (property, secret) in [
            ("SecretArn", "MasterSecret"),
            ("OwnerSecretArn", "OwnerSecret"),
            ("LoaderSecretArn", "LoaderSecret"),
            ("ReaderSecretArn", "ReaderSecret"),
        ] {
            assert_eq!(schema[property], json!({ "Ref": secret }), "{property}");
        }
        for (stack, template) in &stacks {
            let text = serde_json::to_string(template).unwrap();
            if stack != "Warehouse" {
                assert!(
                    !text.contains("MasterSecret"),
                    "{stack} refers to the master secret"
                );
            }
        }
        let master_users: Vec<&str> = stacks["Warehouse"]
            .resources
            .iter()
            .filter(|(id, _)| id.as_str() != "MasterSecret" && id.as_str() != "Cluster")
            .filter(|(_, r)| {
                serde_json::to_string(r.properties.as_ref().unwrap())
                    .unwrap()
                    .contains("\"MasterSecret\"")
            })
            .map(|(id, _)| id.as_str())
            .collect();
        // The schema, and the rotation of every secret, whose function logs
        // in as the master to set passwords (tests/secret_rotation.rs).
        assert_eq!(
            master_users,
            [
                "MasterSecretRotation",
                "MasterSecretRotationPermission",
                "Schema",
                "SchemaRole",
                "SecretRotationFunction",
                "SecretRotationRole",
            ]
        );
    }
}
