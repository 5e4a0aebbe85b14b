//! Turning settings into storage values: credential inputs, S3 builders,
//! the cache directory. Which sources a load tries is planned by the
//! `nasdaq-data` entry point from these values.

use std::path::PathBuf;
use std::time::Duration;

use nasdaq_storage::{CredentialInputs, S3SourceBuilder};

use crate::keys::by_env;
use crate::{Configured, Provenance};

impl Configured {
    /// What the AWS chains may draw on: the environment's `AWS_*` variables
    /// and `HOME`, with the settings (keys, profile, files, endpoint) on top,
    /// wherever they were set.
    pub fn credential_inputs(&self) -> CredentialInputs {
        let s = &self.settings;
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let mut inputs = CredentialInputs::from_vars(self.aws_environment.iter().cloned())
            .with_var("AWS_ACCESS_KEY_ID", s.aws_access_key_id.clone())
            .with_var(
                "AWS_SECRET_ACCESS_KEY",
                s.aws_secret_access_key.as_ref().map(|x| x.expose()),
            )
            .with_var(
                "AWS_SESSION_TOKEN",
                s.aws_session_token.as_ref().map(|x| x.expose()),
            )
            .with_var("AWS_PROFILE", s.aws_profile.clone())
            .with_var("AWS_CONFIG_FILE", path(&s.aws_config_file))
            .with_var(
                "AWS_SHARED_CREDENTIALS_FILE",
                path(&s.aws_shared_credentials_file),
            )
            // As in the AWS CLI, AWS_ENDPOINT_URL is every service's endpoint
            // (STS and SSO included) unless AWS_ENDPOINT_URL_<SERVICE> says otherwise.
            .with_var("AWS_ENDPOINT_URL", s.aws_endpoint_url.clone());
        inputs.keys_origin = by_env("AWS_ACCESS_KEY_ID")
            .map(|spec| self.provenance(spec).to_string())
            .unwrap_or_default();
        inputs.anonymous = s.no_sign_request;
        inputs
    }

    /// The region the settings name, if any setting does (else the AWS
    /// region chain decides: the profile's `region`).
    fn explicit_region(&self) -> Option<String> {
        let set = by_env("AWS_REGION")
            .is_some_and(|spec| !matches!(self.provenance(spec), Provenance::Default));
        set.then(|| self.settings.aws_region.clone())
    }

    /// An S3 builder for `bucket` with this configuration's region,
    /// endpoint, credentials, retries and timeouts.
    pub fn s3_builder(&self, bucket: &str) -> S3SourceBuilder {
        let s = &self.settings;
        let mut builder = S3SourceBuilder::new(bucket);
        if let Some(region) = self.explicit_region() {
            builder = builder.with_region(region);
        }
        builder
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

    /// An S3 builder for the secondary `bucket`: the primary's settings with
    /// the secondary's region and endpoint where they are set.
    pub fn secondary_s3_builder(&self, bucket: &str) -> S3SourceBuilder {
        let s = &self.settings;
        let mut builder = self.s3_builder(bucket);
        if let Some(region) = &s.secondary.region {
            builder = builder.with_region(region);
        }
        if let Some(endpoint) = &s.secondary.endpoint_url {
            builder = builder.with_endpoint(Some(endpoint.clone()));
        }
        builder
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
}
