//! Test support for nasdaq-data (tests only; never published).
//!
//! - [`generate`]: a deterministic generator of realistic daily bars; it made
//!   the bundled sample and feeds the tests and the benchmark.
//! - [`conformance`]: scenarios every [`nasdaq_storage::MarketSource`] backend must pass.
//! - [`MockSource`]: a `mockall` mock of `MarketSource` for exact call expectations.

pub mod conformance;
pub mod generate;
mod mock;

pub use generate::{BarsSpec, generate_csv};
pub use mock::MockSource;
