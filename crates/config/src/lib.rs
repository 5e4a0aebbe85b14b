//! Settings for nasdaq-data, and turning them into sources.
//!
//! `nasdaq-config` turns settings into `nasdaq-storage` and `nasdaq-core`
//! values; [`SourceSpec`] parses what a user writes as a source.

mod error;
mod spec;

pub use error::{Error, Result};
pub use spec::SourceSpec;
