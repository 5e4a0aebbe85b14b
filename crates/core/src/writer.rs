//! Writing a table to Parquet, Arrow IPC or CSV, atomically.
//!
//! Every writer writes to a temporary file beside the target, syncs it and
//! renames it into place: a failed write leaves no partial file and never
//! replaces a good one.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::datatypes::{DataType, Schema, SchemaRef};
use parquet::basic::{Compression as ParquetCompression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

/// The zstd level of Parquet outputs unless configured: zstd's own default,
/// and polars'.
pub const DEFAULT_ZSTD_LEVEL: u8 = 3;

/// The zstd levels a Parquet output may be configured with.
pub const ZSTD_LEVELS: std::ops::RangeInclusive<u8> = 1..=22;

/// Rows per data page of the price columns. zstd compresses each page on its
/// own and picks its parameters by the size of the input: up to 256 KiB it
/// takes its small-input table, whose matches pack these doubles tighter.
/// 30 000 doubles (240 KB and the null bitmap's levels) stay inside it.
/// Benchmark file, level 3: 31.97 MB a price column against 32.13 MB at
/// parquet's default of 20 000 rows; at level 4, 31.07 MB.
const PRICE_PAGE_ROWS: usize = 30_000;

use crate::error::WriteFailure;
use crate::{Error, Result, Table};

/// Parquet compression codecs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Zstandard (the default).
    #[default]
    Zstd,
    /// Snappy.
    Snappy,
    /// None.
    None,
}

/// How `write_table` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// Parquet compression.
    pub compression: Compression,
    /// The zstd level (in [`ZSTD_LEVELS`]) when `compression` is zstd.
    pub zstd_level: u8,
    /// File-level key-value metadata (Parquet, Arrow IPC).
    pub metadata: Vec<(String, String)>,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// Set by the caller to stop the write: it is checked between row groups
    /// and before the file is put in place, so a cancelled write leaves nothing.
    pub cancel: CancelFlag,
}

/// A flag a caller raises to stop a write (Ctrl-C while encoding).
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// A flag not yet raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the write to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether the write was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Two flags are equal when they are the same flag.
impl PartialEq for CancelFlag {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for CancelFlag {}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            compression: Compression::default(),
            zstd_level: DEFAULT_ZSTD_LEVEL,
            metadata: Vec::new(),
            row_group_rows: 1024 * 1024,
            cancel: CancelFlag::default(),
        }
    }
}

/// The error of a write stopped by its caller.
fn cancelled() -> WriteFailure {
    WriteFailure::Io(std::io::Error::new(
        std::io::ErrorKind::Interrupted,
        "cancelled; nothing was written",
    ))
}

/// The file formats `write_table` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Apache Parquet, zstd-compressed (`.parquet`).
    Parquet,
    /// Arrow IPC file format (`.arrow`, `.ipc`, `.feather`).
    ArrowIpc,
    /// Comma-separated text with a header (`.csv`).
    Csv,
}

impl OutputFormat {
    /// The format named by a path's extension.
    ///
    /// ```
    /// use nasdaq_core::OutputFormat;
    /// assert_eq!(OutputFormat::from_path("x.parquet".as_ref()).unwrap(), OutputFormat::Parquet);
    /// assert!(OutputFormat::from_path("x.xlsx".as_ref()).is_err());
    /// ```
    pub fn from_path(path: &Path) -> Result<Self> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("parquet") => Ok(Self::Parquet),
            Some("arrow" | "ipc" | "feather") => Ok(Self::ArrowIpc),
            Some("csv") => Ok(Self::Csv),
            _ => Err(Error::UnknownFormat {
                path: path.to_owned(),
            }),
        }
    }
}

/// The directory a file output at `path` goes in, when it is one: checked
/// before a load too, so a mistyped folder fails at once, not after a
/// download and a parse.
pub fn output_dir(path: &Path) -> Result<PathBuf> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let problem = match std::fs::metadata(&dir) {
        Ok(found) if found.is_dir() => return Ok(dir),
        Ok(_) => std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        Err(err) => err,
    };
    Err(cannot_create_in(path, &dir, problem))
}

fn cannot_create_in(path: &Path, dir: &Path, err: std::io::Error) -> Error {
    Error::Write {
        path: path.to_owned(),
        source: WriteFailure::Io(std::io::Error::new(
            err.kind(),
            format!("cannot create a file in {}: {err}", dir.display()),
        )),
    }
}

/// Writes `table` to `path` in the format its extension names.
pub fn write_table(table: &Table, path: &Path, options: &WriteOptions) -> Result<()> {
    let format = OutputFormat::from_path(path)?;
    let failure = |source: WriteFailure| Error::Write {
        path: path.to_owned(),
        source,
    };
    let dir = output_dir(path)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".nasdaq-output-").suffix(".partial");
    // A new output gets what any program's new file gets (read and write
    // for all, less the umask), not a temporary file's private 0600, which
    // left outputs unreadable to the group that shares them.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let temp = builder
        .tempfile_in(&dir)
        .map_err(|err| cannot_create_in(path, &dir, err))?;
    // A file put in the place of another keeps its read, write and execute
    // bits (not setuid, setgid or sticky), as if it had been rewritten in
    // place; its group is the directory's, as for any new file.
    #[cfg(unix)]
    if let Ok(existing) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = existing.permissions().mode() & 0o777;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|err| failure(err.into()))?;
    }
    let file = temp
        .as_file()
        .try_clone()
        .map_err(|err| failure(err.into()))?;
    let mut sink = encode_table(table, format, BufWriter::new(file), options).map_err(failure)?;
    sink.flush().map_err(|err| failure(err.into()))?;
    temp.as_file()
        .sync_all()
        .map_err(|err| failure(err.into()))?;
    if options.cancel.is_cancelled() {
        // The temp file is removed as it drops.
        return Err(failure(cancelled()));
    }
    temp.persist(path)
        .map_err(|err| failure(err.error.into()))?;
    Ok(())
}

/// Encodes `table` as `format` into `sink` (a file, memory, an upload in
/// parts) and returns the sink, not flushed. The cancel flag stops a
/// Parquet encoding between row groups.
pub fn encode_table<W: Write + Send>(
    table: &Table,
    format: OutputFormat,
    sink: W,
    options: &WriteOptions,
) -> Result<W, WriteFailure> {
    match format {
        OutputFormat::Parquet => {
            let mut encoder = ParquetEncoder::new(sink, table, options)?;
            encoder.write_batches(&table.batches)?;
            encoder.finish()
        }
        OutputFormat::ArrowIpc => write_ipc(table, sink, &options.metadata),
        OutputFormat::Csv => write_csv(table, sink),
    }
}

/// A Parquet encoder over any writer (a file, memory, an upload in parts)
/// that encodes the columns of each row group in parallel (the plain
/// `ArrowWriter` encodes one column after another). Row groups hold
/// `options.row_group_rows` rows; the cancel flag is checked before each.
pub struct ParquetEncoder<W: Write + Send> {
    writer: parquet::file::writer::SerializedFileWriter<W>,
    factory: parquet::arrow::arrow_writer::ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    row_group_rows: usize,
    groups: usize,
    cancel: CancelFlag,
}

impl<W: Write + Send> ParquetEncoder<W> {
    /// Starts a file of `table`'s schema, with `options`' compression and
    /// metadata (in the file's key-value metadata and in the Arrow schema).
    pub fn new(sink: W, table: &Table, options: &WriteOptions) -> Result<Self, WriteFailure> {
        use parquet::arrow::arrow_writer::ArrowRowGroupWriterFactory;
        use parquet::arrow::{ArrowSchemaConverter, add_encoded_arrow_schema_to_metadata};
        use parquet::file::writer::SerializedFileWriter;

        let key_values = options
            .metadata
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
            .collect();
        // The metadata goes both into the file's key-value metadata (DuckDB,
        // polars, parquet-tools) and into the Arrow schema (pyarrow's schema.metadata).
        let schema = with_metadata(table, &options.metadata);
        let mut builder = WriterProperties::builder()
            .set_compression(match options.compression {
                // On the benchmark file level 3 is 20 MB smaller than level 1,
                // for a little more CPU; level 4 another 4 MB, for 25-40%
                // more time in the Parquet job (bench_peers, 2026-12-07). A level zstd has not is an
                // error, not some other level.
                Compression::Zstd => {
                    ParquetCompression::ZSTD(ZstdLevel::try_new(i32::from(options.zstd_level))?)
                }
                Compression::Snappy => ParquetCompression::SNAPPY,
                Compression::None => ParquetCompression::UNCOMPRESSED,
            })
            .set_key_value_metadata(Some(key_values))
            .set_max_row_group_row_count(Some(options.row_group_rows));
        // Prices and volumes take nearly a value per row: a dictionary only
        // costs time to build and bytes to store (27 MB of the benchmark
        // file's 238). Volumes, whole numbers, delta-encode well; dates and
        // tickers, few and repeated, keep their dictionaries.
        for field in schema.fields() {
            let column = parquet::schema::types::ColumnPath::from(field.name().as_str());
            match field.data_type() {
                DataType::Float64 => {
                    builder = builder
                        .set_column_dictionary_enabled(column.clone(), false)
                        .set_column_data_page_row_count_limit(column, PRICE_PAGE_ROWS);
                }
                DataType::UInt64 => {
                    builder = builder
                        .set_column_dictionary_enabled(column.clone(), false)
                        .set_column_encoding(column, parquet::basic::Encoding::DELTA_BINARY_PACKED);
                }
                // In (date, ticker) order the ticker codes repeat the same
                // run every date, and zstd sees a repeat only within a
                // page: pages of a row group, not of 20 000 rows, take the
                // benchmark file's ticker column from 1.87 MB to 0.10 MB.
                // (Dates keep small pages: sorted, their page statistics let
                // a reader skip pages of a date range.)
                DataType::Utf8 => {
                    builder = builder.set_column_data_page_row_count_limit(
                        column,
                        options.row_group_rows.max(1),
                    );
                }
                _ => {}
            }
        }
        let mut properties = builder.build();
        add_encoded_arrow_schema_to_metadata(&schema, &mut properties);
        let properties = Arc::new(properties);
        let parquet_schema = ArrowSchemaConverter::new()
            .with_coerce_types(properties.coerce_types())
            .convert(&schema)?;
        let writer = SerializedFileWriter::new(sink, parquet_schema.root_schema_ptr(), properties)?;
        let factory = ArrowRowGroupWriterFactory::new(&writer, schema.clone());
        Ok(Self {
            writer,
            factory,
            schema,
            row_group_rows: options.row_group_rows.max(1),
            groups: 0,
            cancel: options.cancel.clone(),
        })
    }

    /// Encodes `rows` as one or more row groups.
    pub fn write(&mut self, rows: &arrow::array::RecordBatch) -> Result<(), WriteFailure> {
        self.write_batches(std::slice::from_ref(rows))
    }

    /// Writes consecutive batches as row groups of `row_group_rows`, a
    /// group made of the (zero-copy) slices of the batches it spans: no
    /// concatenated copy of the table.
    pub fn write_batches(
        &mut self,
        batches: &[arrow::array::RecordBatch],
    ) -> Result<(), WriteFailure> {
        let mut group: Vec<arrow::array::RecordBatch> = Vec::new();
        let mut rows = 0;
        for batch in batches {
            let mut start = 0;
            while start < batch.num_rows() {
                let take = (self.row_group_rows - rows).min(batch.num_rows() - start);
                group.push(batch.slice(start, take));
                rows += take;
                start += take;
                if rows == self.row_group_rows {
                    self.write_group(&std::mem::take(&mut group))?;
                    rows = 0;
                }
            }
        }
        if rows > 0 {
            self.write_group(&group)?;
        }
        Ok(())
    }

    /// Writes one row group of `pieces`, its columns encoded in parallel.
    fn write_group(&mut self, pieces: &[arrow::array::RecordBatch]) -> Result<(), WriteFailure> {
        use parquet::arrow::arrow_writer::{ArrowColumnChunk, compute_leaves};
        use rayon::prelude::*;

        if self.cancel.is_cancelled() {
            return Err(cancelled());
        }
        let writers = self.factory.create_column_writers(self.groups)?;
        self.groups += 1;
        let chunks: Vec<ArrowColumnChunk> = writers
            .into_par_iter()
            .zip(self.schema.fields().par_iter())
            .enumerate()
            .map(|(i, (mut column_writer, field))| {
                for piece in pieces {
                    for leaf in compute_leaves(field, piece.column(i))? {
                        column_writer.write(&leaf)?;
                    }
                }
                column_writer.close()
            })
            .collect::<Result<_, _>>()?;
        let mut row_group = self.writer.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        Ok(())
    }

    /// Bytes handed to the writer so far (whole row groups).
    pub fn bytes_written(&self) -> usize {
        self.writer.bytes_written()
    }

    /// Writes the footer and returns the writer.
    pub fn finish(self) -> Result<W, WriteFailure> {
        Ok(self.writer.into_inner()?)
    }
}

/// The table's schema carrying `metadata`.
fn with_metadata(table: &Table, metadata: &[(String, String)]) -> SchemaRef {
    Arc::new(Schema::new_with_metadata(
        table.schema.fields().clone(),
        metadata.iter().cloned().collect::<HashMap<_, _>>(),
    ))
}

fn write_ipc<W: Write>(
    table: &Table,
    sink: W,
    metadata: &[(String, String)],
) -> Result<W, WriteFailure> {
    let schema = with_metadata(table, metadata);
    let mut writer = arrow::ipc::writer::FileWriter::try_new(sink, &schema)?;
    for batch in &table.batches {
        let batch = batch.clone().with_schema(schema.clone())?;
        writer.write(&batch)?;
    }
    writer.finish()?;
    Ok(writer.into_inner()?)
}

fn write_csv<W: Write>(table: &Table, sink: W) -> Result<W, WriteFailure> {
    let mut writer = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(sink);
    for batch in &table.batches {
        writer.write(batch)?;
    }
    Ok(writer.into_inner())
}
