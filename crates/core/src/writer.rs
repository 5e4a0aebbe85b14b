//! Writing a table to Parquet, Arrow IPC or CSV, atomically.
//!
//! Every writer writes to a temporary file beside the target, syncs it and
//! renames it into place: a failed write leaves no partial file and never
//! replaces a good one.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::datatypes::Schema;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::{Error, Result, Table};

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

/// Writes `table` to `path` in the format its extension names, with
/// `metadata` as file-level key-value metadata (Parquet, Arrow IPC).
pub fn write_table(table: &Table, path: &Path, metadata: &[(String, String)]) -> Result<()> {
    let format = OutputFormat::from_path(path)?;
    let failure = |message: String| Error::Write {
        path: path.to_owned(),
        message,
    };
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".nasdaq-output-")
        .suffix(".partial")
        .tempfile_in(&dir)
        .map_err(|err| failure(format!("cannot create a file in {}: {err}", dir.display())))?;
    let file = temp
        .as_file()
        .try_clone()
        .map_err(|err| failure(err.to_string()))?;
    match format {
        OutputFormat::Parquet => write_parquet(table, file, metadata),
        OutputFormat::ArrowIpc => write_ipc(table, file, metadata),
        OutputFormat::Csv => write_csv(table, file),
    }
    .map_err(failure)?;
    temp.as_file()
        .sync_all()
        .map_err(|err| failure(err.to_string()))?;
    temp.persist(path)
        .map_err(|err| failure(err.error.to_string()))?;
    Ok(())
}

fn write_parquet(table: &Table, file: File, metadata: &[(String, String)]) -> Result<(), String> {
    let key_values = metadata
        .iter()
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect();
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_key_value_metadata(Some(key_values))
        .set_max_row_group_row_count(Some(1024 * 1024))
        .build();
    let mut writer =
        ArrowWriter::try_new(BufWriter::new(file), table.schema.clone(), Some(properties))
            .map_err(|e| e.to_string())?;
    for batch in &table.batches {
        writer.write(batch).map_err(|e| e.to_string())?;
    }
    writer.close().map_err(|e| e.to_string())?;
    Ok(())
}

fn write_ipc(table: &Table, file: File, metadata: &[(String, String)]) -> Result<(), String> {
    let schema = Schema::new_with_metadata(
        table.schema.fields().clone(),
        metadata.iter().cloned().collect::<HashMap<_, _>>(),
    );
    let mut writer = arrow::ipc::writer::FileWriter::try_new(BufWriter::new(file), &schema)
        .map_err(|e| e.to_string())?;
    for batch in &table.batches {
        let batch = batch
            .clone()
            .with_schema(schema.clone().into())
            .map_err(|e| e.to_string())?;
        writer.write(&batch).map_err(|e| e.to_string())?;
    }
    writer.finish().map_err(|e| e.to_string())?;
    writer
        .into_inner()
        .and_then(|mut w| w.flush().map_err(Into::into))
        .map_err(|e| e.to_string())
}

fn write_csv(table: &Table, file: File) -> Result<(), String> {
    let mut writer = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(BufWriter::new(file));
    for batch in &table.batches {
        writer.write(batch).map_err(|e| e.to_string())?;
    }
    writer.into_inner().flush().map_err(|e| e.to_string())
}
