//! A source that could not be set up, kept in a fallback chain so that the
//! chain reports why it was skipped.

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::SharedError;
use crate::source::{Fetched, GetOptions, ObjectInfo, ObjectWriter, PutOptions, PutReceipt};
use crate::{Error, MarketSource, Result};

/// A [`MarketSource`] whose every call fails with the error that kept it from being built.
#[derive(Debug, Clone)]
pub struct UnavailableSource {
    root: String,
    message: String,
    cause: SharedError,
}

impl UnavailableSource {
    /// A stand-in for the source at `root` that failed with `error`.
    pub fn new(
        root: impl Into<String>,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        let root = root.into();
        let mut message = crate::error::error_chain(&error);
        if !message.contains(&root) {
            message = format!("{root}: {message}");
        }
        Self {
            root,
            message,
            cause: std::sync::Arc::new(error),
        }
    }

    fn fail(&self, key: &str) -> Error {
        Error::Unavailable {
            uri: self.uri(key),
            message: self.message.clone(),
            cause: self.cause.clone(),
        }
    }
}

impl std::fmt::Display for UnavailableSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.root)
    }
}

#[async_trait]
impl MarketSource for UnavailableSource {
    fn uri(&self, key: &str) -> String {
        if key.is_empty() {
            self.root.clone()
        } else {
            format!("{}/{key}", self.root.trim_end_matches('/'))
        }
    }

    async fn get(&self, key: &str, _: GetOptions) -> Result<Fetched> {
        Err(self.fail(key))
    }

    async fn head(&self, key: &str) -> Result<ObjectInfo> {
        Err(self.fail(key))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        Err(self.fail(prefix))
    }

    async fn put(&self, key: &str, _: Bytes, _: PutOptions) -> Result<PutReceipt> {
        Err(self.fail(key))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        Err(self.fail(key))
    }

    async fn put_multipart(&self, key: &str, _: PutOptions) -> Result<Box<dyn ObjectWriter>> {
        Err(self.fail(key))
    }
}
