//! The conformance suite against the memory and local backends.

use nasdaq_storage::ObjectStoreSource;
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
