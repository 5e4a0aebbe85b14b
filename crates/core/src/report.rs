//! The load report: what was loaded, from where, and how it went.

use std::collections::BTreeMap;

use serde::Serialize;

/// Where one file's rows came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileLineage {
    /// The object's address.
    pub uri: String,
    /// Its ETag.
    pub etag: Option<String>,
    /// Its version id.
    pub version: Option<String>,
    /// When it was last modified, RFC 3339.
    pub last_modified: Option<String>,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The dialect it was read as.
    pub dialect: String,
    /// Data rows read from it.
    pub rows_read: u64,
    /// How the disk cache served it: miss, revalidated, offline, stale (none: not cached).
    pub cache: Option<String>,
    /// When served stale: why the server could not be used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_reason: Option<String>,
}

/// A source of the chain that failed before another served.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceFailure {
    /// Its role: primary, secondary, local fallback.
    pub role: String,
    /// The address tried.
    pub uri: String,
    /// Why it failed.
    pub error: String,
}

/// The record of one load, printed by `fetch --json` and stored with outputs.
///
/// One struct, serialised as one JSON object; later fields are only added.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LoadReport {
    /// Version of the tool that made the load.
    pub tool_version: String,
    /// Address of the object that served the rows.
    pub source: String,
    /// The role of the source that served: primary, secondary, local fallback.
    pub served_by: String,
    /// The sources tried before it, and why each failed.
    pub fallbacks: Vec<SourceFailure>,
    /// How the disk cache served the object: miss, revalidated, offline, stale
    /// (none: no cache in the way, or several files: see `files`).
    pub cache: Option<String>,
    /// Whether a cached copy was used because the server failed.
    pub stale: bool,
    /// A human name for the source when it is not obvious ("bundled sample").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_label: Option<String>,
    /// Which provider supplied the credentials (S3 only; never a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// Where the table was written, if anywhere.
    pub output: Option<String>,
    /// Rows in the table.
    pub rows: usize,
    /// Distinct tickers.
    pub tickers: usize,
    /// First date, YYYY-MM-DD.
    pub first_date: Option<String>,
    /// Last date, YYYY-MM-DD.
    pub last_date: Option<String>,
    /// Bytes read from the source.
    pub bytes: u64,
    /// SHA-256 of the bytes read, lowercase hex (several files: of their
    /// `uri sha256` lines).
    pub sha256: String,
    /// The object's ETag, when the source gives one.
    pub etag: Option<String>,
    /// The object's version id, when the source versions objects.
    pub version: Option<String>,
    /// When the object was last modified, RFC 3339.
    pub last_modified: Option<String>,
    /// The dialect(s) the files were read as.
    pub dialect: String,
    /// Data rows read, before filters and rules.
    pub rows_read: u64,
    /// Rows in the output.
    pub rows_kept: u64,
    /// Rows rejected, per rule (error and drop policies).
    pub rejected: BTreeMap<String, u64>,
    /// Violations of warn-policy rules, per rule.
    pub warnings: BTreeMap<String, u64>,
    /// Each file read, with its lineage.
    pub files: Vec<FileLineage>,
    /// SHA-256 of the effective settings (secrets excluded), when the caller gives it.
    pub settings_hash: Option<String>,
    /// When the load finished, RFC 3339.
    pub loaded_at: String,
    /// Wall time of the load (and write), in milliseconds.
    pub elapsed_ms: u64,
}

impl LoadReport {
    /// "N tickers, FIRST to LAST", for summaries.
    pub fn tickers_text(&self) -> String {
        format!(
            "{} tickers, {} to {}",
            self.tickers,
            self.first_date.as_deref().unwrap_or("-"),
            self.last_date.as_deref().unwrap_or("-")
        )
    }

    /// The report as key-value pairs for Parquet / Arrow IPC metadata, under `nasdaq.*`.
    pub fn metadata(&self) -> Vec<(String, String)> {
        let mut pairs = vec![(
            "nasdaq.load_report".to_owned(),
            serde_json::to_string(self).unwrap_or_default(),
        )];
        let mut put = |key: &str, value: Option<&str>| {
            if let Some(value) = value {
                pairs.push((format!("nasdaq.{key}"), value.to_owned()));
            }
        };
        put("source", Some(&self.source));
        put("sha256", Some(&self.sha256));
        put("etag", self.etag.as_deref());
        put("version", self.version.as_deref());
        put("dialect", Some(&self.dialect));
        put("settings_hash", self.settings_hash.as_deref());
        put("loaded_at", Some(&self.loaded_at));
        put("tool_version", Some(&self.tool_version));
        pairs
    }
}
