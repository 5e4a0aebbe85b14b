//! The disk cache of remote objects, as a [`MarketSource`](crate::MarketSource) decorator.
//!
//! - Entries are keyed by the SHA-256 of the object's full address
//!   (`s3://bucket/key` with its endpoint), never by a path built from the key.
//! - Each entry is `<hash>.data` (the bytes) and `<hash>.json` (address, ETag,
//!   version, size, SHA-256, when fetched).
//! - A read revalidates with `If-None-Match`: on 304 the cached bytes serve
//!   and nothing is downloaded.
//! - Downloads go to a temp file in the cache directory, are verified (size;
//!   SHA-256 against the object's `sha256` metadata when present), synced and
//!   renamed into place; a failed or interrupted download leaves nothing
//!   readable. A cut body is resumed with a ranged, `If-Match` request.
//! - One process at a time downloads an entry: an exclusive lock on
//!   `<hash>.lock`; the others wait, then find it fresh.
//! - When the server fails, the cached copy serves, marked stale.
//!
//! One file per concern: [`DiskCache`] (the directory: layout, entries,
//! verify, clear, locking) in `store`, the download with resume in
//! `download`, and the [`CachedSource`] decorator (revalidation, offline,
//! stale serving) in `cached_source`.

mod cached_source;
mod download;
mod store;

pub use cached_source::{CachedSource, DEFAULT_LOCK_WAIT};
pub use store::{CacheEntry, DiskCache, EntryCheck, TABLES_DIR, entry_ids};

/// The metadata key holding an object's SHA-256 (written by `nasdaq-cli upload`).
pub const SHA256_METADATA: &str = "sha256";

/// How reads use the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CacheMode {
    /// Revalidate the cached copy; download when changed or absent.
    #[default]
    Normal,
    /// Use the cached copy without any request; fail when absent.
    Offline,
    /// Ignore the cached copy: download again (and store).
    Refresh,
}
