//! Parsing one chunk of CSV records (whole lines) into a canonical batch.
//!
//! Chunks are parsed independently, in parallel; line numbers are relative to
//! the chunk and made absolute by the reader, which knows the chunk's place.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Builder, Float64Builder, RecordBatch, StringBuilder, UInt64Builder,
};

use chrono::Datelike;

use crate::header::{Column, ColumnMap};
use crate::schema;

/// One parsed chunk.
#[derive(Debug)]
pub(crate) struct ParsedChunk {
    pub(crate) batch: RecordBatch,
    /// For each row, its 1-based line number within the chunk.
    pub(crate) lines: Vec<u32>,
    /// Newlines in the chunk: how far the next chunk's lines are shifted.
    pub(crate) newlines: u64,
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

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
pub(crate) fn parse_date(field: &[u8]) -> Result<i32, String> {
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        field[range].iter().try_fold(0u32, |acc, b| {
            b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
        })
    };
    let parsed = (field.len() == 10 && field[4] == b'-' && field[7] == b'-')
        .then(|| Some((digits(0..4)?, digits(5..7)?, digits(8..10)?)))
        .flatten();
    let Some((year, month, day)) = parsed else {
        return Err(format!(
            "expected a date as YYYY-MM-DD, found {}",
            quote(field)
        ));
    };
    chrono::NaiveDate::from_ymd_opt(year as i32, month, day)
        .map(|date| date.num_days_from_ce() - EPOCH_DAYS_FROM_CE)
        .ok_or_else(|| format!("{} is not a calendar date", quote(field)))
}

/// A price: a finite decimal number.
fn parse_price(field: &[u8]) -> Result<Option<f64>, String> {
    if is_null(field) {
        return Ok(None);
    }
    let value = std::str::from_utf8(field)
        .ok()
        .and_then(|text| text.parse::<f64>().ok())
        .filter(|v| v.is_finite());
    match value {
        Some(v) => Ok(Some(v)),
        None => Err(format!("expected a number, found {}", quote(field))),
    }
}

/// A volume: a non-negative whole number (`1200` or `1200.0`).
fn parse_volume(field: &[u8]) -> Result<Option<u64>, String> {
    if is_null(field) {
        return Ok(None);
    }
    let text = std::str::from_utf8(field).unwrap_or_default();
    if let Ok(v) = text.parse::<u64>() {
        return Ok(Some(v));
    }
    match text.parse::<f64>() {
        Ok(v) if v >= 0.0 && v.fract() == 0.0 && v < 1.8e19 => Ok(Some(v as u64)),
        Ok(v) if v < 0.0 => Err(format!(
            "volume must not be negative, found {}",
            quote(field)
        )),
        _ => Err(format!(
            "expected a whole number of shares, found {}",
            quote(field)
        )),
    }
}

fn trim(field: &[u8]) -> &[u8] {
    field.trim_ascii()
}

/// Parses whole CSV lines (no header) into a canonical batch.
pub(crate) fn parse_chunk(chunk: &[u8], map: &ColumnMap) -> Result<ParsedChunk, RowError> {
    let estimate = chunk.len() / 48 + 1;
    let mut date = Date32Builder::with_capacity(estimate);
    let mut ticker = StringBuilder::with_capacity(estimate, estimate * 5);
    let mut prices: [Float64Builder; 5] =
        std::array::from_fn(|_| Float64Builder::with_capacity(estimate));
    let mut volume = UInt64Builder::with_capacity(estimate);
    let mut lines = Vec::with_capacity(estimate);

    let price_columns = [
        (Column::Open, true),
        (Column::High, true),
        (Column::Low, true),
        (Column::Close, true),
        (Column::AdjClose, false),
    ];
    let price_index: Vec<(Option<usize>, bool)> = price_columns
        .iter()
        .map(|(c, required)| (map.index(*c), *required))
        .collect();
    let date_index = map.required(Column::Date);
    let ticker_index = map.required(Column::Ticker);
    let volume_index = map.index(Column::Volume);
    let expected = map.headers.len();

    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(chunk);
    let mut record = csv::ByteRecord::new();
    let mut last_date: (Vec<u8>, i32) = (Vec::new(), 0);
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
        let line = record.position().map_or(line, |p| p.line());
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
            let days = parse_date(raw_date).map_err(value_error(date_index))?;
            last_date = (raw_date.to_vec(), days);
        }
        date.append_value(last_date.1);

        let raw_ticker = trim(&record[ticker_index]);
        if raw_ticker.is_empty() {
            return Err(value_error(ticker_index)("the ticker is empty".to_owned()));
        }
        let text = std::str::from_utf8(raw_ticker).map_err(|_| {
            value_error(ticker_index)(format!("the ticker {} is not UTF-8", quote(raw_ticker)))
        })?;
        if text.bytes().any(|b| b.is_ascii_lowercase()) {
            ticker.append_value(text.to_ascii_uppercase());
        } else {
            ticker.append_value(text);
        }

        for (builder, (index, required)) in prices.iter_mut().zip(&price_index) {
            let Some(index) = *index else {
                builder.append_null();
                continue;
            };
            match parse_price(trim(&record[index])).map_err(value_error(index))? {
                Some(v) => builder.append_value(v),
                None if *required => {
                    return Err(value_error(index)("the price is missing".to_owned()));
                }
                None => builder.append_null(),
            }
        }

        match volume_index {
            Some(index) => volume
                .append_option(parse_volume(trim(&record[index])).map_err(value_error(index))?),
            None => volume.append_null(),
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
    let batch =
        RecordBatch::try_new(schema::canonical(), columns).map_err(|err| RowError::Value {
            line: 0,
            field: 0,
            message: err.to_string(),
        })?;
    Ok(ParsedChunk {
        batch,
        lines,
        newlines: memchr::memchr_iter(b'\n', chunk).count() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_to_epoch_days() {
        assert_eq!(parse_date(b"1970-01-01"), Ok(0));
        assert_eq!(parse_date(b"2024-01-02"), Ok(19724));
        assert!(
            parse_date(b"2024-02-30")
                .unwrap_err()
                .contains("not a calendar date")
        );
        assert!(
            parse_date(b"01/02/2024")
                .unwrap_err()
                .contains("YYYY-MM-DD")
        );
    }

    #[test]
    fn volumes_accept_float_spelling_and_reject_negatives() {
        assert_eq!(parse_volume(b"1200"), Ok(Some(1200)));
        assert_eq!(parse_volume(b"1200.0"), Ok(Some(1200)));
        assert_eq!(parse_volume(b""), Ok(None));
        assert!(parse_volume(b"-5").unwrap_err().contains("negative"));
        assert!(parse_volume(b"12.5").unwrap_err().contains("whole number"));
    }

    #[test]
    fn prices_reject_text_and_infinity() {
        assert_eq!(parse_price(b"187.15"), Ok(Some(187.15)));
        assert_eq!(parse_price(b"N/A"), Ok(None));
        assert!(parse_price(b"abc").unwrap_err().contains("\"abc\""));
        assert!(parse_price(b"inf").is_err());
    }
}
