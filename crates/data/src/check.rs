//! The connection test: endpoint and region resolved, credentials named,
//! then list, head and a first read of the object, each step timed; a
//! failed step says the likely cause.

use std::time::Instant;

use nasdaq_storage::{Error as StorageError, GetOptions, MarketSource, S3Source};
use serde::Serialize;

use crate::{Result, Session};

/// One step of the check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckStep {
    /// `credentials`, `list`, `head` or `read`.
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// How long it took.
    pub elapsed_ms: u64,
    /// What it found, or why it failed and the likely cause.
    pub detail: String,
}

/// The whole check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// The endpoint requests go to.
    pub endpoint: String,
    /// The region.
    pub region: String,
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The provider that supplied the credentials (never a secret).
    pub credentials: Option<String>,
    /// The steps run, in order; the check stops at the first failure.
    pub steps: Vec<CheckStep>,
    /// Whether every step ran and passed.
    pub ok: bool,
    /// The bucket answered and the object does not exist (so an upload
    /// would create it).
    pub missing: bool,
}

/// The steps of a complete check.
const STEPS: usize = 4;

impl Session {
    /// Checks the S3 object `target` names (or the configured one), calling
    /// `started` once the endpoint is known and `on_step` after each step,
    /// so a front end can print them as they happen.
    pub async fn check(
        &self,
        target: Option<&str>,
        started: &mut (dyn FnMut(&CheckReport) + Send),
        on_step: &mut (dyn FnMut(&CheckStep) + Send),
    ) -> Result<CheckReport> {
        let target = self.s3_target(target)?;
        let mut report = CheckReport {
            endpoint: nasdaq_storage::redact_url(&target.builder.endpoint()),
            region: target
                .builder
                .region()
                .unwrap_or("(from the AWS profile)")
                .to_owned(),
            bucket: target.bucket.clone(),
            key: target.key.clone(),
            credentials: None,
            steps: Vec::new(),
            ok: false,
            missing: false,
        };
        started(&report);
        let mut run = Steps {
            report: &mut report,
            on_step,
        };
        run.all(&target).await;
        report.ok = report.steps.len() == STEPS && report.steps.iter().all(|s| s.ok);
        Ok(report)
    }
}

/// The steps in progress.
struct Steps<'a> {
    report: &'a mut CheckReport,
    on_step: &'a mut (dyn FnMut(&CheckStep) + Send),
}

impl Steps<'_> {
    async fn all(&mut self, target: &crate::S3Target) {
        let (bucket, key) = (target.bucket.clone(), target.key.clone());
        let started = Instant::now();
        let s3 = match target.open().await {
            Ok(s3) => {
                let credentials = s3.credentials().clone();
                self.report.credentials = Some(credentials.to_string());
                // The region is known once the region chain has run.
                self.report.region = s3.region().to_owned();
                self.report.endpoint = nasdaq_storage::redact_url(s3.endpoint());
                self.record("credentials", started, Ok(credentials.to_string()));
                s3
            }
            Err(err) => {
                let detail = nasdaq_storage::error_chain(&err);
                self.record("credentials", started, Err(detail));
                return;
            }
        };

        let started = Instant::now();
        let listed = s3
            .list(&key)
            .await
            .map(|objects| format!("{} object(s) under s3://{bucket}/{key}", objects.len()))
            .map_err(|err| explain(&err));
        if !self.record("list", started, listed) {
            return;
        }

        let started = Instant::now();
        let head = match s3.head(&key).await {
            Ok(info) => Ok(info),
            Err(err) => {
                self.report.missing = matches!(err, StorageError::NotFound { .. });
                Err(diagnose_head(&s3, &key, err).await)
            }
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
        if !self.record("head", started, head) {
            return;
        }

        let started = Instant::now();
        let wanted = size.min(1024);
        let read = read_range(&s3, &key, wanted)
            .await
            .map(|n| format!("read {n} of the first {wanted} bytes"))
            .map_err(|e| explain(&e));
        self.record("read", started, read);
    }

    /// Records a step and tells the front end; returns whether it passed.
    fn record(
        &mut self,
        name: &'static str,
        started: Instant,
        outcome: Result<String, String>,
    ) -> bool {
        let ok = outcome.is_ok();
        let step = CheckStep {
            name,
            ok,
            elapsed_ms: started.elapsed().as_millis() as u64,
            detail: outcome.unwrap_or_else(|e| e),
        };
        (self.on_step)(&step);
        self.report.steps.push(step);
        ok
    }
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

/// The message with its causes, plus the likely cause where the error alone
/// does not say it.
fn explain(err: &StorageError) -> String {
    let message = nasdaq_storage::error_chain(err);
    match err {
        err if err.is_unreachable() => format!(
            "{message}\n  likely cause: the endpoint cannot be reached; check AWS_ENDPOINT_URL, the network and any proxy"
        ),
        StorageError::NotFound { .. } => {
            format!("{message}\n  likely cause: AWS_S3_KEY names no object in this bucket")
        }
        _ => message,
    }
}
