//! The load report: what was loaded, from where, and how it went.

use std::collections::BTreeMap;

use std::time::Duration;

use nasdaq_storage::CredentialReport;
use serde::Serialize;

use crate::table::Summary;

/// Where one file's rows came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
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

/// The part a source plays in a load's chain of sources.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub enum Role {
    /// The source asked for (or configured).
    #[default]
    #[serde(rename = "primary")]
    Primary,
    /// A replica tried when the primary fails.
    #[serde(rename = "secondary")]
    Secondary,
    /// The local file tried when the remote sources fail.
    #[serde(rename = "local fallback")]
    LocalFallback,
    /// The sample bundled with the tool, when nothing is configured.
    #[serde(rename = "bundled sample")]
    BundledSample,
}

impl Role {
    /// The role as reports and messages name it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Secondary => "secondary",
            Self::LocalFallback => "local fallback",
            Self::BundledSample => "bundled sample",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A source of the chain that failed before another served.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceFailure {
    /// Its role in the chain.
    pub role: Role,
    /// The address tried.
    pub uri: String,
    /// Why it failed: the error and its causes.
    pub error: String,
}

impl SourceFailure {
    /// One clause per failure, for a single-line message.
    pub(crate) fn join(failures: &[SourceFailure]) -> String {
        failures
            .iter()
            .map(|f| format!("{} {}: {}", f.role, f.uri, f.error))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Facts of a run that the engine cannot know: attached to the report by
/// whoever drives the load (the `nasdaq-data` entry point).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFacts {
    /// A human name for the source when it is not obvious ("bundled sample (...)").
    pub source_label: Option<String>,
    /// Which provider supplied the credentials.
    pub credentials: Option<CredentialReport>,
    /// SHA-256 of the effective settings (secrets only as set/unset).
    pub settings_hash: Option<String>,
    /// Where the table is written.
    pub output: Option<String>,
}

/// What the engine found, from which the report is derived.
#[derive(Debug, Clone)]
pub(crate) struct EngineFacts {
    /// The prefix's address, when the load read other than one file.
    pub(crate) requested_uri: Option<String>,
    /// The table's shape.
    pub(crate) summary: Summary,
    /// Data rows read, kept, rejected per rule, warned per rule.
    pub(crate) rejected: BTreeMap<String, u64>,
    pub(crate) warnings: BTreeMap<String, u64>,
    /// Each file read.
    pub(crate) files: Vec<FileLineage>,
    /// Time spent.
    pub(crate) elapsed: Duration,
    /// How the table cache served: hit, miss (none: not in the way).
    pub(crate) table_cache: Option<String>,
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
    /// The role of the source that served.
    pub served_by: Role,
    /// The sources tried before it, and why each failed.
    pub fallbacks: Vec<SourceFailure>,
    /// How the disk cache served the object: miss, revalidated, offline, stale
    /// (none: no cache in the way, or several files: see `files`).
    pub cache: Option<String>,
    /// Whether a cached copy was used because the server failed.
    pub stale: bool,
    /// How the table cache served the table: `hit` (read from the cache,
    /// no parse), `miss` (parsed, and stored for the next load); none: the
    /// table cache was not in the way (off, a validation, a dataset).
    pub table_cache: Option<String>,
    /// A human name for the source when it is not obvious ("bundled sample").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_label: Option<String>,
    /// Which provider supplied the credentials (S3 only; never a secret).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "as_display")]
    pub credentials: Option<CredentialReport>,
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

/// Serialises a credential report as the one line users see.
fn as_display<S: serde::Serializer>(
    value: &Option<CredentialReport>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(report) => serializer.collect_str(report),
        None => serializer.serialize_none(),
    }
}

impl LoadReport {
    /// The report of a load served by `served_by` after `fallbacks` failed.
    /// The one place the top-level single-file fields are derived from
    /// `files[0]`; with several files they are unset (see `files`) and
    /// `sha256` is a SHA-256 over the per-file `uri sha256` lines.
    pub(crate) fn new(facts: EngineFacts, served_by: Role, fallbacks: Vec<SourceFailure>) -> Self {
        let EngineFacts {
            requested_uri,
            summary,
            rejected,
            warnings,
            files,
            elapsed,
            table_cache,
        } = facts;
        let single = match files.as_slice() {
            [one] => Some(one),
            _ => None,
        };
        let sha256 = match single {
            Some(file) => file.sha256.clone(),
            None => {
                use sha2::{Digest, Sha256};
                let mut hasher = Sha256::new();
                for file in &files {
                    hasher.update(format!("{} {}\n", file.uri, file.sha256));
                }
                hex::encode(hasher.finalize())
            }
        };
        let mut dialects: Vec<&str> = files.iter().map(|l| l.dialect.as_str()).collect();
        dialects.sort_unstable();
        dialects.dedup();
        Self {
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            source: match single {
                Some(file) => file.uri.clone(),
                None => requested_uri.unwrap_or_default(),
            },
            served_by,
            fallbacks,
            cache: single.and_then(|f| f.cache.clone()),
            stale: files.iter().any(|l| l.stale_reason.is_some()),
            table_cache,
            source_label: None,
            credentials: None,
            output: None,
            rows: summary.rows,
            tickers: summary.tickers,
            first_date: summary.first_date,
            last_date: summary.last_date,
            bytes: files.iter().map(|l| l.bytes).sum(),
            sha256,
            etag: single.and_then(|f| f.etag.clone()),
            version: single.and_then(|f| f.version.clone()),
            last_modified: single.and_then(|f| f.last_modified.clone()),
            dialect: dialects.join(", "),
            rows_read: files.iter().map(|l| l.rows_read).sum(),
            rows_kept: summary.rows as u64,
            rejected,
            warnings,
            settings_hash: None,
            loaded_at: chrono::Utc::now().to_rfc3339(),
            elapsed_ms: elapsed.as_millis() as u64,
            files,
        }
    }

    /// Attaches the facts of the run; the only way they enter a report.
    pub fn attach(&mut self, run: RunFacts) {
        let RunFacts {
            source_label,
            credentials,
            settings_hash,
            output,
        } = run;
        self.source_label = source_label;
        self.credentials = credentials;
        self.settings_hash = settings_hash;
        self.output = output;
    }

    /// Records the wall time of the whole run (load and write), known only at its end.
    pub fn finish(&mut self, elapsed: Duration) {
        self.elapsed_ms = elapsed.as_millis() as u64;
    }

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
