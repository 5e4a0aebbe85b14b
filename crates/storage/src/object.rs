//! [`MarketSource`] over any `object_store` store: local directory, memory, S3, ...

use std::collections::BTreeMap;
use std::fmt::{Debug, Display};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, AttributeValue, Attributes, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt,
    PutPayload,
};

use crate::source::{
    ByteStream, Fetched, GetOptions, ObjectInfo, ObjectWriter, PutOptions, PutReceipt,
};
use crate::{Error, MarketSource, Result};

/// Bodies larger than this are uploaded in parts.
const MULTIPART_THRESHOLD: usize = 16 * 1024 * 1024;
/// Size of one part of a multipart upload, and of one read from a local file.
const CHUNK_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one [`ObjectWriter`] uploading at once: memory is this many
/// parts plus the one being filled.
const PARTS_IN_FLIGHT: usize = 2;

/// A [`MarketSource`] backed by an [`ObjectStore`].
#[derive(Clone)]
pub struct ObjectStoreSource {
    store: Arc<dyn ObjectStore>,
    /// The address of the store's root, without a trailing slash: `s3://bucket`.
    root: String,
    stores_metadata: bool,
}

impl ObjectStoreSource {
    /// Wraps `store`, whose root is addressed as `root` (for example `s3://bucket`).
    pub fn new(store: Arc<dyn ObjectStore>, root: impl Into<String>) -> Self {
        let mut root = root.into();
        while root.ends_with('/') && !root.ends_with("://") {
            root.pop();
        }
        Self {
            store,
            root,
            stores_metadata: true,
        }
    }

    /// A source rooted at the local directory `dir` (which must exist).
    ///
    /// The local file system cannot store user metadata: `put` drops it.
    ///
    /// ```
    /// use nasdaq_storage::MarketSource;
    /// let dir = tempfile::tempdir().unwrap();
    /// let source = nasdaq_storage::ObjectStoreSource::local(dir.path()).unwrap();
    /// assert!(source.uri("a.csv").starts_with("file:///"));
    /// ```
    pub fn local(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let canonical = std::fs::canonicalize(dir).map_err(|source| Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let store = LocalFileSystem::new_with_prefix(&canonical).map_err(|err| {
            Error::from_object_store(err, format!("file://{}", canonical.display()))
        })?;
        Ok(Self {
            stores_metadata: false,
            ..Self::new(Arc::new(store), format!("file://{}", canonical.display()))
        })
    }

    /// An empty in-memory source, addressed as `memory://`.
    pub fn memory() -> Self {
        Self::new(Arc::new(InMemory::new()), "memory://")
    }

    fn path(&self, key: &str) -> Result<ObjectPath> {
        ObjectPath::parse(key).map_err(|err| Error::InvalidKey {
            key: key.to_owned(),
            reason: err.to_string(),
        })
    }

    fn error(&self, key: &str) -> impl FnOnce(object_store::Error) -> Error + '_ {
        let uri = self.uri(key);
        move |err| Error::from_object_store(err, uri)
    }

    fn info(&self, meta: object_store::ObjectMeta, attributes: &Attributes) -> ObjectInfo {
        let key = meta.location.to_string();
        let metadata = attributes
            .iter()
            .filter_map(|(attribute, value)| match attribute {
                Attribute::Metadata(name) => Some((name.to_string(), value.to_string())),
                _ => None,
            })
            .collect();
        ObjectInfo {
            uri: self.uri(&key),
            key,
            size: meta.size,
            etag: meta.e_tag,
            version: meta.version,
            last_modified: meta.last_modified,
            metadata,
        }
    }

    fn attributes(&self, metadata: &BTreeMap<String, String>) -> Attributes {
        if !self.stores_metadata {
            return Attributes::new();
        }
        metadata
            .iter()
            .map(|(name, value)| {
                (
                    Attribute::Metadata(name.clone().into()),
                    AttributeValue::from(value.clone()),
                )
            })
            .collect()
    }
}

impl Display for ObjectStoreSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.root)
    }
}

impl Debug for ObjectStoreSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The store's own Debug may print its configuration; keep secrets out.
        f.debug_struct("ObjectStoreSource")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl MarketSource for ObjectStoreSource {
    fn uri(&self, key: &str) -> String {
        if self.root.ends_with("//") {
            format!("{}{key}", self.root)
        } else {
            format!("{}/{key}", self.root)
        }
    }

    async fn get(&self, key: &str, options: GetOptions) -> Result<Fetched> {
        let path = self.path(key)?;
        let request = object_store::GetOptions {
            if_none_match: options.if_none_match,
            if_match: options.if_match,
            range: options.range.map(GetRange::Bounded),
            ..Default::default()
        };
        let result = self
            .store
            .get_opts(&path, request)
            .await
            .map_err(self.error(key))?;
        let info = self.info(result.meta.clone(), &result.attributes);
        let uri = info.uri.clone();
        let stream: ByteStream = match result.payload {
            GetResultPayload::File(file, file_path) => {
                file_stream(file, file_path, result.range.clone())
            }
            GetResultPayload::Stream(stream) => stream
                .map_err(move |err| Error::from_object_store(err, uri.clone()))
                .boxed(),
        };
        Ok(Fetched {
            info,
            stream,
            cache: None,
        })
    }

    async fn head(&self, key: &str) -> Result<ObjectInfo> {
        let path = self.path(key)?;
        let request = object_store::GetOptions {
            head: true,
            ..Default::default()
        };
        let result = self
            .store
            .get_opts(&path, request)
            .await
            .map_err(self.error(key))?;
        Ok(self.info(result.meta, &result.attributes))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        // object_store lists by path segment; filter the last partial segment ourselves.
        let (dir, _) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        let dir_path = if dir.is_empty() {
            None
        } else {
            Some(self.path(dir)?)
        };
        let metas: Vec<object_store::ObjectMeta> = self
            .store
            .list(dir_path.as_ref())
            .try_collect()
            .await
            .map_err(self.error(prefix))?;
        let mut objects: Vec<ObjectInfo> = metas
            .into_iter()
            .filter(|meta| meta.location.as_ref().starts_with(prefix))
            .map(|meta| self.info(meta, &Attributes::new()))
            .collect();
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    async fn put(&self, key: &str, body: Bytes, options: PutOptions) -> Result<PutReceipt> {
        let path = self.path(key)?;
        let attributes = self.attributes(&options.metadata);
        // A conditional write is one request: object_store cannot make a
        // multipart completion conditional (S3Source streams those itself).
        let result = if body.len() > MULTIPART_THRESHOLD && !options.create_only {
            let upload = self
                .store
                .put_multipart_opts(
                    &path,
                    object_store::PutMultipartOptions {
                        attributes,
                        ..Default::default()
                    },
                )
                .await
                .map_err(self.error(key))?;
            // Dropped before it completes (an error, Ctrl-C), the upload is
            // aborted, so no incomplete multipart upload stays on the server.
            let mut upload = AbortOnDrop(Some(upload));
            let mut result = Ok(());
            for part in body.chunks(CHUNK_SIZE) {
                result = upload.get().put_part(body.slice_ref(part).into()).await;
                if result.is_err() {
                    break;
                }
            }
            match result {
                Ok(()) => {
                    let done = upload.get().complete().await;
                    if done.is_ok() {
                        upload.disarm();
                    }
                    done
                }
                Err(err) => Err(err),
            }
        } else {
            self.store
                .put_opts(
                    &path,
                    PutPayload::from_bytes(body),
                    object_store::PutOptions {
                        attributes,
                        mode: if options.create_only {
                            object_store::PutMode::Create
                        } else {
                            object_store::PutMode::Overwrite
                        },
                        ..Default::default()
                    },
                )
                .await
        }
        .map_err(self.error(key))?;
        Ok(PutReceipt {
            etag: result.e_tag,
            version: result.version,
        })
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(self.error(key)(err)),
        }
    }

    async fn put_multipart(&self, key: &str, options: PutOptions) -> Result<Box<dyn ObjectWriter>> {
        if options.create_only {
            return Err(Error::InvalidKey {
                key: key.to_owned(),
                reason: "a write in parts cannot be create-only".to_owned(),
            });
        }
        let path = self.path(key)?;
        let upload = self
            .store
            .put_multipart_opts(
                &path,
                object_store::PutMultipartOptions {
                    attributes: self.attributes(&options.metadata),
                    ..Default::default()
                },
            )
            .await
            .map_err(self.error(key))?;
        Ok(Box::new(PartWriter {
            upload: Some(object_store::WriteMultipart::new_with_chunk_size(
                upload, CHUNK_SIZE,
            )),
            uri: self.uri(key),
        }))
    }
}

/// An [`ObjectWriter`] over object_store's multipart writer; aborts the
/// upload when dropped before it finished.
struct PartWriter {
    /// Present until `finish` takes it.
    upload: Option<object_store::WriteMultipart>,
    uri: String,
}

#[async_trait]
impl ObjectWriter for PartWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        let upload = self.upload.as_mut().expect("present until finish");
        upload
            .wait_for_capacity(PARTS_IN_FLIGHT)
            .await
            .map_err(|err| Error::from_object_store(err, self.uri.clone()))?;
        upload.put(data);
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<PutReceipt> {
        let upload = self.upload.take().expect("present until finish");
        // object_store's finish aborts the upload itself when a part failed.
        let result = upload
            .finish()
            .await
            .map_err(|err| Error::from_object_store(err, self.uri.clone()))?;
        Ok(PutReceipt {
            etag: result.e_tag,
            version: result.version,
        })
    }
}

impl Drop for PartWriter {
    fn drop(&mut self) {
        if let Some(upload) = self.upload.take() {
            crate::cleanup::spawn(async move {
                if let Err(err) = upload.abort().await {
                    tracing::warn!(%err, "aborting an unfinished multipart upload failed");
                }
            });
        }
    }
}

/// A multipart upload that aborts itself unless disarmed after completing.
struct AbortOnDrop(Option<Box<dyn object_store::MultipartUpload>>);

impl AbortOnDrop {
    fn get(&mut self) -> &mut Box<dyn object_store::MultipartUpload> {
        self.0.as_mut().expect("armed until disarmed")
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(mut upload) = self.0.take() {
            crate::cleanup::spawn(async move {
                if let Err(err) = upload.abort().await {
                    tracing::warn!(%err, "aborting an unfinished multipart upload failed");
                }
            });
        }
    }
}

/// Streams `len` bytes of a local file in large blocking reads.
///
/// object_store reads local files 8 KiB at a time, one blocking task each;
/// large reads keep a 400 MB file from costing fifty thousand task hops.
pub(crate) fn file_stream(
    mut file: std::fs::File,
    path: PathBuf,
    range: std::ops::Range<u64>,
) -> ByteStream {
    use std::io::{Seek, SeekFrom};
    if let Err(source) = file.seek(SeekFrom::Start(range.start)) {
        let err = Error::Io {
            path: path.display().to_string(),
            source,
        };
        return futures::stream::once(async move { Err(err) }).boxed();
    }
    // One buffer for the whole read: once the reader has let go of a piece,
    // `reserve` takes its memory back instead of allocating (and the kernel
    // zeroing) fresh pages for every piece of the file.
    let state = (file, path, range.end - range.start, BytesMut::new());
    futures::stream::try_unfold(state, |(file, path, remaining, buffer)| async move {
        if remaining == 0 {
            return Ok(None);
        }
        let (chunk, buffer, file, path) = tokio::task::spawn_blocking(move || {
            let mut buffer = buffer;
            let want = remaining.min(CHUNK_SIZE as u64) as usize;
            buffer.reserve(want);
            buffer.resize(want, 0);
            let mut filled = 0;
            let result = loop {
                match (&file).read(&mut buffer[filled..]) {
                    Ok(0) => break Ok(()),
                    Ok(read) if filled + read == want => {
                        filled = want;
                        break Ok(());
                    }
                    Ok(read) => filled += read,
                    Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(err) => break Err(err),
                }
            };
            buffer.truncate(filled);
            let chunk = buffer.split().freeze();
            (result.map(|()| chunk), buffer, file, path)
        })
        .await
        .map_err(|err| Error::Io {
            path: "local file".to_owned(),
            source: std::io::Error::other(err),
        })?;
        let chunk = chunk.map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        if chunk.is_empty() {
            return Err(Error::Io {
                path: path.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "file shrank while it was read",
                ),
            });
        }
        let remaining = remaining - chunk.len() as u64;
        Ok(Some((chunk, (file, path, remaining, buffer))))
    })
    .boxed()
}
