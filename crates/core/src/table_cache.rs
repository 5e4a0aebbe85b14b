//! The table cache: the parsed, checked table of an unchanged source under
//! unchanged options, kept as an Arrow IPC file, so that a repeated load is
//! one read of that file instead of a parse.
//!
//! An entry is two files in the cache's `tables/` directory (owned by this
//! module; [`nasdaq_storage::DiskCache`] only reserves the name):
//! `<key>.arrow`, the table, and `<key>.json`, its [`TableEntry`] (what was
//! read, the report's facts, the size and XXH3 checksum of the `.arrow`
//! file). The key is a SHA-256 over everything that changes the result: the
//! objects' identities (address, size, ETag, version, modification time),
//! the parse options, the rule policies, and the tool and format versions.
//!
//! Written atomically (temporary `.partial` files renamed into place, the
//! table first); an entry is served only when its description parses, its
//! table has the recorded size and checksum and the canonical schema. A
//! damaged or half-replaced entry is a miss, and the load that follows
//! replaces it. No `fsync`: a table torn by a power cut fails its checksum,
//! and parsing again is always possible, so durability buys nothing here.
//! Only the names this layout writes are ever removed.

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::buffer::Buffer;
use nasdaq_storage::cache::EntryCheck;
use nasdaq_storage::{DiskCache, ObjectInfo};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::quality::QualityReport;
use crate::report::FileLineage;
use crate::table::Summary;
use crate::writer::{OutputFormat, WriteOptions, encode_table};
use crate::{LoadRequest, Result, Table, schema};

/// Bumped whenever a change of the engine changes what a load of the same
/// bytes produces, so that no table made by older code is served.
const FORMAT: u32 = 1;

/// Tables kept at most, in bytes: past this, the entries stored longest ago go.
pub const DEFAULT_MAX_BYTES: u64 = 4 << 30;

/// A description larger than this is damage, not ours.
const MAX_DESCRIPTION: u64 = 64 << 20;

/// A partial file older than this belongs to no live write (one takes
/// seconds): removed when the next entry is stored.
const PARTIAL_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// The cache of parsed tables, inside a [`DiskCache`].
#[derive(Debug, Clone)]
pub struct TableCache {
    /// The cache directory: opened (created, claimed) only to store, so a
    /// load that stores nothing (a failed one) leaves nothing on disk.
    root: PathBuf,
    dir: PathBuf,
    max_bytes: u64,
}

/// What one table entry records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableEntry {
    /// The objects read, by address.
    pub sources: Vec<String>,
    /// SHA-256 of the request's options (dialect, filter, policies): an
    /// entry of the same sources and options with other object identities
    /// is an older version, removed when this one is stored.
    pub options: String,
    /// Rows in the table.
    pub rows: usize,
    /// Size of the `.arrow` file.
    pub bytes: u64,
    /// XXH3-64 of the `.arrow` file, hex.
    pub xxh3: String,
    /// When stored, RFC 3339.
    pub stored_at: String,
    /// The day (UTC) the rules were checked: a `future_date` finding is
    /// only true on that day, so such an entry serves on that day only.
    pub checked_on: String,
    /// Whether the `future_date` rule found rows.
    pub dated_after_check: bool,
    /// The facts the load report is made of.
    pub facts: StoredFacts,
}

/// The facts of a load that a served table reports again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredFacts {
    /// The prefix's address, for a load of several files.
    pub requested_uri: Option<String>,
    /// The table's shape.
    pub summary: Summary,
    /// Each file read, as the load that stored the entry read it.
    pub files: Vec<FileLineage>,
    /// The quality report.
    pub quality: QualityReport,
}

/// The key of one entry: the identities of the objects and the options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableKey {
    /// SHA-256 of everything, hex: the entry's file stem.
    pub(crate) id: String,
    /// SHA-256 of the options alone.
    pub(crate) options: String,
    /// The objects, as their identities were taken.
    pub(crate) objects: Vec<Identity>,
}

/// What makes an object the same object: if any of it changes, the bytes may have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) uri: String,
    pub(crate) size: u64,
    pub(crate) etag: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) last_modified: chrono::DateTime<chrono::Utc>,
}

/// A local object written this recently may be written again within the
/// same tick of its file system's clock (FAT counts in 2 s), keeping size,
/// time and inode: its table is not stored, as git distrusts "racy" files.
const SETTLE: chrono::TimeDelta = chrono::TimeDelta::seconds(3);

impl Identity {
    pub(crate) fn of(info: &ObjectInfo) -> Self {
        Self {
            uri: info.uri.clone(),
            size: info.size,
            etag: info.etag.clone(),
            version: info.version.clone(),
            last_modified: info.last_modified,
        }
    }

    /// Whether the file a load read is still this object. The entity tag
    /// decides where there is one: a listing and a GET of one object can
    /// disagree on the rest (S3 lists no version id; times to the
    /// millisecond in a listing, to the second in a GET's headers).
    pub(crate) fn matches(&self, read: &FileLineage) -> bool {
        let same_version = match (&self.version, &read.version) {
            (Some(listed), Some(read)) => listed == read,
            _ => true,
        };
        self.uri == read.uri
            && self.size == read.bytes
            && self.etag == read.etag
            && same_version
            && (self.etag.is_some()
                || Some(&self.last_modified.to_rfc3339()) == read.last_modified.as_ref())
    }

    /// Whether the object's identity can be trusted to change with its
    /// bytes by `now`: a store's entity tag does, a local file's time only
    /// once it is older than [`SETTLE`].
    fn settled(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        let local = self.uri.starts_with("file:") || self.uri.starts_with("memory:");
        !local || self.last_modified <= now - SETTLE
    }
}

impl TableKey {
    /// Whether every object's identity is settled by `now`: else what is
    /// read is not stored, and a rewrite in the same clock tick cannot be
    /// served the old table.
    pub(crate) fn settled(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.objects.iter().all(|object| object.settled(now))
    }

    /// The key of `request` over `objects` (one object, or a prefix's listing).
    pub(crate) fn new(request: &LoadRequest, objects: Vec<Identity>) -> Self {
        // Debug renderings: every field, in a fixed order (sets are sorted).
        let options = hex::encode(Sha256::digest(format!(
            "parse {:?}\npolicies {:?}\nfail_on_error_rules {}\nglob {:?}\n",
            request.parse, request.policies, request.fail_on_error_rules, request.glob
        )));
        let mut hasher = Sha256::new();
        hasher.update(format!(
            "nasdaq-data table cache {FORMAT}\ntool {}\noptions {options}\n",
            env!("CARGO_PKG_VERSION")
        ));
        for object in &objects {
            hasher.update(format!(
                "{:?} {} {:?} {:?} {}\n",
                object.uri,
                object.size,
                object.etag,
                object.version,
                object.last_modified.to_rfc3339()
            ));
        }
        Self {
            id: hex::encode(hasher.finalize()),
            options,
            objects,
        }
    }
}

/// A table served from the cache.
pub(crate) struct Hit {
    pub(crate) table: Table,
    pub(crate) facts: StoredFacts,
}

/// Whether `name` is one this layout writes.
fn is_table_name(name: &str) -> bool {
    let hash = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(rest) = name.strip_prefix('.')
        && name.ends_with(".partial")
    {
        return rest.split('.').next().is_some_and(hash);
    }
    [".arrow", ".json"]
        .iter()
        .any(|ext| name.strip_suffix(ext).is_some_and(hash))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> crate::Error + '_ {
    move |source| {
        nasdaq_storage::Error::Io {
            path: path.display().to_string(),
            source,
        }
        .into()
    }
}

/// The bytes of the table file at `path`, memory-mapped: the columns of the
/// served table point into the page cache, so a repeated load neither
/// copies the table nor faults in fresh memory for it.
fn map(path: &Path) -> std::io::Result<bytes::Bytes> {
    let file = std::fs::File::open(path)?;
    #[allow(
        unsafe_code,
        reason = "memory-mapping a file is unsafe by the OS's contract"
    )]
    // SAFETY: the mapping is only read. What is mapped is a file this cache
    // wrote and never modifies: entries are replaced by renaming a new file
    // over the name and removed by unlinking, and the inode of a mapped file
    // lives on unchanged. Only a process of this user truncating it in
    // place could make a read fault: the directory is checked to be this
    // user's, writable by no one else (`not_private`), before any read.
    let mapped = unsafe { memmap2::MmapOptions::new().populate().map(&file)? };
    Ok(bytes::Bytes::from_owner(mapped))
}

/// Why `dir` is not a directory only this user can write, if it is not:
/// only then may its files be mapped (see [`map`]) and trusted.
fn not_private(dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let found = match std::fs::symlink_metadata(dir) {
        Ok(found) => found,
        Err(err) => return Some(err.to_string()),
    };
    if !found.is_dir() {
        return Some("not a directory".to_owned());
    }
    let me = nix::unistd::geteuid().as_raw();
    if found.uid() != me {
        return Some(format!(
            "owned by user id {}, not this user ({me})",
            found.uid()
        ));
    }
    if found.mode() & 0o022 != 0 {
        return Some(format!(
            "writable by others (mode {:o}); `chmod go-w` it",
            found.mode() & 0o777
        ));
    }
    None
}

/// XXH3-64 of `bytes`, hex: fast enough to check a table on every read.
fn checksum(bytes: &[u8]) -> String {
    format!("{:016x}", twox_hash::XxHash3_64::oneshot(bytes))
}

impl TableCache {
    /// The table cache of `cache`, its directory created when missing; an
    /// error when another user could write there.
    pub fn open(cache: &DiskCache) -> Result<Self> {
        let tables = Self {
            root: cache.dir().to_path_buf(),
            dir: cache.tables_dir()?,
            max_bytes: DEFAULT_MAX_BYTES,
        };
        tables.check_private()?;
        Ok(tables)
    }

    fn check_private(&self) -> Result<()> {
        match not_private(&self.dir) {
            None => Ok(()),
            Some(problem) => Err(io(&self.dir)(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("{problem}; tables are kept only where no one else can write"),
            ))),
        }
    }

    /// The table cache in the cache directory `root`, nothing created: a
    /// lookup there misses until the first table is stored, which opens
    /// (creates, claims) the directory as [`DiskCache::open`] does.
    pub fn in_dir(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self {
            dir: root.join(nasdaq_storage::cache::TABLES_DIR),
            root,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }

    /// Keeps at most `bytes` of tables.
    pub fn with_max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn paths(&self, id: &str) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("{id}.arrow")),
            self.dir.join(format!("{id}.json")),
        )
    }

    /// The description of entry `id`, when readable (never through a link).
    fn description(&self, id: &str) -> Option<TableEntry> {
        let (_, json) = self.paths(id);
        let found = std::fs::symlink_metadata(&json).ok()?;
        if !found.is_file() || found.len() > MAX_DESCRIPTION {
            return None;
        }
        serde_json::from_slice(&std::fs::read(&json).ok()?).ok()
    }

    /// The table of entry `id`, if it has the recorded size and checksum
    /// and the canonical schema; else why not.
    fn read_table(&self, id: &str, entry: &TableEntry) -> std::result::Result<Table, String> {
        let (arrow_path, _) = self.paths(id);
        let found = std::fs::symlink_metadata(&arrow_path).map_err(|err| err.to_string())?;
        if !found.is_file() {
            return Err("the table is not a regular file".to_owned());
        }
        if found.len() != entry.bytes {
            return Err(format!(
                "size {} differs from the recorded {}",
                found.len(),
                entry.bytes
            ));
        }
        let bytes = map(&arrow_path).map_err(|err| err.to_string())?;
        if bytes.len() as u64 != entry.bytes {
            return Err("the table changed while it was opened".to_owned());
        }
        let actual = checksum(&bytes);
        if actual != entry.xxh3 {
            return Err(format!(
                "XXH3 {actual} differs from the recorded {}",
                entry.xxh3
            ));
        }
        // A checksum that matches vouches for the writer, not for the
        // decoder: a decoder stopped by what it read is a damaged entry.
        let decoded = std::panic::catch_unwind(|| decode_ipc(Buffer::from(bytes)))
            .map_err(|_| "the table could not be decoded".to_owned())?;
        let batches = decoded.map_err(|err| err.to_string())?;
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if rows != entry.rows {
            return Err(format!(
                "{rows} rows differ from the recorded {}",
                entry.rows
            ));
        }
        Ok(Table {
            schema: schema::canonical(),
            batches,
        })
    }

    /// The table stored under `key`, when it is sound and still true on `today`.
    pub(crate) fn get(&self, key: &TableKey, today: chrono::NaiveDate) -> Option<Hit> {
        // Never through a link (as `DiskCache::tables_dir` refuses one), nor
        // from a directory another user could have planted tables in; one
        // that is not there yet is a plain miss.
        if let Some(problem) = not_private(&self.dir) {
            if self.dir.exists() {
                tracing::warn!(dir = %self.dir.display(), %problem, "the table cache is not used");
            }
            return None;
        }
        let entry = self.description(&key.id)?;
        if entry.dated_after_check && entry.checked_on != today.to_string() {
            tracing::debug!(
                "the cached table flags dates after the day it was checked; parsing again"
            );
            return None;
        }
        match self.read_table(&key.id, &entry) {
            Ok(table) => Some(Hit {
                table,
                facts: entry.facts,
            }),
            Err(problem) => {
                // Replaced by the load that follows; a concurrent writer's
                // half-renamed pair looks the same, so nothing is removed here.
                tracing::warn!(
                    dir = %self.dir.display(),
                    entry = %key.id,
                    %problem,
                    "the cached table is unsound; parsing again"
                );
                None
            }
        }
    }

    /// Stores `table` under `key`; then removes older versions of the same
    /// sources and options, and the entries stored longest ago past the size cap.
    pub(crate) fn put(
        &self,
        key: &TableKey,
        table: &Table,
        facts: StoredFacts,
        today: chrono::NaiveDate,
    ) -> Result<()> {
        DiskCache::open(&self.root)?.tables_dir()?;
        self.check_private()?;
        self.remove_old_partials();
        let (arrow_path, json_path) = self.paths(&key.id);
        let partial = || {
            tempfile::Builder::new()
                .prefix(&format!(".{}.", key.id))
                .suffix(".partial")
                .tempfile_in(&self.dir)
                .map_err(io(&self.dir))
        };
        let data = partial()?;
        let file = data.as_file().try_clone().map_err(io(&arrow_path))?;
        let sink = Checksummed {
            inner: std::io::BufWriter::with_capacity(1 << 20, file),
            hasher: twox_hash::XxHash3_64::new(),
            bytes: 0,
        };
        let mut written = encode_table(
            table,
            OutputFormat::ArrowIpc,
            sink,
            &WriteOptions::default(),
        )
        .map_err(|source| crate::Error::Write {
            path: arrow_path.clone(),
            source,
        })?;
        std::io::Write::flush(&mut written).map_err(io(&arrow_path))?;
        let dated_after_check = facts
            .quality
            .rules
            .iter()
            .any(|r| r.rule == crate::Rule::FutureDate && r.count > 0);
        let entry = TableEntry {
            sources: key.objects.iter().map(|o| o.uri.clone()).collect(),
            options: key.options.clone(),
            rows: table.num_rows(),
            bytes: written.bytes,
            xxh3: format!("{:016x}", std::hash::Hasher::finish(&written.hasher)),
            stored_at: chrono::Utc::now().to_rfc3339(),
            checked_on: today.to_string(),
            dated_after_check,
            facts,
        };
        let mut description = partial()?;
        serde_json::to_writer(&mut description, &entry)
            .map_err(|err| io(&json_path)(std::io::Error::other(err)))?;
        // The table first: a reader between the renames sees the new table
        // with the old description, whose checksum refuses it.
        data.persist(&arrow_path)
            .map_err(|err| io(&arrow_path)(err.error))?;
        description
            .persist(&json_path)
            .map_err(|err| io(&json_path)(err.error))?;
        self.prune(&key.id, &entry);
        Ok(())
    }

    /// Removes other versions of `kept`'s sources under the same options,
    /// then the oldest entries while the tables exceed the size cap.
    fn prune(&self, kept_id: &str, kept: &TableEntry) {
        let Ok(ids) = self.ids() else { return };
        let mut others: Vec<(String, TableEntry)> = Vec::new();
        for id in ids.into_iter().filter(|id| id != kept_id) {
            match self.description(&id) {
                Some(entry) if entry.sources == kept.sources && entry.options == kept.options => {
                    self.remove(&id);
                }
                Some(entry) => others.push((id, entry)),
                None => {}
            }
        }
        let mut total: u64 = kept.bytes + others.iter().map(|(_, e)| e.bytes).sum::<u64>();
        others.sort_by(|a, b| a.1.stored_at.cmp(&b.1.stored_at));
        for (id, entry) in others {
            if total <= self.max_bytes {
                break;
            }
            self.remove(&id);
            total -= entry.bytes;
        }
    }

    fn remove(&self, id: &str) {
        let (arrow_path, json_path) = self.paths(id);
        let _ = std::fs::remove_file(json_path);
        let _ = std::fs::remove_file(arrow_path);
    }

    /// Removes partial files no live write can own (killed processes'),
    /// and tables whose description never came (a kill between the renames).
    fn remove_old_partials(&self) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for found in dir.flatten() {
            let name = found.file_name().to_string_lossy().into_owned();
            let old = found
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > PARTIAL_AGE);
            let orphan = name
                .strip_suffix(".arrow")
                .is_some_and(|id| !self.paths(id).1.exists());
            if is_table_name(&name) && old && (name.starts_with('.') || orphan) {
                let _ = std::fs::remove_file(found.path());
            }
        }
    }

    fn ids(&self) -> Result<Vec<String>> {
        nasdaq_storage::cache::entry_ids(&self.dir, is_table_name, &[".json", ".arrow"])
            .map_err(io(&self.dir))
    }

    /// Every readable entry, by its first source's address.
    pub fn entries(&self) -> Result<Vec<TableEntry>> {
        let mut entries: Vec<TableEntry> = self
            .ids()?
            .iter()
            .filter_map(|id| self.description(id))
            .collect();
        entries.sort_by(|a, b| a.sources.cmp(&b.sources));
        Ok(entries)
    }

    /// Reads and checks every entry; reports the unsound ones.
    pub fn verify(&self) -> Result<Vec<EntryCheck>> {
        Ok(self
            .ids()?
            .into_iter()
            .map(|id| {
                let entry = self.description(&id);
                let problem = match &entry {
                    None => Some("description missing or unreadable".to_owned()),
                    Some(entry) => self.read_table(&id, entry).err(),
                };
                EntryCheck {
                    uri: entry.map(|e| e.sources.join(", ")),
                    id,
                    problem,
                }
            })
            .collect())
    }

    /// Removes every entry and partial file; returns how many entries.
    /// Only names this layout writes are removed; links are removed as links.
    pub fn clear(&self) -> Result<usize> {
        let ids = self.ids()?;
        for found in std::fs::read_dir(&self.dir)
            .map_err(io(&self.dir))?
            .flatten()
        {
            let name = found.file_name().to_string_lossy().into_owned();
            let path = found.path();
            let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
            if is_table_name(&name) && !is_dir {
                std::fs::remove_file(&path).map_err(io(&path))?;
            }
        }
        Ok(ids.len())
    }
}

/// A writer that checksums and counts what passes through it.
struct Checksummed<W> {
    inner: W,
    hasher: twox_hash::XxHash3_64,
    bytes: u64,
}

impl<W: std::io::Write> std::io::Write for Checksummed<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(data)?;
        std::hash::Hasher::write(&mut self.hasher, &data[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn not_ipc(what: &str) -> arrow::error::ArrowError {
    arrow::error::ArrowError::IpcError(format!("not an Arrow IPC file: {what}"))
}

/// The batches of an Arrow IPC file held in `buffer`, without copying
/// them: each batch's columns point into the buffer.
fn decode_ipc(buffer: Buffer) -> std::result::Result<Vec<RecordBatch>, arrow::error::ArrowError> {
    use arrow::ipc::reader::{FileDecoder, read_footer_length};
    let trailer_start = buffer
        .len()
        .checked_sub(10)
        .ok_or_else(|| not_ipc("too short"))?;
    let trailer: [u8; 10] = buffer[trailer_start..]
        .try_into()
        .map_err(|_| not_ipc("no trailer"))?;
    let footer_len = read_footer_length(trailer)?;
    let footer_start = trailer_start
        .checked_sub(footer_len)
        .ok_or_else(|| not_ipc("footer longer than the file"))?;
    let footer = arrow::ipc::root_as_footer(&buffer[footer_start..trailer_start])
        .map_err(|err| not_ipc(&err.to_string()))?;
    let schema = arrow::ipc::convert::try_fb_to_schema(
        footer.schema().ok_or_else(|| not_ipc("no schema"))?,
    )?;
    let canonical = schema::canonical();
    if schema.fields() != canonical.fields() {
        return Err(not_ipc("not the canonical schema"));
    }
    // The canonical schema has no dictionary.
    if footer
        .dictionaries()
        .is_some_and(|blocks| !blocks.is_empty())
    {
        return Err(not_ipc("dictionary blocks"));
    }
    let decoder = FileDecoder::new(canonical, footer.version());
    let mut batches = Vec::new();
    for block in footer.recordBatches().iter().flatten() {
        let data = record_batch_block(&buffer, footer_start, block)?;
        if let Some(batch) = decoder.read_record_batch(block, &data)? {
            batches.push(batch);
        }
    }
    Ok(batches)
}

/// The bytes of one record batch block, checked for what arrow's decoder
/// takes on trust: that the block lies before `end` (the footer), its
/// message is framed, and each of its buffers lies in its body. (Array
/// contents are the decoder's own validation.)
fn record_batch_block(
    buffer: &Buffer,
    end: usize,
    block: &arrow::ipc::Block,
) -> std::result::Result<Buffer, arrow::error::ArrowError> {
    // Places and lengths as written, which damage can make negative or huge.
    let offset = usize::try_from(block.offset()).ok();
    let meta = usize::try_from(block.metaDataLength()).ok();
    let body = usize::try_from(block.bodyLength()).ok();
    let (Some(offset), Some(meta), Some(body)) = (offset, meta, body) else {
        return Err(not_ipc("a block of impossible place or length"));
    };
    let inside = meta
        .checked_add(body)
        .and_then(|length| offset.checked_add(length))
        .is_some_and(|block_end| block_end <= end);
    if !inside {
        return Err(not_ipc("a block outside the file"));
    }
    if meta < 8 {
        return Err(not_ipc("a block's message is cut short"));
    }
    let data = buffer.slice_with_length(offset, meta + body);
    let framed = &data[..meta];
    // An encapsulated message: [continuation marker,] length, flatbuffer.
    let start = if framed[..4] == [0xff; 4] { 8 } else { 4 };
    let message =
        arrow::ipc::root_as_message(&framed[start..]).map_err(|err| not_ipc(&err.to_string()))?;
    let batch = message
        .header_as_record_batch()
        .ok_or_else(|| not_ipc("a block that is no record batch"))?;
    for buffer in batch.buffers().iter().flatten() {
        let inside = usize::try_from(buffer.offset())
            .ok()
            .zip(usize::try_from(buffer.length()).ok())
            .and_then(|(offset, length)| offset.checked_add(length))
            .is_some_and(|buffer_end| buffer_end <= body);
        if !inside {
            return Err(not_ipc("a buffer outside its block"));
        }
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_names_are_ours() {
        let id = "a".repeat(64);
        assert!(is_table_name(&format!("{id}.arrow")));
        assert!(is_table_name(&format!("{id}.json")));
        assert!(is_table_name(&format!(".{id}.x1Y2.partial")));
        assert!(!is_table_name("notes.json"));
        assert!(!is_table_name(&format!("{id}.data")));
        assert!(!is_table_name(&format!(".{}.partial", "a".repeat(63))));
    }

    fn table() -> Table {
        use arrow::array::{ArrayRef, Date32Array, Float64Array, StringArray, UInt64Array};
        use std::sync::Arc;
        let price = || Arc::new(Float64Array::from(vec![1.0, 2.0])) as ArrayRef;
        let batch = RecordBatch::try_new(
            schema::canonical(),
            vec![
                Arc::new(Date32Array::from(vec![19724, 19725])),
                Arc::new(StringArray::from(vec!["AAPL", "AAPL"])),
                price(),
                price(),
                price(),
                price(),
                price(),
                Arc::new(UInt64Array::from(vec![10, 20])),
            ],
        )
        .unwrap();
        Table {
            schema: schema::canonical(),
            batches: vec![batch],
        }
    }

    fn facts(future_rows: u64) -> StoredFacts {
        let mut quality = QualityReport::default();
        quality.rules.push(crate::quality::RuleOutcome {
            rule: crate::Rule::FutureDate,
            policy: crate::Policy::Warn,
            count: future_rows,
            examples: Vec::new(),
        });
        StoredFacts {
            requested_uri: None,
            summary: Summary::default(),
            files: Vec::new(),
            quality,
        }
    }

    fn key(uri: &str) -> TableKey {
        let object = Identity {
            uri: uri.to_owned(),
            size: 1,
            etag: None,
            version: None,
            last_modified: chrono::DateTime::UNIX_EPOCH,
        };
        TableKey::new(&LoadRequest::new("k"), vec![object])
    }

    #[test]
    fn a_future_date_finding_is_served_on_its_day_only() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TableCache::open(&DiskCache::open(dir.path()).unwrap()).unwrap();
        let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 2).unwrap();
        let next = day.succ_opt().unwrap();
        let (flagged, clean) = (key("memory:///a.csv"), key("memory:///b.csv"));
        cache.put(&flagged, &table(), facts(1), day).unwrap();
        cache.put(&clean, &table(), facts(0), day).unwrap();
        let served = cache.get(&flagged, day).expect("served on its day");
        assert_eq!(served.table.batches, table().batches);
        assert!(
            cache.get(&flagged, next).is_none(),
            "a day later the rule may judge otherwise"
        );
        assert!(
            cache.get(&clean, next).is_some(),
            "no date after the check day: still true"
        );
    }

    #[test]
    fn the_oldest_tables_go_past_the_size_cap() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TableCache::open(&DiskCache::open(dir.path()).unwrap()).unwrap();
        let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 2).unwrap();
        cache
            .put(&key("memory:///1.csv"), &table(), facts(0), day)
            .unwrap();
        let one = cache.entries().unwrap()[0].bytes;
        let cache = cache.with_max_bytes(2 * one);
        for name in ["2", "3"] {
            std::thread::sleep(std::time::Duration::from_millis(5));
            let uri = format!("memory:///{name}.csv");
            cache.put(&key(&uri), &table(), facts(0), day).unwrap();
        }
        let kept: Vec<Vec<String>> = cache
            .entries()
            .unwrap()
            .into_iter()
            .map(|e| e.sources)
            .collect();
        assert_eq!(kept, [["memory:///2.csv"], ["memory:///3.csv"]]);
        assert!(cache.get(&key("memory:///1.csv"), day).is_none());
    }

    /// A cache in a temporary directory holding one table, stored on `day`.
    fn one_stored_table() -> (tempfile::TempDir, TableCache, chrono::NaiveDate, TableKey) {
        let dir = tempfile::tempdir().unwrap();
        let cache = TableCache::open(&DiskCache::open(dir.path()).unwrap()).unwrap();
        let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 2).unwrap();
        let at = key("memory:///a.csv");
        cache.put(&at, &table(), facts(0), day).unwrap();
        (dir, cache, day, at)
    }

    #[test]
    fn a_damaged_footer_is_a_miss_never_a_panic() {
        let (_dir, cache, day, at) = one_stored_table();
        let (arrow_path, json_path) = cache.paths(&at.id);
        let good = std::fs::read(&arrow_path).unwrap();
        let entry = cache.description(&at.id).unwrap();
        // Every byte of the footer and trailer in turn set to each of a few
        // values, with the checksum made to match: what a writer of both
        // files could plant. Each is a miss or the true table.
        let footer = good.len().saturating_sub(400);
        let mut served = 0;
        // Decoding must not even panic (the load would survive one, but the
        // user would read a panic message): count them on this thread.
        thread_local!(static PANICS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) });
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| PANICS.with(|p| p.set(p.get() + 1))));
        for position in footer..good.len() {
            for value in [0x00, 0x7f, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[position] = value;
                std::fs::write(&arrow_path, &bad).unwrap();
                let planted = TableEntry {
                    xxh3: checksum(&bad),
                    bytes: bad.len() as u64,
                    ..entry.clone()
                };
                std::fs::write(&json_path, serde_json::to_vec(&planted).unwrap()).unwrap();
                if let Some(hit) = cache.get(&at, day) {
                    assert_eq!(hit.table.num_rows(), 2);
                    served += 1;
                }
            }
        }
        std::panic::set_hook(previous);
        assert_eq!(
            PANICS.with(std::cell::Cell::get),
            0,
            "no panic while decoding"
        );
        assert!(served < (good.len() - footer) * 4, "damage is found");
    }

    #[test]
    fn a_directory_others_can_write_is_not_used() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, cache, day, at) = one_stored_table();
        assert!(cache.get(&at, day).is_some());
        let mode = |m: u32| {
            std::fs::set_permissions(cache.dir(), std::fs::Permissions::from_mode(m)).unwrap()
        };
        mode(0o770);
        assert!(cache.get(&at, day).is_none(), "group-writable: not read");
        let err = cache.put(&at, &table(), facts(0), day).unwrap_err();
        assert!(err.to_string().contains("writable by others"), "{err}");
        mode(0o700);
        assert!(cache.get(&at, day).is_some());
    }

    #[test]
    fn only_settled_local_files_are_stored_and_tags_decide_matches() {
        let now: chrono::DateTime<chrono::Utc> = "2024-01-02T12:00:00Z".parse().unwrap();
        let object = |uri: &str, seconds_ago: i64| Identity {
            uri: uri.to_owned(),
            size: 10,
            etag: Some("e1".to_owned()),
            version: None,
            last_modified: now - chrono::TimeDelta::seconds(seconds_ago),
        };
        let request = LoadRequest::new("k");
        let settled = |o: Identity| TableKey::new(&request, vec![o]).settled(now);
        assert!(!settled(object("file:///d/a.csv", 1)));
        assert!(!settled(object("memory:///sample.csv", 0)));
        assert!(settled(object("file:///d/a.csv", 4)));
        assert!(
            settled(object("s3://b/a.csv", 0)),
            "a store's tag changes with each write"
        );

        let listed = object("s3://b/a.csv", 0);
        let read = |etag: &str, version: Option<&str>, time: &str| FileLineage {
            uri: "s3://b/a.csv".to_owned(),
            bytes: 10,
            etag: Some(etag.to_owned()),
            version: version.map(str::to_owned),
            last_modified: Some(time.to_owned()),
            ..FileLineage::default()
        };
        assert!(listed.matches(&read("e1", Some("v7"), "2024-01-02T12:00:00+00:00")));
        assert!(listed.matches(&read("e1", None, "2024-01-02T11:59:59+00:00")));
        assert!(!listed.matches(&read("e2", None, "2024-01-02T12:00:00+00:00")));
    }

    #[test]
    fn keys_change_with_identity_and_options() {
        let object = Identity {
            uri: "file:///d/NASDAQ.csv".to_owned(),
            size: 10,
            etag: Some("e1".to_owned()),
            version: None,
            last_modified: "2024-01-02T00:00:00Z".parse().unwrap(),
        };
        let request = LoadRequest::new("NASDAQ.csv");
        let base = TableKey::new(&request, vec![object.clone()]);
        assert_eq!(base, TableKey::new(&request, vec![object.clone()]));
        let changed = [
            Identity {
                size: 11,
                ..object.clone()
            },
            Identity {
                etag: Some("e2".to_owned()),
                ..object.clone()
            },
            Identity {
                last_modified: "2024-01-03T00:00:00Z".parse().unwrap(),
                ..object.clone()
            },
            Identity {
                version: Some("v2".to_owned()),
                ..object.clone()
            },
        ];
        for other in changed {
            let key = TableKey::new(&request, vec![other]);
            assert_ne!(key.id, base.id);
            assert_eq!(key.options, base.options);
        }
        let mut filtered = request.clone();
        filtered.parse.filter.from = chrono::NaiveDate::from_ymd_opt(2024, 1, 1);
        let key = TableKey::new(&filtered, vec![object.clone()]);
        assert_ne!(key.id, base.id);
        assert_ne!(key.options, base.options);
        let mut strict = request.clone();
        strict.policies = crate::Policies::strict();
        assert_ne!(TableKey::new(&strict, vec![object]).id, base.id);
    }
}
