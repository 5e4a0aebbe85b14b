//! Putting a local file into S3 with its SHA-256 in the object's metadata,
//! never replacing different content unless asked.

use std::collections::BTreeMap;
use std::path::Path;

use nasdaq_storage::{Error as StorageError, MarketSource, PutOptions, cache::SHA256_METADATA};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Error, Result, Session};

/// What an upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadAction {
    /// The object did not exist.
    Uploaded,
    /// Different content was replaced, as asked.
    Replaced,
    /// The same content (by SHA-256) was already there: nothing was sent.
    Unchanged,
}

/// The outcome of an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadReport {
    /// The object's address.
    pub uri: String,
    /// Its ETag after the upload.
    pub etag: Option<String>,
    /// SHA-256 of the content.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// What was done.
    pub action: UploadAction,
}

impl Session {
    /// Uploads `file` to the S3 object `target` names (or the configured
    /// one). Different content already there is replaced only with `replace`.
    pub async fn upload(
        &self,
        file: &Path,
        target: Option<&str>,
        replace: bool,
    ) -> Result<UploadReport> {
        let target = self.s3_target(target)?;
        let (bucket, key) = (&target.bucket, &target.key);
        if key.is_empty() || key.ends_with('/') {
            return Err(Error::BadTarget {
                location: format!("s3://{bucket}/{key}"),
                reason: format!("name the object to upload to, e.g. s3://{bucket}/NASDAQ.csv"),
            });
        }
        let body = tokio::fs::read(file)
            .await
            .map_err(|source| StorageError::Io {
                path: file.display().to_string(),
                source,
            })?;
        let sha256 = hex::encode(Sha256::digest(&body));
        let s3 = target.open().await?;
        let uri = s3.uri(key);
        let existing = match s3.head(key).await {
            Ok(info) => Some(info),
            Err(StorageError::NotFound { .. }) => None,
            Err(err) => return Err(err.into()),
        };
        let bytes = body.len() as u64;
        let action = match &existing {
            Some(info) if info.metadata.get(SHA256_METADATA) == Some(&sha256) => {
                return Ok(UploadReport {
                    uri,
                    etag: info.etag.clone(),
                    sha256,
                    bytes,
                    action: UploadAction::Unchanged,
                });
            }
            Some(_) if !replace => return Err(StorageError::AlreadyExists { uri }.into()),
            Some(_) => UploadAction::Replaced,
            None => UploadAction::Uploaded,
        };
        let options = PutOptions {
            metadata: BTreeMap::from([(SHA256_METADATA.to_owned(), sha256.clone())]),
        };
        let receipt = s3.put(key, body.into(), options).await?;
        Ok(UploadReport {
            uri,
            etag: receipt.etag,
            sha256,
            bytes,
            action,
        })
    }
}
