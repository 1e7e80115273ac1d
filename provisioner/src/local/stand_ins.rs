//! What the emulator cannot run, in one place, and how the local run covers
//! it another way. Each stand-in rewrites the synth output (templates and
//! their hashes in the manifest) before deploy; nothing else is changed.
//!
//! fakecloud 0.51.0 cannot:
//! - create a Firehose delivery stream with a Redshift destination, nor
//!   read a Kinesis source or call a Lambda processor: the stream gets an
//!   S3 destination (same source, role and staging bucket) so the stack is
//!   created as synthesised otherwise, and the local run itself feeds every
//!   record of the stream through the deployed transform function
//!   ([`super::platform::Platform::transform_stream`]), one record in, one out;
//! - run Redshift or its Data API: the cluster is only recorded, the schema
//!   custom resource is invoked without a ResponseURL (its error does not
//!   fail the stack), and batch-import's warehouse load is covered by its
//!   tests with the Data API mocked on the real SQL;
//! - crawl with Glue (connections and crawlers are only recorded);
//! - serve TLS: every request reaches it over plain http, so the buckets'
//!   `DenyInsecureTransport` statements (`aws:SecureTransport` false) would
//!   refuse every S3 call once IAM is enforced (`--iam strict`, which the
//!   local run uses so that a permission missing from a policy shows). Those
//!   statements are left out, and a bucket policy left empty with them;
//! - read SSE-KMS objects safely: its GetObject takes the S3 state's read
//!   lock a second time to decrypt, and a writer waiting in between (a
//!   PutObject, its lifecycle ticker) deadlocks the whole S3 service
//!   (seen twice on 2026-12-07). The buckets' default encryption is SSE-S3
//!   on the emulator; the KMS settings are checked by the template tests.

use std::path::Path;

use anyhow::Context;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// One replaced resource: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandIn {
    pub stack: String,
    pub resource: String,
    pub why: &'static str,
}

const TLS_WHY: &str = "fakecloud serves plain http: the TLS-only statement would deny every \
                       S3 call under --iam strict";

const KMS_WHY: &str = "fakecloud 0.51 can deadlock its S3 service reading an SSE-KMS object: \
                       the bucket's default encryption is SSE-S3 on the emulator";

const FIREHOSE_WHY: &str = "fakecloud has no Redshift destination nor Lambda processor: \
                            an S3 destination stands in, and the local run feeds the stream \
                            through the transform function itself";

/// Rewrites the synth output in `dir` for the emulator.
pub fn apply(dir: &Path) -> anyhow::Result<Vec<StandIn>> {
    let manifest_path = dir.join("manifest.json");
    let mut manifest: Value = read_json(&manifest_path)?;
    let mut replaced = Vec::new();
    for stack in manifest["stacks"]
        .as_array_mut()
        .context("the manifest lists no stacks")?
    {
        let file = stack["templateFile"]
            .as_str()
            .context("a stack without templateFile")?
            .to_string();
        let path = dir.join(&file);
        let mut template = read_json(&path)?;
        let resources = template["Resources"]
            .as_object_mut()
            .with_context(|| format!("{file} has no Resources"))?;
        let stack_id = stack["id"].as_str().unwrap_or_default().to_string();
        let replaced_before = replaced.len();
        let mut emptied = Vec::new();
        for (id, resource) in resources.iter_mut() {
            let mut stand_in = |why| {
                replaced.push(StandIn {
                    stack: stack_id.clone(),
                    resource: id.clone(),
                    why,
                })
            };
            if drop_tls_only_statements(resource) {
                stand_in(TLS_WHY);
                if resource["Properties"]["PolicyDocument"]["Statement"]
                    .as_array()
                    .is_some_and(Vec::is_empty)
                {
                    emptied.push(id.clone());
                }
            }
            if sse_s3_instead_of_kms(resource) {
                stand_in(KMS_WHY);
            }
            if let Some(s3) = firehose_to_s3(resource) {
                *resource = s3;
                stand_in(FIREHOSE_WHY);
            }
        }
        for id in emptied {
            resources.remove(&id);
        }
        if replaced.len() > replaced_before {
            let mut body = serde_json::to_string_pretty(&template)?;
            body.push('\n');
            std::fs::write(&path, &body).with_context(|| format!("writing {}", path.display()))?;
            stack["templateSha256"] = hex::encode(Sha256::digest(body.as_bytes())).into();
            stack["templateBytes"] = body.len().into();
        }
    }
    std::fs::write(&manifest_path, serde_json::to_string_pretty(&manifest)?)
        .with_context(|| format!("writing {}", manifest_path.display()))?;
    Ok(replaced)
}

/// Gives a bucket whose default encryption is SSE-KMS SSE-S3 instead;
/// whether it did.
fn sse_s3_instead_of_kms(resource: &mut Value) -> bool {
    if resource["Type"] != "AWS::S3::Bucket" {
        return false;
    }
    let Some(rules) = resource
        .pointer_mut("/Properties/BucketEncryption/ServerSideEncryptionConfiguration")
        .and_then(Value::as_array_mut)
    else {
        return false;
    };
    let mut changed = false;
    for rule in rules.iter_mut().filter_map(Value::as_object_mut) {
        let Some(default) = rule.get_mut("ServerSideEncryptionByDefault") else {
            continue;
        };
        if default["SSEAlgorithm"] == "aws:kms" {
            *default = json!({ "SSEAlgorithm": "AES256" });
            rule.remove("BucketKeyEnabled");
            changed = true;
        }
    }
    changed
}

/// Leaves out a bucket policy's statements that deny requests without TLS;
/// whether it did.
fn drop_tls_only_statements(resource: &mut Value) -> bool {
    if resource["Type"] != "AWS::S3::BucketPolicy" {
        return false;
    }
    let Some(statements) = resource["Properties"]["PolicyDocument"]["Statement"].as_array_mut()
    else {
        return false;
    };
    let before = statements.len();
    statements.retain(|statement| {
        statement["Effect"] != "Deny"
            || statement["Condition"]["Bool"]["aws:SecureTransport"] != "false"
    });
    statements.len() != before
}

/// A delivery stream into Redshift as one into its S3 staging bucket.
fn firehose_to_s3(resource: &Value) -> Option<Value> {
    if resource["Type"] != "AWS::KinesisFirehose::DeliveryStream" {
        return None;
    }
    let properties = &resource["Properties"];
    let redshift = properties.get("RedshiftDestinationConfiguration")?;
    let staging = &redshift["S3Configuration"];
    let mut stand_in = resource.clone();
    let props = stand_in["Properties"].as_object_mut()?;
    props.remove("RedshiftDestinationConfiguration");
    props.insert(
        "ExtendedS3DestinationConfiguration".into(),
        json!({
            "BucketARN": staging["BucketARN"],
            "RoleARN": staging["RoleARN"],
            "Prefix": "local-stand-in/",
            "ErrorOutputPrefix": "local-stand-in-errors/",
            "BufferingHints": staging["BufferingHints"],
            "CompressionFormat": "UNCOMPRESSED",
        }),
    );
    Some(stand_in)
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not JSON", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sse_kms_bucket_gets_sse_s3_and_other_resources_stay() {
        let mut bucket = json!({
            "Type": "AWS::S3::Bucket",
            "Properties": { "BucketEncryption": { "ServerSideEncryptionConfiguration": [{
                "ServerSideEncryptionByDefault": { "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": { "Ref": "DataKey" } },
                "BucketKeyEnabled": true
            }] } }
        });
        assert!(sse_s3_instead_of_kms(&mut bucket));
        assert_eq!(
            bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"],
            json!([{ "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" } }])
        );
        assert!(!sse_s3_instead_of_kms(&mut bucket), "already SSE-S3");
        let mut table = json!({ "Type": "AWS::DynamoDB::Table", "Properties": {} });
        assert!(!sse_s3_instead_of_kms(&mut table));
        assert_eq!(
            table,
            json!({ "Type": "AWS::DynamoDB::Table", "Properties": {} })
        );
    }

    #[test]
    fn a_redshift_delivery_stream_keeps_its_source_and_stages_to_the_same_bucket() {
        let resource = json!({
            "Type": "AWS::KinesisFirehose::DeliveryStream",
            "Properties": {
                "DeliveryStreamType": "KinesisStreamAsSource",
                "KinesisStreamSourceConfiguration": { "KinesisStreamARN": "stream", "RoleARN": "role" },
                "RedshiftDestinationConfiguration": {
                    "ClusterJDBCURL": "jdbc:redshift://x",
                    "S3Configuration": { "BucketARN": "staging", "RoleARN": "role",
                                         "BufferingHints": { "IntervalInSeconds": 60, "SizeInMBs": 5 } }
                }
            }
        });
        let s3 = firehose_to_s3(&resource).unwrap();
        let props = &s3["Properties"];
        assert!(props.get("RedshiftDestinationConfiguration").is_none());
        assert_eq!(
            props["KinesisStreamSourceConfiguration"]["KinesisStreamARN"],
            "stream"
        );
        assert_eq!(
            props["ExtendedS3DestinationConfiguration"]["BucketARN"],
            "staging"
        );
        assert!(firehose_to_s3(&json!({"Type": "AWS::S3::Bucket"})).is_none());
    }

    #[test]
    fn only_the_tls_only_deny_leaves_a_bucket_policy() {
        let tls = json!({"Effect": "Deny", "Action": "s3:*",
                         "Condition": {"Bool": {"aws:SecureTransport": "false"}}});
        let other = json!({"Effect": "Deny", "Action": "s3:DeleteBucket"});
        let mut policy = json!({"Type": "AWS::S3::BucketPolicy",
            "Properties": {"PolicyDocument": {"Statement": [tls, other.clone()]}}});
        assert!(drop_tls_only_statements(&mut policy));
        assert_eq!(
            policy["Properties"]["PolicyDocument"]["Statement"],
            json!([other])
        );
        assert!(!drop_tls_only_statements(&mut policy));
    }
}
