//! The AWS credential chain, in the order AWS tools use, with a record of
//! what was tried and which provider answered.
//!
//! 1. keys given directly (environment or `.env`);
//! 2. the shared files `~/.aws/credentials` and `~/.aws/config` for the
//!    profile (`AWS_PROFILE`, default `default`), which object_store does not read;
//! 3. web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`), then the
//!    container endpoint, then instance metadata (the IAM role cases), as
//!    object_store provides them.
//!
//! Before settling on instance metadata the endpoint is probed with a short
//! timeout: off AWS nothing answers, and the load fails within seconds with
//! the list of what was tried instead of hanging through retries.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Error, Result};

/// The default instance metadata endpoint.
pub const DEFAULT_METADATA_ENDPOINT: &str = "http://169.254.169.254";

/// What the credential chain may draw on. Fill it from settings and the environment.
#[derive(Clone, Default)]
pub struct CredentialInputs {
    /// An access key id given directly.
    pub access_key_id: Option<String>,
    /// A secret access key given directly.
    pub secret_access_key: Option<String>,
    /// A session token given directly.
    pub session_token: Option<String>,
    /// Where the direct keys were set, for messages (e.g. `.env (/srv/.env)`).
    pub keys_origin: String,
    /// `AWS_PROFILE`.
    pub profile: Option<String>,
    /// `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`.
    pub shared_credentials_file: Option<PathBuf>,
    /// `AWS_CONFIG_FILE`, else `~/.aws/config`.
    pub config_file: Option<PathBuf>,
    /// The home directory.
    pub home: Option<PathBuf>,
    /// `AWS_WEB_IDENTITY_TOKEN_FILE`.
    pub web_identity_token_file: Option<String>,
    /// `AWS_ROLE_ARN`.
    pub role_arn: Option<String>,
    /// `AWS_ROLE_SESSION_NAME`.
    pub role_session_name: Option<String>,
    /// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
    pub container_relative_uri: Option<String>,
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
    pub container_full_uri: Option<String>,
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`.
    pub container_token_file: Option<String>,
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT`, else [`DEFAULT_METADATA_ENDPOINT`].
    pub metadata_endpoint: Option<String>,
    /// `AWS_EC2_METADATA_DISABLED=true`.
    pub metadata_disabled: bool,
    /// How long the metadata endpoint may take to answer the probe.
    pub metadata_probe_timeout: Option<Duration>,
    /// Send unsigned requests (public buckets).
    pub anonymous: bool,
}

impl CredentialInputs {
    /// The chain's inputs from the process environment: `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_PROFILE`,
    /// `AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`, `HOME`, the web
    /// identity, container and instance-metadata variables.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The chain's inputs from any variable lookup (see [`Self::from_env`]
    /// for the names); empty values count as unset.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let var = |name: &str| lookup(name).filter(|v| !v.is_empty());
        Self {
            access_key_id: var("AWS_ACCESS_KEY_ID"),
            secret_access_key: var("AWS_SECRET_ACCESS_KEY"),
            session_token: var("AWS_SESSION_TOKEN"),
            keys_origin: "the environment".to_owned(),
            profile: var("AWS_PROFILE"),
            shared_credentials_file: var("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from),
            config_file: var("AWS_CONFIG_FILE").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
            web_identity_token_file: var("AWS_WEB_IDENTITY_TOKEN_FILE"),
            role_arn: var("AWS_ROLE_ARN"),
            role_session_name: var("AWS_ROLE_SESSION_NAME"),
            container_relative_uri: var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
            container_full_uri: var("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
            container_token_file: var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
            metadata_endpoint: var("AWS_EC2_METADATA_SERVICE_ENDPOINT"),
            metadata_disabled: var("AWS_EC2_METADATA_DISABLED")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            metadata_probe_timeout: None,
            anonymous: false,
        }
    }
}

impl fmt::Debug for CredentialInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialInputs")
            .field(
                "access_key_id",
                &self.access_key_id.as_deref().map(key_id_prefix),
            )
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .field("profile", &self.profile)
            .field("anonymous", &self.anonymous)
            .finish_non_exhaustive()
    }
}

/// The first 4 characters of a key id: all that is ever shown of it.
pub fn key_id_prefix(key_id: &str) -> String {
    let prefix: String = key_id.chars().take(4).collect();
    format!("{prefix}…")
}

/// Credentials the chain settled on.
#[derive(Clone)]
pub(crate) enum Credentials {
    Static {
        key_id: String,
        secret: String,
        token: Option<String>,
    },
    WebIdentity {
        token_file: String,
        role_arn: String,
        session_name: Option<String>,
    },
    Container {
        relative_uri: Option<String>,
        full_uri: Option<String>,
        token_file: Option<String>,
    },
    Instance {
        endpoint: String,
    },
    Anonymous,
}

/// Which provider supplied the credentials, and what was tried before it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CredentialReport {
    /// The provider, e.g. `environment (AWS_ACCESS_KEY_ID)`, `shared credentials file ~/.aws/credentials [default]`.
    pub provider: String,
    /// The first 4 characters of the key id, when a static key is used.
    pub key_id: Option<String>,
    /// What was tried before, with why each did not answer.
    pub tried: Vec<String>,
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

/// Walks the chain.
pub(crate) async fn resolve(inputs: &CredentialInputs) -> Result<(Credentials, CredentialReport)> {
    let mut tried = Vec::new();
    let report = |provider: String, key_id: Option<&str>, tried: &Vec<String>| CredentialReport {
        provider,
        key_id: key_id.map(key_id_prefix),
        tried: tried.clone(),
    };
    if inputs.anonymous {
        return Ok((
            Credentials::Anonymous,
            report("anonymous (unsigned requests)".into(), None, &tried),
        ));
    }

    // 1. Keys given directly.
    match (&inputs.access_key_id, &inputs.secret_access_key) {
        (Some(key_id), Some(secret)) => {
            let provider = format!("access keys from {}", inputs.keys_origin);
            let credentials = Credentials::Static {
                key_id: key_id.clone(),
                secret: secret.clone(),
                token: inputs.session_token.clone(),
            };
            return Ok((credentials, report(provider, Some(key_id), &tried)));
        }
        (Some(_), None) => {
            return Err(Error::Credentials {
                message: format!(
                    "AWS_ACCESS_KEY_ID is set ({}) but AWS_SECRET_ACCESS_KEY is not: set both, or neither",
                    inputs.keys_origin
                ),
            });
        }
        (None, Some(_)) => {
            return Err(Error::Credentials {
                message: format!(
                    "AWS_SECRET_ACCESS_KEY is set ({}) but AWS_ACCESS_KEY_ID is not: set both, or neither",
                    inputs.keys_origin
                ),
            });
        }
        (None, None) => tried
            .push("environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set".to_owned()),
    }

    // 2. Shared files.
    let profile = inputs
        .profile
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    let home_file = |name: &str| inputs.home.as_ref().map(|h| h.join(".aws").join(name));
    let credentials_file = inputs
        .shared_credentials_file
        .clone()
        .or_else(|| home_file("credentials"));
    let config_file = inputs.config_file.clone().or_else(|| home_file("config"));
    for (file, section) in [
        (credentials_file, profile.clone()),
        (
            config_file,
            if profile == "default" {
                profile.clone()
            } else {
                format!("profile {profile}")
            },
        ),
    ] {
        let Some(file) = file else { continue };
        match profile_keys(&file, &section)? {
            ProfileKeys::Found {
                key_id,
                secret,
                token,
            } => {
                let provider = format!("shared file {} [{section}]", file.display());
                let credentials = Credentials::Static {
                    key_id: key_id.clone(),
                    secret,
                    token,
                };
                return Ok((credentials, report(provider, Some(&key_id), &tried)));
            }
            ProfileKeys::Missing(why) => {
                tried.push(format!("shared file {}: {why}", file.display()))
            }
        }
    }
    if inputs.profile.is_some() {
        return Err(Error::Credentials {
            message: format!(
                "AWS_PROFILE={profile} but no such profile with keys was found. Tried: {}",
                tried.join("; ")
            ),
        });
    }

    // 3. Web identity, container, instance.
    if let (Some(token_file), Some(role_arn)) = (&inputs.web_identity_token_file, &inputs.role_arn)
    {
        let credentials = Credentials::WebIdentity {
            token_file: token_file.clone(),
            role_arn: role_arn.clone(),
            session_name: inputs.role_session_name.clone(),
        };
        return Ok((
            credentials,
            report(format!("web identity (role {role_arn})"), None, &tried),
        ));
    }
    tried.push("web identity: AWS_WEB_IDENTITY_TOKEN_FILE / AWS_ROLE_ARN not set".to_owned());
    if inputs.container_relative_uri.is_some() || inputs.container_full_uri.is_some() {
        let credentials = Credentials::Container {
            relative_uri: inputs.container_relative_uri.clone(),
            full_uri: inputs.container_full_uri.clone(),
            token_file: inputs.container_token_file.clone(),
        };
        return Ok((
            credentials,
            report(
                "container credentials endpoint (task role)".into(),
                None,
                &tried,
            ),
        ));
    }
    tried.push("container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI not set".to_owned());
    if inputs.metadata_disabled {
        tried.push("instance metadata: disabled by AWS_EC2_METADATA_DISABLED".to_owned());
    } else {
        let endpoint = inputs
            .metadata_endpoint
            .clone()
            .unwrap_or_else(|| DEFAULT_METADATA_ENDPOINT.to_owned());
        let timeout = inputs
            .metadata_probe_timeout
            .unwrap_or(Duration::from_secs(1));
        match probe(&endpoint, timeout).await {
            Ok(()) => {
                let provider = format!("instance metadata at {endpoint} (IAM role)");
                return Ok((
                    Credentials::Instance { endpoint },
                    report(provider, None, &tried),
                ));
            }
            Err(why) => tried.push(format!("instance metadata at {endpoint}: {why}")),
        }
    }
    Err(Error::NoCredentials {
        tried: tried.join("; "),
    })
}

enum ProfileKeys {
    Found {
        key_id: String,
        secret: String,
        token: Option<String>,
    },
    Missing(String),
}

/// The static keys of `section` in an INI file, if it has them.
fn profile_keys(file: &Path, section: &str) -> Result<ProfileKeys> {
    if !file.exists() {
        return Ok(ProfileKeys::Missing("no such file".to_owned()));
    }
    let ini = ini::Ini::load_from_file(file).map_err(|err| Error::Credentials {
        message: format!(
            "{}: cannot be read as an AWS credentials file: {err}",
            file.display()
        ),
    })?;
    let Some(props) = ini.section(Some(section)) else {
        return Ok(ProfileKeys::Missing(format!("no [{section}] section")));
    };
    match (
        props.get("aws_access_key_id"),
        props.get("aws_secret_access_key"),
    ) {
        (Some(key_id), Some(secret)) => Ok(ProfileKeys::Found {
            key_id: key_id.trim().to_owned(),
            secret: secret.trim().to_owned(),
            token: props.get("aws_session_token").map(|t| t.trim().to_owned()),
        }),
        _ if props.contains_key("sso_session") || props.contains_key("sso_start_url") => {
            Ok(ProfileKeys::Missing(format!(
                "[{section}] uses AWS SSO, which is not supported yet: export the profile's credentials with the AWS CLI (`aws configure export-credentials`) and use those variables"
            )))
        }
        _ if props.contains_key("role_arn") => Ok(ProfileKeys::Missing(format!(
            "[{section}] assumes a role (role_arn), which is not supported: use the role's temporary keys"
        ))),
        _ => Ok(ProfileKeys::Missing(format!(
            "[{section}] has no aws_access_key_id / aws_secret_access_key"
        ))),
    }
}

/// Whether something answers HTTP at the metadata endpoint within `timeout`.
async fn probe(endpoint: &str, timeout: Duration) -> std::result::Result<(), String> {
    let url = url::Url::parse(endpoint).map_err(|e| format!("invalid endpoint: {e}"))?;
    let host = url.host_str().ok_or("no host")?.to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    match tokio::time::timeout(
        timeout,
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(format!("{err}")),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}
