//! `nasdaq-cli upload`: put a local file into S3 with its SHA-256 in the
//! object's metadata, refusing to replace different content without --force.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context;
use nasdaq_storage::{Error as StorageError, MarketSource, PutOptions};
use sha2::{Digest, Sha256};

use crate::args::{GlobalArgs, UploadArgs};
use crate::config;

/// The user-metadata key holding the SHA-256 of the content.
pub(crate) const SHA256_METADATA: &str = "sha256";

pub(crate) async fn run(global: &GlobalArgs, args: UploadArgs) -> anyhow::Result<ExitCode> {
    let target = config::session(global)?.s3_target(args.target.as_deref())?;
    let (bucket, key) = (&target.bucket, &target.key);
    if key.is_empty() || key.ends_with('/') {
        anyhow::bail!(
            "s3://{bucket}/{key}: give the object key to upload to, e.g. s3://{bucket}/NASDAQ.csv"
        );
    }
    let body = tokio::fs::read(&args.file)
        .await
        .with_context(|| format!("{}: cannot read the file to upload", args.file.display()))?;
    let sha256 = hex::encode(Sha256::digest(&body));
    let s3 = target.open().await?;
    let uri = s3.uri(key);

    let existing = match s3.head(key).await {
        Ok(info) => Some(info),
        Err(StorageError::NotFound { .. }) => None,
        Err(err) => return Err(err.into()),
    };
    let action = match &existing {
        Some(info) if info.metadata.get(SHA256_METADATA) == Some(&sha256) => {
            report(
                &args,
                &uri,
                info.etag.as_deref(),
                &sha256,
                body.len(),
                "unchanged",
            )?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(_) if !args.force => {
            return Err(StorageError::AlreadyExists { uri }.into());
        }
        Some(_) => "replaced",
        None => "uploaded",
    };
    let size = body.len();
    let options = PutOptions {
        metadata: BTreeMap::from([(SHA256_METADATA.to_owned(), sha256.clone())]),
    };
    let receipt = s3.put(key, body.into(), options).await?;
    report(&args, &uri, receipt.etag.as_deref(), &sha256, size, action)?;
    Ok(ExitCode::SUCCESS)
}

fn report(
    args: &UploadArgs,
    uri: &str,
    etag: Option<&str>,
    sha256: &str,
    bytes: usize,
    action: &str,
) -> anyhow::Result<()> {
    if args.json {
        let json = serde_json::json!({
            "uri": uri, "etag": etag, "sha256": sha256, "bytes": bytes, "action": action,
        });
        println!("{json}");
    } else {
        let verb = match action {
            "unchanged" => "Unchanged (same SHA-256 already stored)",
            "replaced" => "Replaced",
            _ => "Uploaded",
        };
        println!("{verb}: {} -> {uri} ({bytes} bytes)", args.file.display());
        println!("ETag: {}", etag.unwrap_or("-"));
        println!("SHA-256: {sha256}");
    }
    Ok(())
}
