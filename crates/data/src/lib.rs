//! The nasdaq-data entry point: settings and a source in, a sorted,
//! checked table with its complete load report out.
//!
//! This crate composes the layers below it: [`nasdaq_config`] reads the
//! settings (defaults < `nasdaq.toml` < `.env` < environment < overrides),
//! [`plan`] turns them into the chain of sources a load tries (primary,
//! secondary, local fallback, or the bundled sample), and
//! [`nasdaq_core::Loader`] reads, checks and sorts. The `nasdaq-cli` command
//! and the Python package are thin front ends over [`Session::load`].
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use nasdaq_config::ConfigSources;
//! use nasdaq_data::{LoadOptions, Session};
//!
//! // An empty directory and environment: nothing configured, so the
//! // bundled sample serves.
//! let dir = tempfile::tempdir().unwrap();
//! let sources = ConfigSources { cwd: dir.path().into(), ..ConfigSources::default() };
//! let session = Session::from_sources(&sources).unwrap();
//! let loaded = session.load(&LoadOptions::new().with_tickers(["AAPL"])).await.unwrap();
//! assert_eq!(loaded.report.tickers, 1);
//! assert_eq!(loaded.report.served_by, nasdaq_core::Role::BundledSample);
//! # });
//! ```

mod check;
mod dataset;
mod error;
pub mod memory;
pub mod plan;
mod sample;
mod session;
mod upload;

pub use check::{CheckReport, CheckStep};
pub use dataset::{DatasetOptions, DatasetReport};
pub use error::{Error, Result};
pub use nasdaq_core::dataset::Partitioning;
pub use plan::{Fallback, PlanOptions, SourcePlan};
pub use sample::{SAMPLE_KEY, SAMPLE_PATH};
pub use session::{LoadOptions, Purpose, S3Target, Session, cache_mode};
pub use upload::{UploadAction, UploadReport};

pub use nasdaq_config::{ConfigSources, Configured, Settings};
pub use nasdaq_core::{LoadReport, Loaded, Role};
