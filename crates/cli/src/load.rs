//! One load as the commands run it: settings and arguments in, a `Loaded` out.

use std::collections::BTreeSet;

use nasdaq_config::{Configured, DataSource, SourceSpec, describe};
use nasdaq_core::{LoadRequest, Loaded, Loader, ParseOptions, RowFilter};
use sha2::{Digest, Sha256};

use crate::args::{GlobalArgs, LoadArgs};
use crate::{config, sample};

/// A finished load, with the settings it ran under.
pub(crate) struct Load {
    pub(crate) configured: Configured,
    pub(crate) loaded: Loaded,
}

/// Loads what the arguments (or else the settings) name.
/// `fetch` fails on error-policy rules; `validate` reports them.
pub(crate) async fn run(
    global: &GlobalArgs,
    args: &LoadArgs,
    validating: bool,
) -> anyhow::Result<Load> {
    let configured = config::load(global)?;
    let wanted = match &args.source {
        Some(text) => match SourceSpec::parse(text)? {
            SourceSpec::File { path } => DataSource::Local(path),
            SourceSpec::S3 { bucket, key } => DataSource::S3 { bucket, key },
        },
        None => configured.settings.data_source()?,
    };
    let (source, key, label, credentials) = match configured.open(&wanted).await? {
        Some(opened) => (opened.source, opened.key, None, opened.credentials),
        None => (
            sample::source().await?,
            sample::SAMPLE_KEY.to_owned(),
            Some(format!("bundled sample ({})", sample::SAMPLE_PATH)),
            None,
        ),
    };
    if let Some(credentials) = &credentials {
        tracing::info!(%credentials, "credentials");
    }
    tracing::info!(%source, %key, "loading");
    let tickers: BTreeSet<String> = args
        .tickers
        .iter()
        .map(|t| t.trim().to_ascii_uppercase())
        .filter(|t| !t.is_empty())
        .collect();
    let request = LoadRequest {
        glob: args.glob.clone(),
        parse: ParseOptions {
            dialect: args.dialect.clone(),
            ticker: args.ticker.clone(),
            filter: RowFilter {
                tickers: (!tickers.is_empty()).then_some(tickers),
                from: args.from,
                to: args.to,
            },
        },
        policies: configured.settings.quality.clone(),
        fail_on_error_rules: !validating,
        collect_rejects: validating,
        ..LoadRequest::new(key)
    };
    let mut loaded = Loader::new(source).load(&request).await?;
    loaded.report.source_label = label;
    loaded.report.credentials = credentials.map(|c| c.to_string());
    loaded.report.settings_hash = Some(settings_hash(&configured));
    Ok(Load { configured, loaded })
}

/// SHA-256 of every effective setting as `config show` prints it: secrets
/// appear only as set/unset, so the hash reveals nothing.
fn settings_hash(configured: &Configured) -> String {
    let mut hasher = Sha256::new();
    for (spec, value, _) in describe(configured) {
        hasher.update(format!("{}={}\n", spec.env, value.unwrap_or_default()));
    }
    hex::encode(hasher.finalize())
}
