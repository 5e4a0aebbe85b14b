//! Turning settings into storage values: S3 builders and opened sources.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nasdaq_core::Candidate;
use nasdaq_storage::{
    CacheMode, CachedSource, CredentialInputs, CredentialReport, DiskCache, MarketSource, Progress,
    S3SourceBuilder, UnavailableSource,
};

use crate::keys::by_env;
use crate::{Configured, DataSource, Result, SourceSpec};

/// Environment variables the credential chain reads besides the settings.
pub(crate) const CHAIN_VARIABLES: &[&str] = &[
    "HOME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_DISABLED",
];

impl Configured {
    /// What the AWS credential chain may draw on: the settings for the keys,
    /// profile and files (wherever they were set), the environment for the rest.
    pub fn credential_inputs(&self) -> CredentialInputs {
        let s = &self.settings;
        let environment = CredentialInputs::from_vars(|name| {
            self.aws_environment
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        });
        CredentialInputs {
            access_key_id: s.aws_access_key_id.clone(),
            secret_access_key: s
                .aws_secret_access_key
                .as_ref()
                .map(|x| x.expose().to_owned()),
            session_token: s.aws_session_token.as_ref().map(|x| x.expose().to_owned()),
            keys_origin: by_env("AWS_ACCESS_KEY_ID")
                .map(|spec| self.origin(spec))
                .unwrap_or_default(),
            profile: s.aws_profile.clone(),
            shared_credentials_file: s.aws_shared_credentials_file.clone(),
            config_file: s.aws_config_file.clone(),
            anonymous: s.no_sign_request,
            ..environment
        }
    }

    /// An S3 builder for `bucket` with this configuration's region,
    /// endpoint, credentials, retries and timeouts.
    pub fn s3_builder(&self, bucket: &str) -> S3SourceBuilder {
        let s = &self.settings;
        S3SourceBuilder::new(bucket)
            .with_region(&s.aws_region)
            .with_endpoint(s.aws_endpoint_url.clone())
            .with_allow_http(s.aws_allow_http)
            .with_credentials(self.credential_inputs())
            .with_retries(
                s.retry.max_retries as usize,
                Duration::from_secs(s.retry.timeout_secs),
                Duration::from_millis(s.retry.backoff_ms),
            )
            .with_timeouts(
                Duration::from_secs(s.timeout.connect_secs),
                Duration::from_secs(s.timeout.request_secs),
            )
    }
}

/// How a chain of sources is built.
#[derive(Clone, Default)]
pub struct ChainOptions {
    /// Only the primary source: no secondary, no local fallback.
    pub no_fallback: bool,
    /// How the disk cache is used.
    pub cache_mode: CacheMode,
    /// Told of downloads into the cache as they arrive.
    pub progress: Option<Arc<dyn Progress>>,
}

impl std::fmt::Debug for ChainOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainOptions")
            .field("no_fallback", &self.no_fallback)
            .field("cache_mode", &self.cache_mode)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// The default cache directory: the user cache directory's `nasdaq-data`.
fn default_cache_dir() -> PathBuf {
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("nasdaq-data")
}

impl Configured {
    /// The cache directory: `NASDAQ_CACHE_DIR`, else the user cache directory.
    pub fn cache_dir(&self) -> PathBuf {
        self.settings
            .cache
            .dir
            .clone()
            .unwrap_or_else(default_cache_dir)
    }

    /// One S3 candidate, cached when the cache is on; a source that cannot be
    /// built stays in the chain as an [`UnavailableSource`] saying why.
    async fn s3_candidate(
        &self,
        builder: S3SourceBuilder,
        bucket: &str,
        key: &str,
        role: &str,
        options: &ChainOptions,
    ) -> Result<(Candidate, Option<CredentialReport>)> {
        let endpoint = builder.endpoint();
        let root = format!("s3://{bucket}");
        let (inner, credentials): (Arc<dyn MarketSource>, _) =
            if options.cache_mode == CacheMode::Offline {
                let offline = std::io::Error::other("offline: no request is made");
                (Arc::new(UnavailableSource::new(root, &offline)), None)
            } else {
                match builder.build().await {
                    Ok(s3) => {
                        let report = s3.credentials().clone();
                        (Arc::new(s3) as Arc<dyn MarketSource>, Some(report))
                    }
                    Err(err) => (
                        Arc::new(UnavailableSource::new(root, &err)) as Arc<dyn MarketSource>,
                        None,
                    ),
                }
            };
        let source: Arc<dyn MarketSource> = if self.settings.cache.enabled {
            let cache = DiskCache::open(self.cache_dir())?;
            Arc::new(
                CachedSource::new(inner, cache, endpoint)
                    .with_mode(options.cache_mode)
                    .with_resumes(self.settings.retry.max_retries as usize)
                    .with_progress(options.progress.clone()),
            )
        } else {
            inner
        };
        Ok((
            Candidate {
                source,
                key: Some(key.to_owned()),
                role: role.to_owned(),
            },
            credentials,
        ))
    }

    /// The sources to try for `source`, in order: for S3 the primary bucket,
    /// the secondary (if configured) and the local fallback file (both
    /// unless `no_fallback`), S3 ones through the disk cache.
    pub async fn chain(
        &self,
        source: &DataSource,
        options: &ChainOptions,
    ) -> Result<(Vec<Candidate>, String, Option<CredentialReport>)> {
        match source {
            DataSource::Sample => Ok((Vec::new(), String::new(), None)),
            DataSource::Local(path) => {
                let (source, key) = SourceSpec::open_file(path)?;
                let candidate = Candidate {
                    source,
                    key: None,
                    role: "primary".to_owned(),
                };
                Ok((vec![candidate], key, None))
            }
            DataSource::S3 { bucket, key } => {
                let s = &self.settings;
                let (primary, credentials) = self
                    .s3_candidate(self.s3_builder(bucket), bucket, key, "primary", options)
                    .await?;
                let mut chain = vec![primary];
                if options.no_fallback {
                    return Ok((chain, key.clone(), credentials));
                }
                if let Some(secondary) = &s.secondary.bucket {
                    let mut builder = self.s3_builder(secondary).with_region(
                        s.secondary
                            .region
                            .clone()
                            .unwrap_or_else(|| s.aws_region.clone()),
                    );
                    if let Some(endpoint) = &s.secondary.endpoint_url {
                        builder = builder.with_endpoint(Some(endpoint.clone()));
                    }
                    let secondary_key = s.secondary.key.clone().unwrap_or_else(|| key.clone());
                    let (candidate, _) = self
                        .s3_candidate(builder, secondary, &secondary_key, "secondary", options)
                        .await?;
                    chain.push(candidate);
                }
                let fallback = s.local_fallback();
                let candidate = match SourceSpec::open_file(&fallback) {
                    Ok((source, file_key)) => Candidate {
                        source,
                        key: Some(file_key),
                        role: "local fallback".to_owned(),
                    },
                    Err(err) => Candidate {
                        source: Arc::new(UnavailableSource::new(
                            fallback.display().to_string(),
                            &err,
                        )),
                        key: Some(String::new()),
                        role: "local fallback".to_owned(),
                    },
                };
                chain.push(candidate);
                Ok((chain, key.clone(), credentials))
            }
        }
    }
}
