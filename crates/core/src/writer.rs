//! Writing a table to Parquet, Arrow IPC or CSV, atomically.
//!
//! Every writer writes to a temporary file beside the target, syncs it and
//! renames it into place: a failed write leaves no partial file and never
//! replaces a good one.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::datatypes::{Schema, SchemaRef};
use parquet::basic::{Compression as ParquetCompression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

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

/// Writes `table` to `path` in the format its extension names.
pub fn write_table(table: &Table, path: &Path, options: &WriteOptions) -> Result<()> {
    let format = OutputFormat::from_path(path)?;
    let failure = |source: WriteFailure| Error::Write {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".nasdaq-output-")
        .suffix(".partial")
        .tempfile_in(&dir)
        .map_err(|err| {
            failure(WriteFailure::Io(std::io::Error::new(
                err.kind(),
                format!("cannot create a file in {}: {err}", dir.display()),
            )))
        })?;
    let file = temp
        .as_file()
        .try_clone()
        .map_err(|err| failure(err.into()))?;
    match format {
        OutputFormat::Parquet => write_parquet(table, file, options),
        OutputFormat::ArrowIpc => write_ipc(table, file, &options.metadata),
        OutputFormat::Csv => write_csv(table, file),
    }
    .map_err(failure)?;
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

/// Writes Parquet, encoding the columns of each row group in parallel (the
/// plain `ArrowWriter` encodes one column after another).
fn write_parquet(table: &Table, file: File, options: &WriteOptions) -> Result<(), WriteFailure> {
    use parquet::arrow::arrow_writer::{
        ArrowColumnChunk, ArrowRowGroupWriterFactory, compute_leaves,
    };
    use parquet::arrow::{ArrowSchemaConverter, add_encoded_arrow_schema_to_metadata};
    use parquet::file::writer::SerializedFileWriter;
    use rayon::prelude::*;

    let key_values = options
        .metadata
        .iter()
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect();
    // The metadata goes both into the file's key-value metadata (DuckDB,
    // polars, parquet-tools) and into the Arrow schema (pyarrow's schema.metadata).
    let schema = with_metadata(table, &options.metadata);
    let mut properties = WriterProperties::builder()
        .set_compression(match options.compression {
            Compression::Zstd => ParquetCompression::ZSTD(ZstdLevel::default()),
            Compression::Snappy => ParquetCompression::SNAPPY,
            Compression::None => ParquetCompression::UNCOMPRESSED,
        })
        .set_key_value_metadata(Some(key_values))
        .set_max_row_group_row_count(Some(options.row_group_rows))
        .build();
    add_encoded_arrow_schema_to_metadata(&schema, &mut properties);
    let properties = Arc::new(properties);
    let parquet_schema = ArrowSchemaConverter::new()
        .with_coerce_types(properties.coerce_types())
        .convert(&schema)?;
    let mut writer = SerializedFileWriter::new(
        BufWriter::new(file),
        parquet_schema.root_schema_ptr(),
        properties,
    )?;
    let factory = ArrowRowGroupWriterFactory::new(&writer, schema.clone());
    let all = arrow::compute::concat_batches(&table.schema, &table.batches)?;
    let rows = all.num_rows();
    let per_group = options.row_group_rows.max(1);
    for (index, start) in (0..rows).step_by(per_group).enumerate() {
        let group = all.slice(start, per_group.min(rows - start));
        if options.cancel.is_cancelled() {
            return Err(cancelled());
        }
        let writers = factory.create_column_writers(index)?;
        let chunks: Vec<ArrowColumnChunk> = writers
            .into_par_iter()
            .zip(group.columns().par_iter().zip(schema.fields().par_iter()))
            .map(|(mut column_writer, (column, field))| {
                for leaf in compute_leaves(field, column)? {
                    column_writer.write(&leaf)?;
                }
                column_writer.close()
            })
            .collect::<Result<_, _>>()?;
        let mut row_group = writer.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
    }
    writer
        .into_inner()
        .map_err(WriteFailure::from)
        .and_then(|mut w| w.flush().map_err(WriteFailure::from))
}

/// The table's schema carrying `metadata`.
fn with_metadata(table: &Table, metadata: &[(String, String)]) -> SchemaRef {
    Arc::new(Schema::new_with_metadata(
        table.schema.fields().clone(),
        metadata.iter().cloned().collect::<HashMap<_, _>>(),
    ))
}

fn write_ipc(table: &Table, file: File, metadata: &[(String, String)]) -> Result<(), WriteFailure> {
    let schema = with_metadata(table, metadata);
    let mut writer = arrow::ipc::writer::FileWriter::try_new(BufWriter::new(file), &schema)?;
    for batch in &table.batches {
        let batch = batch.clone().with_schema(schema.clone())?;
        writer.write(&batch)?;
    }
    writer.finish()?;
    writer
        .into_inner()
        .map_err(WriteFailure::from)
        .and_then(|mut w| w.flush().map_err(WriteFailure::from))
}

fn write_csv(table: &Table, file: File) -> Result<(), WriteFailure> {
    let mut writer = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(BufWriter::new(file));
    for batch in &table.batches {
        writer.write(batch)?;
    }
    writer.into_inner().flush().map_err(WriteFailure::from)
}
