//! `nasdaq-cli check`: the connection test, each step printed as it ends.

use std::process::ExitCode;

use crate::args::{CheckArgs, GlobalArgs};
use crate::config;

pub(crate) async fn run(global: &GlobalArgs, args: CheckArgs) -> anyhow::Result<ExitCode> {
    let session = config::session(global)?;
    let text = !args.json;
    let report = session
        .check(
            args.target.as_deref(),
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
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else if report.ok {
        println!("All checks passed.");
    } else {
        println!(
            "The check failed at step {:?}.",
            report.steps.last().map_or("", |s| s.name)
        );
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
