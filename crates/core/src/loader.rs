//! The `Loader`: a source and a request in, a sorted table and a report out.

use std::sync::Arc;
use std::time::Instant;

use nasdaq_storage::{GetOptions, MarketSource};

use crate::reader::{ReadOptions, read_csv};
use crate::table::{Table, sort_unique};
use crate::{LoadReport, Result};

/// What to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadRequest {
    /// The object's key within the source.
    pub key: String,
}

impl LoadRequest {
    /// A request for the object at `key`.
    pub fn new(key: impl Into<String>) -> Self {
        Self { key: key.into() }
    }
}

/// The result of a load.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The rows, sorted by (date, ticker).
    pub table: Table,
    /// How the load went.
    pub report: LoadReport,
}

/// Loads market data from one source. Cheap to clone; embed it in a service.
#[derive(Debug, Clone)]
pub struct Loader {
    source: Arc<dyn MarketSource>,
    options: ReadOptions,
}

impl Loader {
    /// A loader reading from `source`.
    pub fn new(source: Arc<dyn MarketSource>) -> Self {
        Self {
            source,
            options: ReadOptions::default(),
        }
    }

    /// Overrides how the reader cuts and schedules work.
    pub fn with_read_options(mut self, options: ReadOptions) -> Self {
        self.options = options;
        self
    }

    /// The source this loader reads.
    pub fn source(&self) -> &Arc<dyn MarketSource> {
        &self.source
    }

    /// Loads the requested object into a sorted, de-duplicated table.
    pub async fn load(&self, request: &LoadRequest) -> Result<Loaded> {
        let started = Instant::now();
        let fetched = self.source.get(&request.key, GetOptions::default()).await?;
        let info = fetched.info;
        let read = read_csv(fetched.stream, &info.uri, &self.options).await?;
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            bytes = read.bytes,
            "read and parsed"
        );
        let uri = info.uri.clone();
        let (table, summary) =
            tokio::task::spawn_blocking(move || sort_unique(read.batches, &read.lines, &uri))
                .await
                .map_err(|err| crate::Error::Write {
                    path: info.uri.clone().into(),
                    message: format!("sorting stopped: {err}"),
                })??;
        tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "sorted");
        let report = LoadReport {
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            source: info.uri,
            source_label: None,
            credentials: None,
            output: None,
            rows: summary.rows,
            tickers: summary.tickers,
            first_date: summary.first_date,
            last_date: summary.last_date,
            bytes: read.bytes,
            sha256: read.sha256,
            etag: info.etag,
            version: info.version,
            last_modified: Some(info.last_modified.to_rfc3339()),
            loaded_at: chrono::Utc::now().to_rfc3339(),
            elapsed_ms: started.elapsed().as_millis() as u64,
        };
        Ok(Loaded { table, report })
    }
}
