//! The disk cache's download path: a cut body is resumed with ranged
//! `If-Match` requests, and a download that cannot complete or verify leaves
//! nothing in the cache.
//!
//! The inner source is the memory backend behind [`CutBodies`], which cuts the
//! bodies it sends the way a dropped connection does, and records every
//! request so the tests can say exactly what the cache asked for.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use nasdaq_storage::cache::SHA256_METADATA;
use nasdaq_storage::{
    ByteStream, CacheOutcome, CachedSource, DiskCache, Error, Fetched, GetOptions, MarketSource,
    ObjectInfo, ObjectStoreSource, PutOptions, PutReceipt, Result,
};
use sha2::{Digest, Sha256};

const KEY: &str = "prices/NASDAQ.csv";

/// How a body is cut.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// The stream ends cleanly after this many bytes (a connection closed early).
    EndAfter(usize),
    /// The stream fails after this many bytes (a connection reset).
    FailAfter(usize),
}

/// The memory backend, with the first `bodies_to_cut` bodies it sends cut short.
#[derive(Debug)]
struct CutBodies {
    inner: ObjectStoreSource,
    cut: Cut,
    bodies_to_cut: usize,
    /// Written over the object once its first body is cut, when set: the
    /// object changes while the cache is downloading it.
    replace_after_cut: Option<Bytes>,
    requests: Mutex<Vec<GetOptions>>,
}

impl CutBodies {
    fn new(inner: ObjectStoreSource, cut: Cut, bodies_to_cut: usize) -> Self {
        Self {
            inner,
            cut,
            bodies_to_cut,
            replace_after_cut: None,
            requests: Mutex::new(Vec::new()),
        }
    }

    fn requests(&self) -> Vec<GetOptions> {
        self.requests.lock().unwrap().clone()
    }
}

impl std::fmt::Display for CutBodies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.inner, f)
    }
}

#[async_trait]
impl MarketSource for CutBodies {
    fn uri(&self, key: &str) -> String {
        self.inner.uri(key)
    }

    async fn get(&self, key: &str, options: GetOptions) -> Result<Fetched> {
        let sent = {
            let mut requests = self.requests.lock().unwrap();
            requests.push(options.clone());
            requests.len() - 1
        };
        let fetched = self.inner.get(key, options).await?;
        if sent >= self.bodies_to_cut {
            return Ok(fetched);
        }
        let body: Vec<Bytes> = fetched.stream.try_collect().await?;
        let body = Bytes::from(body.concat());
        let stream: ByteStream = match self.cut {
            Cut::EndAfter(n) => {
                futures::stream::iter([Ok(body.slice(..n.min(body.len())))]).boxed()
            }
            Cut::FailAfter(n) => futures::stream::iter([
                Ok(body.slice(..n.min(body.len()))),
                Err(Error::Io {
                    path: self.uri(key),
                    source: std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "connection reset by the test",
                    ),
                }),
            ])
            .boxed(),
        };
        if let Some(replacement) = &self.replace_after_cut {
            self.inner
                .put(key, replacement.clone(), PutOptions::default())
                .await?;
        }
        Ok(Fetched { stream, ..fetched })
    }

    async fn head(&self, key: &str) -> Result<ObjectInfo> {
        self.inner.head(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        self.inner.list(prefix).await
    }

    async fn put(&self, key: &str, body: Bytes, options: PutOptions) -> Result<PutReceipt> {
        self.inner.put(key, body, options).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.inner.delete(key).await
    }

    async fn put_multipart(
        &self,
        key: &str,
        options: PutOptions,
    ) -> Result<Box<dyn nasdaq_storage::ObjectWriter>> {
        self.inner.put_multipart(key, options).await
    }
}

/// 1000 bytes that differ from one offset to the next, so a resumed range
/// joined at the wrong place would show.
fn body() -> Bytes {
    (0..1000u32).map(|i| (i % 251) as u8).collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A memory backend holding [`body`] under [`KEY`], with its SHA-256 in its
/// metadata (as `nasdaq-cli upload` stores it); returns the object's ETag.
async fn memory_with_body() -> (ObjectStoreSource, String) {
    let memory = ObjectStoreSource::memory();
    let receipt = memory
        .put(
            KEY,
            body(),
            PutOptions {
                metadata: [(SHA256_METADATA.to_owned(), sha256(&body()))].into(),
                ..PutOptions::default()
            },
        )
        .await
        .unwrap();
    (
        memory,
        receipt.etag.expect("the memory backend gives ETags"),
    )
}

async fn read_all(fetched: Fetched) -> Bytes {
    let chunks: Vec<Bytes> = fetched.stream.try_collect().await.unwrap();
    chunks.concat().into()
}

/// The names of the files in the cache directory, lock files aside (they
/// stay by design: they hold no data).
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        // Lock files stay by design; the tag marks the directory as a cache.
        .filter(|name| !name.ends_with(".lock") && name != "CACHEDIR.TAG")
        .collect();
    names.sort();
    names
}

/// Asserts that the cache holds no entry and no partial download.
fn assert_empty(cache: &DiskCache) {
    assert!(cache.entries().unwrap().is_empty(), "no entry is cached");
    assert!(
        cache.verify().unwrap().is_empty(),
        "no partial download is left behind"
    );
    assert_eq!(files(cache.dir()), Vec::<String>::new(), "no file is left");
}

fn range_from(start: u64, etag: &str) -> GetOptions {
    GetOptions {
        range: Some(start..1000),
        if_match: Some(etag.to_owned()),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_cut_body_is_resumed_with_a_ranged_if_match_request() {
    for cut in [Cut::EndAfter(300), Cut::FailAfter(300)] {
        let (memory, etag) = memory_with_body().await;
        let cutting = Arc::new(CutBodies::new(memory, cut, 1));
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path()).unwrap();
        let cached = CachedSource::new(cutting.clone(), cache.clone(), "test");

        let fetched = cached.get(KEY, GetOptions::default()).await.unwrap();
        assert_eq!(fetched.cache, Some(CacheOutcome::Miss), "{cut:?}");
        assert_eq!(fetched.info.size, 1000, "{cut:?}");
        assert!(read_all(fetched).await == body(), "{cut:?}: served bytes");
        assert_eq!(
            cutting.requests(),
            [GetOptions::default(), range_from(300, &etag)],
            "{cut:?}: one whole-object read, then the rest of this very version"
        );

        let entries = cache.entries().unwrap();
        assert_eq!(entries.len(), 1, "{cut:?}: {entries:?}");
        assert_eq!(entries[0].size, 1000, "{cut:?}");
        assert_eq!(entries[0].sha256, sha256(&body()), "{cut:?}");
        assert_eq!(entries[0].etag.as_deref(), Some(etag.as_str()), "{cut:?}");
        let data: Vec<String> = files(cache.dir())
            .into_iter()
            .filter(|name| name.ends_with(".data"))
            .collect();
        assert_eq!(data.len(), 1, "{cut:?}: {data:?}");
        assert!(
            std::fs::read(cache.dir().join(&data[0])).unwrap() == body(),
            "{cut:?}: the cached bytes are the original's"
        );
        assert!(
            cache.verify().unwrap().iter().all(|c| c.problem.is_none()),
            "{cut:?}: the entry is sound"
        );

        // The next read is answered from those bytes: the server only confirms them.
        let again = cached.get(KEY, GetOptions::default()).await.unwrap();
        assert_eq!(again.cache, Some(CacheOutcome::Revalidated), "{cut:?}");
        assert!(
            read_all(again).await == body(),
            "{cut:?}: revalidated bytes"
        );
        assert_eq!(
            cutting.requests().last(),
            Some(&GetOptions {
                if_none_match: Some(etag.clone()),
                ..Default::default()
            }),
            "{cut:?}: revalidation by ETag"
        );
    }
}

#[tokio::test]
async fn the_resume_limit_ends_in_truncated_with_nothing_cached() {
    for resumes in [0, 2] {
        let (memory, etag) = memory_with_body().await;
        let cutting = Arc::new(CutBodies::new(memory, Cut::EndAfter(100), usize::MAX));
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path()).unwrap();
        let cached =
            CachedSource::new(cutting.clone(), cache.clone(), "test").with_resumes(resumes);

        let err = cached.get(KEY, GetOptions::default()).await.unwrap_err();
        let Error::Truncated {
            ref uri,
            received,
            expected,
            resumes: made,
        } = err
        else {
            panic!("with {resumes} resumes: expected Truncated, got {err:?}");
        };
        assert_eq!(uri, "memory://prices/NASDAQ.csv");
        assert_eq!(made, resumes, "every allowed resume was made");
        assert_eq!(expected, 1000);
        assert_eq!(received, 100 * (resumes as u64 + 1), "100 bytes a body");
        let mut wanted = vec![GetOptions::default()];
        wanted.extend((1..=resumes as u64).map(|n| range_from(100 * n, &etag)));
        assert_eq!(cutting.requests(), wanted, "with {resumes} resumes");
        assert!(err.to_string().contains("nothing was cached"), "{err}");
        assert_empty(&cache);
    }
}

#[tokio::test]
async fn a_body_that_keeps_failing_ends_in_its_own_error_with_nothing_cached() {
    let (memory, _) = memory_with_body().await;
    let cutting = Arc::new(CutBodies::new(memory, Cut::FailAfter(100), usize::MAX));
    let dir = tempfile::tempdir().unwrap();
    let cache = DiskCache::open(dir.path()).unwrap();
    let cached = CachedSource::new(cutting.clone(), cache.clone(), "test").with_resumes(2);

    let err = cached.get(KEY, GetOptions::default()).await.unwrap_err();
    assert!(
        matches!(err, Error::Io { ref source, .. } if source.kind() == std::io::ErrorKind::ConnectionReset),
        "the cut's own error, after the resumes: {err:?}"
    );
    assert_eq!(
        cutting.requests().len(),
        3,
        "the first read and two resumes"
    );
    assert_empty(&cache);
}

#[tokio::test]
async fn an_object_changed_during_the_download_is_not_spliced() {
    let (memory, etag) = memory_with_body().await;
    let mut cutting = CutBodies::new(memory, Cut::EndAfter(300), 1);
    cutting.replace_after_cut = Some(Bytes::from(vec![b'z'; 1000]));
    let cutting = Arc::new(cutting);
    let dir = tempfile::tempdir().unwrap();
    let cache = DiskCache::open(dir.path()).unwrap();
    let cached = CachedSource::new(cutting.clone(), cache.clone(), "test");

    let err = cached.get(KEY, GetOptions::default()).await;
    assert!(err.is_err(), "the resume must not join two versions");
    assert_eq!(
        cutting.requests(),
        [GetOptions::default(), range_from(300, &etag)],
        "the resume asked for the first version only"
    );
    assert_empty(&cache);
}

#[tokio::test]
async fn a_checksum_mismatch_is_refused_with_nothing_cached() {
    let memory = ObjectStoreSource::memory();
    memory
        .put(
            KEY,
            body(),
            PutOptions {
                metadata: [(SHA256_METADATA.to_owned(), "ab12".to_owned())].into(),
                ..PutOptions::default()
            },
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = DiskCache::open(dir.path()).unwrap();
    let cached = CachedSource::new(Arc::new(memory), cache.clone(), "test");

    let err = cached.get(KEY, GetOptions::default()).await.unwrap_err();
    assert!(
        matches!(err, Error::Checksum { ref expected, ref actual, .. }
            if expected == "ab12" && *actual == sha256(&body())),
        "{err:?}"
    );
    assert_empty(&cache);
}

/// The data file of the only entry in `dir`.
fn data_file(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "data"))
        .expect("one entry")
}

#[tokio::test]
async fn an_entry_changed_on_disk_is_dropped_and_downloaded_again() {
    use futures::TryStreamExt;
    use nasdaq_storage::{CacheMode, CacheOutcome, CachedSource, DiskCache, MarketSource};

    let memory = nasdaq_storage::ObjectStoreSource::memory();
    let body = "Date,Ticker,Close\n2024-01-02,AAPL,185.6\n";
    memory
        .put("NASDAQ.csv", body.into(), Default::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let source = |mode| {
        CachedSource::new(
            Arc::new(memory.clone()),
            DiskCache::open(dir.path()).unwrap(),
            "test",
        )
        .with_mode(mode)
    };
    let read = |fetched: nasdaq_storage::Fetched| async move {
        let chunks: Vec<bytes::Bytes> = fetched.stream.try_collect().await.unwrap();
        (fetched.cache, chunks.concat())
    };
    let (outcome, _) = read(
        source(CacheMode::Normal)
            .get("NASDAQ.csv", Default::default())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(outcome, Some(CacheOutcome::Miss));

    // Same size, other bytes: not served as revalidated; fetched anew.
    let data = data_file(dir.path());
    std::fs::write(&data, body.replace("185.6", "999.9")).unwrap();
    let (outcome, bytes) = read(
        source(CacheMode::Normal)
            .get("NASDAQ.csv", Default::default())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(outcome, Some(CacheOutcome::Miss));
    assert_eq!(bytes, body.as_bytes());

    // Replaced by a link out of the cache: never followed, fetched anew,
    // the file behind the link untouched.
    let outside = dir
        .path()
        .join("..")
        .join(format!("outside-{}", std::process::id()));
    std::fs::write(&outside, body.replace("185.6", "111.1")).unwrap();
    let data = data_file(dir.path());
    std::fs::remove_file(&data).unwrap();
    std::os::unix::fs::symlink(&outside, &data).unwrap();
    let (outcome, bytes) = read(
        source(CacheMode::Normal)
            .get("NASDAQ.csv", Default::default())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(outcome, Some(CacheOutcome::Miss));
    assert_eq!(bytes, body.as_bytes());
    assert!(std::fs::read_to_string(&outside).unwrap().contains("111.1"));
    std::fs::remove_file(&outside).unwrap();

    // Offline, a damaged entry is not served: it is not in the cache.
    std::fs::write(data_file(dir.path()), body.replace("185.6", "000.0")).unwrap();
    let err = source(CacheMode::Offline)
        .get("NASDAQ.csv", Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, nasdaq_storage::Error::NotCached { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_held_lock_is_waited_for_within_a_bound_and_leftovers_are_swept() {
    use nasdaq_storage::{CacheMode, CachedSource, DiskCache, MarketSource};

    let memory = nasdaq_storage::ObjectStoreSource::memory();
    memory
        .put(
            "NASDAQ.csv",
            "Date,Close\n2024-01-02,1\n".into(),
            Default::default(),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let source = CachedSource::new(
        Arc::new(memory),
        DiskCache::open(dir.path()).unwrap(),
        "test",
    )
    .with_mode(CacheMode::Normal)
    .with_lock_wait(std::time::Duration::from_millis(300));
    source.get("NASDAQ.csv", Default::default()).await.unwrap();
    let lock = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "lock"))
        .unwrap();
    let id = lock.file_stem().unwrap().to_string_lossy().into_owned();

    // What a SIGKILLed download leaves is no damage for verify...
    let leftover = dir.path().join(format!(".{id}.k1ll3d.partial"));
    std::fs::write(&leftover, "half a download").unwrap();
    let cache = DiskCache::open(dir.path()).unwrap();
    assert!(cache.verify().unwrap().iter().all(|c| c.problem.is_none()));

    // ...and while another process holds the entry, we wait, then give up.
    let holder = std::fs::OpenOptions::new().write(true).open(&lock).unwrap();
    holder.lock().unwrap();
    let err = source
        .get("NASDAQ.csv", Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, nasdaq_storage::Error::LockTimeout { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("another process"), "{err}");
    holder.unlock().unwrap();

    // The next run that holds the lock sweeps the leftover.
    source.get("NASDAQ.csv", Default::default()).await.unwrap();
    assert!(!leftover.exists());
}
