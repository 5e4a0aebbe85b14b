//! The engine's error type: each variant names the thing and says what to do.

use std::path::PathBuf;

use crate::report::SourceFailure;

/// A core result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a load or a write failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the bytes failed.
    #[error(transparent)]
    Storage(#[from] nasdaq_storage::Error),
    /// The object holds no bytes at all.
    #[error(
        "{file}: the file is empty; expected a CSV header such as Date,Ticker,Open,High,Low,Close,Adj Close,Volume"
    )]
    Empty {
        /// The object's address.
        file: String,
    },
    /// The object has a header but no data rows.
    #[error("{file}: the file has a header but no data rows")]
    NoRows {
        /// The object's address.
        file: String,
    },
    /// The body is not CSV at all (an HTML error page, a JSON message, ...).
    #[error(
        "{file}: this is {kind}, not CSV (starts with {start:?}); the source returned an error page or message instead of data"
    )]
    NotCsv {
        /// The object's address.
        file: String,
        /// What it looks like: "HTML", "JSON".
        kind: &'static str,
        /// The first characters of the body.
        start: String,
    },
    /// The header lacks required columns.
    #[error(
        "{file}: line 1: the header lacks the column(s) {missing}; found {found}. Expected Date, Open, High, Low, Close and a Ticker column (or one ticker per file, named by the load's ticker option or the file name); Adj Close and Volume optional; any order"
    )]
    MissingColumns {
        /// The object's address.
        file: String,
        /// The missing canonical columns, comma-separated.
        missing: String,
        /// The header as found.
        found: String,
    },
    /// A file holds one ticker's bars but does not say which ticker.
    #[error(
        "{file}: the {dialect} layout has no ticker column; name the ticker in the load's options, or name the file after the ticker (AAPL.csv)"
    )]
    NoTicker {
        /// The object's address.
        file: String,
        /// The detected dialect.
        dialect: &'static str,
    },
    /// A layout that is recognised but not supported.
    #[error("{file}: {message}")]
    Unsupported {
        /// The object's address.
        file: String,
        /// What is unsupported and what to do instead.
        message: String,
    },
    /// The dialect asked for is not a known one.
    #[error("unknown dialect {name:?}; known dialects: {known}")]
    UnknownDialect {
        /// The name given.
        name: String,
        /// The known names.
        known: String,
    },
    /// A value could not be read.
    #[error("{file}: line {line}, column {column} ({header}): {message}")]
    Value {
        /// The object's address.
        file: String,
        /// 1-based line number.
        line: u64,
        /// 1-based column number.
        column: usize,
        /// The column's header.
        header: String,
        /// What is wrong with the value, quoting it.
        message: String,
    },
    /// A row has the wrong number of fields.
    #[error("{file}: line {line}: expected {expected} fields as in the header, found {found}")]
    FieldCount {
        /// The object's address.
        file: String,
        /// 1-based line number.
        line: u64,
        /// Fields in the header.
        expected: usize,
        /// Fields in the row.
        found: usize,
    },
    /// A line longer than any bar could be: refused, not buffered.
    #[error(
        "{file}: line {line} is longer than {max} bytes without a line end; this is not a file of daily bars"
    )]
    LineTooLong {
        /// The object's address.
        file: String,
        /// 1-based line number where it starts (approximate with several chunks in flight).
        line: u64,
        /// The bound in bytes.
        max: usize,
    },
    /// The output path has no known extension.
    #[error("{path}: unknown output format; use .parquet, .arrow / .ipc / .feather or .csv")]
    UnknownFormat {
        /// The path as given.
        path: PathBuf,
    },
    /// Writing the output failed; no partial file was left.
    #[error("writing {path}: {source}")]
    Write {
        /// The output path.
        path: PathBuf,
        /// The arrow, parquet or I/O error that stopped the write.
        #[source]
        source: WriteFailure,
    },
    /// An `error`-policy quality rule fired.
    #[error(
        "{uri}: data-quality errors: {summary}; the quality report lists every violation, and a rule's policy can be set to warn or drop"
    )]
    Quality {
        /// The source's address.
        uri: String,
        /// Per failing rule: count and first example.
        summary: String,
    },
    /// A prefix held no matching objects.
    #[error("{prefix}: no files match {glob}")]
    NoFiles {
        /// The prefix's address.
        prefix: String,
        /// The glob applied.
        glob: String,
    },
    /// The glob is not a valid pattern.
    #[error("glob {glob:?}: {message}")]
    BadGlob {
        /// The pattern.
        glob: String,
        /// What is wrong.
        message: String,
    },
    /// Every source of the chain failed.
    #[error("every source failed: {}", SourceFailure::join(failures))]
    AllSourcesFailed {
        /// Each source tried, in order, with why it failed.
        failures: Vec<SourceFailure>,
        /// The primary's error, whole: the one to fix.
        #[source]
        primary: Box<Error>,
        /// The other sources' errors, in chain order.
        others: Vec<Error>,
    },
    /// The bytes do not match the SHA-256 stored with the object.
    #[error(
        "{file}: checksum mismatch: the object's metadata says SHA-256 {expected}, the bytes read hash to {actual}"
    )]
    Checksum {
        /// The object's address.
        file: String,
        /// The SHA-256 in the object's metadata.
        expected: String,
        /// The SHA-256 of what was read.
        actual: String,
    },
    /// Compressed data that does not decode.
    #[error("{file}: corrupt or truncated {codec} data: {source}")]
    CorruptStream {
        /// The object's address.
        file: String,
        /// `gzip` or `zstd`.
        codec: &'static str,
        /// The decoder's error.
        #[source]
        source: std::io::Error,
    },
    /// Compressed data that decodes to more than the configured cap.
    #[error(
        "{file}: decompresses to more than {cap} bytes, the configured cap (NASDAQ_MAX_DECOMPRESSED_BYTES); refusing a possible decompression bomb"
    )]
    TooLarge {
        /// The object's address.
        file: String,
        /// The cap in bytes.
        cap: u64,
    },
    /// A dataset's manifest cannot be read.
    #[error(
        "{uri}: not a readable dataset manifest: {message}; it was not written by nasdaq-data, or was damaged (the previous version under _manifest/ still lists a consistent set of files)"
    )]
    BadManifest {
        /// The manifest's address.
        uri: String,
        /// What is wrong.
        message: String,
    },
    /// A file of a dataset is not the one its manifest lists.
    #[error(
        "{file}: differs from the dataset's manifest, which lists {bytes} bytes with SHA-256 {sha256} ({found}); the file was changed or replaced after it was written: write the dataset again from its sources"
    )]
    DatasetFileChanged {
        /// The file's address.
        file: String,
        /// Its size in the manifest.
        bytes: u64,
        /// Its SHA-256 in the manifest.
        sha256: String,
        /// What was read instead.
        found: String,
    },
    /// A file of a dataset cannot be decoded.
    #[error("{file}: not a readable dataset file: {message}")]
    BadDataFile {
        /// The file's address.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A worker stopped unexpectedly (a bug).
    #[error("internal error: {message}")]
    Internal {
        /// What happened.
        message: String,
    },
    /// An Arrow computation failed (a bug, or memory exhausted).
    #[error("internal Arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

/// What stopped a write: the library error, kept whole for callers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteFailure {
    /// The file system.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Arrow (IPC or CSV encoding).
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// Parquet encoding.
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
}

impl Error {
    /// Whether this error is the source's fault (unreachable, denied, not
    /// found, damaged bytes), so that a chain may try its next source; a
    /// data error would fail the same way anywhere.
    pub fn is_source_failure(&self) -> bool {
        matches!(
            self,
            Self::Storage(_)
                | Self::Checksum { .. }
                | Self::CorruptStream { .. }
                | Self::TooLarge { .. }
                // A damaged dataset: another copy may be sound.
                | Self::DatasetFileChanged { .. }
                | Self::BadManifest { .. }
                // An error page where data should be: the source's doing.
                | Self::NotCsv { .. }
        ) || matches!(self, Self::AllSourcesFailed { primary, others, .. }
            if others.last().unwrap_or(primary).is_source_failure())
    }

    /// The storage error underneath, when the source failed.
    pub fn storage(&self) -> Option<&nasdaq_storage::Error> {
        match self {
            Self::Storage(err) => Some(err),
            _ => None,
        }
    }
}
