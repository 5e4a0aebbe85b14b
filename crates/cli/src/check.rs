//! `nasdaq-cli check`: the connection test, each step printed as it ends.

use std::process::ExitCode;

use nasdaq_data::{CheckReport, Session};

use crate::args::{CheckArgs, GlobalArgs};
use crate::config;
use crate::exit::Exit;

pub(crate) async fn run(global: &GlobalArgs, args: CheckArgs) -> anyhow::Result<ExitCode> {
    let session = config::session(global)?;
    let report = report(&session, args.target.as_deref(), !args.json).await?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        Exit::Source.into()
    })
}

/// Runs the check, printing each step as it ends when `text`; `setup` shows
/// the same lines.
pub(crate) async fn report(
    session: &Session,
    target: Option<&str>,
    text: bool,
) -> anyhow::Result<CheckReport> {
    let report = session
        .check(
            target,
            &mut |report| {
                if text {
                    println!("endpoint:    {}", report.endpoint);
                    println!("region:      {}", report.region);
                    println!("object:      s3://{}/{}", report.bucket, report.key);
                }
            },
            &mut |step| {
                if text {
                    let mark = if step.ok { "ok  " } else { "FAIL" };
                    println!(
                        "[{mark}] {:<12} {:>6} ms  {}",
                        step.name, step.elapsed_ms, step.detail
                    );
                }
            },
        )
        .await?;
    if text && report.ok {
        println!("All checks passed.");
    } else if text {
        println!(
            "The check failed at step {:?}.",
            report.steps.last().map_or("", |s| s.name)
        );
    }
    Ok(report)
}
