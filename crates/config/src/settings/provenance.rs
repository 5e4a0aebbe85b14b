//! Where each value came from: [`Provenance`], as `config show` prints it,
//! found through the figment metadata of the layer that set the value.

use std::path::PathBuf;

use figment::Source;

use crate::keys::{self, KEYS, KeySpec};
use crate::layers::Origin;

use super::Configured;

/// The layer that set a value, and the name it was set by there.
///
/// `Display` gives the text `config show` prints:
///
/// ```
/// use nasdaq_config::Provenance;
///
/// assert_eq!(Provenance::Flag { flag: "--region" }.to_string(), "flag --region");
/// assert_eq!(
///     Provenance::Environment { variable: "NASDAQ_TIMEOUT_SECS" }.to_string(),
///     "environment NASDAQ_TIMEOUT_SECS"
/// );
/// assert_eq!(
///     Provenance::DotEnv { path: "/srv/app/.env".into() }.to_string(),
///     ".env (/srv/app/.env)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Provenance {
    /// Nothing set it: the default.
    Default,
    /// The TOML config file.
    ConfigFile {
        /// The file, as it was opened.
        path: PathBuf,
    },
    /// A `.env` file.
    DotEnv {
        /// The file, as it was opened.
        path: PathBuf,
    },
    /// An environment variable.
    Environment {
        /// Its name: `AWS_REGION`.
        variable: &'static str,
    },
    /// A command-line flag.
    Flag {
        /// The flag: `--region`.
        flag: &'static str,
    },
    /// A keyword argument of a library call.
    Keyword {
        /// The setting's variable name: `AWS_REGION`.
        name: &'static str,
    },
    /// A provider merged by the program that embeds us, not by this crate.
    Provider {
        /// Its source if figment knows one, else its name.
        name: String,
    },
}

impl std::fmt::Display for Provenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            // figment's rendering shortens the path relative to the working directory.
            Self::ConfigFile { path } => Source::File(path.clone()).fmt(f),
            Self::DotEnv { path } => write!(f, ".env ({})", path.display()),
            Self::Environment { variable } => write!(f, "environment {variable}"),
            Self::Flag { flag } => write!(f, "flag {flag}"),
            Self::Keyword { name } => write!(f, "keyword {}", name.to_ascii_lowercase()),
            Self::Provider { name } => f.write_str(name),
        }
    }
}

impl Configured {
    /// Where the value of `spec` came from.
    pub fn provenance(&self, spec: &KeySpec) -> Provenance {
        let Some(metadata) = self.figment.find_metadata(spec.path) else {
            return Provenance::Default;
        };
        match Origin::of(metadata) {
            Some(origin) => origin.provenance(spec),
            None => Provenance::Provider {
                name: match &metadata.source {
                    Some(source) => source.to_string(),
                    None => metadata.name.to_string(),
                },
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

/// A figment value as the user wrote it: text unquoted, numbers as numbers.
pub(crate) fn value_text(value: &figment::value::Value) -> String {
    match value {
        figment::value::Value::String(_, text) => text.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// Every key with its shown value and provenance, for `config show`.
pub fn describe(configured: &Configured) -> Vec<(&'static KeySpec, Option<String>, Provenance)> {
    KEYS.iter()
        .map(|spec| {
            (
                spec,
                configured.shown_value(spec),
                configured.provenance(spec),
            )
        })
        .collect()
}
