//! The conformance suite against the memory and local backends, the disk
//! cache over the memory backend, and sources behind `Box<dyn>` / `Arc<dyn>`.

use std::sync::Arc;

use nasdaq_storage::{CachedSource, DiskCache, MarketSource, ObjectStoreSource};
use nasdaq_testkit::conformance;

#[tokio::test]
async fn memory_backend_conforms() {
    conformance::run_all(&ObjectStoreSource::memory(), true).await;
}

#[tokio::test]
async fn local_backend_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let source = ObjectStoreSource::local(dir.path()).unwrap();
    conformance::run_all(&source, false).await;
}

#[tokio::test]
async fn local_backend_reports_a_missing_root() {
    let err = ObjectStoreSource::local("/definitely/not/here").unwrap_err();
    assert!(err.to_string().contains("/definitely/not/here"), "{err}");
}

#[tokio::test]
async fn cached_memory_backend_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DiskCache::open(dir.path().join("cache")).unwrap();
    let cached = CachedSource::new(
        Arc::new(ObjectStoreSource::memory()),
        cache.clone(),
        "memory",
    );
    conformance::run_all(&cached, true).await;
    // The second pass finds every key it reads already cached under an older
    // ETag (each scenario puts before it gets), so each whole-object read goes
    // through revalidation and must still yield the new bytes.
    conformance::run_all(&cached, true).await;
    assert!(
        !cache.entries().unwrap().is_empty(),
        "whole-object reads went through the cache"
    );
    let unsound: Vec<_> = cache
        .verify()
        .unwrap()
        .into_iter()
        .filter(|check| check.problem.is_some())
        .collect();
    assert!(
        unsound.is_empty(),
        "the cache is sound after the suite: {unsound:?}"
    );
}

#[tokio::test]
async fn boxed_source_conforms() {
    let boxed: Box<dyn MarketSource> = Box::new(ObjectStoreSource::memory());
    // `&boxed` is a `&dyn MarketSource` only through the forwarding impl for
    // `Box<T>`, not by dereferencing to the source inside.
    conformance::run_all(&boxed, true).await;
}

#[tokio::test]
async fn shared_source_conforms() {
    let shared: Arc<dyn MarketSource> = Arc::new(ObjectStoreSource::memory());
    conformance::run_all(&shared, true).await;
    assert_eq!(shared.to_string(), "memory://", "Display forwards");
}

#[tokio::test]
async fn a_refused_connection_keeps_the_object_store_error_as_its_cause() {
    use std::error::Error as _;
    use std::time::Duration;

    use nasdaq_storage::{CredentialInputs, Error, MarketSource, S3SourceBuilder};
    let s3 = S3SourceBuilder::new("market")
        .with_endpoint(Some("http://127.0.0.1:1".to_owned()))
        .with_allow_http(true)
        .with_credentials(CredentialInputs::default().with_keys(
            "AKIAEXAMPLE000",
            "example-secret",
            None,
            "the test",
        ))
        .with_retries(0, Duration::from_secs(1), Duration::from_millis(1))
        .build()
        .await
        .unwrap();
    let err = s3.head("NASDAQ.csv").await.unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err}");
    assert!(err.is_unreachable(), "{err:?}");
    let cause = err.source().expect("a cause");
    assert!(
        cause.downcast_ref::<object_store::Error>().is_some(),
        "{cause:?}"
    );
    assert!(!format!("{err:?}").contains("example-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_multipart_upload_leaves_the_whole_object_or_nothing() {
    use nasdaq_storage::{MarketSource, PutOptions, cleanup};
    let body = bytes::Bytes::from(vec![b'7'; 40 << 20]);
    for millis in [0u64, 2, 10, 40, 200, 5000] {
        let dir = tempfile::tempdir().unwrap();
        let source = ObjectStoreSource::local(dir.path()).unwrap();
        let put = source.put("big.csv", body.clone(), PutOptions::default());
        let finished = tokio::time::timeout(std::time::Duration::from_millis(millis), put)
            .await
            .is_ok();
        assert!(cleanup::finish(std::time::Duration::from_secs(10)).await);
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        match names.as_slice() {
            [] => assert!(!finished, "{millis} ms: a finished upload left no object"),
            [one] => {
                assert_eq!(one, "big.csv", "{millis} ms: {names:?}");
                assert_eq!(
                    std::fs::metadata(dir.path().join(one)).unwrap().len(),
                    40 << 20
                );
            }
            _ => panic!("{millis} ms: staging files left: {names:?}"),
        }
    }
}
