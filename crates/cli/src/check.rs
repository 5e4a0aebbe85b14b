//! `nasdaq-cli check`: the connection test. Each step is printed with its
//! timing; a failed step says the likely cause and the fix.

use std::process::ExitCode;
use std::time::Instant;

use nasdaq_storage::{Error as StorageError, GetOptions, MarketSource, S3Source};
use serde::Serialize;

use crate::args::{CheckArgs, GlobalArgs};
use crate::config;

/// One step of the check.
#[derive(Debug, Serialize)]
struct Step {
    name: &'static str,
    ok: bool,
    elapsed_ms: u64,
    detail: String,
}

#[derive(Debug, Serialize)]
struct CheckReport {
    endpoint: String,
    region: String,
    bucket: String,
    key: String,
    credentials: Option<String>,
    credentials_tried: Vec<String>,
    steps: Vec<Step>,
    ok: bool,
}

pub(crate) async fn run(global: &GlobalArgs, args: CheckArgs) -> anyhow::Result<ExitCode> {
    let session = config::session(global)?;
    let target = session.s3_target(args.target.as_deref())?;
    let (bucket, key) = (target.bucket.clone(), target.key.clone());
    let mut report = CheckReport {
        endpoint: target.builder.endpoint(),
        region: session.configured().settings.aws_region.clone(),
        bucket: bucket.clone(),
        key: key.clone(),
        credentials: None,
        credentials_tried: Vec::new(),
        steps: Vec::new(),
        ok: false,
    };
    if !args.json {
        println!("endpoint:    {}", report.endpoint);
        println!("region:      {}", report.region);
        println!("object:      s3://{bucket}/{key}");
    }

    let started = Instant::now();
    let s3 = match target.open().await {
        Ok(s3) => {
            let credentials = s3.credentials().clone();
            report.credentials = Some(credentials.to_string());
            report.credentials_tried = credentials.tried.clone();
            step(
                &mut report,
                args.json,
                "credentials",
                started,
                Ok(credentials.to_string()),
            );
            s3
        }
        Err(err) => {
            step(
                &mut report,
                args.json,
                "credentials",
                started,
                Err(err.to_string()),
            );
            return finish(report, args.json);
        }
    };

    let started = Instant::now();
    let listed = s3
        .list(&key)
        .await
        .map(|objects| format!("{} object(s) under s3://{bucket}/{key}", objects.len()));
    let listed = listed.map_err(|err| explain(&err));
    if !step(&mut report, args.json, "list", started, listed) {
        return finish(report, args.json);
    }

    let started = Instant::now();
    let head = match s3.head(&key).await {
        Ok(info) => Ok(info),
        Err(err) => Err(diagnose_head(&s3, &key, err).await),
    };
    let size = head.as_ref().map(|info| info.size).unwrap_or(0);
    let head = head.map(|info| {
        format!(
            "{} bytes, ETag {}, last modified {}",
            info.size,
            info.etag.as_deref().unwrap_or("-"),
            info.last_modified.format("%Y-%m-%d %H:%M:%S UTC")
        )
    });
    if !step(&mut report, args.json, "head", started, head) {
        return finish(report, args.json);
    }

    let started = Instant::now();
    let wanted = size.min(1024);
    let read = read_range(&s3, &key, wanted)
        .await
        .map(|n| format!("read {n} of the first {wanted} bytes"));
    step(
        &mut report,
        args.json,
        "read",
        started,
        read.map_err(|e| explain(&e)),
    );
    finish(report, args.json)
}

async fn read_range(s3: &S3Source, key: &str, len: u64) -> Result<u64, StorageError> {
    use futures::TryStreamExt;
    if len == 0 {
        return Ok(0);
    }
    let fetched = s3
        .get(
            key,
            GetOptions {
                range: Some(0..len),
                ..Default::default()
            },
        )
        .await?;
    let chunks: Vec<bytes::Bytes> = fetched.stream.try_collect().await?;
    Ok(chunks.iter().map(|c| c.len() as u64).sum())
}

/// A HEAD answer has no body, so a 403 carries no S3 error code; a one-byte
/// GET gets the code that tells a bad key from a missing permission.
async fn diagnose_head(s3: &S3Source, key: &str, err: StorageError) -> String {
    if let StorageError::AccessDenied { code: None, .. } = &err
        && let Err(detailed) = read_range(s3, key, 1).await
    {
        return explain(&detailed);
    }
    explain(&err)
}

/// The message, plus the likely cause where the error alone does not say it.
fn explain(err: &StorageError) -> String {
    match err {
        err if err.is_unreachable() => {
            format!(
                "{}\n  likely cause: the endpoint cannot be reached; check AWS_ENDPOINT_URL / --endpoint, the network and any proxy",
                nasdaq_storage::error_chain(err)
            )
        }
        StorageError::NotFound { .. } => {
            format!("{err}\n  likely cause: AWS_S3_KEY names no object in this bucket")
        }
        other => nasdaq_storage::error_chain(other),
    }
}

/// Records and prints a step; returns whether it passed.
fn step(
    report: &mut CheckReport,
    json: bool,
    name: &'static str,
    started: Instant,
    outcome: Result<String, String>,
) -> bool {
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let ok = outcome.is_ok();
    let detail = outcome.unwrap_or_else(|e| e);
    if !json {
        let mark = if ok { "ok  " } else { "FAIL" };
        println!("[{mark}] {name:<12} {elapsed_ms:>6} ms  {detail}");
    }
    report.steps.push(Step {
        name,
        ok,
        elapsed_ms,
        detail,
    });
    ok
}

fn finish(mut report: CheckReport, json: bool) -> anyhow::Result<ExitCode> {
    report.ok = report.steps.len() == 4 && report.steps.iter().all(|s| s.ok);
    if json {
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
