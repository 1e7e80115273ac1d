//! The asset bucket: Lambda zips and large templates go there once, under
//! content-hash keys, so an object that exists is never sent again.

use std::path::PathBuf;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use futures_util::StreamExt;

use super::error::{AwsError, DeployError, ObjectNotDeleted, Result};

/// Uploads running at once: S3 takes thousands of requests per second per
/// prefix; the limit is our bandwidth, not S3.
const PARALLEL_UPLOADS: usize = 8;

/// Something to put in the bucket.
#[derive(Debug, Clone)]
pub struct Object {
    pub key: String,
    pub source: Source,
}

#[derive(Debug, Clone)]
pub enum Source {
    File(PathBuf),
    Bytes(Vec<u8>),
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

    /// Whether the object is there (`HeadObject`).
    pub async fn has(&self, key: &str) -> Result<bool> {
        match self
            .s3
            .head_object()
            .bucket(&self.name)
            .set_expected_bucket_owner(self.owner.clone())
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(false),
            Err(e) => {
                Err(AwsError::from_sdk(format!("checking s3://{}/{key}", self.name), e).into())
            }
        }
    }

    pub async fn put(&self, object: &Object) -> Result<()> {
        let body = match &object.source {
            Source::File(path) => {
                ByteStream::from_path(path)
                    .await
                    .map_err(|e| DeployError::ReadFile {
                        path: path.display().to_string(),
                        source: std::io::Error::other(e),
                    })?
            }
            Source::Bytes(bytes) => ByteStream::from(bytes.clone()),
        };
        self.s3
            .put_object()
            .bucket(&self.name)
            .set_expected_bucket_owner(self.owner.clone())
            .key(&object.key)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(format!("uploading s3://{}/{}", self.name, object.key), e)
            })?;
        Ok(())
    }

    /// Uploads the objects that are not in the bucket yet; returns the keys
    /// it uploaded.
    pub async fn upload_missing(&self, objects: &[Object]) -> Result<Vec<String>> {
        let results: Vec<Result<Option<String>>> = futures_util::stream::iter(objects)
            .map(|object| async move {
                if self.has(&object.key).await? {
                    return Ok(None);
                }
                self.put(object).await?;
                Ok(Some(object.key.clone()))
            })
            .buffer_unordered(PARALLEL_UPLOADS)
            .collect()
            .await;
        let mut uploaded = Vec::new();
        for result in results {
            uploaded.extend(result?);
        }
        uploaded.sort();
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
