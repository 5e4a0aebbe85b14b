//! `nasdaq-cli fetch`: load, then summarise or write.

use std::process::ExitCode;

use arrow::util::pretty::pretty_format_batches;
use nasdaq_data::{DatasetOptions, DatasetReport, LoadOptions, Purpose};

use crate::args::{DatasetArgs, FetchArgs, GlobalArgs, PartitionBy};
use crate::{config, load};

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

/// Whether `--output` names a dataset rather than one file: a layout or
/// an append asked for, or an address ending in `/`.
pub(crate) fn is_dataset(output: &std::path::Path, dataset: &DatasetArgs) -> bool {
    dataset.partition_by.is_some()
        || dataset.append
        || output.to_string_lossy().ends_with('/')
        || output.is_dir()
}

/// The library's dataset options from the arguments.
pub(crate) fn dataset_options(
    load: LoadOptions,
    output: &std::path::Path,
    args: &DatasetArgs,
) -> DatasetOptions {
    DatasetOptions {
        partition_by: args
            .partition_by
            .map_or(nasdaq_data::Partitioning::None, PartitionBy::layout),
        append: args.append,
        ..DatasetOptions::new(load, output.to_string_lossy())
            .with_target_file_mib(args.target_file_size)
            .with_concurrency(args.jobs.map(usize::from))
    }
}

/// The one-line summary of a dataset write.
pub(crate) fn dataset_summary(report: &DatasetReport) -> String {
    if !report.committed {
        return format!(
            "{}: nothing new ({} source file(s) already in version {}, {} rows)",
            report.dataset, report.unchanged, report.version, report.rows
        );
    }
    format!(
        "{}: version {} committed: {} file(s) written, {} removed; {} source file(s) added, {} replaced, {} unchanged; {} rows in the dataset, in {} ms",
        report.dataset,
        report.version,
        report.files_written.len(),
        report.files_removed.len(),
        report.added.len(),
        report.replaced.len(),
        report.unchanged,
        report.rows,
        report.elapsed_ms
    )
}

pub(crate) async fn run(global: &GlobalArgs, args: FetchArgs) -> anyhow::Result<ExitCode> {
    let mut options = load::options(global, &args.load, Purpose::Fetch)?;
    if let Some(output) = args
        .output
        .as_deref()
        .filter(|o| is_dataset(o, &args.dataset))
    {
        if args.load.fallback {
            return Err(crate::exit::Usage(
                "--fallback does not apply to a dataset write: its sources are the files named, never a substitute"
                    .to_owned(),
            )
            .into());
        }
        let session = config::session(global)?;
        let report = session
            .write_dataset(&dataset_options(options, output, &args.dataset))
            .await?;
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            println!("{}", dataset_summary(&report));
        }
        return Ok(ExitCode::SUCCESS);
    }
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
