//! Loading through the `Loader`: parsing, sorting, line numbers, bad input.

use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Date32Type, Float64Type, UInt64Type};
use nasdaq_core::{Error, LoadRequest, Loaded, Loader, ReadOptions};
use nasdaq_storage::{MarketSource, ObjectStoreSource, PutOptions};
use nasdaq_testkit::{BarsSpec, generate_csv};

const HEADER: &str = "Date,Ticker,Open,High,Low,Close,Adj Close,Volume\n";

async fn load_with(body: impl Into<bytes::Bytes>, options: ReadOptions) -> Result<Loaded, Error> {
    let source = Arc::new(ObjectStoreSource::memory());
    source
        .put("in.csv", body.into(), PutOptions::default())
        .await
        .unwrap();
    Loader::new(source)
        .with_read_options(options)
        .load(&LoadRequest::new("in.csv"))
        .await
}

async fn load(body: impl Into<bytes::Bytes>) -> Result<Loaded, Error> {
    load_with(body, ReadOptions::default()).await
}

/// (date as days, ticker, close) of every row, in order.
fn rows(batches: &[RecordBatch]) -> Vec<(i32, String, f64)> {
    batches
        .iter()
        .flat_map(|b| {
            let d = b.column(0).as_primitive::<Date32Type>().clone();
            let t = b.column(1).as_string::<i32>().clone();
            let c = b.column(5).as_primitive::<Float64Type>().clone();
            (0..b.num_rows()).map(move |i| (d.value(i), t.value(i).to_owned(), c.value(i)))
        })
        .collect()
}

#[tokio::test]
async fn rows_come_out_sorted_by_date_then_ticker() {
    let csv = format!(
        "{HEADER}2024-01-03,MSFT,1,2,0.5,1.5,1.4,10\n2024-01-02,MSFT,1,2,0.5,1.1,,20\n\
         2024-01-03,AAPL,1,2,0.5,1.2,1.1,\n2024-01-02,AAPL,1,2,0.5,1.3,1.2,40\n"
    );
    let loaded = load(csv).await.unwrap();
    let got = rows(&loaded.table.batches);
    let order: Vec<(i32, &str)> = got.iter().map(|(d, t, _)| (*d, t.as_str())).collect();
    assert_eq!(
        order,
        [
            (19724, "AAPL"),
            (19724, "MSFT"),
            (19725, "AAPL"),
            (19725, "MSFT")
        ]
    );
    assert_eq!(got[0].2, 1.3);
    let batch = &loaded.table.batches[0];
    assert!(batch.column(6).is_null(1), "empty Adj Close is null");
    assert!(batch.column(7).is_null(2), "empty Volume is null");
    assert_eq!(batch.column(7).as_primitive::<UInt64Type>().value(0), 40);
    assert_eq!(loaded.report.rows, 4);
    assert_eq!(loaded.report.tickers, 2);
    assert_eq!(loaded.report.first_date.as_deref(), Some("2024-01-02"));
    assert_eq!(loaded.report.last_date.as_deref(), Some("2024-01-03"));
}

#[tokio::test]
async fn header_in_any_order_and_case_without_optional_columns() {
    let csv = "close,TICKER,low,High,open,date\n10,aapl,9,11,9.5,2024-01-02\n";
    let loaded = load(csv).await.unwrap();
    let got = rows(&loaded.table.batches);
    assert_eq!(got, [(19724, "AAPL".to_owned(), 10.0)]);
    assert!(loaded.table.batches[0].column(7).is_null(0));
}

#[tokio::test]
async fn bom_and_crlf_are_accepted() {
    let csv = "\u{feff}Date,Ticker,Open,High,Low,Close\r\n2024-01-02,AAPL,1,2,0.5,1.5\r\n";
    let loaded = load(csv).await.unwrap();
    assert_eq!(
        rows(&loaded.table.batches),
        [(19724, "AAPL".to_owned(), 1.5)]
    );
}

#[tokio::test]
async fn small_chunks_give_the_same_table_as_one_chunk() {
    let csv = generate_csv(&BarsSpec::new(7, 1));
    let whole = load(csv.clone()).await.unwrap();
    let chunked = load_with(
        csv,
        ReadOptions {
            chunk_size: 1000,
            in_flight: 3,
            ..ReadOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(whole.report.rows, 7 * 261);
    assert_eq!(rows(&whole.table.batches), rows(&chunked.table.batches));
    assert_eq!(whole.report.sha256, chunked.report.sha256);
}

#[tokio::test]
async fn line_numbers_stay_right_across_chunks() {
    let mut csv = generate_csv(&BarsSpec::new(3, 1));
    csv.extend_from_slice(b"2030-01-01,AAPL,1,2,0.5,oops,1,1\n");
    let line = csv.iter().filter(|b| **b == b'\n').count() as u64;
    let err = load_with(
        csv,
        ReadOptions {
            chunk_size: 500,
            in_flight: 2,
            ..ReadOptions::default()
        },
    )
    .await
    .unwrap_err();
    match err {
        Error::Value {
            line: got,
            column,
            ref header,
            ..
        } => {
            assert_eq!((got, column, header.as_str()), (line, 6, "Close"), "{err}");
        }
        other => panic!("expected a value error, got {other}"),
    }
}

/// A CRLF file (as Excel and Windows tools write them) names the same
/// lines as its LF twin: the reader stops at a CR and takes its LF with
/// the next record, which once put every line one too low.
#[tokio::test]
async fn crlf_lines_are_numbered_like_lf_lines() {
    let mut csv = generate_csv(&BarsSpec::new(2, 1));
    csv.extend_from_slice(b"2030-01-01,AAPL,1,2,0.5,oops,1,1\n");
    let line = csv.iter().filter(|b| **b == b'\n').count() as u64;
    let crlf = String::from_utf8(csv).unwrap().replace('\n', "\r\n");
    for chunk_size in [300, 4 << 20] {
        let err = load_with(
            crlf.clone(),
            ReadOptions {
                chunk_size,
                in_flight: 2,
                ..ReadOptions::default()
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, Error::Value { line: got, column: 6, .. } if got == line),
            "chunks of {chunk_size}: {err}"
        );
    }
}

#[tokio::test]
async fn duplicate_pair_names_both_lines() {
    let csv = format!(
        "{HEADER}2024-01-02,AAPL,1,2,0.5,1.5,1.4,10\n2024-01-02,MSFT,1,2,0.5,1.5,1.4,10\n\
         2024-01-02,AAPL,1,2,0.5,1.6,1.4,10\n"
    );
    let err = load(csv).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Quality { .. }), "{text}");
    assert!(
        text.contains("unique_bar (1 rows")
            && text.contains(
                "memory://in.csv: line 4: AAPL 2024-01-02: duplicate of memory://in.csv: line 2"
            ),
        "{text}"
    );
}

#[tokio::test]
async fn bad_values_name_line_column_and_value() {
    let cases = [
        ("2024-01-02,AAPL,1,2,0.5,abc,1,1", 6, "\"abc\""),
        ("2024-13-02,AAPL,1,2,0.5,1,1,1", 1, "2024-13-02"),
        ("02/01/2024,AAPL,1,2,0.5,1,1,1", 1, "YYYY-MM-DD"),
        ("2024-01-02,,1,2,0.5,1,1,7", 2, "ticker is empty"),
        ("2024-01-02,AAPL,,2,0.5,1,1,7", 3, "missing"),
    ];
    for (row, column, needle) in cases {
        let err = load(format!("{HEADER}2024-01-01,AAPL,1,2,0.5,1,1,1\n{row}\n"))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, Error::Value { line: 3, column: c, .. } if c == column),
            "{row}: {text}"
        );
        assert!(
            text.contains(needle) && text.contains("in.csv"),
            "{row}: {text}"
        );
    }
}

#[tokio::test]
async fn wrong_field_count_is_named() {
    let err = load(format!("{HEADER}2024-01-02,AAPL,1,2\n"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::FieldCount {
                line: 2,
                expected: 8,
                found: 4,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn empty_header_only_and_not_csv_bodies_are_refused() {
    assert!(matches!(load("").await.unwrap_err(), Error::Empty { .. }));
    assert!(matches!(
        load(HEADER).await.unwrap_err(),
        Error::NoRows { .. }
    ));
    let err = load("<!DOCTYPE html><html><body>503</body></html>")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("HTML"), "{err}");
    let err = load("{\"Note\": \"API rate limit\"}").await.unwrap_err();
    assert!(err.to_string().contains("JSON"), "{err}");
    let err = load("Date,Open,High\n2024-01-02,1,2\n").await.unwrap_err();
    assert!(
        err.to_string().contains("the column(s) Low, Close;"),
        "missing columns are listed: {err}"
    );
}

#[tokio::test]
async fn missing_object_is_a_storage_not_found() {
    let source = Arc::new(ObjectStoreSource::memory());
    let err = Loader::new(source)
        .load(&LoadRequest::new("absent.csv"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Storage(nasdaq_storage::Error::NotFound { ref uri }) if uri == "memory://absent.csv"),
        "{err}"
    );
}

#[tokio::test]
async fn a_repeated_header_line_is_skipped_and_a_bad_byte_is_named() {
    let csv = format!(
        "{HEADER}2024-01-02,AAPL,1,2,0.5,1.5,1.4,10\n{HEADER}2024-01-02,MSFT,1,2,0.5,1.5,1.4,10\n"
    );
    let loaded = load(csv).await.unwrap();
    assert_eq!(loaded.report.rows, 2, "cat a.csv b.csv loads both");

    let mut bytes = format!("{HEADER}2024-01-02,AAPL,1,2,0.5,1.5,1.4,10\n").into_bytes();
    bytes.extend_from_slice(b"2024-01-03,AA\xffPL,1,2,0.5,1.5,1.4,10\n");
    let err = load(bytes).await.unwrap_err().to_string();
    assert!(
        err.contains("line 3, column 2 (Ticker)") && err.contains("not UTF-8"),
        "{err}"
    );
}
