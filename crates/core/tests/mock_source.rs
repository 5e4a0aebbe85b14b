//! Exact call expectations: a load reads its object once and does nothing else.

use std::sync::Arc;

use futures::StreamExt;
use mockall::predicate::eq;
use nasdaq_core::{LoadRequest, Loader};
use nasdaq_storage::{Fetched, GetOptions, ObjectInfo};
use nasdaq_testkit::MockSource;

#[tokio::test]
async fn a_load_issues_exactly_one_unconditional_get() {
    let mut source = MockSource::new();
    source
        .expect_get()
        .with(eq("prices/NASDAQ.csv"), eq(GetOptions::default()))
        .times(1)
        .returning(|key, _| {
            let body = "Date,Ticker,Open,High,Low,Close\n2024-01-02,AAPL,1,2,0.5,1.5\n";
            Ok(Fetched {
                info: ObjectInfo {
                    key: key.to_owned(),
                    uri: format!("mock://{key}"),
                    size: body.len() as u64,
                    etag: Some("\"e1\"".to_owned()),
                    version: Some("v7".to_owned()),
                    last_modified: chrono::Utc::now(),
                    metadata: Default::default(),
                },
                stream: futures::stream::iter([Ok(bytes::Bytes::from(body))]).boxed(),
                cache: None,
            })
        });
    source.expect_head().never();
    source.expect_list().never();
    source.expect_put().never();
    let loaded = Loader::new(Arc::new(source))
        .load(&LoadRequest::new("prices/NASDAQ.csv"))
        .await
        .unwrap();
    assert_eq!(loaded.report.source, "mock://prices/NASDAQ.csv");
    assert_eq!(loaded.report.etag.as_deref(), Some("\"e1\""));
    assert_eq!(loaded.report.version.as_deref(), Some("v7"));
    assert_eq!(loaded.report.rows, 1);
}
