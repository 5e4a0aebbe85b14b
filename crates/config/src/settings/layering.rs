//! Reading the layers: [`ConfigSources`] in, [`Configured`] out. The
//! defaults, the config file, `.env`, the environment and the flags are
//! merged in that order, so later layers win.

use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};

use crate::keys::{self, KeySpec};
use crate::layers::{Origin, VarsLayer};
use crate::{Error, Result};

use super::{Provenance, Settings};

/// Where the layers come from; [`ConfigSources::from_process`] reads the
/// process environment and the working directory.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    /// The working directory (for `./nasdaq.toml` and `./.env`).
    pub cwd: PathBuf,
    /// The environment variables.
    pub environment: Vec<(String, String)>,
    /// `--config`: an explicit config file (must exist).
    pub config_file: Option<PathBuf>,
    /// `--env-file`: an explicit .env file (must exist).
    pub env_file: Option<PathBuf>,
    /// Override values, the top layer: (environment name of the key, value).
    pub flags: Vec<(&'static str, String)>,
    /// Who gives the overrides, so provenance names them as the user wrote them.
    pub overrides_from: OverridesFrom,
}

/// Where the top layer of overrides comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OverridesFrom {
    /// Command-line flags (`flag --region`).
    #[default]
    CommandLine,
    /// Keyword arguments of a library call (`keyword AWS_REGION`).
    Keywords,
}

impl ConfigSources {
    /// The process's working directory and environment, no flags.
    pub fn from_process() -> Self {
        Self {
            cwd: std::env::current_dir().unwrap_or_else(|_| ".".into()),
            environment: std::env::vars().collect(),
            ..Self::default()
        }
    }

    fn env(&self, name: &str) -> Option<&str> {
        self.environment
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Settings read from their layers, with the figment that knows where each came from.
#[derive(Clone)]
pub struct Configured {
    /// The effective settings.
    pub settings: Settings,
    /// The layered figment, for provenance (`find_metadata`).
    pub figment: Figment,
    /// Things the user should know (an unknown NASDAQ_ variable, a .env readable by others).
    pub warnings: Vec<String>,
    /// The config file read, if any.
    pub config_file: Option<PathBuf>,
    /// The .env file read, if any.
    pub env_file: Option<PathBuf>,
    /// The environment's variables that the AWS chains read (`AWS_*`,
    /// `HOME`): web identity, container, instance metadata, per-service endpoints.
    pub aws_environment: Vec<(String, String)>,
}

impl std::fmt::Debug for Configured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The figment holds secrets in plain text: never print it. Secrets
        // in the settings print as `Secret(..)`; a password in an endpoint
        // URL is masked here.
        let settings = nasdaq_storage::redact_url(&format!("{:?}", self.settings));
        f.debug_struct("Configured")
            .field("settings", &format_args!("{settings}"))
            .field("warnings", &self.warnings)
            .field("config_file", &self.config_file)
            .field("env_file", &self.env_file)
            .finish_non_exhaustive()
    }
}

/// The defaults layer, [`Origin::Defaults`] in provenance.
struct Defaults;

impl Provider for Defaults {
    fn metadata(&self) -> Metadata {
        Origin::Defaults.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Settings::default().data()
    }
}

impl Settings {
    /// The default layering for this process: defaults, `./nasdaq.toml`
    /// (or `NASDAQ_CONFIG`), `./.env`, the environment. A service can merge
    /// its own provider on top before extracting.
    pub fn figment() -> Result<Figment> {
        Ok(Self::layered(&ConfigSources::from_process())?.0)
    }

    /// Reads settings from the layers in `sources`.
    pub fn load(sources: &ConfigSources) -> Result<Configured> {
        let (figment, warnings, config_file, env_file) = Self::layered(sources)?;
        let settings = Self::extract(&figment)?;
        let aws_environment = sources
            .environment
            .iter()
            .filter(|(name, _)| nasdaq_storage::CredentialInputs::is_chain_variable(name))
            .cloned()
            .collect();
        Ok(Configured {
            settings,
            figment,
            warnings,
            config_file,
            env_file,
            aws_environment,
        })
    }

    /// Extracts settings from any figment, with errors that name the key,
    /// the value and where it was set.
    pub fn extract(figment: &Figment) -> Result<Self> {
        let settings = figment
            .extract::<Settings>()
            .map_err(|err| crate::error::from_figment(err, figment))?;
        // A zero timeout parses, but makes every request fail at once.
        for (path, value) in [
            ("timeout.request_secs", settings.timeout.request_secs),
            ("timeout.connect_secs", settings.timeout.connect_secs),
            ("retry.timeout_secs", settings.retry.timeout_secs),
        ] {
            if value == 0
                && let Some(spec) = keys::by_path(path)
            {
                return Err(crate::error::out_of_range(
                    figment,
                    spec,
                    "0",
                    spec.expected,
                ));
            }
        }
        if !nasdaq_core::ZSTD_LEVELS.contains(&settings.output.zstd_level)
            && let Some(spec) = keys::by_path("output.zstd_level")
        {
            return Err(crate::error::out_of_range(
                figment,
                spec,
                &settings.output.zstd_level.to_string(),
                spec.expected,
            ));
        }
        Ok(settings)
    }

    #[allow(clippy::type_complexity, reason = "private plumbing of load()")]
    fn layered(
        sources: &ConfigSources,
    ) -> Result<(Figment, Vec<String>, Option<PathBuf>, Option<PathBuf>)> {
        let mut warnings = Vec::new();
        let mut figment = Figment::from(Defaults);

        let config_file = locate(
            sources,
            &sources.config_file,
            ("--config", "NASDAQ_CONFIG"),
            "nasdaq.toml",
        )?;
        if let Some(path) = &config_file {
            check_toml(path)?;
            figment = figment.merge(Toml::file_exact(path));
        }

        let env_file = locate(
            sources,
            &sources.env_file,
            ("--env-file", "NASDAQ_ENV_FILE"),
            ".env",
        )?;
        if let Some(path) = &env_file {
            let vars = crate::read_env_file(path)?;
            if let Some(warning) = permission_warning(path, &vars) {
                warnings.push(warning);
            }
            let origin = Origin::DotEnv(path.clone());
            let (layer, unknown) = VarsLayer::from_vars(origin.clone(), vars);
            if let Some(name) = unknown.first() {
                return Err(Error::UnknownKey {
                    key: name.clone(),
                    origin: origin.to_string(),
                });
            }
            figment = figment.merge(layer);
        }

        let (environment, unknown) =
            VarsLayer::from_vars(Origin::Environment, sources.environment.iter().cloned());
        for name in unknown {
            warnings.push(format!(
                "ignoring the environment variable {name}: not a nasdaq-data setting (.env.example lists them)"
            ));
        }
        figment = figment.merge(environment);

        let flags: Vec<(&'static KeySpec, String)> = sources
            .flags
            .iter()
            .filter_map(|(env, value)| keys::by_env(env).map(|spec| (spec, value.clone())))
            .collect();
        let origin = match sources.overrides_from {
            OverridesFrom::CommandLine => Origin::Flags,
            OverridesFrom::Keywords => Origin::Keywords,
        };
        figment = figment.merge(VarsLayer::overrides(origin, flags));
        Ok((figment, warnings, config_file, env_file))
    }
}

/// The file a layer reads: the one named by the flag, else by the variable
/// (either must exist), else `default_name` in the working directory if present.
fn locate(
    sources: &ConfigSources,
    named_by_flag: &Option<PathBuf>,
    (flag, var_name): (&'static str, &'static str),
    default_name: &str,
) -> Result<Option<PathBuf>> {
    let named = match (named_by_flag, sources.env(var_name)) {
        (Some(path), _) => Some((path.clone(), Provenance::Flag { flag })),
        (None, Some(path)) if !path.is_empty() => {
            Some((path.into(), Provenance::Environment { variable: var_name }))
        }
        _ => None,
    };
    match named {
        Some((path, set_by)) => {
            let path = sources.cwd.join(path);
            if path.is_dir() {
                return Err(not_a_file(&path));
            }
            if !path.is_file() {
                return Err(Error::MissingFile {
                    path: path.display().to_string(),
                    set_by: set_by.to_string(),
                });
            }
            Ok(Some(path))
        }
        None => {
            let path = sources.cwd.join(default_name);
            // A directory where the settings file belongs is a mistake to
            // report, not a file to ignore.
            if path.is_dir() {
                return Err(not_a_file(&path));
            }
            Ok(Some(path).filter(|p| p.is_file()))
        }
    }
}

fn not_a_file(path: &Path) -> Error {
    Error::File {
        path: path.display().to_string(),
        message: "is a directory, not a settings file; remove or rename it".to_owned(),
    }
}

/// Parses the TOML file up front, so that a syntax error names file, line and column.
fn check_toml(path: &Path) -> Result<()> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| Error::File {
        path: shown.clone(),
        message: err.to_string(),
    })?;
    Toml::string(&text)
        .data()
        .map(|_| ())
        .map_err(|err| Error::File {
            path: shown,
            message: format!(
                "TOML syntax error: {}",
                hide_secret_lines(err.to_string().trim(), &text)
            ),
        })
}

/// The parser's message with every quoted source line that holds a secret
/// key (or a secret's value) replaced: a syntax error must not print it.
fn hide_secret_lines(message: &str, text: &str) -> String {
    let secret_names: Vec<String> = keys::KEYS
        .iter()
        .filter(|k| k.visibility == keys::Visibility::Secret)
        .map(|k| {
            k.path
                .rsplit('.')
                .next()
                .unwrap_or(k.path)
                .to_ascii_lowercase()
        })
        .collect();
    let holds_secret = |line: &str| {
        let lower = line.to_ascii_lowercase();
        secret_names
            .iter()
            .any(|name| lower.contains(name.as_str()))
    };
    // Values on secret lines, to catch them wherever the message repeats them.
    let values: Vec<&str> = text
        .lines()
        .filter(|line| holds_secret(line))
        .filter_map(|line| {
            line.split_once('=')
                .map(|(_, v)| v.trim().trim_matches(['"', '\'']))
        })
        .filter(|v| v.len() >= 4)
        .collect();
    message
        .lines()
        .map(|line| {
            let mut line = match line.split_once(" | ") {
                Some((gutter, quoted)) if holds_secret(quoted) => {
                    format!("{gutter} | (a line holding a secret, not shown)")
                }
                _ => line.to_owned(),
            };
            for value in &values {
                line = line.replace(value, "(secret)");
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A warning when a .env file holds a secret and others can read it.
fn permission_warning(path: &Path, vars: &[(String, String)]) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let secret = vars.iter().find(|(name, _)| keys::is_secret_env(name))?;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} holds {} and is readable by group or others (mode {mode:o}): run `chmod 600 {}`",
            path.display(),
            secret.0,
            path.display()
        )
    })
}
