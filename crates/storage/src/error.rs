//! The storage error type: each variant says what the caller can do about it.

/// A storage result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object does not exist.
    #[error(
        "{uri} not found: check the key (and bucket), or list what exists with `nasdaq-cli ls`"
    )]
    NotFound {
        /// The full address of the missing object.
        uri: String,
    },
    /// A conditional get matched the given ETag: the caller's copy is current.
    #[error("{uri} not modified since the cached copy")]
    NotModified {
        /// The full address of the object.
        uri: String,
    },
    /// The credentials were refused or lack a permission.
    #[error("access to {uri} denied: {reason}")]
    AccessDenied {
        /// The full address of the object or bucket.
        uri: String,
        /// What the server said, without any secret.
        reason: String,
    },
    /// An object with different content already exists and overwriting was not allowed.
    #[error("{uri} already exists with different content: pass --force to overwrite it")]
    AlreadyExists {
        /// The full address of the object.
        uri: String,
    },
    /// The key cannot be used as an object path.
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Reading or writing a local file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Any other failure of the backend (network, server error after retries, ...).
    #[error("{uri}: {message}")]
    Backend {
        /// The full address of the object or bucket.
        uri: String,
        /// What went wrong, without any secret.
        message: String,
    },
}

impl Error {
    /// Turns an `object_store` error into ours, naming the object by `uri`.
    pub(crate) fn from_object_store(err: object_store::Error, uri: String) -> Self {
        use object_store::Error as E;
        match err {
            E::NotFound { .. } => Self::NotFound { uri },
            E::NotModified { .. } => Self::NotModified { uri },
            E::AlreadyExists { .. } | E::Precondition { .. } => Self::AlreadyExists { uri },
            E::PermissionDenied { source, .. } | E::Unauthenticated { source, .. } => {
                Self::AccessDenied {
                    uri,
                    reason: source.to_string(),
                }
            }
            E::InvalidPath { source } => Self::InvalidKey {
                key: uri,
                reason: source.to_string(),
            },
            other => Self::Backend {
                uri,
                message: error_chain(&other),
            },
        }
    }
}

/// Joins an error and its sources with `: `, the way `anyhow` prints `{:#}`.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}
