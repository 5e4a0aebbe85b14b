//! Exit codes: one per kind of failure, so a script can tell a bad file
//! from a network outage from a typo in `.env` without reading stderr.
//! The table below is the single list: `--help` prints it, the man page
//! carries it, and `classify` is the only place an error becomes a code.

use std::process::ExitCode;

use nasdaq_core::Error as CoreError;
use nasdaq_storage::Error as StorageError;

/// A failure kind and its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Anything not listed below (an output that cannot be written, a bug).
    Other = 1,
    /// The command line is wrong (clap's own code for a usage error).
    Usage = 2,
    /// The data failed a check: malformed rows, a quality rule set to
    /// error, a checksum that does not match, an unsound cache entry.
    Data = 3,
    /// The source could not be read: not found, access denied, network,
    /// timeouts, a failed connection test.
    Source = 4,
    /// The configuration is wrong or incomplete: a bad value, an unknown
    /// key, a profile that does not exist, no credentials.
    Config = 5,
    /// Interrupted by SIGINT (Ctrl-C); nothing was written.
    Interrupted = 130,
    /// Stopped by SIGTERM; nothing was written.
    Terminated = 143,
}

/// Every code, in order, with what it means: the documented table.
pub(crate) const ALL: [Exit; 7] = [
    Exit::Other,
    Exit::Usage,
    Exit::Data,
    Exit::Source,
    Exit::Config,
    Exit::Interrupted,
    Exit::Terminated,
];

impl Exit {
    /// The number the process exits with.
    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    /// One line on when it happens.
    pub(crate) fn meaning(self) -> &'static str {
        match self {
            Exit::Other => "other failure (an output that cannot be written, an internal error)",
            Exit::Usage => {
                "usage error: unknown flag, bad argument or output format, output that is an input"
            }
            Exit::Data => {
                "data failure: malformed or rejected rows, a failed checksum, an unsound cache entry"
            }
            Exit::Source => {
                "source failure: not found, access denied, object exists, network, timeout, failed connection test"
            }
            Exit::Config => {
                "configuration error: bad or unknown setting, missing profile, no credentials"
            }
            Exit::Interrupted => "interrupted (SIGINT, Ctrl-C); nothing was written",
            Exit::Terminated => "terminated (SIGTERM); nothing was written",
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// The table as `--help` shows it after each command's options.
pub(crate) fn help_table() -> String {
    let mut text = String::from("Exit codes:\n");
    text.push_str("    0  success\n");
    for exit in ALL {
        text.push_str(&format!("  {:>3}  {}\n", exit.code(), exit.meaning()));
    }
    text
}

/// A command line that cannot work, found after parsing (clap reports its own).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Usage(pub(crate) String);

/// The user stopped an interactive command.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct Stopped {
    /// How it was stopped.
    pub(crate) exit: Exit,
    /// What was and was not written.
    pub(crate) message: String,
}

/// The code for a failed command.
pub(crate) fn classify(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if cause.is::<Usage>() {
            return Exit::Usage;
        }
        if let Some(stopped) = cause.downcast_ref::<Stopped>() {
            return stopped.exit;
        }
        if let Some(err) = cause.downcast_ref::<nasdaq_data::Error>() {
            return data_exit(err);
        }
        if let Some(err) = cause.downcast_ref::<CoreError>() {
            return core_exit(err);
        }
        if let Some(err) = cause.downcast_ref::<StorageError>() {
            return storage_exit(err);
        }
        if let Some(err) = cause.downcast_ref::<nasdaq_config::Error>() {
            return config_exit(err);
        }
    }
    Exit::Other
}

fn data_exit(err: &nasdaq_data::Error) -> Exit {
    match err {
        nasdaq_data::Error::Config(err) => config_exit(err),
        nasdaq_data::Error::Load(err) => core_exit(err),
        nasdaq_data::Error::Storage(err) => storage_exit(err),
        nasdaq_data::Error::BadTarget { .. } | nasdaq_data::Error::OutputIsInput { .. } => {
            Exit::Usage
        }
        nasdaq_data::Error::HeldTwice { .. } => Exit::Data,
        // Another writer's doing, like a busy server: run again.
        nasdaq_data::Error::Conflict { .. } => Exit::Source,
        _ => Exit::Other,
    }
}

fn core_exit(err: &CoreError) -> Exit {
    match err {
        CoreError::Storage(err) => storage_exit(err),
        CoreError::AllSourcesFailed { primary, .. } => core_exit(primary),
        CoreError::BadGlob { .. }
        | CoreError::UnknownDialect { .. }
        | CoreError::UnknownFormat { .. } => Exit::Usage,
        CoreError::NoFiles { .. } => Exit::Source,
        CoreError::Empty { .. }
        | CoreError::NoRows { .. }
        | CoreError::NotCsv { .. }
        | CoreError::MissingColumns { .. }
        | CoreError::NoTicker { .. }
        | CoreError::Unsupported { .. }
        | CoreError::Value { .. }
        | CoreError::FieldCount { .. }
        | CoreError::LineTooLong { .. }
        | CoreError::Quality { .. }
        | CoreError::Checksum { .. }
        | CoreError::CorruptStream { .. }
        | CoreError::TooLarge { .. }
        | CoreError::BadManifest { .. }
        | CoreError::BadDataFile { .. }
        | CoreError::DatasetFileChanged { .. } => Exit::Data,
        _ => Exit::Other,
    }
}

fn storage_exit(err: &StorageError) -> Exit {
    match err {
        StorageError::Credentials { .. }
        | StorageError::NoCredentials { .. }
        | StorageError::Config { .. }
        | StorageError::PlainHttp { .. }
        | StorageError::NotACache { .. } => Exit::Config,
        StorageError::InvalidKey { .. } => Exit::Usage,
        // The bytes are not what the server (or our metadata) says they are.
        StorageError::Checksum { .. } | StorageError::ServerChecksum { .. } => Exit::Data,
        StorageError::Unavailable { cause, .. } => {
            if let Some(err) = cause.downcast_ref::<StorageError>() {
                storage_exit(err)
            } else if let Some(err) = cause.downcast_ref::<nasdaq_config::Error>() {
                config_exit(err)
            } else {
                Exit::Source
            }
        }
        _ => Exit::Source,
    }
}

fn config_exit(err: &nasdaq_config::Error) -> Exit {
    match err {
        nasdaq_config::Error::Storage(err) => storage_exit(err),
        nasdaq_config::Error::NoSuchFile { .. } => Exit::Source,
        _ => Exit::Config,
    }
}

/// A command's `--help` epilogue: its examples, then the exit codes.
pub(crate) fn after_help(examples: &str) -> String {
    format!("{examples}\n\n{}", help_table())
}
