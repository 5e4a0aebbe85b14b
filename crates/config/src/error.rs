//! The configuration error type: every error names the key, the value and
//! where it was set, and says what to write instead.

/// A configuration result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why settings could not be read or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value is not valid for its key.
    #[error("{key}={value} (from {origin}): expected {expected}")]
    Invalid {
        /// The key as the origin names it (`USE_S3`, `--timeout`, `retry.max_retries`).
        key: String,
        /// The value as written (secrets never: shown as `(set)`).
        value: String,
        /// Where it was set.
        origin: String,
        /// What a valid value looks like.
        expected: String,
    },
    /// A key that is not a setting.
    #[error("unknown key {key} in {origin}: .env.example lists every key")]
    UnknownKey {
        /// The key as written.
        key: String,
        /// Where it was found.
        origin: String,
    },
    /// An explicitly named file does not exist.
    #[error("{path}: no such file (named by {set_by})")]
    MissingFile {
        /// The path.
        path: String,
        /// What named it: `flag --config`, `environment NASDAQ_CONFIG`.
        set_by: String,
    },
    /// A config or .env file cannot be read or parsed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong, with line and column where known.
        message: String,
    },
    /// Settings that do not fit together.
    #[error("{message}")]
    Incomplete {
        /// What is missing and how to fix it.
        message: String,
    },
    /// A source string could not be understood.
    #[error("source {source_text:?}: {reason}")]
    BadSource {
        /// The source as written.
        source_text: String,
        /// What is wrong and what to write instead.
        reason: String,
    },
    /// A local source file does not exist.
    #[error("{path}: no such file; check the path")]
    NoSuchFile {
        /// The path as given.
        path: String,
    },
    /// Opening the source failed.
    #[error(transparent)]
    Storage(#[from] nasdaq_storage::Error),
}

/// The layer a value came from and the name it has there (`--timeout`,
/// `NASDAQ_TIMEOUT_SECS`, `timeout.request_secs`).
fn origin_and_name(
    metadata: Option<&figment::Metadata>,
    profile: &figment::Profile,
    path: &[String],
) -> (String, String) {
    match metadata {
        Some(metadata) => {
            let origin = match crate::layers::Origin::of(metadata) {
                Some(origin) => origin.to_string(),
                // A provider the embedding program merged: figment's name for it.
                None => metadata.name.to_string(),
            };
            (origin, metadata.interpolate(profile, path))
        }
        None => ("settings".to_owned(), path.join(".")),
    }
}

/// A value that parsed but is out of range, named as the user wrote it.
pub(crate) fn out_of_range(
    figment: &figment::Figment,
    spec: &crate::keys::KeySpec,
    value: &str,
    expected: &str,
) -> Error {
    let path: Vec<String> = spec.path.split('.').map(str::to_owned).collect();
    let (origin, key) = origin_and_name(
        figment.find_metadata(spec.path),
        &figment::Profile::Default,
        &path,
    );
    Error::Invalid {
        key,
        value: value.to_owned(),
        origin,
        expected: expected.to_owned(),
    }
}

/// Turns figment's first error into ours, naming key, value and origin.
pub(crate) fn from_figment(err: figment::Error, figment: &figment::Figment) -> Error {
    use figment::error::Kind;
    let Some(err) = err.into_iter().next() else {
        return Error::Incomplete {
            message: "invalid settings".to_owned(),
        };
    };
    let path = err.path.join(".");
    let profile = err.profile.clone().unwrap_or_default();
    let (origin, name) = origin_and_name(err.metadata.as_ref(), &profile, &err.path);
    if let Kind::UnknownField(field, _) = &err.kind {
        let key = if path.is_empty() {
            field.clone()
        } else {
            format!("{path}.{field}")
        };
        return Error::UnknownKey { key, origin };
    }
    let spec = crate::keys::by_path(&path);
    let value = figment
        .find_value(&path)
        .ok()
        .map(|value| crate::settings::value_text(&value))
        .unwrap_or_default();
    let value = match spec {
        Some(spec) => crate::keys::redact(spec, &value),
        None => value,
    };
    let expected = match (spec, &err.kind) {
        (Some(spec), _) => spec.expected.to_owned(),
        (None, Kind::InvalidType(_, expected) | Kind::InvalidValue(_, expected)) => {
            expected.clone()
        }
        (None, other) => other.to_string(),
    };
    Error::Invalid {
        key: name,
        value,
        origin,
        expected,
    }
}
