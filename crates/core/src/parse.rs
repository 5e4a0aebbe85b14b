//! Parsing one chunk of CSV records (whole lines) into a canonical batch.
//!
//! Chunks are parsed independently, in parallel; line numbers are relative to
//! the chunk and made absolute by the reader, which knows the chunk's place.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Builder, Float64Builder, RecordBatch, StringBuilder, UInt64Builder,
};

use chrono::Datelike;

use crate::dialect::{Column, DateFormat, Layout, TickerSource};
use crate::schema;

/// One parsed chunk.
#[derive(Debug)]
pub(crate) struct ParsedChunk {
    pub(crate) batch: RecordBatch,
    /// For each row, its 1-based line number within the chunk.
    pub(crate) lines: Vec<u32>,
    /// Newlines in the chunk: how far the next chunk's lines are shifted.
    pub(crate) newlines: u64,
    /// Rows read, before filters.
    pub(crate) read_rows: u64,
    /// Rows (of the batch) whose volume was negative, stored as null.
    pub(crate) negative_volume: Vec<u32>,
}

/// What is wrong with one row, by chunk-relative line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RowError {
    Value {
        line: u64,
        /// 0-based field index.
        field: usize,
        message: String,
    },
    FieldCount {
        line: u64,
        found: usize,
    },
    /// A line longer than [`crate::MAX_LINE`].
    LineTooLong {
        line: u64,
    },
}

/// The chunk's newlines, counted in one pass that also finds the first line
/// longer than [`crate::MAX_LINE`] (1-based), wherever chunk boundaries fall.
fn count_lines(chunk: &[u8]) -> Result<u64, RowError> {
    let mut lines = 0u64;
    let mut start = 0;
    let end_of_last = (!chunk.is_empty() && !chunk.ends_with(b"\n")).then_some(chunk.len());
    for end in memchr::memchr_iter(b'\n', chunk).chain(end_of_last) {
        if end - start > crate::MAX_LINE {
            return Err(RowError::LineTooLong { line: lines + 1 });
        }
        lines += 1;
        start = end + 1;
    }
    // The last line without a newline is not a newline.
    Ok(lines - u64::from(end_of_last.is_some()))
}

/// Values that mean "no value" in optional columns.
fn is_null(field: &[u8]) -> bool {
    matches!(
        field,
        b"" | b"null" | b"NULL" | b"Null" | b"N/A" | b"n/a" | b"NA" | b"NaN" | b"nan" | b"-"
    )
}

fn quote(field: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(field))
}

/// Days from 0001-01-01 (day 1) to 1970-01-01.
pub(crate) const EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// Days since 1970-01-01 of a date written in `format`.
pub(crate) fn parse_date(field: &[u8], format: DateFormat) -> Result<i32, String> {
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        field.get(range)?.iter().try_fold(0u32, |acc, b| {
            b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
        })
    };
    let parsed = match format {
        // A time after the date (yfinance writes `2024-01-02 00:00:00-05:00`) is ignored.
        DateFormat::Iso => (field.len() >= 10
            && field[4] == b'-'
            && field[7] == b'-'
            && (field.len() == 10 || matches!(field[10], b' ' | b'T')))
        .then(|| Some((digits(0..4)?, digits(5..7)?, digits(8..10)?)))
        .flatten(),
        // Real exports write `11/1/2019` as well as `11/01/2019`.
        DateFormat::UsSlash => us_slash(field),
        DateFormat::Compact => (field.len() == 8)
            .then(|| Some((digits(0..4)?, digits(4..6)?, digits(6..8)?)))
            .flatten(),
    };
    let Some((year, month, day)) = parsed else {
        return Err(format!(
            "expected a date as {}, found {}",
            format.pattern(),
            quote(field)
        ));
    };
    chrono::NaiveDate::from_ymd_opt(year as i32, month, day)
        .map(|date| date.num_days_from_ce() - EPOCH_DAYS_FROM_CE)
        .ok_or_else(|| format!("{} is not a calendar date", quote(field)))
}

/// (year, month, day) of `M/D/YYYY` or `MM/DD/YYYY`.
fn us_slash(field: &[u8]) -> Option<(u32, u32, u32)> {
    let number = |part: &[u8]| {
        part.iter().try_fold(0u32, |acc, b| {
            b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
        })
    };
    let mut parts = field.split(|b| *b == b'/');
    let (month, day, year) = (parts.next()?, parts.next()?, parts.next()?);
    let short = |part: &[u8]| (1..=2).contains(&part.len());
    if parts.next().is_some() || !short(month) || !short(day) || year.len() != 4 {
        return None;
    }
    Some((number(year)?, number(month)?, number(day)?))
}

/// A number as written in downloads: `$1,234.50`, ` 12 `.
fn clean_number(field: &[u8]) -> Option<f64> {
    let cleaned: String = std::str::from_utf8(field)
        .ok()?
        .chars()
        .filter(|c| !matches!(c, '$' | ',' | ' ' | '_'))
        .collect();
    cleaned.parse::<f64>().ok()
}

/// A price: a finite decimal number.
fn parse_price(field: &[u8]) -> Result<Option<f64>, String> {
    if is_null(field) {
        return Ok(None);
    }
    // fast-float2 parses the bytes directly, correctly rounded, at several
    // times the speed of str::parse; `$1,234` and friends take the slow path.
    let value = fast_float2::parse::<f64, _>(field)
        .ok()
        .or_else(|| clean_number(field))
        .filter(|v| v.is_finite());
    match value {
        Some(v) => Ok(Some(v)),
        None => Err(format!("expected a number, found {}", quote(field))),
    }
}

/// A volume: a whole number (`1200`, `1200.0`, `1,200`). Negative volumes
/// are returned as such: the `volume_non_negative` rule judges them.
fn parse_volume(field: &[u8]) -> Result<Option<i64>, String> {
    if is_null(field) {
        return Ok(None);
    }
    let text = std::str::from_utf8(field).unwrap_or_default();
    if let Ok(v) = text.parse::<i64>() {
        return Ok(Some(v));
    }
    match text.parse::<f64>().ok().or_else(|| clean_number(field)) {
        Some(v) if v.fract() == 0.0 && v.abs() < 9.2e18 => Ok(Some(v as i64)),
        _ => Err(format!(
            "expected a whole number of shares, found {}",
            quote(field)
        )),
    }
}

/// Whether a record repeats the header.
fn is_header(record: &csv::ByteRecord, headers: &[String]) -> bool {
    record.len() == headers.len()
        && record
            .iter()
            .zip(headers)
            .all(|(field, header)| trim(field).eq_ignore_ascii_case(header.as_bytes()))
}

fn trim(field: &[u8]) -> &[u8] {
    field.trim_ascii()
}

/// Which rows a load keeps, applied while parsing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowFilter {
    /// Only these tickers (upper-case), when set.
    pub tickers: Option<std::collections::BTreeSet<String>>,
    /// Only dates on or after this one.
    pub from: Option<chrono::NaiveDate>,
    /// Only dates on or before this one.
    pub to: Option<chrono::NaiveDate>,
}

impl RowFilter {
    /// A date as days since 1970-01-01.
    pub(crate) fn days(date: Option<chrono::NaiveDate>) -> Option<i32> {
        date.map(|d| d.num_days_from_ce() - EPOCH_DAYS_FROM_CE)
    }
}

/// Rows whose narrowest column (four-byte dates and ticker offsets) passes
/// 512 KiB, mimalloc's largest size class that shares pages between
/// allocations.
const SEPARATE_ROWS: usize = (512 << 10) / 4 + 64;

/// Parses whole CSV lines (no header) into a canonical batch.
pub(crate) fn parse_chunk(
    chunk: &[u8],
    layout: &Layout,
    filter: &RowFilter,
) -> Result<ParsedChunk, RowError> {
    // One row at most per line: builders sized by the line count never grow
    // and never hold much more than the rows. (A guess from the byte count
    // sized them for 48-byte lines; real bars are longer, and the unused
    // capacity still became resident, in huge pages, and was zeroed.)
    let newlines = count_lines(chunk)?;
    let estimate = newlines as usize + 1;
    // Each column's buffer above the allocator's largest shared size class,
    // so that it gets pages of its own: the sort frees one column's parsed
    // parts as soon as that column is whole, and only pages no other
    // column shares can go back. (Capacity never written is never resident.)
    let room = estimate.max(SEPARATE_ROWS);
    let mut date = Date32Builder::with_capacity(room);
    let mut ticker = StringBuilder::with_capacity(room, room * 6);
    let mut prices: [Float64Builder; 5] =
        std::array::from_fn(|_| Float64Builder::with_capacity(room));
    let mut volume = UInt64Builder::with_capacity(room);
    let mut lines = Vec::with_capacity(estimate);
    let mut negative_volume = Vec::new();
    let mut read_rows = 0u64;

    let price_columns = [
        (Column::Open, true),
        (Column::High, true),
        (Column::Low, true),
        (Column::Close, true),
        (Column::AdjClose, false),
    ];
    let price_index: Vec<(Option<usize>, bool)> = price_columns
        .iter()
        .map(|(c, required)| (layout.index(*c), *required))
        .collect();
    let date_index = layout.index(Column::Date).unwrap_or(0);
    let ticker_index = match layout.ticker {
        TickerSource::Column => layout.index(Column::Ticker),
        TickerSource::Fixed(_) => None,
    };
    let fixed_ticker = match &layout.ticker {
        TickerSource::Fixed(t) => Some(t.to_ascii_uppercase()),
        TickerSource::Column => None,
    };
    let volume_index = layout.index(Column::Volume);
    let expected = layout.headers.len();
    let (from, to) = (RowFilter::days(filter.from), RowFilter::days(filter.to));

    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(chunk);
    let mut record = csv::ByteRecord::new();
    let mut last_date: (Vec<u8>, i32) = (Vec::new(), 0);
    let mut symbol = String::new();
    loop {
        let line = reader.position().line();
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(err) => {
                let line = err.position().map_or(line, |p| p.line());
                return Err(RowError::Value {
                    line,
                    field: 0,
                    message: err.to_string(),
                });
            }
        }
        // The reader skips blank lines before a record but may place the
        // record where they began: its own line is the one it ended on.
        let end = reader.position();
        // The reader counts a line at each newline it consumes. After a
        // record ending in LF it has consumed the LF; after one ending in
        // CRLF it stops at the CR (the LF comes with the next record); at
        // the end without a newline, or with the last newline inside an
        // unclosed quote, no terminator was consumed either.
        let consumed_newline = (end.byte() as usize)
            .checked_sub(1)
            .and_then(|last| chunk.get(last))
            == Some(&b'\n');
        let last_line = if consumed_newline && !record.as_slice().ends_with(b"\n") {
            end.line().saturating_sub(1)
        } else {
            end.line()
        };
        // One SIMD search per record; the count only for the rare record
        // that spans lines.
        let spans_lines = memchr::memchr2(b'\n', b'\r', record.as_slice()).is_some();
        let breaks = if spans_lines {
            memchr::memchr_iter(b'\n', record.as_slice()).count() as u64
        } else {
            0
        };
        let line = last_line.saturating_sub(breaks);
        // A field holding a line break came from quotes spanning lines:
        // refused, so that the result never depends on where the file was
        // cut into chunks.
        if spans_lines {
            return Err(RowError::Value {
                line,
                field: 0,
                message: "a quoted field holds a line break, which no bar needs; \
                          remove it (a quote may be missing its closing mark)"
                    .to_owned(),
            });
        }
        read_rows += 1;
        if record.len() != expected {
            return Err(RowError::FieldCount {
                line,
                found: record.len(),
            });
        }
        let value_error = |field: usize| {
            move |message: String| RowError::Value {
                line,
                field,
                message,
            }
        };

        let raw_date = trim(&record[date_index]);
        if raw_date != last_date.0.as_slice() {
            let days = match parse_date(raw_date, layout.date_format) {
                Ok(days) => days,
                // The header again, as `cat a.csv b.csv` leaves it: skip the line.
                Err(_) if is_header(&record, &layout.headers) => continue,
                Err(message) => return Err(value_error(date_index)(message)),
            };
            // Reuse the buffer: in ticker-major files the date changes every row.
            last_date.0.clear();
            last_date.0.extend_from_slice(raw_date);
            last_date.1 = days;
        }
        let day = last_date.1;
        if from.is_some_and(|f| day < f) || to.is_some_and(|t| day > t) {
            continue;
        }

        symbol.clear();
        match (&fixed_ticker, ticker_index) {
            (Some(fixed), _) => symbol.push_str(fixed),
            (None, Some(index)) => {
                let raw = trim(&record[index]);
                let text = std::str::from_utf8(raw).map_err(|_| {
                    value_error(index)(format!("the ticker {} is not UTF-8", quote(raw)))
                })?;
                if text.bytes().any(|b| b.is_ascii_control()) {
                    return Err(value_error(index)(format!(
                        "the ticker {} holds a control character (a NUL byte or a line break)",
                        quote(raw)
                    )));
                }
                symbol.push_str(text);
                if let Some(suffix) = layout.ticker_suffix
                    && symbol.len() > suffix.len()
                    && symbol[symbol.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
                {
                    symbol.truncate(symbol.len() - suffix.len());
                }
                if symbol.bytes().any(|b| b.is_ascii_lowercase()) {
                    symbol.make_ascii_uppercase();
                }
                if symbol.is_empty() {
                    return Err(value_error(index)("the ticker is empty".to_owned()));
                }
            }
            (None, None) => {}
        }
        if let Some(wanted) = &filter.tickers
            && !wanted.contains(symbol.as_str())
        {
            continue;
        }

        let mut row_prices = [None; 5];
        for (slot, (index, required)) in row_prices.iter_mut().zip(&price_index) {
            let Some(index) = *index else { continue };
            match parse_price(trim(&record[index])).map_err(value_error(index))? {
                Some(v) => *slot = Some(v),
                None if *required => {
                    return Err(value_error(index)("the price is missing".to_owned()));
                }
                None => {}
            }
        }
        let row_volume = match volume_index {
            Some(index) => parse_volume(trim(&record[index])).map_err(value_error(index))?,
            None => None,
        };

        date.append_value(day);
        ticker.append_value(&symbol);
        for (builder, value) in prices.iter_mut().zip(row_prices) {
            builder.append_option(value);
        }
        match row_volume {
            Some(v) if v < 0 => {
                negative_volume.push(lines.len() as u32);
                volume.append_null();
            }
            other => volume.append_option(other.map(|v| v as u64)),
        }
        lines.push(line as u32);
    }

    let [open, high, low, close, adj_close] = prices.map(|mut b| Arc::new(b.finish()) as ArrayRef);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(date.finish()),
        Arc::new(ticker.finish()),
        open,
        high,
        low,
        close,
        adj_close,
        Arc::new(volume.finish()),
    ];
    let internal = |err: arrow::error::ArrowError| RowError::Value {
        line: 0,
        field: 0,
        message: err.to_string(),
    };
    let mut batch = RecordBatch::try_new(schema::canonical(), columns).map_err(internal)?;
    // The builders were sized for a full chunk (or more); when filters,
    // blank lines or a small file leave few rows, copy them into buffers of
    // their size, so that memory follows the rows kept, not the bytes read.
    if batch.num_rows() < room / 4 {
        batch = arrow::compute::concat_batches(&batch.schema(), [&batch]).map_err(internal)?;
        lines.shrink_to_fit();
    }
    Ok(ParsedChunk {
        batch,
        lines,
        newlines,
        read_rows,
        negative_volume,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_to_epoch_days() {
        let iso = DateFormat::Iso;
        assert_eq!(parse_date(b"1970-01-01", iso), Ok(0));
        assert_eq!(parse_date(b"2024-01-02", iso), Ok(19724));
        assert_eq!(parse_date(b"2024-01-02 00:00:00-05:00", iso), Ok(19724));
        assert_eq!(parse_date(b"01/02/2024", DateFormat::UsSlash), Ok(19724));
        assert_eq!(parse_date(b"1/2/2024", DateFormat::UsSlash), Ok(19724));
        assert_eq!(
            parse_date(b"11/1/2019", DateFormat::UsSlash),
            parse_date(b"11/01/2019", DateFormat::UsSlash)
        );
        assert!(parse_date(b"1/2/24", DateFormat::UsSlash).is_err());
        assert!(parse_date(b"111/2/2024", DateFormat::UsSlash).is_err());
        assert!(parse_date(b"1/2/2024/5", DateFormat::UsSlash).is_err());
        assert_eq!(parse_date(b"20240102", DateFormat::Compact), Ok(19724));
        let err = parse_date(b"2024-02-30", iso).unwrap_err();
        assert!(err.contains("not a calendar date"), "{err}");
        let err = parse_date(b"01/02/2024", iso).unwrap_err();
        assert!(err.contains("YYYY-MM-DD"), "{err}");
    }

    #[test]
    fn volumes_accept_float_spelling_and_reject_negatives() {
        assert_eq!(parse_volume(b"1200"), Ok(Some(1200)));
        assert_eq!(parse_volume(b"1200.0"), Ok(Some(1200)));
        assert_eq!(parse_volume(b"1,200"), Ok(Some(1200)));
        assert_eq!(parse_volume(b""), Ok(None));
        assert_eq!(parse_volume(b"-5"), Ok(Some(-5)));
        assert!(parse_volume(b"12.5").unwrap_err().contains("whole number"));
    }

    #[test]
    fn prices_reject_text_and_infinity() {
        assert_eq!(parse_price(b"187.15"), Ok(Some(187.15)));
        assert_eq!(parse_price(b"N/A"), Ok(None));
        assert_eq!(parse_price(b"$1,234.50"), Ok(Some(1234.5)));
        assert!(parse_price(b"abc").unwrap_err().contains("\"abc\""));
        assert!(parse_price(b"inf").is_err());
    }
}
