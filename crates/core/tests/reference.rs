//! The loader against a straightforward reference: every file is parsed a
//! second time here, line by line with `str::parse` and a stable sort, and
//! the two tables must agree value for value (prices to the bit). The
//! loader's fast paths (rows parsed in parallel chunks, ticker-major rows
//! gathered into date order from the parsed chunks, date-major rows kept in
//! place, reused read buffers) have to give what the plain reading gives,
//! on generated files with the quirks of real downloads: nulls, `$` and
//! thousands separators, quotes, spaces, lower-case tickers, blank lines,
//! CRLF and a byte order mark.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Date32Type, Float64Type, UInt64Type};
use chrono::NaiveDate;
use nasdaq_core::{LoadRequest, Loaded, Loader, Policies, Policy, ReadOptions};
use nasdaq_storage::{MarketSource, ObjectStoreSource, PutOptions};

/// One row as both readings see it: prices by their bits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    date: i32,
    ticker: String,
    prices: [Option<u64>; 5],
    volume: Option<u64>,
}

/// How a generated file looks.
#[derive(Clone, Copy)]
struct Shape {
    tickers: usize,
    days: usize,
    ticker_major: bool,
    crlf: bool,
    bom: bool,
    /// `$`, thousands separators, quotes, spaces, null spellings, blank
    /// lines, numbers in full precision and in exponent form.
    quirks: bool,
    /// With quirks: quoted fields (`"$1,234.50"`). Without them every line
    /// is read by the plain split, the quirky lines by its general path.
    quotes: bool,
    /// Rows repeated later in the file (same date and ticker).
    duplicates: usize,
}

/// A CSV file of `shape`, and the line of each negative volume it holds.
fn generate(shape: Shape, seed: u64) -> String {
    let mut rng = fastrand::Rng::with_seed(seed);
    let end = if shape.crlf { "\r\n" } else { "\n" };
    let mut out = String::new();
    if shape.bom {
        out.push('\u{feff}');
    }
    out.push_str("Date,Ticker,Open,High,Low,Close,Adj Close,Volume");
    out.push_str(end);
    let start = NaiveDate::from_ymd_opt(2015, 1, 2).unwrap();
    let base: Vec<f64> = (0..shape.tickers)
        .map(|_| 1.0 + rng.f64() * 3000.0)
        .collect();
    let mut cells: Vec<(usize, usize)> = Vec::new();
    if shape.ticker_major {
        for t in 0..shape.tickers {
            cells.extend((0..shape.days).map(|d| (t, d)));
        }
    } else {
        for d in 0..shape.days {
            cells.extend((0..shape.tickers).map(|t| (t, d)));
        }
    }
    let mut written: Vec<String> = Vec::new();
    for (t, d) in cells {
        let date = start + chrono::Days::new(d as u64);
        let ticker = format!("T{t:03}{}", ["", "A", "BC"][t % 3]);
        let mid = base[t] * (1.0 + 0.2 * (d as f64 / 50.0).sin());
        let (open, close) = (
            mid * (1.0 + rng.f64() * 0.01),
            mid * (1.0 - rng.f64() * 0.01),
        );
        let (low, high) = (open.min(close) * 0.99, open.max(close) * 1.01);
        let price = |rng: &mut fastrand::Rng, v: f64| {
            let text = format!("{v:.4}");
            if !shape.quirks {
                return text;
            }
            match rng.u8(0..10) {
                0 => format!("${text}"),
                1 if v >= 1000.0 && shape.quotes => {
                    let (whole, fraction) = text.split_once('.').unwrap();
                    let (thousands, rest) = whole.split_at(whole.len() - 3);
                    format!("\"${thousands},{rest}.{fraction}\"")
                }
                2 => format!(" {text} "),
                // Seventeen digits: more than the one-pass read takes exactly.
                3 => format!("{}", v * (1.0 + 1e-9)),
                4 => format!("{v:e}"),
                _ => text,
            }
        };
        let adj = match (shape.quirks, rng.u8(0..12)) {
            (true, 0) => String::new(),
            (true, 1) => "null".to_owned(),
            (true, 2) => "N/A".to_owned(),
            _ => price(&mut rng, close * 0.97),
        };
        let shares = rng.u64(0..50_000_000);
        let volume = match (shape.quirks, rng.u8(0..20)) {
            (true, 0) => String::new(),
            (true, 1) if shape.quotes => format!("\"{}\"", thousands(shares)),
            (true, 2) => format!("{shares}.0"),
            (true, 3) => format!("-{shares}"),
            _ => shares.to_string(),
        };
        let ticker = if shape.quirks && rng.u8(0..8) == 0 {
            ticker.to_lowercase()
        } else {
            ticker
        };
        let line = format!(
            "{date},{ticker},{},{},{},{},{adj},{volume}",
            price(&mut rng, open),
            price(&mut rng, high),
            price(&mut rng, low),
            price(&mut rng, close),
        );
        out.push_str(&line);
        out.push_str(end);
        if shape.quirks && rng.u8(0..50) == 0 {
            out.push_str(end);
        }
        written.push(line);
    }
    for _ in 0..shape.duplicates {
        let again = &written[rng.usize(0..written.len())];
        out.push_str(again);
        out.push_str(end);
    }
    out
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The reference reading: every data line with its 1-based line number,
/// in file order.
fn reference(text: &str) -> Vec<(u64, Row)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = Vec::new();
    for (index, line) in text.split('\n').enumerate().skip(1) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<String> = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_bytes())
            .records()
            .next()
            .unwrap()
            .unwrap()
            .iter()
            .map(|f| f.trim().to_owned())
            .collect();
        let number = |field: &str| -> Option<f64> {
            if matches!(field, "" | "null" | "N/A") {
                return None;
            }
            let cleaned: String = field.chars().filter(|c| !matches!(c, '$' | ',')).collect();
            Some(cleaned.parse::<f64>().unwrap())
        };
        let date = NaiveDate::parse_from_str(&fields[0], "%Y-%m-%d").unwrap();
        let days = (date - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32;
        // A negative volume is kept, as a null, and flagged.
        let volume = number(&fields[7]).filter(|v| *v >= 0.0).map(|v| v as u64);
        rows.push((
            index as u64 + 1,
            Row {
                date: days,
                ticker: fields[1].to_uppercase(),
                prices: [2, 3, 4, 5, 6].map(|i| number(&fields[i]).map(f64::to_bits)),
                volume,
            },
        ));
    }
    rows
}

fn table_rows(batches: &[RecordBatch]) -> Vec<Row> {
    let mut out = Vec::new();
    for batch in batches {
        let date = batch.column(0).as_primitive::<Date32Type>();
        let ticker = batch.column(1).as_string::<i32>();
        let volume = batch.column(7).as_primitive::<UInt64Type>();
        for row in 0..batch.num_rows() {
            let prices = [2, 3, 4, 5, 6].map(|i| {
                let column = batch.column(i).as_primitive::<Float64Type>();
                column.is_valid(row).then(|| column.value(row).to_bits())
            });
            out.push(Row {
                date: date.value(row),
                ticker: ticker.value(row).to_owned(),
                prices,
                volume: volume.is_valid(row).then(|| volume.value(row)),
            });
        }
    }
    out
}

/// Loads `text` as a local file (the path that reads files in large
/// pieces) or from memory (a stream of pieces, as from S3).
async fn load(text: &str, local: bool, options: ReadOptions, request: LoadRequest) -> Loaded {
    let dir = tempfile::tempdir().unwrap();
    let source: Arc<dyn MarketSource> = if local {
        std::fs::write(dir.path().join("in.csv"), text).unwrap();
        Arc::new(ObjectStoreSource::local(dir.path()).unwrap())
    } else {
        let memory = ObjectStoreSource::memory();
        memory
            .put("in.csv", text.to_owned().into(), PutOptions::default())
            .await
            .unwrap();
        Arc::new(memory)
    };
    Loader::new(source)
        .with_read_options(options)
        .load(&LoadRequest {
            key: "in.csv".to_owned(),
            ..request
        })
        .await
        .unwrap()
}

fn chunked(chunk_size: usize) -> ReadOptions {
    ReadOptions {
        chunk_size,
        in_flight: 3,
        ..ReadOptions::default()
    }
}

#[tokio::test]
async fn every_shape_loads_to_the_reference_rows() {
    let plain = Shape {
        tickers: 37,
        days: 211,
        ticker_major: true,
        crlf: false,
        bom: false,
        quirks: false,
        quotes: true,
        duplicates: 0,
    };
    let shapes = [
        plain,
        Shape {
            ticker_major: false,
            ..plain
        },
        Shape {
            quirks: true,
            ..plain
        },
        Shape {
            quirks: true,
            ticker_major: false,
            crlf: true,
            bom: true,
            ..plain
        },
        Shape {
            quirks: true,
            crlf: true,
            bom: true,
            ..plain
        },
        Shape {
            quirks: true,
            quotes: false,
            ..plain
        },
        Shape {
            quirks: true,
            quotes: false,
            crlf: true,
            ticker_major: false,
            ..plain
        },
    ];
    for (seed, shape) in shapes.into_iter().enumerate() {
        let text = generate(shape, seed as u64);
        let mut expected: Vec<Row> = reference(&text).into_iter().map(|(_, r)| r).collect();
        // Stable: a sort by (date, ticker), as the loader promises.
        expected.sort_by(|a, b| (a.date, &a.ticker).cmp(&(b.date, &b.ticker)));
        assert_eq!(expected.len(), shape.tickers * shape.days);
        for (local, options) in [
            (true, ReadOptions::default()),
            (true, chunked(997)),
            (false, chunked(64 * 1024)),
            (false, chunked(613)),
        ] {
            let what = format!(
                "shape {seed}, {} file, chunks of {} bytes",
                if local { "local" } else { "in-memory" },
                options.chunk_size
            );
            let loaded = load(&text, local, options, LoadRequest::new("")).await;
            let got = table_rows(&loaded.table.batches);
            assert_eq!(got.len(), expected.len(), "{what}: rows");
            if let Some(at) = (0..got.len()).find(|i| got[*i] != expected[*i]) {
                panic!(
                    "{what}: row {at} is {:?}, the reference reads {:?}",
                    got[at], expected[at]
                );
            }
            assert_eq!(loaded.report.tickers, shape.tickers, "{what}: tickers");
        }
    }
}

/// A file larger than the local reader's pieces (8 MiB), so that its
/// buffer is reused between them, parsed in the default chunks.
#[tokio::test]
async fn a_file_larger_than_a_read_loads_to_the_reference_rows() {
    let shape = Shape {
        tickers: 120,
        days: 1100,
        ticker_major: true,
        crlf: false,
        bom: false,
        quirks: true,
        quotes: true,
        duplicates: 0,
    };
    let text = generate(shape, 42);
    assert!(text.len() > 9 << 20, "{} bytes", text.len());
    let mut expected: Vec<Row> = reference(&text).into_iter().map(|(_, r)| r).collect();
    expected.sort_by(|a, b| (a.date, &a.ticker).cmp(&(b.date, &b.ticker)));
    let loaded = load(&text, true, ReadOptions::default(), LoadRequest::new("")).await;
    let got = table_rows(&loaded.table.batches);
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "the table differs from the reference");
}

/// The rejected rows name their lines in the file: after the rows were
/// gathered into date order from many chunks, each rejected row's line
/// still reads, by the reference, to that row; and the rules reject
/// exactly the lines the reference finds.
#[tokio::test]
async fn rejected_rows_name_the_lines_they_were_read_from() {
    for ticker_major in [true, false] {
        let shape = Shape {
            tickers: 23,
            days: 130,
            ticker_major,
            crlf: true,
            bom: true,
            quirks: true,
            quotes: true,
            duplicates: 17,
        };
        let text = generate(shape, 7);
        let read = reference(&text);
        // The reference's findings: each later copy of a (date, ticker),
        // and each negative volume, by line.
        let mut seen = BTreeSet::new();
        let duplicates: BTreeSet<u64> = read
            .iter()
            .filter(|(_, row)| !seen.insert((row.date, row.ticker.clone())))
            .map(|(line, _)| *line)
            .collect();
        let negative: BTreeSet<u64> = text
            .trim_start_matches('\u{feff}')
            .split('\n')
            .enumerate()
            .filter(|(_, line)| line.trim_end().rsplit(',').next().unwrap().starts_with('-'))
            .map(|(index, _)| index as u64 + 1)
            .collect();
        // A row is listed under the first rule (in rule order) that rejects
        // it: a repeated negative volume under `volume_non_negative`.
        let duplicates: BTreeSet<u64> = duplicates.difference(&negative).copied().collect();
        assert!(!duplicates.is_empty() && !negative.is_empty());
        let by_line: BTreeMap<u64, Row> = read.into_iter().collect();

        let policies = Policies {
            volume_non_negative: Policy::Drop,
            ..Policies::default()
        };
        let request = LoadRequest {
            policies,
            fail_on_error_rules: false,
            collect_rejects: true,
            ..LoadRequest::new("")
        };
        let loaded = load(&text, true, chunked(1500), request).await;
        let rejects = loaded.rejects.expect("rejects were asked for");
        let rule = rejects.column_by_name("rule").unwrap().as_string::<i32>();
        let file = rejects.column_by_name("file").unwrap().as_string::<i32>();
        let line = rejects
            .column_by_name("line")
            .unwrap()
            .as_primitive::<UInt64Type>();
        let rows = table_rows(&[rejects.project(&[0, 1, 2, 3, 4, 5, 6, 7]).unwrap()]);
        let mut found: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
        for (i, row) in rows.iter().enumerate() {
            let at = line.value(i);
            assert!(file.value(i).ends_with("in.csv"), "{}", file.value(i));
            let there = by_line.get(&at).unwrap_or_else(|| {
                panic!(
                    "ticker-major {ticker_major}: reject {i} ({}) names line {at}, no data line",
                    rule.value(i)
                )
            });
            assert_eq!(
                (there.date, &there.ticker, there.prices),
                (row.date, &row.ticker, row.prices),
                "ticker-major {ticker_major}: reject {i} names line {at}"
            );
            found.entry(rule.value(i)).or_default().insert(at);
        }
        assert_eq!(
            found.get("unique_bar"),
            Some(&duplicates),
            "ticker-major {ticker_major}"
        );
        assert_eq!(
            found.get("volume_non_negative"),
            Some(&negative),
            "ticker-major {ticker_major}"
        );
    }
}
