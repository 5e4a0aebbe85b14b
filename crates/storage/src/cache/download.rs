//! One object's download into the cache: its body streamed into a temp file,
//! a cut body resumed with ranged `If-Match` requests, the result checked
//! (size; SHA-256 against the object's metadata) before it becomes an entry.
//!
//! A download that fails in any way drops its temp file, so the cache never
//! holds a partial or unverified entry.

use std::io::Write;
use std::sync::Arc;

use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::SHA256_METADATA;
use super::store::{CacheEntry, DiskCache};
use crate::source::{ByteStream, Fetched, GetOptions, ObjectInfo, Progress};
use crate::{Error, MarketSource, Result};

/// How to download one object: where resumed requests go and who is told.
pub(super) struct Download<'a> {
    /// The source the first body came from; resumed ranges are read from it.
    pub(super) source: &'a dyn MarketSource,
    /// The object's key in `source`.
    pub(super) key: &'a str,
    /// How often a cut body is resumed before giving up.
    pub(super) max_resumes: usize,
    /// Told of the bytes as they arrive.
    pub(super) progress: Option<&'a Arc<dyn Progress>>,
}

impl Download<'_> {
    /// Streams `fetched` (the answer to an unconditional, whole-object get)
    /// into `cache` as entry `id`, verified; returns the entry.
    pub(super) async fn into_cache(
        self,
        cache: &DiskCache,
        id: &str,
        fetched: Fetched,
    ) -> Result<CacheEntry> {
        let info = fetched.info;
        let temp = cache.partial(id)?;
        let mut file = temp
            .as_file()
            .try_clone()
            .map_err(DiskCache::io(temp.path()))?;
        let mut hasher = Sha256::new();
        let mut written = 0u64;
        let mut stream = fetched.stream;
        let mut resumes = 0;
        if let Some(progress) = self.progress {
            progress.start(&format!("downloading {}", info.uri), Some(info.size));
        }
        let finished = Finish(self.progress.cloned());
        loop {
            match stream.next().await {
                Some(Ok(chunk)) => {
                    if let Some(progress) = self.progress {
                        progress.advance(chunk.len() as u64);
                    }
                    hasher.update(&chunk);
                    written += chunk.len() as u64;
                    file.write_all(&chunk).map_err(DiskCache::io(temp.path()))?;
                }
                // Without an ETag nothing proves the rest is of the same version.
                Some(Err(err))
                    if resumes < self.max_resumes && written < info.size && info.etag.is_some() =>
                {
                    resumes += 1;
                    tracing::warn!(uri = %info.uri, written, %err, "download cut; resuming");
                    stream = self.rest(written, &info).await?;
                }
                Some(Err(err)) => return Err(err),
                None if written < info.size
                    && resumes < self.max_resumes
                    && info.etag.is_some() =>
                {
                    resumes += 1;
                    tracing::warn!(uri = %info.uri, written, "body ended early; resuming");
                    stream = self.rest(written, &info).await?;
                }
                None => break,
            }
        }
        drop(finished);
        if written != info.size {
            return Err(Error::Truncated {
                uri: info.uri.clone(),
                received: written,
                expected: info.size,
                resumes,
            });
        }
        let actual = hex::encode(hasher.finalize());
        if let Some(expected) = info.metadata.get(SHA256_METADATA)
            && !expected.eq_ignore_ascii_case(&actual)
        {
            return Err(Error::Checksum {
                uri: info.uri.clone(),
                expected: expected.clone(),
                actual,
            });
        }
        file.sync_all().map_err(DiskCache::io(temp.path()))?;
        let entry = CacheEntry {
            uri: info.uri.clone(),
            key: self.key.to_owned(),
            etag: info.etag.clone(),
            version: info.version.clone(),
            size: written,
            sha256: actual,
            last_modified: info.last_modified.to_rfc3339(),
            fetched_at: chrono::Utc::now().to_rfc3339(),
            metadata: info.metadata.clone(),
        };
        cache.commit(id, &entry, temp)?;
        Ok(entry)
    }

    /// The body from byte `written` on, only if the object is still the one
    /// whose first bytes were received (same ETag): bytes of two versions
    /// must never be joined.
    async fn rest(&self, written: u64, info: &ObjectInfo) -> Result<ByteStream> {
        let options = GetOptions {
            range: Some(written..info.size),
            if_match: info.etag.clone(),
            ..Default::default()
        };
        Ok(self.source.get(self.key, options).await?.stream)
    }
}

/// Ends a progress display however the download ends.
struct Finish(Option<Arc<dyn Progress>>);

impl Drop for Finish {
    fn drop(&mut self) {
        if let Some(progress) = &self.0 {
            progress.finish();
        }
    }
}
