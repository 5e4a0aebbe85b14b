//! `nasdaq-cli upload`: put a local file into S3 with its SHA-256 in the
//! object's metadata, refusing to replace different content without --force.

use std::process::ExitCode;

use nasdaq_data::{UploadAction, UploadReport};

use crate::args::{GlobalArgs, UploadArgs};
use crate::config;

pub(crate) async fn run(global: &GlobalArgs, args: UploadArgs) -> anyhow::Result<ExitCode> {
    let session = config::session(global)?;
    let report = session
        .upload(&args.file, args.target.as_deref(), args.force)
        .await?;
    print(&args, &report)?;
    Ok(ExitCode::SUCCESS)
}

fn print(args: &UploadArgs, report: &UploadReport) -> anyhow::Result<()> {
    if args.json {
        println!("{}", serde_json::to_string(report)?);
        return Ok(());
    }
    let verb = match report.action {
        UploadAction::Unchanged => "Unchanged (same SHA-256 already stored)",
        UploadAction::Replaced => "Replaced",
        UploadAction::Uploaded => "Uploaded",
    };
    println!(
        "{verb}: {} -> {} ({} bytes)",
        args.file.display(),
        report.uri,
        report.bytes
    );
    println!("ETag: {}", report.etag.as_deref().unwrap_or("-"));
    println!("SHA-256: {}", report.sha256);
    Ok(())
}
