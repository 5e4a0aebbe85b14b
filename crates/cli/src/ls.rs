//! `nasdaq-cli ls`: objects with size, last-modified and ETag.

use std::process::ExitCode;
use std::sync::Arc;

use nasdaq_config::SourceSpec;
use nasdaq_storage::{MarketSource, ObjectStoreSource};

use crate::args::{GlobalArgs, LsArgs};
use crate::config;

pub(crate) async fn run(global: &GlobalArgs, args: LsArgs) -> anyhow::Result<ExitCode> {
    let configured = config::load(global)?;
    let (source, prefix): (Arc<dyn MarketSource>, String) = match args.location.as_deref() {
        Some(text) if !text.starts_with("s3://") => match SourceSpec::parse(text)? {
            SourceSpec::File { path } => {
                (Arc::new(ObjectStoreSource::local(&path)?), String::new())
            }
            SourceSpec::S3 { .. } => unreachable!("s3:// handled below"),
        },
        location => {
            let (bucket, prefix) = match location {
                Some(text) => config::s3_target(&configured, Some(text))?,
                None => (config::s3_target(&configured, None)?.0, String::new()),
            };
            (
                Arc::new(configured.s3_builder(&bucket).build().await?),
                prefix,
            )
        }
    };
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
