//! The nasdaq-data engine: daily OHLCV bars from bytes to typed Arrow batches.
//!
//! `nasdaq-core` knows market data, never credentials or the environment. It
//! reads objects through a [`nasdaq_storage::MarketSource`], parses them as a
//! stream in parallel chunks, sorts and de-duplicates them on (date, ticker),
//! and writes Parquet, Arrow IPC or CSV.
//!
//! # The canonical schema
//!
//! Every load produces record batches of exactly this schema ([`schema::canonical`]):
//!
//! | column      | Arrow type | nullable | meaning                                  |
//! |-------------|------------|----------|------------------------------------------|
//! | `date`      | Date32     | no       | trading day (exchange local date)        |
//! | `ticker`    | Utf8       | no       | symbol, as in the source, upper-cased    |
//! | `open`      | Float64    | no       | opening price                            |
//! | `high`      | Float64    | no       | highest price                            |
//! | `low`       | Float64    | no       | lowest price                             |
//! | `close`     | Float64    | no       | closing price                            |
//! | `adj_close` | Float64    | yes      | close adjusted for splits and dividends  |
//! | `volume`    | UInt64     | yes      | shares traded                            |
//!
//! Rows are sorted by (`date`, `ticker`) and no pair occurs twice.
//!
//! # Embedding
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use nasdaq_core::{LoadRequest, Loader};
//! use nasdaq_storage::{MarketSource, ObjectStoreSource, PutOptions};
//!
//! let source = Arc::new(ObjectStoreSource::memory());
//! let csv = "Date,Ticker,Open,High,Low,Close,Adj Close,Volume\n\
//!            2024-01-03,MSFT,370.1,373.3,368.5,370.6,368.9,23000000\n\
//!            2024-01-02,AAPL,187.2,188.4,183.9,185.6,184.9,82000000\n";
//! source.put("NASDAQ.csv", csv.into(), PutOptions::default()).await.unwrap();
//!
//! let loaded = Loader::new(source).load(&LoadRequest::new("NASDAQ.csv")).await.unwrap();
//! assert_eq!(loaded.report.rows, 2);
//! assert_eq!(loaded.report.first_date.as_deref(), Some("2024-01-02"));
//! # });
//! ```

pub mod calendar;
mod compression;
pub mod dataset;
mod dialect;
mod error;
mod loader;
mod parse;
pub mod quality;
mod reader;
mod report;
pub mod schema;
mod table;
pub mod table_cache;
mod writer;

pub use dialect::{dialect_names, ticker_from_file_name};
pub use error::{Error, Result, WriteFailure};
pub use loader::{Candidate, LoadRequest, Loaded, Loader, matching_objects};
pub use nasdaq_storage::Progress;
pub use parse::RowFilter;
pub use quality::{Policies, Policy, QualityReport, Rule};
pub use reader::{
    BatchLines, DEFAULT_MAX_DECOMPRESSED, MAX_LINE, ParseOptions, ReadOptions, ReadOutput, read_csv,
};
pub use report::{FileLineage, LoadReport, Role, RunFacts, SourceFailure};
pub use table::{Summary, Table, summarize};
pub use table_cache::TableCache;
pub use writer::{
    CancelFlag, Compression, DEFAULT_ZSTD_LEVEL, OutputFormat, ParquetEncoder, WriteOptions,
    ZSTD_LEVELS, encode_table, output_dir, write_table,
};
