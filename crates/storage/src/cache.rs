//! The disk cache of remote objects, as a [`MarketSource`] decorator.
//!
//! - Entries are keyed by the SHA-256 of the object's full address
//!   (`s3://bucket/key` with its endpoint), never by a path built from the key.
//! - Each entry is `<hash>.data` (the bytes) and `<hash>.json` (address, ETag,
//!   version, size, SHA-256, when fetched).
//! - A read revalidates with `If-None-Match`: on 304 the cached bytes serve
//!   and nothing is downloaded.
//! - Downloads go to a temp file in the cache directory, are verified (size;
//!   SHA-256 against the object's `sha256` metadata when present), synced and
//!   renamed into place; a failed or interrupted download leaves nothing
//!   readable. A cut body is resumed with a ranged, `If-Match` request.
//! - One process at a time downloads an entry: an exclusive lock on
//!   `<hash>.lock`; the others wait, then find it fresh.
//! - When the server fails, the cached copy serves, marked stale.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::object::file_stream;
use crate::source::{
    CacheOutcome, Fetched, GetOptions, ObjectInfo, Progress, PutOptions, PutReceipt,
};
use crate::{Error, MarketSource, Result};

/// The metadata key holding an object's SHA-256 (written by `nasdaq-cli upload`).
pub const SHA256_METADATA: &str = "sha256";

/// How reads use the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CacheMode {
    /// Revalidate the cached copy; download when changed or absent.
    #[default]
    Normal,
    /// Use the cached copy without any request; fail when absent.
    Offline,
    /// Ignore the cached copy: download again (and store).
    Refresh,
}

/// What is stored about one cached object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// The object's address.
    pub uri: String,
    /// The object's key in its source.
    pub key: String,
    /// Its ETag when fetched.
    pub etag: Option<String>,
    /// Its version id when fetched.
    pub version: Option<String>,
    /// Its size.
    pub size: u64,
    /// SHA-256 of the cached bytes.
    pub sha256: String,
    /// When the object was last modified, RFC 3339.
    pub last_modified: String,
    /// When it was fetched, RFC 3339.
    pub fetched_at: String,
    /// Its user metadata.
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// The result of checking one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryCheck {
    /// The entry's file stem (the hash).
    pub id: String,
    /// The object's address, when the entry's description is readable.
    pub uri: Option<String>,
    /// `None` when sound; else what is wrong.
    pub problem: Option<String>,
}

/// A cache directory.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
}

impl DiskCache {
    /// The cache in `dir`, created (mode 0700) when missing.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = dir.into();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|source| Error::Io {
                path: dir.display().to_string(),
                source,
            })?;
        Ok(Self { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry id of an address: SHA-256 of it, hex.
    fn id(address: &str) -> String {
        hex::encode(Sha256::digest(address.as_bytes()))
    }

    fn paths(&self, id: &str) -> (PathBuf, PathBuf, PathBuf) {
        (
            self.dir.join(format!("{id}.data")),
            self.dir.join(format!("{id}.json")),
            self.dir.join(format!("{id}.lock")),
        )
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// The entry of `id`, when both its files are there and agree on the size.
    fn read_entry(&self, id: &str) -> Option<CacheEntry> {
        let (data, meta, _) = self.paths(id);
        let entry: CacheEntry = serde_json::from_slice(&std::fs::read(meta).ok()?).ok()?;
        let size = std::fs::metadata(data).ok()?.len();
        (size == entry.size).then_some(entry)
    }

    /// Every entry, sorted by address.
    pub fn entries(&self) -> Result<Vec<CacheEntry>> {
        let mut entries: Vec<CacheEntry> = self
            .ids()?
            .iter()
            .filter_map(|id| self.read_entry(id))
            .collect();
        entries.sort_by(|a, b| a.uri.cmp(&b.uri));
        Ok(entries)
    }

    fn ids(&self) -> Result<Vec<String>> {
        let mut ids: Vec<String> = std::fs::read_dir(&self.dir)
            .map_err(Self::io(&self.dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".json")
                    .or_else(|| name.strip_suffix(".data"))
                    .map(str::to_owned)
            })
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Re-hashes every entry; reports the unsound ones (and stray temp files).
    pub fn verify(&self) -> Result<Vec<EntryCheck>> {
        let mut checks = Vec::new();
        for id in self.ids()? {
            let (data, meta, _) = self.paths(&id);
            let entry: Option<CacheEntry> = std::fs::read(&meta)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            let problem = match &entry {
                None => Some("description missing or unreadable".to_owned()),
                Some(entry) => match std::fs::read(&data) {
                    Err(err) => Some(format!("data unreadable: {err}")),
                    Ok(bytes) if bytes.len() as u64 != entry.size => Some(format!(
                        "size {} differs from the recorded {}",
                        bytes.len(),
                        entry.size
                    )),
                    Ok(bytes) => {
                        let actual = hex::encode(Sha256::digest(&bytes));
                        (actual != entry.sha256).then(|| {
                            format!(
                                "SHA-256 {actual} differs from the recorded {}",
                                entry.sha256
                            )
                        })
                    }
                },
            };
            checks.push(EntryCheck {
                id,
                uri: entry.map(|e| e.uri),
                problem,
            });
        }
        for stray in std::fs::read_dir(&self.dir)
            .map_err(Self::io(&self.dir))?
            .flatten()
        {
            let name = stray.file_name().to_string_lossy().into_owned();
            if name.ends_with(".partial") {
                checks.push(EntryCheck {
                    id: name,
                    uri: None,
                    problem: Some("a partial download left behind".to_owned()),
                });
            }
        }
        Ok(checks)
    }

    /// Removes every entry; returns how many.
    pub fn clear(&self) -> Result<usize> {
        let ids = self.ids()?;
        for entry in std::fs::read_dir(&self.dir)
            .map_err(Self::io(&self.dir))?
            .flatten()
        {
            let path = entry.path();
            if path.is_file() {
                std::fs::remove_file(&path).map_err(Self::io(&path))?;
            }
        }
        Ok(ids.len())
    }
}

/// An exclusive lock on one entry, released on drop.
struct EntryLock(File);

impl EntryLock {
    async fn acquire(path: PathBuf) -> Result<Self> {
        tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(DiskCache::io(&path))?;
            file.lock().map_err(DiskCache::io(&path))?;
            Ok(Self(file))
        })
        .await
        .map_err(|err| Error::Io {
            path: "cache lock".to_owned(),
            source: std::io::Error::other(err),
        })?
    }
}

impl Drop for EntryLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

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
        }
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

    /// Downloads the object into the cache, verified; returns its entry.
    async fn download(&self, id: &str, key: &str, fetched: Fetched) -> Result<CacheEntry> {
        let info = fetched.info;
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{id}."))
            .suffix(".partial")
            .tempfile_in(self.cache.dir())
            .map_err(DiskCache::io(self.cache.dir()))?;
        let mut file = temp
            .as_file()
            .try_clone()
            .map_err(DiskCache::io(temp.path()))?;
        let mut hasher = Sha256::new();
        let mut written = 0u64;
        let mut stream = fetched.stream;
        let mut resumes = 0;
        if let Some(progress) = &self.progress {
            progress.start(&format!("downloading {}", info.uri), Some(info.size));
        }
        let finished = Finish(self.progress.clone());
        loop {
            match stream.next().await {
                Some(Ok(chunk)) => {
                    if let Some(progress) = &self.progress {
                        progress.advance(chunk.len() as u64);
                    }
                    hasher.update(&chunk);
                    written += chunk.len() as u64;
                    file.write_all(&chunk).map_err(DiskCache::io(temp.path()))?;
                }
                Some(Err(err)) if resumes < self.resumes && written < info.size => {
                    resumes += 1;
                    tracing::warn!(uri = %info.uri, written, %err, "download cut; resuming");
                    let options = GetOptions {
                        range: Some(written..info.size),
                        if_match: info.etag.clone(),
                        ..Default::default()
                    };
                    stream = self.inner.get(key, options).await?.stream;
                }
                Some(Err(err)) => return Err(err),
                None if written < info.size && resumes < self.resumes => {
                    resumes += 1;
                    tracing::warn!(uri = %info.uri, written, "body ended early; resuming");
                    let options = GetOptions {
                        range: Some(written..info.size),
                        if_match: info.etag.clone(),
                        ..Default::default()
                    };
                    stream = self.inner.get(key, options).await?.stream;
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
        let (data, meta, _) = self.cache.paths(id);
        let entry = CacheEntry {
            uri: info.uri.clone(),
            key: key.to_owned(),
            etag: info.etag.clone(),
            version: info.version.clone(),
            size: written,
            sha256: actual,
            last_modified: info.last_modified.to_rfc3339(),
            fetched_at: chrono::Utc::now().to_rfc3339(),
            metadata: info.metadata.clone(),
        };
        // The description is written first and the data renamed last: a
        // reader sees a complete entry or none (sizes must agree).
        let mut meta_temp = tempfile::Builder::new()
            .prefix(&format!(".{id}."))
            .suffix(".partial")
            .tempfile_in(self.cache.dir())
            .map_err(DiskCache::io(self.cache.dir()))?;
        let json = serde_json::to_vec_pretty(&entry).map_err(|err| Error::Io {
            path: meta.display().to_string(),
            source: std::io::Error::other(err),
        })?;
        meta_temp.write_all(&json).map_err(DiskCache::io(&meta))?;
        meta_temp
            .as_file()
            .sync_all()
            .map_err(DiskCache::io(&meta))?;
        let _ = std::fs::remove_file(&data);
        meta_temp
            .persist(&meta)
            .map_err(|e| DiskCache::io(&meta)(e.error))?;
        temp.persist(&data)
            .map_err(|e| DiskCache::io(&data)(e.error))?;
        Ok(entry)
    }
}

impl std::fmt::Display for CachedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.inner, f)
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

/// Whether a failed request may be answered from a stale cached copy: not
/// when the object is gone or arrived corrupted.
fn may_serve_stale(err: &Error) -> bool {
    !matches!(
        err,
        Error::NotFound { .. } | Error::Checksum { .. } | Error::NoSuchBucket { .. }
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
            return match self.cache.read_entry(&id) {
                Some(entry) => self.serve(&id, entry, CacheOutcome::Offline),
                None => Err(Error::NotCached {
                    uri,
                    dir: self.cache.dir().display().to_string(),
                }),
            };
        }
        let (_, _, lock_path) = self.cache.paths(&id);
        let _lock = EntryLock::acquire(lock_path).await?;
        let cached = match self.mode {
            CacheMode::Refresh => None,
            _ => self.cache.read_entry(&id),
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
                let entry = self.download(&id, key, fetched).await?;
                self.serve(&id, entry, CacheOutcome::Miss)
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
}
