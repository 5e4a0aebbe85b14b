//! `nasdaq-cli validate`: the quality report of a source, and its rejected rows.

use std::process::ExitCode;

use nasdaq_data::Purpose;

use crate::args::{GlobalArgs, ValidateArgs};
use crate::load;

pub(crate) async fn run(global: &GlobalArgs, args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut options = load::options(global, &args.load, Purpose::Validate)?;
    options.rejects = args.rejects.clone();
    let loaded = load::run(global, &options).await?;
    let (report, quality) = (&loaded.report, &loaded.quality);
    if args.json {
        let json = serde_json::json!({
            "source": report.source,
            "dialect": report.dialect,
            "rows_read": report.rows_read,
            "rows_kept": report.rows_kept,
            "rules": quality.rules,
            "dropped": quality.dropped,
            "failed": quality.failed,
            "rejects": args.rejects.as_ref().map(|p| p.display().to_string()),
        });
        println!("{json}");
    } else {
        let from = report.source_label.as_deref().unwrap_or(&report.source);
        println!(
            "{from}: {} rows read ({}), dialect {}",
            report.rows_read,
            report.tickers_text(),
            report.dialect
        );
        println!(
            "{:<20} {:<6} {:>8}  FIRST EXAMPLES",
            "RULE", "POLICY", "COUNT"
        );
        for rule in &quality.rules {
            println!(
                "{:<20} {:<6} {:>8}",
                rule.rule.name(),
                rule.policy.to_string(),
                rule.count
            );
            for example in &rule.examples {
                let place = match (&example.file, example.line) {
                    (Some(file), Some(line)) => format!("{file}: line {line}: "),
                    _ => String::new(),
                };
                println!(
                    "{:38}{place}{} {}: {}",
                    "", example.ticker, example.date, example.detail
                );
            }
        }
        if let Some(path) = &args.rejects {
            let count = loaded.rejects.as_ref().map_or(0, |r| r.num_rows());
            println!("Wrote {count} rejected rows to {}", path.display());
        }
        let verdict = if quality.failed {
            "FAILED: an error-policy rule fired"
        } else {
            "passed"
        };
        println!("Validation {verdict}.");
    }
    Ok(if quality.failed {
        crate::exit::Exit::Data.into()
    } else {
        ExitCode::SUCCESS
    })
}
