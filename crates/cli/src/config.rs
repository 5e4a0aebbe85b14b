//! `nasdaq-cli config show|init`, and reading the settings for every command.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use nasdaq_config::{ConfigSources, Configured, DataSource, Settings, describe, keys};
use nasdaq_data::Session;

use crate::args::{ConfigCommand, GlobalArgs};

/// Reads the settings: defaults, file, .env, environment, then these flags.
/// Prints warnings on stderr unless `--quiet`.
pub(crate) fn load(global: &GlobalArgs) -> anyhow::Result<Configured> {
    load_from(global, sources(global))
}

/// Where the settings come from: the process, plus the global flags.
pub(crate) fn sources(global: &GlobalArgs) -> ConfigSources {
    ConfigSources {
        config_file: global.config.clone(),
        env_file: global.env_file.clone(),
        flags: global.setting_flags(),
        ..ConfigSources::from_process()
    }
}

/// Reads the settings from `sources`, printing their warnings unless `--quiet`.
pub(crate) fn load_from(global: &GlobalArgs, sources: ConfigSources) -> anyhow::Result<Configured> {
    let configured = Settings::load(&sources)?;
    if !global.quiet {
        for warning in &configured.warnings {
            eprintln!("warning: {warning}");
        }
    }
    Ok(configured)
}

/// The settings as a session, the entry point every command loads through.
pub(crate) fn session(global: &GlobalArgs) -> anyhow::Result<Session> {
    Ok(Session::new(load(global)?))
}

/// How a data source is named to the user.
pub(crate) fn describe_source(source: &DataSource) -> String {
    match source {
        DataSource::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
        DataSource::Local(path) => path.display().to_string(),
        DataSource::Sample => "the bundled sample".to_owned(),
    }
}

pub(crate) fn run(global: &GlobalArgs, command: ConfigCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::Show { json } => show(global, json),
        ConfigCommand::Init { path, stdout } => {
            if stdout {
                print!("{}", keys::env_template());
                return Ok(ExitCode::SUCCESS);
            }
            init(&path)
        }
    }
}

fn show(global: &GlobalArgs, json: bool) -> anyhow::Result<ExitCode> {
    let configured = load(global)?;
    let source = configured
        .settings
        .data_source()
        .map(|s| describe_source(&s))
        .unwrap_or_else(|err| format!("(invalid: {err})"));
    let rows = describe(&configured);
    let file = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    if json {
        let keys: Vec<serde_json::Value> = rows
            .iter()
            .map(|(spec, value, origin)| {
                serde_json::json!({
                    "key": spec.env,
                    "path": spec.path,
                    "value": value,
                    "origin": origin.to_string(),
                })
            })
            .collect();
        let report = serde_json::json!({
            "config_file": file(&configured.config_file),
            "env_file": file(&configured.env_file),
            "data_source": source,
            "keys": keys,
        });
        println!("{report}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "config file: {}\n.env file:   {}\ndata source: {source}\n",
        file(&configured.config_file).unwrap_or_else(|| "(none)".to_owned()),
        file(&configured.env_file).unwrap_or_else(|| "(none)".to_owned()),
    );
    let width = rows.iter().map(|(s, _, _)| s.env.len()).max().unwrap_or(0);
    let value_width = rows
        .iter()
        .map(|(_, v, _)| v.as_deref().map_or(7, |v| v.chars().count()))
        .max()
        .unwrap_or(0)
        .min(40);
    println!("{:width$}  {:value_width$}  FROM", "KEY", "VALUE");
    for (spec, value, origin) in rows {
        println!(
            "{:width$}  {:value_width$}  {origin}",
            spec.env,
            value.as_deref().unwrap_or("(unset)")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn init(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            anyhow::bail!(
                "{}: already exists; not overwritten (edit it, or remove it first)",
                path.display()
            )
        }
        Err(err) => return Err(err).with_context(|| format!("creating {}", path.display())),
    };
    file.write_all(keys::env_template().as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "Wrote {} (mode 600): uncomment and fill in what you need.",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}
