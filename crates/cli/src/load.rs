//! One load as the commands run it: arguments become [`LoadOptions`], the
//! entry point does the rest, and the warnings a user must see are printed.

use nasdaq_data::{Fallback, LoadOptions, Loaded, Purpose, Session, cache_mode};

use crate::args::{GlobalArgs, LoadArgs};
use crate::{config, progress};

/// The load options the arguments ask for.
pub(crate) fn options(
    global: &GlobalArgs,
    args: &LoadArgs,
    purpose: Purpose,
) -> anyhow::Result<LoadOptions> {
    Ok(LoadOptions {
        source: args.source.clone(),
        glob: args.glob.clone(),
        tickers: args.tickers.clone(),
        from: args.from,
        to: args.to,
        dialect: args.dialect.clone(),
        ticker: args.ticker.clone(),
        // clap refuses both flags of each pair at once.
        fallback: Fallback::from_choice(match (args.no_fallback, args.fallback) {
            (true, _) => Some(false),
            (_, true) => Some(true),
            _ => None,
        }),
        cache_mode: cache_mode(args.offline, args.refresh)?,
        purpose,
        strict: args.strict,
        progress: progress::bar(global.quiet),
        ..LoadOptions::default()
    })
}

/// Runs the load and prints what a user must know about how it was served:
/// which sources failed, which one served instead, stale cache copies.
pub(crate) async fn run(global: &GlobalArgs, options: &LoadOptions) -> anyhow::Result<Loaded> {
    let session: Session = config::session(global)?;
    run_in(&session, global.quiet, options).await
}

/// [`run`] in a session already opened (`setup` opens its own).
pub(crate) async fn run_in(
    session: &Session,
    quiet: bool,
    options: &LoadOptions,
) -> anyhow::Result<Loaded> {
    let loaded = session.load(options).await?;
    let report = &loaded.report;
    if !report.fallbacks.is_empty() {
        // A substitution is not noise: said even with --quiet.
        eprintln!(
            "warning: served by the {}: {} ({} failed)",
            report.served_by,
            report.source,
            report
                .fallbacks
                .iter()
                .map(|f| f.role.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !quiet {
        for failure in &report.fallbacks {
            eprintln!(
                "warning: {} {} failed: {}",
                failure.role, failure.uri, failure.error
            );
        }
        for file in report.files.iter().filter(|f| f.stale_reason.is_some()) {
            eprintln!(
                "warning: STALE: {} could not be fetched ({}); using the cached copy",
                file.uri,
                file.stale_reason.as_deref().unwrap_or_default()
            );
        }
    }
    Ok(loaded)
}
