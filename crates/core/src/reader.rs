//! The streaming CSV reader: a byte stream in, canonical batches out.
//!
//! Bytes are cut into chunks of whole lines as they arrive; each chunk is
//! parsed on the rayon pool while the next one downloads. At most a few chunks
//! of text are alive at once, so the text and the table are never both whole
//! in memory. Chunks are cut at newlines, so a quoted field may not span lines
//! (no market data format needs that).

use std::collections::VecDeque;

use arrow::array::RecordBatch;
use bytes::Bytes;
use std::sync::{Arc, Mutex};

use futures::{StreamExt, TryStreamExt};
use nasdaq_storage::{ByteStream, Progress};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use crate::compression::{Codec, DecodedStream, decode};
use crate::dialect::{Layout, Preview, detect};
use crate::parse::{ParsedChunk, RowError, RowFilter, parse_chunk};
use crate::{Error, Result};

/// How the reader cuts and schedules its work.
#[derive(Clone)]
pub struct ReadOptions {
    /// Target size of one parsed chunk, in bytes.
    pub chunk_size: usize,
    /// Chunks parsed or waiting at once.
    pub in_flight: usize,
    /// Decoded bytes a compressed object may not exceed.
    pub max_decompressed: u64,
    /// Told of the bytes as they arrive.
    pub progress: Option<Arc<dyn Progress>>,
}

impl std::fmt::Debug for ReadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOptions")
            .field("chunk_size", &self.chunk_size)
            .field("in_flight", &self.in_flight)
            .field("max_decompressed", &self.max_decompressed)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// The default cap on decoded bytes: 16 GiB.
pub const DEFAULT_MAX_DECOMPRESSED: u64 = 16 << 30;

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            chunk_size: 4 * 1024 * 1024,
            in_flight: rayon::current_num_threads() * 2,
            max_decompressed: DEFAULT_MAX_DECOMPRESSED,
            progress: None,
        }
    }
}

/// How to read one file's rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Force this dialect instead of detecting it (see [`crate::dialect_names`]).
    pub dialect: Option<String>,
    /// The ticker of a one-ticker file without a ticker column; else taken from the file name.
    pub ticker: Option<String>,
    /// Which rows to keep.
    pub filter: RowFilter,
}

/// What the reader produced from one object.
#[derive(Debug)]
pub struct ReadOutput {
    /// Canonical batches, in file order (not yet sorted).
    pub batches: Vec<RecordBatch>,
    /// For each batch, the 1-based source line of each row.
    pub lines: Vec<BatchLines>,
    /// Bytes read.
    pub bytes: u64,
    /// SHA-256 of the bytes read, lowercase hex.
    pub sha256: String,
    /// The dialect the file was read as.
    pub dialect: &'static str,
    /// Data rows read, before filters.
    pub rows_read: u64,
    /// For each batch, the rows whose volume was negative (stored as null).
    pub negative_volume: Vec<Vec<u32>>,
}

/// The source lines of one batch's rows: row `i` is on line
/// `offset + relative[i]`, or `offset + i + 1` when `relative` is empty.
/// A chunk's lines are relative to its start, so four bytes a row hold
/// them where an absolute line would need eight; and a chunk whose rows
/// are on consecutive lines (most are) lists none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchLines {
    /// Lines before the batch's chunk.
    pub offset: u64,
    /// Per row, its line within the chunk (1-based); empty when every row
    /// is on the line after the one before, the first on line 1.
    pub relative: Vec<u32>,
}

impl BatchLines {
    /// The line of row `row` (which the batch must have).
    pub fn line(&self, row: usize) -> u64 {
        self.offset
            + if self.relative.is_empty() {
                row as u64 + 1
            } else {
                u64::from(self.relative[row])
            }
    }
}

type Pending = oneshot::Receiver<std::result::Result<ParsedChunk, RowError>>;

/// Lines looked at to detect the dialect.
const PREVIEW_LINES: usize = 6;

/// The longest line accepted: far above any bar (a few hundred bytes), low
/// enough that a file without line ends cannot make us buffer it whole.
pub const MAX_LINE: usize = 4 << 20;

/// Reads a whole CSV byte stream (gzip or zstd decoded on the way) into
/// canonical batches.
///
/// `file` names the object in errors (its URI) and, without `--ticker`,
/// gives the ticker of one-ticker files. When `expected_sha256` is given,
/// the bytes must hash to it.
pub async fn read_csv(
    raw: ByteStream,
    file: &str,
    expected_sha256: Option<&str>,
    parse: &ParseOptions,
    options: &ReadOptions,
) -> Result<ReadOutput> {
    let tally = Arc::new(Mutex::new((Sha256::new(), 0u64)));
    let tap = tally.clone();
    let progress = options.progress.clone();
    let mut raw = raw
        .inspect_ok(move |chunk| {
            if let Ok(mut tally) = tap.lock() {
                tally.0.update(chunk);
                tally.1 += chunk.len() as u64;
            }
            if let Some(progress) = &progress {
                progress.advance(chunk.len() as u64);
            }
        })
        .boxed();
    let first = loop {
        match raw.next().await {
            Some(Ok(chunk)) if chunk.is_empty() => continue,
            Some(Ok(chunk)) => break chunk,
            Some(Err(err)) => return Err(err.into()),
            None => break Bytes::new(),
        }
    };
    let mut stream: DecodedStream = match Codec::detect(&first, file) {
        Some(codec) => decode(first, raw, codec, file, options.max_decompressed),
        None => futures::stream::once(async move { Ok(first) })
            .chain(raw.map_err(Error::from))
            .boxed(),
    };
    // The text travels in a few buffers that the parser hands back: reused
    // memory, where a fresh allocation per chunk had the kernel zero the
    // whole file's worth of new pages.
    let pool = Arc::new(TextPool::new(options.chunk_size, options.in_flight + 2));
    let mut buffer = pool.take();
    // What is left of the last piece of the stream, not yet in `buffer`.
    let mut incoming = Bytes::new();
    let mut map: Option<std::sync::Arc<Layout>> = None;
    let filter = std::sync::Arc::new(parse.filter.clone());
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut collector = Collector::new(file);

    // Blank lines before the header, dropped as they arrive.
    let mut blank_lines = 0usize;
    let mut finished = false;
    while !finished {
        if incoming.is_empty() {
            // Let go of the spent piece before asking for the next, so that
            // the source can reuse its memory.
            incoming = Bytes::new();
            match stream.next().await {
                Some(chunk) => incoming = chunk?,
                None => finished = true,
            }
        }
        let room = buffer.capacity() - buffer.len();
        buffer.extend_from_slice(&incoming.split_to(room.min(incoming.len())));
        if map.is_none() {
            // A full buffer is all of the preview there will be.
            let enough = finished || buffer.len() == buffer.capacity();
            match take_header(&mut buffer, enough, file, parse, &mut blank_lines)? {
                Some(mut layout) => {
                    // Line numbers count the blank lines before the header.
                    layout.header_lines += blank_lines;
                    collector.line_offset = layout.header_lines as u64;
                    map = Some(std::sync::Arc::new(layout));
                }
                None if finished => {
                    return Err(Error::Empty {
                        file: file.to_owned(),
                    });
                }
                None => continue,
            }
        }
        let Some(map) = &map else { continue };
        while buffer.len() >= options.chunk_size || (finished && !buffer.is_empty()) {
            let cut = if finished {
                buffer.len()
            } else {
                match memchr::memrchr(b'\n', &buffer) {
                    Some(newline) => newline + 1,
                    // No line ends in a buffer this long: refuse instead of
                    // holding (and rescanning) an unbounded line.
                    None if buffer.len() > MAX_LINE => {
                        // The chunks before it name the line it starts on.
                        while let Some(next) = pending.pop_front() {
                            collector.collect(next, map).await?;
                        }
                        return Err(Error::LineTooLong {
                            file: file.to_owned(),
                            line: collector.line_offset + 1,
                            max: MAX_LINE,
                        });
                    }
                    None => break,
                }
            };
            // The partial line after the cut starts the next buffer.
            let mut next = pool.take();
            next.extend_from_slice(&buffer[cut..]);
            buffer.truncate(cut);
            let text = std::mem::replace(&mut buffer, next);
            pending.push_back(spawn_parse(text, map.clone(), filter.clone(), pool.clone()));
            while pending.len() > options.in_flight {
                if let Some(next) = pending.pop_front() {
                    collector.collect(next, map).await?;
                }
            }
        }
    }
    if let Some(map) = &map {
        while let Some(next) = pending.pop_front() {
            collector.collect(next, map).await?;
        }
    }
    if collector.rows_read == 0 {
        return Err(Error::NoRows {
            file: file.to_owned(),
        });
    }
    let (sha256, bytes) = match tally.lock() {
        Ok(mut tally) => (
            hex::encode(std::mem::take(&mut tally.0).finalize()),
            tally.1,
        ),
        Err(_) => (String::new(), 0),
    };
    if let Some(expected) = expected_sha256
        && !expected.eq_ignore_ascii_case(&sha256)
    {
        return Err(Error::Checksum {
            file: file.to_owned(),
            expected: expected.to_owned(),
            actual: sha256,
        });
    }
    Ok(ReadOutput {
        batches: collector.batches,
        lines: collector.lines,
        bytes,
        sha256,
        dialect: map.map_or("long", |m| m.dialect),
        rows_read: collector.rows_read,
        negative_volume: collector.negative_volume,
    })
}

fn spawn_parse(
    text: Vec<u8>,
    layout: std::sync::Arc<Layout>,
    filter: std::sync::Arc<RowFilter>,
    pool: Arc<TextPool>,
) -> Pending {
    let (tx, rx) = oneshot::channel();
    rayon::spawn(move || {
        let parsed = parse_chunk(&text, &layout, &filter);
        pool.give(text);
        // The receiver only goes away when the load was abandoned.
        let _ = tx.send(parsed);
    });
    rx
}

/// The reader's text buffers, handed back by the parser for the next chunks.
struct TextPool {
    free: Mutex<Vec<Vec<u8>>>,
    /// Bytes a buffer holds: a chunk, and room for a line longer than
    /// [`MAX_LINE`] to be seen as such.
    capacity: usize,
    /// Buffers kept for reuse; more are dropped.
    keep: usize,
}

impl TextPool {
    fn new(chunk_size: usize, keep: usize) -> Self {
        Self {
            free: Mutex::new(Vec::new()),
            capacity: chunk_size.max(MAX_LINE) + 1,
            keep,
        }
    }

    /// An empty buffer of the pool's capacity.
    fn take(&self) -> Vec<u8> {
        let reused = self.free.lock().ok().and_then(|mut free| free.pop());
        reused.unwrap_or_else(|| Vec::with_capacity(self.capacity))
    }

    fn give(&self, mut text: Vec<u8>) {
        text.clear();
        if let Ok(mut free) = self.free.lock()
            && free.len() < self.keep
        {
            free.push(text);
        }
    }
}

/// Detects the layout from the first lines and takes the header lines off
/// the front of `buffer`, once enough of the file has arrived.
fn take_header(
    buffer: &mut Vec<u8>,
    finished: bool,
    file: &str,
    parse: &ParseOptions,
    blank_lines: &mut usize,
) -> Result<Option<Layout>> {
    // A UTF-8 byte order mark is not part of the first column's name.
    let mut start = 0;
    if *blank_lines == 0 && buffer.starts_with(b"\xEF\xBB\xBF") {
        start = 3;
    }
    // Blank lines before the header cost nothing: dropped (all at once), only counted.
    while let Some(end) = memchr::memchr(b'\n', &buffer[start..]) {
        if !buffer[start..start + end]
            .iter()
            .all(u8::is_ascii_whitespace)
        {
            break;
        }
        start += end + 1;
        *blank_lines += 1;
    }
    buffer.drain(..start);
    if let Some(kind) = not_csv(buffer) {
        let start = String::from_utf8_lossy(&buffer[..buffer.len().min(60)]).into_owned();
        return Err(Error::NotCsv {
            file: file.to_owned(),
            kind,
            start,
        });
    }
    let first_line_end = memchr::memchr(b'\n', buffer).unwrap_or(buffer.len());
    if let Some(cr) = memchr::memchr(b'\r', &buffer[..first_line_end])
        && cr + 1 < first_line_end
    {
        return Err(Error::Unsupported {
            file: file.to_owned(),
            message: "line 1: lines end in a lone carriage return (CR, as classic Mac OS \
                      wrote them); convert the file to LF or CRLF line endings"
                .to_owned(),
        });
    }
    if first_line_end > MAX_LINE {
        return Err(Error::LineTooLong {
            file: file.to_owned(),
            line: 1,
            max: MAX_LINE,
        });
    }
    let newlines: Vec<usize> = memchr::memchr_iter(b'\n', buffer)
        .take(PREVIEW_LINES)
        .collect();
    if newlines.len() < PREVIEW_LINES && !finished {
        return Ok(None);
    }
    if buffer.trim_ascii().is_empty() {
        return Ok(None);
    }
    let preview_end = newlines.last().map_or(buffer.len(), |n| n + 1);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(&buffer[..preview_end]);
    // Byte records: a stray non-UTF-8 byte is reported where it stands, by
    // the parser, instead of hiding the header.
    let records: Vec<Vec<String>> = reader
        .byte_records()
        .map_while(std::result::Result::ok)
        .map(|r| {
            r.iter()
                .map(|f| String::from_utf8_lossy(f).trim().to_owned())
                .collect()
        })
        .collect();
    let hint = parse
        .ticker
        .clone()
        .or_else(|| crate::dialect::ticker_from_file_name(file));
    let layout = detect(
        &Preview {
            records: &records,
            ticker_hint: hint.as_deref(),
            file,
        },
        parse.dialect.as_deref(),
    )?;
    let skip = match newlines.get(layout.header_lines - 1) {
        Some(newline) => newline + 1,
        None => buffer.len(),
    };
    buffer.drain(..skip);
    Ok(Some(layout))
}

/// What a body that is not CSV looks like, judged from its first bytes.
fn not_csv(buffer: &[u8]) -> Option<&'static str> {
    let start = buffer.trim_ascii_start();
    let lower: Vec<u8> = start.iter().take(15).map(u8::to_ascii_lowercase).collect();
    if lower.starts_with(b"<!doctype html")
        || lower.starts_with(b"<html")
        || lower.starts_with(b"<?xml")
        || lower.starts_with(b"<error")
    {
        Some("HTML or XML")
    } else if start.first().is_some_and(|b| matches!(b, b'{' | b'[')) {
        Some("JSON")
    } else {
        None
    }
}

/// Gathers parsed chunks in order and turns chunk-relative lines into absolute ones.
struct Collector<'a> {
    file: &'a str,
    /// Lines before the current chunk (the header lines first).
    line_offset: u64,
    rows_read: u64,
    batches: Vec<RecordBatch>,
    lines: Vec<BatchLines>,
    negative_volume: Vec<Vec<u32>>,
}

impl<'a> Collector<'a> {
    fn new(file: &'a str) -> Self {
        Self {
            file,
            line_offset: 1,
            rows_read: 0,
            batches: Vec::new(),
            lines: Vec::new(),
            negative_volume: Vec::new(),
        }
    }

    /// Waits for the next chunk in file order and keeps it, or reports its error.
    async fn collect(&mut self, receiver: Pending, map: &Layout) -> Result<()> {
        let file = self.file.to_owned();
        let parsed = receiver.await.map_err(|_| Error::Value {
            file: file.clone(),
            line: self.line_offset,
            column: 0,
            header: String::new(),
            message: "the parser stopped unexpectedly".to_owned(),
        })?;
        match parsed {
            Ok(chunk) if chunk.batch.num_rows() == 0 => {
                // Nothing kept (blank lines, filtered out): nothing held.
                self.rows_read += chunk.read_rows;
                self.line_offset += chunk.newlines;
                Ok(())
            }
            Ok(chunk) => {
                self.rows_read += chunk.read_rows;
                self.negative_volume.push(chunk.negative_volume);
                self.lines.push(BatchLines {
                    offset: self.line_offset,
                    relative: chunk.lines,
                });
                self.batches.push(chunk.batch);
                self.line_offset += chunk.newlines;
                Ok(())
            }
            Err(RowError::LineTooLong { line }) => Err(Error::LineTooLong {
                file,
                line: self.line_offset + line,
                max: MAX_LINE,
            }),
            Err(RowError::FieldCount { line, found }) => Err(Error::FieldCount {
                file,
                line: self.line_offset + line,
                expected: map.headers.len(),
                found,
            }),
            Err(RowError::Value {
                line,
                field,
                message,
            }) => Err(Error::Value {
                file,
                line: self.line_offset + line,
                column: field + 1,
                header: map.headers.get(field).cloned().unwrap_or_default(),
                message,
            }),
        }
    }
}
