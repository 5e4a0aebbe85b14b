//! `nasdaq-cli ls`: objects with size, last-modified and ETag.

use std::process::ExitCode;

use crate::args::{GlobalArgs, LsArgs};
use crate::config;

pub(crate) async fn run(global: &GlobalArgs, args: LsArgs) -> anyhow::Result<ExitCode> {
    let session = config::session(global)?;
    let (source, prefix) = session.listing(args.location.as_deref()).await?;
    let objects = source.list(&prefix).await?;
    if args.json {
        println!("{}", serde_json::to_string(&objects)?);
        return Ok(ExitCode::SUCCESS);
    }
    if objects.is_empty() {
        println!("No objects under {}", source.uri(&prefix));
        return Ok(ExitCode::SUCCESS);
    }
    let width = objects
        .iter()
        .map(|o| o.key.len())
        .max()
        .unwrap_or(3)
        .max(3);
    println!(
        "{:width$}  {:>12}  {:25}  ETAG",
        "KEY", "SIZE", "LAST MODIFIED"
    );
    for object in &objects {
        println!(
            "{:width$}  {:>12}  {:25}  {}",
            object.key,
            object.size,
            object.last_modified.format("%Y-%m-%d %H:%M:%S UTC"),
            object.etag.as_deref().unwrap_or("-")
        );
    }
    let total: u64 = objects.iter().map(|o| o.size).sum();
    println!(
        "{} objects, {total} bytes under {}",
        objects.len(),
        source.uri(&prefix)
    );
    Ok(ExitCode::SUCCESS)
}
