//! The asset bucket: Lambda zips and large templates go there under
//! content-hash keys, each with its SHA-256, which S3 checks on receipt and
//! reports back: an intact object is never sent again, a damaged one is
//! replaced.

use std::path::Path;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::error::{AwsError, DeployError, ObjectNotDeleted, Result};

/// Uploads running at once: S3 takes thousands of requests per second per
/// prefix; the limit is our bandwidth, not S3.
const PARALLEL_UPLOADS: usize = 8;

/// Something to put in the bucket, with the SHA-256 S3 is asked to check
/// on receipt and to report back (`x-amz-checksum-sha256`).
#[derive(Debug, Clone)]
pub struct Object {
    pub key: String,
    pub body: Vec<u8>,
    sha256: [u8; 32],
}

impl Object {
    pub fn new(key: impl Into<String>, body: Vec<u8>) -> Self {
        let sha256 = Sha256::digest(&body).into();
        Self {
            key: key.into(),
            body,
            sha256,
        }
    }

    /// A synthesised asset: the zip at `path`, refused unless its SHA-256
    /// is the manifest's (a zip edited or damaged since synth would
    /// otherwise be deployed as the function's code).
    pub fn asset(key: &str, path: &Path, manifest_sha256: &str) -> Result<Self> {
        let body = std::fs::read(path).map_err(|source| DeployError::ReadFile {
            path: path.display().to_string(),
            source,
        })?;
        let object = Self::new(key, body);
        let found = hex::encode(object.sha256);
        if !found.eq_ignore_ascii_case(manifest_sha256) {
            return Err(DeployError::AssetChanged {
                path: path.display().to_string(),
                expected: manifest_sha256.to_string(),
                found,
            });
        }
        Ok(object)
    }

    /// The checksum as S3 takes and reports it: base64 of the digest.
    fn checksum(&self) -> String {
        aws_smithy_types::base64::encode(self.sha256)
    }
}

/// What the bucket holds under an object's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Missing,
    /// The same bytes (by SHA-256).
    Intact,
    /// Other bytes under the key: this SHA-256 (base64).
    Damaged {
        found: String,
    },
}

/// What [`Bucket::upload_missing`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uploaded {
    /// Keys that were missing, now uploaded.
    pub sent: Vec<String>,
    /// Keys whose object had other bytes, now replaced.
    pub replaced: Vec<String>,
    /// Objects already there, intact.
    pub intact: usize,
}

#[derive(Debug, Clone)]
pub struct Bucket {
    pub s3: Client,
    pub name: String,
    pub region: String,
    /// The account that must own the bucket (`ExpectedBucketOwner`): a
    /// bucket name is global, and one deleted and re-created by another
    /// account would otherwise receive our code.
    /// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html>
    pub owner: Option<String>,
}

impl Bucket {
    /// The `TemplateURL` of a key: virtual-hosted style, which
    /// CloudFormation and emulators both accept.
    pub fn url(&self, key: &str) -> String {
        format!(
            "https://{}.s3.{}.amazonaws.com/{key}",
            self.name, self.region
        )
    }

    /// What the bucket holds under `object`'s key. `HeadObject` with
    /// `ChecksumMode` returns the SHA-256 S3 stored at upload; an object
    /// uploaded without one (an older provisioner, an emulator that keeps
    /// none) is read and hashed instead.
    /// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html>
    pub async fn stored(&self, object: &Object) -> Result<Stored> {
        let action = || format!("checking s3://{}/{}", self.name, object.key);
        let head = match self
            .s3
            .head_object()
            .bucket(&self.name)
            .set_expected_bucket_owner(self.owner.clone())
            .key(&object.key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
        {
            Ok(head) => head,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => {
                return Ok(Stored::Missing);
            }
            Err(e) => return Err(AwsError::from_sdk(action(), e).into()),
        };
        let found = match head.checksum_sha256() {
            Some(checksum) => checksum.to_string(),
            None => self.content_checksum(&object.key).await?,
        };
        Ok(if found == object.checksum() {
            Stored::Intact
        } else {
            Stored::Damaged { found }
        })
    }

    /// The SHA-256 (base64) of the object's bytes, read whole.
    async fn content_checksum(&self, key: &str) -> Result<String> {
        let action = || format!("reading s3://{}/{key}", self.name);
        let answer = self
            .s3
            .get_object()
            .bucket(&self.name)
            .set_expected_bucket_owner(self.owner.clone())
            .key(key)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(action(), e))?;
        let bytes = answer.body.collect().await.map_err(|e| {
            DeployError::Aws(AwsError {
                action: action(),
                kind: super::error::AwsErrorKind::Other,
                code: None,
                message: e.to_string(),
            })
        })?;
        Ok(aws_smithy_types::base64::encode(Sha256::digest(
            bytes.into_bytes(),
        )))
    }

    /// Puts the object with its SHA-256, which S3 checks on receipt
    /// (`BadDigest` otherwise), then reads the stored checksum back: an
    /// object is only trusted once the bucket says it holds those bytes.
    pub async fn put(&self, object: &Object) -> Result<()> {
        self.s3
            .put_object()
            .bucket(&self.name)
            .set_expected_bucket_owner(self.owner.clone())
            .key(&object.key)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(object.checksum())
            .body(ByteStream::from(object.body.clone()))
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(format!("uploading s3://{}/{}", self.name, object.key), e)
            })?;
        match self.stored(object).await? {
            Stored::Intact => Ok(()),
            Stored::Missing => Err(DeployError::UploadNotStored {
                bucket: self.name.clone(),
                key: object.key.clone(),
                expected: object.checksum(),
                found: "no object".to_string(),
            }),
            Stored::Damaged { found } => Err(DeployError::UploadNotStored {
                bucket: self.name.clone(),
                key: object.key.clone(),
                expected: object.checksum(),
                found: format!("SHA-256 {found}"),
            }),
        }
    }

    /// Uploads the objects that are missing from the bucket, and replaces
    /// those whose bytes differ (a damaged or overwritten object would
    /// otherwise be deployed for as long as its key is used).
    pub async fn upload_missing(&self, objects: &[Object]) -> Result<Uploaded> {
        let results: Vec<Result<(Stored, &str)>> = futures_util::stream::iter(objects)
            .map(|object| async move {
                let stored = self.stored(object).await?;
                if stored != Stored::Intact {
                    self.put(object).await?;
                }
                Ok((stored, object.key.as_str()))
            })
            .buffer_unordered(PARALLEL_UPLOADS)
            .collect()
            .await;
        let mut uploaded = Uploaded::default();
        for result in results {
            match result? {
                (Stored::Intact, _) => uploaded.intact += 1,
                (Stored::Missing, key) => uploaded.sent.push(key.to_string()),
                (Stored::Damaged { .. }, key) => uploaded.replaced.push(key.to_string()),
            }
        }
        uploaded.sent.sort();
        uploaded.replaced.sort();
        Ok(uploaded)
    }

    /// Deletes every object version and delete marker, so CloudFormation
    /// can delete the bucket (it refuses a non-empty one). Versions S3
    /// refuses to delete (object lock, a missing `s3:DeleteObjectVersion`)
    /// come back in `DeleteObjects`' `Errors` with the call itself
    /// succeeding: they fail the emptying, named, instead of being listed
    /// again forever.
    pub async fn empty(&self) -> Result<usize> {
        use aws_sdk_s3::types::{Delete, ObjectIdentifier};
        let action = format!("emptying bucket {}", self.name);
        let mut deleted = 0;
        loop {
            let page = match self
                .s3
                .list_object_versions()
                .bucket(&self.name)
                .set_expected_bucket_owner(self.owner.clone())
                .send()
                .await
            {
                Ok(page) => page,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.meta().code() == Some("NoSuchBucket")) =>
                {
                    return Ok(deleted);
                }
                Err(e) => return Err(AwsError::from_sdk(action, e).into()),
            };
            let ids: Vec<ObjectIdentifier> = page
                .versions()
                .iter()
                .filter_map(|v| {
                    ObjectIdentifier::builder()
                        .key(v.key()?)
                        .set_version_id(v.version_id().map(str::to_string))
                        .build()
                        .ok()
                })
                .chain(page.delete_markers().iter().filter_map(|m| {
                    ObjectIdentifier::builder()
                        .key(m.key()?)
                        .set_version_id(m.version_id().map(str::to_string))
                        .build()
                        .ok()
                }))
                .collect();
            if ids.is_empty() {
                return Ok(deleted);
            }
            // A page holds at most 1,000 entries, DeleteObjects takes 1,000.
            let count = ids.len();
            let delete = Delete::builder()
                .set_objects(Some(ids))
                .quiet(true)
                .build()
                .map_err(|e| {
                    DeployError::Aws(AwsError {
                        action: action.clone(),
                        kind: super::error::AwsErrorKind::Other,
                        code: None,
                        message: e.to_string(),
                    })
                })?;
            let answer = self
                .s3
                .delete_objects()
                .bucket(&self.name)
                .set_expected_bucket_owner(self.owner.clone())
                .delete(delete)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(action.clone(), e))?;
            if !answer.errors().is_empty() {
                return Err(DeployError::BucketNotEmptied {
                    bucket: self.name.clone(),
                    failures: answer
                        .errors()
                        .iter()
                        .map(|e| ObjectNotDeleted {
                            key: e.key().unwrap_or_default().to_string(),
                            version_id: e.version_id().map(str::to_string),
                            code: e.code().unwrap_or_default().to_string(),
                            message: e.message().unwrap_or_default().to_string(),
                        })
                        .collect(),
                });
            }
            deleted += count;
        }
    }
}
