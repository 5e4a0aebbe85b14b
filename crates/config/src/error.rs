//! The configuration error type.

/// A configuration result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why settings could not be read or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A source string could not be understood.
    #[error("source {source_text:?}: {reason}")]
    BadSource {
        /// The source as written.
        source_text: String,
        /// What is wrong and what to write instead.
        reason: String,
    },
    /// A local source file does not exist.
    #[error(
        "{path}: no such file; check the path, or run `nasdaq-cli fetch` without a source to load the bundled sample"
    )]
    NoSuchFile {
        /// The path as given.
        path: String,
    },
    /// Opening the source failed.
    #[error(transparent)]
    Storage(#[from] nasdaq_storage::Error),
}
