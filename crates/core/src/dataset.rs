//! Parquet datasets: Hive-partitioned part files under a prefix, and the
//! manifest that lists them with their rows, dates and the source objects
//! they came from.
//!
//! Layout, under the dataset's prefix:
//!
//! ```text
//! year=2024/part-<SHA-256 of the file, 32 hex>.parquet   (or year=2024/month=3/, or none)
//! _manifest/_00000000000000000007.json                   one per version, never rewritten
//! ```
//!
//! The partition value lives only in the path (no `year` column in the
//! files), so DuckDB, pyarrow, polars, Spark and Athena add it from the path
//! without a conflict. Names beginning with `_` are skipped by those
//! readers, so the manifests never look like data. A version is committed
//! by creating the next manifest with a create-only write: of two writers
//! that read the same version, one creates the next and the other fails.

use std::collections::BTreeMap;
use std::ops::Range;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::Date32Type;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::parse::RowFilter;
use crate::table::{Table, format_date};
use crate::writer::{ParquetEncoder, WriteOptions};
use crate::{Error, Result};

/// The folder of a dataset's manifests, under its prefix.
pub const MANIFEST_DIR: &str = "_manifest/";
/// What a manifest's `format` field says.
pub const MANIFEST_FORMAT: &str = "nasdaq-data dataset";
/// Manifests larger than this are refused, not read into memory.
const MAX_MANIFEST_BYTES: usize = 256 * 1024 * 1024;
/// A file's ticker list is kept for pruning up to this many tickers.
const MAX_LISTED_TICKERS: usize = 64;

/// How a dataset's files are laid out in folders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Partitioning {
    /// All files in the dataset's folder.
    #[default]
    None,
    /// `year=YYYY/`.
    Year,
    /// `year=YYYY/month=M/` (month 1 to 12, unpadded).
    Month,
}

impl Partitioning {
    /// The names `--partition-by` takes.
    pub const NAMES: &'static [&'static str] = &["none", "year", "month"];

    /// The partitioning named `name` (`none`, `year`, `month`).
    ///
    /// ```
    /// use nasdaq_core::dataset::Partitioning;
    /// assert_eq!(Partitioning::from_name("year"), Some(Partitioning::Year));
    /// assert_eq!(Partitioning::from_name("day"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "none" => Some(Self::None),
            "year" => Some(Self::Year),
            "month" => Some(Self::Month),
            _ => None,
        }
    }

    /// The name, as `--partition-by` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Year => "year",
            Self::Month => "month",
        }
    }

    /// The folder (ending in `/`, or empty) of a day counted from 1970-01-01.
    pub fn folder(self, days: i32) -> String {
        let date = format_date(days);
        match self {
            Self::None => String::new(),
            Self::Year => format!("year={}/", &date[..4]),
            // Unpadded: DuckDB reads `month=03` as text, `month=3` as a number.
            Self::Month => format!(
                "year={}/month={}/",
                &date[..4],
                date[5..7].trim_start_matches('0')
            ),
        }
    }
}

impl std::fmt::Display for Partitioning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One version of a dataset: every file in it and the sources behind them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// 1 for the first version, one more for each commit.
    pub version: u64,
    /// The folder layout.
    pub partition_by: Partitioning,
    /// The tool that wrote this version, with its version.
    pub written_by: String,
    /// When, RFC 3339.
    pub written_at: String,
    /// A random id of the run that committed this version: a writer whose
    /// commit is answered "exists" (a retried request) reads it to know
    /// whether the version is its own.
    #[serde(default)]
    pub run_id: String,
    /// What of each source the dataset keeps: an append with other
    /// filters would mix two selections, so it must use the same.
    #[serde(default)]
    pub selection: Selection,
    /// Rows in all files.
    pub rows: u64,
    /// Every file, by path.
    pub files: Vec<DataFile>,
    /// Every source object whose rows are in the dataset, by address.
    pub sources: Vec<SourceEntry>,
}

impl Manifest {
    /// An empty dataset, before its first version.
    pub fn empty(partition_by: Partitioning) -> Self {
        Self {
            format: MANIFEST_FORMAT.to_owned(),
            version: 0,
            partition_by,
            written_by: String::new(),
            written_at: String::new(),
            run_id: String::new(),
            selection: Selection::default(),
            rows: 0,
            files: Vec::new(),
            sources: Vec::new(),
        }
    }

    /// The entry of the source object at `uri`.
    pub fn source(&self, uri: &str) -> Option<&SourceEntry> {
        self.sources.iter().find(|s| s.uri == uri)
    }

    /// The files a load with `filter` needs: those whose dates and tickers
    /// may hold a wanted row.
    pub fn prune(&self, filter: &RowFilter) -> Vec<&DataFile> {
        let from = filter.from.map(|d| d.to_string());
        let to = filter.to.map(|d| d.to_string());
        self.files
            .iter()
            .filter(|file| {
                // ISO dates order as text.
                from.as_ref().is_none_or(|from| file.last_date >= *from)
                    && to.as_ref().is_none_or(|to| file.first_date <= *to)
                    && match (&filter.tickers, &file.tickers) {
                        (Some(wanted), Some(held)) => held.iter().any(|t| wanted.contains(t)),
                        _ => true,
                    }
            })
            .collect()
    }
}

/// The load options that decide which rows of a source a dataset holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// Only these tickers (upper-case, sorted); empty: all.
    pub tickers: Vec<String>,
    /// Only bars on or after this date.
    pub from: Option<String>,
    /// Only bars on or before this date.
    pub to: Option<String>,
    /// The dialect asked for, instead of detecting it.
    pub dialect: Option<String>,
    /// The ticker given for one-ticker files.
    pub ticker: Option<String>,
    /// Every quality rule an error.
    pub strict: bool,
}

impl std::fmt::Display for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tickers = if self.tickers.is_empty() {
            "all".to_owned()
        } else {
            self.tickers.join(",")
        };
        let or = |v: &Option<String>, none: &str| v.clone().unwrap_or_else(|| none.to_owned());
        write!(
            f,
            "tickers {tickers}, from {}, to {}, dialect {}, ticker {}, strict {}",
            or(&self.from, "any"),
            or(&self.to, "any"),
            or(&self.dialect, "detected"),
            or(&self.ticker, "from the file"),
            self.strict
        )
    }
}

/// One Parquet file of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// Its key under the dataset's prefix, e.g. `year=2024/part-….parquet`.
    pub path: String,
    /// Rows in it.
    pub rows: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// SHA-256 of its bytes (checked when it is read back).
    pub sha256: String,
    /// Its first and last date, `YYYY-MM-DD`.
    pub first_date: String,
    /// See `first_date`.
    pub last_date: String,
    /// Its tickers, when there are few enough to list (for pruning).
    pub tickers: Option<Vec<String>>,
    /// The address of the source object its rows came from.
    pub source: String,
}

/// A source object whose rows are in the dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceEntry {
    /// Its address.
    pub uri: String,
    /// Its ETag when loaded.
    pub etag: Option<String>,
    /// Its version id, where versioned.
    pub version: Option<String>,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The dialect it was read as.
    pub dialect: String,
    /// Rows it contributed (after the quality rules).
    pub rows: u64,
    /// When it was loaded, RFC 3339.
    pub loaded_at: String,
}

/// Whether `path` (under a dataset's prefix) is a part file as we name
/// them, in a folder of `layout`: `year=2024/part-<32 hex>.parquet`.
/// Anything else under the prefix is not ours to remove.
pub fn is_part_path(path: &str, layout: Partitioning) -> bool {
    let (folders, name) = path.rsplit_once('/').unwrap_or(("", path));
    let ours = name
        .strip_prefix("part-")
        .and_then(|n| n.strip_suffix(".parquet"))
        .is_some_and(|hash| hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit()));
    let number = |text: Option<&str>, key: &str| {
        text.and_then(|t| t.strip_prefix(key))
            .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
    };
    let mut parts = folders.split('/').filter(|f| !f.is_empty());
    let folders_fit = match layout {
        Partitioning::None => parts.next().is_none(),
        Partitioning::Year => number(parts.next(), "year=") && parts.next().is_none(),
        Partitioning::Month => {
            number(parts.next(), "year=")
                && number(parts.next(), "month=")
                && parts.next().is_none()
        }
    };
    ours && folders_fit
}

/// Reads the part file `file` of the dataset at `prefix` whole, refusing
/// one whose size or SHA-256 differs from what the manifest lists (memory
/// is bounded by the listed size, whatever the store holds).
pub async fn read_part(
    source: &dyn nasdaq_storage::MarketSource,
    prefix: &str,
    file: &DataFile,
) -> Result<(
    Bytes,
    nasdaq_storage::ObjectInfo,
    Option<nasdaq_storage::CacheOutcome>,
)> {
    use sha2::Digest;
    let key = format!("{prefix}{}", file.path);
    let nasdaq_storage::Fetched {
        info,
        stream,
        cache,
    } = source.get(&key, Default::default()).await?;
    let changed = |found: String| Error::DatasetFileChanged {
        file: info.uri.clone(),
        bytes: file.bytes,
        sha256: file.sha256.clone(),
        found,
    };
    let body = collect(stream, file.bytes, || changed("it is longer".to_owned())).await?;
    let sha256 = hex::encode(sha2::Sha256::digest(&body));
    if sha256 != file.sha256 {
        return Err(changed(format!(
            "read {} bytes with SHA-256 {sha256}",
            body.len()
        )));
    }
    Ok((body, info, cache))
}

/// A day counted from 1970-01-01 as `YYYY-MM-DD`.
pub fn day_text(days: i32) -> String {
    format_date(days)
}

/// The key of version `version`'s manifest under `prefix`.
///
/// ```
/// assert_eq!(
///     nasdaq_core::dataset::manifest_key("curated/", 7),
///     "curated/_manifest/_00000000000000000007.json"
/// );
/// ```
pub fn manifest_key(prefix: &str, version: u64) -> String {
    format!("{prefix}{MANIFEST_DIR}_{version:020}.json")
}

/// The version a manifest key names, if it is one.
pub fn manifest_version(prefix: &str, key: &str) -> Option<u64> {
    let name = key.strip_prefix(prefix)?.strip_prefix(MANIFEST_DIR)?;
    let digits = name.strip_prefix('_')?.strip_suffix(".json")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The newest manifest key among `keys` (a listing of the prefix), with
/// its version.
pub fn newest_manifest<'k>(
    prefix: &str,
    keys: impl IntoIterator<Item = &'k str>,
) -> Option<(u64, &'k str)> {
    keys.into_iter()
        .filter_map(|key| manifest_version(prefix, key).map(|v| (v, key)))
        .max()
}

/// Reads the newest manifest among `keys` (a listing of the prefix);
/// `None` when there is none: not a dataset.
pub async fn latest_manifest<'k>(
    source: &dyn nasdaq_storage::MarketSource,
    prefix: &str,
    keys: impl IntoIterator<Item = &'k str>,
) -> Result<Option<Manifest>> {
    let Some((version, key)) = newest_manifest(prefix, keys) else {
        return Ok(None);
    };
    let key = key.to_owned();
    let uri = source.uri(&key);
    let fetched = source.get(&key, Default::default()).await?;
    if fetched.info.size > MAX_MANIFEST_BYTES as u64 {
        return Err(Error::BadManifest {
            uri,
            message: format!(
                "{} bytes, more than a manifest can be ({MAX_MANIFEST_BYTES})",
                fetched.info.size
            ),
        });
    }
    let body = collect(fetched.stream, MAX_MANIFEST_BYTES as u64, || {
        Error::BadManifest {
            uri: uri.clone(),
            message: format!("longer than {MAX_MANIFEST_BYTES} bytes"),
        }
    })
    .await?;
    let manifest: Manifest = serde_json::from_slice(&body).map_err(|err| Error::BadManifest {
        uri: uri.clone(),
        message: err.to_string(),
    })?;
    if manifest.format != MANIFEST_FORMAT || manifest.version != version {
        return Err(Error::BadManifest {
            uri,
            message: format!(
                "format {:?} version {} where {MANIFEST_FORMAT:?} version {version} was expected",
                manifest.format, manifest.version
            ),
        });
    }
    Ok(Some(manifest))
}

/// The whole body of a stream, refused with `too_long()` past `max`
/// bytes: memory is bounded by what the caller expects, not by what the
/// store sends.
async fn collect(
    mut stream: nasdaq_storage::ByteStream,
    max: u64,
    too_long: impl FnOnce() -> Error,
) -> Result<Bytes> {
    use futures::StreamExt;
    let mut body = Vec::with_capacity(max.min(1 << 30) as usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if (body.len() + chunk.len()) as u64 > max {
            return Err(too_long());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.into())
}

/// The row ranges of each folder of a table sorted by date: partitions are
/// runs of consecutive rows.
pub fn partition_ranges(
    rows: &RecordBatch,
    partitioning: Partitioning,
) -> Vec<(String, Range<usize>)> {
    let dates = rows.column(0).as_primitive::<Date32Type>();
    let mut ranges: Vec<(String, Range<usize>)> = Vec::new();
    let mut start = 0;
    while start < dates.len() {
        let folder = partitioning.folder(dates.value(start));
        // The run ends at the first row of another folder: find it by
        // bisection over the sorted dates.
        let (mut low, mut high) = (start + 1, dates.len());
        while low < high {
            let middle = (low + high) / 2;
            if partitioning.folder(dates.value(middle)) == folder {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        ranges.push((folder, start..low));
        start = low;
    }
    ranges
}

/// One encoded part file, with what the manifest says of it.
#[derive(Debug, Clone)]
pub struct EncodedFile {
    /// The file's bytes.
    pub body: Bytes,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// Rows in it.
    pub rows: u64,
    /// First date, `YYYY-MM-DD`.
    pub first_date: String,
    /// Last date.
    pub last_date: String,
    /// Its tickers, when few enough to list.
    pub tickers: Option<Vec<String>>,
}

/// Encodes `rows` (sorted by date and ticker) as Parquet files of about
/// `target_bytes` each: a file is closed once its row groups reach the
/// target. `name` (the partition folder and source) names a failure.
pub fn encode_files(
    rows: &RecordBatch,
    name: &str,
    target_bytes: usize,
    options: &WriteOptions,
) -> Result<Vec<EncodedFile>> {
    use sha2::Digest;
    let failure = |source| Error::Write {
        path: name.into(),
        source,
    };
    let table = Table {
        schema: rows.schema(),
        batches: Vec::new(),
    };
    let group = options.row_group_rows.max(1);
    let mut files = Vec::new();
    let mut start = 0;
    while start < rows.num_rows() {
        let mut encoder = ParquetEncoder::new(Vec::new(), &table, options).map_err(failure)?;
        let first = start;
        while start < rows.num_rows() && (start == first || encoder.bytes_written() < target_bytes)
        {
            let take = group.min(rows.num_rows() - start);
            encoder.write(&rows.slice(start, take)).map_err(failure)?;
            start += take;
        }
        let body = Bytes::from(encoder.finish().map_err(failure)?);
        let part = rows.slice(first, start - first);
        let dates = part.column(0).as_primitive::<Date32Type>();
        let tickers = part.column(1).as_string::<i32>();
        let mut listed: Vec<String> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for ticker in tickers.iter().flatten() {
            if seen.len() > MAX_LISTED_TICKERS {
                break;
            }
            seen.insert(ticker);
        }
        let tickers = (seen.len() <= MAX_LISTED_TICKERS).then(|| {
            listed.extend(seen.into_iter().map(str::to_owned));
            listed
        });
        files.push(EncodedFile {
            sha256: hex::encode(sha2::Sha256::digest(&body)),
            body,
            rows: part.num_rows() as u64,
            first_date: format_date(dates.value(0)),
            last_date: format_date(dates.value(dates.len() - 1)),
            tickers,
        });
    }
    Ok(files)
}

/// Decodes a dataset file into canonical batches, keeping only the rows
/// `filter` wants.
pub fn decode_file(body: Bytes, uri: &str, filter: &RowFilter) -> Result<Vec<RecordBatch>> {
    let bad = |message: String| Error::BadDataFile {
        file: uri.to_owned(),
        message,
    };
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(body)
        .map_err(|err| bad(err.to_string()))?
        .build()
        .map_err(|err| bad(err.to_string()))?;
    let canonical = crate::schema::canonical();
    let mut batches = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|err| bad(err.to_string()))?;
        let fields_match = batch.schema().fields().len() == canonical.fields().len()
            && batch
                .schema()
                .fields()
                .iter()
                .zip(canonical.fields())
                .all(|(got, want)| {
                    got.name() == want.name() && got.data_type() == want.data_type()
                });
        if !fields_match {
            return Err(bad(format!(
                "its columns are not the canonical ones ({}); it was not written by nasdaq-data",
                batch.schema()
            )));
        }
        let batch = RecordBatch::try_new(canonical.clone(), batch.columns().to_vec())
            .map_err(|err| bad(err.to_string()))?;
        let batch = match keep_mask(&batch, filter) {
            Some(mask) => arrow::compute::filter_record_batch(&batch, &mask)?,
            None => batch,
        };
        if batch.num_rows() > 0 {
            batches.push(batch);
        }
    }
    Ok(batches)
}

/// The rows of `batch` that `filter` keeps; `None`: all of them.
fn keep_mask(batch: &RecordBatch, filter: &RowFilter) -> Option<BooleanArray> {
    if filter.tickers.is_none() && filter.from.is_none() && filter.to.is_none() {
        return None;
    }
    let (from, to) = (RowFilter::days(filter.from), RowFilter::days(filter.to));
    let dates = batch.column(0).as_primitive::<Date32Type>();
    let tickers = batch.column(1).as_string::<i32>();
    Some(
        (0..batch.num_rows())
            .map(|i| {
                let date = dates.value(i);
                Some(
                    from.is_none_or(|f| date >= f)
                        && to.is_none_or(|t| date <= t)
                        && filter.tickers.as_ref().is_none_or(|set| {
                            !tickers.is_null(i) && set.contains(tickers.value(i))
                        }),
                )
            })
            .collect(),
    )
}

/// Per (date, ticker) key of `rows`, for finding a pair held twice.
pub fn keys(rows: &RecordBatch) -> impl Iterator<Item = (i32, &str)> {
    let dates = rows.column(0).as_primitive::<Date32Type>();
    let tickers = rows.column(1).as_string::<i32>();
    (0..rows.num_rows()).map(move |i| (dates.value(i), tickers.value(i)))
}

/// Files of `manifest` grouped by the source they came from.
pub fn files_by_source(manifest: &Manifest) -> BTreeMap<&str, Vec<&DataFile>> {
    let mut map: BTreeMap<&str, Vec<&DataFile>> = BTreeMap::new();
    for file in &manifest.files {
        map.entry(file.source.as_str()).or_default().push(file);
    }
    map
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Date32Array, Float64Array, StringArray, UInt64Array};

    use super::*;

    /// `days` consecutive days from 2023-12-30, two tickers each.
    fn bars(days: i32) -> RecordBatch {
        let start = 19_721; // 2023-12-30
        let dates: Vec<i32> = (0..days).flat_map(|d| [start + d, start + d]).collect();
        let tickers: Vec<&str> = (0..days).flat_map(|_| ["AAPL", "MSFT"]).collect();
        let n = dates.len();
        let price = || Arc::new(Float64Array::from(vec![10.0; n])) as _;
        RecordBatch::try_new(
            crate::schema::canonical(),
            vec![
                Arc::new(Date32Array::from(dates)),
                Arc::new(StringArray::from(tickers)),
                price(),
                price(),
                price(),
                price(),
                price(),
                Arc::new(UInt64Array::from(vec![100u64; n])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn partitions_are_runs_of_rows_and_folders_readers_parse() {
        let rows = bars(70);
        let by_year = partition_ranges(&rows, Partitioning::Year);
        assert_eq!(
            by_year,
            vec![
                ("year=2023/".to_owned(), 0..4),
                ("year=2024/".to_owned(), 4..140)
            ]
        );
        let by_month = partition_ranges(&rows, Partitioning::Month);
        let folders: Vec<&str> = by_month.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            folders,
            [
                "year=2023/month=12/",
                "year=2024/month=1/",
                "year=2024/month=2/",
                "year=2024/month=3/"
            ]
        );
        assert_eq!(by_month.last().unwrap().1.end, 140);
        assert_eq!(
            partition_ranges(&rows, Partitioning::None),
            vec![(String::new(), 0..140)]
        );
    }

    #[test]
    fn files_are_cut_at_the_target_size_and_decode_back() {
        let rows = bars(400);
        let options = WriteOptions {
            row_group_rows: 100,
            ..WriteOptions::default()
        };
        let one = encode_files(&rows, "t", usize::MAX, &options).unwrap();
        assert_eq!(one.len(), 1);
        // A target smaller than one row group: a file per row group.
        let many = encode_files(&rows, "t", 1, &options).unwrap();
        assert_eq!(many.len(), 8);
        assert_eq!(many.iter().map(|f| f.rows).sum::<u64>(), 800);
        assert_eq!(many[0].first_date, "2023-12-30");
        assert_eq!(many[7].last_date, day_text(19_721 + 399));
        assert_eq!(
            many[0].tickers.as_deref(),
            Some(&["AAPL".to_owned(), "MSFT".to_owned()][..])
        );
        let filter = RowFilter {
            tickers: Some(["MSFT".to_owned()].into()),
            ..RowFilter::default()
        };
        let back = decode_file(many[0].body.clone(), "memory://x", &filter).unwrap();
        let rows: usize = back.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, 50);
    }

    #[test]
    fn a_parquet_file_of_other_columns_is_refused_by_name() {
        let other =
            RecordBatch::try_from_iter([("price", Arc::new(Float64Array::from(vec![1.0])) as _)])
                .unwrap();
        let mut body = Vec::new();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut body, other.schema(), None).unwrap();
        writer.write(&other).unwrap();
        writer.close().unwrap();
        let err = decode_file(body.into(), "s3://b/x.parquet", &RowFilter::default()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("s3://b/x.parquet: not a readable dataset file"),
            "{err}"
        );
    }

    #[test]
    fn pruning_keeps_only_files_that_may_hold_wanted_rows() {
        let file = |path: &str, first: &str, last: &str, tickers: Option<&[&str]>| DataFile {
            path: path.to_owned(),
            rows: 1,
            bytes: 1,
            sha256: String::new(),
            first_date: first.to_owned(),
            last_date: last.to_owned(),
            tickers: tickers.map(|t| t.iter().map(|s| (*s).to_owned()).collect()),
            source: String::new(),
        };
        let manifest = Manifest {
            files: vec![
                file("a", "2023-01-02", "2023-12-29", Some(&["AAPL"])),
                file("b", "2024-01-02", "2024-12-31", Some(&["AAPL"])),
                file("c", "2024-01-02", "2024-12-31", Some(&["MSFT"])),
                file("d", "2024-01-02", "2024-12-31", None),
            ],
            ..Manifest::empty(Partitioning::Year)
        };
        let paths = |filter: RowFilter| -> Vec<String> {
            manifest
                .prune(&filter)
                .iter()
                .map(|f| f.path.clone())
                .collect()
        };
        assert_eq!(paths(RowFilter::default()), ["a", "b", "c", "d"]);
        let in_2024 = RowFilter {
            from: chrono::NaiveDate::from_ymd_opt(2024, 3, 1),
            ..RowFilter::default()
        };
        assert_eq!(paths(in_2024.clone()), ["b", "c", "d"]);
        let aapl_2024 = RowFilter {
            tickers: Some(["AAPL".to_owned()].into()),
            ..in_2024
        };
        // A file whose tickers are not listed may hold any.
        assert_eq!(paths(aapl_2024), ["b", "d"]);
        let before = RowFilter {
            to: chrono::NaiveDate::from_ymd_opt(2023, 6, 30),
            ..RowFilter::default()
        };
        assert_eq!(paths(before), ["a"]);
    }

    #[test]
    fn only_our_part_files_in_the_layout_s_folders_are_ours() {
        let hash = "0123456789abcdef0123456789abcdef";
        let ours = format!("year=2024/part-{hash}.parquet");
        assert!(is_part_path(&ours, Partitioning::Year));
        assert!(!is_part_path(&ours, Partitioning::Month));
        assert!(is_part_path(
            &format!("year=2024/month=3/part-{hash}.parquet"),
            Partitioning::Month
        ));
        assert!(is_part_path(
            &format!("part-{hash}.parquet"),
            Partitioning::None
        ));
        for other in [
            "year=2024/part-00000-1b2c.snappy.parquet",
            "year=2024/part-0123.parquet",
            "year=x/part-0123456789abcdef0123456789abcdef.parquet",
            "raw/year=2024/part-0123456789abcdef0123456789abcdef.parquet",
            "year=2024/part-0123456789abcdef0123456789abcdef.parquet.tmp",
        ] {
            assert!(!is_part_path(other, Partitioning::Year), "{other}");
        }
    }

    #[test]
    fn manifest_keys_name_their_version_and_nothing_else_does() {
        let key = manifest_key("curated/", 42);
        assert_eq!(manifest_version("curated/", &key), Some(42));
        assert_eq!(manifest_version("other/", &key), None);
        for not_one in [
            "curated/_manifest/_42.json",
            "curated/_manifest/00000000000000000042.json",
            "curated/_manifest/_0000000000000000004x.json",
            "curated/year=2024/part-1.parquet",
        ] {
            assert_eq!(manifest_version("curated/", not_one), None, "{not_one}");
        }
    }
}
