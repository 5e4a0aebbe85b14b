//! Turning settings into storage values: credential inputs, S3 builders,
//! the cache directory. Which sources a load tries is planned by the
//! `nasdaq-data` entry point from these values.

use std::path::PathBuf;
use std::time::Duration;

use nasdaq_storage::{CredentialInputs, S3SourceBuilder};

use crate::Configured;
use crate::keys::by_env;

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
                .map(|spec| self.provenance(spec).to_string())
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

    /// An S3 builder for the secondary `bucket`: the primary's settings with
    /// the secondary's region and endpoint where they are set.
    pub fn secondary_s3_builder(&self, bucket: &str) -> S3SourceBuilder {
        let s = &self.settings;
        let mut builder = self.s3_builder(bucket).with_region(
            s.secondary
                .region
                .clone()
                .unwrap_or_else(|| s.aws_region.clone()),
        );
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
