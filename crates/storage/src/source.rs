//! The `MarketSource` trait: where market data bytes come from and go to.

use std::collections::BTreeMap;
use std::fmt::{Debug, Display};
use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use futures::stream::BoxStream;
use serde::Serialize;

use crate::Result;

/// A stream of the bytes of one object, in order.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// What is known of one stored object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectInfo {
    /// The key of the object within its source.
    pub key: String,
    /// The full address, e.g. `s3://bucket/key` or `file:///dir/key`.
    pub uri: String,
    /// Size in bytes.
    pub size: u64,
    /// The entity tag, when the backend has one.
    pub etag: Option<String>,
    /// The version id, when the backend versions objects.
    pub version: Option<String>,
    /// When the object was last written.
    pub last_modified: DateTime<Utc>,
    /// User metadata stored with the object (S3 `x-amz-meta-*`). Empty where unsupported.
    pub metadata: BTreeMap<String, String>,
}

/// Told how a read advances, e.g. to draw a progress bar.
pub trait Progress: Send + Sync {
    /// A read of `what` starts; `total` bytes when known.
    fn start(&self, what: &str, total: Option<u64>);
    /// `bytes` more bytes arrived.
    fn advance(&self, bytes: u64);
    /// The read is over.
    fn finish(&self);
}

/// Several reads drawn as one bar: the caller starts and finishes the bar
/// once, with the total of all reads; each read only adds its bytes.
#[derive(Clone)]
pub struct SharedBar(pub std::sync::Arc<dyn Progress>);

impl Progress for SharedBar {
    fn start(&self, _: &str, _: Option<u64>) {}

    fn advance(&self, bytes: u64) {
        self.0.advance(bytes);
    }

    fn finish(&self) {}
}

/// Options of a [`MarketSource::get`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetOptions {
    /// Only send the body when the object's ETag differs from this one;
    /// otherwise fail with [`crate::Error::NotModified`].
    pub if_none_match: Option<String>,
    /// Only this byte range (end exclusive, clamped to the object's size).
    pub range: Option<Range<u64>>,
    /// Only read when the object's ETag is this one (resuming a download).
    pub if_match: Option<String>,
}

/// Options of a [`MarketSource::put`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// User metadata to store with the object. Backends that cannot store
    /// metadata (the local file system) drop it.
    pub metadata: BTreeMap<String, String>,
    /// Only create: fail with [`crate::Error::AlreadyExists`] if an object
    /// is at the key when the write completes (a conditional write, no race).
    pub create_only: bool,
}

/// What a [`MarketSource::put`] stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PutReceipt {
    /// The ETag the backend gave the new object.
    pub etag: Option<String>,
    /// The version id, where versioned.
    pub version: Option<String>,
}

/// An object being read: what it is and its bytes.
pub struct Fetched {
    /// The object's description at the time of the read.
    pub info: ObjectInfo,
    /// The bytes (of the requested range, if any).
    pub stream: ByteStream,
    /// How the disk cache served the read, when a cache is in the way.
    pub cache: Option<CacheOutcome>,
}

/// How the disk cache served a read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "status")]
pub enum CacheOutcome {
    /// Not cached (or `--refresh`): downloaded, verified and stored.
    Miss,
    /// The server said the cached copy is current (304): nothing downloaded.
    Revalidated,
    /// `--offline`: the cached copy, without asking the server.
    Offline,
    /// The server failed; the cached copy was used.
    Stale {
        /// Why the server could not be used.
        reason: String,
    },
}

impl CacheOutcome {
    /// The status word: miss, revalidated, offline, stale.
    pub fn status(&self) -> &'static str {
        match self {
            Self::Miss => "miss",
            Self::Revalidated => "revalidated",
            Self::Offline => "offline",
            Self::Stale { .. } => "stale",
        }
    }
}

impl Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched")
            .field("info", &self.info)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// A place market data objects are read from and written to.
///
/// # Contract
///
/// Every implementation, checked by the conformance suite in `nasdaq-testkit`:
/// - keys are `/`-separated relative paths; `uri(key)` names the object fully;
/// - `get` of a missing key fails with [`crate::Error::NotFound`], never with an
///   empty stream; `head` likewise;
/// - `get` with `if_none_match` equal to the current ETag fails with
///   [`crate::Error::NotModified`] and sends no body;
/// - `get` with a range yields exactly those bytes (clamped to the object's end);
/// - `info` of a `get` equals what `head` reports for the same object;
/// - `list(prefix)` yields every object whose key starts with `prefix`, in
///   lexicographic key order;
/// - after `put` returns, `get` yields exactly the bytes put, and `head` the
///   metadata put (where the backend stores metadata);
/// - `put` with `create_only` over an existing object fails with
///   [`crate::Error::AlreadyExists`] and leaves the object as it was;
/// - `delete` removes the object (`get` is then `NotFound`); deleting a
///   missing object succeeds;
/// - an object written with `put_multipart` is not visible at its key
///   until `finish` returns; a writer dropped before that leaves nothing
///   there (the upload is aborted).
///
/// `Box<T>` and `Arc<T>` of a source (`dyn MarketSource` included) are
/// sources too, forwarding every call.
#[async_trait]
pub trait MarketSource: Display + Debug + Send + Sync + 'static {
    /// The full address of `key` in this source, e.g. `s3://bucket/key`.
    fn uri(&self, key: &str) -> String;

    /// Reads an object.
    async fn get(&self, key: &str, options: GetOptions) -> Result<Fetched>;

    /// Describes an object without reading it.
    async fn head(&self, key: &str) -> Result<ObjectInfo>;

    /// Lists objects whose key starts with `prefix`, sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>>;

    /// Stores `body` under `key`, replacing any object there (unless `create_only`).
    async fn put(&self, key: &str, body: Bytes, options: PutOptions) -> Result<PutReceipt>;

    /// Removes the object at `key`; a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<()>;

    /// Starts writing `key` in parts, for bodies produced as they are
    /// written (an encoder's output): memory stays at a few parts whatever
    /// the size. `create_only` is refused: a multipart completion cannot be
    /// made conditional here.
    async fn put_multipart(&self, key: &str, options: PutOptions) -> Result<Box<dyn ObjectWriter>>;
}

/// An object being written in parts by [`MarketSource::put_multipart`].
///
/// Nothing is visible at the key until [`finish`](Self::finish) returns;
/// dropped before that (an error, Ctrl-C), the upload is aborted.
#[async_trait]
pub trait ObjectWriter: Send {
    /// Appends `data`; waits while too many parts are in flight.
    async fn write(&mut self, data: Bytes) -> Result<()>;

    /// Completes the object and makes it visible.
    async fn finish(self: Box<Self>) -> Result<PutReceipt>;
}

/// Conveniences over any [`MarketSource`].
#[async_trait]
pub trait MarketSourceExt: MarketSource {
    /// Reads a whole object into memory.
    async fn get_bytes(&self, key: &str) -> Result<Bytes> {
        let fetched = self.get(key, GetOptions::default()).await?;
        let chunks: Vec<Bytes> = fetched.stream.try_collect().await?;
        Ok(chunks.concat().into())
    }

    /// Whether an object exists.
    async fn exists(&self, key: &str) -> Result<bool> {
        match self.head(key).await {
            Ok(_) => Ok(true),
            Err(crate::Error::NotFound { .. }) => Ok(false),
            Err(other) => Err(other),
        }
    }
}

impl<T: MarketSource + ?Sized> MarketSourceExt for T {}

/// Forwards every method to the source behind the pointer, so that
/// `Box<dyn MarketSource>`, `Arc<dyn MarketSource>` (and boxes or arcs of a
/// concrete source) are themselves sources: they can be passed wherever a
/// `&dyn MarketSource` or an `impl MarketSource` is expected, as object_store
/// does for `ObjectStore`.
macro_rules! forward_impl {
    ($pointer:ty) => {
        #[async_trait]
        #[deny(clippy::missing_trait_methods)]
        impl<T: MarketSource + ?Sized> MarketSource for $pointer {
            fn uri(&self, key: &str) -> String {
                T::uri(self, key)
            }

            async fn get(&self, key: &str, options: GetOptions) -> Result<Fetched> {
                T::get(self, key, options).await
            }

            async fn head(&self, key: &str) -> Result<ObjectInfo> {
                T::head(self, key).await
            }

            async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
                T::list(self, prefix).await
            }

            async fn put(&self, key: &str, body: Bytes, options: PutOptions) -> Result<PutReceipt> {
                T::put(self, key, body, options).await
            }

            async fn delete(&self, key: &str) -> Result<()> {
                T::delete(self, key).await
            }

            async fn put_multipart(
                &self,
                key: &str,
                options: PutOptions,
            ) -> Result<Box<dyn ObjectWriter>> {
                T::put_multipart(self, key, options).await
            }
        }
    };
}

forward_impl!(std::boxed::Box<T>);
forward_impl!(std::sync::Arc<T>);
