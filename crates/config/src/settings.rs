//! The typed settings and their layering: defaults < config file < .env <
//! environment < flags, each value remembering where it was set.

use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

use nasdaq_core::{Compression, Policies};

use crate::keys::{self, KEYS, KeySpec};
use crate::layers::{Origin, VarsLayer, read_dotenv};
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
}

impl Default for OutputSettings {
    fn default() -> Self {
        Self {
            compression: Compression::Zstd,
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

/// Where the layers come from; [`ConfigSources::from_process`] reads the
/// process environment and the working directory.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    /// The working directory (for `./nasdaq.toml` and `./.env`).
    pub cwd: PathBuf,
    /// The environment variables.
    pub environment: Vec<(String, String)>,
    /// `--config`: an explicit config file (must exist).
    pub config_file: Option<PathBuf>,
    /// `--env-file`: an explicit .env file (must exist).
    pub env_file: Option<PathBuf>,
    /// Flag values: (environment name of the key, value).
    pub flags: Vec<(&'static str, String)>,
}

impl ConfigSources {
    /// The process's working directory and environment, no flags.
    pub fn from_process() -> Self {
        Self {
            cwd: std::env::current_dir().unwrap_or_else(|_| ".".into()),
            environment: std::env::vars().collect(),
            ..Self::default()
        }
    }

    fn env(&self, name: &str) -> Option<&str> {
        self.environment
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Settings read from their layers, with the figment that knows where each came from.
#[derive(Clone)]
pub struct Configured {
    /// The effective settings.
    pub settings: Settings,
    /// The layered figment, for provenance (`find_metadata`).
    pub figment: Figment,
    /// Things the user should know (an unknown NASDAQ_ variable, a .env readable by others).
    pub warnings: Vec<String>,
    /// The config file read, if any.
    pub config_file: Option<PathBuf>,
    /// The .env file read, if any.
    pub env_file: Option<PathBuf>,
    /// AWS variables that are not settings but feed the credential chain
    /// (web identity, container, instance metadata) and `HOME`.
    pub aws_environment: Vec<(String, String)>,
}

impl std::fmt::Debug for Configured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The figment holds secrets in plain text: never print it.
        f.debug_struct("Configured")
            .field("settings", &self.settings)
            .field("warnings", &self.warnings)
            .field("config_file", &self.config_file)
            .field("env_file", &self.env_file)
            .finish_non_exhaustive()
    }
}

/// The defaults layer, named `default` in provenance.
struct Defaults;

impl Provider for Defaults {
    fn metadata(&self) -> Metadata {
        Metadata::named("default")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Settings::default().data()
    }
}

/// A figment value as the user wrote it: text unquoted, numbers as numbers.
pub(crate) fn value_text(value: &figment::value::Value) -> String {
    match value {
        figment::value::Value::String(_, text) => text.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

impl Configured {
    /// Where the value of `spec` came from, as `config show` says it.
    pub fn origin(&self, spec: &KeySpec) -> String {
        let Some(metadata) = self.figment.find_metadata(spec.path) else {
            return "default".to_owned();
        };
        let name =
            metadata.interpolate(&Profile::Default, &spec.path.split('.').collect::<Vec<_>>());
        match metadata.name.as_ref() {
            "default" => "default".to_owned(),
            "environment" => format!("environment {name}"),
            "command line" => format!("flag {name}"),
            other if other.starts_with(".env") => other.to_owned(),
            other => match &metadata.source {
                Some(source) => format!("{source}"),
                None => other.to_owned(),
            },
        }
    }

    /// The value of `spec` as it may be shown (secrets redacted), or `None` when unset.
    pub fn shown_value(&self, spec: &KeySpec) -> Option<String> {
        let value = self.figment.find_value(spec.path).ok()?;
        if matches!(value, figment::value::Value::Empty(..)) {
            return None;
        }
        Some(keys::redact(spec, &value_text(&value)))
    }
}

impl Settings {
    /// The default layering for this process: defaults, `./nasdaq.toml`
    /// (or `NASDAQ_CONFIG`), `./.env`, the environment. A service can merge
    /// its own provider on top before extracting.
    pub fn figment() -> Result<Figment> {
        Ok(Self::layered(&ConfigSources::from_process())?.0)
    }

    /// Reads settings from the layers in `sources`.
    pub fn load(sources: &ConfigSources) -> Result<Configured> {
        let (figment, warnings, config_file, env_file) = Self::layered(sources)?;
        let settings = Self::extract(&figment)?;
        let aws_environment = sources
            .environment
            .iter()
            .filter(|(name, _)| crate::open::CHAIN_VARIABLES.contains(&name.as_str()))
            .cloned()
            .collect();
        Ok(Configured {
            settings,
            figment,
            warnings,
            config_file,
            env_file,
            aws_environment,
        })
    }

    /// Extracts settings from any figment, with errors that name the key,
    /// the value and where it was set.
    pub fn extract(figment: &Figment) -> Result<Self> {
        figment
            .extract::<Settings>()
            .map_err(|err| crate::error::from_figment(err, figment))
    }

    #[allow(clippy::type_complexity, reason = "private plumbing of load()")]
    fn layered(
        sources: &ConfigSources,
    ) -> Result<(Figment, Vec<String>, Option<PathBuf>, Option<PathBuf>)> {
        let mut warnings = Vec::new();
        let mut figment = Figment::from(Defaults);

        let config_file = locate(
            sources,
            &sources.config_file,
            ("--config", "NASDAQ_CONFIG"),
            "nasdaq.toml",
        )?;
        if let Some(path) = &config_file {
            check_toml(path)?;
            figment = figment.merge(Toml::file_exact(path));
        }

        let env_file = locate(
            sources,
            &sources.env_file,
            ("--env-file", "NASDAQ_ENV_FILE"),
            ".env",
        )?;
        if let Some(path) = &env_file {
            let shown = path.display().to_string();
            let vars = read_dotenv(path).map_err(|message| Error::File {
                path: shown.clone(),
                message,
            })?;
            if let Some(warning) = permission_warning(path, &vars) {
                warnings.push(warning);
            }
            let (layer, unknown) = VarsLayer::from_vars(Origin::DotEnv(shown.clone()), vars);
            if let Some(name) = unknown.first() {
                return Err(Error::UnknownKey {
                    key: name.clone(),
                    origin: format!(".env ({shown})"),
                });
            }
            figment = figment.merge(layer);
        }

        let (environment, unknown) =
            VarsLayer::from_vars(Origin::Environment, sources.environment.iter().cloned());
        for name in unknown {
            warnings.push(format!(
                "ignoring the environment variable {name}: not a nasdaq-data setting (.env.example lists them)"
            ));
        }
        figment = figment.merge(environment);

        let flags: Vec<(&'static KeySpec, String)> = sources
            .flags
            .iter()
            .filter_map(|(env, value)| keys::by_env(env).map(|spec| (spec, value.clone())))
            .collect();
        figment = figment.merge(VarsLayer::flags(flags));
        Ok((figment, warnings, config_file, env_file))
    }
}

/// The file a layer reads: the one named by the flag, else by the variable
/// (either must exist), else `default_name` in the working directory if present.
fn locate(
    sources: &ConfigSources,
    flag: &Option<PathBuf>,
    (flag_name, var_name): (&str, &str),
    default_name: &str,
) -> Result<Option<PathBuf>> {
    let named = match (flag, sources.env(var_name)) {
        (Some(path), _) => Some((path.clone(), format!("flag {flag_name}"))),
        (None, Some(path)) if !path.is_empty() => {
            Some((path.into(), format!("environment {var_name}")))
        }
        _ => None,
    };
    match named {
        Some((path, set_by)) => {
            let path = sources.cwd.join(path);
            if !path.is_file() {
                return Err(Error::MissingFile {
                    path: path.display().to_string(),
                    set_by,
                });
            }
            Ok(Some(path))
        }
        None => Ok(Some(sources.cwd.join(default_name)).filter(|p| p.is_file())),
    }
}

/// Parses the TOML file up front, so that a syntax error names file, line and column.
fn check_toml(path: &Path) -> Result<()> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| Error::File {
        path: shown.clone(),
        message: err.to_string(),
    })?;
    Toml::string(&text)
        .data()
        .map(|_| ())
        .map_err(|err| Error::File {
            path: shown,
            message: format!("TOML syntax error: {}", err.to_string().trim()),
        })
}

/// A warning when a .env file holds a secret and others can read it.
fn permission_warning(path: &Path, vars: &[(String, String)]) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let secret = vars.iter().find(|(name, _)| keys::is_secret_env(name))?;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} holds {} and is readable by group or others (mode {mode:o}): run `chmod 600 {}`",
            path.display(),
            secret.0,
            path.display()
        )
    })
}

/// Every key with its shown value and origin, for `config show`.
pub fn describe(configured: &Configured) -> Vec<(&'static KeySpec, Option<String>, String)> {
    KEYS.iter()
        .map(|spec| (spec, configured.shown_value(spec), configured.origin(spec)))
        .collect()
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
