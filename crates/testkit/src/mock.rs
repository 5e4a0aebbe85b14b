//! A `mockall` mock of `MarketSource`, for tests that need exact call expectations.

use async_trait::async_trait;
use bytes::Bytes;
use nasdaq_storage::{
    Fetched, GetOptions, MarketSource, ObjectInfo, ObjectWriter, PutOptions, PutReceipt, Result,
};

mockall::mock! {
    /// A `MarketSource` whose every call is an expectation set by the test.
    pub Source {}

    #[async_trait]
    impl MarketSource for Source {
        fn uri(&self, key: &str) -> String;
        async fn get(&self, key: &str, options: GetOptions) -> Result<Fetched>;
        async fn head(&self, key: &str) -> Result<ObjectInfo>;
        async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>>;
        async fn put(&self, key: &str, body: Bytes, options: PutOptions) -> Result<PutReceipt>;
        async fn delete(&self, key: &str) -> Result<()>;
        async fn put_multipart(&self, key: &str, options: PutOptions) -> Result<Box<dyn ObjectWriter>>;
    }
}

impl std::fmt::Display for MockSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("mock://")
    }
}

impl std::fmt::Debug for MockSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MockSource")
    }
}
