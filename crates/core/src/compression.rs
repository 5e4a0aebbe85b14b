//! Compressed objects (`.gz`, `.zst`), recognised by magic bytes or by
//! extension and decoded while streaming, with a cap on the decoded size
//! against decompression bombs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_compression::tokio::bufread::{GzipDecoder, ZstdDecoder};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use nasdaq_storage::ByteStream;

use crate::{Error, Result};
use tokio_util::io::{ReaderStream, StreamReader};

/// A compression format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    Gzip,
    Zstd,
}

impl Codec {
    /// The codec of a body, from its first bytes, else from the file name.
    pub(crate) fn detect(first: &[u8], name: &str) -> Option<Self> {
        if first.starts_with(&[0x1f, 0x8b]) {
            Some(Self::Gzip)
        } else if first.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Self::Zstd)
        } else if first.is_empty() && name.ends_with(".gz") {
            Some(Self::Gzip)
        } else if first.is_empty() && name.ends_with(".zst") {
            Some(Self::Zstd)
        } else {
            None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
        }
    }
}

/// A stream of decoded bytes; its errors are the engine's, so that a
/// corrupt stream is told apart from a failing source.
pub(crate) type DecodedStream = futures::stream::BoxStream<'static, Result<Bytes>>;

/// Decodes `stream` (whose first chunk was `first`) with `codec`; fails
/// naming `file` when the data is corrupt or truncated, or decodes past `cap` bytes.
pub(crate) fn decode(
    first: Bytes,
    rest: ByteStream,
    codec: Codec,
    file: &str,
    cap: u64,
) -> DecodedStream {
    let raw = futures::stream::once(async move { Ok::<_, nasdaq_storage::Error>(first) })
        .chain(rest)
        .map_err(std::io::Error::other);
    let reader = StreamReader::new(raw);
    let decoded: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>> = match codec {
        Codec::Gzip => {
            let mut decoder = GzipDecoder::new(reader);
            decoder.multiple_members(true);
            Box::pin(decoder)
        }
        Codec::Zstd => Box::pin(ZstdDecoder::new(reader)),
    };
    let total = Arc::new(AtomicU64::new(0));
    let file = file.to_owned();
    ReaderStream::with_capacity(decoded, 1 << 20)
        .map(move |chunk| {
            let chunk = chunk.map_err(|err| source_or_corrupt(err, &file, codec))?;
            let seen = total.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
            if seen > cap {
                return Err(Error::TooLarge {
                    file: file.clone(),
                    cap,
                });
            }
            Ok(chunk)
        })
        .boxed()
}

/// A decoder error is either the source failing underneath (kept as the
/// storage error it was) or the compressed data itself being bad.
fn source_or_corrupt(err: std::io::Error, file: &str, codec: Codec) -> Error {
    let from_source = err
        .get_ref()
        .is_some_and(|inner| inner.is::<nasdaq_storage::Error>());
    let source = if from_source {
        match err
            .into_inner()
            .map(|inner| inner.downcast::<nasdaq_storage::Error>())
        {
            Some(Ok(storage)) => return Error::Storage(*storage),
            Some(Err(other)) => std::io::Error::other(other),
            None => std::io::Error::other("the decoder failed"),
        }
    } else {
        err
    };
    Error::CorruptStream {
        file: file.to_owned(),
        codec: codec.name(),
        source,
    }
}
