//! The cache directory: where entries live, how they are read, checked,
//! cleared, committed atomically and locked against concurrent downloads.
//!
//! This file owns the layout (`CACHEDIR.TAG`, `<hash>.data`, `<hash>.json`,
//! `<hash>.lock`, `.<hash>.*.partial`, and the [`TABLES_DIR`] directory that
//! the engine's table cache keeps its own entries in); the other cache files
//! go through it rather than building paths themselves.
//!
//! A directory is a cache only if it carries our `CACHEDIR.TAG` (the
//! standard tag backup tools skip, with a line naming nasdaq-data), or is
//! new, empty, or holds nothing but names this layout writes (a cache made
//! before the tag existed). Any other directory is refused, and maintenance
//! only ever touches the names above, never through a symbolic link: a
//! mistyped `--cache-dir .` must not delete a project's files.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use crate::{Error, Result};

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

/// SHA-256 of a file's bytes, read in blocks.
fn hash_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buffer)? {
            0 => return Ok(hex::encode(hasher.finalize())),
            n => hasher.update(&buffer[..n]),
        }
    }
}

/// The tag file at the root of a cache directory.
const TAG_FILE: &str = "CACHEDIR.TAG";
/// Its contents: the signature of the Cache Directory Tagging Specification,
/// then who made it.
const TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
                   # This file is a cache directory tag created by nasdaq-data.\n\
                   # For information about cache directory tags see https://bford.info/cachedir/\n";

/// The directory, inside a cache, of the parsed-table cache (`nasdaq-core`'s
/// `TableCache`, which owns what is in it).
pub const TABLES_DIR: &str = "tables";

/// Whether `name` is one this layout writes (other than the tag).
fn is_cache_name(name: &str) -> bool {
    if name == TABLES_DIR {
        return true;
    }
    let hash = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(rest) = name.strip_prefix('.')
        && name.ends_with(".partial")
    {
        return rest.split('.').next().is_some_and(hash);
    }
    [".data", ".json", ".lock"]
        .iter()
        .any(|ext| name.strip_suffix(ext).is_some_and(hash))
}

/// The ids of the entries in `dir`, sorted, each once: the stems of the
/// names `ours` accepts that end in one of `suffixes` (partial files, whose
/// names start with a dot, are no entries).
pub fn entry_ids(
    dir: &Path,
    ours: fn(&str) -> bool,
    suffixes: &[&str],
) -> std::io::Result<Vec<String>> {
    let mut ids: Vec<String> = std::fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if !ours(&name) || name.starts_with('.') {
                return None;
            }
            suffixes
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .map(str::to_owned)
        })
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
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
        let cache = Self { dir };
        cache.claim()?;
        Ok(cache)
    }

    /// Makes sure the directory is ours: tagged, or taggable because it
    /// holds nothing else.
    fn claim(&self) -> Result<()> {
        let tag = self.dir.join(TAG_FILE);
        if std::fs::read_to_string(&tag).is_ok_and(|t| t.starts_with(TAG)) {
            return Ok(());
        }
        let foreign = std::fs::read_dir(&self.dir)
            .map_err(Self::io(&self.dir))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|name| !is_cache_name(name));
        if let Some(found) = foreign {
            return Err(Error::NotACache {
                dir: self.dir.display().to_string(),
                found,
            });
        }
        std::fs::write(&tag, TAG).map_err(Self::io(&tag))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of the parsed-table cache, created (mode 0700) when
    /// missing; a link there is refused rather than followed.
    pub fn tables_dir(&self) -> Result<PathBuf> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = self.dir.join(TABLES_DIR);
        match std::fs::symlink_metadata(&dir) {
            Ok(found) if found.is_dir() => return Ok(dir),
            Ok(_) => {
                return Err(Error::NotACache {
                    dir: self.dir.display().to_string(),
                    found: format!("{TABLES_DIR} (not a directory)"),
                });
            }
            Err(_) => {}
        }
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .or_else(|err| match err.kind() {
                // Another process made it first.
                std::io::ErrorKind::AlreadyExists if dir.is_dir() => Ok(()),
                _ => Err(err),
            })
            .map_err(Self::io(&dir))?;
        Ok(dir)
    }

    /// The entry id of an address: SHA-256 of it, hex.
    pub(super) fn id(address: &str) -> String {
        hex::encode(Sha256::digest(address.as_bytes()))
    }

    /// The data, description and lock files of entry `id`.
    pub(super) fn paths(&self, id: &str) -> (PathBuf, PathBuf, PathBuf) {
        (
            self.dir.join(format!("{id}.data")),
            self.dir.join(format!("{id}.json")),
            self.dir.join(format!("{id}.lock")),
        )
    }

    pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// The entry of `id`, when both its files are there and agree on the
    /// size; a data file that is a link is no entry (never followed).
    pub(super) fn read_entry(&self, id: &str) -> Option<CacheEntry> {
        let (data, meta, _) = self.paths(id);
        let entry: CacheEntry = serde_json::from_slice(&std::fs::read(meta).ok()?).ok()?;
        let found = std::fs::symlink_metadata(data).ok()?;
        (found.file_type().is_file() && found.len() == entry.size).then_some(entry)
    }

    /// The entry of `id` if its bytes still hash to the recorded SHA-256;
    /// a changed, truncated or linked entry is removed, so the caller
    /// downloads again instead of serving it.
    pub(super) fn read_verified_entry(&self, id: &str) -> Option<CacheEntry> {
        let (data, meta, _) = self.paths(id);
        let entry = match self.read_entry(id) {
            Some(entry) if hash_file(&data).is_ok_and(|h| h == entry.sha256) => return Some(entry),
            Some(entry) => entry.uri,
            None if meta.exists() || std::fs::symlink_metadata(&data).is_ok() => {
                "an unreadable entry".to_owned()
            }
            None => return None,
        };
        tracing::warn!(uri = %entry, "the cached copy changed on disk; dropping it");
        let _ = std::fs::remove_file(&data);
        let _ = std::fs::remove_file(&meta);
        None
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
        entry_ids(&self.dir, is_cache_name, &[".json", ".data"]).map_err(Self::io(&self.dir))
    }

    /// Re-hashes every entry; reports the unsound ones.
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
        // Partial files a killed process left are not damage: the next
        // download of their entry, or `clear`, removes them.
        Ok(checks)
    }

    /// Removes every entry and any partial download left behind; returns
    /// how many entries. Only names this layout writes are removed, and a
    /// symbolic link is removed as a link, never followed.
    pub fn clear(&self) -> Result<usize> {
        self.claim()?;
        let ids = self.ids()?;
        for entry in std::fs::read_dir(&self.dir)
            .map_err(Self::io(&self.dir))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
            if is_cache_name(&name) && !is_dir {
                std::fs::remove_file(&path).map_err(Self::io(&path))?;
            }
        }
        Ok(ids.len())
    }

    /// Removes the partial files of entry `id` a killed process left; the
    /// caller holds the entry's lock, so no live download owns them.
    fn remove_leftovers(&self, id: &str) {
        let prefix = format!(".{id}.");
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) && name.ends_with(".partial") && is_cache_name(&name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// A new temp file for entry `id`, deleted unless committed.
    ///
    /// It lives in the cache directory so that committing it is a rename on
    /// one file system, and its `.partial` suffix lets [`Self::verify`] name
    /// one left behind by a killed process.
    pub(super) fn partial(&self, id: &str) -> Result<NamedTempFile> {
        tempfile::Builder::new()
            .prefix(&format!(".{id}."))
            .suffix(".partial")
            .tempfile_in(&self.dir)
            .map_err(Self::io(&self.dir))
    }

    /// Makes `data` (a synced [`Self::partial`] file holding the verified
    /// bytes) and `entry` the entry `id`.
    pub(super) fn commit(&self, id: &str, entry: &CacheEntry, data: NamedTempFile) -> Result<()> {
        let (data_path, meta, _) = self.paths(id);
        // The description is written first and the data renamed last: a
        // reader sees a complete entry or none (sizes must agree).
        let mut meta_temp = self.partial(id)?;
        let json = serde_json::to_vec_pretty(entry).map_err(|err| Error::Io {
            path: meta.display().to_string(),
            source: std::io::Error::other(err),
        })?;
        meta_temp.write_all(&json).map_err(Self::io(&meta))?;
        meta_temp.as_file().sync_all().map_err(Self::io(&meta))?;
        let _ = std::fs::remove_file(&data_path);
        meta_temp
            .persist(&meta)
            .map_err(|e| Self::io(&meta)(e.error))?;
        data.persist(&data_path)
            .map_err(|e| Self::io(&data_path)(e.error))?;
        Ok(())
    }
}

/// An exclusive lock on one entry, released on drop.
pub(super) struct EntryLock(File);

impl EntryLock {
    /// Holds entry `id`'s lock, waiting at most `wait` for another process
    /// that holds it (saying so once); then removes what a killed process
    /// left of this entry, since only the lock's holder writes it.
    pub(super) async fn acquire(
        cache: &DiskCache,
        id: &str,
        uri: &str,
        wait: std::time::Duration,
    ) -> Result<Self> {
        let (_, _, path) = cache.paths(id);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(DiskCache::io(&path))?;
        let started = std::time::Instant::now();
        let mut said = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < wait => {
                    if !said {
                        tracing::warn!(
                            %uri,
                            lock = %path.display(),
                            "waiting for another nasdaq-data process that is fetching this object"
                        );
                        said = true;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::LockTimeout {
                        uri: uri.to_owned(),
                        lock: path.display().to_string(),
                        waited_secs: wait.as_secs(),
                    });
                }
                Err(std::fs::TryLockError::Error(err)) => return Err(DiskCache::io(&path)(err)),
            }
        }
        cache.remove_leftovers(id);
        Ok(Self(file))
    }
}

impl Drop for EntryLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}
