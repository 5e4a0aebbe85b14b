//! The chain of sources: a source failure moves on, a data error stops, and
//! every error keeps its cause whole.

use std::error::Error as _;
use std::sync::Arc;

use nasdaq_core::{Candidate, Error, LoadRequest, Loader, Role, WriteFailure, WriteOptions};
use nasdaq_storage::{MarketSource, ObjectStoreSource, PutOptions};
use nasdaq_testkit::MockSource;

const CSV: &str = "Date,Ticker,Open,High,Low,Close,Adj Close,Volume\n\
                   2024-01-02,AAPL,187.2,188.4,183.9,185.6,184.9,82000000\n";

async fn holding(key: &str, body: &str) -> Arc<dyn MarketSource> {
    let source = ObjectStoreSource::memory();
    source
        .put(key, body.to_owned().into(), PutOptions::default())
        .await
        .unwrap();
    Arc::new(source)
}

fn candidate(source: Arc<dyn MarketSource>, role: Role) -> Candidate {
    Candidate {
        source,
        key: None,
        role,
    }
}

#[tokio::test]
async fn a_missing_object_moves_to_the_next_source_and_the_report_says_so() {
    let chain = vec![
        candidate(holding("other.csv", CSV).await, Role::Primary),
        candidate(holding("NASDAQ.csv", CSV).await, Role::Secondary),
    ];
    let loaded = Loader::chain(chain)
        .load(&LoadRequest::new("NASDAQ.csv"))
        .await
        .unwrap();
    assert_eq!(loaded.report.served_by, Role::Secondary);
    assert_eq!(loaded.report.fallbacks.len(), 1);
    assert_eq!(loaded.report.fallbacks[0].role, Role::Primary);
    assert!(
        loaded.report.fallbacks[0].error.contains("not found"),
        "{:?}",
        loaded.report.fallbacks
    );
}

#[tokio::test]
async fn a_data_error_stops_the_chain() {
    let mut never = MockSource::new();
    never.expect_get().never();
    never.expect_list().never();
    never.expect_uri().returning(|key| format!("mock://{key}"));
    let chain = vec![
        candidate(
            holding(
                "NASDAQ.csv",
                "Date,Ticker,Open,High,Low,Close\n2024-01-02,AAPL,1,x,1,1\n",
            )
            .await,
            Role::Primary,
        ),
        candidate(Arc::new(never), Role::Secondary),
    ];
    let err = Loader::chain(chain)
        .load(&LoadRequest::new("NASDAQ.csv"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Value {
                line: 2,
                column: 4,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.is_source_failure());
}

#[tokio::test]
async fn when_every_source_fails_the_failures_are_data_and_the_primary_is_the_cause() {
    let chain = vec![
        candidate(holding("a.csv", CSV).await, Role::Primary),
        candidate(holding("b.csv", CSV).await, Role::LocalFallback),
    ];
    let err = Loader::chain(chain)
        .load(&LoadRequest::new("NASDAQ.csv"))
        .await
        .unwrap_err();
    let Error::AllSourcesFailed {
        failures, others, ..
    } = &err
    else {
        panic!("{err}");
    };
    let roles: Vec<Role> = failures.iter().map(|f| f.role).collect();
    assert_eq!(roles, [Role::Primary, Role::LocalFallback]);
    assert_eq!(others.len(), 1);
    let cause = err
        .source()
        .and_then(|c| c.downcast_ref::<Box<Error>>())
        .expect("the primary's error is the source");
    assert!(
        matches!(cause.storage(), Some(nasdaq_storage::Error::NotFound { uri }) if uri == "memory://NASDAQ.csv"),
        "{cause}"
    );
    assert!(err.is_source_failure());
}

#[tokio::test]
async fn a_write_error_keeps_the_io_error() {
    let loaded = Loader::new(holding("NASDAQ.csv", CSV).await)
        .load(&LoadRequest::new("NASDAQ.csv"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("bars.parquet");
    let err = nasdaq_core::write_table(&loaded.table, &path, &WriteOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Write { .. }), "{err}");
    let cause = err
        .source()
        .and_then(|c| c.downcast_ref::<WriteFailure>())
        .expect("the write failure is the source");
    let WriteFailure::Io(io) = cause else {
        panic!("{cause}")
    };
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
}
