//! Byte-level access to market data objects.
//!
//! `nasdaq-storage` knows bytes and objects, never CSV. Its centre is the
//! [`MarketSource`] trait, shaped like [`object_store::ObjectStore`]: a few
//! required async methods with a documented contract, conveniences in
//! [`MarketSourceExt`], usable as `Arc<dyn MarketSource>`.
//!
//! Backends:
//! - [`ObjectStoreSource`] over any `object_store` store: a local directory
//!   ([`ObjectStoreSource::local`]), memory ([`ObjectStoreSource::memory`]), or
//!   a store you built yourself ([`ObjectStoreSource::new`]);
//! - [`S3Source`], built by [`S3SourceBuilder`], with the AWS credential chain
//!   of [`credentials`].
//!
//! ```
//! # tokio_test();
//! # fn tokio_test() { tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use nasdaq_storage::{MarketSource, MarketSourceExt, ObjectStoreSource, PutOptions};
//!
//! let source = ObjectStoreSource::memory();
//! source.put("prices/NASDAQ.csv", "Date,Ticker\n".into(), PutOptions::default()).await.unwrap();
//! let bytes = source.get_bytes("prices/NASDAQ.csv").await.unwrap();
//! assert_eq!(&bytes[..], b"Date,Ticker\n");
//! # }) }
//! ```

pub mod cache;
pub mod cleanup;
pub mod credentials;
mod error;
mod object;
mod s3;
mod s3_requests;
mod source;
mod unavailable;

pub use cache::{CacheMode, CachedSource, DiskCache};
pub use credentials::{CredentialInputs, CredentialReport, DEFAULT_REGION};
pub use error::{Error, Result, SharedError, error_chain, redact_url};
pub use object::ObjectStoreSource;
pub use s3::{S3Source, S3SourceBuilder};
pub use source::{
    ByteStream, CacheOutcome, Fetched, GetOptions, MarketSource, MarketSourceExt, ObjectInfo,
    ObjectWriter, Progress, PutOptions, PutReceipt, SharedBar,
};
pub use unavailable::UnavailableSource;
