//! The IAM policy templates in `policies/`: each rendered with the kind of
//! values a stack passes (CloudFormation expressions), the rules every
//! rendered policy follows, and the errors a wrong context gets.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};
use stacks::policies::{self, Policy, PolicyError, REQUIRES_STAR_SID};

fn get_att(resource: &str) -> Value {
    json!({ "Fn::GetAtt": [resource, "Arn"] })
}

fn reference(resource: &str) -> Value {
    json!({ "Ref": resource })
}

fn sub(pattern: &str, variable: &str, value: Value) -> Value {
    json!({ "Fn::Sub": [pattern, { variable: value }] })
}

fn render(policy: Policy, context: Value) -> Value {
    policies::render(policy, &context).unwrap_or_else(|error| panic!("{error}"))
}

fn statements(document: &Value) -> &Vec<Value> {
    document["Statement"].as_array().expect("a Statement array")
}

fn statement<'a>(document: &'a Value, sid: &str) -> &'a Value {
    statements(document)
        .iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no statement {sid} in {document:#}"))
}

fn has_statement(document: &Value, sid: &str) -> bool {
    statements(document).iter().any(|s| s["Sid"] == sid)
}

fn list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

fn actions(statement: &Value) -> BTreeSet<String> {
    list(&statement["Action"])
        .into_iter()
        .map(|a| a.as_str().expect("actions are strings").to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Every action any statement of `document` allows.
fn all_actions(document: &Value) -> BTreeSet<String> {
    statements(document).iter().flat_map(actions).collect()
}

/// A value of the kind a stack passes for `key`: a `Fn::GetAtt … Arn` for
/// ARNs, a `Ref` for names and ids.
fn stack_value(key: &str) -> Value {
    let resource: String = key
        .split('_')
        .filter(|part| *part != "arn" && *part != "name")
        .map(|part| part[..1].to_uppercase() + &part[1..])
        .collect();
    if key.ends_with("_arn") {
        get_att(&resource)
    } else if key.ends_with("_prefix") {
        json!("processed/")
    } else {
        reference(&resource)
    }
}

fn context_of(policy: Policy, with_optional: bool) -> Value {
    let keys = policies::context_keys(policy).unwrap();
    let map: Map<String, Value> = keys
        .iter()
        .filter(|k| k.required || with_optional)
        .map(|k| (k.name.clone(), stack_value(&k.name)))
        .collect();
    Value::Object(map)
}

mod every_template {
    use super::*;

    #[test]
    fn renders_with_every_key_and_with_the_required_keys_only() {
        for policy in Policy::ALL {
            for with_optional in [true, false] {
                if let Err(error) = policies::render(policy, &context_of(policy, with_optional)) {
                    panic!("{policy} (optional keys: {with_optional}): {error}");
                }
            }
        }
    }

    #[test]
    fn allows_star_only_where_the_template_says_why() {
        let mut star_statements = BTreeSet::new();
        for policy in Policy::ALL {
            let document = render(policy, context_of(policy, true));
            let reasons = policies::star_reasons(policy).unwrap();
            for statement in statements(&document) {
                if !list(&statement["Resource"]).contains(&json!("*")) {
                    continue;
                }
                let sid = statement["Sid"].as_str().unwrap_or_default();
                assert!(sid.starts_with(REQUIRES_STAR_SID), "{policy}: {statement}");
                let reason = reasons.get(sid).map(String::as_str).unwrap_or_default();
                assert!(reason.len() > 40, "{policy}/{sid}: reason {reason:?}");
                star_statements.insert(format!("{policy}/{sid}"));
            }
        }
        // The only APIs of the platform that accept nothing but "*".
        assert_eq!(
            star_statements,
            set(&[
                "glue-jdbc-crawler/RequiresStarDescribeNetwork",
                "lambda-batch-import/RequiresStarOwnStatementStatus",
                "lambda-warehouse-schema/RequiresStarOwnStatementStatus",
                "lambda-warehouse-loader/RequiresStarOwnStatements",
                "lambda-secret-rotation/RequiresStarRandomPassword",
                "lambda-secret-rotation/RequiresStarOwnStatementStatus",
            ])
        );
    }

    #[test]
    fn names_each_missing_required_key_and_its_template() {
        for policy in Policy::ALL {
            for key in policies::context_keys(policy)
                .unwrap()
                .iter()
                .filter(|k| k.required)
            {
                let mut context = context_of(policy, true);
                context.as_object_mut().unwrap().remove(&key.name);
                let error = policies::render(policy, &context).unwrap_err();
                assert!(
                    matches!(&error, PolicyError::MissingKey { key: k, file, .. }
                        if *k == key.name && *file == policy.file()),
                    "{policy} without {}: {error}",
                    key.name
                );
            }
        }
    }

    #[test]
    fn adds_statements_for_each_optional_key_given() {
        for policy in Policy::ALL {
            let without = render(policy, context_of(policy, false));
            for key in policies::context_keys(policy)
                .unwrap()
                .iter()
                .filter(|k| !k.required)
            {
                let mut context = context_of(policy, false);
                context[&key.name] = stack_value(&key.name);
                let with = render(policy, context);
                assert!(
                    statements(&with).len() > statements(&without).len(),
                    "{policy}: optional key {} changes nothing",
                    key.name
                );
            }
        }
    }

    #[test]
    fn treats_a_null_optional_key_as_absent() {
        for policy in Policy::ALL {
            let mut context = context_of(policy, false);
            for key in policies::context_keys(policy)
                .unwrap()
                .iter()
                .filter(|k| !k.required)
            {
                context[&key.name] = Value::Null;
            }
            assert_eq!(
                render(policy, context),
                render(policy, context_of(policy, false))
            );
        }
    }

    #[test]
    fn writes_values_as_json_without_html_escaping() {
        let tricky = "a\"b&c<d>'e\\f";
        for policy in Policy::ALL {
            let keys = policies::context_keys(policy).unwrap();
            let context: Map<String, Value> = keys
                .iter()
                .map(|k| {
                    let value = if k.name.ends_with("_arn") {
                        format!(
                            "arn:aws:svc:eu-west-1:123456789012:thing/{}-{tricky}",
                            k.name
                        )
                    } else {
                        format!("{}-{tricky}", k.name)
                    };
                    (k.name.clone(), json!(value))
                })
                .collect();
            let document = render(policy, Value::Object(context.clone()));
            let text = document.to_string();
            for value in context.values() {
                assert!(
                    text.contains(&value.to_string()),
                    "{policy}: {value} is not in the output intact"
                );
            }
            assert!(!text.contains("&quot;") && !text.contains("&amp;") && !text.contains("&lt;"));
        }
    }

    #[test]
    fn rejects_a_misspelt_key_instead_of_dropping_its_statement() {
        let mut context = context_of(Policy::LambdaIngest, false);
        context["stream_kms_arn"] = get_att("Key");
        let error = policies::render(Policy::LambdaIngest, &context).unwrap_err();
        assert!(
            matches!(&error, PolicyError::UnknownKey { key, known, .. }
                if key == "stream_kms_arn" && known.contains("`stream_kms_key_arn`")),
            "{error}"
        );
    }

    #[test]
    fn rejects_a_context_that_is_not_an_object() {
        let error = policies::render(Policy::LambdaQuery, &json!(["Invoices"])).unwrap_err();
        assert!(
            matches!(
                error,
                PolicyError::ContextNotObject {
                    found: "an array",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn rejects_an_empty_value() {
        let mut context = context_of(Policy::LambdaQuery, true);
        context["invoices_table_arn"] = json!("");
        let error = policies::render(Policy::LambdaQuery, &context).unwrap_err();
        assert!(
            matches!(&error, PolicyError::InvalidValue { key, found, .. }
                if key == "invoices_table_arn" && found == "an empty string"),
            "{error}"
        );
    }

    #[test]
    fn rejects_a_value_that_is_neither_a_string_nor_one_expression() {
        for (value, found) in [
            (json!(false), "a boolean"),
            (
                json!(["arn:aws:kms:eu-west-1:123456789012:key/1"]),
                "an array",
            ),
            (json!({ "Ref": "Key", "Extra": 1 }), "an object with 2 keys"),
        ] {
            let mut context = context_of(Policy::LambdaIngest, false);
            context["stream_kms_key_arn"] = value;
            let error = policies::render(Policy::LambdaIngest, &context).unwrap_err();
            assert!(
                matches!(&error, PolicyError::InvalidValue { key, found: f, .. }
                    if key == "stream_kms_key_arn" && f == found),
                "{error}"
            );
        }
    }

    #[test]
    fn rejects_a_star_passed_as_a_resource_value() {
        let mut context = context_of(Policy::LambdaQuery, true);
        context["customers_table_arn"] = json!("*");
        let error = policies::render(Policy::LambdaQuery, &context).unwrap_err();
        assert!(
            matches!(&error, PolicyError::Violation { policy, .. } if policy == "lambda-query"),
            "{error}"
        );
        assert!(error.to_string().contains("allows any resource"), "{error}");
    }

    #[test]
    fn lambda_roles_write_their_own_log_group_and_never_create_one() {
        let lambdas = Policy::ALL
            .into_iter()
            .filter(|p| p.name().starts_with("lambda-"));
        for policy in lambdas {
            let document = render(policy, context_of(policy, true));
            assert!(
                !all_actions(&document).contains("logs:CreateLogGroup"),
                "{policy}"
            );
            assert_eq!(
                statement(&document, "PutOwnLogEvents")["Resource"],
                sub(
                    "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${LogGroup}:log-stream:*",
                    "LogGroup",
                    reference("LogGroup")
                ),
                "{policy}"
            );
        }
    }
}

mod firehose_delivery {
    use super::*;

    fn context() -> Value {
        json!({
            "stream_arn": { "Fn::ImportValue": "prod-streaming-StreamArn" },
            "staging_bucket_arn": get_att("StagingBucket"),
            "transform_function_arn": get_att("TransformFunction"),
            "log_group_name": reference("DeliveryLogGroup"),
        })
    }

    #[test]
    fn firehose_role_can_write_its_log_streams() {
        let document = render(Policy::FirehoseDelivery, context());
        let log_group = |suffix: &str| {
            sub(
                &format!(
                    "arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:${{LogGroup}}{suffix}"
                ),
                "LogGroup",
                reference("DeliveryLogGroup"),
            )
        };
        let create = statement(&document, "CreateOwnLogStreams");
        assert_eq!(actions(create), set(&["logs:CreateLogStream"]));
        assert_eq!(create["Resource"], log_group(":*"));
        let put = statement(&document, "PutOwnLogEvents");
        assert_eq!(actions(put), set(&["logs:PutLogEvents"]));
        assert_eq!(put["Resource"], log_group(":log-stream:*"));
    }

    #[test]
    fn reads_the_source_stream_it_is_given() {
        let document = render(Policy::FirehoseDelivery, context());
        let read = statement(&document, "ReadSourceStream");
        assert_eq!(
            actions(read),
            set(&[
                "kinesis:DescribeStream",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards"
            ])
        );
        assert_eq!(
            read["Resource"],
            json!({ "Fn::ImportValue": "prod-streaming-StreamArn" })
        );
    }

    #[test]
    fn invokes_the_transform_function_and_its_versions() {
        let document = render(Policy::FirehoseDelivery, context());
        let invoke = statement(&document, "InvokeTransform");
        assert_eq!(
            actions(invoke),
            set(&["lambda:GetFunctionConfiguration", "lambda:InvokeFunction"])
        );
        assert_eq!(
            invoke["Resource"],
            json!([
                get_att("TransformFunction"),
                sub("${Function}:*", "Function", get_att("TransformFunction"))
            ])
        );
    }

    #[test]
    fn stages_and_backs_up_in_its_bucket_only() {
        let document = render(Policy::FirehoseDelivery, context());
        let bucket = statement(&document, "UseStagingBucket");
        assert_eq!(
            actions(bucket),
            set(&[
                "s3:GetBucketLocation",
                "s3:ListBucket",
                "s3:ListBucketMultipartUploads"
            ])
        );
        assert_eq!(bucket["Resource"], get_att("StagingBucket"));
        let objects = statement(&document, "ReadWriteStagingObjects");
        assert_eq!(
            actions(objects),
            set(&["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"])
        );
        assert_eq!(
            objects["Resource"],
            sub("${Bucket}/*", "Bucket", get_att("StagingBucket"))
        );
    }

    #[test]
    fn decrypts_the_stream_only_with_a_customer_key_and_only_through_kinesis() {
        assert!(!has_statement(
            &render(Policy::FirehoseDelivery, context()),
            "DecryptSourceStream"
        ));
        let mut with_key = context();
        with_key["stream_kms_key_arn"] = get_att("StreamKey");
        let document = render(Policy::FirehoseDelivery, with_key);
        let decrypt = statement(&document, "DecryptSourceStream");
        assert_eq!(actions(decrypt), set(&["kms:Decrypt"]));
        assert_eq!(decrypt["Resource"], get_att("StreamKey"));
        assert_eq!(
            decrypt["Condition"]["StringEquals"]["kms:ViaService"],
            json!({ "Fn::Sub": "kinesis.${AWS::Region}.amazonaws.com" })
        );
        assert_eq!(
            decrypt["Condition"]["StringLike"]["kms:EncryptionContext:aws:kinesis:arn"],
            json!({ "Fn::ImportValue": "prod-streaming-StreamArn" })
        );
    }

    #[test]
    fn reads_the_warehouse_secret_only_when_the_destination_uses_it() {
        assert!(!has_statement(
            &render(Policy::FirehoseDelivery, context()),
            "ReadWarehouseSecret"
        ));
        let mut with_secret = context();
        with_secret["warehouse_secret_arn"] =
            json!({ "Fn::ImportValue": "prod-warehouse-SecretArn" });
        let document = render(Policy::FirehoseDelivery, with_secret);
        assert_eq!(
            actions(statement(&document, "ReadWarehouseSecret")),
            set(&["secretsmanager:GetSecretValue"])
        );
    }
}

mod redshift_copy {
    use super::*;

    fn context() -> Value {
        json!({
            "staging_bucket_arn": { "Fn::ImportValue": "prod-storage-StagingBucketArn" },
            "bulk_import_bucket_arn": { "Fn::ImportValue": "prod-storage-BulkImportBucketArn" },
            "lake_bucket_arn": { "Fn::ImportValue": "prod-storage-LakeBucketArn" },
        })
    }

    #[test]
    fn copy_role_reads_only_the_day_partitions_of_the_lake() {
        let document = render(Policy::RedshiftCopy, context());
        let bucket = json!({ "Fn::ImportValue": "prod-storage-LakeBucketArn" });
        let list = statement(&document, "ListLakePartitions");
        assert_eq!(actions(list), set(&["s3:ListBucket"]));
        assert_eq!(
            list["Condition"],
            json!({ "StringLike": { "s3:prefix": ["raw/*"] } })
        );
        let read = statement(&document, "ReadLakePartitions");
        assert_eq!(actions(read), set(&["s3:GetObject"]));
        assert_eq!(read["Resource"], sub("${Bucket}/raw/*", "Bucket", bucket));
    }

    #[test]
    fn copy_role_reads_only_the_staged_files_of_the_bulk_import_bucket() {
        let document = render(Policy::RedshiftCopy, context());
        let bucket = json!({ "Fn::ImportValue": "prod-storage-BulkImportBucketArn" });
        let list = statement(&document, "ListBulkImportStaging");
        assert_eq!(actions(list), set(&["s3:ListBucket"]));
        assert_eq!(
            list["Condition"],
            json!({ "StringLike": { "s3:prefix": ["staging/*"] } })
        );
        let read = statement(&document, "ReadBulkImportStaging");
        assert_eq!(actions(read), set(&["s3:GetObject"]));
        assert_eq!(
            read["Resource"],
            sub("${Bucket}/staging/*", "Bucket", bucket)
        );
    }

    #[test]
    fn copy_role_only_reads() {
        let document = render(Policy::RedshiftCopy, context());
        assert_eq!(
            all_actions(&document),
            set(&["s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket"])
        );
    }

    /// Firehose's COPY reads its staged files with the delivery stream's
    /// role; the cluster's role reads that bucket only so `provisioner
    /// replay` can reload what Firehose's `errors/` manifests list.
    #[test]
    fn copy_role_names_no_bucket_but_the_three_it_loads_from() {
        let document = render(Policy::RedshiftCopy, context());
        let buckets = ["StagingBucketArn", "BulkImportBucketArn", "LakeBucketArn"]
            .map(|name| json!({ "Fn::ImportValue": format!("prod-storage-{name}") }));
        for statement in statements(&document) {
            let resource = &statement["Resource"];
            assert!(
                buckets.contains(resource) || buckets.contains(&resource["Fn::Sub"][1]["Bucket"]),
                "{statement}"
            );
        }
    }
}

mod lambdas {
    use super::*;

    #[test]
    fn ingest_puts_records_on_the_stream_and_nothing_else() {
        let document = render(
            Policy::LambdaIngest,
            json!({ "stream_arn": get_att("Stream"), "log_group_name": reference("IngestLogs") }),
        );
        let put = statement(&document, "PutRecordsOnStream");
        assert_eq!(put["Resource"], get_att("Stream"));
        // No PutRecord: the function sends every request as one batch.
        assert_eq!(
            all_actions(&document),
            set(&[
                "kinesis:PutRecords",
                "logs:CreateLogStream",
                "logs:PutLogEvents"
            ])
        );
    }

    #[test]
    fn ingest_encrypts_for_a_stream_with_a_customer_key() {
        let document = render(
            Policy::LambdaIngest,
            json!({
                "stream_arn": get_att("Stream"),
                "log_group_name": reference("IngestLogs"),
                "stream_kms_key_arn": get_att("StreamKey"),
            }),
        );
        assert_eq!(
            actions(statement(&document, "EncryptForStream")),
            set(&["kms:GenerateDataKey"])
        );
    }

    #[test]
    fn query_reads_both_tables_by_key_with_query_only() {
        let document = render(
            Policy::LambdaQuery,
            json!({
                "invoices_table_arn": { "Fn::ImportValue": "prod-storage-InvoicesArn" },
                "customers_table_arn": { "Fn::ImportValue": "prod-storage-CustomersArn" },
                "log_group_name": reference("QueryLogs"),
            }),
        );
        let read = statement(&document, "ReadTables");
        assert_eq!(actions(read), set(&["dynamodb:Query"]));
        assert_eq!(
            read["Resource"],
            json!([
                { "Fn::ImportValue": "prod-storage-InvoicesArn" },
                { "Fn::ImportValue": "prod-storage-CustomersArn" }
            ])
        );
    }

    fn stream_reader_actions() -> BTreeSet<String> {
        set(&[
            "kinesis:DescribeStream",
            "kinesis:DescribeStreamSummary",
            "kinesis:GetRecords",
            "kinesis:GetShardIterator",
            "kinesis:ListShards",
        ])
    }

    #[test]
    fn lake_writer_reads_the_stream_writes_raw_and_rejected_and_reports_failures() {
        let document = render(
            Policy::LambdaLakeWriter,
            json!({
                "stream_arn": get_att("Stream"),
                "lake_bucket_arn": get_att("LakeBucket"),
                "failure_queue_arn": get_att("LakeWriterFailures"),
                "log_group_name": reference("LakeWriterLogs"),
            }),
        );
        // What a Kinesis event source mapping with a standard iterator needs:
        // no SubscribeToShard (enhanced fan-out), no ListStreams.
        assert_eq!(
            actions(statement(&document, "ReadStream")),
            stream_reader_actions()
        );
        let write = statement(&document, "WriteLakeObjects");
        assert_eq!(actions(write), set(&["s3:PutObject"]));
        assert_eq!(
            write["Resource"],
            json!([
                sub("${Bucket}/raw/*", "Bucket", get_att("LakeBucket")),
                sub("${Bucket}/rejected/*", "Bucket", get_att("LakeBucket")),
                sub(
                    "${Bucket}/failed/lake-writer/*",
                    "Bucket",
                    get_att("LakeBucket")
                )
            ])
        );
        let failures = statement(&document, "SendFailedBatches");
        assert_eq!(actions(failures), set(&["sqs:SendMessage"]));
        assert_eq!(failures["Resource"], get_att("LakeWriterFailures"));
    }

    #[test]
    fn dynamodb_writer_batch_writes_both_tables() {
        let document = render(
            Policy::LambdaDynamodbWriter,
            json!({
                "stream_arn": get_att("Stream"),
                "invoices_table_arn": get_att("Invoices"),
                "customers_table_arn": get_att("Customers"),
                "failure_queue_arn": get_att("DynamodbWriterFailures"),
                "lake_bucket_arn": get_att("LakeBucket"),
                "log_group_name": reference("DynamodbWriterLogs"),
            }),
        );
        assert_eq!(
            actions(statement(&document, "ReadStream")),
            stream_reader_actions()
        );
        let write = statement(&document, "WriteTables");
        assert_eq!(actions(write), set(&["dynamodb:BatchWriteItem"]));
        assert_eq!(
            write["Resource"],
            json!([get_att("Invoices"), get_att("Customers")])
        );
        assert_eq!(
            actions(statement(&document, "SendFailedBatches")),
            set(&["sqs:SendMessage"])
        );
        // The records it gives up on, with their data, under its own prefix
        // of the lake only.
        let save = statement(&document, "SaveFailedRecords");
        assert_eq!(actions(save), set(&["s3:PutObject"]));
        assert_eq!(
            save["Resource"],
            sub(
                "${Bucket}/failed/dynamodb-writer/*",
                "Bucket",
                get_att("LakeBucket")
            )
        );
    }

    #[test]
    fn firehose_transform_only_writes_its_logs() {
        let document = render(
            Policy::LambdaFirehoseTransform,
            json!({ "log_group_name": reference("TransformLogs") }),
        );
        assert_eq!(
            all_actions(&document),
            set(&["logs:CreateLogStream", "logs:PutLogEvents"])
        );
    }

    fn batch_import() -> Value {
        render(
            Policy::LambdaBatchImport,
            json!({
                "bulk_import_bucket_arn": get_att("BulkImportBucket"),
                "invoices_table_arn": get_att("Invoices"),
                "customers_table_arn": get_att("Customers"),
                "cluster_identifier": { "Fn::ImportValue": "prod-warehouse-ClusterId" },
                "warehouse_secret_arn": { "Fn::ImportValue": "prod-warehouse-SecretArn" },
                "log_group_name": reference("BatchImportLogs"),
            }),
        )
    }

    #[test]
    fn batch_import_moves_files_between_its_prefixes_only() {
        let document = batch_import();
        let bucket = get_att("BulkImportBucket");
        let prefix = |p: &str| sub(&format!("${{Bucket}}/{p}/*"), "Bucket", bucket.clone());
        // processed/: the earlier import of a file dropped again, looked up
        // by listing its key and read to find the rows it no longer has;
        // checkpoints/: a large file's progress, looked up the same way.
        let list = statement(&document, "ListIncomingAndImportedFiles");
        assert_eq!(
            list["Condition"],
            json!({ "StringLike": { "s3:prefix": ["incoming/*", "processed/*", "checkpoints/*"] } })
        );
        assert_eq!(
            statement(&document, "ReadIncomingAndImportedFiles")["Resource"],
            json!([
                prefix("incoming"),
                prefix("processed"),
                prefix("checkpoints")
            ])
        );
        assert_eq!(
            statement(&document, "WriteImportResults")["Resource"],
            json!([
                prefix("staging"),
                prefix("rejected"),
                prefix("processed"),
                prefix("checkpoints"),
                prefix("quarantine")
            ])
        );
        // Only the uploads of a staging pass are ever abandoned.
        let abort = statement(&document, "AbortStagedUploads");
        assert_eq!(abort["Action"], json!("s3:AbortMultipartUpload"));
        assert_eq!(
            abort["Resource"],
            json!([prefix("staging"), prefix("rejected")])
        );
        // Imported, rejected and quarantined files are kept: nothing deletes
        // them.
        assert_eq!(
            statement(&document, "RemoveMovedAndStagedFiles")["Resource"],
            json!([prefix("incoming"), prefix("staging"), prefix("checkpoints")])
        );
    }

    #[test]
    fn batch_import_runs_batches_on_its_cluster_and_polls_only_its_own() {
        let document = batch_import();
        let run = statement(&document, "RunWarehouseStatements");
        assert_eq!(
            run["Resource"],
            sub(
                "arn:${AWS::Partition}:redshift:${AWS::Region}:${AWS::AccountId}:cluster:${Cluster}",
                "Cluster",
                json!({ "Fn::ImportValue": "prod-warehouse-ClusterId" })
            )
        );
        assert_eq!(actions(run), set(&["redshift-data:BatchExecuteStatement"]));
        let results = statement(&document, "RequiresStarOwnStatementStatus");
        assert_eq!(actions(results), set(&["redshift-data:DescribeStatement"]));
        assert_eq!(
            results["Condition"],
            json!({ "StringEquals": { "redshift-data:statement-owner-iam-userid": "${aws:userid}" } })
        );
        assert_eq!(
            statement(&document, "ReadWarehouseSecret")["Resource"],
            json!({ "Fn::ImportValue": "prod-warehouse-SecretArn" })
        );
        assert_eq!(
            actions(statement(&document, "WriteTables")),
            set(&["dynamodb:BatchWriteItem"])
        );
    }

    #[test]
    fn warehouse_schema_uses_the_data_api_and_reads_the_four_secrets_only() {
        let document = render(
            Policy::LambdaWarehouseSchema,
            json!({
                "cluster_identifier": reference("Cluster"),
                "warehouse_secret_arn": reference("WarehouseSecret"),
                "owner_secret_arn": reference("OwnerSecret"),
                "loader_secret_arn": reference("LoaderSecret"),
                "reader_secret_arn": reference("ReaderSecret"),
                "log_group_name": reference("SchemaLogs"),
            }),
        );
        assert_eq!(
            statement(&document, "ReadWarehouseSecret")["Resource"],
            json!([
                reference("WarehouseSecret"),
                reference("OwnerSecret"),
                reference("LoaderSecret"),
                reference("ReaderSecret"),
            ])
        );
        assert_eq!(
            all_actions(&document),
            set(&[
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "redshift-data:BatchExecuteStatement",
                "redshift-data:DescribeStatement",
                "secretsmanager:GetSecretValue",
            ])
        );
    }
}

mod glue {
    use super::*;

    fn catalog_arns(database: Value) -> Value {
        json!([
            { "Fn::Sub": "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog" },
            sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:database/${Database}", "Database", database.clone()),
            sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:table/${Database}/*", "Database", database),
        ])
    }

    #[test]
    fn s3_crawler_reads_its_prefix_and_maintains_tables_of_its_database() {
        let document = render(
            Policy::GlueS3Crawler,
            json!({
                "bulk_import_bucket_arn": { "Fn::ImportValue": "prod-storage-BulkImportBucketArn" },
                "crawl_prefix": "processed/",
                "database_name": reference("Database"),
            }),
        );
        assert_eq!(
            statement(&document, "ReadCrawledFiles")["Resource"],
            json!({ "Fn::Sub": ["${Bucket}/${Prefix}*", {
                "Bucket": { "Fn::ImportValue": "prod-storage-BulkImportBucketArn" },
                "Prefix": "processed/"
            }] })
        );
        assert_eq!(
            statement(&document, "MaintainCatalogTables")["Resource"],
            catalog_arns(reference("Database"))
        );
        assert!(
            all_actions(&document)
                .iter()
                .all(|a| !a.starts_with("glue:Delete"))
        );
    }

    fn jdbc_crawler() -> Value {
        render(
            Policy::GlueJdbcCrawler,
            json!({
                "database_name": reference("Database"),
                "connection_name": reference("WarehouseConnection"),
                "vpc_id": { "Fn::ImportValue": "prod-network-VpcId" },
                "subnet_id": { "Fn::ImportValue": "prod-network-PublicSubnetA" },
                "security_group_id": { "Fn::ImportValue": "prod-network-GlueSecurityGroupId" },
                "warehouse_secret_arn": { "Fn::ImportValue": "prod-warehouse-SecretArn" },
            }),
        )
    }

    #[test]
    fn jdbc_crawler_creates_interfaces_only_in_its_subnet_and_security_group() {
        let document = jdbc_crawler();
        let create = statement(&document, "CreateCrawlerNetworkInterfaces");
        assert_eq!(actions(create), set(&["ec2:CreateNetworkInterface"]));
        assert_eq!(
            create["Resource"],
            json!([
                { "Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:network-interface/*" },
                sub("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:subnet/${Subnet}", "Subnet",
                    json!({ "Fn::ImportValue": "prod-network-PublicSubnetA" })),
                sub("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:security-group/${SecurityGroup}", "SecurityGroup",
                    json!({ "Fn::ImportValue": "prod-network-GlueSecurityGroupId" })),
            ])
        );
    }

    #[test]
    fn jdbc_crawler_deletes_interfaces_only_in_its_subnet() {
        let document = jdbc_crawler();
        let delete = statement(&document, "DeleteCrawlerNetworkInterfaces");
        assert_eq!(actions(delete), set(&["ec2:DeleteNetworkInterface"]));
        assert_eq!(
            delete["Condition"],
            json!({ "ArnEquals": { "ec2:Subnet":
                sub("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:subnet/${Subnet}", "Subnet",
                    json!({ "Fn::ImportValue": "prod-network-PublicSubnetA" })) } })
        );
    }

    #[test]
    fn jdbc_crawler_describes_the_network_with_star_and_a_reason() {
        let document = jdbc_crawler();
        let describe = statement(&document, "RequiresStarDescribeNetwork");
        assert!(
            actions(describe)
                .iter()
                .all(|a| a.starts_with("ec2:Describe"))
        );
        let reasons = policies::star_reasons(Policy::GlueJdbcCrawler).unwrap();
        assert!(reasons["RequiresStarDescribeNetwork"].contains("no resource-level permissions"));
        // The one Describe action IAM authorises on a resource is scoped to it.
        let vpc = statement(&document, "DescribeConnectionVpc");
        assert_eq!(actions(vpc), set(&["ec2:DescribeVpcAttribute"]));
        assert_eq!(
            vpc["Resource"],
            sub(
                "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc/${Vpc}",
                "Vpc",
                json!({ "Fn::ImportValue": "prod-network-VpcId" })
            )
        );
    }

    #[test]
    fn jdbc_crawler_reads_its_connection_and_maintains_tables_of_its_database() {
        let document = jdbc_crawler();
        assert_eq!(
            actions(statement(&document, "ReadConnection")),
            set(&["glue:GetConnection"])
        );
        assert_eq!(
            statement(&document, "MaintainCatalogTables")["Resource"],
            catalog_arns(reference("Database"))
        );
    }
}
