//! The load report: what was loaded, from where, and how it went.

use serde::Serialize;

/// The record of one load, printed by `fetch --json` and stored with outputs.
///
/// One struct, serialised as one JSON object; later fields are only added.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LoadReport {
    /// Version of the tool that made the load.
    pub tool_version: String,
    /// Address of the object that served the rows.
    pub source: String,
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
    /// SHA-256 of the bytes read, lowercase hex.
    pub sha256: String,
    /// The object's ETag, when the source gives one.
    pub etag: Option<String>,
    /// The object's version id, when the source versions objects.
    pub version: Option<String>,
    /// When the object was last modified, RFC 3339.
    pub last_modified: Option<String>,
    /// When the load finished, RFC 3339.
    pub loaded_at: String,
    /// Wall time of the load (and write), in milliseconds.
    pub elapsed_ms: u64,
}

impl LoadReport {
    /// The report as key-value pairs for Parquet / Arrow IPC metadata, under `nasdaq.*`.
    pub fn metadata(&self) -> Vec<(String, String)> {
        let mut pairs = vec![(
            "nasdaq.load_report".to_owned(),
            serde_json::to_string(self).unwrap_or_default(),
        )];
        pairs.push(("nasdaq.source".to_owned(), self.source.clone()));
        pairs.push(("nasdaq.sha256".to_owned(), self.sha256.clone()));
        pairs.push(("nasdaq.tool_version".to_owned(), self.tool_version.clone()));
        pairs
    }
}
