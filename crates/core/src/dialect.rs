//! CSV dialects: the real-world layouts of daily bars, each a small unit that
//! recognises its header and says how to read the rows.
//!
//! Adding a dialect means adding one [`Dialect`] to [`DIALECTS`]; the header
//! spellings all dialects share live in [`Column::from_header`].
//!
//! | name            | header (first line)                                          | dates      | ticker                 |
//! |-----------------|--------------------------------------------------------------|------------|------------------------|
//! | `yfinance`      | `Price,...` / `Ticker,AAPL,...` / `Date,,...` (three rows)   | YYYY-MM-DD | second header row      |
//! | `stooq-bulk`    | `<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,...,<VOL>,<OPENINT>`    | YYYYMMDD   | column, `.US` removed  |
//! | `nasdaq-com`    | `Date,Close/Last,Volume,Open,High,Low`                       | MM/DD/YYYY | file name / `--ticker` |
//! | `alpha-vantage` | `timestamp,open,high,low,close[,adjusted_close],volume,...`  | YYYY-MM-DD | file name / `--ticker` |
//! | `yahoo`         | `Date,Open,High,Low,Close,Adj Close,Volume`                  | YYYY-MM-DD | file name / `--ticker` |
//! | `stooq`         | `Date,Open,High,Low,Close,Volume`                            | YYYY-MM-DD | file name / `--ticker` |
//! | `long`          | any order and case; a Ticker, Symbol or Name column          | any of the above | column or file name |

use crate::{Error, Result};

/// A canonical column a CSV column can feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Date,
    Ticker,
    Open,
    High,
    Low,
    Close,
    AdjClose,
    Volume,
}

impl Column {
    const ALL: [Column; 8] = [
        Column::Date,
        Column::Ticker,
        Column::Open,
        Column::High,
        Column::Low,
        Column::Close,
        Column::AdjClose,
        Column::Volume,
    ];

    /// The name users know the column by, for messages.
    fn display(self) -> &'static str {
        match self {
            Column::Date => "Date",
            Column::Ticker => "Ticker",
            Column::Open => "Open",
            Column::High => "High",
            Column::Low => "Low",
            Column::Close => "Close",
            Column::AdjClose => "Adj Close",
            Column::Volume => "Volume",
        }
    }

    /// The column a header name stands for, compared case-insensitively with
    /// spaces, `_`, `-`, `/`, `<` and `>` ignored. Every dialect's spellings.
    pub(crate) fn from_header(name: &str) -> Option<Column> {
        let folded: String = name
            .chars()
            .filter(|c| !matches!(c, ' ' | '_' | '-' | '/' | '<' | '>' | '.'))
            .flat_map(char::to_lowercase)
            .collect();
        Some(match folded.as_str() {
            "date" | "timestamp" | "datetime" | "day" => Column::Date,
            "ticker" | "symbol" | "name" => Column::Ticker,
            "open" => Column::Open,
            "high" => Column::High,
            "low" => Column::Low,
            "close" | "closelast" => Column::Close,
            "adjclose" | "adjustedclose" | "adjustedcloseprice" => Column::AdjClose,
            "volume" | "vol" => Column::Volume,
            _ => return None,
        })
    }
}

/// How dates are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateFormat {
    /// `YYYY-MM-DD`, optionally followed by a time (`2024-01-02 00:00:00-05:00`).
    Iso,
    /// `MM/DD/YYYY`.
    UsSlash,
    /// `YYYYMMDD`.
    Compact,
}

impl DateFormat {
    /// The format of a sample date value.
    fn of(sample: &str) -> Self {
        if sample.contains('/') {
            Self::UsSlash
        } else if sample.len() == 8 && sample.bytes().all(|b| b.is_ascii_digit()) {
            Self::Compact
        } else {
            Self::Iso
        }
    }

    /// How the format is written, for messages.
    pub(crate) fn pattern(self) -> &'static str {
        match self {
            Self::Iso => "YYYY-MM-DD",
            Self::UsSlash => "MM/DD/YYYY",
            Self::Compact => "YYYYMMDD",
        }
    }
}

/// Where a row's ticker comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TickerSource {
    /// A column of the file.
    Column,
    /// One ticker for the whole file.
    Fixed(String),
}

/// How to read the rows of one file: the outcome of detection.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// The dialect's name.
    pub(crate) dialect: &'static str,
    /// Header lines before the first row.
    pub(crate) header_lines: usize,
    /// The header fields, for messages; their count is the row width.
    pub(crate) headers: Vec<String>,
    index: [Option<usize>; 8],
    pub(crate) date_format: DateFormat,
    pub(crate) ticker: TickerSource,
    /// A suffix removed from tickers (`.US` in Stooq files).
    pub(crate) ticker_suffix: Option<&'static str>,
}

impl Layout {
    /// The field index of `column`, if the file has it.
    pub(crate) fn index(&self, column: Column) -> Option<usize> {
        self.index[column as usize]
    }
}

/// What detection sees: the first records of the file, and what the caller knows.
#[derive(Debug)]
pub(crate) struct Preview<'a> {
    /// The first few records, fields trimmed, BOM removed.
    pub(crate) records: &'a [Vec<String>],
    /// The ticker given by `--ticker`, or derived from the file name.
    pub(crate) ticker_hint: Option<&'a str>,
    /// The file's address, for messages.
    pub(crate) file: &'a str,
}

/// One CSV layout of daily bars.
pub(crate) trait Dialect: Sync {
    /// The name `--dialect` takes and reports show.
    fn name(&self) -> &'static str;
    /// Whether the file's header looks like this dialect's.
    fn matches(&self, preview: &Preview<'_>) -> bool;
    /// How to read the file; fails when required columns are missing.
    fn layout(&self, preview: &Preview<'_>) -> Result<Layout>;
}

/// The header row, lower-cased, as one comma-joined string.
fn header_line(preview: &Preview<'_>) -> String {
    preview
        .records
        .first()
        .map(|r| r.join(",").to_ascii_lowercase())
        .unwrap_or_default()
}

/// Maps a header row; `ticker` says where tickers come from.
fn map_header(
    preview: &Preview<'_>,
    dialect: &'static str,
    header_lines: usize,
    headers: Vec<String>,
    fixed_ticker: Option<String>,
    ticker_suffix: Option<&'static str>,
) -> Result<Layout> {
    let mut index = [None; 8];
    for (i, name) in headers.iter().enumerate() {
        if let Some(column) = Column::from_header(name) {
            // The first spelling wins; a second (e.g. both Ticker and Name) is ignored.
            index[column as usize].get_or_insert(i);
        }
    }
    let ticker = match (
        index[Column::Ticker as usize],
        fixed_ticker,
        preview.ticker_hint,
    ) {
        (_, Some(ticker), _) => TickerSource::Fixed(ticker),
        (Some(_), None, _) => TickerSource::Column,
        (None, None, Some(hint)) => TickerSource::Fixed(hint.to_owned()),
        (None, None, None) => {
            return Err(Error::NoTicker {
                file: preview.file.to_owned(),
                dialect,
            });
        }
    };
    let missing: Vec<&str> = Column::ALL
        .iter()
        .filter(|c| {
            !matches!(c, Column::AdjClose | Column::Volume | Column::Ticker)
                && index[**c as usize].is_none()
        })
        .map(|c| c.display())
        .collect();
    if !missing.is_empty() {
        return Err(Error::MissingColumns {
            file: preview.file.to_owned(),
            missing: missing.join(", "),
            found: headers.join(","),
        });
    }
    let date_index = index[Column::Date as usize].unwrap_or(0);
    let sample = preview
        .records
        .get(header_lines)
        .and_then(|r| r.get(date_index))
        .map(String::as_str)
        .unwrap_or("");
    Ok(Layout {
        dialect,
        header_lines,
        headers,
        index,
        date_format: DateFormat::of(sample),
        ticker,
        ticker_suffix,
    })
}

/// yfinance `DataFrame.to_csv`: three header rows (Price / Ticker / Date).
struct YFinance;

impl Dialect for YFinance {
    fn name(&self) -> &'static str {
        "yfinance"
    }
    fn matches(&self, p: &Preview<'_>) -> bool {
        let first = |i: usize| {
            p.records
                .get(i)
                .and_then(|r| r.first())
                .map(|s| s.to_ascii_lowercase())
        };
        first(0).as_deref() == Some("price") && first(1).as_deref() == Some("ticker")
    }
    fn layout(&self, p: &Preview<'_>) -> Result<Layout> {
        let mut headers = p.records[0].clone();
        headers[0] = "Date".to_owned();
        let tickers: std::collections::BTreeSet<&str> = p.records[1]
            .iter()
            .skip(1)
            .map(String::as_str)
            .filter(|t| !t.is_empty())
            .collect();
        if tickers.len() > 1 {
            return Err(Error::Unsupported {
                file: p.file.to_owned(),
                message: format!(
                    "a multi-ticker yfinance file ({}); save one ticker per file, or stack the frame to long format",
                    tickers.into_iter().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        let ticker = tickers.into_iter().next().map(str::to_owned);
        let has_date_row = p
            .records
            .get(2)
            .and_then(|r| r.first())
            .is_some_and(|s| s.eq_ignore_ascii_case("date"));
        map_header(
            p,
            self.name(),
            if has_date_row { 3 } else { 2 },
            headers,
            ticker,
            None,
        )
    }
}

/// Stooq bulk download: `<TICKER>,<PER>,<DATE>,<TIME>,...`, tickers with a `.US` suffix.
struct StooqBulk;

impl Dialect for StooqBulk {
    fn name(&self) -> &'static str {
        "stooq-bulk"
    }
    fn matches(&self, p: &Preview<'_>) -> bool {
        header_line(p).starts_with("<ticker>,<per>,<date>")
    }
    fn layout(&self, p: &Preview<'_>) -> Result<Layout> {
        if let Some(period) = p.records.get(1).and_then(|r| r.get(1))
            && period != "D"
            && period != "<PER>"
        {
            return Err(Error::Unsupported {
                file: p.file.to_owned(),
                message: format!("Stooq period {period:?}; only daily bars (D) are supported"),
            });
        }
        map_header(p, self.name(), 1, p.records[0].clone(), None, Some(".US"))
    }
}

/// nasdaq.com historical download: `Date,Close/Last,Volume,Open,High,Low`,
/// MM/DD/YYYY dates, `$` prices, newest first.
struct NasdaqCom;

impl Dialect for NasdaqCom {
    fn name(&self) -> &'static str {
        "nasdaq-com"
    }
    fn matches(&self, p: &Preview<'_>) -> bool {
        header_line(p).contains("close/last")
    }
    fn layout(&self, p: &Preview<'_>) -> Result<Layout> {
        map_header(p, self.name(), 1, p.records[0].clone(), None, None)
    }
}

/// Alpha Vantage `TIME_SERIES_DAILY[_ADJUSTED]` CSV: `timestamp,open,...`, newest first.
struct AlphaVantage;

impl Dialect for AlphaVantage {
    fn name(&self) -> &'static str {
        "alpha-vantage"
    }
    fn matches(&self, p: &Preview<'_>) -> bool {
        header_line(p).starts_with("timestamp,open,high,low,close")
    }
    fn layout(&self, p: &Preview<'_>) -> Result<Layout> {
        map_header(p, self.name(), 1, p.records[0].clone(), None, None)
    }
}

/// A header equal to `expected` (case-insensitive), one ticker per file.
struct Exact {
    name: &'static str,
    expected: &'static str,
}

impl Dialect for Exact {
    fn name(&self) -> &'static str {
        self.name
    }
    fn matches(&self, p: &Preview<'_>) -> bool {
        header_line(p) == self.expected
    }
    fn layout(&self, p: &Preview<'_>) -> Result<Layout> {
        map_header(p, self.name, 1, p.records[0].clone(), None, None)
    }
}

/// Any header naming the columns: the long format with a ticker column, or
/// one ticker per file.
struct Long;

impl Dialect for Long {
    fn name(&self) -> &'static str {
        "long"
    }
    fn matches(&self, _: &Preview<'_>) -> bool {
        true
    }
    fn layout(&self, p: &Preview<'_>) -> Result<Layout> {
        map_header(p, self.name(), 1, p.records[0].clone(), None, None)
    }
}

/// Every dialect, in detection order: the most specific first, `long` last.
static DIALECTS: &[&dyn Dialect] = &[
    &YFinance,
    &StooqBulk,
    &NasdaqCom,
    &AlphaVantage,
    &Exact {
        name: "yahoo",
        expected: "date,open,high,low,close,adj close,volume",
    },
    &Exact {
        name: "stooq",
        expected: "date,open,high,low,close,volume",
    },
    &Long,
];

/// The names `--dialect` accepts.
pub fn dialect_names() -> Vec<&'static str> {
    DIALECTS.iter().map(|d| d.name()).collect()
}

/// Detects the dialect of a file from its first records, or uses `forced`.
pub(crate) fn detect(preview: &Preview<'_>, forced: Option<&str>) -> Result<Layout> {
    if preview.records.is_empty() {
        return Err(Error::Empty {
            file: preview.file.to_owned(),
        });
    }
    match forced {
        Some(name) => DIALECTS
            .iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| Error::UnknownDialect {
                name: name.to_owned(),
                known: dialect_names().join(", "),
            })?
            .layout(preview),
        None => DIALECTS
            .iter()
            .find(|d| d.matches(preview))
            .map_or_else(|| Long.layout(preview), |d| d.layout(preview)),
    }
}

/// The ticker a file name implies: `AAPL.csv`, `aapl.us.txt`, `AAPL.csv.gz` -> `AAPL`.
pub fn ticker_from_file_name(name: &str) -> Option<String> {
    let base = name.rsplit('/').next().unwrap_or(name);
    let mut stem = base;
    for extension in [".gz", ".zst", ".csv", ".txt"] {
        if let Some(s) = stem.strip_suffix(extension) {
            stem = s;
        }
    }
    let lower = stem.to_ascii_lowercase();
    let stem = if lower.ends_with(".us") {
        &stem[..stem.len() - 3]
    } else {
        stem
    };
    let valid = !stem.is_empty()
        && stem.len() <= 12
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '^'))
        && stem.chars().any(|c| c.is_ascii_alphabetic());
    valid.then(|| stem.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> Vec<Vec<String>> {
        text.lines()
            .map(|l| l.split(',').map(str::to_owned).collect())
            .collect()
    }

    fn detect_text(text: &str, hint: Option<&str>) -> Result<Layout> {
        let records = records(text);
        detect(
            &Preview {
                records: &records,
                ticker_hint: hint,
                file: "f.csv",
            },
            None,
        )
    }

    #[test]
    fn each_dialect_is_recognised() {
        let cases = [
            (
                "Price,Close,High,Low,Open,Volume\nTicker,AAPL,AAPL,AAPL,AAPL,AAPL\nDate,,,,,\n2024-01-02,1,2,0.5,1,10",
                "yfinance",
            ),
            (
                "<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>\nAAPL.US,D,20240102,000000,1,2,0.5,1,10,0",
                "stooq-bulk",
            ),
            (
                "Date,Close/Last,Volume,Open,High,Low\n01/02/2024,$1,10,$1,$2,$0.5",
                "nasdaq-com",
            ),
            (
                "timestamp,open,high,low,close,volume\n2024-01-02,1,2,0.5,1,10",
                "alpha-vantage",
            ),
            (
                "Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-02,1,2,0.5,1,1,10",
                "yahoo",
            ),
            (
                "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1,10",
                "stooq",
            ),
            (
                "symbol,date,close,open,high,low\nAAPL,2024-01-02,1,1,2,0.5",
                "long",
            ),
        ];
        for (text, name) in cases {
            let layout = detect_text(text, Some("AAPL")).unwrap();
            assert_eq!(layout.dialect, name, "{text}");
        }
    }

    #[test]
    fn date_formats_come_from_the_first_row() {
        assert_eq!(
            detect_text(
                "Date,Close/Last,Volume,Open,High,Low\n01/02/2024,1,1,1,1,1",
                Some("X")
            )
            .unwrap()
            .date_format,
            DateFormat::UsSlash
        );
        assert_eq!(detect_text("<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>\nA.US,D,20240102,0,1,1,1,1,1,0", None).unwrap().date_format, DateFormat::Compact);
    }

    #[test]
    fn a_file_without_ticker_needs_one() {
        let err = detect_text(
            "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1,10",
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("name the ticker"), "{err}");
    }

    #[test]
    fn tickers_come_from_file_names() {
        assert_eq!(ticker_from_file_name("AAPL.csv").as_deref(), Some("AAPL"));
        assert_eq!(
            ticker_from_file_name("data/aapl.us.txt").as_deref(),
            Some("AAPL")
        );
        assert_eq!(
            ticker_from_file_name("AAPL.csv.gz").as_deref(),
            Some("AAPL")
        );
        assert_eq!(ticker_from_file_name("BRK-B.csv").as_deref(), Some("BRK-B"));
        assert_eq!(ticker_from_file_name("2024.csv"), None);
    }

    #[test]
    fn multi_ticker_yfinance_is_refused_with_advice() {
        let err = detect_text(
            "Price,Close,Close\nTicker,AAPL,MSFT\nDate,,\n2024-01-02,1,2",
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("AAPL, MSFT"), "{err}");
    }
}
