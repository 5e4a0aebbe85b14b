//! AWS credentials and region as the AWS SDK resolves them.
//!
//! The chains are aws-config's own, in the AWS order: environment keys, the
//! profile (static keys, `role_arn` with `source_profile` or
//! `credential_source`, `sso_session` and legacy SSO, `credential_process`),
//! web identity, the container endpoint, IMDSv2. They read the variables in
//! [`CredentialInputs`], never the process environment behind the caller's
//! back, so a `.env` file's keys and an embedder's own environment count
//! exactly as the settings say.
//!
//! object_store asks for credentials on every request; `AwsCredentials`
//! answers from a cache and asks the chain's provider again shortly before
//! the credentials expire.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::meta::ProviderChainError;
use aws_config::profile::ProfileSet;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials as AwsSdkCredentials;
use aws_credential_types::credential_feature::AwsCredentialFeature as Feature;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_runtime::env_config::file::EnvConfigFiles;
use aws_types::os_shim_internal::{Env, Fs};
use object_store::CredentialProvider;
use object_store::aws::AwsCredential;

use crate::{Error, Result};

/// Variables that hold a secret: never shown, not even in part.
const SECRET_VARIABLES: &[&str] = &[
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
];

/// What the AWS chains may draw on: variables as they would be in the
/// environment, by their AWS names.
///
/// Fill it from the environment ([`Self::from_env`]) or any list of
/// variables ([`Self::from_vars`]) and put settings on top ([`Self::with_var`]).
#[derive(Clone, Default)]
pub struct CredentialInputs {
    variables: BTreeMap<String, String>,
    /// Where the access keys were set, for the report (e.g. `.env (/srv/.env)`).
    pub keys_origin: String,
    /// Send unsigned requests (public buckets): no chain is asked.
    pub anonymous: bool,
}

impl CredentialInputs {
    /// The chains' inputs from the process environment: every `AWS_*`
    /// variable, and `HOME` / `USERPROFILE` for `~/.aws`.
    pub fn from_env() -> Self {
        Self::from_vars(std::env::vars())
    }

    /// The chains' inputs from a list of variables: the `AWS_*` ones and
    /// `HOME` / `USERPROFILE`; empty values count as unset.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let variables = vars
            .into_iter()
            .filter(|(name, value)| !value.is_empty() && Self::is_chain_variable(name))
            .collect();
        Self {
            variables,
            keys_origin: "the environment".to_owned(),
            anonymous: false,
        }
    }

    /// Whether the AWS chains read the variable `name`.
    pub fn is_chain_variable(name: &str) -> bool {
        name.starts_with("AWS_") || name == "HOME" || name == "USERPROFILE"
    }

    /// Sets (or, with `None` or an empty value, removes) one variable.
    pub fn with_var(mut self, name: &str, value: Option<impl Into<String>>) -> Self {
        match value.map(Into::into).filter(|v| !v.is_empty()) {
            Some(value) => self.variables.insert(name.to_owned(), value),
            None => self.variables.remove(name),
        };
        self
    }

    /// Static access keys, set where `origin` says (for the report).
    pub fn with_keys(
        self,
        key_id: impl Into<String>,
        secret: impl Into<String>,
        token: Option<String>,
        origin: impl Into<String>,
    ) -> Self {
        let mut inputs = self
            .with_var("AWS_ACCESS_KEY_ID", Some(key_id))
            .with_var("AWS_SECRET_ACCESS_KEY", Some(secret))
            .with_var("AWS_SESSION_TOKEN", token);
        inputs.keys_origin = origin.into();
        inputs
    }

    /// Unsigned requests, for public buckets.
    pub fn anonymous() -> Self {
        Self {
            anonymous: true,
            ..Self::default()
        }
    }

    /// The value of one variable.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.variables.get(name).map(String::as_str)
    }

    /// The profile the chains use: `AWS_PROFILE`, else `default`.
    pub fn profile(&self) -> &str {
        self.var("AWS_PROFILE").unwrap_or("default")
    }

    /// The profiles the AWS config and credentials files these variables
    /// point at define, sorted (for a front end to offer as choices).
    pub async fn profile_names(&self) -> Result<Vec<String>> {
        let env = self.sdk_env();
        let mut names: Vec<String> = load_profiles(&env)
            .await?
            .profiles()
            .map(str::to_owned)
            .collect();
        names.sort_unstable();
        Ok(names)
    }

    /// The variables handed to aws-config: every chain variable but the
    /// static keys, which its trace logs would print.
    fn sdk_env(&self) -> Env {
        Env::from(
            self.variables
                .iter()
                .filter(|(name, _)| !KEY_VARIABLES.contains(&name.as_str()))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect::<HashMap<String, String>>(),
        )
    }
}

impl fmt::Debug for CredentialInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: BTreeMap<&str, String> = self
            .variables
            .iter()
            .map(|(name, value)| {
                let shown = if SECRET_VARIABLES.contains(&name.as_str()) {
                    "***".to_owned()
                } else if name == "AWS_ACCESS_KEY_ID" {
                    key_id_prefix(value)
                } else {
                    crate::redact_url(value)
                };
                (name.as_str(), shown)
            })
            .collect();
        f.debug_struct("CredentialInputs")
            .field("variables", &shown)
            .field("anonymous", &self.anonymous)
            .finish_non_exhaustive()
    }
}

/// The first 4 characters of a key id: all that is ever shown of it.
pub fn key_id_prefix(key_id: &str) -> String {
    let prefix: String = key_id.chars().take(4).collect();
    format!("{prefix}…")
}

/// Which provider supplied the credentials.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CredentialReport {
    /// The provider, e.g. `access keys from .env (/srv/.env)`,
    /// `assume-role (profile dev)`, `IMDSv2 (instance role)`.
    pub provider: String,
    /// The first 4 characters of the key id (none for unsigned requests).
    pub key_id: Option<String>,
}

impl fmt::Display for CredentialReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.provider)?;
        if let Some(key_id) = &self.key_id {
            write!(f, ", key id {key_id}")?;
        }
        Ok(())
    }
}

/// Limits for the requests the chains make (STS, SSO, the container endpoint).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChainLimits {
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) max_retries: usize,
}

/// What the chains settled on.
pub(crate) struct Resolved {
    /// The credentials, `None` for unsigned requests.
    pub(crate) credentials: Option<Arc<AwsCredentials>>,
    /// The region: the one given, else the profile's or `AWS_REGION`, else `us-east-1`.
    pub(crate) region: String,
    /// Who answered.
    pub(crate) report: CredentialReport,
}

/// The region used when neither settings, environment nor profile name one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Resolves the region and, unless unsigned, the credentials, once: a load
/// with no credentials anywhere fails here, listing what was tried.
pub(crate) async fn resolve(
    inputs: &CredentialInputs,
    region: Option<&str>,
    limits: ChainLimits,
) -> Result<Resolved> {
    // Keys given directly come first, as in the AWS order. They are kept out
    // of the variables handed to aws-config, whose trace logs print them.
    let keys = static_keys(inputs)?;
    let env = inputs.sdk_env();
    let profiles = load_profiles(&env).await?;
    if keys.is_none() && inputs.var("AWS_PROFILE").is_some() {
        profile_exists(inputs, &profiles)?;
    }
    // The region as the AWS CLI finds it, without asking instance metadata
    // (which, off EC2, costs seconds and a warning on every run).
    let region = region
        .or_else(|| inputs.var("AWS_REGION"))
        .or_else(|| inputs.var("AWS_DEFAULT_REGION"))
        .or_else(|| {
            profiles
                .get_profile(inputs.profile())
                .and_then(|p| p.get("region"))
        })
        .unwrap_or(DEFAULT_REGION)
        .to_owned();
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .env(env)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(limits.connect_timeout)
                .operation_attempt_timeout(limits.request_timeout)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(limits.max_retries as u32 + 1))
        .region(Region::new(region.clone()));
    let config = loader.load().await;
    if inputs.anonymous {
        return Ok(Resolved {
            credentials: None,
            region,
            report: CredentialReport {
                provider: "anonymous (unsigned requests)".to_owned(),
                key_id: None,
            },
        });
    }
    let provider = match keys {
        Some(keys) => SharedCredentialsProvider::new(keys),
        None => config
            .credentials_provider()
            .ok_or_else(|| Error::Credentials {
                message: "the AWS credential chain could not be built".to_owned(),
            })?,
    };
    let first = provider
        .provide_credentials()
        .await
        .map_err(|err| chain_error(err, inputs))?;
    let report = CredentialReport {
        provider: provider_label(&first, inputs, &profiles),
        key_id: Some(key_id_prefix(first.access_key_id())),
    };
    tracing::info!(provider = %report, %region, "AWS credentials resolved");
    Ok(Resolved {
        credentials: Some(Arc::new(AwsCredentials::new(provider, first))),
        region,
        report,
    })
}

/// The variables that carry static keys.
const KEY_VARIABLES: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// Keys given directly: both parts, or neither.
fn static_keys(inputs: &CredentialInputs) -> Result<Option<AwsSdkCredentials>> {
    let origin = &inputs.keys_origin;
    match (
        inputs.var("AWS_ACCESS_KEY_ID"),
        inputs.var("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(key_id), Some(secret)) => {
            let mut keys = AwsSdkCredentials::new(
                key_id,
                secret,
                inputs.var("AWS_SESSION_TOKEN").map(str::to_owned),
                None,
                "EnvironmentVariable",
            );
            keys.get_property_mut_or_default::<Vec<Feature>>()
                .push(Feature::CredentialsEnvVars);
            Ok(Some(keys))
        }
        (Some(_), None) => Err(Error::Credentials {
            message: format!(
                "AWS_ACCESS_KEY_ID is set ({origin}) but AWS_SECRET_ACCESS_KEY is not: set both, or neither"
            ),
        }),
        (None, Some(_)) => Err(Error::Credentials {
            message: format!(
                "AWS_SECRET_ACCESS_KEY is set ({origin}) but AWS_ACCESS_KEY_ID is not: set both, or neither"
            ),
        }),
        (None, None) => Ok(None),
    }
}

/// The profiles of the AWS config and credentials files the variables name.
async fn load_profiles(env: &Env) -> Result<ProfileSet> {
    aws_config::profile::load(&Fs::real(), env, &EnvConfigFiles::default(), None)
        .await
        .map_err(|err| Error::Credentials {
            message: format!(
                "the AWS config files cannot be read: {}",
                crate::error::error_chain(&err)
            ),
        })
}

/// A profile named explicitly must exist: otherwise the chain would pass
/// over it and answer from some other provider, or fail far from the cause.
fn profile_exists(inputs: &CredentialInputs, set: &ProfileSet) -> Result<()> {
    let profile = inputs.profile();
    if set.get_profile(profile).is_some() {
        return Ok(());
    }
    let mut known: Vec<&str> = set.profiles().collect();
    known.sort_unstable();
    let config = inputs.var("AWS_CONFIG_FILE").unwrap_or("~/.aws/config");
    let credentials = inputs
        .var("AWS_SHARED_CREDENTIALS_FILE")
        .unwrap_or("~/.aws/credentials");
    Err(Error::Credentials {
        message: format!(
            "AWS_PROFILE is {profile}, but neither {config} nor {credentials} defines that profile \
             (profiles there: {}): fix the name, or create the profile with the AWS CLI \
             (`aws configure`, or `aws configure sso` for SSO)",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ),
    })
}

/// Names the provider that answered: from the features aws-config records
/// on the credentials it returns and, for a profile, from what the profile
/// holds (aws-config reads it in the same order: a role, web identity, SSO,
/// a helper process, static keys).
fn provider_label(
    credentials: &AwsSdkCredentials,
    inputs: &CredentialInputs,
    profiles: &ProfileSet,
) -> String {
    let features = credentials
        .get_property::<Vec<Feature>>()
        .cloned()
        .unwrap_or_default();
    let has = |wanted: Feature| features.contains(&wanted);
    let name = inputs.profile();
    if has(Feature::CredentialsProfile) {
        let profile = profiles.get_profile(name);
        let set = |key: &str| profile.and_then(|p| p.get(key));
        return if let Some(role) = set("role_arn") {
            format!("assume-role (profile {name}, role {role})")
        } else if set("web_identity_token_file").is_some() {
            format!("web identity (profile {name})")
        } else if set("sso_session").is_some() || set("sso_start_url").is_some() {
            format!("SSO (profile {name})")
        } else if set("credential_process").is_some() {
            format!("credential_process (profile {name})")
        } else {
            format!("profile {name} (static keys)")
        };
    }
    // aws-config marks web identity from AWS_WEB_IDENTITY_TOKEN_FILE with the
    // profile's feature; without `CredentialsProfile` it came from the variables.
    if [
        Feature::CredentialsEnvVarsStsWebIdToken,
        Feature::CredentialsStsAssumeRoleWebId,
        Feature::CredentialsProfileStsWebIdToken,
    ]
    .into_iter()
    .any(has)
    {
        let role = inputs.var("AWS_ROLE_ARN").unwrap_or("?");
        format!("web identity (role {role})")
    } else if has(Feature::CredentialsHttp) {
        "container credentials endpoint (task role)".to_owned()
    } else if has(Feature::CredentialsImds) {
        "IMDSv2 (instance role)".to_owned()
    } else if has(Feature::CredentialsEnvVars) {
        format!("access keys from {}", inputs.keys_origin)
    } else {
        "the AWS default credential chain".to_owned()
    }
}

/// The chain's error as ours: what each provider said, or the one failure
/// that stopped the chain (a bad profile, a refused role, an expired SSO token).
fn chain_error(err: CredentialsError, inputs: &CredentialInputs) -> Error {
    if let CredentialsError::CredentialsNotLoaded(_) = &err
        && let Some(chain) = std::error::Error::source(&err)
            .and_then(|s| s.downcast_ref::<ProviderChainError<CredentialsError>>())
    {
        let tried = chain
            .attempts()
            .iter()
            .map(|attempt| {
                format!(
                    "{}: {}",
                    attempt.name(),
                    crate::error::error_chain(attempt.error())
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        return Error::NoCredentials { tried };
    }
    let cause = crate::error::error_chain(&err);
    let profile = inputs.profile();
    // The one failure users meet daily: an SSO session that has run out.
    let advice = if cause.contains("SSO token") {
        format!(": sign in again with `AWS_PROFILE={profile} aws sso login`")
    } else {
        String::new()
    };
    Error::Credentials {
        message: format!(
            "AWS credentials for profile {profile} could not be loaded: {cause}{advice}"
        ),
    }
}

/// How long before expiry credentials are refreshed, at most.
const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

/// The credentials of one chain's provider, cached until shortly before
/// they expire, as object_store's [`CredentialProvider`].
pub(crate) struct AwsCredentials {
    provider: SharedCredentialsProvider,
    cached: tokio::sync::Mutex<Cached>,
}

struct Cached {
    credential: Arc<AwsCredential>,
    /// When to ask again; `None`: never (static keys).
    refresh_at: Option<SystemTime>,
}

impl Cached {
    fn new(credentials: &AwsSdkCredentials) -> Self {
        let now = SystemTime::now();
        // Refresh 5 minutes before expiry, or halfway through a shorter life,
        // so short-lived credentials are renewed before, not after, they lapse.
        let refresh_at = credentials.expiry().map(|expiry| {
            let life = expiry.duration_since(now).unwrap_or_default();
            expiry - REFRESH_BEFORE.min(life / 2)
        });
        Self {
            credential: Arc::new(AwsCredential {
                key_id: credentials.access_key_id().to_owned(),
                secret_key: credentials.secret_access_key().to_owned(),
                token: credentials.session_token().map(str::to_owned),
            }),
            refresh_at,
        }
    }

    fn fresh(&self) -> bool {
        self.refresh_at.is_none_or(|at| SystemTime::now() < at)
    }
}

impl AwsCredentials {
    fn new(provider: SharedCredentialsProvider, first: AwsSdkCredentials) -> Self {
        Self {
            provider,
            cached: tokio::sync::Mutex::new(Cached::new(&first)),
        }
    }
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials").finish_non_exhaustive()
    }
}

#[async_trait]
impl CredentialProvider for AwsCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        // One refresh at a time: concurrent requests wait for it instead of
        // each asking STS or the metadata service.
        let mut cached = self.cached.lock().await;
        if !cached.fresh() {
            let credentials = self.provider.provide_credentials().await.map_err(|err| {
                object_store::Error::Generic {
                    store: "S3",
                    source: format!(
                        "refreshing AWS credentials failed: {}",
                        crate::error::error_chain(&err)
                    )
                    .into(),
                }
            })?;
            tracing::debug!(
                key_id = %key_id_prefix(credentials.access_key_id()),
                "AWS credentials refreshed"
            );
            *cached = Cached::new(&credentials);
        }
        Ok(Arc::clone(&cached.credential))
    }
}
