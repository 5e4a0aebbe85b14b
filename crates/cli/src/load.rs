//! One load as the commands run it: settings and arguments in, a `Loaded` out.

use std::collections::BTreeSet;

use nasdaq_config::{ChainOptions, Configured, DataSource, SourceSpec, describe};
use nasdaq_core::{Candidate, LoadRequest, Loaded, Loader, ParseOptions, ReadOptions, RowFilter};
use nasdaq_storage::CacheMode;
use sha2::{Digest, Sha256};

use crate::args::{GlobalArgs, LoadArgs};
use crate::{config, progress, sample};

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
    let bar = progress::bar(global.quiet);
    let options = ChainOptions {
        progress: bar.clone(),
        no_fallback: args.no_fallback,
        cache_mode: match (args.offline, args.refresh) {
            (true, _) => CacheMode::Offline,
            (_, true) => CacheMode::Refresh,
            _ => CacheMode::Normal,
        },
    };
    let (chain, key, credentials) = configured.chain(&wanted, &options).await?;
    let (chain, key, label) = if chain.is_empty() {
        let candidate = Candidate {
            source: sample::source().await?,
            key: None,
            role: "bundled sample".to_owned(),
        };
        let label = Some(format!("bundled sample ({})", sample::SAMPLE_PATH));
        (vec![candidate], sample::SAMPLE_KEY.to_owned(), label)
    } else {
        (chain, key, None)
    };
    if let Some(credentials) = &credentials {
        tracing::info!(%credentials, "credentials");
    }
    tracing::info!(%key, sources = chain.len(), "loading");
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
    let read_options = ReadOptions {
        max_decompressed: configured.settings.max_decompressed_bytes,
        progress: bar,
        ..ReadOptions::default()
    };
    let mut loaded = Loader::chain(chain)
        .with_read_options(read_options)
        .load(&request)
        .await?;
    if !global.quiet {
        for failure in &loaded.report.fallbacks {
            eprintln!(
                "warning: {} {} failed: {}",
                failure.role, failure.uri, failure.error
            );
        }
        if !loaded.report.fallbacks.is_empty() {
            eprintln!(
                "warning: served by the {}: {}",
                loaded.report.served_by, loaded.report.source
            );
        }
        for file in loaded
            .report
            .files
            .iter()
            .filter(|f| f.stale_reason.is_some())
        {
            eprintln!(
                "warning: STALE: {} could not be fetched ({}); using the cached copy",
                file.uri,
                file.stale_reason.as_deref().unwrap_or_default()
            );
        }
    }
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
