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
        checks.push(bucket_check(platform, s3, bucket).await);
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
    let summary = match answer {
        Ok(answer) => answer.stream_description_summary,
        Err(e) => {
            let e = AwsError::from_sdk(format!("describing stream {id}"), e);
            return Check::aws_error(component, name, &e);
        }
    };
    let Some(summary) = summary else {
        return Check::fail(
            component,
            name,
            format!("{id} not found"),
            "deploy the stage again",
        );
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
        let key = props["StreamEncryption"]["KeyId"]
            .as_str()
            .unwrap_or("alias/aws/kinesis");
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
        if !matches!(status, Some("ENABLED" | "ENABLING" | "UPDATING")) || kind != Some(want_type) {
            problems.push(Problem::new(
                format!(
                    "{id} is encrypted with {}, synthesised {want_type} (SSEDescription {})",
                    kind.unwrap_or("the AWS owned key"),
                    status.unwrap_or("absent")
                ),
                format!(
                    "aws dynamodb update-table --table-name {id} --sse-specification \
                     Enabled=true,SSEType={want_type} --region {region}"
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
    let description = match answer {
        Ok(answer) => answer.table,
        Err(e) => {
            let e = AwsError::from_sdk(format!("describing table {id}"), e);
            return Check::aws_error(component, name, &e);
        }
    };
    let Some(description) = description else {
        return Check::fail(
            component,
            name,
            format!("{id} not found"),
            "deploy the stage again",
        );
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
        table_problems(id, table.props(), &description, &platform.region),
    )
}

/// A bucket's actual settings, `None` where S3 has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketState {
    pub encryption: Option<String>,
    pub versioning: Option<String>,
    /// BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets.
    pub public_access_block: Option<[bool; 4]>,
}

pub fn bucket_problems(id: &str, props: &Value, state: &BucketState, region: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let want_encryption = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        ["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
        .as_str();
    if let Some(want) = want_encryption
        && state.encryption.as_deref() != Some(want)
    {
        problems.push(Problem::new(
            format!(
                "{id} default encryption is {}, synthesised {want}",
                state.encryption.as_deref().unwrap_or("none")
            ),
            format!(
                "aws s3api put-bucket-encryption --bucket {id} --server-side-encryption-configuration \
                 '{{\"Rules\":[{{\"ApplyServerSideEncryptionByDefault\":{{\"SSEAlgorithm\":\"{want}\"}}}}]}}' \
                 --region {region}"
            ),
        ));
    }
    if let Some(want) = props["VersioningConfiguration"]["Status"].as_str()
        && state.versioning.as_deref() != Some(want)
    {
        problems.push(Problem::new(
            format!(
                "{id} versioning is {}, synthesised {want}",
                state.versioning.as_deref().unwrap_or("never enabled")
            ),
            format!(
                "aws s3api put-bucket-versioning --bucket {id} --versioning-configuration \
                 Status={want} --region {region}"
            ),
        ));
    }
    let block = &props["PublicAccessBlockConfiguration"];
    let want_block = [
        "BlockPublicAcls",
        "IgnorePublicAcls",
        "BlockPublicPolicy",
        "RestrictPublicBuckets",
    ]
    .map(|key| block[key] == true);
    if want_block.iter().any(|b| *b)
        && state
            .public_access_block
            .is_none_or(|have| have.iter().zip(want_block).any(|(h, w)| w && !h))
    {
        let [a, b, c, d] = want_block;
        problems.push(Problem::new(
            format!("{id} does not block public access as synthesised"),
            format!(
                "aws s3api put-public-access-block --bucket {id} --public-access-block-configuration \
                 BlockPublicAcls={a},IgnorePublicAcls={b},BlockPublicPolicy={c},RestrictPublicBuckets={d} \
                 --region {region}"
            ),
        ));
    }
    problems
}

async fn bucket_state(s3: &aws_sdk_s3::Client, id: &str) -> Result<BucketState, AwsError> {
    use aws_sdk_s3::error::ProvideErrorMetadata;
    s3.head_bucket()
        .bucket(id)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("looking up bucket {id}"), e))?;
    let encryption = match s3.get_bucket_encryption().bucket(id).send().await {
        Ok(answer) => answer
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default())
            .map(|d| d.sse_algorithm().as_str().to_string()),
        Err(e) if e.code() == Some("ServerSideEncryptionConfigurationNotFoundError") => None,
        Err(e) => {
            return Err(AwsError::from_sdk(
                format!("reading the encryption of {id}"),
                e,
            ));
        }
    };
    let versioning = s3
        .get_bucket_versioning()
        .bucket(id)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("reading the versioning of {id}"), e))?
        .status()
        .map(|s| s.as_str().to_string());
    let public_access_block = match s3.get_public_access_block().bucket(id).send().await {
        Ok(answer) => answer.public_access_block_configuration().map(|c| {
            [
                c.block_public_acls().unwrap_or(false),
                c.ignore_public_acls().unwrap_or(false),
                c.block_public_policy().unwrap_or(false),
                c.restrict_public_buckets().unwrap_or(false),
            ]
        }),
        Err(e) if e.code() == Some("NoSuchPublicAccessBlockConfiguration") => None,
        Err(e) => {
            return Err(AwsError::from_sdk(
                format!("reading the public access block of {id}"),
                e,
            ));
        }
    };
    Ok(BucketState {
        encryption,
        versioning,
        public_access_block,
    })
}

async fn bucket_check(platform: &Platform, s3: &aws_sdk_s3::Client, bucket: Target<'_>) -> Check {
    let component = bucket.stack.id.as_str();
    let name = format!(
        "bucket {}: encrypted, versioned, public access blocked",
        bucket.logical
    );
    let id = match bucket.physical() {
        Ok(id) => id,
        Err(why) => return platform.unavailable(component, &name, &why),
    };
    match bucket_state(s3, id).await {
        Ok(state) => Check::from_problems(
            component,
            name,
            format!(
                "{id}: {}, versioning {}",
                state.encryption.as_deref().unwrap_or("unencrypted"),
                state.versioning.as_deref().unwrap_or("off")
            ),
            bucket_problems(id, bucket.props(), &state, &platform.region),
        ),
        Err(e) => Check::aws_error(component, name, &e),
    }
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
            table_problems("Invoices", &invoices_template(), &deployed, "eu-west-1").is_empty()
        );
    }

    #[test]
    fn invoice_numbers_typed_n_fail_like_the_original_platform() {
        let deployed = table(ScalarAttributeType::N, kms());
        let problems = table_problems("Invoices", &invoices_template(), &deployed, "eu-west-1");
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].found,
            "Invoices keys are [InvoiceNo N HASH, LineId S RANGE], synthesised [InvoiceNo S HASH, LineId S RANGE]"
        );
    }

    #[test]
    fn a_table_on_the_aws_owned_key_fails_with_the_update_command() {
        let deployed = table(ScalarAttributeType::S, None);
        let problems = table_problems("Invoices", &invoices_template(), &deployed, "eu-west-1");
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
    fn an_encrypted_versioned_private_bucket_passes() {
        let state = BucketState {
            encryption: Some("AES256".into()),
            versioning: Some("Enabled".into()),
            public_access_block: Some([true; 4]),
        };
        assert!(bucket_problems("lake", &bucket_template(), &state, "eu-west-1").is_empty());
    }

    #[test]
    fn an_unversioned_bucket_open_to_public_policies_fails_twice() {
        let state = BucketState {
            encryption: Some("AES256".into()),
            versioning: Some("Suspended".into()),
            public_access_block: Some([true, true, false, true]),
        };
        let problems = bucket_problems("lake", &bucket_template(), &state, "eu-west-1");
        let found: Vec<_> = problems.iter().map(|p| p.found.as_str()).collect();
        assert_eq!(
            found,
            [
                "lake versioning is Suspended, synthesised Enabled",
                "lake does not block public access as synthesised"
            ]
        );
    }
}
