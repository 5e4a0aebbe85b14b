//! Putting a local file into S3 with its SHA-256 in the object's metadata
//! (and S3's own SHA-256 checksum), streamed in parts, never replacing
//! different content unless asked: a new key is written with a conditional
//! create, so two uploads cannot both think they created it.

use std::collections::BTreeMap;
use std::path::Path;

use nasdaq_storage::{Error as StorageError, MarketSource, PutOptions, cache::SHA256_METADATA};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

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

/// The SHA-256 (hex) and size of a file, read in blocks.
async fn file_sha256(path: &Path) -> Result<(String, u64)> {
    let io = |source| StorageError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = tokio::fs::File::open(path).await.map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer).await.map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
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
        let (sha256, bytes) = file_sha256(file).await?;
        let s3 = target.open().await?;
        let uri = s3.uri(key);
        let existing = match s3.head(key).await {
            Ok(info) => Some(info),
            Err(StorageError::NotFound { .. }) => None,
            Err(err) => return Err(err.into()),
        };
        let unchanged = |info: &nasdaq_storage::ObjectInfo| UploadReport {
            uri: uri.clone(),
            etag: info.etag.clone(),
            sha256: sha256.clone(),
            bytes,
            action: UploadAction::Unchanged,
        };
        let action = match &existing {
            Some(info) if info.metadata.get(SHA256_METADATA) == Some(&sha256) => {
                return Ok(unchanged(info));
            }
            Some(_) if !replace => return Err(StorageError::AlreadyExists { uri }.into()),
            Some(_) => UploadAction::Replaced,
            None => UploadAction::Uploaded,
        };
        let options = PutOptions {
            metadata: BTreeMap::from([(SHA256_METADATA.to_owned(), sha256.clone())]),
            // Where nothing was, only create: of two uploads racing to a new
            // key, one stores and the other finds what it stored.
            create_only: action == UploadAction::Uploaded,
        };
        let receipt = match s3.upload_file(key, file, &sha256, options).await {
            Err(StorageError::AlreadyExists { .. }) if action == UploadAction::Uploaded => {
                let info = s3.head(key).await?;
                if info.metadata.get(SHA256_METADATA) == Some(&sha256) {
                    return Ok(unchanged(&info));
                }
                return Err(StorageError::AlreadyExists { uri }.into());
            }
            other => other?,
        };
        Ok(UploadReport {
            uri,
            etag: receipt.etag,
            sha256,
            bytes,
            action,
        })
    }
}
