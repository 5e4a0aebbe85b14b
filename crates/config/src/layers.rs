//! Figment providers for variables: the environment, a `.env` file, and
//! command-line flags. All three map names to settings keys through
//! [`crate::keys::KEYS`], so each value knows the exact name it was set by.
//!
//! [`Origin`] names every layer the loader merges; its figment metadata is
//! written here, and read back by [`Origin::of`], so that provenance and
//! error messages work from the typed origin, never from parsed names.

use std::path::PathBuf;

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider, Source};

use crate::keys::{self, KeySpec};
use crate::settings::Provenance;

/// Where a layer of the default layering came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// [`crate::Settings::default()`].
    Defaults,
    /// A TOML config file at this path.
    ConfigFile(PathBuf),
    /// A `.env` file at this path.
    DotEnv(PathBuf),
    /// The process environment.
    Environment,
    /// Command-line flags.
    Flags,
    /// Keyword arguments of a library call (the Python package).
    Keywords,
}

impl Origin {
    /// The figment metadata of this origin's layer.
    pub(crate) fn metadata(&self) -> Metadata {
        let metadata = match self {
            Self::Defaults => return Metadata::named("default"),
            // figment's own TOML provider reads the file and names its layer.
            Self::ConfigFile(path) => return Toml::file_exact(path).metadata(),
            // The source lets `Origin::of` recover the path without reading the name.
            Self::DotEnv(path) => {
                Metadata::from(format!(".env ({})", path.display()), path.as_path())
            }
            Self::Environment => Metadata::named("environment"),
            Self::Flags => Metadata::named("command line"),
            Self::Keywords => Metadata::named("keyword arguments"),
        };
        let origin = self.clone();
        metadata.interpolater(move |_: &Profile, path: &[&str]| {
            let path = path.join(".");
            match keys::by_path(&path) {
                Some(spec) => origin.key_name(spec).to_owned(),
                None => path,
            }
        })
    }

    /// The origin of a layer this crate merged, recognised by its metadata;
    /// `None` for a provider someone else merged.
    pub(crate) fn of(metadata: &Metadata) -> Option<Self> {
        let candidates = match &metadata.source {
            Some(Source::File(path)) => {
                vec![Self::ConfigFile(path.clone()), Self::DotEnv(path.clone())]
            }
            _ => vec![
                Self::Defaults,
                Self::Environment,
                Self::Flags,
                Self::Keywords,
            ],
        };
        // figment compares metadata by name and source.
        candidates
            .into_iter()
            .find(|origin| origin.metadata() == *metadata)
    }

    /// The name `spec` has in this layer: `NASDAQ_TIMEOUT_SECS`, `--timeout`.
    pub(crate) fn key_name(&self, spec: &KeySpec) -> &'static str {
        match self {
            Self::Defaults | Self::ConfigFile(_) => spec.path,
            // Keywords are matched case-insensitively; the variable names them.
            Self::DotEnv(_) | Self::Environment | Self::Keywords => spec.env,
            // A key without a flag of its own can still arrive as a flag value.
            Self::Flags => spec.flag.unwrap_or(spec.env),
        }
    }

    /// Where this layer says `spec` was set.
    pub(crate) fn provenance(&self, spec: &KeySpec) -> Provenance {
        match self {
            Self::Defaults => Provenance::Default,
            Self::ConfigFile(path) => Provenance::ConfigFile { path: path.clone() },
            Self::DotEnv(path) => Provenance::DotEnv { path: path.clone() },
            Self::Environment => Provenance::Environment {
                variable: self.key_name(spec),
            },
            Self::Flags => Provenance::Flag {
                flag: self.key_name(spec),
            },
            Self::Keywords => Provenance::Keyword {
                name: self.key_name(spec),
            },
        }
    }
}

/// The layer as error messages name it: `environment`, `command line`,
/// `.env (/path/.env)`, the config file's path.
impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Defaults => Provenance::Default.fmt(f),
            Self::ConfigFile(path) => Provenance::ConfigFile { path: path.clone() }.fmt(f),
            Self::DotEnv(path) => Provenance::DotEnv { path: path.clone() }.fmt(f),
            Self::Environment => f.write_str("environment"),
            Self::Flags => f.write_str("command line"),
            Self::Keywords => f.write_str("keyword arguments"),
        }
    }
}

/// A set of (key, value) pairs from one origin.
#[derive(Debug, Clone)]
pub(crate) struct VarsLayer {
    origin: Origin,
    entries: Vec<(&'static KeySpec, String)>,
}

impl VarsLayer {
    /// Keeps the variables that name settings; returns the others' names.
    pub(crate) fn from_vars(
        origin: Origin,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> (Self, Vec<String>) {
        let mut entries = Vec::new();
        let mut unknown = Vec::new();
        for (name, value) in vars {
            match keys::by_env(&name) {
                Some(spec) => entries.push((spec, value)),
                None if name.starts_with("NASDAQ_") && !IGNORED.contains(&name.as_str()) => {
                    unknown.push(name)
                }
                None => {}
            }
        }
        (Self { origin, entries }, unknown)
    }

    /// Override values (flags or keyword arguments), by settings path.
    pub(crate) fn overrides(origin: Origin, values: Vec<(&'static KeySpec, String)>) -> Self {
        Self {
            origin,
            entries: values,
        }
    }
}

/// NASDAQ_ variables that are not settings keys.
const IGNORED: &[&str] = &["NASDAQ_CONFIG", "NASDAQ_ENV_FILE"];

impl Provider for VarsLayer {
    fn metadata(&self) -> Metadata {
        self.origin.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        for (spec, value) in &self.entries {
            insert(&mut root, spec.path, typed(spec, value));
        }
        Ok(Profile::Default.collect(root))
    }
}

/// Numbers and booleans where the key expects them, so that figment
/// reports a bad one as a bad value of that key; everything else as text.
fn typed(spec: &KeySpec, text: &str) -> Value {
    let trimmed = text.trim();
    if spec.expected.contains("whole number")
        && let Ok(n) = trimmed.parse::<i64>()
    {
        return Value::from(n);
    }
    Value::from(trimmed.to_owned())
}

fn insert(dict: &mut Dict, path: &str, value: Value) {
    match path.split_once('.') {
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            }
        }
        None => {
            dict.insert(path.to_owned(), value);
        }
    }
}

/// Reads a `.env` file into (name, value) pairs, in file order, as the
/// settings read it; a line that does not parse is named by its key only
/// (its value may be a secret). For front ends that edit a `.env`.
pub fn read_env_file(path: &std::path::Path) -> crate::Result<Vec<(String, String)>> {
    read_dotenv(path).map_err(|message| crate::Error::File {
        path: path.display().to_string(),
        message,
    })
}

/// Reads a `.env` file into (name, value) pairs, in file order.
pub(crate) fn read_dotenv(path: &std::path::Path) -> Result<Vec<(String, String)>, String> {
    let iter = dotenvy::from_path_iter(path).map_err(|e| e.to_string())?;
    let mut vars = Vec::new();
    for (index, item) in iter.enumerate() {
        match item {
            Ok(pair) => vars.push(pair),
            Err(dotenvy::Error::LineParse(fragment, column)) => {
                // The value may be a secret, and what dotenvy reports may be
                // (part of) it: find the file's line and name it by number
                // and key only.
                let text = std::fs::read_to_string(path).unwrap_or_default();
                let first = fragment.lines().next().unwrap_or_default();
                let found = text
                    .lines()
                    .enumerate()
                    .find(|(_, raw)| !first.is_empty() && raw.contains(first));
                return Err(match found {
                    Some((number, raw)) => {
                        let name: String = raw
                            .trim_start()
                            .trim_start_matches("export")
                            .trim_start()
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        format!(
                            "line {}: cannot parse the line for {name:?}: expected NAME=value, \
                             with quotes around a value that has spaces (the value is not shown)",
                            number + 1
                        )
                    }
                    None => format!(
                        "cannot parse a line (at character {column}): expected NAME=value, with \
                         quotes around a value that has spaces (the value is not shown)"
                    ),
                });
            }
            Err(err) => return Err(format!("entry {}: {err}", index + 1)),
        }
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_origin_is_recognised_by_its_own_metadata() {
        for origin in [
            Origin::Defaults,
            Origin::ConfigFile("/srv/app/nasdaq.toml".into()),
            Origin::DotEnv("/srv/app/.env".into()),
            Origin::Environment,
            Origin::Flags,
            Origin::Keywords,
        ] {
            assert_eq!(Origin::of(&origin.metadata()), Some(origin));
        }
        assert_eq!(Origin::of(&Metadata::named("nasdaq-data settings")), None);
    }
}
