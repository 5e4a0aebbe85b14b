//! How a failure is printed: the library's message with its causes, plus
//! the hint that names a flag or command of this CLI. The libraries say
//! what went wrong in their own terms; only here do we know the flags.

use nasdaq_core::Error as CoreError;
use nasdaq_storage::Error as StorageError;

/// The error with its causes on one line, then the CLI's hint, if any.
pub(crate) fn render(err: &anyhow::Error) -> String {
    let root: &(dyn std::error::Error + 'static) = err.as_ref();
    let mut line = nasdaq_storage::error_chain(root);
    if let Some(hint) = hint(err) {
        line.push_str("; ");
        line.push_str(hint);
    }
    line
}

/// The flag or command that fixes `err`, when there is one.
fn hint(err: &anyhow::Error) -> Option<&'static str> {
    for cause in err.chain() {
        if let Some(err) = cause.downcast_ref::<nasdaq_data::Error>() {
            let hint = match err {
                nasdaq_data::Error::Load(err) => core_hint(err),
                nasdaq_data::Error::Storage(err) => storage_hint(err),
                nasdaq_data::Error::Config(err) => config_hint(err),
                nasdaq_data::Error::HeldTwice { .. } => Some(
                    "exclude one of the two files with --glob, or write the other to its own dataset",
                ),
                nasdaq_data::Error::Conflict { .. } => {
                    Some("run the same command again: it appends to the new version")
                }
                _ => None,
            };
            if hint.is_some() {
                return hint;
            }
        }
        if let Some(hint) = cause.downcast_ref::<CoreError>().and_then(core_hint) {
            return Some(hint);
        }
        if let Some(hint) = cause.downcast_ref::<StorageError>().and_then(storage_hint) {
            return Some(hint);
        }
        if let Some(hint) = cause
            .downcast_ref::<nasdaq_config::Error>()
            .and_then(config_hint)
        {
            return Some(hint);
        }
    }
    None
}

fn core_hint(err: &CoreError) -> Option<&'static str> {
    match err {
        CoreError::Quality { .. } => Some(
            "run `nasdaq-cli validate` for the full report, or set the rule's policy with \
             NASDAQ_QUALITY_<RULE> or [quality] in nasdaq.toml",
        ),
        CoreError::NoTicker { .. } => Some("pass --ticker SYMBOL for a one-ticker file"),
        CoreError::BadGlob { .. } | CoreError::NoFiles { .. } => {
            Some("check --glob, or list the prefix with `nasdaq-cli ls`")
        }
        CoreError::UnknownDialect { .. } => Some("pass one of them to --dialect"),
        CoreError::DatasetFileChanged { .. } | CoreError::BadManifest { .. } => Some(
            "write the dataset again from its sources, without --append: nasdaq-cli fetch SOURCE --output DATASET",
        ),
        CoreError::Storage(err) => storage_hint(err),
        // The primary's failure is the one to fix; a missing fallback file
        // only says the fallback could not help.
        CoreError::AllSourcesFailed { primary, .. } => core_hint(primary),
        _ => None,
    }
}

fn storage_hint(err: &StorageError) -> Option<&'static str> {
    match err {
        StorageError::NotFound { .. } => Some("list what exists with `nasdaq-cli ls`"),
        StorageError::AlreadyExists { .. } => Some("pass --force to overwrite it"),
        StorageError::NotCached { .. } => Some("run once without --offline to fetch it"),
        StorageError::WrongRegion { .. } => Some("or pass --region REGION"),
        StorageError::PlainHttp { .. } => Some("or pass --allow-http"),
        StorageError::NotACache { .. } => Some("or pass --cache-dir DIR"),
        StorageError::NoCredentials { .. } => Some("for a public bucket, pass --no-sign-request"),
        StorageError::Unavailable { cause, .. } => cause
            .downcast_ref::<StorageError>()
            .and_then(storage_hint)
            .or_else(|| {
                cause
                    .downcast_ref::<nasdaq_config::Error>()
                    .and_then(config_hint)
            }),
        _ => None,
    }
}

fn config_hint(err: &nasdaq_config::Error) -> Option<&'static str> {
    match err {
        nasdaq_config::Error::UnknownKey { .. } => Some("`nasdaq-cli config show` lists every key"),
        nasdaq_config::Error::NoSuchFile { .. } => {
            Some("run `nasdaq-cli fetch` without a source to load the bundled sample")
        }
        nasdaq_config::Error::Storage(err) => storage_hint(err),
        _ => None,
    }
}
