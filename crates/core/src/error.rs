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
        "{file}: line 1: the header lacks the column(s) {missing}; found {found}. Expected Date, Ticker, Open, High, Low, Close (Adj Close and Volume optional), in any order"
    )]
    MissingColumns {
        /// The object's address.
        file: String,
        /// The missing canonical columns, comma-separated.
        missing: String,
        /// The header as found.
        found: String,
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
    /// The same (date, ticker) occurs twice.
    #[error(
        "{file}: duplicate bar for {ticker} on {date} at lines {first_line} and {second_line}; remove one of them"
    )]
    Duplicate {
        /// The object's address.
        file: String,
        /// The ticker.
        ticker: String,
        /// The date, YYYY-MM-DD.
        date: String,
        /// The first line holding it.
        first_line: u64,
        /// The second line holding it.
        second_line: u64,
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
    /// An Arrow computation failed (a bug, or memory exhausted).
    #[error("internal Arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}
