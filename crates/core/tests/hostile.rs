//! Input as it comes from the wild and from attackers: real date quirks,
//! old line endings, lines without end. Each is a table or a clear error.

use std::sync::Arc;

use nasdaq_core::{Error, LoadRequest, Loaded, Loader, MAX_LINE};
use nasdaq_storage::{MarketSource, ObjectStoreSource, PutOptions};

async fn load(name: &str, body: Vec<u8>) -> Result<Loaded, Error> {
    let source = ObjectStoreSource::memory();
    source
        .put(name, body.into(), PutOptions::default())
        .await
        .unwrap();
    Loader::new(Arc::new(source))
        .load(&LoadRequest::new(name))
        .await
}

#[tokio::test]
async fn us_dates_without_zero_padding_load() {
    // As in a real S&P 500 export: 11/1/2019 beside 10/31/2019.
    let csv = "Date,Ticker,Open,High,Low,Close,Adj Close,Volume\n\
               10/31/2019,SPY,304.1,304.2,301.7,303.3,287.5,69000000\n\
               11/1/2019,SPY,304.9,306.2,304.7,306.1,290.2,72000000\n\
               11/04/2019,SPY,307.8,308.0,306.9,307.1,291.2,55000000\n";
    let loaded = load("spx.csv", csv.into()).await.unwrap();
    assert_eq!(loaded.report.rows, 3);
    assert_eq!(loaded.report.first_date.as_deref(), Some("2019-10-31"));
    assert_eq!(loaded.report.last_date.as_deref(), Some("2019-11-04"));
}

#[tokio::test]
async fn lone_carriage_returns_are_named_as_such() {
    let csv = "Date,Ticker,Open,High,Low,Close\r2024-01-02,AAPL,1,2,0.5,1.5\r2024-01-03,AAPL,1,2,0.5,1.5\r";
    let err = load("mac.csv", csv.into()).await.unwrap_err().to_string();
    assert!(
        err.contains("mac.csv: line 1: lines end in a lone carriage return"),
        "{err}"
    );
    // CRLF is fine.
    let crlf = csv.replace('\r', "\r\n");
    assert_eq!(load("dos.csv", crlf.into()).await.unwrap().report.rows, 2);
}

#[tokio::test]
async fn a_line_without_end_is_refused_not_buffered() {
    let endless = vec![b'x'; MAX_LINE + (1 << 20)];
    let err = load("endless.csv", endless).await.unwrap_err();
    assert!(matches!(err, Error::LineTooLong { line: 1, .. }), "{err}");

    let mut body = b"Date,Ticker,Open,High,Low,Close\n2024-01-02,AAPL,1,2,0.5,1.5\n".to_vec();
    body.extend(std::iter::repeat_n(b'7', MAX_LINE + (1 << 20)));
    let err = load("long-line.csv", body).await.unwrap_err();
    assert!(matches!(err, Error::LineTooLong { line: 3, .. }), "{err}");
    assert!(
        err.to_string()
            .contains("long-line.csv: line 3 is longer than"),
        "{err}"
    );
}

#[tokio::test]
async fn line_breaks_and_nul_bytes_in_fields_are_refused_naming_the_line() {
    let header = "Date,Ticker,Open,High,Low,Close\n";
    let good = "2024-01-02,AAPL,1,2,0.5,1.5\n";
    for (name, bad, line) in [
        (
            "quoted-newline.csv",
            "2024-01-03,\"AA\nPL\",1,2,0.5,1.5\n",
            3,
        ),
        ("nul.csv", "2024-01-03,AA\0PL,1,2,0.5,1.5\n", 3),
        ("unclosed.csv", "2024-01-03,\"AAPL,1,2,0.5,1.5\n", 3),
    ] {
        // Small and large files alike: the same refusal wherever chunks fall.
        for repeat in [1, 200_000] {
            let body = format!("{header}{}{bad}{good}", good.repeat(repeat));
            let err = load(name, body.into()).await.unwrap_err().to_string();
            let line = line + repeat - 1;
            assert!(
                err.contains(&format!("line {line}")),
                "{name} x{repeat}: {err}"
            );
        }
    }
}

#[tokio::test]
async fn blank_lines_before_the_header_cost_nothing_and_keep_line_numbers() {
    let blank = 2_000_000;
    let mut body = "\n".repeat(blank);
    body.push_str("Date,Ticker,Open,High,Low,Close\n2024-01-02,AAPL,1,2,0.5,1.5\n");
    let loaded = load("blank.csv", body.clone().into()).await.unwrap();
    assert_eq!(loaded.report.rows, 1);
    body.push_str("2024-01-03,AAPL,1,x,0.5,1.5\n");
    let err = load("blank.csv", body.into())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("line {}", blank + 3)), "{err}");
}

#[tokio::test]
async fn blank_lines_among_the_rows_are_skipped_with_line_numbers_kept() {
    let blank = 3_000_000;
    let body = format!(
        "Date,Ticker,Open,High,Low,Close\n2024-01-02,AAPL,1,2,0.5,1.5\n{}2024-01-03,AAPL,1,2,0.5,1.5\n",
        "\n".repeat(blank)
    );
    let loaded = load("gaps.csv", body.clone().into()).await.unwrap();
    assert_eq!(loaded.report.rows, 2);
    let body = format!("{body}2024-01-04,AAPL,1,x,0.5,1.5\n");
    let err = load("gaps.csv", body.into()).await.unwrap_err().to_string();
    assert!(err.contains(&format!("line {}", blank + 4)), "{err}");
}

#[tokio::test]
async fn far_apart_dates_for_many_tickers_are_counted_not_walked() {
    // 40 kB: each ticker's first bar in the year 1, its last in 9999. Every
    // session between is missing; the rule once walked each span, millions
    // of sessions a ticker (hours for a few thousand tickers).
    let tickers = 600;
    let mut csv = String::from("Date,Ticker,Open,High,Low,Close,Volume\n");
    for t in 0..tickers {
        csv.push_str(&format!("0001-01-03,T{t},1,2,0.5,1,10\n"));
        csv.push_str(&format!("9999-12-30,T{t},1,2,0.5,1,10\n"));
    }
    let loaded = load("far.csv", csv.into()).await.unwrap();
    assert_eq!(loaded.report.rows, 2 * tickers);
    let missing = loaded
        .quality
        .rules
        .iter()
        .find(|r| r.rule.name() == "missing_sessions")
        .unwrap();
    // The sessions strictly between the two bars, from the calendar itself.
    let calendar = nasdaq_core::calendar::TradingDays::between(
        chrono::NaiveDate::from_ymd_opt(1, 1, 3).unwrap(),
        chrono::NaiveDate::from_ymd_opt(9999, 12, 30).unwrap(),
    );
    let (first, last) = (
        chrono::NaiveDate::from_ymd_opt(1, 1, 4).unwrap(),
        chrono::NaiveDate::from_ymd_opt(9999, 12, 29).unwrap(),
    );
    let between = calendar.sessions(first, last).count() as u64;
    assert!(between > 2_000_000, "{between}");
    assert_eq!(missing.count, tickers as u64 * between);
    // The examples are the first missing sessions, of the first ticker by name.
    let dates: Vec<&str> = missing.examples.iter().map(|v| v.date.as_str()).collect();
    assert_eq!(
        dates,
        [
            "0001-01-04",
            "0001-01-05",
            "0001-01-08",
            "0001-01-09",
            "0001-01-10"
        ]
    );
    assert!(missing.examples.iter().all(|v| v.ticker == "T0"));
}

/// A Stooq ticker whose `.US` suffix follows a multi-byte character inside
/// the dot and the letters (found by the fuzzer): no panic, the ticker kept
/// whole, and a plain `.US` still removed.
#[tokio::test]
async fn a_suffix_across_a_multi_byte_character_is_not_cut() {
    let csv = "<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>\n\
               AAPL.\u{feff}US,D,20240102,000000,1,2,0.5,1,10,0\n\
               MSFT.US,D,20240102,000000,1,2,0.5,1,10,0\n";
    let loaded = load("stooq.txt", csv.into()).await.unwrap();
    let tickers = arrow::array::AsArray::as_string::<i32>(loaded.table.batches[0].column(1));
    let names: Vec<&str> = tickers.iter().flatten().collect();
    assert_eq!(names, ["AAPL.\u{feff}US", "MSFT"]);
}
