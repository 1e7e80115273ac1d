//! Where the data lands: the Kinesis stream (active, encrypted, its
//! shards), the DynamoDB tables (keys of the synthesised types, encrypted)
//! and the buckets (encrypted, versioned, public access blocked).

use aws_sdk_dynamodb::types::TableDescription;
use serde_json::Value;

use super::platform::Target;
use super::{Check, Platform, Problem};
use crate::deploy::error::AwsError;

pub async fn checks(
    platform: &Platform,
    kinesis: &aws_sdk_kinesis::Client,
    dynamodb: &aws_sdk_dynamodb::Client,
    s3: &aws_sdk_s3::Client,
) -> Vec<Check> {
    let mut checks = Vec::new();
    for stream in platform.resources("AWS::Kinesis::Stream") {
        checks.push(stream_check(platform, kinesis, stream).await);
    }
    for table in platform.resources("AWS::DynamoDB::Table") {
        checks.push(table_check(platform, dynamodb, table).await);
    }
    for bucket in platform.resources("AWS::S3::Bucket") {
        checks.extend(bucket_checks(platform, s3, bucket).await);
    }
    checks
}

async fn stream_check(
    platform: &Platform,
    kinesis: &aws_sdk_kinesis::Client,
    stream: Target<'_>,
) -> Check {
    let component = stream.stack.id.as_str();
    let name = format!("stream {}: active, encrypted, its shards", stream.logical);
    let id = match stream.physical() {
        Ok(id) => id,
        Err(why) => return platform.unavailable(component, &name, &why),
    };
    let answer = kinesis
        .describe_stream_summary()
        .stream_name(id)
        .send()
        .await;
    let answer = answer
        .map(|answer| answer.stream_description_summary)
        .map_err(|e| AwsError::from_sdk(format!("describing stream {id}"), e));
    let summary = match Check::found(component, &name, id, answer) {
        Ok(summary) => summary,
        Err(check) => return check,
    };
    let props = stream.props();
    let region = &platform.region;
    let mut problems = Vec::new();
    let status = summary.stream_status().as_str();
    if status != "ACTIVE" && status != "UPDATING" {
        problems.push(Problem::new(
            format!("{id} is {status}"),
            "wait until it is ACTIVE, or deploy the stage again",
        ));
    }
    let encryption = summary.encryption_type().map_or("NONE", |e| e.as_str());
    if let Some(want) = props["StreamEncryption"]["EncryptionType"].as_str()
        && want != encryption
    {
        // A key of another stack is an import: name it by its alias.
        let key = props["StreamEncryption"]["KeyId"]
            .as_str()
            .map_or_else(|| stage_key_alias(platform), str::to_string);
        problems.push(Problem::new(
            format!("{id} encryption is {encryption}, synthesised {want}"),
            format!(
                "aws kinesis start-stream-encryption --stream-name {id} --encryption-type {want} \
                 --key-id {key} --region {region}"
            ),
        ));
    }
    if let Some(want) = props["ShardCount"].as_i64() {
        let open = i64::from(summary.open_shard_count());
        if open != want {
            problems.push(Problem::new(
                format!("{id} has {open} open shards, synthesised {want}"),
                format!(
                    "aws kinesis update-shard-count --stream-name {id} --target-shard-count \
                     {want} --scaling-type UNIFORM_SCALING --region {region}"
                ),
            ));
        }
    }
    Check::from_problems(
        component,
        name,
        format!("{id} {status}, {encryption}"),
        problems,
    )
}

/// (attribute, key type, attribute type) of each key, as synthesised.
fn template_keys(props: &Value) -> Vec<(String, String, String)> {
    let types = props["AttributeDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    props["KeySchema"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|key| {
            let attribute = key["AttributeName"].as_str().unwrap_or_default();
            let kind = types
                .iter()
                .find(|t| t["AttributeName"] == attribute)
                .and_then(|t| t["AttributeType"].as_str())
                .unwrap_or_default();
            (
                attribute.to_string(),
                key["KeyType"].as_str().unwrap_or_default().to_string(),
                kind.to_string(),
            )
        })
        .collect()
}

/// The same triples as DynamoDB reports them.
fn deployed_keys(table: &TableDescription) -> Vec<(String, String, String)> {
    table
        .key_schema()
        .iter()
        .map(|key| {
            let kind = table
                .attribute_definitions()
                .iter()
                .find(|d| d.attribute_name() == key.attribute_name())
                .map(|d| d.attribute_type().as_str().to_string())
                .unwrap_or_default();
            (
                key.attribute_name().to_string(),
                key.key_type().as_str().to_string(),
                kind,
            )
        })
        .collect()
}

/// What is wrong with a table against its template properties.
pub fn table_problems(
    id: &str,
    props: &Value,
    table: &TableDescription,
    region: &str,
    key: &str,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let status = table.table_status().map_or("unknown", |s| s.as_str());
    if status != "ACTIVE" && status != "UPDATING" {
        problems.push(Problem::new(
            format!("{id} is {status}"),
            "wait until it is ACTIVE, or deploy the stage again",
        ));
    }
    let (want, have) = (template_keys(props), deployed_keys(table));
    if want != have {
        let show = |keys: &[(String, String, String)]| {
            keys.iter()
                .map(|(a, k, t)| format!("{a} {t} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        problems.push(Problem::new(
            format!(
                "{id} keys are [{}], synthesised [{}]",
                show(&have),
                show(&want)
            ),
            "keys cannot change in place: the table was replaced outside provisioner; export \
             its items, delete it and deploy the stage again",
        ));
    }
    let sse = &props["SSESpecification"];
    if sse["SSEEnabled"] == true {
        let want_type = sse["SSEType"].as_str().unwrap_or("KMS");
        let description = table.sse_description();
        let status = description.and_then(|d| d.status()).map(|s| s.as_str());
        let kind = description.and_then(|d| d.sse_type()).map(|s| s.as_str());
        // A table on the stage's key is fixed with that key.
        let key_option = if sse["KMSMasterKeyId"].is_null() {
            String::new()
        } else {
            format!(",KMSMasterKeyId={key}")
        };
        if !matches!(status, Some("ENABLED" | "ENABLING" | "UPDATING")) || kind != Some(want_type) {
            problems.push(Problem::new(
                format!(
                    "{id} is encrypted with {}, synthesised {want_type} (SSEDescription {})",
                    kind.unwrap_or("the AWS owned key"),
                    status.unwrap_or("absent")
                ),
                format!(
                    "aws dynamodb update-table --table-name {id} --sse-specification \
                     Enabled=true,SSEType={want_type}{key_option} --region {region}"
                ),
            ));
        }
    }
    problems
}

async fn table_check(
    platform: &Platform,
    dynamodb: &aws_sdk_dynamodb::Client,
    table: Target<'_>,
) -> Check {
    let component = table.stack.id.as_str();
    let name = format!(
        "table {}: keys and encryption as synthesised",
        table.logical
    );
    let id = match table.physical() {
        Ok(id) => id,
        Err(why) => return platform.unavailable(component, &name, &why),
    };
    let answer = dynamodb.describe_table().table_name(id).send().await;
    let answer = answer
        .map(|answer| answer.table)
        .map_err(|e| AwsError::from_sdk(format!("describing table {id}"), e));
    let description = match Check::found(component, &name, id, answer) {
        Ok(description) => description,
        Err(check) => return check,
    };
    let keys = template_keys(table.props())
        .iter()
        .map(|(a, _, t)| format!("{a} {t}"))
        .collect::<Vec<_>>()
        .join(", ");
    Check::from_problems(
        component,
        name,
        format!("{id}: {keys}, encrypted"),
        table_problems(
            id,
            table.props(),
            &description,
            &platform.region,
            &stage_key_alias(platform),
        ),
    )
}

/// The alias of the stage's KMS key (`alias/retail-dev-data`), which its
/// templates reference by an import rather than a literal.
fn stage_key_alias(platform: &Platform) -> String {
    stacks::platform::encryption::key_alias(&format!("retail-{}", platform.stage))
}

/// The default encryption synthesised for a bucket, against S3's; an
/// `aws:kms` bucket is fixed with the stage's key (`key`) and a bucket key.
pub fn encryption_problems(
    id: &str,
    props: &Value,
    actual: Option<&str>,
    region: &str,
    key: &str,
) -> Vec<Problem> {
    let wanted = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        ["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
        .as_str();
    match wanted {
        Some(want) if actual != Some(want) => {
            let rule = if want == "aws:kms" {
                format!(
                    "{{\"ApplyServerSideEncryptionByDefault\":{{\"SSEAlgorithm\":\"aws:kms\",\"KMSMasterKeyID\":\"{key}\"}},\"BucketKeyEnabled\":true}}"
                )
            } else {
                format!(
                    "{{\"ApplyServerSideEncryptionByDefault\":{{\"SSEAlgorithm\":\"{want}\"}}}}"
                )
            };
            vec![Problem::new(
                format!(
                    "{id} default encryption is {}, synthesised {want}",
                    actual.unwrap_or("none")
                ),
                format!(
                    "aws s3api put-bucket-encryption --bucket {id} --server-side-encryption-configuration \
                     '{{\"Rules\":[{rule}]}}' --region {region}"
                ),
            )]
        }
        _ => Vec::new(),
    }
}

pub fn versioning_problems(
    id: &str,
    props: &Value,
    actual: Option<&str>,
    region: &str,
) -> Vec<Problem> {
    match props["VersioningConfiguration"]["Status"].as_str() {
        Some(want) if actual != Some(want) => vec![Problem::new(
            format!(
                "{id} versioning is {}, synthesised {want}",
                actual.unwrap_or("never enabled")
            ),
            format!(
                "aws s3api put-bucket-versioning --bucket {id} --versioning-configuration \
                 Status={want} --region {region}"
            ),
        )],
        _ => Vec::new(),
    }
}

/// `actual`: BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy,
/// RestrictPublicBuckets; `None` when the bucket has no block.
pub fn public_access_problems(
    id: &str,
    props: &Value,
    actual: Option<[bool; 4]>,
    region: &str,
) -> Vec<Problem> {
    let block = &props["PublicAccessBlockConfiguration"];
    let wanted = [
        "BlockPublicAcls",
        "IgnorePublicAcls",
        "BlockPublicPolicy",
        "RestrictPublicBuckets",
    ]
    .map(|key| block[key] == true);
    let weaker = actual.is_none_or(|have| have.iter().zip(wanted).any(|(h, w)| w && !h));
    if !wanted.iter().any(|w| *w) || !weaker {
        return Vec::new();
    }
    let [a, b, c, d] = wanted;
    vec![Problem::new(
        format!("{id} does not block public access as synthesised"),
        format!(
            "aws s3api put-public-access-block --bucket {id} --public-access-block-configuration \
             BlockPublicAcls={a},IgnorePublicAcls={b},BlockPublicPolicy={c},RestrictPublicBuckets={d} \
             --region {region}"
        ),
    )]
}

async fn encryption(s3: &aws_sdk_s3::Client, id: &str) -> Result<Option<String>, AwsError> {
    use aws_sdk_s3::error::ProvideErrorMetadata;
    match s3.get_bucket_encryption().bucket(id).send().await {
        Ok(answer) => Ok(answer
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default())
            .map(|d| d.sse_algorithm().as_str().to_string())),
        Err(e) if e.code() == Some("ServerSideEncryptionConfigurationNotFoundError") => Ok(None),
        Err(e) => Err(AwsError::from_sdk(
            format!("reading the encryption of {id}"),
            e,
        )),
    }
}

async fn versioning(s3: &aws_sdk_s3::Client, id: &str) -> Result<Option<String>, AwsError> {
    let answer = s3
        .get_bucket_versioning()
        .bucket(id)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("reading the versioning of {id}"), e))?;
    Ok(answer.status().map(|s| s.as_str().to_string()))
}

async fn public_access(s3: &aws_sdk_s3::Client, id: &str) -> Result<Option<[bool; 4]>, AwsError> {
    use aws_sdk_s3::error::ProvideErrorMetadata;
    match s3.get_public_access_block().bucket(id).send().await {
        Ok(answer) => Ok(answer.public_access_block_configuration().map(|c| {
            [
                c.block_public_acls().unwrap_or(false),
                c.ignore_public_acls().unwrap_or(false),
                c.block_public_policy().unwrap_or(false),
                c.restrict_public_buckets().unwrap_or(false),
            ]
        })),
        Err(e) if e.code() == Some("NoSuchPublicAccessBlockConfiguration") => Ok(None),
        Err(e) => Err(AwsError::from_sdk(
            format!("reading the public access block of {id}"),
            e,
        )),
    }
}

/// Three checks per bucket (encryption, versioning, public access), each
/// from its own S3 call.
async fn bucket_checks(
    platform: &Platform,
    s3: &aws_sdk_s3::Client,
    bucket: Target<'_>,
) -> Vec<Check> {
    let component = bucket.stack.id.as_str();
    let names = [
        format!("bucket {} encrypted as synthesised", bucket.logical),
        format!("bucket {} versioned as synthesised", bucket.logical),
        format!("bucket {} blocks public access", bucket.logical),
    ];
    let id = match bucket.physical() {
        Ok(id) => id,
        Err(why) => {
            return names
                .iter()
                .map(|n| platform.unavailable(component, n, &why))
                .collect();
        }
    };
    if let Err(e) = s3.head_bucket().bucket(id).send().await {
        let e = AwsError::from_sdk(format!("looking up bucket {id}"), e);
        return names
            .iter()
            .map(|n| Check::aws_error(component, n.clone(), &e))
            .collect();
    }
    let (props, region) = (bucket.props(), platform.region.as_str());
    let [encrypted, versioned, blocked] = names;
    let encryption = match encryption(s3, id).await {
        Ok(actual) => Check::from_problems(
            component,
            encrypted,
            format!("{id}: {}", actual.as_deref().unwrap_or("unencrypted")),
            encryption_problems(
                id,
                props,
                actual.as_deref(),
                region,
                &stage_key_alias(platform),
            ),
        ),
        Err(e) => Check::aws_error(component, encrypted, &e),
    };
    let versioning = match versioning(s3, id).await {
        Ok(actual) => Check::from_problems(
            component,
            versioned,
            format!(
                "{id}: versioning {}",
                actual.as_deref().unwrap_or("never enabled")
            ),
            versioning_problems(id, props, actual.as_deref(), region),
        ),
        Err(e) => Check::aws_error(component, versioned, &e),
    };
    let public = match public_access(s3, id).await {
        Ok(actual) => Check::from_problems(
            component,
            blocked,
            format!("{id}: public access blocked"),
            public_access_problems(id, props, actual, region),
        ),
        Err(e) => Check::aws_error(component, blocked, &e),
    };
    vec![encryption, versioning, public]
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, KeySchemaElement, KeyType, ScalarAttributeType, SseDescription,
        SseStatus, SseType, TableStatus,
    };

    fn invoices_template() -> Value {
        serde_json::json!({
            "AttributeDefinitions": [
                { "AttributeName": "InvoiceNo", "AttributeType": "S" },
                { "AttributeName": "LineId", "AttributeType": "S" }],
            "KeySchema": [
                { "AttributeName": "InvoiceNo", "KeyType": "HASH" },
                { "AttributeName": "LineId", "KeyType": "RANGE" }],
            "SSESpecification": { "SSEEnabled": true, "SSEType": "KMS" }
        })
    }

    fn table(invoice_type: ScalarAttributeType, sse: Option<SseDescription>) -> TableDescription {
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .unwrap()
        };
        let attribute = |name: &str, kind| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(kind)
                .build()
                .unwrap()
        };
        TableDescription::builder()
            .table_status(TableStatus::Active)
            .key_schema(key("InvoiceNo", KeyType::Hash))
            .key_schema(key("LineId", KeyType::Range))
            .attribute_definitions(attribute("InvoiceNo", invoice_type))
            .attribute_definitions(attribute("LineId", ScalarAttributeType::S))
            .set_sse_description(sse)
            .build()
    }

    fn kms() -> Option<SseDescription> {
        Some(
            SseDescription::builder()
                .status(SseStatus::Enabled)
                .sse_type(SseType::Kms)
                .build(),
        )
    }

    #[test]
    fn string_keys_encrypted_with_kms_pass() {
        let deployed = table(ScalarAttributeType::S, kms());
        assert!(
            table_problems(
                "Invoices",
                &invoices_template(),
                &deployed,
                "eu-west-1",
                "alias/retail-dev-data"
            )
            .is_empty()
        );
    }

    #[test]
    fn invoice_numbers_typed_n_fail_like_the_original_platform() {
        let deployed = table(ScalarAttributeType::N, kms());
        let problems = table_problems(
            "Invoices",
            &invoices_template(),
            &deployed,
            "eu-west-1",
            "alias/retail-dev-data",
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].found,
            "Invoices keys are [InvoiceNo N HASH, LineId S RANGE], synthesised [InvoiceNo S HASH, LineId S RANGE]"
        );
    }

    #[test]
    fn a_table_on_the_aws_owned_key_fails_with_the_update_command() {
        let deployed = table(ScalarAttributeType::S, None);
        let problems = table_problems(
            "Invoices",
            &invoices_template(),
            &deployed,
            "eu-west-1",
            "alias/retail-dev-data",
        );
        assert_eq!(
            problems[0].fix,
            "aws dynamodb update-table --table-name Invoices --sse-specification Enabled=true,SSEType=KMS --region eu-west-1"
        );
    }

    fn bucket_template() -> Value {
        serde_json::json!({
            "BucketEncryption": { "ServerSideEncryptionConfiguration": [
                { "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" } }] },
            "VersioningConfiguration": { "Status": "Enabled" },
            "PublicAccessBlockConfiguration": { "BlockPublicAcls": true, "BlockPublicPolicy": true,
                "IgnorePublicAcls": true, "RestrictPublicBuckets": true }
        })
    }

    #[test]
    fn a_bucket_off_the_stage_key_is_fixed_with_it_and_a_bucket_key() {
        let t = serde_json::json!({
            "BucketEncryption": { "ServerSideEncryptionConfiguration": [
                { "ServerSideEncryptionByDefault": { "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": { "Fn::ImportValue": "retail-dev-storage:DataKey:Arn" } },
                  "BucketKeyEnabled": true }] }
        });
        let problems = encryption_problems(
            "lake",
            &t,
            Some("AES256"),
            "eu-west-1",
            "alias/retail-dev-data",
        );
        assert_eq!(
            problems[0].found,
            "lake default encryption is AES256, synthesised aws:kms"
        );
        assert_eq!(
            problems[0].fix,
            "aws s3api put-bucket-encryption --bucket lake --server-side-encryption-configuration \
             '{\"Rules\":[{\"ApplyServerSideEncryptionByDefault\":{\"SSEAlgorithm\":\"aws:kms\",\"KMSMasterKeyID\":\"alias/retail-dev-data\"},\"BucketKeyEnabled\":true}]}' \
             --region eu-west-1"
        );
    }

    #[test]
    fn an_encrypted_versioned_private_bucket_passes() {
        let t = bucket_template();
        assert!(
            encryption_problems(
                "lake",
                &t,
                Some("AES256"),
                "eu-west-1",
                "alias/retail-dev-data"
            )
            .is_empty()
        );
        assert!(versioning_problems("lake", &t, Some("Enabled"), "eu-west-1").is_empty());
        assert!(public_access_problems("lake", &t, Some([true; 4]), "eu-west-1").is_empty());
    }

    #[test]
    fn a_suspended_bucket_open_to_public_policies_fails_with_both_fixes() {
        let t = bucket_template();
        let versioning = versioning_problems("lake", &t, Some("Suspended"), "eu-west-1");
        assert_eq!(
            versioning[0].found,
            "lake versioning is Suspended, synthesised Enabled"
        );
        assert!(
            versioning[0]
                .fix
                .starts_with("aws s3api put-bucket-versioning --bucket lake")
        );
        let public =
            public_access_problems("lake", &t, Some([true, true, false, true]), "eu-west-1");
        assert_eq!(
            public[0].found,
            "lake does not block public access as synthesised"
        );
        assert_eq!(
            public_access_problems("lake", &t, None, "eu-west-1").len(),
            1
        );
        let unencrypted =
            encryption_problems("lake", &t, None, "eu-west-1", "alias/retail-dev-data");
        assert_eq!(
            unencrypted[0].found,
            "lake default encryption is none, synthesised AES256"
        );
    }
}
