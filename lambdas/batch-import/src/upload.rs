//! Writing an object of unknown length in parts, in bounded memory.
//!
//! Bytes are buffered up to [`Options::part_bytes`](crate::Options); each
//! full buffer becomes a part of an S3 multipart upload, started with the
//! first part. An object that never fills a part is written with one
//! `PutObject`, and nothing at all is written for no bytes. A failed or
//! abandoned upload is aborted, so no parts are left billed (the bucket's
//! lifecycle rule also aborts incomplete uploads after a day).

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::{FileError, chain};

/// S3's smallest part but the last
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html>).
pub const MIN_PART_BYTES: usize = 5 * 1024 * 1024;

/// One object being written.
#[derive(Debug)]
pub struct PartUpload<'a> {
    s3: &'a aws_sdk_s3::Client,
    bucket: &'a str,
    key: String,
    content_type: &'static str,
    part_bytes: usize,
    buffer: Vec<u8>,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
}

impl<'a> PartUpload<'a> {
    pub fn new(
        s3: &'a aws_sdk_s3::Client,
        bucket: &'a str,
        key: String,
        content_type: &'static str,
        part_bytes: usize,
    ) -> Self {
        PartUpload {
            s3,
            bucket,
            key,
            content_type,
            part_bytes,
            buffer: Vec::new(),
            upload_id: None,
            parts: Vec::new(),
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether any byte was written.
    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty() && self.parts.is_empty()
    }

    /// Appends `bytes`, sending a part once the buffer holds a part's worth.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), FileError> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= self.part_bytes {
            self.send_part().await?;
        }
        Ok(())
    }

    /// Completes the object; `Ok(false)` when no byte was written (and so
    /// no object).
    pub async fn finish(mut self) -> Result<bool, FileError> {
        let Some(upload_id) = self.upload_id.clone() else {
            if self.buffer.is_empty() {
                return Ok(false);
            }
            let body = std::mem::take(&mut self.buffer);
            self.s3
                .put_object()
                .bucket(self.bucket)
                .key(&self.key)
                .content_type(self.content_type)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| self.error("writing", &e))?;
            return Ok(true);
        };
        if !self.buffer.is_empty() {
            self.send_part().await?;
        }
        let parts = CompletedMultipartUpload::builder()
            .set_parts(Some(std::mem::take(&mut self.parts)))
            .build();
        let completed = self
            .s3
            .complete_multipart_upload()
            .bucket(self.bucket)
            .key(&self.key)
            .upload_id(&upload_id)
            .multipart_upload(parts)
            .send()
            .await;
        if let Err(error) = completed {
            let error = self.error("completing the multipart upload of", &error);
            self.abort().await;
            return Err(error);
        }
        Ok(true)
    }

    /// Abandons the object: its upload, if started, is aborted (a failure
    /// to abort is only logged: the lifecycle rule removes the parts).
    pub async fn abort(self) {
        let Some(upload_id) = &self.upload_id else {
            return;
        };
        let aborted = self
            .s3
            .abort_multipart_upload()
            .bucket(self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .send()
            .await;
        if let Err(error) = aborted {
            tracing::warn!(
                key = self.key,
                error = chain(&error),
                "could not abort the multipart upload; the bucket's lifecycle rule will"
            );
        }
    }

    async fn send_part(&mut self) -> Result<(), FileError> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let created = self
                    .s3
                    .create_multipart_upload()
                    .bucket(self.bucket)
                    .key(&self.key)
                    .content_type(self.content_type)
                    .send()
                    .await
                    .map_err(|e| self.error("starting a multipart upload of", &e))?;
                let id = created
                    .upload_id()
                    .ok_or_else(|| FileError::S3 {
                        action: "starting a multipart upload of",
                        bucket: self.bucket.to_owned(),
                        key: self.key.clone(),
                        detail: "the answer has no UploadId".to_owned(),
                    })?
                    .to_owned();
                self.upload_id = Some(id.clone());
                id
            }
        };
        // Part numbers are 1 to 10,000.
        let number = self.parts.len() as i32 + 1;
        let body = std::mem::take(&mut self.buffer);
        let sent = self
            .s3
            .upload_part()
            .bucket(self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.error("uploading a part of", &e))?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(sent.e_tag().map(str::to_owned))
                .build(),
        );
        Ok(())
    }

    fn error(&self, action: &'static str, error: &dyn std::error::Error) -> FileError {
        FileError::S3 {
            action,
            bucket: self.bucket.to_owned(),
            key: self.key.clone(),
            detail: chain(error),
        }
    }
}
