//! The entry point's error: whichever layer failed, kept whole, so callers
//! can ask it what happened and front ends can add their own hints.

/// A result of the entry point.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The settings could not be read, or do not fit together.
    #[error(transparent)]
    Config(#[from] nasdaq_config::Error),
    /// The load itself failed: a source, the data, or the write.
    #[error(transparent)]
    Load(#[from] nasdaq_core::Error),
    /// A storage operation outside a load (listing, opening a location).
    #[error(transparent)]
    Storage(#[from] nasdaq_storage::Error),
    /// A location that is not of the kind the operation needs.
    #[error("{location}: {reason}")]
    BadTarget {
        /// The location as given.
        location: String,
        /// What was expected.
        reason: String,
    },
    /// The output would overwrite a file the load read.
    #[error(
        "{output}: this is an input of the load ({input}); writing it would destroy the data, so nothing was written: choose another output path"
    )]
    OutputIsInput {
        /// The output path as given.
        output: std::path::PathBuf,
        /// The input's address.
        input: String,
    },
    /// A (date, ticker) pair is in two source objects of a dataset.
    #[error(
        "{date} {ticker} is in both {first} and {second}: a dataset holds one row per (date, ticker), so nothing was committed; remove the pair from one of them, or write them to separate datasets"
    )]
    HeldTwice {
        /// The date, `YYYY-MM-DD`.
        date: String,
        /// The ticker.
        ticker: String,
        /// The source (or dataset source) that holds it already.
        first: String,
        /// The source that brings it again.
        second: String,
    },
    /// Other writers kept committing first.
    #[error(
        "{dataset}: other writers committed a new version first, {attempts} times in a row; nothing of this run was committed; run it again"
    )]
    Conflict {
        /// The dataset's address.
        dataset: String,
        /// Runs tried.
        attempts: u32,
    },
    /// A worker stopped unexpectedly (a bug).
    #[error("internal error: {message}")]
    Internal {
        /// What happened.
        message: String,
    },
}

impl Error {
    /// The storage error underneath, if a source failed.
    pub fn storage(&self) -> Option<&nasdaq_storage::Error> {
        match self {
            Self::Storage(err) => Some(err),
            Self::Load(err) => err.storage(),
            Self::Config(nasdaq_config::Error::Storage(err)) => Some(err),
            _ => None,
        }
    }

    /// The engine's error, if the load failed there.
    pub fn load(&self) -> Option<&nasdaq_core::Error> {
        match self {
            Self::Load(err) => Some(err),
            _ => None,
        }
    }

    /// The configuration error, if the settings were at fault.
    pub fn config(&self) -> Option<&nasdaq_config::Error> {
        match self {
            Self::Config(err) => Some(err),
            _ => None,
        }
    }
}
