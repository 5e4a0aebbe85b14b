//! Parsing one chunk of CSV records (whole lines) into a canonical batch.
//!
//! Chunks are parsed independently, in parallel; line numbers are relative to
//! the chunk and made absolute by the reader, which knows the chunk's place.

use std::sync::Arc;

use std::collections::HashMap;
use std::sync::LazyLock;

use arrow::array::{
    ArrayRef, Date32Builder, DictionaryArray, Float64Builder, RecordBatch, StringArray,
    UInt32Array, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type};

use chrono::Datelike;

use crate::dialect::{Column, DateFormat, Layout, TickerSource};
use crate::schema;

/// One parsed chunk.
#[derive(Debug)]
pub(crate) struct ParsedChunk {
    pub(crate) batch: RecordBatch,
    /// For each row, its 1-based line number within the chunk; empty when
    /// row `i` is on line `i + 1`, as in most chunks (see [`RowLines`]).
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
        DateFormat::Iso => iso_date(field),
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
    days_from_civil(year, month, day)
        .ok_or_else(|| format!("{} is not a calendar date", quote(field)))
}

/// (year, month, day) of `YYYY-MM-DD`, with nothing after it but a time
/// (yfinance writes `2024-01-02 00:00:00-05:00`, which is ignored): the
/// layout checked by one slice pattern, each digit read at its place.
fn iso_date(field: &[u8]) -> Option<(u32, u32, u32)> {
    let &[y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, ref rest @ ..] = field else {
        return None;
    };
    if !matches!(rest.first(), None | Some(b' ' | b'T')) {
        return None;
    }
    let digit = |b: u8| {
        let value = b.wrapping_sub(b'0');
        (value < 10).then_some(u32::from(value))
    };
    let year = digit(y0)? * 1000 + digit(y1)? * 100 + digit(y2)? * 10 + digit(y3)?;
    Some((
        year,
        digit(m0)? * 10 + digit(m1)?,
        digit(d0)? * 10 + digit(d1)?,
    ))
}

/// Days since 1970-01-01 of a proleptic Gregorian date, `None` when there
/// is no such day. Arithmetic alone (Howard Hinnant's `days_from_civil`):
/// in a ticker-major file every row has a new date, and chrono's checked
/// constructor was a visible part of the parse.
fn days_from_civil(year: u32, month: u32, day: u32) -> Option<i32> {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > month_days || year > 9999 {
        return None;
    }
    // Years from March, so that the leap day ends a year; shifted by 400
    // years so that year 0 (and its January) stays non-negative.
    let y = year + 400 - u32::from(month <= 2);
    let (era, year_of_era) = (y / 400, y % 400);
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some((era * 146_097 + day_of_era) as i32 - 146_097 - 719_468)
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
    // fast-float2 parses the bytes directly, correctly rounded, at several
    // times the speed of str::parse; a number is tried first because almost
    // every field is one. (No null spelling parses as a finite number.)
    if let Ok(v) = fast_float2::parse::<f64, _>(field)
        && v.is_finite()
    {
        return Ok(Some(v));
    }
    if is_null(field) {
        return Ok(None);
    }
    // `$1,234` and friends.
    let value = clean_number(field).filter(|v| v.is_finite());
    match value {
        Some(v) => Ok(Some(v)),
        None => Err(format!("expected a number, found {}", quote(field))),
    }
}

/// A volume: a whole number (`1200`, `1200.0`, `1,200`). Negative volumes
/// are returned as such: the `volume_non_negative` rule judges them.
fn parse_volume(field: &[u8]) -> Result<Option<i64>, String> {
    // Plain digits, the common case, with no UTF-8 check or `str::parse`.
    if let Some((value, length)) = plain_integer(field)
        && length == field.len()
    {
        return Ok(Some(value));
    }
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
fn is_header(record: &impl Fields, headers: &[String]) -> bool {
    record.count() == headers.len()
        && headers
            .iter()
            .enumerate()
            .all(|(i, header)| trim(record.field(i)).eq_ignore_ascii_case(header.as_bytes()))
}

/// The fields of one record, however the line was split.
trait Fields {
    /// How many fields.
    fn count(&self) -> usize;
    /// Field `i` (below [`Fields::count`]).
    fn field(&self, i: usize) -> &[u8];
}

impl Fields for csv::ByteRecord {
    fn count(&self) -> usize {
        self.len()
    }
    fn field(&self, i: usize) -> &[u8] {
        &self[i]
    }
}

/// A line split at every comma: field `i` ends at `ends[i]` and begins
/// one past the end of the one before (at `start` for the first).
struct Split<'a> {
    text: &'a [u8],
    start: usize,
    ends: &'a [usize],
}

impl Fields for Split<'_> {
    fn count(&self) -> usize {
        self.ends.len()
    }
    fn field(&self, i: usize) -> &[u8] {
        let from = if i == 0 {
            self.start
        } else {
            self.ends[i - 1] + 1
        };
        &self.text[from..self.ends[i]]
    }
}

/// Whether a chunk can be split at commas and newlines alone: no quote,
/// and every CR the first half of a CRLF. The CSV reader reads such text
/// exactly as the split does (a lone CR would end a record there); the
/// reference test in `tests/reference.rs` holds the two to the same rows.
fn is_plain(chunk: &[u8]) -> bool {
    memchr::memchr2_iter(b'"', b'\r', chunk)
        .all(|i| chunk[i] == b'\r' && chunk.get(i + 1) == Some(&b'\n'))
}

/// The length of the field at the start of `text` (up to a comma or a
/// line end), found eight bytes at a time: a date or a ticker is one or
/// two words, read whole instead of a byte and a branch at a time.
fn field_length(text: &[u8]) -> usize {
    /// A byte in each lane.
    const fn lanes(byte: u8) -> u64 {
        u64::from_le_bytes([byte; 8])
    }
    let mut at = 0;
    while let Some(word) = text.get(at..at + 8) {
        let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
        // A lane's high bit set where the lane is zero (exact for the
        // lowest such lane, which is all that is read).
        let zero = |x: u64| x.wrapping_sub(lanes(1)) & !x & lanes(0x80);
        let found =
            zero(word ^ lanes(b',')) | zero(word ^ lanes(b'\n')) | zero(word ^ lanes(b'\r'));
        if found != 0 {
            return at + (found.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    text[at..]
        .iter()
        .position(|b| matches!(b, b',' | b'\n' | b'\r'))
        .map_or(text.len(), |p| at + p)
}

/// A field's bytes kept from one row to the next, compared without an
/// allocation or a `memcmp` call for the short fields dates and tickers
/// are: two words and the length tell up to 16 bytes apart.
#[derive(Default)]
struct KeptField {
    /// The words of a short field ([`KeptField::words`]).
    words: (u64, u64),
    /// Its length.
    length: usize,
    /// The bytes of a field longer than 16.
    long: Vec<u8>,
}

impl KeptField {
    /// Whether the field holds `raw`.
    fn holds(&self, raw: &[u8]) -> bool {
        raw.len() == self.length
            && match Self::words(raw) {
                Some(words) => words == self.words,
                None => self.long == raw,
            }
    }

    /// Keeps `raw`.
    fn set(&mut self, raw: &[u8]) {
        self.length = raw.len();
        match Self::words(raw) {
            Some(words) => self.words = words,
            None => {
                self.long.clear();
                self.long.extend_from_slice(raw);
            }
        }
    }

    /// Two words that, with the length, hold all of a field of up to 16
    /// bytes: its first and last eight (four) bytes, which overlap when it
    /// is shorter than 16 (8); `None` for a longer field.
    fn words(raw: &[u8]) -> Option<(u64, u64)> {
        let n = raw.len();
        let word = |at: usize| {
            raw.get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_le_bytes)
        };
        let half = |at: usize| {
            raw.get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .map_or(0, |b| u64::from(u32::from_le_bytes(b)))
        };
        match n {
            0 => Some((0, 0)),
            // Bytes 0, n / 2 and n - 1 are every byte of a field this short.
            1..=3 => Some((
                u64::from(raw[0]) | u64::from(raw[n / 2]) << 8 | u64::from(raw[n - 1]) << 16,
                0,
            )),
            4..=7 => Some((half(0), half(n - 4))),
            8..=16 => Some((word(0), word(n - 8))),
            _ => None,
        }
    }
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

/// The schema of a parsed chunk: the canonical one, but for the ticker, a
/// dictionary of the chunk's names. A row holds a four-byte id instead of
/// its name's text and offset, and the sort ranks a chunk's few names
/// instead of every row's; the sorted table's tickers are written from the
/// ranks.
static PARSED: LazyLock<SchemaRef> = LazyLock::new(|| {
    let fields = schema::canonical()
        .fields()
        .iter()
        .map(|field| match field.name().as_str() {
            schema::TICKER => Arc::new(Field::new(
                schema::TICKER,
                DataType::Dictionary(Box::new(DataType::UInt32), Box::new(DataType::Utf8)),
                false,
            )),
            _ => field.clone(),
        })
        .collect::<Vec<_>>();
    Arc::new(Schema::new(fields))
});

/// Parses whole CSV lines (no header) into a batch of [`PARSED`]'s schema.
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
    let mut rows = Rows::new(layout, filter, room);
    if is_plain(chunk) {
        split_plain(chunk, &mut rows)?;
    } else {
        split_csv(chunk, &mut rows)?;
    }
    let Rows {
        mut date,
        ticker_ids,
        ticker_names,
        prices,
        mut volume,
        mut lines,
        negative_volume,
        read_rows,
        ..
    } = rows;

    let [open, high, low, close, adj_close] = prices.map(|mut b| Arc::new(b.finish()) as ArrayRef);
    let internal = |err: arrow::error::ArrowError| RowError::Value {
        line: 0,
        field: 0,
        message: err.to_string(),
    };
    let tickers = DictionaryArray::<UInt32Type>::try_new(
        UInt32Array::from(ticker_ids),
        Arc::new(StringArray::from(ticker_names)),
    )
    .map_err(internal)?;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(date.finish()),
        Arc::new(tickers),
        open,
        high,
        low,
        close,
        adj_close,
        Arc::new(volume.finish()),
    ];
    let mut batch = RecordBatch::try_new(PARSED.clone(), columns).map_err(internal)?;
    // The builders were sized for a full chunk (or more); when filters,
    // blank lines or a small file leave few rows, copy them into buffers of
    // their size, so that memory follows the rows kept, not the bytes read.
    if batch.num_rows() < room / 4 {
        batch = arrow::compute::concat_batches(&batch.schema(), [&batch]).map_err(internal)?;
        lines.listed.shrink_to_fit();
    }
    Ok(ParsedChunk {
        batch,
        lines: lines.listed,
        newlines,
        read_rows,
        negative_volume,
    })
}

/// The chunk-relative lines of the rows kept, listed only once a row is
/// not on the line after the one before (a blank line, a repeated header,
/// a row filtered out): most chunks have none, and a list would be four
/// bytes a row for the whole load.
#[derive(Default)]
struct RowLines {
    /// Rows kept.
    rows: u32,
    /// Per row, its line; empty while row `i` is on line `i + 1`.
    listed: Vec<u32>,
}

impl RowLines {
    fn push(&mut self, line: u32) {
        if !self.listed.is_empty() || line != self.rows + 1 {
            // The first row off the run lists the rows before it.
            if self.listed.is_empty() {
                self.listed.extend(1..=self.rows);
            }
            self.listed.push(line);
        }
        self.rows += 1;
    }
}

/// The rows of a chunk as they are parsed: the column builders, and what
/// each record is read by.
struct Rows<'a> {
    date: Date32Builder,
    /// Per row, its ticker's place in `ticker_names`.
    ticker_ids: Vec<u32>,
    /// The chunk's tickers, in the order first seen.
    ticker_names: Vec<String>,
    /// Each of `ticker_names`' place.
    ticker_lookup: HashMap<String, u32>,
    /// The place of [`Rows::symbol`], once the filter keeps it.
    symbol_id: u32,
    prices: [Float64Builder; 5],
    volume: UInt64Builder,
    /// Per row kept: its chunk-relative line.
    lines: RowLines,
    /// Rows (of the batch) whose volume was negative.
    negative_volume: Vec<u32>,
    /// Records read, before filters.
    read_rows: u64,
    layout: &'a Layout,
    filter: &'a RowFilter,
    /// Per price column (open, high, low, close, adj close): its field, and
    /// whether it is required.
    price_index: [(Option<usize>, bool); 5],
    date_index: usize,
    ticker_index: Option<usize>,
    fixed_ticker: Option<String>,
    volume_index: Option<usize>,
    /// The date filter, in days.
    from: Option<i32>,
    to: Option<i32>,
    /// The last date field read and its days: in a date-major file most
    /// rows repeat the one before.
    last_date: (KeptField, i32),
    /// The ticker of the rows at hand, as stored.
    symbol: String,
    /// The ticker field it was read from.
    last_ticker: KeptField,
    /// Whether [`Rows::last_ticker`] holds a field read (not before the
    /// first row, nor after a refused one).
    ticker_read: bool,
    /// Whether the filter keeps [`Rows::symbol`].
    ticker_kept: bool,
    /// Per field of a line, what it is read as.
    roles: Vec<Role>,
    /// The field after which the date and the ticker are known: where
    /// [`Rows::push_plain`] decides whether the filter keeps the row.
    decided_at: usize,
}

impl<'a> Rows<'a> {
    /// Builders with room for `room` rows.
    fn new(layout: &'a Layout, filter: &'a RowFilter, room: usize) -> Self {
        let price = |column, required| (layout.index(column), required);
        let price_index = [
            price(Column::Open, true),
            price(Column::High, true),
            price(Column::Low, true),
            price(Column::Close, true),
            price(Column::AdjClose, false),
        ];
        let date_index = layout.index(Column::Date).unwrap_or(0);
        let ticker_index = match layout.ticker {
            TickerSource::Column => layout.index(Column::Ticker),
            TickerSource::Fixed(_) => None,
        };
        let volume_index = layout.index(Column::Volume);
        let mut roles = vec![Role::Other; layout.headers.len()];
        for (slot, (index, _)) in price_index.iter().enumerate() {
            if let Some(role) = index.and_then(|i| roles.get_mut(i)) {
                *role = Role::Price(slot);
            }
        }
        for (index, role) in [
            (volume_index, Role::Volume),
            (ticker_index, Role::Ticker),
            (Some(date_index), Role::Date),
        ] {
            if let Some(place) = index.and_then(|i| roles.get_mut(i)) {
                *place = role;
            }
        }
        Self {
            date: Date32Builder::with_capacity(room),
            ticker_ids: Vec::with_capacity(room),
            ticker_names: Vec::new(),
            ticker_lookup: HashMap::new(),
            symbol_id: 0,
            prices: std::array::from_fn(|_| Float64Builder::with_capacity(room)),
            volume: UInt64Builder::with_capacity(room),
            lines: RowLines::default(),
            negative_volume: Vec::new(),
            read_rows: 0,
            layout,
            filter,
            price_index,
            date_index,
            ticker_index,
            fixed_ticker: match &layout.ticker {
                TickerSource::Fixed(t) => Some(t.to_ascii_uppercase()),
                TickerSource::Column => None,
            },
            volume_index,
            from: RowFilter::days(filter.from),
            to: RowFilter::days(filter.to),
            last_date: (KeptField::default(), 0),
            symbol: String::new(),
            last_ticker: KeptField::default(),
            ticker_read: false,
            ticker_kept: false,
            decided_at: date_index.max(ticker_index.unwrap_or(0)),
            roles,
        }
    }

    /// Reads a ticker into [`Rows::symbol`] (the fixed one when the file
    /// has no ticker field; else `field`, its index and text): checked,
    /// its suffix dropped, upper-cased; and whether the filter keeps it.
    fn read_ticker(&mut self, field: Option<(usize, &[u8])>, line: u64) -> Result<(), RowError> {
        let symbol = &mut self.symbol;
        symbol.clear();
        match (&self.fixed_ticker, field) {
            (Some(fixed), _) => symbol.push_str(fixed),
            (None, Some((index, raw))) => {
                let refuse = |message: String| RowError::Value {
                    line,
                    field: index,
                    message,
                };
                let text = std::str::from_utf8(raw)
                    .map_err(|_| refuse(format!("the ticker {} is not UTF-8", quote(raw))))?;
                if text.bytes().any(|b| b.is_ascii_control()) {
                    return Err(refuse(format!(
                        "the ticker {} holds a control character (a NUL byte or a line break)",
                        quote(raw)
                    )));
                }
                symbol.push_str(text);
                if let Some(suffix) = self.layout.ticker_suffix
                    && symbol.len() > suffix.len()
                    // By bytes, and only at a character's start: the text
                    // before a suffix may end in any character (found by the fuzzer).
                    && symbol.is_char_boundary(symbol.len() - suffix.len())
                    && symbol.as_bytes()[symbol.len() - suffix.len()..]
                        .eq_ignore_ascii_case(suffix.as_bytes())
                {
                    symbol.truncate(symbol.len() - suffix.len());
                }
                if symbol.bytes().any(|b| b.is_ascii_lowercase()) {
                    symbol.make_ascii_uppercase();
                }
                if symbol.is_empty() {
                    return Err(refuse("the ticker is empty".to_owned()));
                }
            }
            (None, None) => {}
        }
        self.ticker_kept = self
            .filter
            .tickers
            .as_ref()
            .is_none_or(|wanted| wanted.contains(symbol.as_str()));
        if self.ticker_kept {
            self.symbol_id = self.ticker_id();
        }
        Ok(())
    }

    /// The place of [`Rows::symbol`] among the chunk's tickers (added when
    /// new). A date-major file repeats its tickers in the same order every
    /// date: the one after the last is tried before the lookup.
    fn ticker_id(&mut self) -> u32 {
        let next = self.symbol_id as usize + 1;
        if self.ticker_names.get(next) == Some(&self.symbol) {
            return next as u32;
        }
        if let Some(id) = self.ticker_lookup.get(&self.symbol) {
            return *id;
        }
        // Fewer names than rows, and rows fit u32 (a chunk is far smaller).
        let id = self.ticker_names.len() as u32;
        self.ticker_names.push(self.symbol.clone());
        self.ticker_lookup.insert(self.symbol.clone(), id);
        id
    }

    /// The days of a date field, read again only when it differs from the
    /// one before (in a date-major file most rows repeat it).
    fn day_of(&mut self, raw_date: &[u8]) -> Result<i32, String> {
        if !self.last_date.0.holds(raw_date) {
            let days = parse_date(raw_date, self.layout.date_format)?;
            self.last_date.0.set(raw_date);
            self.last_date.1 = days;
        }
        Ok(self.last_date.1)
    }

    /// Whether the date filter leaves out a row of `day`.
    fn outside_dates(&self, day: i32) -> bool {
        self.from.is_some_and(|f| day < f) || self.to.is_some_and(|t| day > t)
    }

    /// Whether the filter keeps the row's ticker (its trimmed field, when
    /// the file has one), which becomes [`Rows::symbol_id`].
    fn keeps_ticker(&mut self, raw: &[u8], line: u64) -> Result<bool, RowError> {
        // In a ticker-major file most rows repeat the ticker before: its
        // checks, its spelling and the filter's verdict are kept.
        if !(self.ticker_read && self.last_ticker.holds(raw)) {
            self.ticker_read = false;
            let field = match (&self.fixed_ticker, self.ticker_index) {
                (None, Some(index)) => Some((index, raw)),
                _ => None,
            };
            self.read_ticker(field, line)?;
            self.last_ticker.set(raw);
            self.ticker_read = true;
        }
        Ok(self.ticker_kept)
    }

    /// The ticker field of `record`, trimmed; empty when the file has none.
    fn ticker_field<'r>(&self, record: &'r impl Fields) -> &'r [u8] {
        match (&self.fixed_ticker, self.ticker_index) {
            (None, Some(index)) => trim(record.field(index)),
            _ => b"",
        }
    }

    /// Adds a row kept, read from chunk-relative `line`.
    fn append(&mut self, line: u64, day: i32, prices: [Option<f64>; 5], volume: Option<i64>) {
        self.date.append_value(day);
        self.ticker_ids.push(self.symbol_id);
        for (builder, value) in self.prices.iter_mut().zip(prices) {
            builder.append_option(value);
        }
        match volume {
            Some(v) if v < 0 => {
                self.negative_volume.push(self.lines.rows);
                self.volume.append_null();
            }
            other => self.volume.append_option(other.map(|v| v as u64)),
        }
        self.lines.push(line as u32);
    }

    /// Reads one record, found on chunk-relative `line`: kept as a row,
    /// skipped (a repeated header, a row the filter leaves out), or refused.
    fn push(&mut self, line: u64, record: &impl Fields) -> Result<(), RowError> {
        self.read_rows += 1;
        let layout = self.layout;
        if record.count() != layout.headers.len() {
            return Err(RowError::FieldCount {
                line,
                found: record.count(),
            });
        }
        let value_error = |field: usize| {
            move |message: String| RowError::Value {
                line,
                field,
                message,
            }
        };

        let date_index = self.date_index;
        let day = match self.day_of(trim(record.field(date_index))) {
            Ok(days) => days,
            // The header again, as `cat a.csv b.csv` leaves it: skip the line.
            Err(_) if is_header(record, &layout.headers) => return Ok(()),
            Err(message) => return Err(value_error(date_index)(message)),
        };
        if self.outside_dates(day) || !self.keeps_ticker(self.ticker_field(record), line)? {
            return Ok(());
        }

        let mut row_prices = [None; 5];
        for (slot, (index, required)) in row_prices.iter_mut().zip(&self.price_index) {
            let Some(index) = *index else { continue };
            match parse_price(trim(record.field(index))).map_err(value_error(index))? {
                Some(v) => *slot = Some(v),
                None if *required => {
                    return Err(value_error(index)("the price is missing".to_owned()));
                }
                None => {}
            }
        }
        let row_volume = match self.volume_index {
            Some(index) => parse_volume(trim(record.field(index))).map_err(value_error(index))?,
            None => None,
        };
        self.append(line, day, row_prices, row_volume);
        Ok(())
    }

    /// Reads the line at the start of `text` (a [plain](is_plain) chunk
    /// from the line's first byte on) in one pass, when every field is in
    /// its everyday form: numbers as bare digits with at most one point,
    /// no spaces, no null, the right number of fields. Returns the bytes
    /// the line spans with its line end; `None` leaves the line, untouched
    /// but for the date and ticker caches, to [`Rows::push`], which reads
    /// every form and words every refusal. The two read a line alike: the
    /// numbers taken here are exactly what [`parse_price`] and
    /// [`parse_volume`] make of them.
    fn push_plain(&mut self, line: u64, text: &[u8]) -> Option<usize> {
        let fields = self.roles.len();
        let mut prices = [None; 5];
        let mut volume = None;
        let (mut raw_date, mut raw_ticker): (&[u8], &[u8]) = (b"", b"");
        // The row's day once the date and ticker are read; `None` for a row
        // the filter leaves out, whose other fields are only counted.
        let mut kept: Option<Option<i32>> = None;
        let mut at = 0;
        for index in 0..fields {
            let rest = &text[at..];
            let role = if kept == Some(None) {
                Role::Other
            } else {
                self.roles[index]
            };
            let length = match role {
                Role::Price(slot) => {
                    let (value, length) = plain_decimal(rest)?;
                    prices[slot] = Some(value);
                    length
                }
                Role::Volume => {
                    let (value, length) = plain_integer(rest)?;
                    volume = Some(value);
                    length
                }
                Role::Date | Role::Ticker | Role::Other => {
                    let length = field_length(rest);
                    match role {
                        Role::Date => raw_date = trim(&rest[..length]),
                        Role::Ticker => raw_ticker = trim(&rest[..length]),
                        _ => {}
                    }
                    length
                }
            };
            let end = at + length;
            let last = index + 1 == fields;
            at = match (text.get(end), last) {
                (Some(b','), false) => end + 1,
                (Some(b'\n'), true) => end + 1,
                (Some(b'\r'), true) if text.get(end + 1) == Some(&b'\n') => end + 2,
                (None, true) => end,
                _ => return None,
            };
            if index == self.decided_at {
                let day = self.day_of(raw_date).ok()?;
                let keep = !self.outside_dates(day) && self.keeps_ticker(raw_ticker, line).ok()?;
                kept = Some(keep.then_some(day));
            }
        }
        self.read_rows += 1;
        if let Some(Some(day)) = kept {
            self.append(line, day, prices, volume);
        }
        Some(at)
    }
}

/// What a field of a line is read as.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Date,
    Ticker,
    /// A price: its place among open, high, low, close, adj close.
    Price(usize),
    Volume,
    /// A column the table does not keep.
    Other,
}

/// Exact powers of ten as `f64`.
const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A decimal at the start of `text` written as digits with at most one
/// point between digits (`-` before them allowed), and how many bytes it
/// takes; `None` for any other form, or more digits than are exact. With
/// at most 2^53 as the digits' integer and at most 22 decimals, both the
/// integer and the power of ten are exact doubles, so their quotient is
/// the correctly rounded value, bit for bit what [`parse_price`] reads
/// (Clinger's fast path).
fn plain_decimal(text: &[u8]) -> Option<(f64, usize)> {
    let negative = text.first() == Some(&b'-');
    let start = usize::from(negative);
    // Integer digits, then (after a point) fraction digits: two tight
    // loops, no state carried from byte to byte but the number.
    let mut mantissa = 0u64;
    let digits_from = |mut at: usize, mantissa: &mut u64| {
        while let Some(digit) = text.get(at).map(|b| b.wrapping_sub(b'0'))
            && digit < 10
        {
            *mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(digit));
            at += 1;
        }
        at
    };
    let mut at = digits_from(start, &mut mantissa);
    let whole = at - start;
    let mut decimals = 0;
    if whole > 0 && text.get(at) == Some(&b'.') {
        let fraction = at + 1;
        at = digits_from(fraction, &mut mantissa);
        decimals = at - fraction;
        // `5.` (a point and no digit after it) is not plain.
        if decimals == 0 {
            return None;
        }
    }
    let digits = whole + decimals;
    if whole == 0 || digits > 19 || mantissa > 1 << 53 {
        return None;
    }
    let value = mantissa as f64 / POWERS_OF_TEN[decimals];
    Some((if negative { -value } else { value }, at))
}

/// A whole number at the start of `text` written as up to 18 digits (`-`
/// before them allowed; eighteen digits cannot overflow), and how many
/// bytes it takes; `None` for any other form. [`parse_volume`]'s common case.
fn plain_integer(text: &[u8]) -> Option<(i64, usize)> {
    let negative = text.first() == Some(&b'-');
    let start = usize::from(negative);
    let digits = text[start..]
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(text.len() - start);
    if !(1..=18).contains(&digits) {
        return None;
    }
    let magnitude = text[start..start + digits]
        .iter()
        .fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0'));
    Some((
        if negative { -magnitude } else { magnitude },
        start + digits,
    ))
}

/// Reads a [plain](is_plain) chunk: lines cut at LF (less a CR before
/// it), fields at commas; empty lines skipped, as the CSV reader skips
/// them. Each line is read in one pass when its fields are in their
/// everyday forms ([`Rows::push_plain`]), else split and read field by
/// field.
fn split_plain(chunk: &[u8], rows: &mut Rows) -> Result<(), RowError> {
    let mut ends: Vec<usize> = Vec::with_capacity(rows.layout.headers.len() + 1);
    let mut line = 0u64;
    let mut start = 0usize;
    while start < chunk.len() {
        line += 1;
        if let Some(length) = rows.push_plain(line, &chunk[start..]) {
            start += length;
            continue;
        }
        let newline = memchr::memchr(b'\n', &chunk[start..]).map_or(chunk.len(), |at| start + at);
        let end = if newline > start && chunk[newline - 1] == b'\r' {
            newline - 1
        } else {
            newline
        };
        ends.clear();
        ends.extend(memchr::memchr_iter(b',', &chunk[start..end]).map(|at| start + at));
        if end > start || !ends.is_empty() {
            ends.push(end);
            let record = Split {
                text: chunk,
                start,
                ends: &ends,
            };
            rows.push(line, &record)?;
        }
        start = newline + 1;
    }
    Ok(())
}

/// Reads any other chunk with the CSV reader (quotes, lone CRs).
fn split_csv(chunk: &[u8], rows: &mut Rows) -> Result<(), RowError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(chunk);
    let mut record = csv::ByteRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
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
        rows.push(line, &record)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long_layout() -> Layout {
        let records = vec![
            "symbol,date,open,high,low,close,volume"
                .split(',')
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        ];
        let preview = crate::dialect::Preview {
            records: &records,
            ticker_hint: None,
            file: "f.csv",
        };
        crate::dialect::detect(&preview, None).expect("the long layout")
    }

    /// What a splitter made of a chunk: the columns, each row's line, the
    /// records read and the negative volumes; or the error.
    type Outcome = Result<(Vec<ArrayRef>, Vec<u32>, u64, Vec<u32>), RowError>;

    fn split_with(chunk: &[u8], plain: bool) -> Outcome {
        let layout = long_layout();
        let filter = RowFilter::default();
        let mut rows = Rows::new(&layout, &filter, 16);
        if plain {
            split_plain(chunk, &mut rows)?;
        } else {
            split_csv(chunk, &mut rows)?;
        }
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(rows.date.finish()),
            Arc::new(StringArray::from_iter_values(
                rows.ticker_ids
                    .iter()
                    .map(|id| rows.ticker_names[*id as usize].as_str()),
            )),
            Arc::new(rows.volume.finish()),
        ];
        columns.extend(
            rows.prices
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        let lines = if rows.lines.listed.is_empty() {
            (1..=rows.lines.rows).collect()
        } else {
            rows.lines.listed
        };
        Ok((columns, lines, rows.read_rows, rows.negative_volume))
    }

    #[test]
    fn the_plain_split_reads_what_the_csv_reader_reads() {
        let chunks: [&[u8]; 12] = [
            b"",
            b"\n\n\r\n",
            b"AAPL,2024-01-02,1,2,0.5,1,10\n",
            b"AAPL,2024-01-02,1,2,0.5,1,10",
            b"AAPL,2024-01-02,1,2,0.5,1,10\r\nMSFT,2024-01-02,1,2,0.5,1,10\r\n",
            b"\n\nAAPL,2024-01-02,1,2,0.5,1,10\n\r\n\naapl,2024-01-03, 1 ,2,0.5,1,-5\r\nMSFT,2024-01-04,1,2,0.5,1,",
            b"AAPL,2024-01-02,1,2,0.5,1,10\nsymbol,date,open,high,low,close,volume\nMSFT,2024-01-02,1,2,0.5,1,10\n",
            b"AAPL,2024-01-02,1,2,0.5,1,10\n\nAAPL,2024-01-03,1\n",
            b"AAPL,2024-01-02,x,2,0.5,1,10\n",
            b"\r\n   \n",
            b"AAPL,2024-01-02,1,2,0.5,1,10\n,\n",
            b"\n\n\r\nAAPL,2024-13-02,1,2,0.5,1,10",
        ];
        for chunk in chunks {
            assert!(is_plain(chunk), "{:?}", String::from_utf8_lossy(chunk));
            let (plain, csv) = (split_with(chunk, true), split_with(chunk, false));
            assert_eq!(plain, csv, "{:?}", String::from_utf8_lossy(chunk));
        }
        // The cases above are not all refused, nor all empty.
        assert!(split_with(chunks[5], true).is_ok_and(|(_, lines, _, _)| lines == [3, 6, 7]));
        assert!(matches!(
            split_with(chunks[7], true),
            Err(RowError::FieldCount { line: 3, found: 3 })
        ));
        // A quote or a lone CR takes the CSV reader.
        assert!(!is_plain(b"\"AAPL\",2024-01-02,1,2,0.5,1,10\n"));
        assert!(!is_plain(
            b"AAPL,2024-01-02,1,2,0.5,1,10\rMSFT,2024-01-02,1,2,0.5,1,10"
        ));
        assert!(!is_plain(b"AAPL,2024-01-02,1,2,0.5,1,10\r"));
    }

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
    fn dates_count_days_like_chrono_for_every_day_of_every_year() {
        for year in 0..=9999u32 {
            for month in 0..=13u32 {
                for day in 0..=32u32 {
                    let chrono = chrono::NaiveDate::from_ymd_opt(year as i32, month, day)
                        .map(|d| d.num_days_from_ce() - EPOCH_DAYS_FROM_CE);
                    assert_eq!(
                        days_from_civil(year, month, day),
                        chrono,
                        "{year}-{month}-{day}"
                    );
                }
            }
        }
    }

    #[test]
    fn volumes_accept_float_spelling_and_reject_negatives() {
        assert_eq!(parse_volume(b"1200"), Ok(Some(1200)));
        assert_eq!(parse_volume(b"1200.0"), Ok(Some(1200)));
        assert_eq!(parse_volume(b"1,200"), Ok(Some(1200)));
        assert_eq!(parse_volume(b""), Ok(None));
        assert_eq!(parse_volume(b"-5"), Ok(Some(-5)));
        assert_eq!(parse_volume(b"-"), Ok(None));
        assert_eq!(parse_volume(b"007"), Ok(Some(7)));
        assert_eq!(
            parse_volume(b"999999999999999999"),
            Ok(Some(999_999_999_999_999_999))
        );
        assert_eq!(
            parse_volume(b"9223372036854775807"),
            Ok(Some(i64::MAX)),
            "nineteen digits take str::parse"
        );
        assert!(parse_volume(b"9223372036854775808").is_err());
        assert!(parse_volume(b"--5").is_err());
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

    #[test]
    fn the_one_pass_numbers_are_the_general_readings_bit_for_bit() {
        let general = |text: &[u8]| parse_price(text).unwrap().unwrap().to_bits();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut cases: Vec<String> = [
            "0",
            "-0",
            "0.0",
            "-0.0",
            "7",
            "187.15",
            "0.1",
            "0.30000000000000004",
            "1.5",
            "9007199254740992",
            "900719925474099.2",
            "0.0000000000000000001",
            "-12.5",
            "0000123.4500",
        ]
        .map(str::to_owned)
        .to_vec();
        for _ in 0..20_000 {
            let value = rng.f64() * 10f64.powi(rng.i32(-3..9));
            cases.push(format!("{value:.*}", rng.usize(0..12)));
            cases.push(format!("{value}"));
        }
        let mut read = 0;
        for case in &cases {
            if let Some((value, length)) = plain_decimal(case.as_bytes()) {
                assert_eq!(length, case.len(), "{case}: length");
                assert_eq!(value.to_bits(), general(case.as_bytes()), "{case}");
                read += 1;
            }
        }
        // Most of the cases are short enough to be read in one pass.
        assert!(read > cases.len() / 2, "{read} of {}", cases.len());
        // The end of a field is where the number stops; these are left to
        // the general reading (more digits than are exact, no digit before
        // or after the point, other spellings).
        assert_eq!(plain_decimal(b"12.5,13"), Some((12.5, 4)));
        assert_eq!(plain_decimal(b"-3\n"), Some((-3.0, 2)));
        for other in [
            "9007199254740993",
            "12345678901234567890",
            "12.",
            ".5",
            "-.5",
            "-",
            "",
            "1e5",
            "1.2.3",
            "+1",
        ] {
            match plain_decimal(other.as_bytes()) {
                None => {}
                Some((_, length)) => assert!(length < other.len(), "{other} read whole"),
            }
        }
        assert_eq!(plain_integer(b"15289001,"), Some((15_289_001, 8)));
        assert_eq!(plain_integer(b"-42\r\n"), Some((-42, 3)));
        assert_eq!(
            plain_integer(b"123456789012345678"),
            Some((123_456_789_012_345_678, 18))
        );
        assert_eq!(plain_integer(b"1234567890123456789"), None);
        assert_eq!(plain_integer(b"-"), None);
        assert_eq!(plain_integer(b",1"), None);
        // Against the standard library's reading (parse_volume calls this).
        for volume in ["0", "7", "15289001", "-3", "000120", "-999999999999999999"] {
            let (value, _) = plain_integer(volume.as_bytes()).unwrap();
            assert_eq!(value, volume.parse::<i64>().unwrap(), "{volume}");
        }
    }

    #[test]
    fn a_field_ends_where_a_byte_by_byte_search_ends_it() {
        let reference = |text: &[u8]| {
            text.iter()
                .position(|b| matches!(b, b',' | b'\n' | b'\r'))
                .unwrap_or(text.len())
        };
        // Every start and end of a line with fields of each length around
        // a word, every terminator, and bytes one off the terminators.
        let line = b"2024-01-02,A,ABCDEFG,ABCDEFGH,ABCDEFGHI,ABCDEFGHIJKLMNOPQ\r\nx\x2b\x2d\x0b\x0c,\xff\x80\n";
        for start in 0..line.len() {
            for end in start..=line.len() {
                let text = &line[start..end];
                assert_eq!(
                    field_length(text),
                    reference(text),
                    "{:?}",
                    String::from_utf8_lossy(text)
                );
            }
        }
    }

    #[test]
    fn a_kept_field_holds_exactly_the_bytes_it_was_given() {
        let mut rng = fastrand::Rng::with_seed(7);
        for length in 0..=20usize {
            let field: Vec<u8> = (0..length).map(|_| rng.u8(..)).collect();
            let mut kept = KeptField::default();
            kept.set(&field);
            assert!(kept.holds(&field), "{field:?}");
            // One byte changed anywhere, or one byte more or fewer, is another field.
            for at in 0..length {
                let mut other = field.clone();
                other[at] ^= 1 << rng.u32(0..8);
                assert!(!kept.holds(&other), "{field:?} holds {other:?}");
            }
            let mut longer = field.clone();
            longer.push(0);
            assert!(!kept.holds(&longer), "{field:?} holds {longer:?}");
            if let Some((_, shorter)) = field.split_last() {
                assert!(!kept.holds(shorter), "{field:?} holds {shorter:?}");
            }
        }
        // A long field, then a short one, then the long one again.
        let mut kept = KeptField::default();
        kept.set(b"a field of more than sixteen bytes");
        assert!(kept.holds(b"a field of more than sixteen bytes"));
        assert!(!kept.holds(b"a field of more than sixteen byteZ"));
        kept.set(b"AAPL");
        assert!(kept.holds(b"AAPL") && !kept.holds(b"a field of more than sixteen bytes"));
    }

    #[test]
    fn iso_dates_are_read_as_the_calendar_has_them() {
        for (text, expected) in [
            ("1970-01-01", Some(0)),
            ("2024-02-29", Some(19_782)),
            ("2024-01-02 00:00:00-05:00", Some(19_724)),
            ("2024-01-02T10:00", Some(19_724)),
            ("0000-03-01", Some(-719_468)),
            ("2023-02-29", None),
            ("2024-13-01", None),
            ("2024-00-10", None),
            ("2024-01-32", None),
            ("2024-01-00", None),
            ("2024-1-02", None),
            ("2024/01/02", None),
            ("2024-01-02x", None),
            ("2024-01-0", None),
            ("20a4-01-02", None),
            ("2024-01-0/", None),
            ("", None),
        ] {
            assert_eq!(
                parse_date(text.as_bytes(), DateFormat::Iso).ok(),
                expected,
                "{text}"
            );
        }
    }
}
