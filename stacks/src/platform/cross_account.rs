//! What crosses between the two accounts of a stage whose warehouse has an
//! account of its own (`WarehouseTopology::Private { account: Some(..) }`).
//!
//! CloudFormation exports do not cross accounts, so nothing here is an
//! `Fn::ImportValue` (the app refuses one between accounts): each side
//! computes the other's names at synth, from the stage's account ids.
//!
//! - The lake bucket (account A) is named `{prefix}-lake-{A}`: the loader
//!   and the COPY role in account B name it.
//! - The COPY role and the loader's role (account B) are named
//!   `{prefix}-lake-copy` and `{prefix}-lake-loader`: A's bucket policy
//!   names them.
//!
//! A's bucket policy grants B's COPY role read of `raw/` (and where the
//! bucket is, for COPY), and B's loader role the listing of `raw/` (to find
//! the partitions to load), nothing else: not `failed/`, not `rejected/`,
//! no write. Its principal is B's account, narrowed by `aws:PrincipalArn`
//! to the two roles: S3 refuses a policy naming a role that does not exist
//! yet, and a role re-created under the same name keeps its access.
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/example-walkthroughs-managing-access-example2.html>

use serde_json::{Value, json};

use crate::model::Expr;
use crate::stage::{CrossAccount, Stage};

use super::PlatformError;

/// The prefix of the lake the warehouse account may read.
pub const RAW_PREFIX: &str = "raw/";

/// The names both accounts compute for one stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossAccountNames {
    pub data_account: String,
    pub warehouse_account: String,
    /// The lake bucket in the data account.
    pub lake_bucket: String,
    /// The role the cluster assumes for COPY, in the warehouse account.
    pub copy_role: String,
    /// The loader function's execution role, in the warehouse account.
    pub loader_role: String,
}

impl CrossAccountNames {
    /// The names of `stage`, `None` for a stage in one account; an error
    /// when its accounts are unusable.
    pub fn of(stage: &Stage) -> Result<Option<CrossAccountNames>, PlatformError> {
        let Some(accounts) = stage.cross_account() else {
            return Ok(None);
        };
        check(stage, accounts)?;
        let prefix = stage.prefix();
        Ok(Some(CrossAccountNames {
            data_account: accounts.data.id.to_string(),
            warehouse_account: accounts.warehouse.id.to_string(),
            lake_bucket: format!("{prefix}-lake-{}", accounts.data.id),
            copy_role: format!("{prefix}-lake-copy"),
            loader_role: format!("{prefix}-lake-loader"),
        }))
    }

    pub fn lake_bucket_arn(&self) -> Expr {
        Expr::sub(format!("arn:${{AWS::Partition}}:s3:::{}", self.lake_bucket))
    }

    /// Every key of the data account in `region`: the stage key's id is
    /// random, so the warehouse account names its account instead.
    pub fn data_account_keys_arn(&self, region: &str) -> Expr {
        Expr::sub(format!(
            "arn:${{AWS::Partition}}:kms:{region}:{}:key/*",
            self.data_account
        ))
    }

    pub fn copy_role_arn(&self) -> Expr {
        self.role_arn(&self.copy_role)
    }

    pub fn loader_role_arn(&self) -> Expr {
        self.role_arn(&self.loader_role)
    }

    fn role_arn(&self, name: &str) -> Expr {
        Expr::sub(format!(
            "arn:${{AWS::Partition}}:iam::{}:role/{name}",
            self.warehouse_account
        ))
    }

    /// The statements of the lake's bucket policy that let the warehouse
    /// account in: exactly what the module documentation lists.
    pub fn lake_grants(&self, bucket_arn: &Expr) -> Vec<Value> {
        let json = |expr: &Expr| serde_json::to_value(expr).expect("expressions are plain JSON");
        let bucket = json(bucket_arn);
        let raw_objects = json(&Expr::sub_with(
            format!("${{Bucket}}/{RAW_PREFIX}*"),
            [("Bucket", bucket_arn.clone())],
        ));
        let warehouse_account = json(&Expr::sub(format!(
            "arn:${{AWS::Partition}}:iam::{}:root",
            self.warehouse_account
        )));
        let only = |roles: Vec<Value>| json!({ "ArnEquals": { "aws:PrincipalArn": roles } });
        let copy_role = json(&self.copy_role_arn());
        let loader_role = json(&self.loader_role_arn());
        vec![
            json!({
                "Sid": "WarehouseCopyLocatesLake",
                "Effect": "Allow",
                "Principal": { "AWS": warehouse_account },
                "Action": "s3:GetBucketLocation",
                "Resource": bucket,
                "Condition": only(vec![copy_role.clone()]),
            }),
            json!({
                "Sid": "WarehouseListsRaw",
                "Effect": "Allow",
                "Principal": { "AWS": warehouse_account },
                "Action": "s3:ListBucket",
                "Resource": bucket,
                "Condition": {
                    "StringLike": { "s3:prefix": [format!("{RAW_PREFIX}*")] },
                    "ArnEquals": { "aws:PrincipalArn": [copy_role.clone(), loader_role] },
                },
            }),
            json!({
                "Sid": "WarehouseCopyReadsRaw",
                "Effect": "Allow",
                "Principal": { "AWS": warehouse_account },
                "Action": "s3:GetObject",
                "Resource": raw_objects,
                "Condition": only(vec![copy_role]),
            }),
        ]
    }

    /// The statement the stage's key (in the data account) adds to its key
    /// policy, so B's COPY can decrypt what it reads: decrypt only, only
    /// by the COPY role, only through S3, only for the lake bucket. The
    /// lake uses an S3 Bucket Key, whose encryption context is the bucket's
    /// ARN (not the object's), so `raw/` is narrowed by the bucket policy.
    /// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html#bucket-key-encryption-context>
    pub fn lake_key_grant(&self, region: &str) -> Value {
        let json = |expr: &Expr| serde_json::to_value(expr).expect("expressions are plain JSON");
        json!({
            "Sid": "WarehouseCopyDecryptsTheLake",
            "Effect": "Allow",
            "Principal": { "AWS": json(&Expr::sub(format!(
                "arn:${{AWS::Partition}}:iam::{}:root",
                self.warehouse_account
            ))) },
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {
                "ArnEquals": { "aws:PrincipalArn": [json(&self.copy_role_arn())] },
                "StringEquals": {
                    "kms:ViaService": format!("s3.{region}.amazonaws.com"),
                    "kms:EncryptionContext:aws:s3:arn": json(&self.lake_bucket_arn()),
                },
            },
        })
    }
}

fn check(stage: &Stage, accounts: &CrossAccount) -> Result<(), PlatformError> {
    let problem = |problem: String| PlatformError::Accounts {
        stage: stage.name.to_string(),
        problem,
    };
    for (role, account) in [("data", &accounts.data), ("warehouse", &accounts.warehouse)] {
        if account.id.len() != 12 || !account.id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(problem(format!(
                "the {role} account id {:?} is not 12 digits; set it to the account's id \
                 (aws sts get-caller-identity --profile {})",
                account.id, account.profile
            )));
        }
        // The cluster reads the lake through its VPC's S3 gateway endpoint,
        // which serves buckets of its own region only.
        if account.region != stage.region {
            return Err(problem(format!(
                "the {role} account's region {} is not the stage's ({}); both accounts must be \
                 in the stage's region (COPY reads the lake through an S3 gateway endpoint, which \
                 reaches buckets of its own region only)",
                account.region, stage.region
            )));
        }
    }
    if accounts.data.id == accounts.warehouse.id {
        return Err(problem(format!(
            "the data and warehouse accounts are both {}; use `Private {{ account: None }}` for a \
             private warehouse in the stage's own account",
            accounts.data.id
        )));
    }
    Ok(())
}
