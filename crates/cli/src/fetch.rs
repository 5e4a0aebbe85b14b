//! `nasdaq-cli fetch`: load, then summarise or write.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use arrow::util::pretty::pretty_format_batches;
use nasdaq_core::{Loaded, OutputFormat, WriteOptions, write_table};

use crate::args::{FetchArgs, GlobalArgs};
use crate::load::{self, Load};

/// Rows shown by the preview.
const PREVIEW_ROWS: usize = 5;

pub(crate) async fn run(global: &GlobalArgs, args: FetchArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    if let Some(output) = &args.output {
        // Refuse a bad output name before any download.
        OutputFormat::from_path(output)?;
    }
    let Load { configured, loaded } = load::run(global, &args.load, false).await?;
    let Loaded {
        table, mut report, ..
    } = loaded;
    if let Some(output) = &args.output {
        let options = WriteOptions {
            compression: configured.settings.output.compression,
            metadata: report.metadata(),
            ..WriteOptions::default()
        };
        let path = output.clone();
        let written = table.clone();
        tokio::task::spawn_blocking(move || write_table(&written, &path, &options))
            .await
            .context("the writer stopped")??;
        report.output = Some(output.display().to_string());
    }
    report.elapsed_ms = started.elapsed().as_millis() as u64;

    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut from = report
        .source_label
        .clone()
        .unwrap_or_else(|| report.source.clone());
    if let Some(cache) = &report.cache {
        from.push_str(&format!(" (cache: {cache})"));
    }
    println!(
        "Loaded {} rows, {} tickers, {} to {} from {} in {} ms",
        report.rows,
        report.tickers,
        report.first_date.as_deref().unwrap_or("-"),
        report.last_date.as_deref().unwrap_or("-"),
        from,
        report.elapsed_ms
    );
    match &report.output {
        Some(output) => println!("Wrote {output}"),
        None if !global.quiet => {
            let head: Vec<_> = table
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
