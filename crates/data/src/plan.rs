//! The source plan: which sources a load tries, in which order, and why.
//!
//! Each case is explicit: an S3 object (the primary bucket, then the
//! optional secondary, then the local fallback file, each S3 one behind the
//! disk cache), a local file or directory, or the bundled sample when
//! nothing is configured. The plan is data: it can be shown before it runs.

use std::sync::Arc;

use nasdaq_config::{Configured, DataSource, SourceSpec};
use nasdaq_core::{Candidate, Role};
use nasdaq_storage::{
    CacheMode, CachedSource, CredentialReport, DiskCache, Error as StorageError, MarketSource,
    Progress, S3SourceBuilder, UnavailableSource,
};

use crate::{Result, sample};

/// How far a load may go down the chain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fallback {
    /// The configured source falls back (as the old loader's did); a source
    /// named explicitly does not: a typo must not be answered with other data.
    #[default]
    Auto,
    /// The secondary bucket and the local file back up any S3 source.
    Chain,
    /// Only the primary source.
    None,
}

impl Fallback {
    /// A front end's yes / no / unsaid (`--fallback`, `--no-fallback`,
    /// `fallback=True/False/None`).
    pub fn from_choice(choice: Option<bool>) -> Self {
        match choice {
            Some(true) => Self::Chain,
            Some(false) => Self::None,
            None => Self::Auto,
        }
    }
}

/// How the plan is built.
#[derive(Clone, Default)]
pub struct PlanOptions {
    /// How far down the chain a load may go.
    pub fallback: Fallback,
    /// How the disk cache is used.
    pub cache_mode: CacheMode,
    /// Told of downloads into the cache as they arrive.
    pub progress: Option<Arc<dyn Progress>>,
}

impl std::fmt::Debug for PlanOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanOptions")
            .field("fallback", &self.fallback)
            .field("cache_mode", &self.cache_mode)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// The sources a load will try, in order.
#[derive(Debug, Clone)]
pub struct SourcePlan {
    /// The key (or prefix) to read in the primary source.
    pub key: String,
    /// The sources, primary first.
    pub candidates: Vec<Candidate>,
    /// Which provider answered for each S3 source, by its role.
    pub credentials: Vec<(Role, CredentialReport)>,
    /// A human name for the source when its address says little.
    pub label: Option<String>,
}

impl SourcePlan {
    /// Plans the sources for `source` under `configured`.
    pub async fn new(
        configured: &Configured,
        source: &DataSource,
        options: &PlanOptions,
    ) -> Result<Self> {
        match source {
            DataSource::Sample => Ok(Self {
                key: sample::SAMPLE_KEY.to_owned(),
                candidates: vec![Candidate {
                    source: sample::source().await?,
                    key: None,
                    role: Role::BundledSample,
                }],
                credentials: Vec::new(),
                label: Some(format!("bundled sample ({})", sample::SAMPLE_PATH)),
            }),
            DataSource::Local(path) => {
                let (source, key) = SourceSpec::open_file(path)?;
                Ok(Self {
                    key,
                    candidates: vec![Candidate {
                        source,
                        key: None,
                        role: Role::Primary,
                    }],
                    credentials: Vec::new(),
                    label: None,
                })
            }
            DataSource::S3 { bucket, key } => {
                let s = &configured.settings;
                let (primary, primary_credentials) = s3_candidate(
                    configured,
                    configured.s3_builder(bucket),
                    bucket,
                    key,
                    Role::Primary,
                    options,
                )
                .await?;
                let mut candidates = vec![primary];
                let mut credentials: Vec<(Role, CredentialReport)> = primary_credentials
                    .map(|c| (Role::Primary, c))
                    .into_iter()
                    .collect();
                // `Auto` is resolved by `Session::plan`, which knows whether
                // the source was named; a plan made directly keeps the chain.
                if options.fallback != Fallback::None {
                    if let Some(secondary) = &s.secondary.bucket {
                        let secondary_key = s.secondary.key.clone().unwrap_or_else(|| key.clone());
                        let (candidate, secondary_credentials) = s3_candidate(
                            configured,
                            configured.secondary_s3_builder(secondary),
                            secondary,
                            &secondary_key,
                            Role::Secondary,
                            options,
                        )
                        .await?;
                        candidates.push(candidate);
                        credentials.extend(secondary_credentials.map(|c| (Role::Secondary, c)));
                    }
                    candidates.push(local_fallback(configured));
                }
                Ok(Self {
                    key: key.clone(),
                    candidates,
                    credentials,
                    label: None,
                })
            }
        }
    }
}

/// The local fallback file; one that cannot be opened stays in the chain
/// as an [`UnavailableSource`], so the report says why it did not serve.
fn local_fallback(configured: &Configured) -> Candidate {
    let fallback = configured.settings.local_fallback();
    match SourceSpec::open_file(&fallback) {
        Ok((source, file_key)) => Candidate {
            source,
            key: Some(file_key),
            role: Role::LocalFallback,
        },
        Err(err) => Candidate {
            source: Arc::new(UnavailableSource::new(fallback.display().to_string(), err)),
            key: Some(String::new()),
            role: Role::LocalFallback,
        },
    }
}

/// One S3 candidate, cached when the cache is on; a source that cannot be
/// built stays in the chain as an [`UnavailableSource`] saying why.
async fn s3_candidate(
    configured: &Configured,
    builder: S3SourceBuilder,
    bucket: &str,
    key: &str,
    role: Role,
    options: &PlanOptions,
) -> Result<(Candidate, Option<CredentialReport>)> {
    let endpoint = builder.endpoint();
    let root = format!("s3://{bucket}");
    let (inner, credentials): (Arc<dyn MarketSource>, _) =
        if options.cache_mode == CacheMode::Offline {
            let offline = std::io::Error::other("offline: no request is made");
            (Arc::new(UnavailableSource::new(root, offline)), None)
        } else {
            match builder.build().await {
                Ok(s3) => {
                    let report = s3.credentials().clone();
                    (Arc::new(s3) as Arc<dyn MarketSource>, Some(report))
                }
                // A misconfiguration is an error to fix, not an outage: no
                // fallback and no stale cached copy may answer it.
                Err(err @ (StorageError::PlainHttp { .. } | StorageError::Config { .. })) => {
                    return Err(err.into());
                }
                Err(err) => (Arc::new(UnavailableSource::new(root, err)), None),
            }
        };
    let settings = &configured.settings;
    let cache = disk_cache(configured);
    let source: Arc<dyn MarketSource> = match cache {
        Some(cache) => Arc::new(
            CachedSource::new(inner, cache, endpoint)
                .with_mode(options.cache_mode)
                .with_resumes(settings.retry.max_retries as usize)
                .with_progress(options.progress.clone()),
        ),
        None => inner,
    };
    Ok((
        Candidate {
            source,
            key: Some(key.to_owned()),
            role,
        },
        credentials,
    ))
}

/// The configured disk cache, when it is on and usable. The cache is an
/// optimisation: one that cannot be used (its path is a file, it is not
/// ours, the disk refuses) is said and bypassed.
pub(crate) fn disk_cache(configured: &Configured) -> Option<DiskCache> {
    if !configured.settings.cache.enabled {
        return None;
    }
    match DiskCache::open(configured.cache_dir()) {
        Ok(cache) => Some(cache),
        Err(err) => {
            tracing::warn!(
                error = %nasdaq_storage::error_chain(&err),
                "the cache cannot be used; loading without it"
            );
            None
        }
    }
}
