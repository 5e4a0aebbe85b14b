//! A session: settings read once, then loads, listings and S3 targets
//! planned from them. Every front end (the CLI, the Python package, a
//! service) goes through here, so none assembles sources or reports itself.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use nasdaq_config::{ConfigSources, Configured, DataSource, Settings, SourceSpec, describe};
use nasdaq_core::{
    CancelFlag, FileLineage, LoadRequest, Loaded, Loader, OutputFormat, ParseOptions, ReadOptions,
    RowFilter, RunFacts, Table, TableCache, WriteOptions, write_table,
};
use nasdaq_storage::{
    CacheMode, MarketSource, ObjectStoreSource, Progress, S3Source, S3SourceBuilder,
};
use sha2::{Digest, Sha256};

use crate::plan::{Fallback, PlanOptions, SourcePlan};
use crate::{Error, Result};

/// What a load is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Purpose {
    /// Produce the table: an `error`-policy rule fails the load.
    #[default]
    Fetch,
    /// Report on the data: rules only report, rejected rows are kept aside.
    Validate,
}

/// One load as a front end states it: the source and what to keep of it.
#[derive(Clone, Default)]
pub struct LoadOptions {
    /// A path, `file://` or `s3://` URL; none: the configured source.
    pub source: Option<String>,
    /// With a prefix: only objects whose name matches this glob.
    pub glob: Option<String>,
    /// Only these tickers (case-insensitive); empty: all.
    pub tickers: Vec<String>,
    /// Only bars on or after this date.
    pub from: Option<NaiveDate>,
    /// Only bars on or before this date.
    pub to: Option<NaiveDate>,
    /// The dialect to read as, instead of detecting it.
    pub dialect: Option<String>,
    /// The ticker of a one-ticker file without a ticker column.
    pub ticker: Option<String>,
    /// How far down the chain of sources the load may go (by default the
    /// configured source falls back, a named one does not).
    pub fallback: Fallback,
    /// How the disk cache is used.
    pub cache_mode: CacheMode,
    /// Fetch or validate.
    pub purpose: Purpose,
    /// Write the table here (Parquet, Arrow IPC or CSV by extension).
    pub output: Option<PathBuf>,
    /// Every quality rule an error, whatever the settings say.
    pub strict: bool,
    /// Validating: write the rejected rows here.
    pub rejects: Option<PathBuf>,
    /// Told of bytes as they are read.
    pub progress: Option<Arc<dyn Progress>>,
}

impl std::fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("source", &self.source)
            .field("glob", &self.glob)
            .field("tickers", &self.tickers)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("dialect", &self.dialect)
            .field("ticker", &self.ticker)
            .field("fallback", &self.fallback)
            .field("cache_mode", &self.cache_mode)
            .field("purpose", &self.purpose)
            .field("output", &self.output)
            .field("strict", &self.strict)
            .field("rejects", &self.rejects)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// The cache mode a front end's `offline` / `refresh` switches ask for;
/// both at once contradict each other.
pub fn cache_mode(offline: bool, refresh: bool) -> Result<CacheMode> {
    match (offline, refresh) {
        (true, true) => Err(nasdaq_config::Error::Incomplete {
            message: "offline and refresh exclude each other: offline makes no request, \
                      refresh downloads again"
                .to_owned(),
        }
        .into()),
        (true, false) => Ok(CacheMode::Offline),
        (false, true) => Ok(CacheMode::Refresh),
        (false, false) => Ok(CacheMode::Normal),
    }
}

impl LoadOptions {
    /// The configured source, every row, cache and fallback as configured.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads `source` (a path, `file://` or `s3://` URL) instead of the configured one.
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Keeps only these tickers.
    pub fn with_tickers<I, S>(mut self, tickers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tickers = tickers.into_iter().map(Into::into).collect();
        self
    }

    /// Keeps only bars between `from` and `to`, both inclusive.
    pub fn with_dates(mut self, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Self {
        self.from = from;
        self.to = to;
        self
    }

    /// Writes the table to `path` as well.
    pub fn with_output(mut self, path: impl Into<PathBuf>) -> Self {
        self.output = Some(path.into());
        self
    }
}

/// An S3 object (or prefix) named by an argument or by the settings, with
/// the builder the settings make for its bucket.
#[derive(Debug, Clone)]
pub struct S3Target {
    /// The bucket.
    pub bucket: String,
    /// The key or prefix (may be empty).
    pub key: String,
    /// The S3 builder for the bucket, from the settings.
    pub builder: S3SourceBuilder,
}

impl S3Target {
    /// Resolves the credentials and opens the bucket.
    pub async fn open(&self) -> Result<S3Source> {
        Ok(self.builder.clone().build().await?)
    }
}

/// Settings read once, and everything planned from them.
#[derive(Debug, Clone)]
pub struct Session {
    configured: Configured,
}

impl Session {
    /// The default layering read from this process: defaults < `nasdaq.toml`
    /// < `.env` < the environment.
    pub fn from_env() -> Result<Self> {
        Self::from_sources(&ConfigSources::from_process())
    }

    /// The layering from `sources` (a working directory, an environment,
    /// explicit files, overrides as the top layer).
    pub fn from_sources(sources: &ConfigSources) -> Result<Self> {
        Ok(Self::new(Settings::load(sources)?))
    }

    /// A session over settings read elsewhere.
    pub fn new(configured: Configured) -> Self {
        Self { configured }
    }

    /// The settings, with where each came from.
    pub fn configured(&self) -> &Configured {
        &self.configured
    }

    /// SHA-256 of every effective setting as `describe` shows it: secrets
    /// appear only as set/unset, so the hash reveals nothing.
    pub fn settings_hash(&self) -> String {
        let mut hasher = Sha256::new();
        for (spec, value, _) in describe(&self.configured) {
            hasher.update(format!("{}={}\n", spec.env, value.unwrap_or_default()));
        }
        hex::encode(hasher.finalize())
    }

    /// What `source` names, or else what the settings name.
    pub fn data_source(&self, source: Option<&str>) -> Result<DataSource> {
        Ok(match source {
            Some(text) => match SourceSpec::parse(text)? {
                SourceSpec::File { path } => DataSource::Local(path),
                SourceSpec::S3 { bucket, key } => DataSource::S3 { bucket, key },
            },
            None => self.configured.settings.data_source()?,
        })
    }

    /// The sources a load of `options` would try, in order.
    pub async fn plan(&self, options: &LoadOptions) -> Result<SourcePlan> {
        let source = self.data_source(options.source.as_deref())?;
        let fallback = match (options.fallback, &options.source) {
            (Fallback::Auto, Some(_)) => Fallback::None,
            (Fallback::Auto, None) => Fallback::Chain,
            (chosen, _) => chosen,
        };
        let plan_options = PlanOptions {
            fallback,
            cache_mode: options.cache_mode,
            progress: options.progress.clone(),
        };
        SourcePlan::new(&self.configured, &source, &plan_options).await
    }

    /// Plans the sources, loads from the first that serves, writes the
    /// output if asked, and returns the table with its complete report.
    pub async fn load(&self, options: &LoadOptions) -> Result<Loaded> {
        let started = Instant::now();
        // A path, `file://` or `s3://` URL, read as sources are; a bad
        // name is refused before any download.
        let output = options.output.as_deref().map(output_spec).transpose()?;
        match &output {
            Some(SourceSpec::File { path }) => {
                OutputFormat::from_path(path)?;
                nasdaq_core::output_dir(path)?;
            }
            Some(SourceSpec::S3 { key, .. }) => {
                OutputFormat::from_path(Path::new(key))?;
            }
            None => {}
        }
        let plan = self.plan(options).await?;
        for (role, credentials) in &plan.credentials {
            tracing::info!(%role, %credentials, "credentials");
        }
        tracing::info!(key = %plan.key, sources = plan.candidates.len(), "loading");
        let settings = &self.configured.settings;
        let request = self.request(options, plan.key.clone());
        let read_options = self.read_options(options.progress.clone());
        let mut loader = Loader::chain(plan.candidates).with_read_options(read_options);
        if let Some(tables) = self.table_cache() {
            loader = loader.with_table_cache(tables, options.cache_mode != CacheMode::Refresh);
        }
        let mut loaded = loader.load(&request).await?;
        // Attached before writing, so the report stored in the output's
        // metadata names the run's facts too.
        loaded.report.attach(RunFacts {
            source_label: plan.label,
            // The provider of the source that served, not of the primary.
            credentials: plan
                .credentials
                .into_iter()
                .find(|(role, _)| *role == loaded.report.served_by)
                .map(|(_, credentials)| credentials),
            settings_hash: Some(self.settings_hash()),
            output: output.as_ref().map(spec_text),
        });
        let rejects = options
            .rejects
            .clone()
            .map(|path| SourceSpec::File { path });
        for spec in output.iter().chain(&rejects) {
            refuse_overwriting_an_input(spec, &loaded.report.files)?;
        }
        if let Some(output) = &output {
            let write = settings.output.write_options(loaded.report.metadata());
            match output {
                SourceSpec::File { path } => {
                    write_blocking(loaded.table.clone(), path.clone(), write).await?;
                }
                SourceSpec::S3 { .. } => {
                    self.write_object(loaded.table.clone(), &spec_text(output), write)
                        .await?;
                }
            }
        }
        if let (Some(path), Some(rejects)) = (&options.rejects, &loaded.rejects) {
            let table = Table {
                schema: rejects.schema(),
                batches: vec![rejects.clone()],
            };
            write_blocking(table, path.clone(), WriteOptions::default()).await?;
        }
        loaded.report.finish(started.elapsed());
        Ok(loaded)
    }

    /// The engine's request for a load of `key` with `options`.
    pub(crate) fn request(&self, options: &LoadOptions, key: String) -> LoadRequest {
        let validating = options.purpose == Purpose::Validate;
        let tickers: BTreeSet<String> = options
            .tickers
            .iter()
            .map(|t| t.trim().to_ascii_uppercase())
            .filter(|t| !t.is_empty())
            .collect();
        LoadRequest {
            glob: options.glob.clone(),
            parse: ParseOptions {
                dialect: options.dialect.clone(),
                ticker: options.ticker.clone(),
                filter: RowFilter {
                    tickers: (!tickers.is_empty()).then_some(tickers),
                    from: options.from,
                    to: options.to,
                },
            },
            policies: if options.strict {
                nasdaq_core::Policies::strict()
            } else {
                self.configured.settings.quality.clone()
            },
            fail_on_error_rules: !validating,
            collect_rejects: validating,
            ..LoadRequest::new(key)
        }
    }

    /// The table cache, in the configured cache directory, when the cache
    /// is on. Nothing is created until a table is stored; a directory that
    /// cannot hold one is said then and the load goes on without it.
    pub fn table_cache(&self) -> Option<TableCache> {
        self.configured
            .settings
            .cache
            .enabled
            .then(|| TableCache::in_dir(self.configured.cache_dir()))
    }

    /// How the reader reads, from the settings.
    pub(crate) fn read_options(&self, progress: Option<Arc<dyn Progress>>) -> ReadOptions {
        ReadOptions {
            max_decompressed: self.configured.settings.max_decompressed_bytes,
            progress,
            ..ReadOptions::default()
        }
    }

    /// Writes `table` to the S3 object `url` in parts, straight from the
    /// encoder (no local copy; memory is a few parts): the encoder runs on
    /// a blocking thread and hands its output over a bounded channel. The
    /// object appears only when complete; an error or an interruption
    /// aborts the upload and leaves nothing at the key.
    async fn write_object(&self, table: Table, url: &str, mut options: WriteOptions) -> Result<()> {
        let target = self.s3_target(Some(url))?;
        let format = OutputFormat::from_path(Path::new(&target.key))?;
        let store = target.open().await?;
        let mut writer = store
            .put_multipart(&target.key, nasdaq_storage::PutOptions::default())
            .await?;
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<bytes::Bytes>(2);
        let flag = CancelFlag::new();
        options.cancel = flag.clone();
        let mut guard = CancelOnDrop(Some(flag));
        let key = PathBuf::from(url);
        let encoder = tokio::task::spawn_blocking(move || {
            let sink = PartSink {
                sender,
                buffer: Vec::with_capacity(PART_BYTES),
            };
            nasdaq_core::encode_table(&table, format, sink, &options)
                .and_then(|mut sink| sink.send().map_err(Into::into))
                .map_err(|source| nasdaq_core::Error::Write { path: key, source })
        });
        while let Some(part) = receiver.recv().await {
            // On an error the receiver drops, and the encoder stops at its next send.
            writer.write(part).await?;
        }
        let encoded = encoder.await;
        guard.0 = None;
        encoded.map_err(|err| Error::Internal {
            message: format!("the encoder stopped: {err}"),
        })??;
        writer.finish().await?;
        Ok(())
    }

    /// The S3 object or prefix `target` names (`s3://BUCKET/KEY`), or else
    /// the configured bucket and key.
    pub fn s3_target(&self, target: Option<&str>) -> Result<S3Target> {
        let settings = &self.configured.settings;
        let (bucket, key) = match target {
            Some(text) => match SourceSpec::parse(text)? {
                SourceSpec::S3 { bucket, key } => (bucket, key),
                SourceSpec::File { .. } => {
                    return Err(Error::BadTarget {
                        location: text.to_owned(),
                        reason: "expected s3://BUCKET/KEY".to_owned(),
                    });
                }
            },
            None => match &settings.aws_s3_bucket_name {
                Some(bucket) => (bucket.clone(), settings.aws_s3_key.clone()),
                None => {
                    return Err(nasdaq_config::Error::Incomplete {
                        message: "no bucket: name s3://BUCKET/KEY, or set AWS_S3_BUCKET_NAME \
                                  (in .env or the environment)"
                            .to_owned(),
                    }
                    .into());
                }
            },
        };
        let builder = self.configured.s3_builder(&bucket);
        Ok(S3Target {
            bucket,
            key,
            builder,
        })
    }

    /// A place to list and the prefix in it: a local directory, an
    /// `s3://BUCKET/PREFIX`, or else the configured bucket's root.
    pub async fn listing(&self, location: Option<&str>) -> Result<(Arc<dyn MarketSource>, String)> {
        if let Some(text) = location
            && let SourceSpec::File { path } = SourceSpec::parse(text)?
        {
            return Ok((Arc::new(ObjectStoreSource::local(&path)?), String::new()));
        }
        let target = self.s3_target(location)?;
        let prefix = if location.is_some() {
            target.key.clone()
        } else {
            String::new()
        };
        Ok((Arc::new(target.open().await?), prefix))
    }
}

/// Refuses an output that is (or links to) a file the load read: the
/// atomic rename would replace the data with its own copy, or worse.
fn refuse_overwriting_an_input(output: &SourceSpec, files: &[FileLineage]) -> Result<()> {
    let output = match output {
        SourceSpec::S3 { .. } => {
            let url = spec_text(output);
            return match files.iter().find(|f| f.uri == url) {
                Some(file) => Err(Error::OutputIsInput {
                    output: url.into(),
                    input: file.uri.clone(),
                }),
                None => Ok(()),
            };
        }
        SourceSpec::File { path } => path,
    };
    // An output that does not exist yet cannot be an input.
    let Ok(target) = std::fs::canonicalize(output) else {
        return Ok(());
    };
    for file in files {
        let Some(path) = file.uri.strip_prefix("file://") else {
            continue;
        };
        if std::fs::canonicalize(path).is_ok_and(|input| input == target) {
            return Err(Error::OutputIsInput {
                output: output.to_owned(),
                input: file.uri.clone(),
            });
        }
    }
    Ok(())
}

/// An output address as sources are read: a path, `file://` or `s3://` URL.
fn output_spec(output: &Path) -> Result<SourceSpec> {
    match output.to_str() {
        Some(text) => Ok(SourceSpec::parse(text)?),
        None => Ok(SourceSpec::File {
            path: output.to_owned(),
        }),
    }
}

/// An output address as reports name it.
fn spec_text(spec: &SourceSpec) -> String {
    match spec {
        SourceSpec::File { path } => path.display().to_string(),
        SourceSpec::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
    }
}

/// Raises a write's cancel flag when dropped, unless disarmed by a
/// finished write: a blocking thread cannot be cancelled, its flag can.
struct CancelOnDrop(Option<CancelFlag>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.cancel();
        }
    }
}

/// Writes on a blocking thread: encoding is CPU-bound. A blocking thread
/// cannot be cancelled, so when this future is dropped (the load was
/// interrupted) it raises the write's cancel flag, and the writer stops
/// before putting any file in place.
async fn write_blocking(table: Table, path: PathBuf, mut options: WriteOptions) -> Result<()> {
    let flag = CancelFlag::new();
    options.cancel = flag.clone();
    let mut guard = CancelOnDrop(Some(flag));
    let written = tokio::task::spawn_blocking(move || write_table(&table, &path, &options)).await;
    guard.0 = None;
    written.map_err(|err| Error::Internal {
        message: format!("the writer stopped: {err}"),
    })??;
    Ok(())
}

/// Bytes an encoder writes before they are handed over as one part.
const PART_BYTES: usize = 8 * 1024 * 1024;

/// The encoder's side of an upload in parts: bytes gathered into parts
/// and sent, blocking while the uploader is behind.
struct PartSink {
    sender: tokio::sync::mpsc::Sender<bytes::Bytes>,
    buffer: Vec<u8>,
}

impl PartSink {
    /// Sends what is gathered.
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let part = std::mem::replace(&mut self.buffer, Vec::with_capacity(PART_BYTES));
        self.sender
            .blocking_send(part.into())
            .map_err(|_| std::io::Error::other("the upload stopped"))
    }
}

impl std::io::Write for PartSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= PART_BYTES {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Parts are sent when full, or at the end: an early flush would
        // make a part smaller than S3 allows.
        Ok(())
    }
}
