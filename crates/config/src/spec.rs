//! What a user writes as a source: a path, a `file://` URL, an `s3://` URL.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nasdaq_storage::{MarketSource, ObjectStoreSource};

use crate::{Error, Result};

/// A parsed source address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A local file.
    File {
        /// The file's path as given.
        path: PathBuf,
    },
    /// An S3 object (or, when `key` ends with `/`, a prefix).
    S3 {
        /// The bucket name.
        bucket: String,
        /// The object key.
        key: String,
    },
}

impl SourceSpec {
    /// Parses a path, `file://` URL or `s3://bucket/key` URL.
    ///
    /// ```
    /// use nasdaq_config::SourceSpec;
    /// assert_eq!(
    ///     SourceSpec::parse("s3://prices/daily/NASDAQ.csv").unwrap(),
    ///     SourceSpec::S3 { bucket: "prices".into(), key: "daily/NASDAQ.csv".into() }
    /// );
    /// assert!(matches!(SourceSpec::parse("./NASDAQ.csv").unwrap(), SourceSpec::File { .. }));
    /// ```
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |reason: &str| Error::BadSource {
            source_text: text.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket; write s3://BUCKET/KEY"));
            }
            return Ok(Self::S3 {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            });
        }
        if let Some(rest) = text.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(bad(
                    "a file:// URL needs an absolute path, e.g. file:///data/NASDAQ.csv",
                ));
            }
            return Ok(Self::File { path: rest.into() });
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(bad(&format!(
                "unsupported scheme {scheme}://; use a path, file:// or s3://"
            )));
        }
        if text.is_empty() {
            return Err(bad("empty source; give a file path or s3://BUCKET/KEY"));
        }
        Ok(Self::File { path: text.into() })
    }

    /// Opens a local file source: the directory as a [`MarketSource`] and the
    /// file's key in it; for a directory, the directory and the empty prefix.
    pub fn open_file(path: &Path) -> Result<(Arc<dyn MarketSource>, String)> {
        if path.is_dir() {
            return Ok((Arc::new(ObjectStoreSource::local(path)?), String::new()));
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::BadSource {
                source_text: path.display().to_string(),
                reason: "not a file name".to_owned(),
            })?;
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        if !path.exists() {
            return Err(Error::NoSuchFile {
                path: path.display().to_string(),
            });
        }
        let source = ObjectStoreSource::local(dir)?;
        Ok((Arc::new(source), name.to_owned()))
    }
}
