//! The private warehouse topology (issue 14), specified: a cluster nothing
//! outside its VPC can reach, loaded from the lake by the loader, and, in a
//! stage with two accounts, exactly what the data account grants the
//! warehouse account and nothing that crosses by CloudFormation export.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use stacks::model::{App, SynthError, Template};
use stacks::platform::PlatformError;
use stacks::platform::cross_account::CrossAccountNames;
use stacks::stage::{Account, CrossAccount, STAGES, Stage, WarehouseTopology};
use stacks::testing::{platform_assets, resources_of_type};

const DATA: &str = "111122223333";
const WAREHOUSE: &str = "444455556666";

/// Stack id → (account, template).
fn synth(stage: &Stage) -> BTreeMap<String, (Option<String>, Template)> {
    stacks::platform::synth(stage, &platform_assets())
        .unwrap()
        .into_iter()
        .map(|s| (s.id, (s.account, s.template)))
        .collect()
}

fn prod_private() -> &'static Stage {
    Stage::named("prod-private").unwrap()
}

/// Dev with a private warehouse in its own account.
fn dev_private() -> Stage {
    let mut stage = Stage::named("dev").unwrap().clone();
    stage.topology = WarehouseTopology::Private { account: None };
    stage
}

fn private_stages() -> Vec<Stage> {
    let mut stages: Vec<Stage> = STAGES
        .iter()
        .filter(|s| s.private_warehouse())
        .cloned()
        .collect();
    stages.push(dev_private());
    stages
}

fn props<'a>(template: &'a Template, id: &str) -> &'a Value {
    template.resources[id]
        .properties
        .as_ref()
        .unwrap_or_else(|| panic!("{id} has properties"))
}

/// Every value under `value` (depth first), to look for a key anywhere.
fn walk<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(value);
    match value {
        Value::Object(map) => map.values().for_each(|v| walk(v, out)),
        Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
        _ => {}
    }
}

#[test]
fn a_stage_with_a_private_warehouse_in_two_accounts_is_one_of_the_stages() {
    let stage = prod_private();
    let accounts = stage.cross_account().expect("two accounts");
    assert_eq!((accounts.data.id, accounts.warehouse.id), (DATA, WAREHOUSE));
    assert!(
        STAGES
            .iter()
            .filter(|s| s.name == "dev" || s.name == "prod")
            .all(|s| s.topology == WarehouseTopology::Public),
        "dev and prod keep Firehose into a public cluster"
    );
}

#[test]
fn no_private_template_has_a_publicly_accessible_cluster_or_an_internet_gateway() {
    for stage in private_stages() {
        for (id, (_, template)) in synth(&stage) {
            let body = serde_json::to_value(&template).unwrap();
            let mut values = Vec::new();
            walk(&body, &mut values);
            for value in values {
                assert_ne!(
                    value.get("PubliclyAccessible"),
                    Some(&json!(true)),
                    "{} {id}",
                    stage.name
                );
            }
            for kind in [
                "AWS::EC2::InternetGateway",
                "AWS::EC2::VPCGatewayAttachment",
                "AWS::EC2::NatGateway",
                "AWS::KinesisFirehose::DeliveryStream",
            ] {
                assert!(
                    resources_of_type(&template, kind).is_empty(),
                    "{} {id} has a {kind}",
                    stage.name
                );
            }
            let routes: Vec<&str> = resources_of_type(&template, "AWS::EC2::Route")
                .into_iter()
                .map(|(route, _)| route)
                .collect();
            assert!(
                routes.is_empty(),
                "{} {id}: a private VPC has no route out, found {routes:?}",
                stage.name
            );
        }
    }
}

/// An ingress rule is from inside the VPC when it names a security group
/// (of this VPC: the template's own) and no address range.
#[test]
fn no_private_security_group_admits_anything_from_outside_the_vpc_on_any_port() {
    for stage in private_stages() {
        for (id, (_, template)) in synth(&stage) {
            let mut rules: Vec<(String, Value)> = Vec::new();
            for (group, resource) in resources_of_type(&template, "AWS::EC2::SecurityGroup") {
                let properties = resource.properties.clone().unwrap_or_default();
                for rule in properties["SecurityGroupIngress"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    rules.push((group.to_string(), rule));
                }
            }
            for (rule, resource) in resources_of_type(&template, "AWS::EC2::SecurityGroupIngress") {
                rules.push((rule.to_string(), resource.properties.clone().unwrap()));
            }
            for (name, rule) in rules {
                for key in ["CidrIp", "CidrIpv6", "SourcePrefixListId"] {
                    assert!(
                        rule.get(key).is_none(),
                        "{} {id}/{name} admits {key} {}",
                        stage.name,
                        rule[key]
                    );
                }
                let source = &rule["SourceSecurityGroupId"]["Fn::GetAtt"][0];
                assert!(
                    source
                        .as_str()
                        .is_some_and(|g| template.resources.contains_key(g)),
                    "{} {id}/{name}: from a group of this VPC only, got {rule}",
                    stage.name
                );
            }
        }
    }
}

#[test]
fn the_private_cluster_sits_in_private_subnets_and_reads_s3_through_the_gateway_endpoint() {
    for stage in private_stages() {
        let stacks = synth(&stage);
        let network = &stacks["Network"].1;
        assert_eq!(
            props(network, "RedshiftSubnetGroup")["SubnetIds"],
            json!([{"Ref": "PrivateSubnet1"}, {"Ref": "PrivateSubnet2"}])
        );
        for subnet in ["PrivateSubnet1", "PrivateSubnet2"] {
            assert_eq!(props(network, subnet)["MapPublicIpOnLaunch"], false);
        }
        assert_eq!(
            props(network, "S3GatewayEndpoint")["RouteTableIds"],
            json!([{"Ref": "PrivateRouteTable"}])
        );
        let cluster = props(&stacks["Warehouse"].1, "Cluster");
        assert_eq!(cluster["PubliclyAccessible"], false);
        assert_eq!(
            cluster["EnhancedVpcRouting"], true,
            "COPY goes through the VPC, so the gateway endpoint"
        );
    }
}

#[test]
fn the_loader_runs_on_a_schedule_beside_the_cluster_with_the_lake_copy_role() {
    let stage = prod_private();
    let stacks = synth(stage);
    let (account, loader) = &stacks["Loader"];
    assert_eq!(account.as_deref(), Some(WAREHOUSE));
    let function = props(loader, "LoaderFunction");
    let environment = &function["Environment"]["Variables"];
    assert_eq!(
        environment["LAKE_BUCKET"],
        format!("retail-prod-private-lake-{DATA}")
    );
    // ra3.xlplus: 2 slices a node, 2 nodes.
    assert_eq!(environment["SLICES"], "4");
    assert_eq!(function["ReservedConcurrentExecutions"], 1);
    assert_eq!(
        props(loader, "LoaderRole")["RoleName"],
        "retail-prod-private-lake-loader"
    );
    assert_eq!(
        props(loader, "LoaderSchedule")["ScheduleExpression"],
        stacks::platform::loader::LOAD_SCHEDULE
    );

    let warehouse = &stacks["Warehouse"].1;
    assert_eq!(
        props(warehouse, "LakeCopyRole")["RoleName"],
        "retail-prod-private-lake-copy"
    );
    assert_eq!(
        props(warehouse, "Cluster")["IamRoles"],
        json!([{"Fn::GetAtt": ["LakeCopyRole", "Arn"]}]),
        "the cluster carries the role its COPY names"
    );
}

#[test]
fn the_two_accounts_hold_their_own_stacks_with_the_bulk_import_beside_its_files() {
    let accounts: BTreeMap<String, Option<String>> = synth(prod_private())
        .into_iter()
        .map(|(id, (account, _))| (id, account))
        .collect();
    let expected: BTreeMap<String, Option<String>> = [
        ("Api", DATA),
        ("Storage", DATA),
        ("Streaming", DATA),
        ("Batch", DATA),
        ("Network", WAREHOUSE),
        ("Warehouse", WAREHOUSE),
        ("Loader", WAREHOUSE),
    ]
    .into_iter()
    .map(|(id, account)| (id.to_string(), Some(account.to_string())))
    .collect();
    assert_eq!(accounts, expected);
}

#[test]
fn the_manifest_says_where_each_stack_of_a_two_account_stage_deploys() {
    let stage = prod_private();
    let stacks = stacks::platform::synth(stage, &platform_assets()).unwrap();
    let manifest = stacks::manifest::Manifest::new(stage, &stacks, Vec::new());
    let warehouse = manifest
        .stack("Warehouse")
        .unwrap()
        .account
        .clone()
        .unwrap();
    assert_eq!(
        (
            warehouse.id.as_str(),
            warehouse.region.as_str(),
            warehouse.profile.as_str()
        ),
        (WAREHOUSE, "eu-west-1", "retail-warehouse")
    );
    let storage = manifest.stack("Storage").unwrap().account.clone().unwrap();
    assert_eq!(
        (storage.id.as_str(), storage.profile.as_str()),
        (DATA, "retail-data")
    );
    let dev = Stage::named("dev").unwrap();
    let dev_stacks = stacks::platform::synth(dev, &platform_assets()).unwrap();
    let dev_manifest = stacks::manifest::Manifest::new(dev, &dev_stacks, Vec::new());
    assert!(
        dev_manifest.stacks.iter().all(|s| s.account.is_none()),
        "a one-account stage deploys with the credentials it is given"
    );
    assert!(!dev_manifest.to_json().contains("\"account\""));
}

#[test]
fn nothing_crosses_between_the_accounts_by_export() {
    let stacks = synth(prod_private());
    let account_of_export = |export: &str| {
        let producer = stacks
            .keys()
            .find(|id| {
                export.starts_with(&format!("retail-prod-private-{}:", id.to_ascii_lowercase()))
            })
            .unwrap_or_else(|| panic!("no stack exports {export}"));
        stacks[producer].0.clone()
    };
    for (id, (account, template)) in &stacks {
        let body = serde_json::to_value(template).unwrap();
        let mut values = Vec::new();
        walk(&body, &mut values);
        for value in values {
            if let Some(export) = value.get("Fn::ImportValue").and_then(Value::as_str) {
                assert_eq!(
                    &account_of_export(export),
                    account,
                    "{id} imports {export} from another account"
                );
            }
        }
    }
}

#[test]
fn synth_refuses_a_reference_across_accounts_naming_both_ends() {
    let mut data = stacks::model::Stack::new("Data", "data").unwrap();
    let bucket = data
        .add("Bucket", stacks::model::s3::Bucket::default())
        .unwrap();
    let mut warehouse = stacks::model::Stack::new("Warehouse", "warehouse").unwrap();
    warehouse
        .output("LakeName", bucket.name(), "the lake")
        .unwrap();
    let mut app = App::new("retail-test");
    app.add(data.in_account(DATA)).unwrap();
    app.add(warehouse.in_account(WAREHOUSE)).unwrap();
    let error = app.synth().unwrap_err();
    assert!(
        matches!(&error, SynthError::CrossAccountReference { .. }),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "Warehouse/Outputs/LakeName (account 444455556666) references Data/Bucket (account \
         111122223333): CloudFormation exports do not cross accounts; pass the value by a name \
         both accounts compute at synth (see stacks::platform::cross_account)"
    );
}

/// What account A's lake bucket policy grants account B: exactly the reads
/// of `raw/` by B's COPY role and the listing of `raw/` by B's loader.
#[test]
fn the_data_account_grants_the_warehouse_account_read_of_raw_and_nothing_else() {
    let stacks = synth(prod_private());
    let storage = &stacks["Storage"].1;
    assert_eq!(
        props(storage, "LakeBucket")["BucketName"],
        format!("retail-prod-private-lake-{DATA}")
    );
    let statements = props(storage, "LakeBucketPolicy")["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .clone();
    let grants: Vec<&Value> = statements
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .collect();
    let b_root = json!({"Fn::Sub": format!("arn:${{AWS::Partition}}:iam::{WAREHOUSE}:root")});
    let copy_role = json!({"Fn::Sub": format!(
        "arn:${{AWS::Partition}}:iam::{WAREHOUSE}:role/retail-prod-private-lake-copy"
    )});
    let loader_role = json!({"Fn::Sub": format!(
        "arn:${{AWS::Partition}}:iam::{WAREHOUSE}:role/retail-prod-private-lake-loader"
    )});
    let lake = json!({"Fn::GetAtt": ["LakeBucket", "Arn"]});
    assert_eq!(
        grants,
        vec![
            &json!({
                "Sid": "WarehouseCopyLocatesLake",
                "Effect": "Allow",
                "Principal": {"AWS": b_root},
                "Action": "s3:GetBucketLocation",
                "Resource": lake,
                "Condition": {"ArnEquals": {"aws:PrincipalArn": [copy_role]}},
            }),
            &json!({
                "Sid": "WarehouseListsRaw",
                "Effect": "Allow",
                "Principal": {"AWS": b_root},
                "Action": "s3:ListBucket",
                "Resource": lake,
                "Condition": {
                    "StringLike": {"s3:prefix": ["raw/*"]},
                    "ArnEquals": {"aws:PrincipalArn": [copy_role, loader_role]},
                },
            }),
            &json!({
                "Sid": "WarehouseCopyReadsRaw",
                "Effect": "Allow",
                "Principal": {"AWS": b_root},
                "Action": "s3:GetObject",
                "Resource": {"Fn::Sub": ["${Bucket}/raw/*", {"Bucket": lake}]},
                "Condition": {"ArnEquals": {"aws:PrincipalArn": [copy_role]}},
            }),
        ]
    );
    // The only other statement denies requests without TLS, to everyone.
    let others: Vec<&Value> = statements
        .iter()
        .filter(|s| s["Effect"] != "Allow")
        .collect();
    assert_eq!(others.len(), 1);
    assert_eq!(others[0]["Sid"], "DenyInsecureTransport");
    // No other bucket of A names account B.
    for (id, resource) in resources_of_type(storage, "AWS::S3::BucketPolicy") {
        if id != "LakeBucketPolicy" {
            let text = serde_json::to_string(&resource.properties).unwrap();
            assert!(
                !text.contains(WAREHOUSE),
                "{id} names the warehouse account"
            );
        }
    }
}

#[test]
fn the_warehouse_accounts_copy_role_reads_the_lakes_raw_and_its_own_manifests_only() {
    let stacks = synth(prod_private());
    let warehouse = &stacks["Warehouse"].1;
    let role = props(warehouse, "LakeCopyRole");
    assert_eq!(
        role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"],
        json!({"Service": "redshift.amazonaws.com"})
    );
    let lake =
        json!({"Fn::Sub": "arn:${AWS::Partition}:s3:::retail-prod-private-lake-111122223333"});
    let statements = role["Policies"][0]["PolicyDocument"]["Statement"].clone();
    assert_eq!(
        statements,
        json!([
            {"Sid": "LocateLake", "Effect": "Allow", "Action": "s3:GetBucketLocation", "Resource": lake},
            {"Sid": "ListLakeRaw", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": lake,
             "Condition": {"StringLike": {"s3:prefix": ["raw/*"]}}},
            {"Sid": "ReadLakeRaw", "Effect": "Allow", "Action": "s3:GetObject",
             "Resource": {"Fn::Sub": ["${Bucket}/raw/*", {"Bucket": lake}]}},
            // The lake's objects under the data account's key (whose key
            // policy names this role), the manifests under this account's.
            {"Sid": "DecryptLake", "Effect": "Allow", "Action": "kms:Decrypt",
             "Resource": {"Fn::Sub": "arn:${AWS::Partition}:kms:eu-west-1:111122223333:key/*"},
             "Condition": {
                 "StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}},
                 "StringLike": {"kms:EncryptionContext:aws:s3:arn": [lake]}}},
            {"Sid": "DecryptLoadManifests", "Effect": "Allow", "Action": "kms:Decrypt",
             "Resource": {"Fn::GetAtt": ["DataKey", "Arn"]},
             "Condition": {
                 "StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}},
                 "StringLike": {"kms:EncryptionContext:aws:s3:arn":
                                [{"Fn::GetAtt": ["LoadBucket", "Arn"]}]}}},
            {"Sid": "ReadLoadManifests", "Effect": "Allow", "Action": "s3:GetObject",
             "Resource": {"Fn::Sub": ["${Bucket}/manifests/*",
                                      {"Bucket": {"Fn::GetAtt": ["LoadBucket", "Arn"]}}]}},
        ])
    );
}

#[test]
fn the_data_accounts_key_lets_the_warehouse_copy_decrypt_the_lake_through_s3_only() {
    let names = CrossAccountNames::of(prod_private()).unwrap().unwrap();
    let stacks = synth(prod_private());
    let policy = &props(&stacks["Storage"].1, "DataKey")["KeyPolicy"];
    let granted: Vec<&Value> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|statement| {
            statement["Principal"]["AWS"]
                .to_string()
                .contains("444455556666")
        })
        .collect();
    assert_eq!(
        granted,
        [&json!({
            "Sid": "WarehouseCopyDecryptsTheLake",
            "Effect": "Allow",
            "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::444455556666:root"}},
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {
                "ArnEquals": {"aws:PrincipalArn": [names.copy_role_arn()]},
                "StringEquals": {
                    "kms:ViaService": "s3.eu-west-1.amazonaws.com",
                    // The lake's S3 Bucket Key: the context is the bucket.
                    "kms:EncryptionContext:aws:s3:arn":
                        {"Fn::Sub": "arn:${AWS::Partition}:s3:::retail-prod-private-lake-111122223333"}
                }
            }
        })],
        "the warehouse account may decrypt with the data key, and only this"
    );
}

/// The role of `function` in `template`, and the statements of its
/// inline policies.
fn role_statements(template: &Template, function: &str) -> Vec<Value> {
    let role = props(template, function)["Role"]["Fn::GetAtt"][0]
        .as_str()
        .unwrap()
        .to_owned();
    props(template, &role)["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|policy| {
            policy["PolicyDocument"]["Statement"]
                .as_array()
                .unwrap()
                .clone()
        })
        .collect()
}

#[test]
fn across_accounts_the_bulk_import_hands_its_lines_to_the_lakes_raw_imports_and_runs_no_sql() {
    let stacks = synth(prod_private());
    let batch = &stacks["Batch"].1;
    let variables = &props(batch, "BatchImportFunction")["Environment"]["Variables"];
    assert_eq!(
        variables["LAKE_BUCKET"]["Fn::ImportValue"],
        "retail-prod-private-storage:LakeBucket:Ref"
    );
    for data_api in [
        "CLUSTER_IDENTIFIER",
        "WAREHOUSE_SECRET_ARN",
        "COPY_ROLE_ARN",
    ] {
        assert!(variables.get(data_api).is_none(), "{data_api}");
    }
    let statements = role_statements(batch, "BatchImportFunction");
    let text = serde_json::to_string(&statements).unwrap();
    assert!(!text.contains("redshift-data:"), "no statement: {text}");
    assert!(!text.contains("secretsmanager:"), "no secret: {text}");
    assert!(
        !text.contains("/staging/*"),
        "nothing staged for COPY: {text}"
    );
    let lake: Vec<&Value> = statements
        .iter()
        .filter(|s| s.to_string().contains("LakeBucket"))
        .collect();
    let writes = lake
        .iter()
        .find(|s| s["Sid"] == "HandImportsToTheLake")
        .unwrap();
    assert_eq!(
        writes["Action"],
        json!(["s3:PutObject", "s3:AbortMultipartUpload"])
    );
    assert_eq!(
        writes["Resource"]["Fn::Sub"][0], "${Bucket}/raw/imports/*",
        "under raw/, the one prefix the warehouse account reads"
    );
    // The lake otherwise only in the key's condition: no read, list or delete.
    assert!(
        lake.iter()
            .all(|s| s["Sid"] == "HandImportsToTheLake" || s["Sid"] == "EncryptLakeImports"),
        "{lake:#?}"
    );
}

#[test]
fn across_accounts_the_warehouse_table_is_catalogued_in_its_own_account_through_its_vpc() {
    let stacks = synth(prod_private());
    let types = |stack: &str| -> Vec<String> {
        stacks[stack]
            .1
            .resources
            .values()
            .map(|r| r.resource_type.clone())
            .filter(|t| t.starts_with("AWS::Glue::"))
            .collect()
    };
    assert_eq!(
        types("Batch"),
        ["AWS::Glue::Database", "AWS::Glue::Crawler"],
        "the imported files"
    );
    let mut loader = types("Loader");
    loader.sort();
    assert_eq!(
        loader,
        [
            "AWS::Glue::Connection",
            "AWS::Glue::Crawler",
            "AWS::Glue::Database"
        ]
    );
    let connection = props(&stacks["Loader"].1, "WarehouseConnection");
    assert_eq!(
        connection["ConnectionInput"]["PhysicalConnectionRequirements"]["SubnetId"]["Fn::ImportValue"],
        "retail-prod-private-network:PrivateSubnet1:Ref"
    );
}

#[test]
fn a_private_warehouse_in_the_stages_own_account_keeps_the_bulk_import_and_both_copy_roles() {
    let stacks = synth(&dev_private());
    assert!(stacks.values().all(|(account, _)| account.is_none()));
    assert!(stacks.contains_key("Batch") && stacks.contains_key("Loader"));
    let cluster = props(&stacks["Warehouse"].1, "Cluster");
    assert_eq!(
        cluster["IamRoles"],
        json!([
            {"Fn::GetAtt": ["CopyRole", "Arn"]},
            {"Fn::GetAtt": ["LakeCopyRole", "Arn"]}
        ])
    );
    let loader = props(&stacks["Loader"].1, "LoaderFunction");
    assert!(
        loader["Environment"]["Variables"]["LAKE_BUCKET"]["Fn::ImportValue"].is_string(),
        "one account: the lake is referenced, not named"
    );
    assert!(
        props(&stacks["Storage"].1, "LakeBucket")
            .get("BucketName")
            .is_none()
    );
}

fn with_accounts(data: Account, warehouse: Account) -> Stage {
    let mut stage = prod_private().clone();
    stage.topology = WarehouseTopology::Private {
        account: Some(CrossAccount { data, warehouse }),
    };
    stage
}

fn account(id: &'static str, region: &'static str) -> Account {
    Account {
        id,
        region,
        profile: "p",
    }
}

fn accounts_error(stage: &Stage) -> String {
    match stacks::platform::synth(stage, &platform_assets()) {
        Err(error @ PlatformError::Accounts { .. }) => error.to_string(),
        other => panic!("expected an accounts error, got {other:?}"),
    }
}

#[test]
fn unusable_accounts_are_synth_errors_that_say_what_to_set() {
    let error = accounts_error(&with_accounts(
        account("1111", "eu-west-1"),
        account(WAREHOUSE, "eu-west-1"),
    ));
    assert_eq!(
        error,
        "stage prod-private: the data account id \"1111\" is not 12 digits; set it to the \
         account's id (aws sts get-caller-identity --profile p)"
    );
    let error = accounts_error(&with_accounts(
        account(DATA, "eu-west-1"),
        account(WAREHOUSE, "us-east-1"),
    ));
    assert!(
        error.starts_with(
            "stage prod-private: the warehouse account's region us-east-1 is not the stage's \
             (eu-west-1)"
        ),
        "{error}"
    );
    let error = accounts_error(&with_accounts(
        account(DATA, "eu-west-1"),
        account(DATA, "eu-west-1"),
    ));
    assert!(error.contains("Private { account: None }"), "{error}");
}

#[test]
fn an_unknown_node_type_is_a_synth_error_not_a_guess_at_its_slices() {
    let mut stage = prod_private().clone();
    stage.warehouse.node_type = "ra9.huge";
    let error = stacks::platform::synth(&stage, &platform_assets()).unwrap_err();
    assert!(error.to_string().contains("SLICES_PER_NODE"), "{error}");
}

#[test]
fn a_private_warehouse_has_no_firehose_staging_bucket_nor_a_role_that_reads_one() {
    for stage in private_stages() {
        let stacks = synth(&stage);
        let (_, storage) = &stacks["Storage"];
        assert!(
            !storage.resources.contains_key("StagingBucket")
                && !storage.resources.contains_key("FirehoseErrorsAlarm")
                && !storage.outputs.contains_key("StagingBucketName"),
            "{}: Storage keeps what only Firehose uses",
            stage.name
        );
        for (id, (_, template)) in &stacks {
            let text = serde_json::to_string(template).unwrap();
            assert!(
                !text.contains("StagingBucket") && !text.contains("FirehoseStaging"),
                "{}: {id} still names the Firehose staging bucket",
                stage.name
            );
        }
    }
    let dev = synth(Stage::named("dev").unwrap());
    assert!(dev["Storage"].1.resources.contains_key("StagingBucket"));
}

#[test]
fn a_failed_loader_run_sets_off_an_alarm_on_a_topic_of_the_loaders_account() {
    for stage in private_stages() {
        let stacks = synth(&stage);
        let (_, loader) = &stacks["Loader"];
        let alarm = props(loader, "LoaderErrorsAlarm");
        assert_eq!(alarm["Namespace"], "AWS/Lambda", "{}", stage.name);
        assert_eq!(alarm["MetricName"], "Errors");
        assert_eq!(
            alarm["Dimensions"][0]["Value"],
            json!({ "Ref": "LoaderFunction" })
        );
        let topic = &alarm["AlarmActions"][0];
        match stage.cross_account() {
            // The data account's topic is out of reach: the loader's own.
            Some(_) => assert_eq!(topic, &json!({ "Ref": "AlarmTopic" })),
            None => assert_eq!(
                topic,
                &json!({ "Fn::ImportValue": format!("retail-{}-storage:AlarmTopic:Ref", stage.name) })
            ),
        }
    }
}
