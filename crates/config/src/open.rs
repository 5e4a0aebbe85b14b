//! Turning settings into storage values: S3 builders and opened sources.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nasdaq_storage::{CredentialInputs, CredentialReport, MarketSource, S3SourceBuilder};

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

/// A source ready to read, and what is known of how it was reached.
#[derive(Debug, Clone)]
pub struct OpenedSource {
    /// The source.
    pub source: Arc<dyn MarketSource>,
    /// The object key in it.
    pub key: String,
    /// For S3: which provider supplied the credentials.
    pub credentials: Option<CredentialReport>,
    /// For S3: the endpoint requests go to.
    pub endpoint: Option<String>,
}

impl Configured {
    fn aws_var(&self, name: &str) -> Option<String> {
        self.aws_environment
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    }

    /// What the AWS credential chain may draw on, from the settings and the environment.
    pub fn credential_inputs(&self) -> CredentialInputs {
        let s = &self.settings;
        let keys_origin = by_env("AWS_ACCESS_KEY_ID")
            .map(|spec| self.origin(spec))
            .unwrap_or_default();
        CredentialInputs {
            access_key_id: s.aws_access_key_id.clone(),
            secret_access_key: s
                .aws_secret_access_key
                .as_ref()
                .map(|x| x.expose().to_owned()),
            session_token: s.aws_session_token.as_ref().map(|x| x.expose().to_owned()),
            keys_origin,
            profile: s.aws_profile.clone(),
            shared_credentials_file: s.aws_shared_credentials_file.clone(),
            config_file: s.aws_config_file.clone(),
            home: self.aws_var("HOME").map(PathBuf::from),
            web_identity_token_file: self.aws_var("AWS_WEB_IDENTITY_TOKEN_FILE"),
            role_arn: self.aws_var("AWS_ROLE_ARN"),
            role_session_name: self.aws_var("AWS_ROLE_SESSION_NAME"),
            container_relative_uri: self.aws_var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
            container_full_uri: self.aws_var("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
            container_token_file: self.aws_var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
            metadata_endpoint: self.aws_var("AWS_EC2_METADATA_SERVICE_ENDPOINT"),
            metadata_disabled: self
                .aws_var("AWS_EC2_METADATA_DISABLED")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            metadata_probe_timeout: None,
            anonymous: s.no_sign_request,
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

    /// Opens a local or S3 data source. (The bundled sample is the CLI's.)
    pub async fn open(&self, source: &DataSource) -> Result<Option<OpenedSource>> {
        match source {
            DataSource::Sample => Ok(None),
            DataSource::Local(path) => {
                let (source, key) = SourceSpec::open_file(path)?;
                Ok(Some(OpenedSource {
                    source,
                    key,
                    credentials: None,
                    endpoint: None,
                }))
            }
            DataSource::S3 { bucket, key } => {
                let s3 = self.s3_builder(bucket).build().await?;
                Ok(Some(OpenedSource {
                    credentials: Some(s3.credentials().clone()),
                    endpoint: Some(s3.endpoint().to_owned()),
                    source: Arc::new(s3),
                    key: key.clone(),
                }))
            }
        }
    }
}
