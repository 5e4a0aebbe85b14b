//! A deterministic generator of realistic daily OHLCV bars.
//!
//! N tickers x Y years of business days (Monday to Friday), geometric random
//! walk closes, opens gapping from the previous close, highs and lows that
//! always enclose open and close, integer volumes. The same spec always gives
//! the same bytes.

use chrono::{Datelike, NaiveDate, Weekday};

/// Real NASDAQ symbols used first; beyond them, synthetic four-letter ones.
const KNOWN_TICKERS: &[&str] = &[
    "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "AVGO", "COST", "NFLX", "AMD", "PEP",
    "ADBE", "CSCO", "TMUS", "INTC", "QCOM", "TXN", "AMGN", "INTU", "HON", "SBUX", "ISRG", "BKNG",
    "GILD", "MDLZ", "ADP", "VRTX", "REGN", "LRCX",
];

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarsSpec {
    /// Number of tickers.
    pub tickers: usize,
    /// First calendar day (bars start on the first business day from here).
    pub start: NaiveDate,
    /// Number of business days per ticker.
    pub days: usize,
    /// Seed of the random walk.
    pub seed: u64,
    /// Rows grouped by ticker (each ticker's history in turn), as per-ticker
    /// downloads concatenated; otherwise grouped by date.
    pub ticker_major: bool,
}

impl BarsSpec {
    /// `tickers` x `years` of business days (261 a year) from 2015-01-02.
    pub fn new(tickers: usize, years: usize) -> Self {
        Self {
            tickers,
            start: NaiveDate::from_ymd_opt(2015, 1, 2).unwrap_or_default(),
            days: years * 261,
            seed: 20_240_101,
            ticker_major: true,
        }
    }

    /// The spec of the bundled sample (`data/sample/NASDAQ.csv`).
    pub fn sample() -> Self {
        Self {
            tickers: 20,
            start: NaiveDate::from_ymd_opt(2024, 1, 2).unwrap_or_default(),
            days: 261,
            seed: 7,
            ticker_major: false,
        }
    }

    /// Number of rows this spec produces.
    pub fn rows(&self) -> usize {
        self.tickers * self.days
    }
}

/// The i-th ticker symbol.
pub fn ticker(i: usize) -> String {
    if let Some(known) = KNOWN_TICKERS.get(i) {
        return (*known).to_owned();
    }
    // Base-26 letters, offset so that they do not collide with the known ones' shapes.
    let mut n = i - KNOWN_TICKERS.len();
    let mut symbol = Vec::new();
    for _ in 0..4 {
        symbol.push(b'A' + (n % 26) as u8);
        n /= 26;
    }
    symbol.reverse();
    let mut symbol = String::from_utf8(symbol).unwrap_or_default();
    symbol.insert(0, 'X');
    symbol
}

/// The business days (Monday to Friday) of the spec.
pub fn business_days(spec: &BarsSpec) -> Vec<NaiveDate> {
    let mut days = Vec::with_capacity(spec.days);
    let mut day = spec.start;
    while days.len() < spec.days {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            days.push(day);
        }
        day = day.succ_opt().unwrap_or(day);
    }
    days
}

/// One generated bar.
#[derive(Debug, Clone, PartialEq)]
struct Bar {
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    adj_close: f64,
    volume: u64,
}

/// Generates the spec as CSV in the long format
/// `Date,Ticker,Open,High,Low,Close,Adj Close,Volume`.
pub fn generate_csv(spec: &BarsSpec) -> Vec<u8> {
    use std::io::Write;
    let days = business_days(spec);
    let names: Vec<String> = (0..spec.tickers).map(ticker).collect();
    let paths: Vec<Vec<Bar>> = (0..spec.tickers)
        .map(|t| walk(spec.seed.wrapping_add(t as u64 * 7919), days.len()))
        .collect();
    let mut out = Vec::with_capacity(spec.rows() * 72 + 64);
    out.extend_from_slice(b"Date,Ticker,Open,High,Low,Close,Adj Close,Volume\n");
    let row = |out: &mut Vec<u8>, t: usize, d: usize| {
        let bar = &paths[t][d];
        // Writing into a Vec cannot fail.
        let _ = writeln!(
            out,
            "{},{},{:.4},{:.4},{:.4},{:.4},{:.4},{}",
            days[d].format("%Y-%m-%d"),
            names[t],
            bar.open,
            bar.high,
            bar.low,
            bar.close,
            bar.adj_close,
            bar.volume
        );
    };
    if spec.ticker_major {
        for t in 0..spec.tickers {
            for d in 0..days.len() {
                row(&mut out, t, d);
            }
        }
    } else {
        for d in 0..days.len() {
            for t in 0..spec.tickers {
                row(&mut out, t, d);
            }
        }
    }
    out
}

/// A random walk of `days` bars from one seed.
fn walk(seed: u64, days: usize) -> Vec<Bar> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut close = 10.0 + rng.f64() * 390.0;
    let base_volume = 100_000.0 + rng.f64() * 20_000_000.0;
    // Adjusted close trails close by accumulated dividends.
    let adjustment = 0.97 + rng.f64() * 0.03;
    (0..days)
        .map(|_| {
            let open = round4(close * (1.0 + normal(&mut rng) * 0.005));
            close = round4((close * (1.0 + normal(&mut rng) * 0.02)).max(0.5));
            let high = round4(open.max(close) * (1.0 + rng.f64() * 0.015));
            let low = round4(open.min(close) * (1.0 - rng.f64() * 0.015));
            let volume = (base_volume * (0.5 + rng.f64())) as u64;
            Bar {
                open,
                high,
                low,
                close,
                adj_close: round4(close * adjustment),
                volume,
            }
        })
        .collect()
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut fastrand::Rng) -> f64 {
    let u1 = rng.f64().max(f64::MIN_POSITIVE);
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_spec_same_bytes_and_consistent_bars() {
        let spec = BarsSpec::new(3, 1);
        let a = generate_csv(&spec);
        assert_eq!(a, generate_csv(&spec));
        let text = String::from_utf8(a).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("Date,Ticker,Open,High,Low,Close,Adj Close,Volume")
        );
        let mut rows = 0;
        for line in lines {
            let f: Vec<&str> = line.split(',').collect();
            let [open, high, low, close]: [f64; 4] =
                std::array::from_fn(|i| f[2 + i].parse().unwrap());
            assert!(low <= open.min(close) && high >= open.max(close), "{line}");
            assert!(low > 0.0, "{line}");
            f[7].parse::<u64>().unwrap();
            rows += 1;
        }
        assert_eq!(rows, spec.rows());
    }

    #[test]
    fn business_days_skip_weekends() {
        let days = business_days(&BarsSpec::new(1, 1));
        assert_eq!(days.len(), 261);
        assert!(days.iter().all(|d| d.weekday().num_days_from_monday() < 5));
    }

    #[test]
    fn tickers_are_unique() {
        let names: std::collections::HashSet<String> = (0..5000).map(ticker).collect();
        assert_eq!(names.len(), 5000);
    }
}
