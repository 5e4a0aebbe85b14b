//! The engine's error type: each variant names the thing and says what to do.

use std::path::PathBuf;

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
        "{file}: line 1: the header lacks the column(s) {missing}; found {found}. Expected Date, Open, High, Low, Close and a Ticker column (or one ticker per file, named by --ticker or the file name); Adj Close and Volume optional; any order"
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
        "{file}: the {dialect} layout has no ticker column; pass --ticker SYMBOL, or name the file after the ticker (AAPL.csv)"
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
    /// `--dialect` named no known dialect.
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
    /// The output path has no known extension.
    #[error("{path}: unknown output format; use .parquet, .arrow / .ipc / .feather or .csv")]
    UnknownFormat {
        /// The path as given.
        path: PathBuf,
    },
    /// Writing the output failed; no partial file was left.
    #[error("writing {path}: {message}")]
    Write {
        /// The output path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// An `error`-policy quality rule fired.
    #[error(
        "{uri}: data-quality errors: {summary}. Run `nasdaq-cli validate` for the full report, or set the rule's policy to warn or drop (NASDAQ_QUALITY_<RULE>, or [quality] in nasdaq.toml)"
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
    /// `--glob` is not a valid pattern.
    #[error("--glob {glob:?}: {message}")]
    BadGlob {
        /// The pattern.
        glob: String,
        /// What is wrong.
        message: String,
    },
    /// Every source of the chain failed.
    #[error("every source failed: {failures}")]
    AllSourcesFailed {
        /// Each source with its error.
        failures: String,
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
