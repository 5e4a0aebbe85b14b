//! Figment providers for variables: the environment, a `.env` file, and
//! command-line flags. All three map names to settings keys through
//! [`crate::keys::KEYS`], so each value knows the exact name it was set by.

use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};

use crate::keys::{self, KeySpec};

/// Where a layer of variables came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The process environment.
    Environment,
    /// A `.env` file at this path.
    DotEnv(String),
    /// Command-line flags.
    Flags,
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

    /// Flag values, by settings path.
    pub(crate) fn flags(values: Vec<(&'static KeySpec, String)>) -> Self {
        Self {
            origin: Origin::Flags,
            entries: values,
        }
    }
}

/// NASDAQ_ variables that are not settings keys.
const IGNORED: &[&str] = &["NASDAQ_CONFIG", "NASDAQ_ENV_FILE"];

impl Provider for VarsLayer {
    fn metadata(&self) -> Metadata {
        let (name, origin) = match &self.origin {
            Origin::Environment => ("environment".to_owned(), self.origin.clone()),
            Origin::DotEnv(path) => (format!(".env ({path})"), self.origin.clone()),
            Origin::Flags => ("command line".to_owned(), self.origin.clone()),
        };
        Metadata::named(name).interpolater(move |_: &Profile, path: &[&str]| {
            let path = path.join(".");
            match keys::by_path(&path) {
                Some(spec) if origin == Origin::Flags => spec.flag.unwrap_or(spec.env).to_owned(),
                Some(spec) => spec.env.to_owned(),
                None => path,
            }
        })
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

/// Reads a `.env` file into (name, value) pairs, in file order.
pub(crate) fn read_dotenv(path: &std::path::Path) -> Result<Vec<(String, String)>, String> {
    let iter = dotenvy::from_path_iter(path).map_err(|e| e.to_string())?;
    let mut vars = Vec::new();
    for (index, item) in iter.enumerate() {
        match item {
            Ok(pair) => vars.push(pair),
            Err(dotenvy::Error::LineParse(line, column)) => {
                return Err(format!(
                    "cannot parse {line:?} at character {column}: expected NAME=value"
                ));
            }
            Err(err) => return Err(format!("entry {}: {err}", index + 1)),
        }
    }
    Ok(vars)
}
