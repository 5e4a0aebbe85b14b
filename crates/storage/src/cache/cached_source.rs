//! [`CachedSource`]: a [`MarketSource`] read through a [`DiskCache`].
//!
//! It decides, for each whole-object read, whether the cached copy serves
//! (revalidated by ETag, offline, or stale when the server fails) or the
//! object is downloaded again. Everything else goes straight to the inner
//! source: the cache holds whole objects only, and a conditional read asks
//! about the server's current copy, which only the server can answer.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use super::CacheMode;
use super::download::Download;
use super::store::{CacheEntry, DiskCache, EntryLock};
use crate::object::file_stream;
use crate::source::{
    CacheOutcome, Fetched, GetOptions, ObjectInfo, Progress, PutOptions, PutReceipt,
};
use crate::{Error, MarketSource, Result};

/// How long a load waits for another process fetching the same object
/// before giving up with [`Error::LockTimeout`].
pub const DEFAULT_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// A remote source read through a [`DiskCache`].
#[derive(Clone)]
pub struct CachedSource {
    inner: Arc<dyn MarketSource>,
    cache: DiskCache,
    /// Distinguishes stores that share bucket names (the endpoint).
    scope: String,
    mode: CacheMode,
    resumes: usize,
    progress: Option<Arc<dyn Progress>>,
    lock_wait: std::time::Duration,
}

impl std::fmt::Debug for CachedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedSource")
            .field("inner", &self.inner)
            .field("cache", &self.cache)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl CachedSource {
    /// Caches `inner`; `scope` (e.g. the endpoint URL) is part of every entry's key.
    pub fn new(inner: Arc<dyn MarketSource>, cache: DiskCache, scope: impl Into<String>) -> Self {
        Self {
            inner,
            cache,
            scope: scope.into(),
            mode: CacheMode::Normal,
            resumes: 3,
            progress: None,
            lock_wait: DEFAULT_LOCK_WAIT,
        }
    }

    /// How long to wait for another process fetching the same object.
    pub fn with_lock_wait(mut self, wait: std::time::Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// Told of the bytes as a download arrives.
    pub fn with_progress(mut self, progress: Option<Arc<dyn Progress>>) -> Self {
        self.progress = progress;
        self
    }

    /// How reads use the cache.
    pub fn with_mode(mut self, mode: CacheMode) -> Self {
        self.mode = mode;
        self
    }

    /// How often a cut download is resumed before giving up.
    pub fn with_resumes(mut self, resumes: usize) -> Self {
        self.resumes = resumes;
        self
    }

    fn serve(&self, id: &str, entry: CacheEntry, outcome: CacheOutcome) -> Result<Fetched> {
        let (data, _, _) = self.cache.paths(id);
        let file = File::open(&data).map_err(DiskCache::io(&data))?;
        let info = ObjectInfo {
            key: entry.key.clone(),
            uri: entry.uri.clone(),
            size: entry.size,
            etag: entry.etag.clone(),
            version: entry.version.clone(),
            last_modified: chrono::DateTime::parse_from_rfc3339(&entry.last_modified)
                .map(|d| d.with_timezone(&chrono::Utc))
                .unwrap_or_default(),
            metadata: entry.metadata.clone(),
        };
        Ok(Fetched {
            info,
            stream: file_stream(file, data, 0..entry.size),
            cache: Some(outcome),
        })
    }
}

impl std::fmt::Display for CachedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.inner, f)
    }
}

/// Whether a failed request may be answered from a stale cached copy: not
/// when the object is gone or arrived corrupted.
fn may_serve_stale(err: &Error) -> bool {
    !matches!(
        err,
        Error::NotFound { .. }
            | Error::Checksum { .. }
            | Error::ServerChecksum { .. }
            | Error::NoSuchBucket { .. }
    )
}

#[async_trait]
impl MarketSource for CachedSource {
    fn uri(&self, key: &str) -> String {
        self.inner.uri(key)
    }

    async fn get(&self, key: &str, options: GetOptions) -> Result<Fetched> {
        if options.range.is_some() || options.if_none_match.is_some() || options.if_match.is_some()
        {
            return self.inner.get(key, options).await;
        }
        let uri = self.inner.uri(key);
        let id = DiskCache::id(&format!("{} {uri}", self.scope));
        if self.mode == CacheMode::Offline {
            return match self.cache.read_verified_entry(&id) {
                Some(entry) => self.serve(&id, entry, CacheOutcome::Offline),
                None => Err(Error::NotCached {
                    uri,
                    dir: self.cache.dir().display().to_string(),
                }),
            };
        }
        let _lock = EntryLock::acquire(&self.cache, &id, &uri, self.lock_wait).await?;
        let cached = match self.mode {
            CacheMode::Refresh => None,
            _ => self.cache.read_verified_entry(&id),
        };
        let request = GetOptions {
            if_none_match: cached.as_ref().and_then(|e| e.etag.clone()),
            ..Default::default()
        };
        match self.inner.get(key, request).await {
            Err(Error::NotModified { .. }) => match cached {
                Some(entry) => self.serve(&id, entry, CacheOutcome::Revalidated),
                None => Err(Error::Protocol {
                    uri,
                    message: "the server answered 304 Not Modified to an unconditional request"
                        .to_owned(),
                }),
            },
            Err(err) => match cached {
                Some(entry) if may_serve_stale(&err) => {
                    tracing::warn!(%uri, error = %err, "the server failed; using the cached copy (stale)");
                    self.serve(
                        &id,
                        entry,
                        CacheOutcome::Stale {
                            reason: err.to_string(),
                        },
                    )
                }
                _ => Err(err),
            },
            Ok(fetched) => {
                let download = Download {
                    source: self.inner.as_ref(),
                    key,
                    max_resumes: self.resumes,
                    progress: self.progress.as_ref(),
                };
                match download.into_cache(&self.cache, &id, fetched).await {
                    Ok(entry) => self.serve(&id, entry, CacheOutcome::Miss),
                    // The disk refused the copy (full, read-only): the cache
                    // is an optimisation, so the object is read again, uncached.
                    Err(Error::Io { path, source })
                        if Path::new(&path).starts_with(self.cache.dir()) =>
                    {
                        tracing::warn!(%uri, cache = %path, error = %source, "the cache cannot be written; reading without it");
                        self.inner.get(key, GetOptions::default()).await
                    }
                    Err(err) => Err(err),
                }
            }
        }
    }

    async fn head(&self, key: &str) -> Result<ObjectInfo> {
        self.inner.head(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        self.inner.list(prefix).await
    }

    async fn put(&self, key: &str, body: Bytes, options: PutOptions) -> Result<PutReceipt> {
        self.inner.put(key, body, options).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.inner.delete(key).await
    }

    async fn put_multipart(
        &self,
        key: &str,
        options: PutOptions,
    ) -> Result<Box<dyn crate::ObjectWriter>> {
        self.inner.put_multipart(key, options).await
    }
}
