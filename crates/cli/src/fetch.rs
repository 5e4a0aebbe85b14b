//! `nasdaq-cli fetch`: load, then summarise or write.

use std::process::ExitCode;

use arrow::util::pretty::pretty_format_batches;
use nasdaq_data::Purpose;

use crate::args::{FetchArgs, GlobalArgs};
use crate::load;

/// Rows shown by the preview.
const PREVIEW_ROWS: usize = 5;

/// The one-line summary of a load: rows, tickers, dates, where from.
pub(crate) fn summary(report: &nasdaq_data::LoadReport) -> String {
    let mut from = report
        .source_label
        .clone()
        .unwrap_or_else(|| report.source.clone());
    if let Some(cache) = &report.cache {
        from.push_str(&format!(" (cache: {cache})"));
    }
    format!(
        "Loaded {} rows, {} tickers, {} to {} from {} in {} ms",
        report.rows,
        report.tickers,
        report.first_date.as_deref().unwrap_or("-"),
        report.last_date.as_deref().unwrap_or("-"),
        from,
        report.elapsed_ms
    )
}

pub(crate) async fn run(global: &GlobalArgs, args: FetchArgs) -> anyhow::Result<ExitCode> {
    let mut options = load::options(global, &args.load, Purpose::Fetch)?;
    options.output = args.output.clone();
    let loaded = load::run(global, &options).await?;
    let report = &loaded.report;
    if args.json {
        println!("{}", serde_json::to_string(report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", summary(report));
    match &report.output {
        Some(output) => println!("Wrote {output}"),
        None if !global.quiet => {
            let head: Vec<_> = loaded
                .table
                .batches
                .first()
                .map(|b| b.slice(0, PREVIEW_ROWS.min(b.num_rows())))
                .into_iter()
                .collect();
            println!("{}", pretty_format_batches(&head)?);
        }
        None => {}
    }
    Ok(ExitCode::SUCCESS)
}
