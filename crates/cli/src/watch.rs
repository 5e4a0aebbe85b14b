//! `nasdaq-cli watch`: poll a source prefix and append what is new to a
//! Parquet dataset, until told to stop.
//!
//! The old project's "S3 event triggers for data updates", done by polling:
//! each round is the same append as `fetch --append`, so an S3 event, a
//! scheduled job or cron can run that command instead.

use std::process::ExitCode;

use nasdaq_data::Purpose;

use crate::args::{GlobalArgs, WatchArgs};
use crate::fetch::{dataset_options, dataset_summary};
use crate::{Signals, config, load};

pub(crate) async fn run(global: &GlobalArgs, args: WatchArgs) -> anyhow::Result<ExitCode> {
    // Our own handlers: a signal ends the watch as a success, between
    // rounds or by dropping an unfinished one (it commits nothing).
    let mut signals = Signals::listen();
    let session = config::session(global)?;
    let mut dataset = args.dataset;
    dataset.append = true;
    let mut round = 0u64;
    let mut last_version = None;
    loop {
        round += 1;
        let options = load::options(global, &args.load, Purpose::Fetch)?;
        let options = dataset_options(options, &args.output, &dataset);
        let outcome = tokio::select! {
            biased;
            stop = signals.next() => Err(stop),
            report = session.write_dataset(&options) => Ok(report),
        };
        match outcome {
            Err(stop) => {
                eprintln!(
                    "stopped by {} during round {round}; a round stopped before its commit commits nothing and removes its files",
                    stop.name
                );
                return Ok(ExitCode::SUCCESS);
            }
            Ok(Ok(report)) => {
                last_version = Some(report.version);
                if args.json {
                    println!("{}", serde_json::to_string(&report)?);
                } else if report.committed || !global.quiet {
                    println!("{}", dataset_summary(&report));
                }
            }
            // A source or network failure is worth another round; a data or
            // configuration error would fail the same way every time.
            Ok(Err(err)) => {
                let err = anyhow::Error::from(err);
                if crate::exit::classify(&err) != crate::exit::Exit::Source {
                    return Err(err);
                }
                eprintln!(
                    "warning: round {round} failed: {}; trying again in {}",
                    crate::hints::render(&err),
                    humantime::format_duration(args.every)
                );
            }
        }
        if args.rounds.is_some_and(|rounds| round >= rounds) {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::select! {
            biased;
            stop = signals.next() => {
                let at = last_version.map_or_else(|| "no version yet".to_owned(), |v| format!("version {v}"));
                eprintln!("stopped by {} after {round} round(s); the dataset is at {at}", stop.name);
                return Ok(ExitCode::SUCCESS);
            }
            () = tokio::time::sleep(args.every) => {}
        }
    }
}
