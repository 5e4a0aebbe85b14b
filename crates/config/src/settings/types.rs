//! The typed settings: [`Settings`] and its tables, their defaults, the
//! [`Secret`] wrapper, and the [`DataSource`] the settings choose.

use std::path::PathBuf;

use figment::providers::Serialized;
use figment::value::{Dict, Map};
use figment::{Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

use nasdaq_core::{Compression, Policies};

use crate::{Error, Result};

/// A secret value: never shown by `Debug`, never logged.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Disk cache settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// Whether downloads are cached.
    #[serde(deserialize_with = "de::flag")]
    pub enabled: bool,
    /// The cache directory; `None`: the user cache directory.
    pub dir: Option<PathBuf>,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: None,
        }
    }
}

/// Retry settings of remote requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySettings {
    /// Retries of a failed request.
    pub max_retries: u32,
    /// Give up retrying after this many seconds.
    pub timeout_secs: u64,
    /// First backoff, in milliseconds; doubles each retry.
    pub backoff_ms: u64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_retries: 3,
            timeout_secs: 30,
            backoff_ms: 100,
        }
    }
}

/// Client timeouts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutSettings {
    /// Seconds allowed to connect.
    pub connect_secs: u64,
    /// Seconds allowed for one request, body included.
    pub request_secs: u64,
}

impl Default for TimeoutSettings {
    fn default() -> Self {
        Self {
            connect_secs: 5,
            request_secs: 60,
        }
    }
}

/// An optional secondary S3 source, tried when the primary fails.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecondarySettings {
    /// The replica bucket; unset: no secondary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// Its key; unset: the primary's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Its region; unset: the primary's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Its endpoint; unset: the primary's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
}

/// Output defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutputSettings {
    /// Parquet compression: `zstd`, `snappy` or `none`.
    pub compression: Compression,
    /// The zstd level, 1 to 22 (checked when the settings are extracted).
    pub zstd_level: u8,
}

impl Default for OutputSettings {
    fn default() -> Self {
        Self {
            compression: Compression::Zstd,
            zstd_level: nasdaq_core::DEFAULT_ZSTD_LEVEL,
        }
    }
}

impl OutputSettings {
    /// How a load's output is written: these settings and `metadata`.
    pub fn write_options(&self, metadata: Vec<(String, String)>) -> nasdaq_core::WriteOptions {
        nasdaq_core::WriteOptions {
            compression: self.compression,
            zstd_level: self.zstd_level,
            metadata,
            ..nasdaq_core::WriteOptions::default()
        }
    }
}

/// All settings. Field names are the Python loader's variable names,
/// lower-cased; our own settings are grouped in tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `USE_S3`: load from S3 (true) or the local file (false); unset: S3 when a bucket is set.
    #[serde(
        deserialize_with = "de::optional_flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub use_s3: Option<bool>,
    /// `AWS_S3_BUCKET_NAME`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_s3_bucket_name: Option<String>,
    /// `AWS_S3_KEY`.
    pub aws_s3_key: String,
    /// `LOCAL_FALLBACK`: the local file. `None` when not set anywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_fallback: Option<PathBuf>,
    /// `AWS_REGION`.
    pub aws_region: String,
    /// `AWS_ACCESS_KEY_ID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_access_key_id: Option<String>,
    /// `AWS_SECRET_ACCESS_KEY`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_secret_access_key: Option<Secret>,
    /// `AWS_SESSION_TOKEN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_session_token: Option<Secret>,
    /// `AWS_PROFILE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_profile: Option<String>,
    /// `AWS_SHARED_CREDENTIALS_FILE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_shared_credentials_file: Option<PathBuf>,
    /// `AWS_CONFIG_FILE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_config_file: Option<PathBuf>,
    /// `AWS_ENDPOINT_URL`: an S3-compatible endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_endpoint_url: Option<String>,
    /// `AWS_ALLOW_HTTP`.
    #[serde(deserialize_with = "de::flag")]
    pub aws_allow_http: bool,
    /// `NASDAQ_NO_SIGN_REQUEST`: anonymous requests.
    #[serde(deserialize_with = "de::flag")]
    pub no_sign_request: bool,
    /// The disk cache.
    pub cache: CacheSettings,
    /// Retries.
    pub retry: RetrySettings,
    /// Timeouts.
    pub timeout: TimeoutSettings,
    /// Output defaults.
    pub output: OutputSettings,
    /// A policy per data-quality rule.
    pub quality: Policies,
    /// The secondary source.
    pub secondary: SecondarySettings,
    /// Decoded bytes a compressed object may not exceed.
    pub max_decompressed_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            use_s3: None,
            aws_s3_bucket_name: None,
            aws_s3_key: "NASDAQ.csv".to_owned(),
            local_fallback: None,
            aws_region: "us-east-1".to_owned(),
            aws_access_key_id: None,
            aws_secret_access_key: None,
            aws_session_token: None,
            aws_profile: None,
            aws_shared_credentials_file: None,
            aws_config_file: None,
            aws_endpoint_url: None,
            aws_allow_http: false,
            no_sign_request: false,
            cache: CacheSettings::default(),
            retry: RetrySettings::default(),
            timeout: TimeoutSettings::default(),
            output: OutputSettings::default(),
            quality: Policies::default(),
            secondary: SecondarySettings::default(),
            max_decompressed_bytes: nasdaq_core::DEFAULT_MAX_DECOMPRESSED,
        }
    }
}

/// The Python loader's default local file.
pub const DEFAULT_LOCAL_FALLBACK: &str = "NASDAQ.csv";

/// Where a load's data comes from, as the settings say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    /// An S3 object.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// A local file.
    Local(PathBuf),
    /// Nothing configured: the bundled sample.
    Sample,
}

impl Settings {
    /// The local file: `LOCAL_FALLBACK`, default `NASDAQ.csv`.
    pub fn local_fallback(&self) -> PathBuf {
        self.local_fallback
            .clone()
            .unwrap_or_else(|| DEFAULT_LOCAL_FALLBACK.into())
    }

    /// Chooses the data source the way the Python loader did: `USE_S3=true`
    /// loads `AWS_S3_KEY` from the bucket, `USE_S3=false` loads
    /// `LOCAL_FALLBACK`; unset, a bucket means S3, a `LOCAL_FALLBACK` means
    /// that file, and nothing at all means the bundled sample.
    pub fn data_source(&self) -> Result<DataSource> {
        let s3 = |bucket: &String| DataSource::S3 {
            bucket: bucket.clone(),
            key: self.aws_s3_key.clone(),
        };
        match (self.use_s3, &self.aws_s3_bucket_name) {
            (Some(true), Some(bucket)) => Ok(s3(bucket)),
            (Some(true), None) => Err(Error::Incomplete {
                message: "USE_S3=true but AWS_S3_BUCKET_NAME is not set: set it in .env or the \
                          environment, or set USE_S3=false to load LOCAL_FALLBACK"
                    .to_owned(),
            }),
            (Some(false), _) => Ok(DataSource::Local(self.local_fallback())),
            (None, Some(bucket)) => Ok(s3(bucket)),
            (None, None) => Ok(match &self.local_fallback {
                Some(path) => DataSource::Local(path.clone()),
                None => DataSource::Sample,
            }),
        }
    }
}

impl Provider for Settings {
    fn metadata(&self) -> Metadata {
        Metadata::named("nasdaq-data settings")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::defaults(self).data()
    }
}

/// Flexible booleans: true/false, 1/0, yes/no, on/off.
mod de {
    use serde::{Deserialize, Deserializer, de::Error};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bool(bool),
        Int(i64),
        Text(String),
    }

    fn parse<E: Error>(raw: Raw) -> Result<bool, E> {
        match raw {
            Raw::Bool(b) => Ok(b),
            Raw::Int(1) => Ok(true),
            Raw::Int(0) => Ok(false),
            Raw::Int(n) => Err(E::custom(format!("{n}"))),
            Raw::Text(text) => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" | "" => Ok(false),
                _ => Err(E::custom(text)),
            },
        }
    }

    pub(super) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        parse(Raw::deserialize(d)?)
    }

    pub(super) fn optional_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        parse(Raw::deserialize(d)?).map(Some)
    }
}
