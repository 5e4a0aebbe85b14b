//! Writing a Parquet dataset on object storage (or a local folder): every
//! source object under a prefix loaded in parallel, its rows split into
//! Hive partitions, each part file named by its content hash, and a new
//! version of the manifest committed last with a create-only write.
//!
//! Appending loads only the source objects the manifest has not seen (by
//! ETag, then SHA-256); a source whose bytes changed has its old files
//! replaced by the new ones in the same commit. A (date, ticker) pair is
//! never held twice: a new source whose rows collide with another source's
//! fails the run before anything is committed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::RecordBatch;
use bytes::Bytes;
use futures::{FutureExt, StreamExt, TryStreamExt};
use nasdaq_config::SourceSpec;
use nasdaq_core::dataset::{
    self, DataFile, MANIFEST_DIR, Manifest, Partitioning, SourceEntry, manifest_key,
};
use nasdaq_core::{LoadReport, Loader, Table, WriteOptions};
use nasdaq_storage::{
    MarketSource, ObjectInfo, ObjectStoreSource, Progress, PutOptions, SharedBar,
};
use serde::Serialize;

use crate::session::{LoadOptions, Session};
use crate::{Error, Result};

/// Part files no manifest lists are removed once they are this old: a run
/// killed outright (SIGKILL, a lost machine) cannot remove its own, and a
/// younger one may belong to a writer still at work (a writer also checks
/// that its files are all there before it commits).
const ORPHAN_GRACE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// How many times a run is tried when other writers commit first.
const ATTEMPTS: u32 = 5;

/// A dataset write as a front end states it.
#[derive(Debug, Clone)]
pub struct DatasetOptions {
    /// The source (a prefix, a folder or one object), filters, dialect,
    /// quality policies, cache and progress; `output` is ignored.
    pub load: LoadOptions,
    /// The dataset: `s3://BUCKET/PREFIX/`, `file:///dir/` or a folder.
    pub output: String,
    /// The folder layout.
    pub partition_by: Partitioning,
    /// Add to the dataset instead of replacing it: only sources the
    /// manifest has not seen are loaded.
    pub append: bool,
    /// A part file is closed once it reaches about this many bytes.
    pub target_file_bytes: usize,
    /// Source objects loaded at once.
    pub concurrency: usize,
}

impl DatasetOptions {
    /// A dataset at `output` from the source of `load`: unpartitioned,
    /// replaced, 128 MiB files, four loads at once.
    pub fn new(load: LoadOptions, output: impl Into<String>) -> Self {
        Self {
            load,
            output: output.into(),
            partition_by: Partitioning::None,
            append: false,
            target_file_bytes: 128 * 1024 * 1024,
            concurrency: 4,
        }
    }

    /// Part files of about `mib` MiB (1 to 65536; none: the default).
    pub fn with_target_file_mib(mut self, mib: Option<u32>) -> Self {
        if let Some(mib) = mib {
            self.target_file_bytes = (mib.clamp(1, 65_536) as usize) << 20;
        }
        self
    }

    /// `jobs` source files loaded at once (1 to 64; none: the default).
    pub fn with_concurrency(mut self, jobs: Option<usize>) -> Self {
        if let Some(jobs) = jobs {
            self.concurrency = jobs.clamp(1, 64);
        }
        self
    }
}

/// What a dataset write did.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetReport {
    /// The dataset's address.
    pub dataset: String,
    /// Its version now (0: there is none yet).
    pub version: u64,
    /// Whether this run committed a new version (false: nothing changed).
    pub committed: bool,
    /// The folder layout.
    pub partition_by: Partitioning,
    /// Source objects listed.
    pub sources: usize,
    /// Sources loaded and written for the first time.
    pub added: Vec<String>,
    /// Sources whose new bytes replaced the rows of their earlier version.
    pub replaced: Vec<String>,
    /// Sources already in the dataset, unchanged.
    pub unchanged: usize,
    /// Files this version added, by path under the dataset.
    pub files_written: Vec<String>,
    /// Files this version no longer lists (removed after the commit).
    pub files_removed: Vec<String>,
    /// Part files of runs that died before committing, listed by no
    /// manifest and older than a day, removed by this run.
    pub orphans_removed: Vec<String>,
    /// Rows in the dataset now.
    pub rows: u64,
    /// Rows in the files written.
    pub rows_written: u64,
    /// Runs it took (more than one when another writer committed first).
    pub attempts: u32,
    /// The load report of each source loaded, with its lineage.
    pub loads: Vec<LoadReport>,
    /// Wall time, milliseconds.
    pub elapsed_ms: u64,
}

/// What loading one source yielded.
struct SourceLoad {
    entry: SourceEntry,
    /// Files written, already at their keys.
    files: Vec<DataFile>,
    /// Date and ticker of every row, to find pairs held twice.
    keys: Option<RecordBatch>,
    report: Option<LoadReport>,
}

/// Why an attempt did not commit.
enum Attempt {
    Done(Box<DatasetReport>),
    /// Another writer committed this version first.
    Lost,
}

impl Session {
    /// Writes (or appends to) the Parquet dataset `options.output` from the
    /// source objects of `options.load`. Nothing is visible in the dataset
    /// until the new manifest is committed; a failed or interrupted run
    /// removes the files it wrote.
    pub async fn write_dataset(&self, options: &DatasetOptions) -> Result<DatasetReport> {
        let started = Instant::now();
        let (out, prefix) = self.dataset_location(&options.output).await?;
        let mut load = options.load.clone();
        load.output = None;
        let plan = self.plan(&load).await?;
        let candidate = plan.candidates.first().ok_or_else(|| Error::Internal {
            message: "no source planned".to_owned(),
        })?;
        let source = candidate.source.clone();
        let source_prefix = plan.key.clone();
        let dataset_uri = out.uri(&prefix);
        if source_prefix.is_empty() || source_prefix.ends_with('/') {
            let source_uri = source.uri(&source_prefix);
            if dataset_uri.starts_with(&source_uri) || source_uri.starts_with(&dataset_uri) {
                return Err(Error::BadTarget {
                    location: options.output.clone(),
                    reason: format!(
                        "the dataset and the source {source_uri} overlap: the dataset's own files would be read as sources; write it outside the source prefix"
                    ),
                });
            }
        }
        for attempt in 1..=ATTEMPTS {
            let writer = Writer {
                session: self,
                options,
                load: &load,
                out: out.clone(),
                prefix: prefix.clone(),
                source: source.clone(),
                source_prefix: source_prefix.clone(),
            };
            match writer.attempt().await? {
                Attempt::Done(mut report) => {
                    report.attempts = attempt;
                    report.elapsed_ms = started.elapsed().as_millis() as u64;
                    return Ok(*report);
                }
                Attempt::Lost => {
                    tracing::info!(attempt, "another writer committed first; starting again");
                    // Jittered, growing pauses, so that writers who lost
                    // together do not meet again at the next commit.
                    let pause =
                        50 * u64::from(attempt) + fastrand::u64(0..200 * u64::from(attempt));
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
            }
        }
        Err(Error::Conflict {
            dataset: dataset_uri,
            attempts: ATTEMPTS,
        })
    }

    /// The store and prefix (empty or ending in `/`) of a dataset address;
    /// a local folder is created.
    async fn dataset_location(&self, text: &str) -> Result<(Arc<dyn MarketSource>, String)> {
        match SourceSpec::parse(text)? {
            SourceSpec::File { path } => {
                std::fs::create_dir_all(&path).map_err(|source| nasdaq_storage::Error::Io {
                    path: path.display().to_string(),
                    source,
                })?;
                Ok((Arc::new(ObjectStoreSource::local(&path)?), String::new()))
            }
            SourceSpec::S3 { .. } => {
                let target = self.s3_target(Some(text))?;
                let mut prefix = target.key.clone();
                if !prefix.is_empty() && !prefix.ends_with('/') {
                    prefix.push('/');
                }
                Ok((Arc::new(target.open().await?), prefix))
            }
        }
    }
}

/// One run against one version of the manifest.
struct Writer<'a> {
    session: &'a Session,
    options: &'a DatasetOptions,
    load: &'a LoadOptions,
    out: Arc<dyn MarketSource>,
    prefix: String,
    source: Arc<dyn MarketSource>,
    source_prefix: String,
}

impl Writer<'_> {
    async fn attempt(&self) -> Result<Attempt> {
        let (current, newest) = self.latest().await?;
        // Appending must keep the layout; a rewrite replaces every file anyway.
        if let Some(current) = &current
            && self.options.append
            && current.partition_by != self.options.partition_by
        {
            return Err(Error::BadTarget {
                location: self.options.output.clone(),
                reason: format!(
                    "the dataset is partitioned by {}, not {}; write to it with the same partitioning, or write a new dataset elsewhere",
                    current.partition_by, self.options.partition_by
                ),
            });
        }
        let selection = self.selection();
        if let Some(current) = &current
            && self.options.append
            && current.selection != selection
        {
            return Err(Error::BadTarget {
                location: self.options.output.clone(),
                reason: format!(
                    "the dataset holds the rows of {}; this append asks for {selection}: append with the same selection, or rewrite the dataset",
                    current.selection
                ),
            });
        }
        // The newest version's number even when its manifest is damaged
        // (a rewrite then replaces it).
        let version = newest;
        let orphans_removed = self.inspect(current.as_ref(), newest).await?;
        // Replacing: the new version starts empty and drops every old file.
        let base = match (&current, self.options.append) {
            (Some(current), true) => current.clone(),
            _ => Manifest::empty(self.options.partition_by),
        };
        let objects = match self.objects().await {
            // An emptied landing area: nothing new for the dataset.
            Err(Error::Load(nasdaq_core::Error::NoFiles { .. }))
                if self.options.append && current.is_some() =>
            {
                Vec::new()
            }
            other => other?,
        };
        let mut unchanged = 0;
        let mut wanted = Vec::new();
        for object in &objects {
            match base.source(&object.uri) {
                Some(seen) if seen.etag.is_some() && seen.etag == object.etag => unchanged += 1,
                seen => wanted.push((object.clone(), seen.cloned())),
            }
        }
        let progress = self.load.progress.clone().map(|bar| {
            let total = wanted.iter().map(|(o, _)| o.size).sum();
            bar.start(&format!("{} source file(s)", wanted.len()), Some(total));
            Arc::new(SharedBar(bar)) as Arc<dyn Progress>
        });
        let written = Uncommitted::new(self.out.clone(), self.prefix.clone());
        let loads: Result<Vec<SourceLoad>> = futures::stream::iter(wanted)
            .map(|(object, seen)| {
                // Boxed: a stream of unboxed borrowing futures is not
                // `Send` for every lifetime, which front ends need.
                self.load_one(object, seen, progress.clone(), &written)
                    .boxed()
            })
            .buffer_unordered(self.options.concurrency.max(1))
            .try_collect()
            .await;
        let loads = match loads {
            Ok(loads) => loads,
            Err(err) => {
                written.discard().await;
                return Err(err);
            }
        };
        if let Some(bar) = &self.load.progress {
            bar.finish();
        }
        // Sources whose bytes are new: their earlier files go.
        let mut replaced = Vec::new();
        let mut added = Vec::new();
        let mut etag_only = false;
        for load in &loads {
            // No keys: the same bytes under a new ETag, nothing written.
            match (base.source(&load.entry.uri), load.keys.is_none()) {
                (Some(_), true) => etag_only = true,
                (Some(_), false) => replaced.push(load.entry.uri.clone()),
                (None, _) => added.push(load.entry.uri.clone()),
            }
        }
        let kept: Vec<DataFile> = base
            .files
            .iter()
            .filter(|f| !replaced.contains(&f.source))
            .cloned()
            .collect();
        match self.refuse_pairs_held_twice(&loads, &kept).await {
            Ok(()) => {}
            // A kept file gone: another writer replaced it meanwhile.
            Err(Error::Load(nasdaq_core::Error::Storage(nasdaq_storage::Error::NotFound {
                ..
            }))) => {
                written.discard().await;
                return Ok(Attempt::Lost);
            }
            Err(err) => {
                written.discard().await;
                return Err(err);
            }
        }

        let mut next = base.clone();
        next.version = version + 1;
        next.files = kept;
        for load in &loads {
            next.files.extend(load.files.iter().cloned());
            next.sources.retain(|s| s.uri != load.entry.uri);
            next.sources.push(load.entry.clone());
        }
        next.files.sort_by(|a, b| a.path.cmp(&b.path));
        next.files.dedup_by(|a, b| a.path == b.path);
        next.sources.sort_by(|a, b| a.uri.cmp(&b.uri));
        next.rows = next.files.iter().map(|f| f.rows).sum();
        next.written_by = concat!("nasdaq-data ", env!("CARGO_PKG_VERSION")).to_owned();
        next.written_at = chrono::Utc::now().to_rfc3339();
        next.selection = selection;
        next.run_id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let listed: BTreeSet<&str> = next.files.iter().map(|f| f.path.as_str()).collect();
        let previous: Vec<String> = current
            .iter()
            .flat_map(|m| m.files.iter().map(|f| f.path.clone()))
            .collect();
        let removed: Vec<String> = previous
            .iter()
            .filter(|p| !listed.contains(p.as_str()))
            .cloned()
            .collect();
        let files_written: Vec<String> = loads
            .iter()
            .flat_map(|l| l.files.iter().map(|f| f.path.clone()))
            .filter(|p| !previous.contains(p))
            .collect();
        let nothing_new = current.is_some()
            && files_written.is_empty()
            && removed.is_empty()
            && !etag_only
            && next.sources.len() == base.sources.len();
        let mut report = DatasetReport {
            dataset: self.out.uri(&self.prefix),
            version,
            committed: false,
            partition_by: self.options.partition_by,
            sources: objects.len(),
            added,
            replaced,
            unchanged,
            files_written,
            files_removed: removed.clone(),
            orphans_removed,
            rows: base.rows,
            rows_written: loads
                .iter()
                .flat_map(|l| l.files.iter().map(|f| f.rows))
                .sum(),
            attempts: 1,
            loads: loads.iter().filter_map(|l| l.report.clone()).collect(),
            elapsed_ms: 0,
        };
        if nothing_new {
            written.discard().await;
            return Ok(Attempt::Done(Box::new(report)));
        }
        // Every file the new version lists must be there: a sweep by a
        // writer that took ours for a dead run's would break the dataset.
        for file in &next.files {
            match self
                .out
                .head(&format!("{}{}", self.prefix, file.path))
                .await
            {
                Ok(_) => {}
                Err(nasdaq_storage::Error::NotFound { .. }) => {
                    tracing::info!(path = file.path, "a file to commit is gone; starting again");
                    written.discard().await;
                    return Ok(Attempt::Lost);
                }
                Err(err) => {
                    written.discard().await;
                    return Err(err.into());
                }
            }
        }
        let body = serde_json::to_vec_pretty(&next).map_err(|err| Error::Internal {
            message: format!("the manifest does not serialise: {err}"),
        })?;
        let key = manifest_key(&self.prefix, next.version);
        // The commit runs to its end even if this run is dropped (Ctrl-C)
        // while it is in flight; the cleanup of a dropped run waits for it
        // (the lock), then keeps what the newest manifest lists.
        let lock = written.commit.clone().lock_owned().await;
        let out = self.out.clone();
        let commit_key = key.clone();
        let commit = tokio::spawn(async move {
            let put = out
                .put(
                    &commit_key,
                    body.into(),
                    PutOptions {
                        create_only: true,
                        ..PutOptions::default()
                    },
                )
                .await;
            drop(lock);
            put
        })
        .await
        .map_err(|err| Error::Internal {
            message: format!("the commit stopped: {err}"),
        })?;
        match commit {
            Ok(_) => {}
            Err(nasdaq_storage::Error::AlreadyExists { .. })
                if self.is_ours(&next.run_id, next.version).await =>
            {
                // A retried request found its own first try committed.
            }
            Err(nasdaq_storage::Error::AlreadyExists { .. }) => {
                written.discard().await;
                return Ok(Attempt::Lost);
            }
            Err(err) => {
                written.discard().await;
                return Err(err.into());
            }
        }
        written.keep();
        tracing::info!(
            version = next.version,
            files = next.files.len(),
            "committed"
        );
        // Readers of the manifest never see the removed files again;
        // readers that glob the folders stop seeing them now.
        for path in &removed {
            if let Err(err) = self.out.delete(&format!("{}{path}", self.prefix)).await {
                tracing::warn!(%err, path, "a file the dataset no longer lists could not be removed");
            }
        }
        report.version = next.version;
        report.committed = true;
        report.rows = next.rows;
        Ok(Attempt::Done(Box::new(report)))
    }

    /// Looks at everything under the dataset's prefix: refuses a location
    /// that holds other files and no manifest (not a dataset: its files are
    /// not ours to replace), and removes part files as we name them that no
    /// manifest lists and that are older than [`ORPHAN_GRACE`]. Removal is
    /// best effort: a failure is logged and the run goes on.
    async fn inspect(&self, current: Option<&Manifest>, newest: u64) -> Result<Vec<String>> {
        let objects = self.out.list(&self.prefix).await?;
        let path_of = |key: &str| key[self.prefix.len().min(key.len())..].to_owned();
        let layouts = [Partitioning::None, Partitioning::Year, Partitioning::Month];
        if newest == 0 {
            let foreign = objects.iter().map(|o| path_of(&o.key)).find(|path| {
                !path.starts_with(MANIFEST_DIR)
                    && !layouts.iter().any(|l| dataset::is_part_path(path, *l))
            });
            if let Some(path) = foreign {
                return Err(Error::BadTarget {
                    location: self.options.output.clone(),
                    reason: format!(
                        "holds files that are not a dataset's (such as {path}) and no manifest; write the dataset to a location of its own"
                    ),
                });
            }
        }
        let Some(current) = current else {
            return Ok(Vec::new());
        };
        // A version committed while we listed counts too.
        let (newer, _) = self.latest().await?;
        let listed: BTreeSet<&str> = current
            .files
            .iter()
            .chain(newer.iter().flat_map(|m| m.files.iter()))
            .map(|f| f.path.as_str())
            .collect();
        let cutoff = chrono::Utc::now()
            - chrono::Duration::from_std(ORPHAN_GRACE)
                .unwrap_or_else(|_| chrono::Duration::days(1));
        let mut removed = Vec::new();
        for object in objects {
            let path = path_of(&object.key);
            if !dataset::is_part_path(&path, current.partition_by)
                || listed.contains(path.as_str())
                || object.last_modified >= cutoff
            {
                continue;
            }
            match self.out.delete(&object.key).await {
                Ok(()) => {
                    tracing::info!(path, "removed a part file no manifest lists");
                    removed.push(path);
                }
                Err(err) => {
                    tracing::warn!(%err, path, "a part file no manifest lists could not be removed")
                }
            }
        }
        Ok(removed)
    }

    /// The selection this run's load options make.
    fn selection(&self) -> dataset::Selection {
        let mut tickers: Vec<String> = self
            .load
            .tickers
            .iter()
            .map(|t| t.trim().to_ascii_uppercase())
            .filter(|t| !t.is_empty())
            .collect();
        tickers.sort();
        tickers.dedup();
        dataset::Selection {
            tickers,
            from: self.load.from.map(|d| d.to_string()),
            to: self.load.to.map(|d| d.to_string()),
            dialect: self.load.dialect.clone(),
            ticker: self.load.ticker.clone(),
            strict: self.load.strict,
        }
    }

    /// Whether the manifest of `version` is the one run `run_id` committed.
    async fn is_ours(&self, run_id: &str, version: u64) -> bool {
        let key = manifest_key(&self.prefix, version);
        match dataset::latest_manifest(&*self.out, &self.prefix, [key.as_str()]).await {
            Ok(Some(manifest)) => manifest.run_id == run_id,
            _ => false,
        }
    }

    /// The newest manifest of the dataset and its version number (0: none).
    /// Rewriting (not appending), a damaged newest manifest is passed over
    /// with a warning: the rewrite commits the next version.
    async fn latest(&self) -> Result<(Option<Manifest>, u64)> {
        let listed = self
            .out
            .list(&format!("{}{MANIFEST_DIR}", self.prefix))
            .await?;
        let newest = dataset::newest_manifest(&self.prefix, listed.iter().map(|o| o.key.as_str()))
            .map_or(0, |(version, _)| version);
        match dataset::latest_manifest(
            &*self.out,
            &self.prefix,
            listed.iter().map(|o| o.key.as_str()),
        )
        .await
        {
            Ok(manifest) => Ok((manifest, newest)),
            Err(err @ nasdaq_core::Error::BadManifest { .. }) if !self.options.append => {
                tracing::warn!(%err, "the newest manifest is damaged; rewriting the dataset over it");
                Ok((None, newest))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// The source objects: every match under the prefix, or the one object.
    async fn objects(&self) -> Result<Vec<ObjectInfo>> {
        if self.source_prefix.is_empty() || self.source_prefix.ends_with('/') {
            let listed = self.source.list(&self.source_prefix).await?;
            Ok(nasdaq_core::matching_objects(
                listed,
                &self.source_prefix,
                &self.source.uri(&self.source_prefix),
                self.load.glob.as_deref(),
            )?)
        } else {
            Ok(vec![self.source.head(&self.source_prefix).await?])
        }
    }

    /// Loads one source object and writes its part files.
    async fn load_one(
        &self,
        object: ObjectInfo,
        seen: Option<SourceEntry>,
        progress: Option<Arc<dyn Progress>>,
        written: &Uncommitted,
    ) -> Result<SourceLoad> {
        let mut request = self.session.request(self.load, object.key.clone());
        request.glob = None;
        let loaded = Loader::new(self.source.clone())
            .with_read_options(self.session.read_options(progress))
            .load(&request)
            .await?;
        let mut report = loaded.report;
        report.attach(nasdaq_core::RunFacts {
            source_label: None,
            credentials: None,
            settings_hash: Some(self.session.settings_hash()),
            output: Some(self.out.uri(&self.prefix)),
        });
        let entry = SourceEntry {
            uri: object.uri.clone(),
            etag: object.etag.clone(),
            version: object.version.clone(),
            sha256: report.sha256.clone(),
            bytes: object.size,
            dialect: report.dialect.clone(),
            rows: report.rows as u64,
            loaded_at: report.loaded_at.clone(),
        };
        if seen.is_some_and(|seen| seen.sha256 == entry.sha256) {
            // A new ETag over the same bytes (a copy, a re-upload): only
            // the manifest's entry changes.
            return Ok(SourceLoad {
                entry,
                files: Vec::new(),
                keys: None,
                report: Some(report),
            });
        }
        let table = loaded.table;
        let partitioning = self.options.partition_by;
        let target = self.options.target_file_bytes;
        let mut write = self
            .session
            .configured()
            .settings
            .output
            .write_options(report.metadata());
        // Smaller row groups than a single file's: a part file is cut
        // between row groups.
        write.row_group_rows = 128 * 1024;
        let source_uri = object.uri.clone();
        let encoded = tokio::task::spawn_blocking(move || {
            encode(&table, &source_uri, partitioning, target, &write)
        })
        .await
        .map_err(|err| Error::Internal {
            message: format!("the encoder stopped: {err}"),
        })??;
        let mut files = Vec::with_capacity(encoded.parts.len());
        for (folder, part) in encoded.parts {
            let path = format!("{folder}part-{}.parquet", &part.sha256[..32]);
            let key = format!("{}{path}", self.prefix);
            written.put(&key, part.body.clone(), &part.sha256).await?;
            files.push(DataFile {
                path,
                rows: part.rows,
                bytes: part.body.len() as u64,
                sha256: part.sha256,
                first_date: part.first_date,
                last_date: part.last_date,
                tickers: part.tickers,
                source: object.uri.clone(),
            });
        }
        Ok(SourceLoad {
            entry,
            files,
            keys: Some(encoded.keys),
            report: Some(report),
        })
    }

    /// Fails when a (date, ticker) pair is in two sources: two new ones, or
    /// a new one and a file the dataset keeps.
    async fn refuse_pairs_held_twice(&self, loads: &[SourceLoad], kept: &[DataFile]) -> Result<()> {
        let mut owners: HashMap<(i32, String), &str> = HashMap::new();
        let (mut first, mut last) = (i32::MAX, i32::MIN);
        for load in loads {
            let Some(keys) = &load.keys else { continue };
            for (date, ticker) in dataset::keys(keys) {
                first = first.min(date);
                last = last.max(date);
                if let Some(other) = owners.insert((date, ticker.to_owned()), &load.entry.uri)
                    && other != load.entry.uri
                {
                    return Err(Error::HeldTwice {
                        date: dataset::day_text(date),
                        ticker: ticker.to_owned(),
                        first: other.to_owned(),
                        second: load.entry.uri.clone(),
                    });
                }
            }
        }
        if owners.is_empty() {
            return Ok(());
        }
        let (first, last) = (dataset::day_text(first), dataset::day_text(last));
        let tickers: BTreeSet<&str> = owners.keys().map(|(_, t)| t.as_str()).collect();
        for file in kept {
            let overlaps = file.last_date >= first
                && file.first_date <= last
                && file
                    .tickers
                    .as_ref()
                    .is_none_or(|held| held.iter().any(|t| tickers.contains(t.as_str())));
            if !overlaps {
                continue;
            }
            let (body, info, _) = dataset::read_part(&*self.out, &self.prefix, file).await?;
            let batches = dataset::decode_file(body, &info.uri, &Default::default())?;
            for batch in &batches {
                for (date, ticker) in dataset::keys(batch) {
                    if let Some(owner) = owners.get(&(date, ticker.to_owned())) {
                        return Err(Error::HeldTwice {
                            date: dataset::day_text(date),
                            ticker: ticker.to_owned(),
                            first: file.source.clone(),
                            second: (*owner).to_owned(),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// A table encoded into part files, with its keys kept for the pair check.
struct Encoded {
    parts: Vec<(String, dataset::EncodedFile)>,
    keys: RecordBatch,
}

fn encode(
    table: &Table,
    source: &str,
    partitioning: Partitioning,
    target: usize,
    options: &WriteOptions,
) -> Result<Encoded> {
    let all = arrow::compute::concat_batches(&table.schema, &table.batches)
        .map_err(nasdaq_core::Error::from)?;
    let mut parts = Vec::new();
    for (folder, range) in dataset::partition_ranges(&all, partitioning) {
        let mut metadata = options.clone();
        metadata.metadata.push((
            "nasdaq.partition".to_owned(),
            folder.trim_end_matches('/').to_owned(),
        ));
        let rows = all.slice(range.start, range.len());
        let name = format!(
            "{source} ({})",
            if folder.is_empty() {
                "dataset"
            } else {
                folder.trim_end_matches('/')
            }
        );
        for part in dataset::encode_files(&rows, &name, target, &metadata)? {
            parts.push((folder.clone(), part));
        }
    }
    let keys = all.project(&[0, 1]).map_err(nasdaq_core::Error::from)?;
    Ok(Encoded { parts, keys })
}

/// Part files written by a run and not yet committed: removed when the run
/// fails, loses the commit, or is dropped (Ctrl-C), except those the newest
/// manifest lists (another writer wrote the same content and committed).
struct Uncommitted {
    out: Arc<dyn MarketSource>,
    prefix: String,
    keys: Mutex<Vec<String>>,
    armed: std::sync::atomic::AtomicBool,
    /// Held while the commit is in flight.
    commit: Arc<tokio::sync::Mutex<()>>,
}

impl Uncommitted {
    fn new(out: Arc<dyn MarketSource>, prefix: String) -> Self {
        Self {
            out,
            prefix,
            keys: Mutex::new(Vec::new()),
            armed: std::sync::atomic::AtomicBool::new(true),
            commit: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Stores a part file. Its name is its content's hash, and the content
    /// holds this run's load report (with its time), so no other run
    /// writes the same key; removal still spares what a manifest lists.
    async fn put(&self, key: &str, body: Bytes, sha256: &str) -> Result<()> {
        let options = PutOptions {
            metadata: BTreeMap::from([(
                nasdaq_storage::cache::SHA256_METADATA.to_owned(),
                sha256.to_owned(),
            )]),
            ..PutOptions::default()
        };
        // Claimed before the write: a write cut short is removed too.
        self.keys.lock().expect("not poisoned").push(key.to_owned());
        self.out.put(key, body, options).await?;
        Ok(())
    }

    /// Committed: the files stay.
    fn keep(&self) {
        self.armed
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Removes the files now.
    async fn discard(&self) {
        self.keep();
        let keys = std::mem::take(&mut *self.keys.lock().expect("not poisoned"));
        remove_unlisted(
            self.out.clone(),
            self.prefix.clone(),
            keys,
            self.commit.clone(),
        )
        .await;
    }
}

impl Drop for Uncommitted {
    fn drop(&mut self) {
        if !self.armed.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let keys = std::mem::take(&mut *self.keys.lock().expect("not poisoned"));
        if keys.is_empty() {
            return;
        }
        let (out, prefix) = (self.out.clone(), self.prefix.clone());
        nasdaq_storage::cleanup::spawn(remove_unlisted(out, prefix, keys, self.commit.clone()));
    }
}

/// Deletes `keys`, except those the newest manifest lists, once a commit
/// in flight (holding `commit`) is over.
async fn remove_unlisted(
    out: Arc<dyn MarketSource>,
    prefix: String,
    keys: Vec<String>,
    commit: Arc<tokio::sync::Mutex<()>>,
) {
    if keys.is_empty() {
        return;
    }
    let _settled = commit.lock().await;
    let listed = match out.list(&format!("{prefix}{MANIFEST_DIR}")).await {
        Ok(listed) => listed,
        Err(err) => {
            tracing::warn!(%err, "cannot read the manifest to remove unfinished files");
            return;
        }
    };
    let manifest =
        match dataset::latest_manifest(&*out, &prefix, listed.iter().map(|o| o.key.as_str())).await
        {
            Ok(manifest) => manifest,
            Err(err) => {
                tracing::warn!(%err, "cannot read the manifest to remove unfinished files");
                return;
            }
        };
    let referenced: BTreeSet<String> = manifest
        .iter()
        .flat_map(|m| m.files.iter().map(|f| format!("{prefix}{}", f.path)))
        .collect();
    for key in keys.iter().filter(|k| !referenced.contains(*k)) {
        if let Err(err) = out.delete(key).await {
            tracing::warn!(%err, key, "an unfinished dataset file could not be removed");
        }
    }
}
