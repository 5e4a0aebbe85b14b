//! Test support for nasdaq-data (tests only; never published).
//!
//! - [`generate`]: a deterministic generator of realistic daily bars; it made
//!   the bundled sample and feeds the tests and the benchmark.
//! - [`conformance`]: scenarios every [`nasdaq_storage::MarketSource`] backend must pass.
//! - [`S3TestServer`]: moto's S3 server on 127.0.0.1 for the S3 tests.
//! - [`FaultProxy`]: faults (503, reset, cut body, stall, flipped byte) between client and server.
//! - [`http_stub`]: stand-ins for the container, instance-metadata and SSO endpoints.
//! - [`MockSource`]: a `mockall` mock of `MarketSource` for exact call expectations.

pub mod conformance;
pub mod fault_proxy;
pub mod generate;
pub mod http_stub;
mod mock;
pub mod s3_server;

pub use fault_proxy::{Fault, FaultProxy};
pub use generate::{BarsSpec, generate_csv};
pub use mock::MockSource;
pub use s3_server::{S3TestServer, TestSession};
