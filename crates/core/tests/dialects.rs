//! Every dialect's fixture loads to the same canonical rows; many files
//! combine; filters apply.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Date32Type, Float64Type, UInt64Type};
use nasdaq_core::{Error, LoadRequest, Loaded, Loader, ParseOptions, RowFilter};
use nasdaq_storage::ObjectStoreSource;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dialects");

/// One canonical row, prices rounded to 1e-6.
#[derive(Debug, PartialEq)]
struct Row {
    date: i32,
    ticker: String,
    ohlc: [i64; 4],
    adj_close: Option<i64>,
    volume: Option<u64>,
}

fn rows(batches: &[RecordBatch]) -> Vec<Row> {
    let micro = |v: f64| (v * 1e6).round() as i64;
    let mut out = Vec::new();
    for b in batches {
        let price = |i: usize| b.column(i).as_primitive::<Float64Type>().clone();
        let (d, t) = (
            b.column(0).as_primitive::<Date32Type>(),
            b.column(1).as_string::<i32>(),
        );
        let (adj, vol) = (price(6), b.column(7).as_primitive::<UInt64Type>());
        for r in 0..b.num_rows() {
            out.push(Row {
                date: d.value(r),
                ticker: t.value(r).to_owned(),
                ohlc: [2, 3, 4, 5].map(|i| micro(price(i).value(r))),
                adj_close: adj.is_valid(r).then(|| micro(adj.value(r))),
                volume: vol.is_valid(r).then(|| vol.value(r)),
            });
        }
    }
    out
}

async fn load_file(dir: &Path, key: &str, parse: ParseOptions) -> Result<Loaded, Error> {
    let source = Arc::new(ObjectStoreSource::local(dir).unwrap());
    Loader::new(source)
        .load(&LoadRequest {
            parse,
            ..LoadRequest::new(key)
        })
        .await
}

#[tokio::test]
async fn every_dialect_loads_to_identical_rows() {
    let reference = load_file(
        &Path::new(FIXTURES).join("yahoo"),
        "AAPL.csv",
        ParseOptions::default(),
    )
    .await
    .unwrap();
    let expected = rows(&reference.table.batches);
    assert_eq!(expected.len(), 3);
    assert_eq!(expected[0].ticker, "AAPL");
    assert_eq!(expected[0].date, 19724, "2024-01-02");
    assert_eq!(expected[0].volume, Some(82_488_700));
    let cases = [
        ("yahoo", "AAPL.csv", true),
        ("yfinance", "prices.csv", true),
        ("nasdaq-com", "AAPL.csv", false),
        ("stooq-bulk", "aapl.us.txt", false),
        ("stooq", "aapl.us.txt", false),
        ("alpha-vantage", "AAPL.csv", true),
        ("long", "prices.csv", true),
    ];
    for (dialect, file, has_adjusted) in cases {
        let loaded = load_file(
            &Path::new(FIXTURES).join(dialect),
            file,
            ParseOptions::default(),
        )
        .await
        .unwrap_or_else(|err| panic!("{dialect}: {err}"));
        assert_eq!(loaded.report.dialect, dialect, "{dialect} detected");
        let got = rows(&loaded.table.batches);
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(
                (g.date, &g.ticker, g.ohlc, g.volume),
                (e.date, &e.ticker, e.ohlc, e.volume),
                "{dialect}"
            );
            let adjusted = if has_adjusted { e.adj_close } else { None };
            assert_eq!(g.adj_close, adjusted, "{dialect}: adj_close");
        }
        assert_eq!(got.len(), expected.len(), "{dialect}: row count");
    }
}

#[tokio::test]
async fn forcing_a_dialect_and_naming_the_ticker() {
    let dir = tempfile::tempdir().unwrap();
    // A file name that is no ticker: the ticker must be given.
    std::fs::copy(
        Path::new(FIXTURES).join("stooq/aapl.us.txt"),
        dir.path().join("download_2024.csv"),
    )
    .unwrap();
    let err = load_file(dir.path(), "download_2024.csv", ParseOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NoTicker {
                dialect: "stooq",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("name the ticker"), "{err}");
    let with_ticker = ParseOptions {
        ticker: Some("aapl".into()),
        ..Default::default()
    };
    let loaded = load_file(dir.path(), "download_2024.csv", with_ticker)
        .await
        .unwrap();
    assert_eq!(rows(&loaded.table.batches)[0].ticker, "AAPL");
    std::fs::rename(
        dir.path().join("download_2024.csv"),
        dir.path().join("download.csv"),
    )
    .unwrap();

    let forced = ParseOptions {
        dialect: Some("long".into()),
        ticker: Some("AAPL".into()),
        ..Default::default()
    };
    let loaded = load_file(dir.path(), "download.csv", forced).await.unwrap();
    assert_eq!(loaded.report.dialect, "long");
    let unknown = ParseOptions {
        dialect: Some("excel".into()),
        ..Default::default()
    };
    let err = load_file(dir.path(), "download.csv", unknown)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown dialect \"excel\"") && err.contains("stooq-bulk"),
        "{err}"
    );
}

#[tokio::test]
async fn a_directory_of_files_in_different_dialects_combines() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(FIXTURES).join("yahoo/AAPL.csv"),
        dir.path().join("AAPL.csv"),
    )
    .unwrap();
    let msft = std::fs::read_to_string(Path::new(FIXTURES).join("stooq-bulk/aapl.us.txt"))
        .unwrap()
        .replace("AAPL.US", "MSFT.US");
    std::fs::write(dir.path().join("msft.us.txt"), msft).unwrap();
    std::fs::write(dir.path().join("notes.md"), "not data").unwrap();
    let source = Arc::new(ObjectStoreSource::local(dir.path()).unwrap());
    let request = LoadRequest {
        glob: Some("*.{csv,txt}".replace("{csv,txt}", "[ct][sx][vt]")),
        ..LoadRequest::new("")
    };
    let loaded = Loader::new(source.clone()).load(&request).await.unwrap();
    assert_eq!(loaded.report.files.len(), 2);
    assert_eq!(loaded.report.dialect, "stooq-bulk, yahoo");
    assert_eq!(loaded.report.tickers, 2);
    let got = rows(&loaded.table.batches);
    let order: Vec<(i32, &str)> = got.iter().map(|r| (r.date, r.ticker.as_str())).collect();
    assert_eq!(
        order[..4],
        [
            (19724, "AAPL"),
            (19724, "MSFT"),
            (19725, "AAPL"),
            (19725, "MSFT")
        ]
    );
    assert_eq!(loaded.report.files[0].dialect, "yahoo");
    assert_eq!(loaded.report.files[0].sha256.len(), 64);

    // A glob that matches nothing is an error naming the prefix and the glob.
    let none = LoadRequest {
        glob: Some("*.parquet".into()),
        ..LoadRequest::new("")
    };
    let err = Loader::new(source)
        .load(&none)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no files match *.parquet"), "{err}");
}

#[tokio::test]
async fn ticker_and_date_filters_apply() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(FIXTURES).join("long/prices.csv"),
        dir.path().join("prices.csv"),
    )
    .unwrap();
    let filter = RowFilter {
        tickers: Some(["AAPL".to_owned()].into()),
        from: chrono::NaiveDate::from_ymd_opt(2024, 1, 3),
        to: chrono::NaiveDate::from_ymd_opt(2024, 1, 3),
    };
    let loaded = load_file(
        dir.path(),
        "prices.csv",
        ParseOptions {
            filter,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let got = rows(&loaded.table.batches);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].date, 19725);
    assert_eq!(loaded.report.rows_read, 3);
    assert_eq!(loaded.report.rows_kept, 1);

    let none = RowFilter {
        tickers: Some(["MSFT".to_owned()].into()),
        ..Default::default()
    };
    let loaded = load_file(
        dir.path(),
        "prices.csv",
        ParseOptions {
            filter: none,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(loaded.report.rows, 0);
}

#[tokio::test]
async fn html_and_json_bodies_saved_as_csv_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("AAPL.csv"),
        "\n  <html><head><title>429 Too Many Requests</title></head></html>",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("MSFT.csv"),
        "{\"Information\": \"Thank you for using Alpha Vantage! rate limit\"}",
    )
    .unwrap();
    let err = load_file(dir.path(), "AAPL.csv", ParseOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("AAPL.csv: this is HTML or XML, not CSV"),
        "{err}"
    );
    let err = load_file(dir.path(), "MSFT.csv", ParseOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("MSFT.csv: this is JSON, not CSV") && err.contains("Alpha Vantage"),
        "{err}"
    );
}
