//! Every function's role allows exactly what the function does, nothing
//! more and nothing less. What it does is read from two places:
//! - its code: the AWS SDK operations its crate calls (and the workspace
//!   crates it depends on), found as fluent calls ending in `.send()`, each
//!   mapped to the IAM actions AWS authorises it with (`ACTIONS`);
//! - its template: an event source mapping reads its stream with the
//!   function's role and sends to its on-failure queue; every function
//!   writes to its own log group.
//! - the stage's KMS key, which encrypts every bucket, table, stream and
//!   secret: each SDK operation on them also needs a KMS action through
//!   that service (`KMS_ACTIONS`), granted as "kms:Decrypt via s3" (a KMS
//!   grant without a `kms:ViaService` condition counts as "via any", which
//!   nothing needs).
//!
//! A role that grants an action no code calls fails (remove the grant), and
//! so does code calling an operation its role lacks (grant it, in
//! `policies/`), or an operation the table does not know yet (add it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use stacks::assets::{AssetTable, asset_key};
use stacks::model::Template;
use stacks::stage::STAGES;
use stacks::testing::{PLATFORM_FUNCTIONS, platform_assets, resources_of_type};

/// The IAM actions AWS authorises each SDK operation the functions call
/// with (Service Authorization Reference), by SDK crate and operation.
const ACTIONS: &[(&str, &str, &[&str])] = &[
    ("aws-sdk-kinesis", "put_records", &["kinesis:PutRecords"]),
    ("aws-sdk-dynamodb", "query", &["dynamodb:Query"]),
    (
        "aws-sdk-dynamodb",
        "batch_write_item",
        &["dynamodb:BatchWriteItem"],
    ),
    ("aws-sdk-s3", "put_object", &["s3:PutObject"]),
    ("aws-sdk-s3", "get_object", &["s3:GetObject"]),
    // Listing objects is authorised as ListBucket on the bucket.
    ("aws-sdk-s3", "list_objects_v2", &["s3:ListBucket"]),
    // A copy reads its source and writes its destination.
    (
        "aws-sdk-s3",
        "copy_object",
        &["s3:GetObject", "s3:PutObject"],
    ),
    ("aws-sdk-s3", "delete_object", &["s3:DeleteObject"]),
    // A multipart upload's create, parts and completion are authorised as
    // PutObject; giving one up has its own action.
    // <https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions>
    ("aws-sdk-s3", "create_multipart_upload", &["s3:PutObject"]),
    ("aws-sdk-s3", "upload_part", &["s3:PutObject"]),
    ("aws-sdk-s3", "complete_multipart_upload", &["s3:PutObject"]),
    (
        "aws-sdk-s3",
        "abort_multipart_upload",
        &["s3:AbortMultipartUpload"],
    ),
    (
        "aws-sdk-redshiftdata",
        "batch_execute_statement",
        &["redshift-data:BatchExecuteStatement"],
    ),
    (
        "aws-sdk-redshiftdata",
        "describe_statement",
        &["redshift-data:DescribeStatement"],
    ),
    (
        "aws-sdk-redshiftdata",
        "get_statement_result",
        &["redshift-data:GetStatementResult"],
    ),
    (
        "aws-sdk-secretsmanager",
        "get_secret_value",
        &["secretsmanager:GetSecretValue"],
    ),
    // The rotation function's steps.
    (
        "aws-sdk-secretsmanager",
        "describe_secret",
        &["secretsmanager:DescribeSecret"],
    ),
    (
        "aws-sdk-secretsmanager",
        "get_random_password",
        &["secretsmanager:GetRandomPassword"],
    ),
    (
        "aws-sdk-secretsmanager",
        "put_secret_value",
        &["secretsmanager:PutSecretValue"],
    ),
    (
        "aws-sdk-secretsmanager",
        "update_secret_version_stage",
        &["secretsmanager:UpdateSecretVersionStage"],
    ),
];

/// SDKs a function never calls when its environment sets a variable:
/// batch-import with `LAKE_BUCKET` (its warehouse in another account) hands
/// its lines to the lake and runs no Data API statement
/// (`batch_import::config::Warehouse::Lake`: no Firehose merge in its main,
/// no load in `file::stage_and_load`).
const UNUSED_SDKS: &[(&str, &str, &str)] =
    &[("batch-import", "LAKE_BUCKET", "aws-sdk-redshiftdata")];

/// Request parameters that need an action of their own: the Data API reads
/// the secret named by `SecretArn` with the caller's credentials.
/// <https://docs.aws.amazon.com/redshift/latest/mgmt/data-api-access.html>
const PARAMETER_ACTIONS: &[(&str, &str, &[&str])] = &[(
    "aws-sdk-redshiftdata",
    "secret_arn",
    &["secretsmanager:GetSecretValue"],
)];

/// The KMS action (and the service it goes through) each SDK operation
/// needs on data encrypted with the stage's key: reading decrypts a data
/// key, writing generates one, a multipart upload or a copy does both.
/// DynamoDB decrypts the table's key with the caller's permission for
/// reads and writes alike.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html>
/// <https://docs.aws.amazon.com/streams/latest/dev/permissions-user-key-KMS.html>
/// <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.howitworks.html>
const KMS_ACTIONS: &[(&str, &str, &[&str])] = &[
    (
        "aws-sdk-kinesis",
        "put_records",
        &["kms:GenerateDataKey via kinesis"],
    ),
    (
        "aws-sdk-secretsmanager",
        "get_secret_value",
        &["kms:Decrypt via secretsmanager"],
    ),
    // A new version's data key is generated with the caller's permission.
    // <https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html>
    (
        "aws-sdk-secretsmanager",
        "put_secret_value",
        &["kms:GenerateDataKey via secretsmanager"],
    ),
    ("aws-sdk-dynamodb", "query", &["kms:Decrypt via dynamodb"]),
    (
        "aws-sdk-dynamodb",
        "batch_write_item",
        &["kms:Decrypt via dynamodb"],
    ),
    ("aws-sdk-s3", "put_object", &["kms:GenerateDataKey via s3"]),
    ("aws-sdk-s3", "get_object", &["kms:Decrypt via s3"]),
    (
        "aws-sdk-s3",
        "copy_object",
        &["kms:Decrypt via s3", "kms:GenerateDataKey via s3"],
    ),
    (
        "aws-sdk-s3",
        "create_multipart_upload",
        &["kms:Decrypt via s3", "kms:GenerateDataKey via s3"],
    ),
    (
        "aws-sdk-s3",
        "upload_part",
        &["kms:Decrypt via s3", "kms:GenerateDataKey via s3"],
    ),
];

/// The Data API decrypts the secret it reads for the caller.
const SECRET_KMS_ACTION: &str = "kms:Decrypt via secretsmanager";

/// A Kinesis mapping decrypts the records it reads with the function's role.
const KINESIS_MAPPING_KMS_ACTION: &str = "kms:Decrypt via kinesis";

/// What Lambda does with the function's role for a Kinesis event source
/// mapping (standard iterator: no SubscribeToShard).
/// <https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-create.html>
const KINESIS_MAPPING_ACTIONS: [&str; 5] = [
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
];

/// An event source mapping's on-failure destination is sent to with the
/// function's role.
const SQS_DESTINATION_ACTION: &str = "sqs:SendMessage";

/// The Lambda runtime writes the function's logs with its role.
const LOG_ACTIONS: [&str; 2] = ["logs:CreateLogStream", "logs:PutLogEvents"];

fn lambdas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lambdas")
}

mod source {
    //! The SDK calls in a crate's sources.

    use super::*;

    /// One SDK call: the operation and the request parameters it sets.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Call {
        pub operation: String,
        pub parameters: Vec<String>,
    }

    /// The calls in `code`: every method chain ending in `.send()`, its
    /// operation being the first method after the client (`client
    /// .put_records().stream_name(s).send()` → `put_records`). Comments and
    /// the `#[cfg(test)]` module at the end of a file are not code the
    /// function runs.
    pub fn calls(code: &str) -> Vec<Call> {
        let code = without_tests_and_comments(code);
        let bytes = code.as_bytes();
        let mut found = Vec::new();
        let mut from = 0;
        while let Some(at) = code[from..].find(".send()") {
            let send = from + at;
            from = send + ".send()".len();
            let mut methods = Vec::new();
            let mut end = send;
            // Walk back over `.name(args)` segments to the client.
            while let Some((name, start)) = method_before(bytes, end) {
                methods.push(name);
                end = start;
            }
            if let Some(operation) = methods.pop() {
                methods.reverse();
                found.push(Call {
                    operation,
                    parameters: methods,
                });
            }
        }
        found
    }

    fn without_tests_and_comments(code: &str) -> String {
        let code = code.split("#[cfg(test)]").next().unwrap_or_default();
        code.lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The `.name(args)` that ends just before `end` (whitespace allowed),
    /// with the index of its dot.
    fn method_before(bytes: &[u8], end: usize) -> Option<(String, usize)> {
        let mut i = skip_space_back(bytes, end);
        if i == 0 || bytes[i - 1] != b')' {
            return None;
        }
        let mut depth = 0;
        loop {
            i -= 1;
            match bytes[i] {
                b')' => depth += 1,
                b'(' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            if i == 0 {
                return None;
            }
        }
        let name_end = i;
        while i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') {
            i -= 1;
        }
        let name = std::str::from_utf8(&bytes[i..name_end]).ok()?.to_string();
        let dot = skip_space_back(bytes, i);
        (!name.is_empty() && dot > 0 && bytes[dot - 1] == b'.').then(|| (name, dot - 1))
    }

    fn skip_space_back(bytes: &[u8], mut i: usize) -> usize {
        while i > 0 && bytes[i - 1].is_ascii_whitespace() {
            i -= 1;
        }
        i
    }

    /// The crate's `[dependencies]` names (not dev-dependencies: tests do
    /// not run in the function).
    pub fn dependencies(crate_dir: &Path) -> Vec<String> {
        let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
        let section = manifest
            .split("\n[dependencies]\n")
            .nth(1)
            .unwrap_or_else(|| panic!("{} has no [dependencies]", crate_dir.display()));
        let section = section.split("\n[").next().unwrap_or_default();
        section
            .lines()
            .filter_map(|line| line.split(['=', '.', ' ']).next())
            .filter(|name| !name.is_empty() && !name.starts_with('#'))
            .map(str::to_string)
            .collect()
    }

    /// The `.rs` files under `dir`, in a stable order.
    pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                files.extend(rust_files(&path));
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
        files
    }
}

/// The IAM actions the code of `function` needs: its crate's SDK calls and
/// those of the workspace crates it depends on. A dependency's every call
/// counts, used or not: a shared crate is small and one job (the Data API
/// batch, DynamoDB writes), so this over-counts nothing in practice.
///
/// Calls of the `unused_sdks` are left out: the function's configuration
/// never reaches them ([`UNUSED_SDKS`]).
fn code_actions(function: &str, unused_sdks: &[&str]) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    let mut pending = vec![function.to_string()];
    let mut seen = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let dir = lambdas_dir().join(&name);
        let dependencies = source::dependencies(&dir);
        let sdks: Vec<&String> = dependencies
            .iter()
            .filter(|d| d.starts_with("aws-sdk-"))
            .collect();
        pending.extend(
            dependencies
                .iter()
                .filter(|d| lambdas_dir().join(d).join("Cargo.toml").exists())
                .cloned(),
        );
        for file in source::rust_files(&dir.join("src")) {
            let code = std::fs::read_to_string(&file).unwrap();
            for call in source::calls(&code) {
                let unused = ACTIONS.iter().any(|(sdk, operation, _)| {
                    *operation == call.operation
                        && unused_sdks.contains(sdk)
                        && sdks.iter().any(|s| s == sdk)
                });
                if !unused {
                    actions.extend(call_actions(&call, &sdks, &file));
                }
            }
        }
    }
    actions
}

fn call_actions(call: &source::Call, sdks: &[&String], file: &Path) -> Vec<String> {
    let operation: Vec<_> = ACTIONS
        .iter()
        .filter(|(sdk, op, _)| *op == call.operation && sdks.iter().any(|s| s == sdk))
        .collect();
    let [(sdk, _, actions)] = operation.as_slice() else {
        panic!(
            "{}: `.{}()` is an SDK call of {} in ACTIONS (of the crate's SDKs {sdks:?}); \
             add it with the IAM actions it needs",
            file.display(),
            call.operation,
            if operation.is_empty() {
                "no entry"
            } else {
                "several entries"
            },
        );
    };
    let mut needed: Vec<String> = actions.iter().map(|a| a.to_string()).collect();
    for (kms_sdk, operation, actions) in KMS_ACTIONS {
        if kms_sdk == sdk && *operation == call.operation {
            needed.extend(actions.iter().map(|a| a.to_string()));
        }
    }
    for (parameter_sdk, parameter, actions) in PARAMETER_ACTIONS {
        if parameter_sdk == sdk && call.parameters.iter().any(|p| p == parameter) {
            needed.extend(actions.iter().map(|a| a.to_string()));
            needed.push(SECRET_KMS_ACTION.to_string());
        }
    }
    needed
}

/// The actions Lambda itself takes with the role of the function `id`: its
/// logs, and the reads and failure sends of its event source mappings.
fn trigger_actions(template: &Template, id: &str) -> BTreeSet<String> {
    let mut actions: BTreeSet<String> = LOG_ACTIONS.iter().map(|a| a.to_string()).collect();
    for (_, mapping) in resources_of_type(template, "AWS::Lambda::EventSourceMapping") {
        let props = mapping.properties.as_ref().unwrap();
        if props["FunctionName"] != serde_json::json!({ "Ref": id }) {
            continue;
        }
        let source = &props["EventSourceArn"]["Fn::GetAtt"][0];
        let source_type = source
            .as_str()
            .and_then(|s| template.resources.get(s))
            .map(|r| r.resource_type.as_str());
        assert_eq!(
            source_type,
            Some("AWS::Kinesis::Stream"),
            "{id}: a mapping from {source}; say which actions it needs"
        );
        actions.extend(KINESIS_MAPPING_ACTIONS.iter().map(|a| a.to_string()));
        actions.insert(KINESIS_MAPPING_KMS_ACTION.to_string());
        if props["DestinationConfig"]["OnFailure"]["Destination"].is_object() {
            actions.insert(SQS_DESTINATION_ACTION.to_string());
        }
    }
    actions
}

/// Every action the role `role_id` is granted in `template`: its inline
/// policies and the policies that name it. A managed policy by ARN cannot
/// be read here, so it fails the test.
fn granted_actions(template: &Template, role_id: &str) -> BTreeSet<String> {
    let role = template.resources[role_id].properties.as_ref().unwrap();
    assert!(
        role.get("ManagedPolicyArns").is_none(),
        "{role_id}: managed policies by ARN cannot be checked against the code"
    );
    let mut documents: Vec<&Value> = role["Policies"]
        .as_array()
        .map(|p| p.iter().map(|p| &p["PolicyDocument"]).collect())
        .unwrap_or_default();
    let reference = serde_json::json!({ "Ref": role_id });
    for kind in ["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"] {
        for (_, policy) in resources_of_type(template, kind) {
            let props = policy.properties.as_ref().unwrap();
            if props["Roles"]
                .as_array()
                .is_some_and(|roles| roles.contains(&reference))
            {
                documents.push(&props["PolicyDocument"]);
            }
        }
    }
    documents
        .into_iter()
        .flat_map(|d| d["Statement"].as_array().unwrap().iter())
        .inspect(|s| assert_eq!(s["Effect"], "Allow", "{role_id}: {s}"))
        .flat_map(|s| {
            let actions: Vec<String> = match &s["Action"] {
                Value::String(action) => vec![action.clone()],
                Value::Array(actions) => actions
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string())
                    .collect(),
                other => panic!("{role_id}: Action {other}"),
            };
            let via = via_service(s);
            actions
                .into_iter()
                .map(|a| {
                    if a.starts_with("kms:") {
                        format!("{a} via {via}")
                    } else {
                        a
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The service a KMS statement's `kms:ViaService` condition names
/// (`{"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}` is `s3`), or "any".
fn via_service(statement: &Value) -> String {
    statement["Condition"]["StringEquals"]["kms:ViaService"]["Fn::Sub"]
        .as_str()
        .and_then(|s| s.strip_suffix(".${AWS::Region}.amazonaws.com"))
        .unwrap_or("any")
        .to_string()
}

/// Function logical id → (crate name, role logical id), by the asset the
/// function runs.
fn functions_of(template: &Template, assets: &AssetTable) -> Vec<(String, String, String)> {
    resources_of_type(template, "AWS::Lambda::Function")
        .into_iter()
        .map(|(id, function)| {
            let props = function.properties.as_ref().unwrap();
            let key = props["Code"]["S3Key"].as_str().unwrap();
            let name = PLATFORM_FUNCTIONS
                .iter()
                .find(|f| asset_key(&assets.get(f).unwrap().sha256) == key)
                .unwrap_or_else(|| panic!("{id} runs no known asset ({key})"));
            let role = props["Role"]["Fn::GetAtt"][0].as_str().unwrap();
            (id.to_string(), name.to_string(), role.to_string())
        })
        .collect()
}

#[test]
fn every_function_role_allows_exactly_what_its_code_and_triggers_use() {
    let assets = platform_assets();
    let mut checked = BTreeSet::new();
    let mut problems = Vec::new();
    for stage in STAGES {
        let stacks: BTreeMap<String, Template> = stacks::platform::synth(stage, &assets)
            .unwrap()
            .into_iter()
            .map(|s| (s.id, s.template))
            .collect();
        for (stack, template) in &stacks {
            for (id, name, role) in functions_of(template, &assets) {
                let environment = &template.resources[id.as_str()].properties.as_ref().unwrap()["Environment"]
                    ["Variables"];
                let unused_sdks: Vec<&str> = UNUSED_SDKS
                    .iter()
                    .filter(|(function, variable, _)| {
                        *function == name && environment.get(variable).is_some()
                    })
                    .map(|(_, _, sdk)| *sdk)
                    .collect();
                let mut needed = code_actions(&name, &unused_sdks);
                needed.extend(trigger_actions(template, &id));
                let granted = granted_actions(template, &role);
                let unused: Vec<_> = granted.difference(&needed).collect();
                let missing: Vec<_> = needed.difference(&granted).collect();
                if !unused.is_empty() || !missing.is_empty() {
                    problems.push(format!(
                        "{} {stack}/{role} ({name}): granted but never called {unused:?}; \
                         called but not granted {missing:?}",
                        stage.name
                    ));
                }
                checked.insert(name);
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(
        checked,
        PLATFORM_FUNCTIONS.iter().map(|f| f.to_string()).collect()
    );
}

mod the_source_scan {
    use super::source::{Call, calls};

    fn call(operation: &str, parameters: &[&str]) -> Call {
        Call {
            operation: operation.into(),
            parameters: parameters.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn finds_the_operation_of_a_chain_over_several_lines() {
        let code = "let out = client\n    .put_records()\n    .stream_name(stream)\n    \
                    .set_records(Some(records.iter().map(|r| r.build()).collect()))\n    \
                    .send()\n    .await;";
        assert_eq!(
            calls(code),
            vec![call("put_records", &["stream_name", "set_records"])]
        );
    }

    #[test]
    fn finds_calls_on_a_field_and_on_one_line() {
        let code = "self.s3.put_object().bucket(&self.bucket).send().await?;\n\
                    s3.delete_object().bucket(b).key(k).send().await";
        assert_eq!(
            calls(code),
            vec![
                call("put_object", &["bucket"]),
                call("delete_object", &["bucket", "key"])
            ]
        );
    }

    #[test]
    fn ignores_comments_and_the_test_module() {
        let code = "// client.get_item().send()\nfn f() {}\n#[cfg(test)]\nmod tests {\n    \
                    fn g() { client.get_item().key(k).send(); }\n}";
        assert_eq!(calls(code), vec![]);
    }

    #[test]
    fn a_send_with_arguments_is_not_an_sdk_call() {
        assert_eq!(calls("sender.send(message).await"), vec![]);
    }
}
